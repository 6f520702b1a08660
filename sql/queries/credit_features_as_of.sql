-- The scorecard's features of every merchant AS OF a past date, rebuilt from the marketplace's
-- history (the same definitions as sql/etl/merchant_features.sql, but every event counted
-- only if it happened before the date), and what happened to it in the window after.
--
-- Why: a development or validation sample must see a merchant as a scoring run on that date
-- would have seen it. Bad events before the date are inputs (deposit_defaults,
-- disputes_lost, …); the label is a bad event strictly after the date and within
-- :window_days days: a deposit default (the buyer walked away after paying a deposit), a
-- dispute lost, a loan default (etl.loan_defaults, migration 102: an order loan of fin.loans
-- 90+ days past due, dated the start of its default day, or an older loan record closed as
-- defaulted). A loan only counts through its default: one disbursed after the date has no
-- default before it, so it changes no feature.
-- tests/test_credit_pit.py holds these features equal to the mart's as of today.
-- Parameters: :as_of (date, Shanghai), :window_days.

WITH params AS (
    SELECT CAST(:as_of AS date) AS as_of,
           CAST(:as_of AS date)::timestamp AT TIME ZONE 'Asia/Shanghai' AS ts,
           (CAST(:as_of AS date) + CAST(:window_days AS integer))::timestamp
               AT TIME ZONE 'Asia/Shanghai' AS window_end
),
merchants AS (
    SELECT m.id, m.registered_at
    FROM etl.clean_merchants m CROSS JOIN params p
    WHERE m.registered_at < p.ts
),
certs AS (
    SELECT c.merchant_id,
           CASE WHEN bool_or(c.kind = 'enterprise') THEN 'enterprise' ELSE 'personal' END AS cert_level
    FROM etl.clean_certifications c CROSS JOIN params p
    WHERE c.status = 'approved' AND c.decided_at < p.ts
    GROUP BY c.merchant_id
),
order_sides AS (
    SELECT o.*, o.buyer_id AS merchant_id, 'buyer' AS side FROM etl.clean_orders o
    UNION ALL
    SELECT o.*, o.seller_id, 'seller' FROM etl.clean_orders o
),
deals AS (
    SELECT os.merchant_id,
           count(*) FILTER (WHERE os.completed_at < p.ts
                              AND os.completed_at >= p.ts - interval '12 months') AS deals_12m,
           coalesce(sum(os.amount) FILTER (WHERE os.completed_at < p.ts
                              AND os.completed_at >= p.ts - interval '12 months'), 0) AS gmv_12m,
           coalesce(sum(os.amount) FILTER (WHERE os.side = 'buyer' AND os.completed_at < p.ts
                              AND os.completed_at >= p.ts - interval '12 months'), 0) AS purchases_12m,
           count(*) FILTER (WHERE os.completed_at < p.ts) AS deals_total,
           count(*) FILTER (WHERE os.side = 'buyer' AND os.cancelled_by = 'buyer'
                              AND os.deposit_paid_at IS NOT NULL AND os.cancelled_at < p.ts)
               AS deposit_defaults,
           min(os.cancelled_at) FILTER (WHERE os.side = 'buyer' AND os.cancelled_by = 'buyer'
                              AND os.deposit_paid_at IS NOT NULL AND os.cancelled_at >= p.ts
                              AND os.cancelled_at < p.window_end) AS next_deposit_default_at,
           count(*) FILTER (WHERE os.cancelled_by = os.side AND os.cancelled_at < p.ts)
               AS cancellations
    FROM order_sides os CROSS JOIN params p
    WHERE os.status IN ('completed', 'cancelled')
    GROUP BY os.merchant_id
),
late AS (
    SELECT o.buyer_id AS merchant_id, count(*) AS late_payments
    FROM etl.clean_payments pa
    JOIN etl.clean_orders o ON o.id = pa.order_id
    CROSS JOIN params p
    WHERE pa.kind IN ('deposit', 'balance') AND pa.due_at IS NOT NULL AND pa.due_at < p.ts
      AND (pa.paid_at IS NULL OR pa.paid_at > pa.due_at)
      AND pa.created_at < p.ts
    GROUP BY o.buyer_id
),
dispute_sides AS (
    SELECT d.raised_by AS merchant_id, true AS raised, d.outcome = 'against_won' AS lost,
           d.created_at, d.resolved_at
    FROM etl.clean_disputes d
    UNION ALL
    SELECT d.against_id, false, d.outcome = 'raiser_won', d.created_at, d.resolved_at
    FROM etl.clean_disputes d
),
disputes AS (
    SELECT ds.merchant_id,
           count(*) FILTER (WHERE ds.raised AND ds.created_at < p.ts) AS disputes_raised,
           count(*) FILTER (WHERE ds.lost AND ds.resolved_at < p.ts) AS disputes_lost,
           min(ds.resolved_at) FILTER (WHERE ds.lost AND ds.resolved_at >= p.ts
                                         AND ds.resolved_at < p.window_end) AS next_dispute_lost_at
    FROM dispute_sides ds CROSS JOIN params p
    GROUP BY ds.merchant_id
),
reviews AS (
    SELECT rv.target_merchant_id AS merchant_id, round(avg(rv.stars), 2) AS avg_stars,
           count(*) AS review_count
    FROM etl.clean_reviews rv CROSS JOIN params p
    WHERE rv.created_at < p.ts
    GROUP BY rv.target_merchant_id
),
loans AS (
    SELECT ld.merchant_id,
           count(*) FILTER (WHERE ld.at < p.ts) AS loan_defaults,
           min(ld.at) FILTER (WHERE ld.at >= p.ts AND ld.at < p.window_end)
               AS next_loan_default_at,
           min(ld.at) FILTER (WHERE ld.kind = 'order_loan' AND ld.at >= p.ts
                                AND ld.at < p.window_end) AS next_order_loan_default_at
    FROM etl.loan_defaults ld CROSS JOIN params p
    GROUP BY ld.merchant_id
),
activity AS (
    SELECT e.merchant_id, max(e.occurred_at) AS last_active_at
    FROM etl.clean_events e CROSS JOIN params p
    WHERE e.occurred_at < p.ts
    GROUP BY e.merchant_id
)
SELECT m.id AS merchant_id, p.as_of AS as_of_date,
       coalesce(c.cert_level, 'none') AS cert_level,
       greatest(0, ((extract(year FROM p.as_of) - extract(year FROM mart.cn_date(m.registered_at))) * 12
             + extract(month FROM p.as_of) - extract(month FROM mart.cn_date(m.registered_at))))::integer
           AS months_on_platform,
       coalesce(d.deals_12m, 0)::integer AS deals_12m, coalesce(d.gmv_12m, 0) AS gmv_12m,
       coalesce(d.purchases_12m, 0) AS purchases_12m,
       coalesce(d.deals_total, 0)::integer AS deals_total,
       coalesce(d.deposit_defaults, 0)::integer AS deposit_defaults,
       coalesce(lt.late_payments, 0)::integer AS late_payments,
       coalesce(d.cancellations, 0)::integer AS cancellations,
       coalesce(ds.disputes_raised, 0)::integer AS disputes_raised,
       coalesce(ds.disputes_lost, 0)::integer AS disputes_lost,
       rv.avg_stars, coalesce(rv.review_count, 0)::integer AS review_count,
       coalesce(lo.loan_defaults, 0)::integer AS loan_defaults,
       (p.as_of - mart.cn_date(a.last_active_at))::integer AS days_since_active,
       -- the outcome after the date
       d.next_deposit_default_at, ds.next_dispute_lost_at, lo.next_loan_default_at,
       lo.next_order_loan_default_at,
       (d.next_deposit_default_at IS NOT NULL OR ds.next_dispute_lost_at IS NOT NULL
        OR lo.next_loan_default_at IS NOT NULL)::int AS bad
FROM merchants m CROSS JOIN params p
LEFT JOIN certs c ON c.merchant_id = m.id
LEFT JOIN deals d ON d.merchant_id = m.id
LEFT JOIN late lt ON lt.merchant_id = m.id
LEFT JOIN disputes ds ON ds.merchant_id = m.id
LEFT JOIN reviews rv ON rv.merchant_id = m.id
LEFT JOIN loans lo ON lo.merchant_id = m.id
LEFT JOIN activity a ON a.merchant_id = m.id
ORDER BY m.id
