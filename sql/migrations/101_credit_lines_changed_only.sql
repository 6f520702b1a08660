-- Credit lines re-evaluated only where the grade or its line changed (issue 19).
--
-- Migration 099's trigger rewrote every merchant's line row on every scoring run (a new row
-- version, the updated_at trigger, for 50,000 merchants ~2–2.4 s added to each run), although
-- a daily run moves few grades. Now the upsert updates a row only when its grade or grade
-- line differs (ON CONFLICT … DO UPDATE … WHERE), so evaluated_run_id / evaluated_at say
-- which run set the line in force, and when; the current grade's own time
-- (ops.merchant_grade_current.scored_at) says when it was last confirmed. Rows the WHERE skips
-- are still locked to the end of the writer's transaction, as before.
CREATE OR REPLACE FUNCTION fin.evaluate_lines_changed() RETURNS trigger
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
           version = l.version + 1
       WHERE (l.grade, l.grade_line) IS DISTINCT FROM (EXCLUDED.grade, EXCLUDED.grade_line);
    RETURN NULL;
END
$$;
