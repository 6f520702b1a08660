-- Daily KPIs: platform-wide per day (mart.daily_kpis), per day and merchant segment (city tier
-- x merchant type, mart.daily_kpis_segment), per day and brand (mart.daily_kpis_brand), and
-- the figures that do not add up across days per day / week / month (mart.kpi_periods).
-- One job, so that the three per-day marts are one computation: a day's platform figures are
-- the sums of its segments' (a merchant is in exactly one segment), written in the same
-- transaction.
--
-- Incremental: each group of figures is recomputed only for the days (periods) its own
-- sources touched, from all clean rows of those days; the other figures of a day keep their
-- stored values. So a batch of changed listings recounts listings, not the active merchants
-- of 10M events. Every figure that counts rows other than merchants and events (posts
-- created, requests with a match / a deposit, live listings and open requests as running sums
-- of per-day moves, matches, orders, deposits, deals, GMV, fees, payments) is kept per day and
-- segment / brand in etl.kpi_segment_days / etl.kpi_brand_days (047, 055, 057), which a run
-- corrects by its changed rows only: their old contributions, kept per row in
-- etl.kpi_{post,match,order,payment}_moves, are taken back and their new ones added. A 1%
-- change touches every day; recounting those days would read every row again. A full run
-- stages everything and starts the state over: every figure of every day is recomputed by
-- the same SQL. A day (period) gets a row in mart.daily_kpis as soon as
-- any group touches it; a segment / brand row whose figures are all zero is not kept.
-- The figures that do not add up (active merchants per day / week / month, requests matched
-- and median hours to a match per period) are recounted from kept row state too (076): the
-- (day, merchant) pairs of clean events (etl.kpi_merchant_days) and each request's day and
-- hours to its first match (etl.kpi_request_times), in the periods where those changed.
--
-- Attribution to segments (summed over segments, each figure equals the platform's):
-- - a merchant's own rows (registration, certification, events, listings, requests, live
--   listings, open requests) go to its own segment;
-- - matches, the request flags (with a match / with a deposit), orders, deposits, deals,
--   GMV, fees and payments go to the BUYER's segment (the request's merchant, the order's
--   buyer): growth in a segment is measured on the demand it brings;
-- - a merchant the job does not know (quarantined) is tier 0, type 'unknown'.
-- Brands: a listing by its trim's series' brand, a request by its series' brand, a match,
-- an order and a deal by the brand of the listing traded.
-- GMV is also split into self-operated and marketplace (issue 21) by the traded listing's
-- is_self_operated, read with the order like its brand: the two parts add up to gmv (the
-- marts' contract checks it).
-- A merchant's segment is its current one: a merchant moving city or type carries its
-- history to the new segment at the next full rebuild (the weekly --full).

-- step: prep_active_pairs
-- Who was active on which day is kept (etl.kpi_merchant_days, migration 076): DAU, WAU and
-- MAU count these pairs. A run adds the pairs of its batch's events and takes back a pair
-- only a quarantined event stood for (events are append-only), so it reads a day's events
-- never again; the recount of a week or a month reads its pairs (~9,000 a day), not the
-- million events behind them. pair_days: the days whose pairs changed, all of them on a
-- full run.
DELETE FROM etl.kpi_merchant_days WHERE :full;
-- A full run: every pair, in one pass (the table is empty: no conflict to check, and every
-- day with an event has changed).
INSERT INTO etl.kpi_merchant_days (day, merchant_id)
SELECT DISTINCT mart.cn_date(e.occurred_at), e.merchant_id
FROM etl.clean_events e
WHERE :full AND e.merchant_id IS NOT NULL AND e.occurred_at IS NOT NULL;
CREATE TEMP TABLE pair_days ON COMMIT DROP AS
SELECT DISTINCT day FROM etl.kpi_merchant_days WHERE :full;
-- An incremental run: the pairs of its batch, and whether a clean event of the batch backs
-- each.
CREATE TEMP TABLE batch_pairs ON COMMIT DROP AS
SELECT mart.cn_date(s.occurred_at) AS day, s.merchant_id,
       bool_or(NOT EXISTS (SELECT 1 FROM etl.excluded_rows x
                           WHERE x.job = current_setting('etl.job', true)
                             AND x.source_table = 'app.events' AND x.row_key = s.id::text))
           AS backed
FROM etl.stg_daily_kpis__events s
WHERE NOT :full AND s.id IS NOT NULL AND s.merchant_id IS NOT NULL AND s.occurred_at IS NOT NULL
GROUP BY 1, 2;
WITH added AS (
    INSERT INTO etl.kpi_merchant_days (day, merchant_id)
    SELECT day, merchant_id FROM batch_pairs WHERE backed
    ON CONFLICT (day, merchant_id) DO NOTHING
    RETURNING day
),
removed AS (
    -- every event of the batch on that day and merchant was quarantined: is another one there?
    DELETE FROM etl.kpi_merchant_days k USING batch_pairs b
    WHERE NOT b.backed AND k.day = b.day AND k.merchant_id = b.merchant_id
      AND NOT EXISTS (SELECT 1 FROM etl.clean_events e
                      WHERE e.merchant_id = b.merchant_id
                        AND e.occurred_at >= b.day::timestamp AT TIME ZONE 'Asia/Shanghai'
                        AND e.occurred_at < (b.day + 1)::timestamp AT TIME ZONE 'Asia/Shanghai')
    RETURNING k.day
)
INSERT INTO pair_days SELECT day FROM added UNION SELECT day FROM removed;

-- step: prep_request_times
-- Each request's day and hours to its first match are kept (etl.kpi_request_times, 076):
-- the requests figures of a day / week / month (count, matched, median hours to a match) are
-- recounted only in the periods where a request's kept pair changed (request_days), from the
-- kept pairs. A 1% change of requests touches every day, and recounting every period read
-- all 300k requests and 225k matches on each run (~2 s of the large bench's run).
DELETE FROM etl.kpi_request_times WHERE :full;
CREATE TEMP TABLE changed_requests ON COMMIT DROP AS
SELECT id FROM etl.stg_daily_kpis__requests WHERE id IS NOT NULL AND NOT :full
UNION SELECT request_id FROM etl.stg_daily_kpis__matches WHERE request_id IS NOT NULL AND NOT :full;
ANALYZE changed_requests;
CREATE TEMP TABLE request_times_now ON COMMIT DROP AS
SELECT r.id AS request_id, mart.cn_date(r.created_at) AS day,
       extract(epoch FROM fm.matched_at - r.created_at) / 3600.0 AS hours_to_match
FROM etl.clean_requests r
LEFT JOIN (SELECT mt.request_id, min(mt.created_at) AS matched_at
           FROM etl.clean_matches mt GROUP BY mt.request_id) fm ON fm.request_id = r.id
WHERE :full AND r.created_at IS NOT NULL
UNION ALL
SELECT r.id, mart.cn_date(r.created_at),
       extract(epoch FROM (SELECT min(mt.created_at) FROM etl.clean_matches mt
                           WHERE mt.request_id = r.id) - r.created_at) / 3600.0
FROM changed_requests c JOIN etl.clean_requests r ON r.id = c.id
WHERE NOT :full AND r.created_at IS NOT NULL;
CREATE TEMP TABLE old_request_times ON COMMIT DROP AS
SELECT * FROM etl.kpi_request_times WITH NO DATA;
WITH gone AS (
    DELETE FROM etl.kpi_request_times k USING changed_requests c WHERE k.request_id = c.id
    RETURNING k.*
)
INSERT INTO old_request_times SELECT * FROM gone;
CREATE TEMP TABLE request_days ON COMMIT DROP AS
SELECT o.day FROM old_request_times o LEFT JOIN request_times_now n USING (request_id)
WHERE (o.day, o.hours_to_match) IS DISTINCT FROM (n.day, n.hours_to_match)
UNION
SELECT n.day FROM request_times_now n LEFT JOIN old_request_times o USING (request_id)
WHERE (o.day, o.hours_to_match) IS DISTINCT FROM (n.day, n.hours_to_match);
INSERT INTO etl.kpi_request_times (request_id, day, hours_to_match)
SELECT request_id, day, hours_to_match FROM request_times_now;

-- step: prep_days
-- The days each group must recompute: the day of every timestamp of a batch row it counts;
-- for active merchants and requests, the days whose kept pairs / request times changed.
CREATE TEMP TABLE affected_days ON COMMIT DROP AS
SELECT DISTINCT grp, day
FROM (
    SELECT 'registrations' AS grp, mart.cn_date(registered_at) AS day
    FROM etl.stg_daily_kpis__merchants
    UNION ALL
    -- A merchant's first approval can move to another of its certifications: all of them.
    SELECT 'certified', mart.cn_date(c.decided_at) FROM app.certifications c
    WHERE c.status = 'approved'
      AND c.merchant_id IN (SELECT merchant_id FROM etl.stg_daily_kpis__certifications)
    UNION ALL SELECT 'certified', mart.cn_date(decided_at) FROM etl.stg_daily_kpis__certifications
    UNION ALL SELECT 'events', day FROM pair_days
    UNION ALL SELECT 'listings', mart.cn_date(published_at) FROM etl.stg_daily_kpis__listings
    UNION ALL SELECT 'requests', day FROM request_days
    UNION ALL SELECT 'matches', mart.cn_date(created_at) FROM etl.stg_daily_kpis__matches
    UNION ALL SELECT 'orders', mart.cn_date(t.ts) FROM etl.stg_daily_kpis__orders s
              CROSS JOIN LATERAL (VALUES (s.created_at), (s.deposit_paid_at), (s.completed_at),
                                         (s.cancelled_at)) AS t(ts)
    UNION ALL SELECT 'payments', mart.cn_date(paid_at) FROM etl.stg_daily_kpis__payments
) d
WHERE day IS NOT NULL;

-- step: prep_day_flags
-- One row per touched day, a flag per group, and the day's bounds in Shanghai time.
CREATE TEMP TABLE affected_day_bounds ON COMMIT DROP AS
SELECT day, day::timestamp AT TIME ZONE 'Asia/Shanghai' AS day_from,
       (day + 1)::timestamp AT TIME ZONE 'Asia/Shanghai' AS day_to,
       bool_or(grp = 'registrations') AS registrations, bool_or(grp = 'certified') AS certified,
       bool_or(grp = 'events') AS events, bool_or(grp = 'listings') AS listings,
       bool_or(grp = 'requests') AS requests, bool_or(grp = 'matches') AS matches,
       bool_or(grp = 'orders') AS orders, bool_or(grp = 'payments') AS payments
FROM affected_days GROUP BY day;
ANALYZE affected_day_bounds;

-- step: prep_periods
-- The day / week / month periods holding a touched day; active merchants are recounted in
-- those holding an event day, request figures in those holding a request day.
CREATE TEMP TABLE affected_periods ON COMMIT DROP AS
WITH periods AS (
    SELECT grain, period_start,
           (period_start + CASE grain WHEN 'day' THEN interval '1 day'
                                      WHEN 'week' THEN interval '7 days'
                                      ELSE interval '1 month' END)::date AS period_end,
           bool_or(d.events) AS events, bool_or(d.requests) AS requests
    FROM affected_day_bounds d
    CROSS JOIN LATERAL (VALUES ('day', d.day), ('week', date_trunc('week', d.day)::date),
                               ('month', date_trunc('month', d.day)::date)) AS g(grain, period_start)
    GROUP BY grain, period_start
)
SELECT grain, period_start, period_end,
       period_start::timestamp AT TIME ZONE 'Asia/Shanghai' AS p_from,
       period_end::timestamp AT TIME ZONE 'Asia/Shanghai' AS p_to, events, requests
FROM periods;
ANALYZE affected_periods;

-- step: prep_merchant_days
-- Who was active on which day, for every day of the periods holding a day whose pairs
-- changed (all of them on a full run): the kept pairs of those days, by the pairs' key.
CREATE TEMP TABLE merchant_days ON COMMIT DROP AS
WITH event_days AS (
    SELECT DISTINCT g::date AS day
    FROM affected_periods p
    CROSS JOIN LATERAL generate_series(p.period_start::timestamp,
                                       p.period_end::timestamp - interval '1 day',
                                       interval '1 day') AS g
    WHERE p.events AND p.grain <> 'day' AND NOT :full
)
SELECT k.day, k.merchant_id FROM etl.kpi_merchant_days k WHERE :full
UNION ALL
SELECT k.day, k.merchant_id FROM event_days d JOIN etl.kpi_merchant_days k ON k.day = d.day;
ANALYZE merchant_days;

-- step: prep_segments
-- Every clean merchant's segment, and its registration time (registrations count these).
CREATE TEMP TABLE merchant_segment ON COMMIT DROP AS
SELECT m.id AS merchant_id, m.registered_at, coalesce(ci.tier_level, 0)::smallint AS tier_level,
       m.merchant_type
FROM etl.clean_merchants m
LEFT JOIN app.cities ci ON ci.id = m.city_id
WHERE m.id IS NOT NULL;
CREATE INDEX ON merchant_segment (merchant_id);
ANALYZE merchant_segment;

-- step: prep_active
-- Distinct active merchants per touched event day and segment, from the (day, merchant) pairs
-- above: a merchant is in one segment, so the segments of a day add up to its DAU.
CREATE TEMP TABLE seg_active ON COMMIT DROP AS
SELECT md.day, coalesce(s.tier_level, 0)::smallint AS tier_level,
       coalesce(s.merchant_type, 'unknown') AS merchant_type, count(*) AS n
FROM merchant_days md
JOIN affected_day_bounds d ON d.day = md.day AND d.events
LEFT JOIN merchant_segment s ON s.merchant_id = md.merchant_id
GROUP BY 1, 2, 3;

-- step: prep_row_moves
-- Each changed row's contributions as of now, kept per row (etl.kpi_*_moves) so that the next
-- change can take them back. Posts: segment and brand, the day a post was created and went
-- live / open, the day it stopped being so (not live at that day's end; none while it
-- still is), and for a request
-- whether it has a match and a paid deposit; the changed requests include those of the
-- batch's matches and orders (their flags may have turned). Matches, orders, payments: the
-- buyer's segment (the request's merchant, the order's buyer, looked up in app.requests /
-- app.orders: a row counts whatever became of the one it points to), the traded listing's
-- brand, the days they count on. A row now excluded has none. A full run starts the state
-- over: its batch carries every row. The changed listings and matches are read from the
-- batch itself (the rows as staged, without the ones this job excludes, as the clean views
-- do): joined back to the 1M listings by id, the planner scanned them all (1.5 s a run).
DELETE FROM etl.kpi_post_moves WHERE :full;
DELETE FROM etl.kpi_match_moves WHERE :full;
DELETE FROM etl.kpi_order_moves WHERE :full;
DELETE FROM etl.kpi_payment_moves WHERE :full;
DELETE FROM etl.kpi_segment_days WHERE :full;
DELETE FROM etl.kpi_brand_days WHERE :full;
CREATE TEMP TABLE changed_posts ON COMMIT DROP AS
SELECT 'l'::char(1) AS kind, id AS post_id FROM etl.stg_daily_kpis__listings WHERE id IS NOT NULL
UNION SELECT 'r', id FROM etl.stg_daily_kpis__requests WHERE id IS NOT NULL
UNION SELECT 'r', request_id FROM etl.stg_daily_kpis__matches WHERE request_id IS NOT NULL
UNION SELECT 'r', request_id FROM etl.stg_daily_kpis__orders WHERE request_id IS NOT NULL;
ANALYZE changed_posts;
CREATE TEMP TABLE post_moves_now ON COMMIT DROP AS
SELECT 'l'::char(1) AS kind, l.id AS post_id, coalesce(ms.tier_level, 0)::smallint AS tier_level,
       coalesce(ms.merchant_type, 'unknown') AS merchant_type, se.brand_id,
       mart.cn_date(l.published_at) AS day_in,
       -- no longer live at the end of the day it went off (its last change: no status time
       -- is kept), and never before the day it came in
       CASE WHEN l.status <> 'live'
            THEN greatest(mart.cn_date(l.updated_at), mart.cn_date(l.published_at)) END AS day_out,
       false AS matched, false AS deposited
FROM etl.stg_daily_kpis__listings l   -- the changed listings are the batch's: its own rows
LEFT JOIN merchant_segment ms ON ms.merchant_id = l.merchant_id
LEFT JOIN app.trims tr ON tr.id = l.trim_id
LEFT JOIN app.series se ON se.id = tr.series_id
WHERE l.id IS NOT NULL
  AND NOT EXISTS (SELECT 1 FROM etl.excluded_rows x
                  WHERE x.job = current_setting('etl.job', true)
                    AND x.source_table = 'app.listings' AND x.row_key = l.id::text)
UNION ALL
SELECT 'r', r.id, coalesce(ms.tier_level, 0)::smallint, coalesce(ms.merchant_type, 'unknown'),
       se.brand_id, mart.cn_date(r.created_at),
       CASE WHEN r.status <> 'open'
            THEN greatest(mart.cn_date(r.updated_at), mart.cn_date(r.created_at)) END,
       EXISTS (SELECT 1 FROM etl.clean_matches mt WHERE mt.request_id = r.id),
       EXISTS (SELECT 1 FROM etl.clean_orders o
               WHERE o.request_id = r.id AND o.deposit_paid_at IS NOT NULL)
FROM etl.clean_requests r
JOIN changed_posts c ON c.kind = 'r' AND c.post_id = r.id
LEFT JOIN merchant_segment ms ON ms.merchant_id = r.merchant_id
LEFT JOIN app.series se ON se.id = r.series_id;
CREATE TEMP TABLE changed_matches ON COMMIT DROP AS
SELECT DISTINCT id FROM etl.stg_daily_kpis__matches WHERE id IS NOT NULL;
CREATE TEMP TABLE match_moves_now ON COMMIT DROP AS
SELECT mt.id AS match_id, coalesce(ms.tier_level, 0)::smallint AS tier_level,
       coalesce(ms.merchant_type, 'unknown') AS merchant_type, se.brand_id,
       mart.cn_date(mt.created_at) AS day
FROM etl.stg_daily_kpis__matches mt   -- the batch's own rows, as for the listings
LEFT JOIN app.requests r ON r.id = mt.request_id
LEFT JOIN merchant_segment ms ON ms.merchant_id = r.merchant_id
LEFT JOIN app.listings l ON l.id = mt.listing_id
LEFT JOIN app.trims tr ON tr.id = l.trim_id
LEFT JOIN app.series se ON se.id = tr.series_id
WHERE mt.id IS NOT NULL
  AND NOT EXISTS (SELECT 1 FROM etl.excluded_rows x
                  WHERE x.job = current_setting('etl.job', true)
                    AND x.source_table = 'ops.matches' AND x.row_key = mt.id::text);
CREATE TEMP TABLE changed_orders ON COMMIT DROP AS
SELECT DISTINCT id FROM etl.stg_daily_kpis__orders WHERE id IS NOT NULL;
CREATE TEMP TABLE order_moves_now ON COMMIT DROP AS
SELECT o.id AS order_id, coalesce(ms.tier_level, 0)::smallint AS tier_level,
       coalesce(ms.merchant_type, 'unknown') AS merchant_type, se.brand_id,
       mart.cn_date(o.created_at) AS created_day, mart.cn_date(o.deposit_paid_at) AS deposit_day,
       CASE WHEN o.status = 'completed' THEN mart.cn_date(o.completed_at) END AS completed_day,
       CASE WHEN o.status = 'cancelled' THEN mart.cn_date(o.cancelled_at) END AS cancelled_day,
       o.escrow_state, o.deposit_amount, o.amount, o.fee_amount,
       coalesce(l.is_self_operated, false) AS self_operated
FROM etl.clean_orders o
JOIN changed_orders c ON c.id = o.id
LEFT JOIN merchant_segment ms ON ms.merchant_id = o.buyer_id
LEFT JOIN app.listings l ON l.id = o.listing_id
LEFT JOIN app.trims tr ON tr.id = l.trim_id
LEFT JOIN app.series se ON se.id = tr.series_id;
CREATE TEMP TABLE changed_payments ON COMMIT DROP AS
SELECT DISTINCT id FROM etl.stg_daily_kpis__payments WHERE id IS NOT NULL;
CREATE TEMP TABLE payment_moves_now ON COMMIT DROP AS
SELECT p.id AS payment_id, coalesce(ms.tier_level, 0)::smallint AS tier_level,
       coalesce(ms.merchant_type, 'unknown') AS merchant_type, mart.cn_date(p.paid_at) AS day,
       p.channel, p.amount
FROM etl.clean_payments p
JOIN changed_payments c ON c.id = p.id
LEFT JOIN app.orders o ON o.id = p.order_id
LEFT JOIN merchant_segment ms ON ms.merchant_id = o.buyer_id
WHERE p.status = 'succeeded' AND p.kind IN ('deposit', 'balance');

-- step: prep_row_state
-- The per-day figures change by the changed rows' new contributions minus their kept old
-- ones (one row per day, segment, brand and figure); then the new ones are kept. This is a
-- prep step: the marts are written by the merges below.
-- The old contributions are taken out of the kept ones by one DELETE … RETURNING each: a
-- change set joins its rows to the 1.3M kept post moves once, not once to read them and
-- again to delete them (1.7 s of a 3 s step on the large bench database).
CREATE TEMP TABLE old_post_moves ON COMMIT DROP AS
SELECT * FROM etl.kpi_post_moves WITH NO DATA;
WITH gone AS (
    DELETE FROM etl.kpi_post_moves p USING changed_posts c
    WHERE p.kind = c.kind AND p.post_id = c.post_id
    RETURNING p.*
)
INSERT INTO old_post_moves SELECT * FROM gone;
CREATE TEMP TABLE old_match_moves ON COMMIT DROP AS
SELECT * FROM etl.kpi_match_moves WITH NO DATA;
WITH gone AS (
    DELETE FROM etl.kpi_match_moves m USING changed_matches c WHERE m.match_id = c.id
    RETURNING m.*
)
INSERT INTO old_match_moves SELECT * FROM gone;
CREATE TEMP TABLE old_order_moves ON COMMIT DROP AS
SELECT * FROM etl.kpi_order_moves WITH NO DATA;
WITH gone AS (
    DELETE FROM etl.kpi_order_moves o USING changed_orders c WHERE o.order_id = c.id
    RETURNING o.*
)
INSERT INTO old_order_moves SELECT * FROM gone;
CREATE TEMP TABLE old_payment_moves ON COMMIT DROP AS
SELECT * FROM etl.kpi_payment_moves WITH NO DATA;
WITH gone AS (
    DELETE FROM etl.kpi_payment_moves p USING changed_payments c WHERE p.payment_id = c.id
    RETURNING p.*
)
INSERT INTO old_payment_moves SELECT * FROM gone;
CREATE TEMP TABLE row_day_deltas ON COMMIT DROP AS
WITH posts AS (
    SELECT -1 AS sign, p.* FROM old_post_moves p
    UNION ALL SELECT 1, n.* FROM post_moves_now n
),
matches AS (
    SELECT -1 AS sign, m.* FROM old_match_moves m
    UNION ALL SELECT 1, n.* FROM match_moves_now n
),
orders AS (
    SELECT -1 AS sign, o.* FROM old_order_moves o
    UNION ALL SELECT 1, n.* FROM order_moves_now n
),
payments AS (
    SELECT -1 AS sign, p.* FROM old_payment_moves p
    UNION ALL SELECT 1, n.* FROM payment_moves_now n
),
contributions AS (
    -- listings / requests: the snapshot moves (+1 in, -1 the day after out)
    SELECT v.day, p.tier_level, p.merchant_type, p.brand_id, v.figure, p.sign * v.value AS value
    FROM posts p CROSS JOIN LATERAL (VALUES
        (p.day_in, CASE p.kind WHEN 'l' THEN 'listings' ELSE 'requests' END, 1::numeric),
        (p.day_out, CASE p.kind WHEN 'l' THEN 'listings' ELSE 'requests' END, -1),
        (p.day_in, CASE p.kind WHEN 'l' THEN 'listings_created' ELSE 'requests_created' END, 1),
        (p.day_in, 'requests_matched', p.matched::int),
        (p.day_in, 'requests_deposited', p.deposited::int)) AS v(day, figure, value)
    UNION ALL
    SELECT m.day, m.tier_level, m.merchant_type, m.brand_id, 'matches_created', m.sign
    FROM matches m
    UNION ALL
    SELECT v.day, o.tier_level, o.merchant_type, o.brand_id, v.figure, o.sign * v.value
    FROM orders o CROSS JOIN LATERAL (VALUES
        (o.created_day, 'orders_created', 1::numeric),
        (o.deposit_day, 'deposits_paid', 1),
        (o.deposit_day, 'deposit_' || o.escrow_state, o.deposit_amount),  -- held / released / …
        (o.completed_day, 'deals_completed', 1),
        (o.completed_day, 'gmv', o.amount),
        -- GMV split by the traded listing's is_self_operated (issue 21), each part on its own
        (o.completed_day, 'gmv_self_operated', CASE WHEN o.self_operated THEN o.amount ELSE 0 END),
        (o.completed_day, 'gmv_marketplace', CASE WHEN o.self_operated THEN 0 ELSE o.amount END),
        (o.completed_day, 'fee_amount', o.fee_amount),
        (o.cancelled_day, 'orders_cancelled', 1)) AS v(day, figure, value)
    UNION ALL
    SELECT p.day, p.tier_level, p.merchant_type, NULL::integer, 'pay_' || p.channel,
           p.sign * p.amount
    FROM payments p
)
SELECT day, tier_level, merchant_type, brand_id, figure, sum(value) AS value
FROM contributions
WHERE day IS NOT NULL AND value <> 0
GROUP BY 1, 2, 3, 4, 5
HAVING sum(value) <> 0;
INSERT INTO etl.kpi_post_moves
    (kind, post_id, tier_level, merchant_type, brand_id, day_in, day_out, matched, deposited)
SELECT kind, post_id, tier_level, merchant_type, brand_id, day_in, day_out, matched, deposited
FROM post_moves_now;
INSERT INTO etl.kpi_match_moves SELECT * FROM match_moves_now;
INSERT INTO etl.kpi_order_moves SELECT * FROM order_moves_now;
INSERT INTO etl.kpi_payment_moves SELECT * FROM payment_moves_now;
INSERT INTO etl.kpi_segment_days AS t
    (day, tier_level, merchant_type, listings, requests, listings_created, requests_created,
    requests_matched, requests_deposited, matches_created, orders_created, deposits_paid,
    deals_completed, orders_cancelled, gmv, fee_amount, deposit_held, deposit_released,
    deposit_refunded, deposit_disputed, pay_wechat, pay_alipay, pay_bank, gmv_self_operated,
    gmv_marketplace)
SELECT day, tier_level, merchant_type,
       coalesce(sum(value) FILTER (WHERE figure = 'listings'), 0),
       coalesce(sum(value) FILTER (WHERE figure = 'requests'), 0),
       coalesce(sum(value) FILTER (WHERE figure = 'listings_created'), 0),
       coalesce(sum(value) FILTER (WHERE figure = 'requests_created'), 0),
       coalesce(sum(value) FILTER (WHERE figure = 'requests_matched'), 0),
       coalesce(sum(value) FILTER (WHERE figure = 'requests_deposited'), 0),
       coalesce(sum(value) FILTER (WHERE figure = 'matches_created'), 0),
       coalesce(sum(value) FILTER (WHERE figure = 'orders_created'), 0),
       coalesce(sum(value) FILTER (WHERE figure = 'deposits_paid'), 0),
       coalesce(sum(value) FILTER (WHERE figure = 'deals_completed'), 0),
       coalesce(sum(value) FILTER (WHERE figure = 'orders_cancelled'), 0),
       coalesce(sum(value) FILTER (WHERE figure = 'gmv'), 0),
       coalesce(sum(value) FILTER (WHERE figure = 'fee_amount'), 0),
       coalesce(sum(value) FILTER (WHERE figure = 'deposit_held'), 0),
       coalesce(sum(value) FILTER (WHERE figure = 'deposit_released'), 0),
       coalesce(sum(value) FILTER (WHERE figure = 'deposit_refunded'), 0),
       coalesce(sum(value) FILTER (WHERE figure = 'deposit_disputed'), 0),
       coalesce(sum(value) FILTER (WHERE figure = 'pay_wechat'), 0),
       coalesce(sum(value) FILTER (WHERE figure = 'pay_alipay'), 0),
       coalesce(sum(value) FILTER (WHERE figure = 'pay_bank'), 0),
       coalesce(sum(value) FILTER (WHERE figure = 'gmv_self_operated'), 0),
       coalesce(sum(value) FILTER (WHERE figure = 'gmv_marketplace'), 0)
FROM row_day_deltas GROUP BY 1, 2, 3
ON CONFLICT (day, tier_level, merchant_type) DO UPDATE SET
    listings = t.listings + EXCLUDED.listings, requests = t.requests + EXCLUDED.requests,
    listings_created = t.listings_created + EXCLUDED.listings_created,
    requests_created = t.requests_created + EXCLUDED.requests_created,
    requests_matched = t.requests_matched + EXCLUDED.requests_matched,
    requests_deposited = t.requests_deposited + EXCLUDED.requests_deposited,
    matches_created = t.matches_created + EXCLUDED.matches_created,
    orders_created = t.orders_created + EXCLUDED.orders_created,
    deposits_paid = t.deposits_paid + EXCLUDED.deposits_paid,
    deals_completed = t.deals_completed + EXCLUDED.deals_completed,
    orders_cancelled = t.orders_cancelled + EXCLUDED.orders_cancelled,
    gmv = t.gmv + EXCLUDED.gmv, fee_amount = t.fee_amount + EXCLUDED.fee_amount,
    deposit_held = t.deposit_held + EXCLUDED.deposit_held,
    deposit_released = t.deposit_released + EXCLUDED.deposit_released,
    deposit_refunded = t.deposit_refunded + EXCLUDED.deposit_refunded,
    deposit_disputed = t.deposit_disputed + EXCLUDED.deposit_disputed,
    pay_wechat = t.pay_wechat + EXCLUDED.pay_wechat,
    pay_alipay = t.pay_alipay + EXCLUDED.pay_alipay,
    pay_bank = t.pay_bank + EXCLUDED.pay_bank,
    gmv_self_operated = t.gmv_self_operated + EXCLUDED.gmv_self_operated,
    gmv_marketplace = t.gmv_marketplace + EXCLUDED.gmv_marketplace;
INSERT INTO etl.kpi_brand_days AS t
    (day, brand_id, listings, requests, listings_created, requests_created, matches_created,
    orders_created, deals_completed, gmv, gmv_self_operated, gmv_marketplace)
SELECT day, brand_id,
       coalesce(sum(value) FILTER (WHERE figure = 'listings'), 0),
       coalesce(sum(value) FILTER (WHERE figure = 'requests'), 0),
       coalesce(sum(value) FILTER (WHERE figure = 'listings_created'), 0),
       coalesce(sum(value) FILTER (WHERE figure = 'requests_created'), 0),
       coalesce(sum(value) FILTER (WHERE figure = 'matches_created'), 0),
       coalesce(sum(value) FILTER (WHERE figure = 'orders_created'), 0),
       coalesce(sum(value) FILTER (WHERE figure = 'deals_completed'), 0),
       coalesce(sum(value) FILTER (WHERE figure = 'gmv'), 0),
       coalesce(sum(value) FILTER (WHERE figure = 'gmv_self_operated'), 0),
       coalesce(sum(value) FILTER (WHERE figure = 'gmv_marketplace'), 0)
FROM row_day_deltas WHERE brand_id IS NOT NULL GROUP BY 1, 2
ON CONFLICT (day, brand_id) DO UPDATE SET
    listings = t.listings + EXCLUDED.listings, requests = t.requests + EXCLUDED.requests,
    listings_created = t.listings_created + EXCLUDED.listings_created,
    requests_created = t.requests_created + EXCLUDED.requests_created,
    matches_created = t.matches_created + EXCLUDED.matches_created,
    orders_created = t.orders_created + EXCLUDED.orders_created,
    deals_completed = t.deals_completed + EXCLUDED.deals_completed,
    gmv = t.gmv + EXCLUDED.gmv,
    gmv_self_operated = t.gmv_self_operated + EXCLUDED.gmv_self_operated,
    gmv_marketplace = t.gmv_marketplace + EXCLUDED.gmv_marketplace;
DELETE FROM etl.kpi_segment_days
WHERE (listings, requests, listings_created, requests_created, requests_matched,
       requests_deposited, matches_created, orders_created, deposits_paid, deals_completed,
       orders_cancelled, gmv, fee_amount, deposit_held, deposit_released, deposit_refunded,
       deposit_disputed, pay_wechat, pay_alipay, pay_bank)
    = (0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)
  AND (gmv_self_operated, gmv_marketplace) = (0, 0);
DELETE FROM etl.kpi_brand_days
WHERE (listings, requests, listings_created, requests_created, matches_created, orders_created, deals_completed, gmv) = (0, 0, 0, 0, 0, 0, 0, 0)
  AND (gmv_self_operated, gmv_marketplace) = (0, 0);

-- step: prep_touched_days
-- The days whose marts a run rewrites: those its batch touched, and those whose kept per-day
-- figures just changed (a row's old day included). Registrations, first approvals and active
-- merchants are recounted on the days flagged for them; every other figure is read from the
-- kept per-day figures.
CREATE TEMP TABLE touched_days ON COMMIT DROP AS
SELECT day, bool_or(registrations) AS registrations, bool_or(certified) AS certified,
       bool_or(events) AS events
FROM (SELECT day, registrations, certified, events FROM affected_day_bounds
      UNION ALL
      SELECT DISTINCT day, false, false, false FROM row_day_deltas) d
GROUP BY day;
ANALYZE touched_days;

-- step: prune
DELETE FROM mart.daily_kpis WHERE :full;
DELETE FROM mart.daily_kpis_segment WHERE :full;
DELETE FROM mart.daily_kpis_brand WHERE :full;

-- step: merge_segment_days
-- Registrations and first approvals are counted over the span of their group's days and kept
-- for those days only; active merchants come from prep_active; the other figures from the
-- kept per-day figures (prep_row_state).
WITH span AS (
    SELECT grp, min(day)::timestamp AT TIME ZONE 'Asia/Shanghai' AS t_from,
           (max(day) + 1)::timestamp AT TIME ZONE 'Asia/Shanghai' AS t_to
    FROM affected_days GROUP BY grp
),
registrations AS (
    SELECT mart.cn_date(m.registered_at) AS day, m.tier_level, m.merchant_type, count(*) AS n
    FROM merchant_segment m JOIN span s ON s.grp = 'registrations'
    WHERE m.registered_at >= s.t_from AND m.registered_at < s.t_to
    GROUP BY 1, 2, 3
),
first_certified AS (
    SELECT merchant_id, min(decided_at) AS certified_at
    FROM etl.clean_certifications WHERE status = 'approved' GROUP BY merchant_id
),
certified AS (
    SELECT mart.cn_date(c.certified_at) AS day, coalesce(ms.tier_level, 0) AS tier_level,
           coalesce(ms.merchant_type, 'unknown') AS merchant_type, count(*) AS n
    FROM first_certified c JOIN span s ON s.grp = 'certified'
    LEFT JOIN merchant_segment ms ON ms.merchant_id = c.merchant_id
    WHERE c.certified_at >= s.t_from AND c.certified_at < s.t_to
    GROUP BY 1, 2, 3
),
kept AS (
    SELECT s.* FROM etl.kpi_segment_days s JOIN touched_days d ON d.day = s.day
),
keys AS (
    -- every segment of a touched day that has, or had, a figure
    SELECT t.day, t.tier_level, t.merchant_type
    FROM mart.daily_kpis_segment t JOIN touched_days d ON d.day = t.day
    UNION SELECT day, tier_level, merchant_type FROM registrations
    UNION SELECT day, tier_level, merchant_type FROM certified
    UNION SELECT day, tier_level, merchant_type FROM seg_active
    UNION SELECT day, tier_level, merchant_type FROM kept
),
final AS (
    -- A recounted figure whose group did not touch the day keeps its stored value.
    SELECT d.day, k.tier_level, k.merchant_type,
           CASE WHEN d.registrations THEN coalesce(rg.n, 0) ELSE coalesce(t.new_registrations, 0) END AS new_registrations,
           CASE WHEN d.certified THEN coalesce(ce.n, 0) ELSE coalesce(t.newly_certified, 0) END AS newly_certified,
           CASE WHEN d.events THEN coalesce(ac.n, 0) ELSE coalesce(t.active_merchants, 0) END AS active_merchants,
           coalesce(st.listings_created, 0) AS listings_created,
           coalesce(st.requests_created, 0) AS requests_created,
           coalesce(st.requests_matched, 0) AS requests_with_match,
           coalesce(st.requests_deposited, 0) AS requests_with_deposit,
           coalesce(st.matches_created, 0) AS matches_created,
           coalesce(st.orders_created, 0) AS orders_created,
           coalesce(st.deposits_paid, 0) AS deposits_paid,
           coalesce(st.deals_completed, 0) AS deals_completed,
           coalesce(st.orders_cancelled, 0) AS orders_cancelled,
           coalesce(st.gmv, 0) AS gmv,
           coalesce(st.fee_amount, 0) AS fee_amount,
           coalesce(st.deposit_held, 0) AS deposit_held,
           coalesce(st.deposit_released, 0) AS deposit_released,
           coalesce(st.deposit_refunded, 0) AS deposit_refunded,
           coalesce(st.deposit_disputed, 0) AS deposit_disputed,
           coalesce(st.pay_wechat, 0) AS pay_wechat,
           coalesce(st.pay_alipay, 0) AS pay_alipay,
           coalesce(st.pay_bank, 0) AS pay_bank,
           coalesce(st.gmv_self_operated, 0) AS gmv_self_operated,
           coalesce(st.gmv_marketplace, 0) AS gmv_marketplace
    FROM keys k
    JOIN touched_days d ON d.day = k.day
    LEFT JOIN mart.daily_kpis_segment t
           ON (t.day, t.tier_level, t.merchant_type) = (k.day, k.tier_level, k.merchant_type)
    LEFT JOIN registrations rg
           ON (rg.day, rg.tier_level, rg.merchant_type) = (k.day, k.tier_level, k.merchant_type)
    LEFT JOIN certified ce
           ON (ce.day, ce.tier_level, ce.merchant_type) = (k.day, k.tier_level, k.merchant_type)
    LEFT JOIN seg_active ac
           ON (ac.day, ac.tier_level, ac.merchant_type) = (k.day, k.tier_level, k.merchant_type)
    LEFT JOIN kept st
           ON (st.day, st.tier_level, st.merchant_type) = (k.day, k.tier_level, k.merchant_type)
)
INSERT INTO mart.daily_kpis_segment AS t
    (day, tier_level, merchant_type, new_registrations, newly_certified, active_merchants,
     listings_created, requests_created, requests_with_match, requests_with_deposit,
     matches_created, orders_created, deposits_paid, deals_completed, orders_cancelled, gmv,
     fee_amount, deposit_held, deposit_released, deposit_refunded, deposit_disputed,
     pay_wechat, pay_alipay, pay_bank, gmv_self_operated, gmv_marketplace, computed_at, run_id)
SELECT day, tier_level, merchant_type, new_registrations, newly_certified, active_merchants,
       listings_created, requests_created, requests_with_match, requests_with_deposit,
       matches_created, orders_created, deposits_paid, deals_completed, orders_cancelled, gmv,
       fee_amount, deposit_held, deposit_released, deposit_refunded, deposit_disputed,
       pay_wechat, pay_alipay, pay_bank, gmv_self_operated, gmv_marketplace, now(), :run_id
FROM final
ON CONFLICT (day, tier_level, merchant_type) DO UPDATE SET
    new_registrations = EXCLUDED.new_registrations, newly_certified = EXCLUDED.newly_certified,
    active_merchants = EXCLUDED.active_merchants, listings_created = EXCLUDED.listings_created,
    requests_created = EXCLUDED.requests_created,
    requests_with_match = EXCLUDED.requests_with_match,
    requests_with_deposit = EXCLUDED.requests_with_deposit,
    matches_created = EXCLUDED.matches_created, orders_created = EXCLUDED.orders_created,
    deposits_paid = EXCLUDED.deposits_paid, deals_completed = EXCLUDED.deals_completed,
    orders_cancelled = EXCLUDED.orders_cancelled, gmv = EXCLUDED.gmv,
    fee_amount = EXCLUDED.fee_amount, deposit_held = EXCLUDED.deposit_held,
    deposit_released = EXCLUDED.deposit_released, deposit_refunded = EXCLUDED.deposit_refunded,
    deposit_disputed = EXCLUDED.deposit_disputed, pay_wechat = EXCLUDED.pay_wechat,
    pay_alipay = EXCLUDED.pay_alipay, pay_bank = EXCLUDED.pay_bank,
    gmv_self_operated = EXCLUDED.gmv_self_operated, gmv_marketplace = EXCLUDED.gmv_marketplace,
    computed_at = now(), run_id = EXCLUDED.run_id
WHERE (t.new_registrations, t.newly_certified, t.active_merchants, t.listings_created,
       t.requests_created, t.requests_with_match, t.requests_with_deposit, t.matches_created,
       t.orders_created, t.deposits_paid, t.deals_completed, t.orders_cancelled, t.gmv,
       t.fee_amount, t.deposit_held, t.deposit_released, t.deposit_refunded, t.deposit_disputed,
       t.pay_wechat, t.pay_alipay, t.pay_bank, t.gmv_self_operated, t.gmv_marketplace)
  IS DISTINCT FROM
      (EXCLUDED.new_registrations, EXCLUDED.newly_certified, EXCLUDED.active_merchants,
       EXCLUDED.listings_created, EXCLUDED.requests_created, EXCLUDED.requests_with_match,
       EXCLUDED.requests_with_deposit, EXCLUDED.matches_created, EXCLUDED.orders_created,
       EXCLUDED.deposits_paid, EXCLUDED.deals_completed, EXCLUDED.orders_cancelled,
       EXCLUDED.gmv, EXCLUDED.fee_amount, EXCLUDED.deposit_held, EXCLUDED.deposit_released,
       EXCLUDED.deposit_refunded, EXCLUDED.deposit_disputed, EXCLUDED.pay_wechat,
       EXCLUDED.pay_alipay, EXCLUDED.pay_bank, EXCLUDED.gmv_self_operated,
       EXCLUDED.gmv_marketplace);

-- step: merge_segment_snapshot
-- Live listings / open requests at the end of each day per segment, first post to today:
-- the running sum of the kept per-day moves (a post counts from the day it was published
-- until the day before its status changed away from live/open, as in daily_kpis). A zero is
-- written only over a stored figure: a segment with nothing live that day has no row.
-- Only the days from `since` on are written: before the first day whose kept moves changed in
-- this run, every running sum is what the last run wrote; after the last day a run wrote
-- (the last with anything live: a day a merge above just created has no snapshot yet), the
-- days are new. Rewriting the whole calendar (three years × every segment) took 1.7–3.4 s of
-- each incremental run on the large bench database for a handful of changed days.
WITH per_day AS (
    SELECT day, tier_level, merchant_type, listings, requests FROM etl.kpi_segment_days
),
since AS (
    SELECT coalesce(least(
        (SELECT min(day) FROM row_day_deltas WHERE figure IN ('listings', 'requests')),
        (SELECT max(day) FROM mart.daily_kpis_segment
         WHERE live_listings <> 0 OR open_requests <> 0)), '-infinity') AS day
),
segments AS (
    SELECT DISTINCT tier_level, merchant_type FROM per_day
),
calendar AS (
    SELECT g::date AS day
    FROM generate_series((SELECT min(day) FROM per_day), mart.cn_date(now()), interval '1 day') g
),
-- Every (day, segment), then the kept moves joined on all three keys: joined to the calendar
-- and the segments at once, the planner merged on the segment alone and filtered the day
-- (12M rows compared on the large bench, 3 s a run).
grid AS MATERIALIZED (
    SELECT c.day, sg.tier_level, sg.merchant_type FROM calendar c CROSS JOIN segments sg
),
running AS (
    SELECT g.day, g.tier_level, g.merchant_type,
           (sum(coalesce(p.listings, 0)) OVER w)::integer AS live_listings,
           (sum(coalesce(p.requests, 0)) OVER w)::integer AS open_requests
    FROM grid g
    LEFT JOIN per_day p USING (day, tier_level, merchant_type)
    WINDOW w AS (PARTITION BY g.tier_level, g.merchant_type ORDER BY g.day)
),
final AS (
    SELECT r.* FROM running r
    WHERE r.day >= (SELECT day FROM since)
      AND (r.live_listings <> 0 OR r.open_requests <> 0
       OR EXISTS (SELECT 1 FROM mart.daily_kpis_segment t
                  WHERE (t.day, t.tier_level, t.merchant_type)
                      = (r.day, r.tier_level, r.merchant_type)))
)
INSERT INTO mart.daily_kpis_segment AS t
    (day, tier_level, merchant_type, live_listings, open_requests, computed_at, run_id)
SELECT day, tier_level, merchant_type, live_listings, open_requests, now(), :run_id FROM final
ON CONFLICT (day, tier_level, merchant_type) DO UPDATE SET
    live_listings = EXCLUDED.live_listings, open_requests = EXCLUDED.open_requests,
    computed_at = now(), run_id = EXCLUDED.run_id
WHERE (t.live_listings, t.open_requests)
      IS DISTINCT FROM (EXCLUDED.live_listings, EXCLUDED.open_requests);

-- step: prune_segment_empty
-- Rows left with no figure at all (a full rebuild would not make them).
DELETE FROM mart.daily_kpis_segment
WHERE (new_registrations, newly_certified, active_merchants, listings_created,
       requests_created, live_listings, open_requests, requests_with_match,
       requests_with_deposit, matches_created, orders_created, deposits_paid, deals_completed,
       orders_cancelled)
      = (0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)
  AND (gmv, fee_amount, deposit_held, deposit_released, deposit_refunded, deposit_disputed,
       pay_wechat, pay_alipay, pay_bank) = (0, 0, 0, 0, 0, 0, 0, 0, 0)
  AND (gmv_self_operated, gmv_marketplace) = (0, 0);

-- step: merge_brand_days
-- Every figure of a touched day from the kept per-day figures (prep_row_state).
WITH kept AS (
    SELECT b.* FROM etl.kpi_brand_days b JOIN touched_days d ON d.day = b.day
),
keys AS (
    SELECT t.day, t.brand_id FROM mart.daily_kpis_brand t JOIN touched_days d ON d.day = t.day
    UNION SELECT day, brand_id FROM kept
),
final AS (
    SELECT k.day, k.brand_id,
           coalesce(b.listings_created, 0) AS listings_created,
           coalesce(b.requests_created, 0) AS requests_created,
           coalesce(b.matches_created, 0) AS matches_created,
           coalesce(b.orders_created, 0) AS orders_created,
           coalesce(b.deals_completed, 0) AS deals_completed,
           coalesce(b.gmv, 0) AS gmv,
           coalesce(b.gmv_self_operated, 0) AS gmv_self_operated,
           coalesce(b.gmv_marketplace, 0) AS gmv_marketplace
    FROM keys k LEFT JOIN kept b ON b.day = k.day AND b.brand_id = k.brand_id
)
INSERT INTO mart.daily_kpis_brand AS t
    (day, brand_id, listings_created, requests_created, matches_created, orders_created,
     deals_completed, gmv, gmv_self_operated, gmv_marketplace, computed_at, run_id)
SELECT day, brand_id, listings_created, requests_created, matches_created, orders_created,
       deals_completed, gmv, gmv_self_operated, gmv_marketplace, now(), :run_id
FROM final
ON CONFLICT (day, brand_id) DO UPDATE SET
    listings_created = EXCLUDED.listings_created, requests_created = EXCLUDED.requests_created,
    matches_created = EXCLUDED.matches_created, orders_created = EXCLUDED.orders_created,
    deals_completed = EXCLUDED.deals_completed, gmv = EXCLUDED.gmv,
    gmv_self_operated = EXCLUDED.gmv_self_operated, gmv_marketplace = EXCLUDED.gmv_marketplace,
    computed_at = now(), run_id = EXCLUDED.run_id
WHERE (t.listings_created, t.requests_created, t.matches_created, t.orders_created,
       t.deals_completed, t.gmv, t.gmv_self_operated, t.gmv_marketplace)
  IS DISTINCT FROM
      (EXCLUDED.listings_created, EXCLUDED.requests_created, EXCLUDED.matches_created,
       EXCLUDED.orders_created, EXCLUDED.deals_completed, EXCLUDED.gmv,
       EXCLUDED.gmv_self_operated, EXCLUDED.gmv_marketplace);

-- step: merge_brand_snapshot
-- Live listings / open requests at the end of each day per brand (kept moves, as above;
-- the days from `since` on, as above).
WITH per_day AS (
    SELECT day, brand_id, listings, requests FROM etl.kpi_brand_days
),
since AS (
    SELECT coalesce(least(
        (SELECT min(day) FROM row_day_deltas
         WHERE brand_id IS NOT NULL AND figure IN ('listings', 'requests')),
        (SELECT max(day) FROM mart.daily_kpis_brand
         WHERE live_listings <> 0 OR open_requests <> 0)), '-infinity') AS day
),
brands AS (
    SELECT DISTINCT brand_id FROM per_day
),
calendar AS (
    SELECT g::date AS day
    FROM generate_series((SELECT min(day) FROM per_day), mart.cn_date(now()), interval '1 day') g
),
grid AS MATERIALIZED (   -- joined on both keys at once (as for the segments)
    SELECT c.day, b.brand_id FROM calendar c CROSS JOIN brands b
),
running AS (
    SELECT g.day, g.brand_id,
           (sum(coalesce(p.listings, 0)) OVER w)::integer AS live_listings,
           (sum(coalesce(p.requests, 0)) OVER w)::integer AS open_requests
    FROM grid g
    LEFT JOIN per_day p USING (day, brand_id)
    WINDOW w AS (PARTITION BY g.brand_id ORDER BY g.day)
),
final AS (
    SELECT r.* FROM running r
    WHERE r.day >= (SELECT day FROM since)
      AND (r.live_listings <> 0 OR r.open_requests <> 0
       OR EXISTS (SELECT 1 FROM mart.daily_kpis_brand t
                  WHERE t.day = r.day AND t.brand_id = r.brand_id))
)
INSERT INTO mart.daily_kpis_brand AS t
    (day, brand_id, live_listings, open_requests, computed_at, run_id)
SELECT day, brand_id, live_listings, open_requests, now(), :run_id FROM final
ON CONFLICT (day, brand_id) DO UPDATE SET
    live_listings = EXCLUDED.live_listings, open_requests = EXCLUDED.open_requests,
    computed_at = now(), run_id = EXCLUDED.run_id
WHERE (t.live_listings, t.open_requests)
      IS DISTINCT FROM (EXCLUDED.live_listings, EXCLUDED.open_requests);

-- step: prune_brand_empty
DELETE FROM mart.daily_kpis_brand
WHERE (listings_created, requests_created, live_listings, open_requests, matches_created,
       orders_created, deals_completed) = (0, 0, 0, 0, 0, 0, 0)
  AND (gmv, gmv_self_operated, gmv_marketplace) = (0, 0, 0);

-- step: merge_days
-- The platform's figures of each touched day: the sums of its segments (zero when none).
WITH final AS (
    SELECT d.day,
           coalesce(sum(s.new_registrations), 0) AS new_registrations,
           coalesce(sum(s.newly_certified), 0) AS newly_certified,
           coalesce(sum(s.active_merchants), 0) AS active_merchants,
           coalesce(sum(s.listings_created), 0) AS listings_created,
           coalesce(sum(s.requests_created), 0) AS requests_created,
           coalesce(sum(s.requests_with_match), 0) AS requests_with_match,
           coalesce(sum(s.requests_with_deposit), 0) AS requests_with_deposit,
           coalesce(sum(s.matches_created), 0) AS matches_created,
           coalesce(sum(s.orders_created), 0) AS orders_created,
           coalesce(sum(s.deposits_paid), 0) AS deposits_paid,
           coalesce(sum(s.deals_completed), 0) AS deals_completed,
           coalesce(sum(s.orders_cancelled), 0) AS orders_cancelled,
           coalesce(sum(s.gmv), 0) AS gmv,
           coalesce(sum(s.fee_amount), 0) AS fee_amount,
           coalesce(sum(s.deposit_held), 0) AS deposit_held,
           coalesce(sum(s.deposit_released), 0) AS deposit_released,
           coalesce(sum(s.deposit_refunded), 0) AS deposit_refunded,
           coalesce(sum(s.deposit_disputed), 0) AS deposit_disputed,
           coalesce(sum(s.pay_wechat), 0) AS pay_wechat,
           coalesce(sum(s.pay_alipay), 0) AS pay_alipay,
           coalesce(sum(s.pay_bank), 0) AS pay_bank,
           coalesce(sum(s.gmv_self_operated), 0) AS gmv_self_operated,
           coalesce(sum(s.gmv_marketplace), 0) AS gmv_marketplace
    FROM touched_days d
    LEFT JOIN mart.daily_kpis_segment s ON s.day = d.day
    GROUP BY d.day
)
INSERT INTO mart.daily_kpis AS t
    (day, new_registrations, newly_certified, active_merchants, listings_created,
     requests_created, requests_with_match, requests_with_deposit, matches_created,
     orders_created, deposits_paid, deals_completed, orders_cancelled, gmv, fee_amount,
     deposit_held, deposit_released, deposit_refunded, deposit_disputed, pay_wechat,
     pay_alipay, pay_bank, gmv_self_operated, gmv_marketplace, computed_at, run_id)
SELECT day, new_registrations, newly_certified, active_merchants, listings_created,
       requests_created, requests_with_match, requests_with_deposit, matches_created,
       orders_created, deposits_paid, deals_completed, orders_cancelled, gmv, fee_amount,
       deposit_held, deposit_released, deposit_refunded, deposit_disputed, pay_wechat,
       pay_alipay, pay_bank, gmv_self_operated, gmv_marketplace, now(), :run_id
FROM final
ON CONFLICT (day) DO UPDATE SET
    new_registrations = EXCLUDED.new_registrations,
    newly_certified = EXCLUDED.newly_certified,
    active_merchants = EXCLUDED.active_merchants,
    listings_created = EXCLUDED.listings_created,
    requests_created = EXCLUDED.requests_created,
    requests_with_match = EXCLUDED.requests_with_match,
    requests_with_deposit = EXCLUDED.requests_with_deposit,
    matches_created = EXCLUDED.matches_created, orders_created = EXCLUDED.orders_created,
    deposits_paid = EXCLUDED.deposits_paid, deals_completed = EXCLUDED.deals_completed,
    orders_cancelled = EXCLUDED.orders_cancelled, gmv = EXCLUDED.gmv,
    fee_amount = EXCLUDED.fee_amount, deposit_held = EXCLUDED.deposit_held,
    deposit_released = EXCLUDED.deposit_released,
    deposit_refunded = EXCLUDED.deposit_refunded,
    deposit_disputed = EXCLUDED.deposit_disputed, pay_wechat = EXCLUDED.pay_wechat,
    pay_alipay = EXCLUDED.pay_alipay, pay_bank = EXCLUDED.pay_bank,
    gmv_self_operated = EXCLUDED.gmv_self_operated, gmv_marketplace = EXCLUDED.gmv_marketplace,
    computed_at = now(), run_id = EXCLUDED.run_id
WHERE (t.new_registrations, t.newly_certified, t.active_merchants, t.listings_created,
       t.requests_created, t.requests_with_match, t.requests_with_deposit,
       t.matches_created, t.orders_created, t.deposits_paid, t.deals_completed,
       t.orders_cancelled, t.gmv, t.fee_amount, t.deposit_held, t.deposit_released,
       t.deposit_refunded, t.deposit_disputed, t.pay_wechat, t.pay_alipay, t.pay_bank,
       t.gmv_self_operated, t.gmv_marketplace)
  IS DISTINCT FROM
      (EXCLUDED.new_registrations, EXCLUDED.newly_certified, EXCLUDED.active_merchants,
       EXCLUDED.listings_created, EXCLUDED.requests_created, EXCLUDED.requests_with_match,
       EXCLUDED.requests_with_deposit, EXCLUDED.matches_created, EXCLUDED.orders_created,
       EXCLUDED.deposits_paid, EXCLUDED.deals_completed, EXCLUDED.orders_cancelled,
       EXCLUDED.gmv, EXCLUDED.fee_amount, EXCLUDED.deposit_held, EXCLUDED.deposit_released,
       EXCLUDED.deposit_refunded, EXCLUDED.deposit_disputed, EXCLUDED.pay_wechat,
       EXCLUDED.pay_alipay, EXCLUDED.pay_bank, EXCLUDED.gmv_self_operated,
       EXCLUDED.gmv_marketplace);

-- step: merge_snapshot
-- Live listings / open requests at the end of each day, first post to today: the running sum
-- of the kept per-day moves of every segment (a post counts from the day it was published
-- until the day before its status last changed away from live/open: a post that went off
-- during a day is not live at that day's end).
WITH per_day AS (
    SELECT day, sum(listings) AS listings, sum(requests) AS requests
    FROM etl.kpi_segment_days GROUP BY day
),
calendar AS (
    SELECT g::date AS day
    FROM generate_series((SELECT min(day) FROM per_day), mart.cn_date(now()), interval '1 day') g
),
final AS (
    SELECT c.day,
           (sum(coalesce(p.listings, 0)) OVER w)::integer AS live_listings,
           (sum(coalesce(p.requests, 0)) OVER w)::integer AS open_requests
    FROM calendar c LEFT JOIN per_day p USING (day)
    WINDOW w AS (ORDER BY c.day)
)
INSERT INTO mart.daily_kpis AS t (day, live_listings, open_requests, computed_at, run_id)
SELECT day, live_listings, open_requests, now(), :run_id FROM final
ON CONFLICT (day) DO UPDATE SET
    live_listings = EXCLUDED.live_listings, open_requests = EXCLUDED.open_requests,
    computed_at = now(), run_id = EXCLUDED.run_id
WHERE (t.live_listings, t.open_requests)
      IS DISTINCT FROM (EXCLUDED.live_listings, EXCLUDED.open_requests);

-- step: prune_periods
DELETE FROM mart.kpi_periods WHERE :full;

-- step: merge_periods
-- Each grain is aggregated on its own date column (a sort on one date, not on grain + date).
WITH periods AS (SELECT * FROM affected_periods),
active AS (
    SELECT 'day' AS grain, day AS period_start, count(*) AS n   -- pairs are distinct per day
    FROM merchant_days GROUP BY day
    UNION ALL
    SELECT 'week', week, count(*)
    FROM (SELECT DISTINCT date_trunc('week', day)::date AS week, merchant_id
          FROM merchant_days) w
    GROUP BY week
    UNION ALL
    SELECT 'month', month, count(*)
    FROM (SELECT DISTINCT date_trunc('month', day)::date AS month, merchant_id
          FROM merchant_days) m
    GROUP BY month
),
period_request_days AS (
    -- every day of the periods whose request figures are recounted
    SELECT DISTINCT g::date AS day
    FROM periods p
    CROSS JOIN LATERAL generate_series(p.period_start::timestamp,
                                       p.period_end::timestamp - interval '1 day',
                                       interval '1 day') AS g
    WHERE p.requests
),
request_times AS MATERIALIZED (
    -- the kept request times of those days (prep_request_times)
    SELECT k.day, k.hours_to_match
    FROM period_request_days d JOIN etl.kpi_request_times k ON k.day = d.day
),
requests AS (
    -- percentile_cont ignores requests without a match (NULL hours)
    SELECT 'day' AS grain, day AS period_start, count(*) AS created,
           count(hours_to_match) AS matched,
           percentile_cont(0.5) WITHIN GROUP (ORDER BY hours_to_match) AS median_hours
    FROM request_times GROUP BY day
    UNION ALL
    SELECT 'week', date_trunc('week', day)::date, count(*), count(hours_to_match),
           percentile_cont(0.5) WITHIN GROUP (ORDER BY hours_to_match)
    FROM request_times GROUP BY 2
    UNION ALL
    SELECT 'month', date_trunc('month', day)::date, count(*), count(hours_to_match),
           percentile_cont(0.5) WITHIN GROUP (ORDER BY hours_to_match)
    FROM request_times GROUP BY 2
),
final AS (
    -- A figure whose sources did not touch the period keeps its stored value.
    SELECT p.grain, p.period_start,
           CASE WHEN p.events THEN coalesce(a.n, 0)
                ELSE coalesce(t.active_merchants, 0) END AS active_merchants,
           CASE WHEN p.requests THEN coalesce(r.created, 0)
                ELSE coalesce(t.requests_created, 0) END AS requests_created,
           CASE WHEN p.requests THEN coalesce(r.matched, 0)
                ELSE coalesce(t.requests_matched, 0) END AS requests_matched,
           CASE WHEN p.requests THEN round(r.median_hours::numeric, 2)
                ELSE t.median_hours_to_match END AS median_hours_to_match
    FROM periods p
    LEFT JOIN mart.kpi_periods t ON t.grain = p.grain AND t.period_start = p.period_start
    LEFT JOIN active a ON a.grain = p.grain AND a.period_start = p.period_start
    LEFT JOIN requests r ON r.grain = p.grain AND r.period_start = p.period_start
)
INSERT INTO mart.kpi_periods AS t
    (grain, period_start, active_merchants, requests_created, requests_matched,
     median_hours_to_match, computed_at, run_id)
SELECT grain, period_start, active_merchants, requests_created, requests_matched,
       median_hours_to_match, now(), :run_id
FROM final
ON CONFLICT (grain, period_start) DO UPDATE SET
    active_merchants = EXCLUDED.active_merchants, requests_created = EXCLUDED.requests_created,
    requests_matched = EXCLUDED.requests_matched,
    median_hours_to_match = EXCLUDED.median_hours_to_match,
    computed_at = now(), run_id = EXCLUDED.run_id
WHERE (t.active_merchants, t.requests_created, t.requests_matched, t.median_hours_to_match)
      IS DISTINCT FROM (EXCLUDED.active_merchants, EXCLUDED.requests_created,
                        EXCLUDED.requests_matched, EXCLUDED.median_hours_to_match);
