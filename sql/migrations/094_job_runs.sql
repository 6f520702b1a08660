-- The system jobs' run log (issue 18): one row per step of `python -m console jobs` that ran
-- (prechecks, listing_flags, matching, etl, credit; a step skipped under another run's lock
-- writes none), so `python -m console health` can hold every scheduled job, not only the
-- ETL, to the age of its last success. Written by dh_jobs (etl is the jobs' schema), read by
-- dh_console (health runs as the console); sql/grants.sql covers both schema-wide.
CREATE TABLE etl.job_runs (
    id           bigserial PRIMARY KEY,
    job          text NOT NULL,
    started_at   timestamptz NOT NULL,
    finished_at  timestamptz NOT NULL DEFAULT clock_timestamp(),
    status       text NOT NULL CHECK (status IN ('succeeded', 'failed')),
    error_class  text,          -- the exception's class only: its message may quote a row
    CHECK (finished_at >= started_at)
);
-- health: each job's newest success, one index probe per job.
CREATE INDEX job_runs_last_success_idx ON etl.job_runs (job, finished_at DESC)
    WHERE status = 'succeeded';
