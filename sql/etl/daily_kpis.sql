-- Daily KPIs and per-period KPIs (day / week / month).
-- Incremental: each group of figures is recomputed only for the days (periods) its own
-- sources touched, from all clean rows of those days; the other figures of a day keep their
-- stored values. So a batch of changed listings recounts listings, not the active merchants
-- of 10M events. A full run stages everything: every figure of every day is recomputed by
-- the same SQL. A day (period) gets a row as soon as any group touches it.

-- step: prep_days
-- The days each group must recompute: the day of every timestamp of a batch row it counts.
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
    UNION ALL SELECT 'events', mart.cn_date(occurred_at) FROM etl.stg_daily_kpis__events
    UNION ALL SELECT 'listings', mart.cn_date(published_at) FROM etl.stg_daily_kpis__listings
    UNION ALL SELECT 'requests', mart.cn_date(created_at) FROM etl.stg_daily_kpis__requests
    UNION ALL SELECT 'requests', mart.cn_date(r.created_at) FROM etl.stg_daily_kpis__matches s
              JOIN app.requests r ON r.id = s.request_id
    UNION ALL SELECT 'requests', mart.cn_date(r.created_at) FROM etl.stg_daily_kpis__orders s
              JOIN app.requests r ON r.id = s.request_id
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
-- Who was active on which day, for every day of the periods holding an event day: DAU,
-- WAU and MAU all count from these pairs. A full run reads every event once; an incremental
-- run reads only those days, each by an index range scan on occurred_at.
CREATE TEMP TABLE merchant_days ON COMMIT DROP AS
WITH event_days AS (
    SELECT DISTINCT g::date AS day
    FROM affected_periods p
    CROSS JOIN LATERAL generate_series(p.period_start::timestamp,
                                       p.period_end::timestamp - interval '1 day',
                                       interval '1 day') AS g
    WHERE p.events AND p.grain <> 'day' AND NOT :full
),
day_ranges AS (
    SELECT day, day::timestamp AT TIME ZONE 'Asia/Shanghai' AS day_from,
           (day + 1)::timestamp AT TIME ZONE 'Asia/Shanghai' AS day_to
    FROM event_days
)
SELECT DISTINCT day, merchant_id
FROM (
    SELECT mart.cn_date(e.occurred_at) AS day, e.merchant_id
    FROM etl.clean_events e WHERE :full
    UNION ALL
    SELECT d.day, e.merchant_id
    FROM day_ranges d
    JOIN etl.clean_events e ON e.occurred_at >= d.day_from AND e.occurred_at < d.day_to
) pairs
WHERE merchant_id IS NOT NULL;  -- count(DISTINCT merchant_id) never counted a missing one
ANALYZE merchant_days;

-- step: prune
DELETE FROM mart.daily_kpis WHERE :full;

-- step: merge_days
-- Each figure is aggregated over the span of its group's days, then kept for those days only.
WITH days AS (SELECT * FROM affected_day_bounds),
span AS (
    SELECT grp, min(day)::timestamp AT TIME ZONE 'Asia/Shanghai' AS t_from,
           (max(day) + 1)::timestamp AT TIME ZONE 'Asia/Shanghai' AS t_to
    FROM affected_days GROUP BY grp
),
registrations AS (
    SELECT mart.cn_date(m.registered_at) AS day, count(*) AS n
    FROM etl.clean_merchants m JOIN span s ON s.grp = 'registrations'
    WHERE m.registered_at >= s.t_from AND m.registered_at < s.t_to
    GROUP BY 1
),
first_certified AS (
    SELECT merchant_id, min(decided_at) AS certified_at
    FROM etl.clean_certifications WHERE status = 'approved' GROUP BY merchant_id
),
certified AS (
    SELECT mart.cn_date(c.certified_at) AS day, count(*) AS n
    FROM first_certified c JOIN span s ON s.grp = 'certified'
    WHERE c.certified_at >= s.t_from AND c.certified_at < s.t_to
    GROUP BY 1
),
active AS (
    SELECT md.day, count(*) AS n FROM merchant_days md
    WHERE md.day IN (SELECT day FROM days WHERE events)
    GROUP BY md.day
),
listings AS (
    SELECT mart.cn_date(l.published_at) AS day, count(*) AS n
    FROM etl.clean_listings l JOIN span s ON s.grp = 'listings'
    WHERE l.published_at >= s.t_from AND l.published_at < s.t_to
    GROUP BY 1
),
matched_requests AS (
    SELECT DISTINCT request_id FROM etl.clean_matches
),
deposit_requests AS (
    SELECT DISTINCT request_id FROM etl.clean_orders
    WHERE deposit_paid_at IS NOT NULL AND request_id IS NOT NULL
),
requests AS (
    SELECT mart.cn_date(r.created_at) AS day, count(*) AS n,
           count(mr.request_id) AS with_match, count(dr.request_id) AS with_deposit
    FROM etl.clean_requests r JOIN span s ON s.grp = 'requests'
    LEFT JOIN matched_requests mr ON mr.request_id = r.id
    LEFT JOIN deposit_requests dr ON dr.request_id = r.id
    WHERE r.created_at >= s.t_from AND r.created_at < s.t_to
    GROUP BY 1
),
matches AS (
    SELECT mart.cn_date(mt.created_at) AS day, count(*) AS n
    FROM etl.clean_matches mt JOIN span s ON s.grp = 'matches'
    WHERE mt.created_at >= s.t_from AND mt.created_at < s.t_to
    GROUP BY 1
),
orders AS (
    SELECT o.* FROM etl.clean_orders o
    WHERE EXISTS (SELECT 1 FROM span s WHERE s.grp = 'orders')
),
orders_created AS (
    SELECT mart.cn_date(created_at) AS day, count(*) AS n FROM orders GROUP BY 1
),
deposits AS (
    SELECT mart.cn_date(deposit_paid_at) AS day, count(*) AS n,
           sum(deposit_amount) FILTER (WHERE escrow_state = 'held') AS held,
           sum(deposit_amount) FILTER (WHERE escrow_state = 'released') AS released,
           sum(deposit_amount) FILTER (WHERE escrow_state = 'refunded') AS refunded,
           sum(deposit_amount) FILTER (WHERE escrow_state = 'disputed') AS disputed
    FROM orders WHERE deposit_paid_at IS NOT NULL
    GROUP BY 1
),
deals AS (
    SELECT mart.cn_date(completed_at) AS day, count(*) AS n, sum(amount) AS gmv,
           sum(fee_amount) AS fees
    FROM orders WHERE status = 'completed' AND completed_at IS NOT NULL
    GROUP BY 1
),
cancelled AS (
    SELECT mart.cn_date(cancelled_at) AS day, count(*) AS n
    FROM orders WHERE status = 'cancelled' AND cancelled_at IS NOT NULL
    GROUP BY 1
),
payments AS (
    SELECT mart.cn_date(p.paid_at) AS day,
           sum(p.amount) FILTER (WHERE p.channel = 'wechat') AS wechat,
           sum(p.amount) FILTER (WHERE p.channel = 'alipay') AS alipay,
           sum(p.amount) FILTER (WHERE p.channel = 'bank') AS bank
    FROM etl.clean_payments p JOIN span s ON s.grp = 'payments'
    WHERE p.paid_at >= s.t_from AND p.paid_at < s.t_to
      AND p.status = 'succeeded' AND p.kind IN ('deposit', 'balance')
    GROUP BY 1
),
final AS (
    -- A figure whose group did not touch the day keeps its stored value.
    SELECT d.day,
           CASE WHEN d.registrations THEN coalesce(rg.n, 0) ELSE coalesce(t.new_registrations, 0) END AS new_registrations,
           CASE WHEN d.certified THEN coalesce(ce.n, 0) ELSE coalesce(t.newly_certified, 0) END AS newly_certified,
           CASE WHEN d.events THEN coalesce(ac.n, 0) ELSE coalesce(t.active_merchants, 0) END AS active_merchants,
           CASE WHEN d.listings THEN coalesce(li.n, 0) ELSE coalesce(t.listings_created, 0) END AS listings_created,
           CASE WHEN d.requests THEN coalesce(rq.n, 0) ELSE coalesce(t.requests_created, 0) END AS requests_created,
           CASE WHEN d.requests THEN coalesce(rq.with_match, 0) ELSE coalesce(t.requests_with_match, 0) END AS requests_with_match,
           CASE WHEN d.requests THEN coalesce(rq.with_deposit, 0) ELSE coalesce(t.requests_with_deposit, 0) END AS requests_with_deposit,
           CASE WHEN d.matches THEN coalesce(mt.n, 0) ELSE coalesce(t.matches_created, 0) END AS matches_created,
           CASE WHEN d.orders THEN coalesce(oc.n, 0) ELSE coalesce(t.orders_created, 0) END AS orders_created,
           CASE WHEN d.orders THEN coalesce(dp.n, 0) ELSE coalesce(t.deposits_paid, 0) END AS deposits_paid,
           CASE WHEN d.orders THEN coalesce(dl.n, 0) ELSE coalesce(t.deals_completed, 0) END AS deals_completed,
           CASE WHEN d.orders THEN coalesce(ca.n, 0) ELSE coalesce(t.orders_cancelled, 0) END AS orders_cancelled,
           CASE WHEN d.orders THEN coalesce(dl.gmv, 0) ELSE coalesce(t.gmv, 0) END AS gmv,
           CASE WHEN d.orders THEN coalesce(dl.fees, 0) ELSE coalesce(t.fee_amount, 0) END AS fee_amount,
           CASE WHEN d.orders THEN coalesce(dp.held, 0) ELSE coalesce(t.deposit_held, 0) END AS deposit_held,
           CASE WHEN d.orders THEN coalesce(dp.released, 0) ELSE coalesce(t.deposit_released, 0) END AS deposit_released,
           CASE WHEN d.orders THEN coalesce(dp.refunded, 0) ELSE coalesce(t.deposit_refunded, 0) END AS deposit_refunded,
           CASE WHEN d.orders THEN coalesce(dp.disputed, 0) ELSE coalesce(t.deposit_disputed, 0) END AS deposit_disputed,
           CASE WHEN d.payments THEN coalesce(pa.wechat, 0) ELSE coalesce(t.pay_wechat, 0) END AS pay_wechat,
           CASE WHEN d.payments THEN coalesce(pa.alipay, 0) ELSE coalesce(t.pay_alipay, 0) END AS pay_alipay,
           CASE WHEN d.payments THEN coalesce(pa.bank, 0) ELSE coalesce(t.pay_bank, 0) END AS pay_bank
    FROM days d
    LEFT JOIN mart.daily_kpis t ON t.day = d.day
    LEFT JOIN registrations rg ON rg.day = d.day LEFT JOIN certified ce ON ce.day = d.day
    LEFT JOIN active ac ON ac.day = d.day LEFT JOIN listings li ON li.day = d.day
    LEFT JOIN requests rq ON rq.day = d.day LEFT JOIN matches mt ON mt.day = d.day
    LEFT JOIN orders_created oc ON oc.day = d.day LEFT JOIN deposits dp ON dp.day = d.day
    LEFT JOIN deals dl ON dl.day = d.day LEFT JOIN cancelled ca ON ca.day = d.day
    LEFT JOIN payments pa ON pa.day = d.day
)
INSERT INTO mart.daily_kpis AS t
    (day, new_registrations, newly_certified, active_merchants, listings_created,
     requests_created, requests_with_match, requests_with_deposit, matches_created,
     orders_created, deposits_paid, deals_completed, orders_cancelled, gmv, fee_amount,
     deposit_held, deposit_released, deposit_refunded, deposit_disputed, pay_wechat,
     pay_alipay, pay_bank, computed_at, run_id)
SELECT day, new_registrations, newly_certified, active_merchants, listings_created,
       requests_created, requests_with_match, requests_with_deposit, matches_created,
       orders_created, deposits_paid, deals_completed, orders_cancelled, gmv, fee_amount,
       deposit_held, deposit_released, deposit_refunded, deposit_disputed, pay_wechat,
       pay_alipay, pay_bank, now(), :run_id
FROM final
ON CONFLICT (day) DO UPDATE SET
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
    computed_at = now(), run_id = EXCLUDED.run_id
WHERE (t.new_registrations, t.newly_certified, t.active_merchants, t.listings_created,
       t.requests_created, t.requests_with_match, t.requests_with_deposit, t.matches_created,
       t.orders_created, t.deposits_paid, t.deals_completed, t.orders_cancelled, t.gmv,
       t.fee_amount, t.deposit_held, t.deposit_released, t.deposit_refunded, t.deposit_disputed,
       t.pay_wechat, t.pay_alipay, t.pay_bank)
  IS DISTINCT FROM
      (EXCLUDED.new_registrations, EXCLUDED.newly_certified, EXCLUDED.active_merchants,
       EXCLUDED.listings_created, EXCLUDED.requests_created, EXCLUDED.requests_with_match,
       EXCLUDED.requests_with_deposit, EXCLUDED.matches_created, EXCLUDED.orders_created,
       EXCLUDED.deposits_paid, EXCLUDED.deals_completed, EXCLUDED.orders_cancelled,
       EXCLUDED.gmv, EXCLUDED.fee_amount, EXCLUDED.deposit_held, EXCLUDED.deposit_released,
       EXCLUDED.deposit_refunded, EXCLUDED.deposit_disputed, EXCLUDED.pay_wechat,
       EXCLUDED.pay_alipay, EXCLUDED.pay_bank);


-- step: merge_snapshot
-- Live listings / open requests at the end of each day, first post to today: a post counts
-- from the day it was published until the day its status last changed away from live/open.
WITH moves AS (
    SELECT mart.cn_date(published_at) AS day, 1 AS listings, 0 AS requests
    FROM etl.clean_listings
    UNION ALL
    SELECT mart.cn_date(updated_at) + 1, -1, 0 FROM etl.clean_listings WHERE status <> 'live'
    UNION ALL
    SELECT mart.cn_date(created_at), 0, 1 FROM etl.clean_requests
    UNION ALL
    SELECT mart.cn_date(updated_at) + 1, 0, -1 FROM etl.clean_requests WHERE status <> 'open'
),
per_day AS (
    SELECT day, sum(listings) AS listings, sum(requests) AS requests FROM moves GROUP BY day
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
request_span AS (
    SELECT min(p_from) AS t_from, max(p_to) AS t_to FROM periods WHERE requests
),
first_match AS (
    SELECT mt.request_id, min(mt.created_at) AS matched_at
    FROM etl.clean_matches mt GROUP BY mt.request_id
),
request_times AS MATERIALIZED (
    SELECT mart.cn_date(r.created_at) AS day,
           extract(epoch FROM fm.matched_at - r.created_at) / 3600.0 AS hours_to_match
    FROM etl.clean_requests r CROSS JOIN request_span s
    LEFT JOIN first_match fm ON fm.request_id = r.id
    WHERE r.created_at >= s.t_from AND r.created_at < s.t_to
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
