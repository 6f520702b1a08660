-- Daily KPIs and per-period KPIs (day / week / month).
-- Incremental: every day carrying a timestamp of a batch row is recomputed from all clean
-- rows of that day; a full run stages everything, so the same SQL covers every day.

-- step: prep_days
CREATE TEMP TABLE affected_days ON COMMIT DROP AS
SELECT DISTINCT day FROM (
    SELECT mart.cn_date(registered_at) AS day FROM etl.stg_daily_kpis__merchants
    UNION ALL SELECT mart.cn_date(decided_at) FROM etl.stg_daily_kpis__certifications
    UNION ALL SELECT mart.cn_date(occurred_at) FROM etl.stg_daily_kpis__events
    UNION ALL SELECT mart.cn_date(published_at) FROM etl.stg_daily_kpis__listings
    UNION ALL SELECT mart.cn_date(created_at) FROM etl.stg_daily_kpis__requests
    UNION ALL SELECT mart.cn_date(created_at) FROM etl.stg_daily_kpis__matches
    UNION ALL SELECT mart.cn_date(r.created_at) FROM etl.stg_daily_kpis__matches s
              JOIN app.requests r ON r.id = s.request_id
    UNION ALL SELECT mart.cn_date(t.ts) FROM etl.stg_daily_kpis__orders s
              CROSS JOIN LATERAL (VALUES (s.created_at), (s.deposit_paid_at), (s.completed_at),
                                         (s.cancelled_at)) AS t(ts)
    UNION ALL SELECT mart.cn_date(r.created_at) FROM etl.stg_daily_kpis__orders s
              JOIN app.requests r ON r.id = s.request_id
    UNION ALL SELECT mart.cn_date(paid_at) FROM etl.stg_daily_kpis__payments
) d
WHERE day IS NOT NULL;

-- step: prep_bounds
CREATE TEMP TABLE affected_day_bounds ON COMMIT DROP AS
SELECT day, day::timestamp AT TIME ZONE 'Asia/Shanghai' AS day_from,
       (day + 1)::timestamp AT TIME ZONE 'Asia/Shanghai' AS day_to
FROM affected_days;

-- step: prune
DELETE FROM mart.daily_kpis WHERE :full;

-- step: merge_days
WITH days AS (SELECT * FROM affected_day_bounds),
registrations AS (
    SELECT d.day, count(*) AS n FROM days d
    JOIN etl.clean_merchants m ON m.registered_at >= d.day_from AND m.registered_at < d.day_to
    GROUP BY d.day
),
first_certified AS (
    SELECT merchant_id, min(decided_at) AS certified_at
    FROM etl.clean_certifications WHERE status = 'approved' GROUP BY merchant_id
),
certified AS (
    SELECT d.day, count(*) AS n FROM days d
    JOIN first_certified c ON c.certified_at >= d.day_from AND c.certified_at < d.day_to
    GROUP BY d.day
),
active AS (
    SELECT d.day, count(DISTINCT e.merchant_id) AS n FROM days d
    JOIN etl.clean_events e ON e.occurred_at >= d.day_from AND e.occurred_at < d.day_to
    GROUP BY d.day
),
listings AS (
    SELECT d.day, count(*) AS n FROM days d
    JOIN etl.clean_listings l ON l.published_at >= d.day_from AND l.published_at < d.day_to
    GROUP BY d.day
),
requests AS (
    SELECT d.day, count(*) AS n,
           count(*) FILTER (WHERE EXISTS (SELECT 1 FROM etl.clean_matches mt
                                          WHERE mt.request_id = r.id)) AS with_match,
           count(*) FILTER (WHERE EXISTS (SELECT 1 FROM etl.clean_orders o
                                          WHERE o.request_id = r.id
                                            AND o.deposit_paid_at IS NOT NULL)) AS with_deposit
    FROM days d
    JOIN etl.clean_requests r ON r.created_at >= d.day_from AND r.created_at < d.day_to
    GROUP BY d.day
),
matches AS (
    SELECT d.day, count(*) AS n FROM days d
    JOIN etl.clean_matches mt ON mt.created_at >= d.day_from AND mt.created_at < d.day_to
    GROUP BY d.day
),
orders_created AS (
    SELECT d.day, count(*) AS n FROM days d
    JOIN etl.clean_orders o ON o.created_at >= d.day_from AND o.created_at < d.day_to
    GROUP BY d.day
),
deposits AS (
    SELECT d.day, count(*) AS n,
           sum(o.deposit_amount) FILTER (WHERE o.escrow_state = 'held') AS held,
           sum(o.deposit_amount) FILTER (WHERE o.escrow_state = 'released') AS released,
           sum(o.deposit_amount) FILTER (WHERE o.escrow_state = 'refunded') AS refunded,
           sum(o.deposit_amount) FILTER (WHERE o.escrow_state = 'disputed') AS disputed
    FROM days d
    JOIN etl.clean_orders o ON o.deposit_paid_at >= d.day_from AND o.deposit_paid_at < d.day_to
    GROUP BY d.day
),
deals AS (
    SELECT d.day, count(*) AS n, sum(o.amount) AS gmv, sum(o.fee_amount) AS fees FROM days d
    JOIN etl.clean_orders o ON o.completed_at >= d.day_from AND o.completed_at < d.day_to
    WHERE o.status = 'completed'
    GROUP BY d.day
),
cancelled AS (
    SELECT d.day, count(*) AS n FROM days d
    JOIN etl.clean_orders o ON o.cancelled_at >= d.day_from AND o.cancelled_at < d.day_to
    WHERE o.status = 'cancelled'
    GROUP BY d.day
),
payments AS (
    SELECT d.day,
           sum(p.amount) FILTER (WHERE p.channel = 'wechat') AS wechat,
           sum(p.amount) FILTER (WHERE p.channel = 'alipay') AS alipay,
           sum(p.amount) FILTER (WHERE p.channel = 'bank') AS bank
    FROM days d
    JOIN etl.clean_payments p ON p.paid_at >= d.day_from AND p.paid_at < d.day_to
    WHERE p.status = 'succeeded' AND p.kind IN ('deposit', 'balance')
    GROUP BY d.day
),
final AS (
    SELECT d.day,
           coalesce(rg.n, 0) AS new_registrations, coalesce(ce.n, 0) AS newly_certified,
           coalesce(ac.n, 0) AS active_merchants, coalesce(li.n, 0) AS listings_created,
           coalesce(rq.n, 0) AS requests_created, coalesce(rq.with_match, 0) AS requests_with_match,
           coalesce(rq.with_deposit, 0) AS requests_with_deposit,
           coalesce(mt.n, 0) AS matches_created, coalesce(oc.n, 0) AS orders_created,
           coalesce(dp.n, 0) AS deposits_paid, coalesce(dl.n, 0) AS deals_completed,
           coalesce(ca.n, 0) AS orders_cancelled, coalesce(dl.gmv, 0) AS gmv,
           coalesce(dl.fees, 0) AS fee_amount, coalesce(dp.held, 0) AS deposit_held,
           coalesce(dp.released, 0) AS deposit_released, coalesce(dp.refunded, 0) AS deposit_refunded,
           coalesce(dp.disputed, 0) AS deposit_disputed, coalesce(pa.wechat, 0) AS pay_wechat,
           coalesce(pa.alipay, 0) AS pay_alipay, coalesce(pa.bank, 0) AS pay_bank
    FROM days d
    LEFT JOIN registrations rg USING (day) LEFT JOIN certified ce USING (day)
    LEFT JOIN active ac USING (day) LEFT JOIN listings li USING (day)
    LEFT JOIN requests rq USING (day) LEFT JOIN matches mt USING (day)
    LEFT JOIN orders_created oc USING (day) LEFT JOIN deposits dp USING (day)
    LEFT JOIN deals dl USING (day) LEFT JOIN cancelled ca USING (day)
    LEFT JOIN payments pa USING (day)
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
WITH periods AS (
    SELECT DISTINCT grain, period_start,
           period_start::timestamp AT TIME ZONE 'Asia/Shanghai' AS p_from,
           (period_start + CASE grain WHEN 'day' THEN interval '1 day'
                                      WHEN 'week' THEN interval '7 days'
                                      ELSE interval '1 month' END)::timestamp
               AT TIME ZONE 'Asia/Shanghai' AS p_to
    FROM affected_days d
    CROSS JOIN LATERAL (VALUES ('day', d.day),
                               ('week', date_trunc('week', d.day)::date),
                               ('month', date_trunc('month', d.day)::date)) AS g(grain, period_start)
),
active AS (
    SELECT p.grain, p.period_start, count(DISTINCT e.merchant_id) AS n
    FROM periods p JOIN etl.clean_events e ON e.occurred_at >= p.p_from AND e.occurred_at < p.p_to
    GROUP BY p.grain, p.period_start
),
first_match AS (
    SELECT mt.request_id, min(mt.created_at) AS matched_at
    FROM etl.clean_matches mt GROUP BY mt.request_id
),
requests AS (
    SELECT p.grain, p.period_start, count(*) AS created, count(fm.matched_at) AS matched,
           percentile_cont(0.5) WITHIN GROUP (
               ORDER BY extract(epoch FROM fm.matched_at - r.created_at) / 3600.0)
               FILTER (WHERE fm.matched_at IS NOT NULL) AS median_hours
    FROM periods p
    JOIN etl.clean_requests r ON r.created_at >= p.p_from AND r.created_at < p.p_to
    LEFT JOIN first_match fm ON fm.request_id = r.id
    GROUP BY p.grain, p.period_start
),
final AS (
    SELECT p.grain, p.period_start, coalesce(a.n, 0) AS active_merchants,
           coalesce(r.created, 0) AS requests_created, coalesce(r.matched, 0) AS requests_matched,
           round(r.median_hours::numeric, 2) AS median_hours_to_match
    FROM periods p
    LEFT JOIN active a USING (grain, period_start)
    LEFT JOIN requests r USING (grain, period_start)
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
