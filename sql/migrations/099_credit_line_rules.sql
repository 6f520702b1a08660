-- Credit lines follow the current grade, and manual lines only come from an approved request
-- (issue 19, credit lines; the tables are migration 096's).
--
-- 1. Re-evaluation. A line's grade_line is the merchant's current grade's loan limit
--    (ops.merchant_credit.loan_limit: the scorecard's, or an approved credit override's). The
--    current grade changes in exactly one table, ops.merchant_grade_current (migration 066),
--    written by every scoring run (ops.refresh_merchant_grades: every merchant, one statement)
--    and by every change of an approved override (its trigger calls
--    ops.refresh_merchant_grade: approve, supersede, expire, revoke). So the lines follow
--    that table with statement triggers, not with a call in each writer:
--      * one set-based upsert per statement, over the transition table's merchants, in the
--        writer's own transaction: a scoring run's lines and its grades commit together, an
--        override's approval moves the line in the transaction that approves it, and a
--        writer added later (a revocation, a backfill) cannot forget the lines;
--      * the grade table is written by SQL functions the console and the jobs both call, so
--        a service call would have to sit in every caller of them (the jobs' run, a risk
--        officer's run, approve/expire/review of overrides, the demo loader).
--    Only grade, grade_line, evaluated_run_id and evaluated_at change: committed is never
--    touched, so a downgrade below what is drawn leaves it drawn (available 0, new drawings
--    refused by console.finance.lines.reserve until repayments bring it back). A merchant that
--    drops out of the current grades (no longer in the active version's latest run) keeps its
--    row with no grade and a grade line of 0.
--    Lock order: these upserts take line rows after the grade table's lock; reserve/release
--    take a line row first. Writers take a line row before writing their audit row (the
--    audit chain's head, migration 061), as the scoring run and override decisions do.
-- 2. Manual lines (人工授信): a line row's manual line must be an approved request of the same
--    merchant, for the same amount and end (the request's CHECKs already refuse a self-approval),
--    and one approved request per merchant at a time (a new approval supersedes the old first).

-- ---------------------------------------------------------------- 1. re-evaluation
CREATE FUNCTION fin.evaluate_lines_changed() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO fin.credit_lines AS l (merchant_id, grade, grade_line, evaluated_run_id,
                                       evaluated_at)
    SELECT c.merchant_id, c.effective_grade, c.loan_limit, c.run_id, clock_timestamp()
    FROM ops.merchant_credit c
    WHERE c.merchant_id IN (SELECT n.merchant_id FROM new_rows n)
    ON CONFLICT (merchant_id) DO UPDATE
       SET grade = EXCLUDED.grade, grade_line = EXCLUDED.grade_line,
           evaluated_run_id = EXCLUDED.evaluated_run_id, evaluated_at = EXCLUDED.evaluated_at,
           version = l.version + CASE WHEN (l.grade, l.grade_line)
                                           IS DISTINCT FROM (EXCLUDED.grade, EXCLUDED.grade_line)
                                      THEN 1 ELSE 0 END;
    RETURN NULL;
END
$$;

CREATE FUNCTION fin.evaluate_lines_removed() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    UPDATE fin.credit_lines l
    SET grade = NULL, grade_line = 0, evaluated_at = clock_timestamp(), version = l.version + 1
    WHERE l.merchant_id IN (SELECT o.merchant_id FROM old_rows o)
      AND NOT EXISTS (SELECT 1 FROM ops.merchant_grade_current c
                      WHERE c.merchant_id = l.merchant_id);
    RETURN NULL;
END
$$;

CREATE TRIGGER credit_lines_evaluate_insert AFTER INSERT ON ops.merchant_grade_current
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION fin.evaluate_lines_changed();
CREATE TRIGGER credit_lines_evaluate_update AFTER UPDATE ON ops.merchant_grade_current
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION fin.evaluate_lines_changed();
CREATE TRIGGER credit_lines_evaluate_delete AFTER DELETE ON ops.merchant_grade_current
    REFERENCING OLD TABLE AS old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION fin.evaluate_lines_removed();

-- The lines of the grades there are now.
INSERT INTO fin.credit_lines AS l (merchant_id, grade, grade_line, evaluated_run_id)
SELECT c.merchant_id, c.effective_grade, c.loan_limit, c.run_id
FROM ops.merchant_credit c
ON CONFLICT (merchant_id) DO UPDATE
   SET grade = EXCLUDED.grade, grade_line = EXCLUDED.grade_line,
       evaluated_run_id = EXCLUDED.evaluated_run_id, evaluated_at = clock_timestamp();

-- ---------------------------------------------------------------- 2. manual lines
CREATE UNIQUE INDEX line_requests_one_approved ON fin.line_requests (merchant_id)
    WHERE status = 'approved';
-- The expiry sweep (console.finance.line_requests.expire_due) finds what ended.
CREATE INDEX line_requests_due_idx ON fin.line_requests (expires_at)
    WHERE status IN ('proposed', 'approved');

CREATE FUNCTION fin.check_manual_line() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.manual_request_id IS NOT NULL AND NOT EXISTS (
            SELECT 1 FROM fin.line_requests r
            WHERE r.id = NEW.manual_request_id AND r.merchant_id = NEW.merchant_id
              AND r.status = 'approved' AND r.line = NEW.manual_line
              AND r.expires_at = NEW.manual_until) THEN
        RAISE EXCEPTION 'manual line of merchant % is not its approved request %',
                        NEW.merchant_id, NEW.manual_request_id
            USING ERRCODE = 'check_violation';
    END IF;
    RETURN NEW;
END
$$;

CREATE TRIGGER credit_lines_manual_approved
    BEFORE INSERT OR UPDATE OF manual_line, manual_request_id, manual_until ON fin.credit_lines
    FOR EACH ROW EXECUTE FUNCTION fin.check_manual_line();
