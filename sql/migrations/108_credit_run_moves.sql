-- Model monitoring without regrouping two runs' merchants on every view (issue 13: on the
-- large bench the monitoring page took 184 ms of a 150 ms target under load; its score
-- distribution grouped 100,000 rows per view, 15–22 ms, and its grade migration grouped
-- them again by merchant, 36–43 ms).
--
-- Both are kept when a run's scores are written, by the statement trigger of migration 076
-- (one aggregation of the run's own rows, in the scoring transaction):
--   * ops.credit_run_scores: merchants per run and score (score PSI);
--   * ops.credit_run_moves: merchants per grade before → after between a run and the
--     previous run of the same scorecard version that has scores (the monitoring page's
--     default comparison). Another pair of runs is still counted at read time
--     (console/services/credit.py).
-- A run's rows changed or removed later (an UPDATE or DELETE on ops.credit_scores) take their
-- score counts back and count the run's moves again; the moves kept FROM that run are dropped
-- (the page counts such a pair at read time again).

SET LOCAL statement_timeout = 0;

CREATE TABLE ops.credit_run_scores (
    run_id     bigint NOT NULL REFERENCES ops.credit_runs(id),
    score      integer NOT NULL,
    merchants  integer NOT NULL,
    PRIMARY KEY (run_id, score)
);

CREATE TABLE ops.credit_run_moves (
    run_id       bigint NOT NULL REFERENCES ops.credit_runs(id),
    from_run_id  bigint NOT NULL REFERENCES ops.credit_runs(id),
    before       text NOT NULL,
    after        text NOT NULL,
    merchants    integer NOT NULL,
    PRIMARY KEY (run_id, from_run_id, before, after)
);
CREATE INDEX credit_run_moves_from_idx ON ops.credit_run_moves (from_run_id);

-- Fires after migration 076's trigger (triggers fire in name order: keep_run_counts_* <
-- keep_run_moves_*), so the run's narrow rows are in ops.credit_run_merchants already. The
-- moves of a run are counted from all its kept rows, whatever statement wrote them.
CREATE FUNCTION ops.keep_credit_run_moves() RETURNS trigger LANGUAGE plpgsql AS $$
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
        DELETE FROM ops.credit_run_moves m WHERE m.run_id IN (SELECT DISTINCT run_id FROM new_rows);
        -- The previous run once per run (not per row), then one join on the kept rows'
        -- primary key.
        INSERT INTO ops.credit_run_moves (run_id, from_run_id, before, after, merchants)
        WITH runs AS (
            SELECT r.run_id,
                   (SELECT max(g.run_id) FROM ops.credit_run_grades g
                    JOIN ops.credit_runs c ON c.id = g.run_id
                    WHERE g.run_id < r.run_id
                      AND c.version_id = (SELECT version_id FROM ops.credit_runs
                                          WHERE id = r.run_id)) AS prev
            FROM (SELECT DISTINCT run_id FROM new_rows) r
        )
        SELECT p.run_id, p.prev, a.grade, n.grade, count(*)
        FROM runs p
        JOIN ops.credit_run_merchants n ON n.run_id = p.run_id
        JOIN ops.credit_run_merchants a ON a.run_id = p.prev AND a.merchant_id = n.merchant_id
        WHERE p.prev IS NOT NULL
        GROUP BY 1, 2, 3, 4;
    END IF;
    RETURN NULL;
END $$;

CREATE TRIGGER keep_run_moves_insert AFTER INSERT ON ops.credit_scores
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION ops.keep_credit_run_moves();
CREATE TRIGGER keep_run_moves_update AFTER UPDATE ON ops.credit_scores
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION ops.keep_credit_run_moves();
CREATE TRIGGER keep_run_moves_delete AFTER DELETE ON ops.credit_scores
    REFERENCING OLD TABLE AS old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION ops.keep_credit_run_moves();

-- The runs scored before this migration.
INSERT INTO ops.credit_run_scores (run_id, score, merchants)
SELECT run_id, score, count(*) FROM ops.credit_run_merchants GROUP BY 1, 2;
WITH runs AS (
    SELECT r.id, lag(r.id) OVER (PARTITION BY r.version_id ORDER BY r.id) AS prev
    FROM ops.credit_runs r
    WHERE r.id IN (SELECT run_id FROM ops.credit_run_grades)
)
INSERT INTO ops.credit_run_moves (run_id, from_run_id, before, after, merchants)
SELECT r.id, r.prev, a.grade, b.grade, count(*)
FROM runs r
JOIN ops.credit_run_merchants b ON b.run_id = r.id
JOIN ops.credit_run_merchants a ON a.run_id = r.prev AND a.merchant_id = b.merchant_id
WHERE r.prev IS NOT NULL
GROUP BY 1, 2, 3, 4;
ANALYZE ops.credit_run_scores;
ANALYZE ops.credit_run_moves;
