-- Cohort retention by merchant segment (city tier × merchant type), so that the growth page's
-- tier / merchant-type filters read a small grid instead of joining every filtered merchant
-- to its active months (the slowest chart at the large scale, 60-100 ms). Summed over
-- segments a cell equals mart.cohort_activity's (a merchant is in exactly one segment).
CREATE TABLE mart.cohort_activity_segment (
    cohort_month      date NOT NULL,
    months_since      integer NOT NULL CHECK (months_since >= 0),
    tier_level        smallint NOT NULL,          -- 0: the merchant has no known city
    merchant_type     text NOT NULL,
    cohort_size       integer NOT NULL,
    active_merchants  integer NOT NULL,
    computed_at       timestamptz NOT NULL DEFAULT now(),
    run_id            bigint,
    PRIMARY KEY (cohort_month, months_since, tier_level, merchant_type)
);

-- "How far does the activity data reach": max(month) without reading every row.
CREATE INDEX merchant_active_months_month_idx ON mart.merchant_active_months (month);

-- The job rebuilds its grid on every run that loads (from all of merchant_active_months), but
-- skips the load when no source row changed: without a watermark, its next run loads.
DELETE FROM etl.watermarks WHERE job = 'cohort_activity';
