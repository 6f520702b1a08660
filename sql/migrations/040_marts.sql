-- ETL outputs (mart) and data-quality bookkeeping (etl).
--
-- Every mart has a primary key so that a job merges with INSERT … ON CONFLICT; a merge only
-- rewrites a row whose content changed, so a run over unchanged data writes nothing.
-- computed_at / run_id say when and by which run a row was last (re)computed.

-- ---------------------------------------------------------------- run log extensions
ALTER TABLE etl.runs
    ADD COLUMN source_watermarks_before jsonb,
    ADD COLUMN source_watermarks_after  jsonb,
    ADD COLUMN mart_rows_written        bigint NOT NULL DEFAULT 0,
    ADD COLUMN warnings                 integer NOT NULL DEFAULT 0,
    ADD COLUMN marts                    text[] NOT NULL DEFAULT '{}',
    ADD COLUMN triggered_by             text NOT NULL DEFAULT 'cli',
    ADD COLUMN since_override           timestamptz;
CREATE INDEX runs_status_started_idx ON etl.runs (status, started_at);

-- Per-source watermarks ({"app.listings": "<timestamptz>", "app.events": "<id>"}); the
-- existing single watermark column keeps the latest timestamp for display.
ALTER TABLE etl.watermarks ADD COLUMN sources jsonb NOT NULL DEFAULT '{}';

-- ---------------------------------------------------------------- quarantine (append-only history)
CREATE TABLE etl.quarantine (
    id              bigserial PRIMARY KEY,
    run_id          bigint NOT NULL REFERENCES etl.runs(id),
    job             text NOT NULL,
    source_table    text NOT NULL,
    row_key         text NOT NULL,
    expectation     text NOT NULL,
    severity        text NOT NULL CHECK (severity IN ('error','warn')),
    row_data        jsonb NOT NULL,
    quarantined_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX ON etl.quarantine (job, quarantined_at);
CREATE INDEX ON etl.quarantine (run_id);
CREATE INDEX ON etl.quarantine (source_table, row_key);

-- dbt users' top ask: past failures are never overwritten.
CREATE FUNCTION etl.refuse_quarantine_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'etl.quarantine is append-only: % refused', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END $$;
CREATE TRIGGER quarantine_append_only
    BEFORE UPDATE OR DELETE ON etl.quarantine
    FOR EACH ROW EXECUTE FUNCTION etl.refuse_quarantine_change();
CREATE TRIGGER quarantine_no_truncate
    BEFORE TRUNCATE ON etl.quarantine
    FOR EACH STATEMENT EXECUTE FUNCTION etl.refuse_quarantine_change();

-- The rows a job currently keeps out of its marts: the latest verdict per source row.
-- A row leaves this set when a later batch carries it again and it passes.
CREATE TABLE etl.excluded_rows (
    job           text NOT NULL,
    source_table  text NOT NULL,
    row_key       text NOT NULL,
    run_id        bigint NOT NULL REFERENCES etl.runs(id),
    expectation   text NOT NULL,
    PRIMARY KEY (job, source_table, row_key)
);

-- ---------------------------------------------------------------- validation results
CREATE TABLE etl.validation_results (
    id                bigserial PRIMARY KEY,
    run_id            bigint NOT NULL REFERENCES etl.runs(id),
    job               text NOT NULL,
    suite             text NOT NULL,
    expectation       text NOT NULL,          -- our name, e.g. listings.price_in_guide_band
    expectation_type  text NOT NULL,          -- great-expectations type
    source_table      text NOT NULL,
    severity          text NOT NULL CHECK (severity IN ('error','warn')),
    success           boolean NOT NULL,       -- great-expectations and the row check agree it passed
    ge_success        boolean,
    observed_value    numeric,                -- GE: unexpected count, or the observed value
    element_count     bigint,
    failing_rows      bigint,                 -- rows our SQL found failing (row-level checks)
    details           jsonb NOT NULL DEFAULT '{}',
    validated_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX ON etl.validation_results (suite, validated_at);
CREATE INDEX ON etl.validation_results (run_id);

-- ---------------------------------------------------------------- calendar helpers
-- The business keeps China's calendar: a day or month is Shanghai's, whatever the session's
-- time zone. IMMUTABLE and SQL, so the planner inlines them.
CREATE FUNCTION mart.cn_date(ts timestamptz) RETURNS date
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$ SELECT (ts AT TIME ZONE 'Asia/Shanghai')::date $$;
CREATE FUNCTION mart.cn_month(ts timestamptz) RETURNS date
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS
$$ SELECT date_trunc('month', ts AT TIME ZONE 'Asia/Shanghai')::date $$;

-- ---------------------------------------------------------------- marts
-- Funnel: one row per merchant with the time of each step (NULL = not reached yet).
-- Match, deposit and deal count the merchant on either side of the trade.
CREATE TABLE mart.funnel_facts (
    merchant_id        bigint PRIMARY KEY,
    registered_at      timestamptz NOT NULL,
    cohort_month       date NOT NULL,
    channel            text NOT NULL,
    merchant_type      text NOT NULL,
    size_class         text NOT NULL,
    city_id            integer,
    province           text,
    tier_level         smallint,
    tier_name          text,
    bd_owner_id        bigint,
    cert_submitted_at  timestamptz,
    certified_at       timestamptz,
    first_listing_at   timestamptz,
    first_request_at   timestamptz,
    first_post_at      timestamptz,
    first_match_at     timestamptz,
    first_deposit_at   timestamptz,
    first_deal_at      timestamptz,
    computed_at        timestamptz NOT NULL DEFAULT now(),
    run_id             bigint
);
CREATE INDEX ON mart.funnel_facts (registered_at);
CREATE INDEX ON mart.funnel_facts (cohort_month);

-- Daily KPIs: additive per-day figures (sum them for weeks and months).
-- live_listings / open_requests are the end-of-day snapshot; deposit_* split the deposits
-- paid that day by the order's current escrow state; pay_* are succeeded payments by channel.
CREATE TABLE mart.daily_kpis (
    day                    date PRIMARY KEY,
    new_registrations      integer NOT NULL DEFAULT 0,
    newly_certified        integer NOT NULL DEFAULT 0,
    active_merchants       integer NOT NULL DEFAULT 0,
    listings_created       integer NOT NULL DEFAULT 0,
    requests_created       integer NOT NULL DEFAULT 0,
    live_listings          integer NOT NULL DEFAULT 0,
    open_requests          integer NOT NULL DEFAULT 0,
    requests_with_match    integer NOT NULL DEFAULT 0,
    requests_with_deposit  integer NOT NULL DEFAULT 0,
    matches_created        integer NOT NULL DEFAULT 0,
    orders_created         integer NOT NULL DEFAULT 0,
    deposits_paid          integer NOT NULL DEFAULT 0,
    deals_completed        integer NOT NULL DEFAULT 0,
    orders_cancelled       integer NOT NULL DEFAULT 0,
    gmv                    numeric(16,2) NOT NULL DEFAULT 0,
    fee_amount             numeric(16,2) NOT NULL DEFAULT 0,
    deposit_held           numeric(16,2) NOT NULL DEFAULT 0,
    deposit_released       numeric(16,2) NOT NULL DEFAULT 0,
    deposit_refunded       numeric(16,2) NOT NULL DEFAULT 0,
    deposit_disputed       numeric(16,2) NOT NULL DEFAULT 0,
    pay_wechat             numeric(16,2) NOT NULL DEFAULT 0,
    pay_alipay             numeric(16,2) NOT NULL DEFAULT 0,
    pay_bank               numeric(16,2) NOT NULL DEFAULT 0,
    computed_at            timestamptz NOT NULL DEFAULT now(),
    run_id                 bigint
);

-- Figures that do not add up across days (distinct merchants, medians), per grain.
CREATE TABLE mart.kpi_periods (
    grain                  text NOT NULL CHECK (grain IN ('day','week','month')),
    period_start           date NOT NULL,
    active_merchants       integer NOT NULL DEFAULT 0,   -- DAU / WAU / MAU from events
    requests_created       integer NOT NULL DEFAULT 0,
    requests_matched       integer NOT NULL DEFAULT 0,
    median_hours_to_match  numeric(12,2),                -- request created -> first match
    computed_at            timestamptz NOT NULL DEFAULT now(),
    run_id                 bigint,
    PRIMARY KEY (grain, period_start)
);

-- Thin helper behind the cohort view: the months in which a merchant was active
-- (a listing, request, bid, match, deposit or deal event). Append-only by nature.
CREATE TABLE mart.merchant_active_months (
    merchant_id  bigint NOT NULL,
    month        date NOT NULL,
    PRIMARY KEY (merchant_id, month)
);

CREATE TABLE mart.cohort_activity (
    cohort_month      date NOT NULL,
    months_since      integer NOT NULL CHECK (months_since >= 0),
    cohort_size       integer NOT NULL,
    active_merchants  integer NOT NULL,
    retention         numeric(6,4) NOT NULL,
    computed_at       timestamptz NOT NULL DEFAULT now(),
    run_id            bigint,
    PRIMARY KEY (cohort_month, months_since)
);

-- Credit-rating inputs per merchant, as of as_of_date (windows end there).
CREATE TABLE mart.merchant_features (
    merchant_id              bigint PRIMARY KEY,
    as_of_date               date NOT NULL,
    cert_level               text NOT NULL,
    merchant_type            text NOT NULL,
    size_class               text NOT NULL,
    merchant_status          text NOT NULL,
    tier_level               smallint,
    registered_at            timestamptz NOT NULL,
    months_on_platform       integer NOT NULL,
    deals_12m                integer NOT NULL DEFAULT 0,
    gmv_12m                  numeric(16,2) NOT NULL DEFAULT 0,
    deals_total              integer NOT NULL DEFAULT 0,
    deposit_defaults         integer NOT NULL DEFAULT 0,   -- buyer walked away after paying a deposit
    late_payments            integer NOT NULL DEFAULT 0,   -- paid after due, or overdue unpaid
    cancellations            integer NOT NULL DEFAULT 0,   -- orders cancelled by this merchant's side
    disputes_raised          integer NOT NULL DEFAULT 0,
    disputes_lost            integer NOT NULL DEFAULT 0,
    avg_stars                numeric(4,2),
    review_count             integer NOT NULL DEFAULT 0,
    fake_listings_confirmed  integer NOT NULL DEFAULT 0,
    matches_total            integer NOT NULL DEFAULT 0,
    median_response_hours    numeric(12,2),               -- match created -> first stage move
    last_active_at           timestamptz,
    days_since_active        integer,
    -- outcomes for validating a scorecard
    outcome_deposit_default  boolean NOT NULL DEFAULT false,
    outcome_loan_default     boolean NOT NULL DEFAULT false,
    outcome_dispute_lost_6m  boolean NOT NULL DEFAULT false,
    first_deposit_default_at timestamptz,
    first_loan_default_at    timestamptz,
    first_dispute_lost_at    timestamptz,
    computed_at              timestamptz NOT NULL DEFAULT now(),
    run_id                   bigint
);

-- Live supply against open demand, by brand × city tier × merchant type (small: sum it up).
CREATE TABLE mart.supply_demand (
    brand_id        integer NOT NULL,
    tier_level      smallint NOT NULL,
    merchant_type   text NOT NULL,
    brand_name      text NOT NULL,
    tier_name       text NOT NULL,
    live_listings   integer NOT NULL DEFAULT 0,
    listing_units   integer NOT NULL DEFAULT 0,
    open_requests   integer NOT NULL DEFAULT 0,
    request_units   integer NOT NULL DEFAULT 0,
    computed_at     timestamptz NOT NULL DEFAULT now(),
    run_id          bigint,
    PRIMARY KEY (brand_id, tier_level, merchant_type)
);

-- BD performance per staff member and calendar month; each figure counts in the month its
-- event happened (merchant registered, match created, deal won, contact logged).
CREATE TABLE mart.bd_performance (
    staff_id              bigint NOT NULL,
    month                 date NOT NULL,
    merchants_registered  integer NOT NULL DEFAULT 0,
    merchants_certified   integer NOT NULL DEFAULT 0,
    matches_created       integer NOT NULL DEFAULT 0,
    matches_contacted     integer NOT NULL DEFAULT 0,
    deals_won             integer NOT NULL DEFAULT 0,
    deals_lost            integer NOT NULL DEFAULT 0,
    won_value             numeric(16,2) NOT NULL DEFAULT 0,
    contacts_logged       integer NOT NULL DEFAULT 0,
    computed_at           timestamptz NOT NULL DEFAULT now(),
    run_id                bigint,
    PRIMARY KEY (staff_id, month)
);

-- ---------------------------------------------------------------- freshness
-- When each mart was last computed and whether that job's latest validation passed:
-- what every chart shows next to its data.
CREATE VIEW mart.freshness AS
WITH mart_runs AS (
    SELECT unnest(r.marts) AS mart, r.*
    FROM etl.runs r
),
last_success AS (
    SELECT DISTINCT ON (mart) mart, job, id AS run_id, finished_at
    FROM mart_runs WHERE status = 'succeeded'
    ORDER BY mart, finished_at DESC
),
last_run AS (
    SELECT DISTINCT ON (mart) mart, id AS run_id, status, started_at
    FROM mart_runs WHERE status <> 'refused'
    ORDER BY mart, started_at DESC, id DESC
),
last_validation AS (
    SELECT lr.mart, bool_and(v.success) AS validation_passed,
           count(*) FILTER (WHERE NOT v.success) AS failed_expectations
    FROM last_run lr JOIN etl.validation_results v ON v.run_id = lr.run_id
    GROUP BY lr.mart
)
SELECT lr.mart, ls.job, ls.finished_at AS computed_at, lr.status AS last_run_status,
       lr.started_at AS last_run_at,
       coalesce(lv.validation_passed, true) AS validation_passed,
       coalesce(lv.failed_expectations, 0) AS failed_expectations
FROM last_run lr
LEFT JOIN last_success ls USING (mart)
LEFT JOIN last_validation lv USING (mart);

-- ---------------------------------------------------------------- the rows a job may load
-- Transformations read these instead of app/ops tables: the same rows minus those the
-- running job keeps in quarantine. The job is named per transaction with
-- set_config('etl.job', :job, true), so one view serves every job.
CREATE VIEW etl.clean_merchants AS
SELECT s.* FROM app.merchants s
WHERE NOT EXISTS (SELECT 1 FROM etl.excluded_rows x
                  WHERE x.job = current_setting('etl.job', true)
                    AND x.source_table = 'app.merchants' AND x.row_key = s.id::text);

CREATE VIEW etl.clean_certifications AS
SELECT s.* FROM app.certifications s
WHERE NOT EXISTS (SELECT 1 FROM etl.excluded_rows x
                  WHERE x.job = current_setting('etl.job', true)
                    AND x.source_table = 'app.certifications' AND x.row_key = s.id::text);

CREATE VIEW etl.clean_listings AS
SELECT s.* FROM app.listings s
WHERE NOT EXISTS (SELECT 1 FROM etl.excluded_rows x
                  WHERE x.job = current_setting('etl.job', true)
                    AND x.source_table = 'app.listings' AND x.row_key = s.id::text);

CREATE VIEW etl.clean_requests AS
SELECT s.* FROM app.requests s
WHERE NOT EXISTS (SELECT 1 FROM etl.excluded_rows x
                  WHERE x.job = current_setting('etl.job', true)
                    AND x.source_table = 'app.requests' AND x.row_key = s.id::text);

CREATE VIEW etl.clean_matches AS
SELECT s.* FROM ops.matches s
WHERE NOT EXISTS (SELECT 1 FROM etl.excluded_rows x
                  WHERE x.job = current_setting('etl.job', true)
                    AND x.source_table = 'ops.matches' AND x.row_key = s.id::text);

CREATE VIEW etl.clean_orders AS
SELECT s.* FROM app.orders s
WHERE NOT EXISTS (SELECT 1 FROM etl.excluded_rows x
                  WHERE x.job = current_setting('etl.job', true)
                    AND x.source_table = 'app.orders' AND x.row_key = s.id::text);

CREATE VIEW etl.clean_payments AS
SELECT s.* FROM app.payments s
WHERE NOT EXISTS (SELECT 1 FROM etl.excluded_rows x
                  WHERE x.job = current_setting('etl.job', true)
                    AND x.source_table = 'app.payments' AND x.row_key = s.id::text);

CREATE VIEW etl.clean_events AS
SELECT s.* FROM app.events s
WHERE NOT EXISTS (SELECT 1 FROM etl.excluded_rows x
                  WHERE x.job = current_setting('etl.job', true)
                    AND x.source_table = 'app.events' AND x.row_key = s.id::text);

CREATE VIEW etl.clean_reviews AS
SELECT s.* FROM app.reviews s
WHERE NOT EXISTS (SELECT 1 FROM etl.excluded_rows x
                  WHERE x.job = current_setting('etl.job', true)
                    AND x.source_table = 'app.reviews' AND x.row_key = s.id::text);

CREATE VIEW etl.clean_disputes AS
SELECT s.* FROM app.disputes s
WHERE NOT EXISTS (SELECT 1 FROM etl.excluded_rows x
                  WHERE x.job = current_setting('etl.job', true)
                    AND x.source_table = 'app.disputes' AND x.row_key = s.id::text);

CREATE VIEW etl.clean_loan_applications AS
SELECT s.* FROM app.loan_applications s
WHERE NOT EXISTS (SELECT 1 FROM etl.excluded_rows x
                  WHERE x.job = current_setting('etl.job', true)
                    AND x.source_table = 'app.loan_applications' AND x.row_key = s.id::text);

CREATE VIEW etl.clean_listing_flags AS
SELECT s.* FROM ops.listing_flags s
WHERE NOT EXISTS (SELECT 1 FROM etl.excluded_rows x
                  WHERE x.job = current_setting('etl.job', true)
                    AND x.source_table = 'ops.listing_flags' AND x.row_key = s.id::text);

CREATE VIEW etl.clean_contact_log AS
SELECT s.* FROM ops.contact_log s
WHERE NOT EXISTS (SELECT 1 FROM etl.excluded_rows x
                  WHERE x.job = current_setting('etl.job', true)
                    AND x.source_table = 'ops.contact_log' AND x.row_key = s.id::text);
