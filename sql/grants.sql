-- The privileges of the project's database roles, in one place (roles: migration 060).
--
-- console/migrate.py applies this file after every migrate run, in one transaction, as the
-- migrating user (a superuser's grants on dh_owner's objects count as dh_owner's). It is
-- declarative: it first takes every privilege away from the login roles, then
-- grants exactly what is written here, so a privilege granted by hand does not survive the
-- next migrate, and a table added by a later migration gets its schema's rules at once.
-- A table that needs something other than its schema's rule gets a line below, with why.

-- ------------------------------------------------------------------ the roles themselves
-- The roles are cluster-wide and may predate this project's migration 060 (CREATE ROLE is
-- skipped when the name exists): refuse to run with a login role that could bypass the
-- rules below, rather than grant it anything.
DO $$
BEGIN
    IF EXISTS (SELECT FROM pg_roles
               WHERE rolname IN ('dh_console', 'dh_jobs', 'dh_readonly')
                 AND (rolsuper OR rolcreaterole OR rolcreatedb OR rolreplication OR rolbypassrls
                      OR pg_has_role(rolname, 'dh_owner', 'MEMBER'))) THEN
        RAISE EXCEPTION 'dh_console, dh_jobs and dh_readonly must not be superuser, CREATEROLE, '
                        'CREATEDB, REPLICATION, BYPASSRLS or members of dh_owner';
    END IF;
END $$;

-- ------------------------------------------------------------------ clean slate
REVOKE ALL ON SCHEMA app, ops, mart, etl, fin, lgx, inv FROM PUBLIC, dh_console, dh_jobs, dh_readonly;
REVOKE CREATE ON SCHEMA public FROM PUBLIC, dh_console, dh_jobs, dh_readonly;
REVOKE ALL ON ALL TABLES IN SCHEMA app, ops, mart, etl, fin, lgx, inv FROM PUBLIC, dh_console, dh_jobs, dh_readonly;
REVOKE ALL ON ALL SEQUENCES IN SCHEMA app, ops, mart, etl, fin, lgx, inv FROM PUBLIC, dh_console, dh_jobs, dh_readonly;
REVOKE ALL ON ALL ROUTINES IN SCHEMA app, ops, mart, etl, fin, lgx, inv FROM PUBLIC, dh_console, dh_jobs, dh_readonly;
REVOKE ALL ON public.schema_migrations FROM PUBLIC, dh_console, dh_jobs, dh_readonly;

-- ------------------------------------------------------------------ dh_console
-- The console: staff work on app and ops (certify, review, match, override, administer
-- accounts) and read the marts and the ETL's run log, quarantine and freshness. It never
-- writes mart or etl: the data-quality page's "run a job" runs the job on the jobs' engine.
GRANT USAGE ON SCHEMA app, ops, mart, etl TO dh_console;
GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA app, ops TO dh_console;
GRANT SELECT ON ALL TABLES IN SCHEMA mart, etl TO dh_console;
GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA app, ops TO dh_console;
GRANT EXECUTE ON ALL ROUTINES IN SCHEMA app, ops, mart, etl TO dh_console;
-- `python -m console health` runs as the console and says whether migrations are pending.
GRANT SELECT ON public.schema_migrations TO dh_console;

-- ------------------------------------------------------------------ dh_jobs
-- The scheduled jobs (console/jobs.py, python -m etl, python -m console.credit): read the
-- marketplace and the staff's work, rebuild the marts and the ETL's bookkeeping.
GRANT USAGE ON SCHEMA app, ops, mart, etl TO dh_jobs;
GRANT SELECT ON ALL TABLES IN SCHEMA app, ops TO dh_jobs;
GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA mart, etl TO dh_jobs;
GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA app, ops, mart, etl TO dh_jobs;
GRANT EXECUTE ON ALL ROUTINES IN SCHEMA app, ops, mart, etl TO dh_jobs;
-- The ETL stages each source batch as a relation in etl (etl/batches.py: unlogged tables or
-- views that great-expectations reads over its own connection, so temporary tables cannot
-- serve) and drops them when the session ends. Only etl: the jobs create nothing elsewhere.
GRANT CREATE ON SCHEMA etl TO dh_jobs;
-- The incremental jobs hold their watermark back to the oldest open write transaction
-- (etl/horizon.py), whose start pg_stat_activity shows other roles only with this role.
-- Cluster-wide, so granted once, by a superuser; concurrent migrations may race to it.
DO $$
BEGIN
    IF NOT pg_has_role('dh_jobs', 'pg_read_all_stats', 'MEMBER') THEN
        GRANT pg_read_all_stats TO dh_jobs;
    END IF;
EXCEPTION
    WHEN unique_violation OR duplicate_object THEN
        NULL;  -- another database's migration granted it just now
    WHEN insufficient_privilege THEN
        RAISE WARNING 'dh_jobs lacks pg_read_all_stats: a superuser should run '
                      '"GRANT pg_read_all_stats TO dh_jobs" (incremental jobs keep their '
                      'watermark while they cannot see open transactions)';
END $$;
-- The staff accounts are none of the jobs' business (password hashes).
REVOKE ALL ON ops.staff FROM dh_jobs;
-- Nor are the staff's sign-in sessions (token hashes, IPs).
REVOKE ALL ON ops.staff_sessions FROM dh_jobs;
-- Nor who signs in through single sign-on, with which identity (migration 095).
REVOKE ALL ON ops.staff_identities, ops.sso_sign_ins FROM dh_jobs;
-- What the jobs write outside mart and etl:
GRANT INSERT, UPDATE, DELETE ON
    ops.cert_prechecks,                 -- certification pre-checks
    ops.listing_flags,                  -- listing authenticity flags
    ops.match_suggestions,              -- top-K match suggestions
    ops.match_refresh_queue, ops.series_norms, -- rematch causes queued by triggers; usual discounts (081)
    ops.lead_claims,                    -- idle leads back to the pool
    ops.matches, ops.match_stage_history, -- …their cards; best bidding offers proposed
    ops.credit_runs, ops.credit_scores, -- credit scoring runs
    ops.credit_run_merchants, ops.credit_run_grades, ops.credit_run_bins, -- …their counts (076)
    ops.credit_run_scores, ops.credit_run_moves, -- …score counts and grade moves (108)
    ops.credit_run_scored_grades,       -- …and the peers of each grade (092)
    ops.merchant_grade_current,         -- …and every merchant's current grade (066)
    ops.credit_overrides,               -- overrides past their end expire
    ops.credit_scorecard_versions, ops.credit_scorecard_bins, ops.credit_grade_bands,
    ops.credit_validation_reports,      -- validation reports per version (093)
    app.notification_outbox             -- notifications the jobs queue
TO dh_jobs;

-- ------------------------------------------------------------------ dealer finance (fin)
-- Money lent (migration 096): the console decides applications, records repayments and
-- collection notes, and keeps the lines' committed amounts; the jobs re-evaluate lines after
-- scoring and accrue interest and days past due each night. No login role deletes a loan, a
-- repayment or a timeline entry, and the timeline is never rewritten.
GRANT USAGE ON SCHEMA fin TO dh_console, dh_jobs;
GRANT SELECT, INSERT, UPDATE ON ALL TABLES IN SCHEMA fin TO dh_console, dh_jobs;
GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA fin TO dh_console, dh_jobs;
GRANT EXECUTE ON ALL ROUTINES IN SCHEMA fin TO dh_console, dh_jobs;
REVOKE UPDATE ON fin.loan_events, fin.loan_repayments FROM dh_console, dh_jobs;

-- ------------------------------------------------------------------ logistics desk (lgx)
-- Transport requests, carriers, quotes, loads, claims and ratings (migration 104): the console
-- runs the desk, the jobs build its marts. No login role deletes a row here, and a request's
-- timeline (lgx.request_events) is never rewritten, as a loan's is not.
GRANT USAGE ON SCHEMA lgx TO dh_console, dh_jobs;
GRANT SELECT, INSERT, UPDATE ON ALL TABLES IN SCHEMA lgx TO dh_console, dh_jobs;
GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA lgx TO dh_console, dh_jobs;
GRANT EXECUTE ON ALL ROUTINES IN SCHEMA lgx TO dh_console, dh_jobs;
REVOKE UPDATE ON lgx.request_events FROM dh_console, dh_jobs;

-- ------------------------------------------------------------------ self-operated stock (inv)
-- The platform's own cars, warehouses and price changes (migration 110): the console buys,
-- prices, reserves and sells; the jobs read them for the marts and matching. No login role
-- deletes a row, and a price change is never rewritten.
GRANT USAGE ON SCHEMA inv TO dh_console, dh_jobs;
GRANT SELECT, INSERT, UPDATE ON ALL TABLES IN SCHEMA inv TO dh_console;
GRANT SELECT ON ALL TABLES IN SCHEMA inv TO dh_jobs;
GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA inv TO dh_console;
REVOKE UPDATE ON inv.price_changes FROM dh_console;

-- ------------------------------------------------------------------ dh_readonly
-- Dashboards and ad-hoc analysis: the marts only.
GRANT USAGE ON SCHEMA mart TO dh_readonly;
GRANT SELECT ON ALL TABLES IN SCHEMA mart TO dh_readonly;
GRANT EXECUTE ON ALL ROUTINES IN SCHEMA mart TO dh_readonly;

-- ------------------------------------------------------------------ the audit log
-- Append-only for everyone but its owner: read and insert, nothing else (no UPDATE, DELETE,
-- TRUNCATE, nor TRIGGER or REFERENCES, which would let a role hang its own trigger on it or
-- hold locks against it). Its chain head moves only through the owner's trigger function;
-- the console reads it to verify the chain.
REVOKE ALL ON ops.audit_log, ops.audit_chain_head FROM dh_console, dh_jobs;
GRANT SELECT, INSERT ON ops.audit_log TO dh_console, dh_jobs;
GRANT SELECT ON ops.audit_chain_head TO dh_console;

-- ------------------------------------------------------------------ uploaded documents
-- The document images merchants upload (migration 073) are evidence: staff look at them and
-- never change them, so the console reads them and nothing else.
REVOKE INSERT, UPDATE, DELETE ON app.certification_images FROM dh_console;

-- ------------------------------------------------------------------ validation reports
-- The credit validation reports (migration 093) are the jobs' output: the jobs' role writes
-- them (a risk officer's recompute runs on the jobs' engine, as the data-quality page's
-- "run a job" does), the console reads them, and model validators read them ad hoc.
REVOKE INSERT, UPDATE, DELETE ON ops.credit_validation_reports FROM dh_console;
GRANT USAGE ON SCHEMA ops TO dh_readonly;
GRANT SELECT ON ops.credit_validation_reports TO dh_readonly;

-- No login role calls a SECURITY DEFINER function directly: such a function runs with its
-- owner's rights (the audit chain's trigger function is one); grant one here by name if a
-- role must.
DO $$
DECLARE
    fn regprocedure;
BEGIN
    FOR fn IN SELECT p.oid::regprocedure FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
              WHERE n.nspname IN ('app', 'ops', 'mart', 'etl', 'fin') AND p.prosecdef LOOP
        EXECUTE format('REVOKE ALL ON FUNCTION %s FROM PUBLIC, dh_console, dh_jobs, dh_readonly', fn);
    END LOOP;
END $$;
