-- Issue 19's leftovers.
--
-- ---------------------------------------------------------------- 1. the portfolio mart runs
-- when it has something new
-- The jobs rebuilt the loan portfolio mart whole every cycle (22 s at 190k loans). Its step
-- now rebuilds only when a loan, a repayment or a loan event changed since the last build, or
-- the day changed (console/finance/portfolio_mart.refresh). What changed is noted here by
-- triggers on the three tables, one row per statement that changed at least one row, in the
-- writer's own transaction; a build deletes the notes it sees as its first step, so it reads
-- at least every change whose note it took. A note of a transaction still open when a build
-- starts is not visible to it, not deleted, and makes the next cycle build: unlike a high-water
-- mark (max id, max updated_at), a change that commits late is never missed. Statement-level
-- triggers with a transition table, so the nightly accrual's one UPDATE writes one note, and
-- its second run of a day, which changes no row, writes none.
CREATE TABLE mart.loan_portfolio_changes (
    id      bigserial PRIMARY KEY,
    source  text NOT NULL CHECK (source IN ('loans', 'loan_repayments', 'loan_events')),
    op      text NOT NULL CHECK (op IN ('INSERT', 'UPDATE', 'DELETE', 'TRUNCATE')),
    at      timestamptz NOT NULL DEFAULT clock_timestamp()
);
COMMENT ON TABLE mart.loan_portfolio_changes IS
    'Loans, repayments and loan events changed since the last portfolio build (one note per statement); the build deletes the notes it reads.';

-- The last time a run of the step found the mart current (nothing new, the same day): the
-- freshness badge's age counts from it, so a quiet book does not read stale.
ALTER TABLE mart.loan_portfolio_builds ADD COLUMN checked_at timestamptz;
COMMENT ON COLUMN mart.loan_portfolio_builds.checked_at IS
    'The last run of the jobs step that found this build current (no change, same day).';

-- SECURITY DEFINER: the console (dh_console) writes loans and reads the marts only; the note
-- is the owner's write. No login role may call it (sql/grants.sql); a trigger needs no grant.
CREATE FUNCTION mart.note_loan_change() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    IF TG_OP = 'INSERT' OR TG_OP = 'UPDATE' THEN
        IF NOT EXISTS (SELECT 1 FROM changed_new) THEN
            RETURN NULL;
        END IF;
    ELSIF TG_OP = 'DELETE' THEN
        IF NOT EXISTS (SELECT 1 FROM changed_old) THEN
            RETURN NULL;
        END IF;
    END IF;
    INSERT INTO mart.loan_portfolio_changes (source, op) VALUES (TG_TABLE_NAME, TG_OP);
    RETURN NULL;
END $$;

DO $$
DECLARE
    t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['loans', 'loan_repayments', 'loan_events'] LOOP
        EXECUTE format('CREATE TRIGGER portfolio_note_insert AFTER INSERT ON fin.%I '
                       'REFERENCING NEW TABLE AS changed_new FOR EACH STATEMENT '
                       'EXECUTE FUNCTION mart.note_loan_change()', t);
        EXECUTE format('CREATE TRIGGER portfolio_note_update AFTER UPDATE ON fin.%I '
                       'REFERENCING NEW TABLE AS changed_new FOR EACH STATEMENT '
                       'EXECUTE FUNCTION mart.note_loan_change()', t);
        EXECUTE format('CREATE TRIGGER portfolio_note_delete AFTER DELETE ON fin.%I '
                       'REFERENCING OLD TABLE AS changed_old FOR EACH STATEMENT '
                       'EXECUTE FUNCTION mart.note_loan_change()', t);
        EXECUTE format('CREATE TRIGGER portfolio_note_truncate AFTER TRUNCATE ON fin.%I '
                       'FOR EACH STATEMENT EXECUTE FUNCTION mart.note_loan_change()', t);
    END LOOP;
END $$;

-- Loans already in the book are news to the first refresh (a mart built before this
-- migration is rebuilt once).
INSERT INTO mart.loan_portfolio_changes (source, op)
SELECT 'loans', 'INSERT' WHERE EXISTS (SELECT 1 FROM fin.loans);

-- ---------------------------------------------------------------- 2. BD's applications
-- The loan queue's view of the applications a BD person filed (console/finance/loans.py,
-- view 'filed' and the BD scope): by who applied, newest first.
CREATE INDEX loans_applied_by_idx ON fin.loans (applied_by, applied_at) WHERE applied_by IS NOT NULL;
