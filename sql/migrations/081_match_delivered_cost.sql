-- Match suggestions a BD trusts (issue 16): delivered cost, stock confirmations, flagged and
-- committed stock kept out, grades and flags that trigger a rematch.
--
-- 1. Stock confirmations. Freshness is the time since the seller last confirmed the car is
--    there, not since the listing was published: app.listings.stock_confirmed_at (NULL: not
--    since publication) is what the seller's "still available" tap writes; BD staff record a
--    confirmation they obtained by phone from the deal card (ops.stock_confirmations keeps
--    who, when and the note; the same transaction moves the listing's time).
ALTER TABLE app.listings ADD COLUMN stock_confirmed_at timestamptz;

CREATE TABLE ops.stock_confirmations (
    id            bigserial PRIMARY KEY,
    listing_id    bigint NOT NULL REFERENCES app.listings(id),
    match_id      bigint REFERENCES ops.matches(id),
    source        text NOT NULL CHECK (source IN ('seller','bd')),
    staff_id      bigint REFERENCES ops.staff(id),
    note          text,
    confirmed_at  timestamptz NOT NULL DEFAULT clock_timestamp(),
    CHECK (source <> 'bd' OR staff_id IS NOT NULL)
);
CREATE INDEX stock_confirmations_listing_idx ON ops.stock_confirmations (listing_id, confirmed_at DESC);

-- 2. The series' usual discount, one row per series, as the listing review's price rule reads
--    it (series -> brand of the same origin -> origin -> market, with the basis named). One
--    table both read: the authenticity scan flags "far below the usual discount" against it,
--    and the match score caps the discount it rewards at the same line. Refreshed by the
--    scan (and the scheduled rematch); each series whose value moved is queued for a rematch.
CREATE TABLE ops.series_norms (
    series_id     integer PRIMARY KEY REFERENCES app.series(id),
    usual_points  double precision NOT NULL,     -- median 下X点 of the basis, 0.1 points
    basis         text NOT NULL CHECK (basis IN ('series','brand','origin','market')),
    listings      integer NOT NULL,              -- listings of the series itself
    refreshed_at  timestamptz NOT NULL DEFAULT clock_timestamp()
);

-- 3. What the incremental rematch must look at besides changed listings, requests and
--    merchants: a seller whose effective grade changed (scoring run, override decided or
--    expired), a listing whose authenticity flag opened or closed, a series whose usual
--    discount moved. Filled by triggers in the writer's transaction (so the credit and review
--    code need not know about matching), consumed by matching.rematch_changed.
CREATE TABLE ops.match_refresh_queue (
    id           bigserial PRIMARY KEY,
    cause        text NOT NULL CHECK (cause IN ('grade','flag','norm')),
    merchant_id  bigint,
    listing_id   bigint,
    series_id    integer,
    queued_at    timestamptz NOT NULL DEFAULT clock_timestamp(),
    CHECK (num_nonnulls(merchant_id, listing_id, series_id) = 1)
);

CREATE FUNCTION ops.series_norms_derived(p_min_n integer)
RETURNS TABLE (series_id integer, usual_points double precision, basis text, listings integer)
LANGUAGE sql STABLE AS $$
WITH points AS (
    SELECT t.series_id, se.brand_id, se.origin,
           CAST((l.guide_price - l.price) / l.guide_price * 100 AS double precision) AS points
    FROM app.listings l JOIN app.trims t ON t.id = l.trim_id JOIN app.series se ON se.id = t.series_id
    WHERE l.status IN ('live','sold','expired')
),
usual AS (
    SELECT series_id, count(*) AS n, percentile_cont(0.5) WITHIN GROUP (ORDER BY points) AS usual
    FROM points GROUP BY series_id
),
brand_usual AS (   -- a thin series: its brand's cars of the same origin (an import is not local)
    SELECT brand_id, origin, count(*) AS n,
           percentile_cont(0.5) WITHIN GROUP (ORDER BY points) AS usual
    FROM points GROUP BY brand_id, origin
),
origin_usual AS (
    SELECT origin, count(*) AS n, percentile_cont(0.5) WITHIN GROUP (ORDER BY points) AS usual
    FROM points GROUP BY origin
),
market AS (SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY points) AS usual FROM points)
SELECT se.id,
       round(CAST(CASE WHEN u.n >= p_min_n THEN u.usual WHEN bu.n >= p_min_n THEN bu.usual
                       WHEN ou.n >= p_min_n THEN ou.usual ELSE m.usual END AS numeric), 1)::float8,
       CASE WHEN u.n >= p_min_n THEN 'series' WHEN bu.n >= p_min_n THEN 'brand'
            WHEN ou.n >= p_min_n THEN 'origin' ELSE 'market' END,
       coalesce(u.n, 0)::integer
FROM app.series se
LEFT JOIN usual u ON u.series_id = se.id
LEFT JOIN brand_usual bu ON bu.brand_id = se.brand_id AND bu.origin = se.origin
LEFT JOIN origin_usual ou ON ou.origin = se.origin
CROSS JOIN market m
WHERE m.usual IS NOT NULL
$$;

-- Rewrite the table from the listings; queue every series whose usual discount moved.
CREATE FUNCTION ops.refresh_series_norms(p_min_n integer) RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE
    moved integer;
BEGIN
    LOCK TABLE ops.series_norms IN EXCLUSIVE MODE;   -- two scans: one after the other
    WITH d AS (SELECT * FROM ops.series_norms_derived(p_min_n)),
    gone AS (
        DELETE FROM ops.series_norms n WHERE NOT EXISTS (SELECT 1 FROM d WHERE d.series_id = n.series_id)
        RETURNING n.series_id
    ),
    up AS (
        INSERT INTO ops.series_norms AS n (series_id, usual_points, basis, listings)
        SELECT series_id, usual_points, basis, listings FROM d
        ON CONFLICT (series_id) DO UPDATE
           SET usual_points = EXCLUDED.usual_points, basis = EXCLUDED.basis,
               listings = EXCLUDED.listings, refreshed_at = clock_timestamp()
           WHERE (n.usual_points, n.basis, n.listings)
                 IS DISTINCT FROM (EXCLUDED.usual_points, EXCLUDED.basis, EXCLUDED.listings)
        RETURNING n.series_id, n.usual_points, (xmax = 0) AS inserted
    ),
    q AS (
        INSERT INTO ops.match_refresh_queue (cause, series_id)
        SELECT 'norm', series_id FROM gone
        UNION SELECT 'norm', series_id FROM up
        RETURNING 1
    )
    SELECT count(*) INTO moved FROM q;
    RETURN moved;
END
$$;

-- A seller's effective grade changed: the rows of ops.merchant_grade_current that the
-- matching reads (ops.merchant_credit: grade, history flag, override). A scoring run writes
-- every merchant in one statement: statement triggers with transition tables queue only
-- the merchants whose grade inputs moved.
CREATE FUNCTION ops.queue_grade_insert() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO ops.match_refresh_queue (cause, merchant_id)
    SELECT 'grade', n.merchant_id FROM new_rows n;
    RETURN NULL;
END $$;

CREATE FUNCTION ops.queue_grade_update() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO ops.match_refresh_queue (cause, merchant_id)
    SELECT 'grade', n.merchant_id
    FROM new_rows n JOIN old_rows o ON o.merchant_id = n.merchant_id
    WHERE (o.grade, o.insufficient_history, o.override_id, o.override_grade, o.override_until)
          IS DISTINCT FROM (n.grade, n.insufficient_history, n.override_id, n.override_grade,
                            n.override_until);
    RETURN NULL;
END $$;

CREATE FUNCTION ops.queue_grade_delete() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO ops.match_refresh_queue (cause, merchant_id)
    SELECT 'grade', o.merchant_id FROM old_rows o;
    RETURN NULL;
END $$;

CREATE TRIGGER merchant_grade_queue_insert AFTER INSERT ON ops.merchant_grade_current
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION ops.queue_grade_insert();
CREATE TRIGGER merchant_grade_queue_update AFTER UPDATE ON ops.merchant_grade_current
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION ops.queue_grade_update();
CREATE TRIGGER merchant_grade_queue_delete AFTER DELETE ON ops.merchant_grade_current
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION ops.queue_grade_delete();

-- A flag is open (pending or in review) or not: raising one takes the listing out of the
-- suggestions, clearing the last one lets it back.
CREATE FUNCTION ops.queue_flag_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO ops.match_refresh_queue (cause, listing_id) VALUES ('flag', NEW.listing_id);
    IF TG_OP = 'UPDATE' AND OLD.listing_id <> NEW.listing_id THEN
        INSERT INTO ops.match_refresh_queue (cause, listing_id) VALUES ('flag', OLD.listing_id);
    END IF;
    RETURN NULL;
END $$;

CREATE TRIGGER listing_flag_queue_insert AFTER INSERT ON ops.listing_flags
    FOR EACH ROW WHEN (NEW.status IN ('pending','in_review'))
    EXECUTE FUNCTION ops.queue_flag_change();
CREATE TRIGGER listing_flag_queue_update AFTER UPDATE ON ops.listing_flags
    FOR EACH ROW WHEN ((OLD.status IN ('pending','in_review')) IS DISTINCT FROM
                       (NEW.status IN ('pending','in_review'))
                       OR OLD.listing_id IS DISTINCT FROM NEW.listing_id)
    EXECUTE FUNCTION ops.queue_flag_change();

-- 4. Reads of the score at scale: a listing's open flags and its quantity held by open
--    orders, looked up per live listing.
CREATE INDEX listing_flags_open_idx ON ops.listing_flags (listing_id)
    WHERE status IN ('pending','in_review');
CREATE INDEX orders_open_listing_idx ON app.orders (listing_id) INCLUDE (quantity)
    WHERE status IN ('created','deposit_paid');

-- 5. The score is now points of the buyer's maximum saved (1 point = 1% of it), plus trust
--    and freshness, minus a penalty: it can be below zero (a car whose freight takes it over
--    the maximum) and is no longer capped at 100.
ALTER TABLE ops.match_suggestions DROP CONSTRAINT match_suggestions_score_check;
ALTER TABLE ops.match_suggestions ADD CONSTRAINT match_suggestions_score_check
    CHECK (score BETWEEN -999 AND 999);
