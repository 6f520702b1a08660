-- Speed at the large scale with a month of history (issue 13/14): the overrides page and
-- the triggers of migration 077.
--
-- ---------------------------------------------------------------- 1. peers of each grade
-- The overrides page (pages/risk_overrides.py) sets each grade an override gave against
-- the merchants the same run scored that grade without an override: it counted them
-- from ops.credit_scores, every run with an override, 50,000 wide rows each (2.3 GB read
-- for 29 runs on the large bench: 3.6-16 s). The scoring run keeps each run's count per
-- grade of the merchants scored with enough history (insufficient_history false: the peers'
-- own condition), by a statement trigger as migration 076 keeps its counts; the page adds the
-- few overridden merchants' and the bad events' rows to them
-- (sql/queries/credit_override_outcomes.sql).
CREATE TABLE ops.credit_run_scored_grades (
    run_id     bigint NOT NULL REFERENCES ops.credit_runs(id),
    grade      text NOT NULL,
    merchants  integer NOT NULL CHECK (merchants >= 0),
    PRIMARY KEY (run_id, grade)
);
COMMENT ON TABLE ops.credit_run_scored_grades IS
    'Kept by trigger (migration 092): per scoring run and grade, the merchants scored with enough history.';

CREATE FUNCTION ops.keep_credit_run_scored_grades() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP IN ('DELETE', 'UPDATE') THEN
        UPDATE ops.credit_run_scored_grades g SET merchants = g.merchants - o.n
        FROM (SELECT run_id, grade, count(*) AS n FROM old_rows
              WHERE NOT insufficient_history GROUP BY 1, 2) o
        WHERE g.run_id = o.run_id AND g.grade = o.grade;
        DELETE FROM ops.credit_run_scored_grades WHERE merchants = 0;
    END IF;
    IF TG_OP IN ('INSERT', 'UPDATE') THEN
        INSERT INTO ops.credit_run_scored_grades AS g (run_id, grade, merchants)
        SELECT run_id, grade, count(*) FROM new_rows WHERE NOT insufficient_history
        GROUP BY 1, 2
        ON CONFLICT (run_id, grade) DO UPDATE SET merchants = g.merchants + EXCLUDED.merchants;
    END IF;
    RETURN NULL;
END $$;

CREATE TRIGGER keep_scored_grades_insert AFTER INSERT ON ops.credit_scores
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION ops.keep_credit_run_scored_grades();
CREATE TRIGGER keep_scored_grades_update AFTER UPDATE ON ops.credit_scores
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION ops.keep_credit_run_scored_grades();
CREATE TRIGGER keep_scored_grades_delete AFTER DELETE ON ops.credit_scores
    REFERENCING OLD TABLE AS old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION ops.keep_credit_run_scored_grades();

-- The runs scored before this migration.
INSERT INTO ops.credit_run_scored_grades (run_id, grade, merchants)
SELECT run_id, grade, count(*) FROM ops.credit_run_merchants   -- ops.credit_scores' copy (076)
WHERE NOT insufficient_history GROUP BY 1, 2;
ANALYZE ops.credit_run_scored_grades;

-- ---------------------------------------------------------------- 2. migration 077's triggers
-- The same defect migration 088 fixed in 081's grade queue: PL/pgSQL plans a statement once
-- per connection and keeps the plan, made for the transition tables' sizes of its first
-- call. After a one-row change of a card (a take, a move, a next-action date), a listing
-- or an order, the join of old_rows with new_rows is a nested loop, and every later bulk
-- change in that connection compares all its old rows with all its new rows: on the large
-- bench, 5,000 cards touched at once took 16.6 s after a one-row change in the same session,
-- 2.9-4.5 s in a fresh one. EXECUTE plans each joining statement for the rows it has. The
-- statements are otherwise those of migration 077.
CREATE OR REPLACE FUNCTION ops.card_deposits_orders() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    changed bigint[];
BEGIN
    IF TG_OP = 'INSERT' THEN
        PERFORM ops.keep_card_deposits(ARRAY(
            SELECT DISTINCT match_id FROM new_rows
            WHERE match_id IS NOT NULL AND deposit_paid_at IS NOT NULL));
    ELSIF TG_OP = 'DELETE' THEN
        PERFORM ops.keep_card_deposits(ARRAY(
            SELECT DISTINCT match_id FROM old_rows
            WHERE match_id IS NOT NULL AND deposit_paid_at IS NOT NULL));
    ELSE
        EXECUTE $q$
            SELECT ARRAY(
                SELECT DISTINCT c.match_id
                FROM old_rows o JOIN new_rows n ON n.id = o.id
                CROSS JOIN LATERAL (VALUES (o.match_id), (n.match_id)) c(match_id)
                WHERE c.match_id IS NOT NULL
                  AND (o.match_id, o.deposit_paid_at) IS DISTINCT FROM (n.match_id, n.deposit_paid_at))$q$
        INTO changed;
        PERFORM ops.keep_card_deposits(changed);
    END IF;
    RETURN NULL;
END
$$;

CREATE OR REPLACE FUNCTION ops.card_deposits_matches() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    changed bigint[];
BEGIN
    IF TG_OP = 'DELETE' THEN
        DELETE FROM ops.card_deposits WHERE match_id IN (SELECT id FROM old_rows);
    ELSE
        EXECUTE $q$
            SELECT ARRAY(
                SELECT n.id FROM old_rows o JOIN new_rows n ON n.id = o.id
                WHERE (o.owner_id, o.created_at) IS DISTINCT FROM (n.owner_id, n.created_at)
                  AND EXISTS (SELECT 1 FROM ops.card_deposits k WHERE k.match_id = n.id))$q$
        INTO changed;
        PERFORM ops.keep_card_deposits(changed);
    END IF;
    RETURN NULL;
END
$$;

CREATE OR REPLACE FUNCTION ops.card_brands_matches() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    moved bigint[];
BEGIN
    IF TG_OP = 'DELETE' THEN
        DELETE FROM ops.card_brands WHERE match_id IN (SELECT id FROM old_rows);
        RETURN NULL;
    END IF;
    IF TG_OP = 'INSERT' THEN
        EXECUTE $q$
            SELECT 1 FROM app.listings WHERE id IN (SELECT listing_id FROM new_rows)
            ORDER BY id FOR SHARE$q$;
        EXECUTE $q$
            INSERT INTO ops.card_brands AS c (match_id, owner_id, stage, stage_entered_at, brand_id)
            SELECT n.id, n.owner_id, n.stage, n.stage_entered_at, se.brand_id
            FROM new_rows n JOIN app.listings l ON l.id = n.listing_id
            JOIN app.trims t ON t.id = l.trim_id JOIN app.series se ON se.id = t.series_id
            ON CONFLICT (match_id) DO UPDATE
               SET owner_id = EXCLUDED.owner_id, stage = EXCLUDED.stage,
                   stage_entered_at = EXCLUDED.stage_entered_at, brand_id = EXCLUDED.brand_id$q$;
        RETURN NULL;
    END IF;
    EXECUTE $q$
        UPDATE ops.card_brands c
        SET owner_id = n.owner_id, stage = n.stage, stage_entered_at = n.stage_entered_at
        FROM old_rows o JOIN new_rows n ON n.id = o.id
        WHERE c.match_id = n.id
          AND (o.owner_id, o.stage, o.stage_entered_at) IS DISTINCT FROM
              (n.owner_id, n.stage, n.stage_entered_at)$q$;
    -- The cards moved to another listing (never done today), as an array: an EXISTS over
    -- the join was planned as a nested loop betting on an early hit, and with no card moved
    -- it compared every old row with every new one (4.4 s for 5,000 cards touched at once).
    EXECUTE $q$
        SELECT ARRAY(SELECT n.id FROM old_rows o JOIN new_rows n ON n.id = o.id
                     WHERE o.listing_id <> n.listing_id)$q$
    INTO moved;
    IF cardinality(moved) > 0 THEN
        PERFORM 1 FROM app.listings
        WHERE id IN (SELECT listing_id FROM new_rows WHERE id = ANY (moved))
        ORDER BY id FOR SHARE;
        UPDATE ops.card_brands c SET brand_id = se.brand_id
        FROM new_rows n
        JOIN app.listings l ON l.id = n.listing_id
        JOIN app.trims t ON t.id = l.trim_id JOIN app.series se ON se.id = t.series_id
        WHERE n.id = ANY (moved) AND c.match_id = n.id;
    END IF;
    RETURN NULL;
END
$$;

CREATE OR REPLACE FUNCTION ops.card_brands_reference() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    IF TG_TABLE_NAME = 'listings' THEN
        EXECUTE $q$
            UPDATE ops.card_brands c SET brand_id = se.brand_id
            FROM old_rows o JOIN new_rows n ON n.id = o.id
            JOIN ops.matches m ON m.listing_id = n.id
            JOIN app.trims t ON t.id = n.trim_id JOIN app.series se ON se.id = t.series_id
            WHERE o.trim_id <> n.trim_id AND c.match_id = m.id AND c.brand_id <> se.brand_id$q$;
    ELSIF TG_TABLE_NAME = 'trims' THEN
        EXECUTE $q$
            UPDATE ops.card_brands c SET brand_id = se.brand_id
            FROM old_rows o JOIN new_rows n ON n.id = o.id
            JOIN app.series se ON se.id = n.series_id
            JOIN app.listings l ON l.trim_id = n.id
            JOIN ops.matches m ON m.listing_id = l.id
            WHERE o.series_id <> n.series_id AND c.match_id = m.id AND c.brand_id <> se.brand_id$q$;
    ELSE
        EXECUTE $q$
            UPDATE ops.card_brands c SET brand_id = n.brand_id
            FROM old_rows o JOIN new_rows n ON n.id = o.id
            JOIN app.trims t ON t.series_id = n.id
            JOIN app.listings l ON l.trim_id = t.id
            JOIN ops.matches m ON m.listing_id = l.id
            WHERE o.brand_id <> n.brand_id AND c.match_id = m.id AND c.brand_id <> n.brand_id$q$;
    END IF;
    RETURN NULL;
END
$$;
