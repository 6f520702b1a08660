-- A scoring run's grade moves (migration 108) counted with one plan per run, not per row.
--
-- Issue 13: on the large bench (50,000 merchants, 33 kept runs) score_all_s was 10.3 s of a
-- 10 s target, and 2.8 s of it was this trigger. Its query looked up the previous run in a
-- CTE that PostgreSQL inlined, so the sub-select ran once for each of the run's 50,001 rows
-- (4.5 s in EXPLAIN ANALYZE inside the scoring transaction), and the join then read all
-- 1.7 million kept rows. Here the previous run is found once into a variable, and the count
-- is EXECUTEd with both run ids bound, so each run gets a plan for its own two runs: two
-- primary-key scans, 0.1 s for the same 50,001 rows. What the trigger keeps is unchanged.

CREATE OR REPLACE FUNCTION ops.keep_credit_run_moves() RETURNS trigger LANGUAGE plpgsql
-- See above: never a nested loop over a run's rows, whatever the statistics say.
SET enable_nestloop = off AS $$
DECLARE
    run  bigint;
    prev bigint;
BEGIN
    IF TG_OP IN ('DELETE', 'UPDATE') THEN
        UPDATE ops.credit_run_scores s SET merchants = s.merchants - o.n
        FROM (SELECT run_id, score, count(*) AS n FROM old_rows GROUP BY 1, 2) o
        WHERE s.run_id = o.run_id AND s.score = o.score;
        DELETE FROM ops.credit_run_scores WHERE merchants = 0;
        DELETE FROM ops.credit_run_moves m
        WHERE m.run_id IN (SELECT DISTINCT run_id FROM old_rows)
           OR m.from_run_id IN (SELECT DISTINCT run_id FROM old_rows);
    END IF;
    IF TG_OP IN ('INSERT', 'UPDATE') THEN
        INSERT INTO ops.credit_run_scores AS s (run_id, score, merchants)
        SELECT run_id, score, count(*) FROM new_rows GROUP BY 1, 2
        ON CONFLICT (run_id, score) DO UPDATE SET merchants = s.merchants + EXCLUDED.merchants;
        FOR run IN SELECT DISTINCT run_id FROM new_rows LOOP
            DELETE FROM ops.credit_run_moves WHERE run_id = run;
            -- The previous run of the same scorecard version that has scores.
            SELECT max(g.run_id) INTO prev
            FROM ops.credit_run_grades g
            JOIN ops.credit_runs c ON c.id = g.run_id
            WHERE g.run_id < run
              AND c.version_id = (SELECT version_id FROM ops.credit_runs WHERE id = run);
            CONTINUE WHEN prev IS NULL;
            EXECUTE 'INSERT INTO ops.credit_run_moves (run_id, from_run_id, before, after, merchants)
                     SELECT $1, $2, a.grade, n.grade, count(*)
                     FROM ops.credit_run_merchants n
                     JOIN ops.credit_run_merchants a ON a.run_id = $2 AND a.merchant_id = n.merchant_id
                     WHERE n.run_id = $1
                     GROUP BY a.grade, n.grade'
                USING run, prev;
        END LOOP;
    END IF;
    RETURN NULL;
END $$;
