-- An ETL job whose SQL changed rebuilds its marts in full on its next run.
--
-- An incremental run merges only the rows changed since its watermark, computed by the job's
-- SQL of today; rows it does not touch keep what an older version of the SQL computed. So a
-- rule changed in sql/etl/<job>.sql (e.g. the funnel's payment step, 2026-12-05) left each
-- mart a mix of old and new rules until someone ran the job with --full. etl/runner.py now
-- keeps a digest of the job's definition (its sources and its load SQL) beside its watermark
-- and, when the digest it finds is not the job's own, runs in full, saying why in the run log.
--
-- Rows written before this migration carry no digest: what built them is unknown, so every
-- job's next run is a full one, once.

ALTER TABLE etl.watermarks ADD COLUMN definition text;

-- Why a run read everything: asked (--full, a first start, the weekly rebuild) or the job's
-- definition changed since its marts were built. NULL for an incremental run.
ALTER TABLE etl.runs ADD COLUMN full_reason text
    CHECK (full_reason IN ('asked', 'definition_changed'));
ALTER TABLE etl.runs ADD CONSTRAINT runs_full_reason_when_full
    CHECK ((full_reason IS NOT NULL) = full_refresh) NOT VALID;
UPDATE etl.runs SET full_reason = 'asked' WHERE full_refresh;
ALTER TABLE etl.runs VALIDATE CONSTRAINT runs_full_reason_when_full;
