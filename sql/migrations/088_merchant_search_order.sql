-- The rating card's merchant search (console/services/merchant_search.py) lists merchants by
-- score, highest first, then id. Its first page sorted all 50,000 merchants of the large
-- bench by a score joined from this table (~140 ms, 231 ms once under load); along this
-- index it reads the first page's rows and stops.
CREATE INDEX merchant_grade_current_score_idx
    ON ops.merchant_grade_current (score DESC, merchant_id);

-- A scoring run's upsert of every merchant's row fires the statement trigger of migration
-- 081 with 50,000 old and new rows to join. PL/pgSQL plans that join once per connection and
-- keeps the plan: when the first call in a connection saw one row (an approved override
-- moves one merchant's grade, as the bench's history does before each scoring run, as the
-- console does before a scheduled run in the same pooled connection), the kept plan is a
-- nested loop, and the next scoring run compared 50,000 x 50,000 rows: 9-10 minutes per run
-- instead of seconds (found by `make bench SCALE=large`, history day 3). EXECUTE plans the
-- join on each call, for the rows it has.
CREATE OR REPLACE FUNCTION ops.queue_grade_update() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    EXECUTE $q$
        INSERT INTO ops.match_refresh_queue (cause, merchant_id)
        SELECT 'grade', n.merchant_id
        FROM new_rows n JOIN old_rows o ON o.merchant_id = n.merchant_id
        WHERE (o.grade, o.insufficient_history, o.override_id, o.override_grade,
               o.override_until)
              IS DISTINCT FROM (n.grade, n.insufficient_history, n.override_id,
                                n.override_grade, n.override_until)$q$;
    RETURN NULL;
END $$;
