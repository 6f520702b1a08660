-- The validation report of each scorecard version, computed by the scheduled jobs' step
-- (console/jobs.py credit_validation), by `python -m console.credit validate`, or on a risk
-- officer's request, and read by the validation page: validation is a periodic process,
-- not a computation per page view (it takes seconds to rebuild the point-in-time samples).
-- One row per version per computation, kept (a history of what each version's report said
-- and on which data): the page shows the newest of each version.
CREATE TABLE ops.credit_validation_reports (
    id                 bigserial PRIMARY KEY,
    version_id         integer NOT NULL REFERENCES ops.credit_scorecard_versions(id),
    config_sha256      text NOT NULL,        -- the version's configuration it validated
    code_sha256        text NOT NULL,        -- the validation code and query it ran
    -- the samples: outcomes observed to data_end; development and out-of-time score dates
    data_end           date NOT NULL,
    window_days        integer NOT NULL CHECK (window_days > 0),
    development_dates  date[] NOT NULL,
    out_of_time_date   date NOT NULL,
    events_watermark   timestamptz,          -- the newest app.events row the samples read
    run_id             bigint REFERENCES ops.credit_runs(id),  -- newest succeeded scoring run then
    computed_at        timestamptz NOT NULL DEFAULT clock_timestamp(),
    seconds            double precision NOT NULL CHECK (seconds >= 0),
    requested_by       bigint REFERENCES ops.staff(id),        -- NULL: the scheduled job / command
    -- the figures (console/credit/validation_store.py); NULL: not validated on these samples
    report             jsonb,
    unrebuilt_factors  text[] NOT NULL DEFAULT '{}'
);
-- the page: each version's newest report, one index probe per version
CREATE INDEX credit_validation_reports_latest_idx
    ON ops.credit_validation_reports (version_id, computed_at DESC, id DESC);
