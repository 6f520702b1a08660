-- Merchant credit ratings: versioned scorecards, scoring runs, per-merchant scores with their
-- factor points, overrides under four eyes, and the effective grade other areas read.
--
-- The scorecard's configuration lives in the repo (console/credit/scorecard_v1.toml); a
-- version is copied here when first used, so every stored score can be explained by the
-- exact bins and points that produced it, even after the file changes.

-- Grades from best to worst; the rank lets other areas filter "grade A or better".
CREATE FUNCTION ops.credit_grade_rank(grade text) RETURNS smallint
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT CASE grade WHEN 'AAA' THEN 1 WHEN 'AA' THEN 2 WHEN 'A' THEN 3 WHEN 'BBB' THEN 4
                      WHEN 'BB' THEN 5 WHEN 'B' THEN 6 WHEN 'C' THEN 7 END::smallint
$$;

-- ---------------------------------------------------------------- scorecard versions
CREATE TABLE ops.credit_scorecard_versions (
    id                      serial PRIMARY KEY,
    version                 text NOT NULL UNIQUE,          -- e.g. 'v1', from the file
    config_sha256           text NOT NULL,                 -- the file as loaded
    config                  jsonb NOT NULL,                -- the parsed file, for the record
    source                  text NOT NULL DEFAULT 'expert' CHECK (source IN ('expert','fitted')),
    status                  text NOT NULL DEFAULT 'candidate'
                            CHECK (status IN ('candidate','active','retired')),
    base_points             integer NOT NULL,              -- scaling: points at base odds
    base_odds               numeric NOT NULL CHECK (base_odds > 0),   -- good:bad, e.g. 19
    pdo                     numeric NOT NULL CHECK (pdo > 0),         -- points to double the odds
    ih_min_months           integer NOT NULL,              -- insufficient history: younger than this
    ih_min_deals            integer NOT NULL,              -- … and fewer deals than this
    ih_grade                text NOT NULL CHECK (ops.credit_grade_rank(ih_grade) IS NOT NULL),
    ih_loan_limit           numeric(14,2) NOT NULL CHECK (ih_loan_limit >= 0),
    created_at              timestamptz NOT NULL DEFAULT now(),
    promoted_by             bigint REFERENCES ops.staff(id),
    promoted_at             timestamptz
);
-- One active version at a time.
CREATE UNIQUE INDEX credit_scorecard_one_active ON ops.credit_scorecard_versions (status)
    WHERE status = 'active';

-- Bins of each factor and their points. A bin matches a numeric value in [lower, upper)
-- (NULL bound = unbounded), a text value in categories, or a missing value (is_missing).
CREATE TABLE ops.credit_scorecard_bins (
    version_id    integer NOT NULL REFERENCES ops.credit_scorecard_versions(id),
    factor        text NOT NULL,
    factor_order  smallint NOT NULL,
    bin_no        smallint NOT NULL,
    lower         numeric,
    upper         numeric,
    categories    text[],
    is_missing    boolean NOT NULL DEFAULT false,
    points        integer NOT NULL,
    max_points    integer NOT NULL,      -- best points this factor can give (reason codes)
    PRIMARY KEY (version_id, factor, bin_no),
    CHECK (lower IS NULL OR upper IS NULL OR lower < upper),
    CHECK (points <= max_points)
);

-- Grade bands: a total of at least min_score earns the grade; limit and VIP follow it.
CREATE TABLE ops.credit_grade_bands (
    version_id    integer NOT NULL REFERENCES ops.credit_scorecard_versions(id),
    grade         text NOT NULL CHECK (ops.credit_grade_rank(grade) IS NOT NULL),
    grade_rank    smallint NOT NULL,
    min_score     integer,               -- NULL: the bottom band
    loan_limit    numeric(14,2) NOT NULL CHECK (loan_limit >= 0),   -- recommended 订单贷 limit
    vip_eligible  boolean NOT NULL,
    PRIMARY KEY (version_id, grade),
    CHECK (grade_rank = ops.credit_grade_rank(grade))
);

-- ---------------------------------------------------------------- runs and scores
CREATE TABLE ops.credit_runs (
    id                bigserial PRIMARY KEY,
    version_id        integer NOT NULL REFERENCES ops.credit_scorecard_versions(id),
    status            text NOT NULL DEFAULT 'running' CHECK (status IN ('running','succeeded','failed')),
    started_at        timestamptz NOT NULL DEFAULT clock_timestamp(),
    finished_at       timestamptz,
    features_as_of    date,
    merchants_scored  integer NOT NULL DEFAULT 0,
    triggered_by      bigint REFERENCES ops.staff(id),   -- NULL: the command line / a schedule
    error_text        text
);
CREATE INDEX credit_runs_status_idx ON ops.credit_runs (status, id);

-- One row per run per merchant. factors = {"<factor>": {"value": …, "bin": n, "points": p}};
-- score is exactly the sum of the factor points; reasons = the (up to) three factors that
-- cost the most points against their best bin, worst first.
CREATE TABLE ops.credit_scores (
    run_id                bigint NOT NULL REFERENCES ops.credit_runs(id),
    merchant_id           bigint NOT NULL,
    score                 integer NOT NULL,
    score_grade           text NOT NULL CHECK (ops.credit_grade_rank(score_grade) IS NOT NULL),
    grade                 text NOT NULL CHECK (ops.credit_grade_rank(grade) IS NOT NULL),
    insufficient_history  boolean NOT NULL,
    factors               jsonb NOT NULL,
    reasons               text[] NOT NULL DEFAULT '{}',
    PRIMARY KEY (run_id, merchant_id)
);
CREATE INDEX credit_scores_merchant_idx ON ops.credit_scores (merchant_id, run_id);

-- ---------------------------------------------------------------- overrides (four eyes)
CREATE TABLE ops.credit_overrides (
    id             bigserial PRIMARY KEY,
    merchant_id    bigint NOT NULL REFERENCES app.merchants(id),
    run_id         bigint REFERENCES ops.credit_runs(id),     -- the score it was proposed against
    from_grade     text CHECK (ops.credit_grade_rank(from_grade) IS NOT NULL),
    new_grade      text NOT NULL CHECK (ops.credit_grade_rank(new_grade) IS NOT NULL),
    reason_code    text NOT NULL,
    reason         text NOT NULL CHECK (length(btrim(reason)) > 0),
    expires_at     timestamptz NOT NULL,
    status         text NOT NULL DEFAULT 'proposed'
                   CHECK (status IN ('proposed','approved','rejected','expired','superseded')),
    proposed_by    bigint NOT NULL REFERENCES ops.staff(id),
    proposed_at    timestamptz NOT NULL DEFAULT now(),
    approved_by    bigint REFERENCES ops.staff(id),
    rejected_by    bigint REFERENCES ops.staff(id),
    decided_at     timestamptz,
    decision_note  text,
    version        integer NOT NULL DEFAULT 1,
    -- Four eyes, as the database's own rule: no one approves or rejects their own proposal.
    CHECK (approved_by <> proposed_by),
    CHECK (rejected_by <> proposed_by),
    CHECK (status <> 'approved' OR (approved_by IS NOT NULL AND decided_at IS NOT NULL)),
    CHECK (status <> 'rejected' OR (rejected_by IS NOT NULL AND decided_at IS NOT NULL)),
    CHECK (expires_at > proposed_at)
);
-- One open proposal per merchant: a second proposer must decide on the first one.
CREATE UNIQUE INDEX credit_overrides_one_open ON ops.credit_overrides (merchant_id)
    WHERE status = 'proposed';
CREATE INDEX credit_overrides_status_idx ON ops.credit_overrides (status, proposed_at);
CREATE INDEX credit_overrides_merchant_idx ON ops.credit_overrides (merchant_id, proposed_at);

-- ---------------------------------------------------------------- features, unpivoted
-- The scorecard's inputs as (merchant, feature, value) rows over the ETL's merchant-features
-- mart, so scoring is one join against the bins table. Adding a factor = one VALUES line.
CREATE VIEW ops.credit_feature_values AS
SELECT f.merchant_id, v.feature, v.num_value, v.text_value
FROM mart.merchant_features f
CROSS JOIN LATERAL (VALUES
    ('cert_level',              NULL::numeric,                       f.cert_level),
    ('months_on_platform',      f.months_on_platform::numeric,       NULL::text),
    ('deals_12m',               f.deals_12m::numeric,                NULL),
    ('gmv_12m',                 f.gmv_12m::numeric,                  NULL),
    ('deposit_defaults',        f.deposit_defaults::numeric,         NULL),
    ('late_payments',           f.late_payments::numeric,            NULL),
    ('cancellations',           f.cancellations::numeric,            NULL),
    ('disputes_raised',         f.disputes_raised::numeric,          NULL),
    ('disputes_lost',           f.disputes_lost::numeric,            NULL),
    ('avg_stars',               f.avg_stars::numeric,                NULL),
    ('review_count',            f.review_count::numeric,             NULL),
    ('fake_listings_confirmed', f.fake_listings_confirmed::numeric,  NULL),
    ('median_response_hours',   f.median_response_hours::numeric,    NULL),
    ('days_since_active',       f.days_since_active::numeric,        NULL)
) AS v(feature, num_value, text_value);

-- ---------------------------------------------------------------- the effective grade
-- What other areas read (matching filters, the merchant directory): the latest successful
-- run's score and grade, replaced by an approved override until it expires. Expiry is
-- checked against now() here, so an override stops counting the moment it expires, whether
-- or not the sweep has marked it 'expired' yet.
CREATE VIEW ops.merchant_credit AS
WITH latest_run AS (
    SELECT r.id, r.version_id, r.finished_at
    FROM ops.credit_runs r
    WHERE r.status = 'succeeded'
    ORDER BY r.id DESC
    LIMIT 1
),
active_override AS (
    SELECT DISTINCT ON (o.merchant_id) o.merchant_id, o.id AS override_id, o.new_grade,
           o.expires_at
    FROM ops.credit_overrides o
    WHERE o.status = 'approved' AND o.expires_at > now()
    ORDER BY o.merchant_id, o.decided_at DESC, o.id DESC
)
SELECT s.merchant_id,
       s.score,
       s.grade,
       coalesce(o.new_grade, s.grade)                         AS effective_grade,
       ops.credit_grade_rank(coalesce(o.new_grade, s.grade))  AS effective_grade_rank,
       o.override_id IS NOT NULL                              AS is_override,
       s.insufficient_history,
       r.finished_at                                          AS scored_at,
       r.id                                                   AS run_id,
       o.override_id,
       o.expires_at                                           AS override_expires_at,
       CASE WHEN s.insufficient_history AND o.override_id IS NULL THEN v.ih_loan_limit
            ELSE b.loan_limit END                             AS loan_limit,
       CASE WHEN s.insufficient_history AND o.override_id IS NULL THEN false
            ELSE b.vip_eligible END                           AS vip_eligible
FROM latest_run r
JOIN ops.credit_scorecard_versions v ON v.id = r.version_id
JOIN ops.credit_scores s ON s.run_id = r.id
LEFT JOIN active_override o ON o.merchant_id = s.merchant_id
JOIN ops.credit_grade_bands b ON b.version_id = r.version_id
                             AND b.grade = coalesce(o.new_grade, s.grade);
