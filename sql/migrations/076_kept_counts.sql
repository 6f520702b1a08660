-- Counts kept where they are made, so that the incremental ETL and the credit pages stop
-- recounting history on every run and every page view (issues 13 and 14, large bench
-- database: a month of history, 10M events, 30 scoring runs of 50,000 merchants).
--
-- 1. The daily KPIs job (sql/etl/daily_kpis.sql) keeps two more kinds of row state:
--    * etl.kpi_merchant_days: who was active on which Shanghai day. Each incremental run
--      recounted WAU and MAU from the events of every day of the current week and month
--      (~1M events read by index for a few thousand distinct pairs); it now adds its batch's
--      pairs and recounts periods from the kept pairs.
--    * etl.kpi_request_times: each request's day and hours to its first match. A 1% change of
--      requests touches every day, and the request figures of every day, week and month
--      were recounted from all requests and matches (~2 s a run); now only the periods where
--      a request's kept values changed, from the kept rows.
--    Both are filled here from the sources as the job's clean views would read them (its own
--    exclusions left out), so the next incremental run continues from them; a --full run
--    starts them over.
--
-- 2. Each credit scoring run's monitoring counts are kept with its scores (a statement
--    trigger on ops.credit_scores, in the scoring transaction): the model-monitoring page
--    unpacked every factor of two runs' 100,000 score rows (jsonb, ~1.5 kB a row) on every
--    view, 1.9 s, and the grades page counted 24 runs' 1.2M rows for its trend, 2.6 s.
--    * ops.credit_run_bins: merchants per run, factor and bin (factor PSI);
--    * ops.credit_run_grades: merchants per run and grade (the grade trend);
--    * ops.credit_run_merchants: each run's merchants with score, grade and the
--      insufficient-history flag only, ~50 bytes a row instead of ~1.5 kB (score PSI, grade
--      migration between two runs, performance on outcomes).

-- The fills below read every event and every score row once (a minute or two at the large
-- bench scale): no statement timeout for this migration's transaction.
SET LOCAL statement_timeout = 0;

-- ---------------------------------------------------------------- 1. ETL row state
CREATE TABLE etl.kpi_merchant_days (
    day          date NOT NULL,
    merchant_id  bigint NOT NULL,
    PRIMARY KEY (day, merchant_id)
);
COMMENT ON TABLE etl.kpi_merchant_days IS
    'daily_kpis state: (Shanghai day, merchant) pairs with a clean event; DAU/WAU/MAU count these.';

CREATE TABLE etl.kpi_request_times (
    request_id      bigint PRIMARY KEY,
    day             date NOT NULL,         -- mart.cn_date(created_at)
    hours_to_match  numeric                -- to the first clean match; NULL without one
);
CREATE INDEX kpi_request_times_day_idx ON etl.kpi_request_times (day);
COMMENT ON TABLE etl.kpi_request_times IS
    'daily_kpis state: per clean request, its day and hours to its first clean match (kpi_periods).';

-- What the job's clean views give for its own exclusions (etl.excluded_rows of daily_kpis),
-- as of its watermark: a row changed since is in the next run's batch, which then finds it
-- missing here and recounts its periods (with the row here already, it would find nothing
-- changed and leave the mart as the last run wrote it). Nothing when the job never ran.
WITH mark AS (
    SELECT coalesce((w.sources->>'app.events')::timestamptz, '-infinity') AS events
    FROM etl.watermarks w WHERE w.job = 'daily_kpis'
)
INSERT INTO etl.kpi_merchant_days (day, merchant_id)
SELECT DISTINCT mart.cn_date(e.occurred_at), e.merchant_id
FROM app.events e CROSS JOIN mark
WHERE e.merchant_id IS NOT NULL AND e.occurred_at IS NOT NULL AND e.updated_at < mark.events
  AND NOT EXISTS (SELECT 1 FROM etl.excluded_rows x
                  WHERE x.job = 'daily_kpis' AND x.source_table = 'app.events'
                    AND x.row_key = e.id::text);

WITH mark AS (
    SELECT coalesce((w.sources->>'app.requests')::timestamptz, '-infinity') AS requests,
           coalesce((w.sources->>'ops.matches')::timestamptz, '-infinity') AS matches
    FROM etl.watermarks w WHERE w.job = 'daily_kpis'
),
clean_matches AS (
    SELECT mt.* FROM ops.matches mt
    WHERE NOT EXISTS (SELECT 1 FROM etl.excluded_rows x
                      WHERE x.job = 'daily_kpis' AND x.source_table = 'ops.matches'
                        AND x.row_key = mt.id::text)
)
INSERT INTO etl.kpi_request_times (request_id, day, hours_to_match)
SELECT r.id, mart.cn_date(r.created_at),
       extract(epoch FROM fm.matched_at - r.created_at) / 3600.0
FROM app.requests r CROSS JOIN mark
LEFT JOIN (SELECT request_id, min(created_at) AS matched_at
           FROM clean_matches GROUP BY request_id) fm ON fm.request_id = r.id
WHERE r.created_at IS NOT NULL AND r.updated_at < mark.requests
  AND NOT EXISTS (SELECT 1 FROM ops.matches mt
                  WHERE mt.request_id = r.id AND mt.updated_at >= mark.matches)
  AND NOT EXISTS (SELECT 1 FROM etl.excluded_rows x
                  WHERE x.job = 'daily_kpis' AND x.source_table = 'app.requests'
                    AND x.row_key = r.id::text);

-- ---------------------------------------------------------------- 2. credit monitoring counts
CREATE TABLE ops.credit_run_merchants (
    run_id                bigint NOT NULL REFERENCES ops.credit_runs(id),
    merchant_id           bigint NOT NULL,
    score                 integer NOT NULL,
    grade                 text NOT NULL,
    insufficient_history  boolean NOT NULL,
    PRIMARY KEY (run_id, merchant_id)
);
COMMENT ON TABLE ops.credit_run_merchants IS
    'Narrow copy of ops.credit_scores (no factors) kept by trigger: monitoring reads it.';

CREATE TABLE ops.credit_run_grades (
    run_id     bigint NOT NULL REFERENCES ops.credit_runs(id),
    grade      text NOT NULL,
    merchants  integer NOT NULL,
    PRIMARY KEY (run_id, grade)
);

CREATE TABLE ops.credit_run_bins (
    run_id     bigint NOT NULL REFERENCES ops.credit_runs(id),
    factor     text NOT NULL,
    bin_no     integer NOT NULL,
    merchants  integer NOT NULL,
    PRIMARY KEY (run_id, factor, bin_no)
);

-- One function for the three statement triggers: the rows a statement removed are taken
-- back, the rows it wrote are added (an UPDATE does both). Scoring writes a run's scores in
-- one INSERT, so a run costs one aggregation of its own rows. A factor without a bin (a value
-- no bin covers) is not counted: such a run is refused and rolled back
-- (console/credit/engine.py, _check_every_factor_scored).
CREATE FUNCTION ops.keep_credit_run_counts() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP IN ('DELETE', 'UPDATE') THEN
        DELETE FROM ops.credit_run_merchants m USING old_rows o
        WHERE m.run_id = o.run_id AND m.merchant_id = o.merchant_id;
        UPDATE ops.credit_run_grades g SET merchants = g.merchants - o.n
        FROM (SELECT run_id, grade, count(*) AS n FROM old_rows GROUP BY 1, 2) o
        WHERE g.run_id = o.run_id AND g.grade = o.grade;
        UPDATE ops.credit_run_bins b SET merchants = b.merchants - o.n
        FROM (SELECT s.run_id, f.key AS factor, (f.value->>'bin')::int AS bin_no, count(*) AS n
              FROM old_rows s CROSS JOIN LATERAL jsonb_each(s.factors) AS f
              WHERE f.value->>'bin' IS NOT NULL
              GROUP BY 1, 2, 3) o
        WHERE b.run_id = o.run_id AND b.factor = o.factor AND b.bin_no = o.bin_no;
        DELETE FROM ops.credit_run_grades WHERE merchants = 0;
        DELETE FROM ops.credit_run_bins WHERE merchants = 0;
    END IF;
    IF TG_OP IN ('INSERT', 'UPDATE') THEN
        INSERT INTO ops.credit_run_merchants (run_id, merchant_id, score, grade,
                                              insufficient_history)
        SELECT run_id, merchant_id, score, grade, insufficient_history FROM new_rows;
        INSERT INTO ops.credit_run_grades AS g (run_id, grade, merchants)
        SELECT run_id, grade, count(*) FROM new_rows GROUP BY 1, 2
        ON CONFLICT (run_id, grade) DO UPDATE SET merchants = g.merchants + EXCLUDED.merchants;
        INSERT INTO ops.credit_run_bins AS b (run_id, factor, bin_no, merchants)
        SELECT s.run_id, f.key, (f.value->>'bin')::int, count(*)
        FROM new_rows s CROSS JOIN LATERAL jsonb_each(s.factors) AS f
        WHERE f.value->>'bin' IS NOT NULL
        GROUP BY 1, 2, 3
        ON CONFLICT (run_id, factor, bin_no) DO UPDATE SET merchants = b.merchants + EXCLUDED.merchants;
    END IF;
    RETURN NULL;
END $$;

CREATE TRIGGER keep_run_counts_insert AFTER INSERT ON ops.credit_scores
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION ops.keep_credit_run_counts();
CREATE TRIGGER keep_run_counts_update AFTER UPDATE ON ops.credit_scores
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION ops.keep_credit_run_counts();
CREATE TRIGGER keep_run_counts_delete AFTER DELETE ON ops.credit_scores
    REFERENCING OLD TABLE AS old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION ops.keep_credit_run_counts();

-- The runs scored before this migration.
INSERT INTO ops.credit_run_merchants (run_id, merchant_id, score, grade, insufficient_history)
SELECT run_id, merchant_id, score, grade, insufficient_history FROM ops.credit_scores;
INSERT INTO ops.credit_run_grades (run_id, grade, merchants)
SELECT run_id, grade, count(*) FROM ops.credit_run_merchants GROUP BY 1, 2;
INSERT INTO ops.credit_run_bins (run_id, factor, bin_no, merchants)
SELECT s.run_id, f.key, (f.value->>'bin')::int, count(*)
FROM ops.credit_scores s CROSS JOIN LATERAL jsonb_each(s.factors) AS f
WHERE f.value->>'bin' IS NOT NULL
GROUP BY 1, 2, 3;
ANALYZE ops.credit_run_merchants;
