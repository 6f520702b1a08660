-- Change times the database keeps, so that an incremental run can never skip a late commit.
--
-- The incremental ETL (etl/batches.py) and the incremental rematch read the rows changed since
-- their watermark, and set the next watermark to the "change horizon" (etl/horizon.py): the
-- clock when the run started, held back to the start of the oldest write transaction still
-- open then. That is only sound if every row's updated_at is at least the time its writing
-- transaction was first seen writing. Writers used to set updated_at = now(), the start of
-- their transaction, and some set it themselves; so a transaction that began before a run
-- and committed after it left rows below the next watermark, never to be read again.
--
-- From here on the database keeps updated_at on every table a job reads incrementally:
--   * a BEFORE INSERT OR UPDATE trigger writes clock_timestamp(), the time of the statement,
--     after making sure the transaction holds its id (pg_current_xact_id()): a run that reads
--     pg_stat_activity either sees the transaction as an open writer, or the row's time is
--     later than the run's clock. A value a writer supplies is overwritten;
--   * except history loaded by the table's owner (or a superuser): the demo seed, backfills,
--     test fixtures write rows with their historical updated_at (mart.daily_kpis reads a
--     closed listing's updated_at as the day it left the market). A value older than the
--     writing transaction is kept when the writing role has the privileges of the table's
--     owner; the application roles (dh_console, dh_jobs, the marketplace) never do. An
--     UPDATE by the owner that leaves updated_at alone keeps it too (the seed's last step).
--
-- The tables that had no updated_at get one: app.payments, app.disputes and
-- app.loan_applications (extracted until now by the latest of their business times, which a
-- writer can set backwards), and the append-only app.events, app.reviews and ops.contact_log
-- (extracted by id until now: ids come from a sequence in the order transactions asked for
-- them, not in commit order, so a late commit of a low id was skipped the same way).

CREATE FUNCTION app.stamp_updated_at() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    -- Two IFs, cheap test first: plpgsql runs an expression with a subquery through the
    -- executor (~10 µs a row), a plain one directly.
    IF NEW.updated_at < now() THEN
        IF pg_has_role(current_user,
                       (SELECT c.relowner FROM pg_catalog.pg_class c WHERE c.oid = TG_RELID),
                       'USAGE') THEN
            RETURN NEW;  -- the owner writes history on purpose
        END IF;
    END IF;
    -- The transaction id first, the clock second (CASE evaluates in that order): see above.
    NEW.updated_at := CASE WHEN pg_current_xact_id() IS NOT NULL THEN clock_timestamp() END;
    RETURN NEW;
END $$;

-- ---------------------------------------------------------------- new columns
-- NOT NULL DEFAULT now() adds the column without rewriting the table: every existing row
-- reads the time of this migration. The payments, disputes and loans a job had already
-- loaded are therefore read once more by each job's next run (a few hundred thousand rows at
-- most; the merges are idempotent). New rows get the trigger's time.
ALTER TABLE app.payments ADD COLUMN updated_at timestamptz NOT NULL DEFAULT now();
ALTER TABLE app.disputes ADD COLUMN updated_at timestamptz NOT NULL DEFAULT now();
ALTER TABLE app.loan_applications ADD COLUMN updated_at timestamptz NOT NULL DEFAULT now();
ALTER TABLE app.events ADD COLUMN updated_at timestamptz NOT NULL DEFAULT now();
ALTER TABLE app.reviews ADD COLUMN updated_at timestamptz NOT NULL DEFAULT now();
ALTER TABLE ops.contact_log ADD COLUMN updated_at timestamptz NOT NULL DEFAULT now();

-- The id-watermarked sources move to updated_at without reading their history again (10M
-- events at the large scale): each job's id mark becomes a time just after this migration's
-- now(), which every existing row reads as its updated_at, and the rows past the lowest id
-- mark (written after some job's last run) are moved past that time so each job still reads
-- them. A job that never ran reads everything, as before.
DO $$
DECLARE
    source text;
    lowest bigint;
BEGIN
    FOREACH source IN ARRAY ARRAY['app.events', 'app.reviews', 'ops.contact_log'] LOOP
        SELECT min((w.sources ->> source)::bigint) INTO lowest
        FROM etl.watermarks w WHERE jsonb_typeof(w.sources -> source) = 'number';
        IF lowest IS NOT NULL THEN
            EXECUTE format('UPDATE %s SET updated_at = now() + interval ''1 second'' WHERE id > $1',
                           source) USING lowest;
        END IF;
        UPDATE etl.watermarks w
        SET sources = jsonb_set(w.sources, ARRAY[source],
                                to_jsonb(now() + interval '1 microsecond'))
        WHERE jsonb_typeof(w.sources -> source) = 'number';
    END LOOP;
END $$;

-- From now on a new row's time is the statement's (the trigger writes it in any case; the
-- default serves a bulk load that skips triggers, session_replication_role = replica).
ALTER TABLE app.payments ALTER COLUMN updated_at SET DEFAULT clock_timestamp();
ALTER TABLE app.disputes ALTER COLUMN updated_at SET DEFAULT clock_timestamp();
ALTER TABLE app.loan_applications ALTER COLUMN updated_at SET DEFAULT clock_timestamp();
ALTER TABLE app.events ALTER COLUMN updated_at SET DEFAULT clock_timestamp();
ALTER TABLE app.reviews ALTER COLUMN updated_at SET DEFAULT clock_timestamp();
ALTER TABLE ops.contact_log ALTER COLUMN updated_at SET DEFAULT clock_timestamp();
-- …and on the tables that had updated_at, whose default was the transaction's start.
ALTER TABLE app.merchants ALTER COLUMN updated_at SET DEFAULT clock_timestamp();
ALTER TABLE app.certifications ALTER COLUMN updated_at SET DEFAULT clock_timestamp();
ALTER TABLE app.listings ALTER COLUMN updated_at SET DEFAULT clock_timestamp();
ALTER TABLE app.requests ALTER COLUMN updated_at SET DEFAULT clock_timestamp();
ALTER TABLE ops.matches ALTER COLUMN updated_at SET DEFAULT clock_timestamp();
ALTER TABLE app.orders ALTER COLUMN updated_at SET DEFAULT clock_timestamp();
ALTER TABLE ops.listing_flags ALTER COLUMN updated_at SET DEFAULT clock_timestamp();

-- The incremental extraction reads by updated_at.
CREATE INDEX ON app.payments (updated_at);
CREATE INDEX ON app.disputes (updated_at);
CREATE INDEX ON app.loan_applications (updated_at);
CREATE INDEX ON app.events (updated_at);
CREATE INDEX ON app.reviews (updated_at);
CREATE INDEX ON ops.contact_log (updated_at);
CREATE INDEX ON ops.listing_flags (updated_at);

-- ---------------------------------------------------------------- the triggers
DO $$
DECLARE
    tbl text;
BEGIN
    FOREACH tbl IN ARRAY ARRAY['app.merchants', 'app.certifications', 'app.listings',
                               'app.requests', 'ops.matches', 'app.orders', 'app.payments',
                               'app.events', 'app.reviews', 'app.disputes',
                               'app.loan_applications', 'ops.listing_flags',
                               'ops.contact_log'] LOOP
        EXECUTE format('CREATE TRIGGER stamp_updated_at BEFORE INSERT OR UPDATE ON %s '
                       'FOR EACH ROW EXECUTE FUNCTION app.stamp_updated_at()', tbl);
    END LOOP;
END $$;
