-- The BD pages at the large scale (issue 14, page speed: every page's data within 150 ms;
-- bench/pages.py). What the pages read is unchanged; these make their reads short.
--
-- 1. The lead pool's page: its oldest unowned leads. The open requests in the pool's order
--    (created_at, id), carrying what the pool filters them on, so a page walks the open
--    requests in order and skips the stale ones (needed-by day passed, bidding closed; half
--    of the open requests at the large scale) on the index alone. It walked the whole
--    created_at index, 240,000 closed requests, for 20 leads: 0.6 s.
--
-- 2. The leaderboard's median hours from a card's creation to its deposit, over the deposits
--    of the window (55,000 in 90 days at the large scale): each card's deposit and creation
--    time is kept in ops.card_deposits, maintained by statement triggers where those times
--    are written, instead of joining every owned card (210,000) to its timeline and orders
--    on every view (1.8 s).
--
-- 3. The deal board's brand filter offers the brands of the cards on the board: a busy BD's
--    15,000 cards each looked up in the 1M listings for its trim, series and brand (150-240
--    ms a view). Each card's brand is kept in ops.card_brands with what decides whether the
--    card is on a board (owner, stage, stage_entered_at), so each brand is one probe.

SET LOCAL statement_timeout = 0;

-- ---------------------------------------------------------------- 1. the lead pool
CREATE INDEX requests_pool_idx ON app.requests (created_at, id)
    INCLUDE (needed_by, mode, bid_deadline, merchant_id) WHERE status = 'open';

-- ---------------------------------------------------------------- 2. deposit times of cards
-- One row per card that has a deposit, as console.services.deals.leaderboard reads it:
--   created_at  its first timeline row (the card's birth), else the card's created_at
--               (cards made before the board kept a timeline);
--   moved_at    its first move to deposit_paid on the board;
--   paid_at     its orders' first deposit (app.orders.deposit_paid_at);
--   deposit_at  moved_at, else paid_at: the card's deposit time;
--   hours       from created_at to deposit_at;
--   owner_id    the card's owner now (ops.matches.owner_id), for the per-person median.
CREATE TABLE ops.card_deposits (
    match_id    bigint PRIMARY KEY,
    owner_id    bigint,
    created_at  timestamptz NOT NULL,
    moved_at    timestamptz,
    paid_at     timestamptz,
    deposit_at  timestamptz GENERATED ALWAYS AS (coalesce(moved_at, paid_at)) STORED,
    hours       double precision GENERATED ALWAYS AS (CAST(
                    extract(epoch FROM (coalesce(moved_at, paid_at) - created_at)) / 3600
                    AS double precision)) STORED,
    CHECK (moved_at IS NOT NULL OR paid_at IS NOT NULL)
);
-- A person's deposits in the order of their hours: the median is read at the middle of the
-- person's range (after the window's filter on deposit_at), no sort of 55,000 rows.
CREATE INDEX card_deposits_owner_hours_idx ON ops.card_deposits (owner_id, hours)
    INCLUDE (deposit_at) WHERE owner_id IS NOT NULL;
COMMENT ON TABLE ops.card_deposits IS
    'Kept by triggers (migration 077): each card''s deposit and creation times, for the BD leaderboard.';

-- Recompute the rows of these cards from the sources. Every writer of a card's times goes
-- through here and first locks the cards' rows of ops.matches (in id order, so two writers
-- cannot deadlock each other); the statements after the lock take a fresh snapshot (READ
-- COMMITTED), so a writer that waited sees what the one before it committed, and the last
-- to commit writes the row from everything committed. The lock is FOR NO KEY UPDATE: the
-- board's own writes (a move locks its card FOR UPDATE) take the card's row first too.
CREATE FUNCTION ops.keep_card_deposits(p_matches bigint[]) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    IF p_matches IS NULL OR cardinality(p_matches) = 0 THEN
        RETURN;
    END IF;
    PERFORM 1 FROM ops.matches WHERE id = ANY (p_matches) ORDER BY id FOR NO KEY UPDATE;
    -- Set-based (joined to the cards' ids, grouped once): a bulk load (the large demo seed,
    -- its secondary indexes dropped while it loads) hands over 80,000 cards at once.
    DELETE FROM ops.card_deposits k
    USING unnest(p_matches) AS c(id)
    WHERE k.match_id = c.id
      AND (NOT EXISTS (SELECT 1 FROM ops.matches m WHERE m.id = k.match_id)
           OR (NOT EXISTS (SELECT 1 FROM ops.match_stage_history h
                           WHERE h.match_id = k.match_id AND h.to_stage = 'deposit_paid')
               AND NOT EXISTS (SELECT 1 FROM app.orders x
                               WHERE x.match_id = k.match_id AND x.deposit_paid_at IS NOT NULL)));
    INSERT INTO ops.card_deposits AS k (match_id, owner_id, created_at, moved_at, paid_at)
    SELECT m.id, m.owner_id, coalesce(h.born, m.created_at), h.moved, o.paid
    FROM (SELECT DISTINCT id FROM unnest(p_matches) AS c(id)) c
    JOIN ops.matches m ON m.id = c.id
    LEFT JOIN (SELECT h.match_id, min(h.at) FILTER (WHERE h.from_stage IS NULL) AS born,
                      min(h.at) FILTER (WHERE h.to_stage = 'deposit_paid') AS moved
               FROM ops.match_stage_history h
               WHERE h.match_id IN (SELECT id FROM unnest(p_matches) AS c(id))
               GROUP BY h.match_id) h ON h.match_id = m.id
    LEFT JOIN (SELECT x.match_id, min(x.deposit_paid_at) AS paid FROM app.orders x
               WHERE x.match_id IN (SELECT id FROM unnest(p_matches) AS c(id))
               GROUP BY x.match_id) o ON o.match_id = m.id
    WHERE h.moved IS NOT NULL OR o.paid IS NOT NULL
    ON CONFLICT (match_id) DO UPDATE
       SET owner_id = EXCLUDED.owner_id, created_at = EXCLUDED.created_at,
           moved_at = EXCLUDED.moved_at, paid_at = EXCLUDED.paid_at
     WHERE (k.owner_id, k.created_at, k.moved_at, k.paid_at)
           IS DISTINCT FROM (EXCLUDED.owner_id, EXCLUDED.created_at, EXCLUDED.moved_at,
                             EXCLUDED.paid_at);
END
$$;

-- Orders: a deposit paid, corrected or withdrawn, an order moved to another card or deleted.
CREATE FUNCTION ops.card_deposits_orders() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
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
        PERFORM ops.keep_card_deposits(ARRAY(
            SELECT DISTINCT c.match_id
            FROM old_rows o JOIN new_rows n ON n.id = o.id
            CROSS JOIN LATERAL (VALUES (o.match_id), (n.match_id)) c(match_id)
            WHERE c.match_id IS NOT NULL
              AND (o.match_id, o.deposit_paid_at) IS DISTINCT FROM (n.match_id, n.deposit_paid_at)));
    END IF;
    RETURN NULL;
END
$$;

-- The timeline: a card's birth row (from_stage NULL) and its moves to deposit_paid.
CREATE FUNCTION ops.card_deposits_history() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        PERFORM ops.keep_card_deposits(ARRAY(
            SELECT DISTINCT match_id FROM new_rows
            WHERE to_stage = 'deposit_paid'
               OR (from_stage IS NULL AND EXISTS (SELECT 1 FROM ops.card_deposits k
                                                  WHERE k.match_id = new_rows.match_id))));
    ELSIF TG_OP = 'DELETE' THEN
        PERFORM ops.keep_card_deposits(ARRAY(SELECT DISTINCT match_id FROM old_rows));
    ELSE
        PERFORM ops.keep_card_deposits(ARRAY(
            SELECT match_id FROM old_rows UNION SELECT match_id FROM new_rows));
    END IF;
    RETURN NULL;
END
$$;

-- The cards themselves: a new owner (a take, an assignment, the idle return), a corrected
-- creation time, a card deleted.
CREATE FUNCTION ops.card_deposits_matches() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        DELETE FROM ops.card_deposits WHERE match_id IN (SELECT id FROM old_rows);
    ELSE
        PERFORM ops.keep_card_deposits(ARRAY(
            SELECT n.id FROM old_rows o JOIN new_rows n ON n.id = o.id
            WHERE (o.owner_id, o.created_at) IS DISTINCT FROM (n.owner_id, n.created_at)
              AND EXISTS (SELECT 1 FROM ops.card_deposits k WHERE k.match_id = n.id)));
    END IF;
    RETURN NULL;
END
$$;

CREATE TRIGGER card_deposits_insert AFTER INSERT ON app.orders
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT
    EXECUTE FUNCTION ops.card_deposits_orders();
CREATE TRIGGER card_deposits_update AFTER UPDATE ON app.orders
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT
    EXECUTE FUNCTION ops.card_deposits_orders();
CREATE TRIGGER card_deposits_delete AFTER DELETE ON app.orders
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT
    EXECUTE FUNCTION ops.card_deposits_orders();

CREATE TRIGGER card_deposits_insert AFTER INSERT ON ops.match_stage_history
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT
    EXECUTE FUNCTION ops.card_deposits_history();
CREATE TRIGGER card_deposits_update AFTER UPDATE ON ops.match_stage_history
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT
    EXECUTE FUNCTION ops.card_deposits_history();
CREATE TRIGGER card_deposits_delete AFTER DELETE ON ops.match_stage_history
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT
    EXECUTE FUNCTION ops.card_deposits_history();

CREATE TRIGGER card_deposits_update AFTER UPDATE ON ops.matches
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT
    EXECUTE FUNCTION ops.card_deposits_matches();
CREATE TRIGGER card_deposits_delete AFTER DELETE ON ops.matches
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT
    EXECUTE FUNCTION ops.card_deposits_matches();

-- The large demo seed loads in replica mode (console/demo: foreign-key triggers skipped):
-- these fire there too, or the seed would leave the kept times empty.
ALTER TABLE app.orders ENABLE ALWAYS TRIGGER card_deposits_insert;
ALTER TABLE app.orders ENABLE ALWAYS TRIGGER card_deposits_update;
ALTER TABLE app.orders ENABLE ALWAYS TRIGGER card_deposits_delete;
ALTER TABLE ops.match_stage_history ENABLE ALWAYS TRIGGER card_deposits_insert;
ALTER TABLE ops.match_stage_history ENABLE ALWAYS TRIGGER card_deposits_update;
ALTER TABLE ops.match_stage_history ENABLE ALWAYS TRIGGER card_deposits_delete;
ALTER TABLE ops.matches ENABLE ALWAYS TRIGGER card_deposits_update;
ALTER TABLE ops.matches ENABLE ALWAYS TRIGGER card_deposits_delete;

-- ---------------------------------------------------------------- 3. brands of the cards
-- One row per card: its listing's brand (listing -> trim -> series -> brand) and its owner,
-- stage and stage_entered_at as in ops.matches.
CREATE TABLE ops.card_brands (
    match_id          bigint PRIMARY KEY,
    owner_id          bigint,
    stage             text NOT NULL,
    stage_entered_at  timestamptz NOT NULL,
    brand_id          integer NOT NULL
);
CREATE INDEX card_brands_owner_idx ON ops.card_brands (owner_id, brand_id, stage, stage_entered_at)
    WHERE owner_id IS NOT NULL;
CREATE INDEX card_brands_team_idx ON ops.card_brands (brand_id, stage, stage_entered_at)
    WHERE owner_id IS NOT NULL;
COMMENT ON TABLE ops.card_brands IS
    'Kept by triggers (migration 077): each card''s brand, owner and stage, for the board''s brand filter.';

-- New cards: their listings are locked FOR SHARE first (in id order), so a concurrent change
-- of a listing's trim either committed before (its brand is read here, in the next
-- statement's snapshot) or waits for this transaction and then rewrites these rows.
-- Changed cards: owner, stage, entry time, or (never done today) another listing.
CREATE FUNCTION ops.card_brands_matches() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        DELETE FROM ops.card_brands WHERE match_id IN (SELECT id FROM old_rows);
        RETURN NULL;
    END IF;
    IF TG_OP = 'INSERT' THEN
        PERFORM 1 FROM app.listings WHERE id IN (SELECT listing_id FROM new_rows)
        ORDER BY id FOR SHARE;
        INSERT INTO ops.card_brands AS c (match_id, owner_id, stage, stage_entered_at, brand_id)
        SELECT n.id, n.owner_id, n.stage, n.stage_entered_at, se.brand_id
        FROM new_rows n JOIN app.listings l ON l.id = n.listing_id
        JOIN app.trims t ON t.id = l.trim_id JOIN app.series se ON se.id = t.series_id
        ON CONFLICT (match_id) DO UPDATE
           SET owner_id = EXCLUDED.owner_id, stage = EXCLUDED.stage,
               stage_entered_at = EXCLUDED.stage_entered_at, brand_id = EXCLUDED.brand_id;
        RETURN NULL;
    END IF;
    UPDATE ops.card_brands c
    SET owner_id = n.owner_id, stage = n.stage, stage_entered_at = n.stage_entered_at
    FROM old_rows o JOIN new_rows n ON n.id = o.id
    WHERE c.match_id = n.id
      AND (o.owner_id, o.stage, o.stage_entered_at) IS DISTINCT FROM
          (n.owner_id, n.stage, n.stage_entered_at);
    IF EXISTS (SELECT 1 FROM old_rows o JOIN new_rows n ON n.id = o.id
               WHERE o.listing_id <> n.listing_id) THEN
        PERFORM 1 FROM app.listings
        WHERE id IN (SELECT n.listing_id FROM old_rows o JOIN new_rows n ON n.id = o.id
                     WHERE o.listing_id <> n.listing_id)
        ORDER BY id FOR SHARE;
        UPDATE ops.card_brands c SET brand_id = se.brand_id
        FROM old_rows o JOIN new_rows n ON n.id = o.id
        JOIN app.listings l ON l.id = n.listing_id
        JOIN app.trims t ON t.id = l.trim_id JOIN app.series se ON se.id = t.series_id
        WHERE c.match_id = n.id AND o.listing_id <> n.listing_id;
    END IF;
    RETURN NULL;
END
$$;

-- A listing, trim or series moved to another trim, series or brand (the reference data;
-- rare): its cards' brands follow. The trim and series edits take no locks of their own.
CREATE FUNCTION ops.card_brands_reference() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    IF TG_TABLE_NAME = 'listings' THEN
        UPDATE ops.card_brands c SET brand_id = se.brand_id
        FROM old_rows o JOIN new_rows n ON n.id = o.id
        JOIN ops.matches m ON m.listing_id = n.id
        JOIN app.trims t ON t.id = n.trim_id JOIN app.series se ON se.id = t.series_id
        WHERE o.trim_id <> n.trim_id AND c.match_id = m.id AND c.brand_id <> se.brand_id;
    ELSIF TG_TABLE_NAME = 'trims' THEN
        UPDATE ops.card_brands c SET brand_id = se.brand_id
        FROM old_rows o JOIN new_rows n ON n.id = o.id
        JOIN app.series se ON se.id = n.series_id
        JOIN app.listings l ON l.trim_id = n.id
        JOIN ops.matches m ON m.listing_id = l.id
        WHERE o.series_id <> n.series_id AND c.match_id = m.id AND c.brand_id <> se.brand_id;
    ELSE
        UPDATE ops.card_brands c SET brand_id = n.brand_id
        FROM old_rows o JOIN new_rows n ON n.id = o.id
        JOIN app.trims t ON t.series_id = n.id
        JOIN app.listings l ON l.trim_id = t.id
        JOIN ops.matches m ON m.listing_id = l.id
        WHERE o.brand_id <> n.brand_id AND c.match_id = m.id AND c.brand_id <> n.brand_id;
    END IF;
    RETURN NULL;
END
$$;

CREATE TRIGGER card_brands_insert AFTER INSERT ON ops.matches
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT
    EXECUTE FUNCTION ops.card_brands_matches();
CREATE TRIGGER card_brands_update AFTER UPDATE ON ops.matches
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT
    EXECUTE FUNCTION ops.card_brands_matches();
CREATE TRIGGER card_brands_delete AFTER DELETE ON ops.matches
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT
    EXECUTE FUNCTION ops.card_brands_matches();
CREATE TRIGGER card_brands_update AFTER UPDATE ON app.listings
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT
    EXECUTE FUNCTION ops.card_brands_reference();
CREATE TRIGGER card_brands_update AFTER UPDATE ON app.trims
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT
    EXECUTE FUNCTION ops.card_brands_reference();
CREATE TRIGGER card_brands_update AFTER UPDATE ON app.series
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT
    EXECUTE FUNCTION ops.card_brands_reference();
-- The large demo seed's replica mode too (see above).
ALTER TABLE ops.matches ENABLE ALWAYS TRIGGER card_brands_insert;
ALTER TABLE ops.matches ENABLE ALWAYS TRIGGER card_brands_update;
ALTER TABLE ops.matches ENABLE ALWAYS TRIGGER card_brands_delete;
ALTER TABLE app.listings ENABLE ALWAYS TRIGGER card_brands_update;
ALTER TABLE app.trims ENABLE ALWAYS TRIGGER card_brands_update;
ALTER TABLE app.series ENABLE ALWAYS TRIGGER card_brands_update;

-- What is there already.
INSERT INTO ops.card_deposits (match_id, owner_id, created_at, moved_at, paid_at)
SELECT m.id, m.owner_id, coalesce(b.at, m.created_at), d.at, o.at
FROM ops.matches m
LEFT JOIN (SELECT match_id, min(at) AS at FROM ops.match_stage_history
           WHERE from_stage IS NULL GROUP BY match_id) b ON b.match_id = m.id
LEFT JOIN (SELECT match_id, min(at) AS at FROM ops.match_stage_history
           WHERE to_stage = 'deposit_paid' GROUP BY match_id) d ON d.match_id = m.id
LEFT JOIN (SELECT match_id, min(deposit_paid_at) AS at FROM app.orders
           WHERE match_id IS NOT NULL GROUP BY match_id) o ON o.match_id = m.id
WHERE d.at IS NOT NULL OR o.at IS NOT NULL;
ANALYZE ops.card_deposits;

INSERT INTO ops.card_brands (match_id, owner_id, stage, stage_entered_at, brand_id)
SELECT m.id, m.owner_id, m.stage, m.stage_entered_at, se.brand_id
FROM ops.matches m JOIN app.listings l ON l.id = m.listing_id
JOIN app.trims t ON t.id = l.trim_id JOIN app.series se ON se.id = t.series_id;
ANALYZE ops.card_brands;
