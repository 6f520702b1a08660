-- Merchant features for the credit rating, as of today (Shanghai). Windows are bounded below
-- by the as-of date only, so a re-run on the same day gives the same rows. When the date
-- moves on, every merchant is recomputed; otherwise only those the batch touched.
--
-- Outcomes: a loan default is a borrower's order loan 90+ days past due (fin.loans.default_at,
-- which the nightly accrual sets) or an older loan record closed as defaulted
-- (app.loan_applications), both read through etl.loan_defaults (migration 102).

-- step: prep_affected
CREATE TEMP TABLE affected_merchants ON COMMIT DROP AS
WITH stale AS (
    SELECT EXISTS (SELECT 1 FROM mart.merchant_features
                   WHERE as_of_date <> mart.cn_date(now())) AS all_merchants
),
changed AS (
    SELECT id AS merchant_id FROM etl.stg_merchant_features__merchants
    UNION SELECT buyer_id FROM etl.stg_merchant_features__orders
    UNION SELECT seller_id FROM etl.stg_merchant_features__orders
    UNION SELECT o.buyer_id FROM etl.stg_merchant_features__payments p
          JOIN app.orders o ON o.id = p.order_id
    UNION SELECT raised_by FROM etl.stg_merchant_features__disputes
    UNION SELECT against_id FROM etl.stg_merchant_features__disputes
    UNION SELECT target_merchant_id FROM etl.stg_merchant_features__reviews
    UNION SELECT merchant_id FROM etl.stg_merchant_features__loan_applications
    -- A loan changes the mart only through its default: the nightly accrual rewrites every
    -- open loan, and only a defaulted one's borrower needs recomputing.
    UNION SELECT merchant_id FROM etl.stg_merchant_features__loans WHERE default_at IS NOT NULL
    UNION SELECT merchant_id FROM etl.stg_merchant_features__listing_flags
    -- Listings and requests count here only through their matches (match_sides): one
    -- without a match changes no feature, and most changed posts have none.
    UNION SELECT l.merchant_id FROM etl.stg_merchant_features__listings l
          WHERE EXISTS (SELECT 1 FROM ops.matches mt WHERE mt.listing_id = l.id)
    UNION SELECT r.merchant_id FROM etl.stg_merchant_features__requests r
          WHERE EXISTS (SELECT 1 FROM ops.matches mt WHERE mt.request_id = r.id)
    UNION SELECT r.merchant_id FROM etl.stg_merchant_features__matches mt
          JOIN app.requests r ON r.id = mt.request_id
    UNION SELECT l.merchant_id FROM etl.stg_merchant_features__matches mt
          JOIN app.listings l ON l.id = mt.listing_id
)
SELECT merchant_id FROM changed
WHERE merchant_id IS NOT NULL AND NOT :full AND NOT (SELECT all_merchants FROM stale)
UNION
SELECT id FROM app.merchants WHERE :full OR (SELECT all_merchants FROM stale);

-- step: prune
DELETE FROM mart.merchant_features f
WHERE (:full OR f.merchant_id IN (SELECT merchant_id FROM affected_merchants))
  AND NOT EXISTS (SELECT 1 FROM etl.clean_merchants m WHERE m.id = f.merchant_id);

-- step: merge
WITH params AS (
    SELECT mart.cn_date(now()) AS as_of,
           mart.cn_date(now())::timestamp AT TIME ZONE 'Asia/Shanghai' AS as_of_ts
),
merchants AS (
    SELECT m.* FROM etl.clean_merchants m
    WHERE m.id IN (SELECT merchant_id FROM affected_merchants)
),
order_sides AS (
    SELECT o.*, o.buyer_id AS merchant_id, 'buyer' AS side FROM etl.clean_orders o
    WHERE o.buyer_id IN (SELECT id FROM merchants)
    UNION ALL
    SELECT o.*, o.seller_id, 'seller' FROM etl.clean_orders o
    WHERE o.seller_id IN (SELECT id FROM merchants)
),
deals AS (
    SELECT os.merchant_id,
           count(*) FILTER (WHERE os.status = 'completed'
                              AND os.completed_at >= p.as_of_ts - interval '12 months') AS deals_12m,
           coalesce(sum(os.amount) FILTER (WHERE os.status = 'completed'
                              AND os.completed_at >= p.as_of_ts - interval '12 months'), 0) AS gmv_12m,
           count(*) FILTER (WHERE os.status = 'completed') AS deals_total,
           count(*) FILTER (WHERE os.side = 'buyer' AND os.status = 'cancelled'
                              AND os.cancelled_by = 'buyer'
                              AND os.deposit_paid_at IS NOT NULL) AS deposit_defaults,
           min(os.cancelled_at) FILTER (WHERE os.side = 'buyer' AND os.status = 'cancelled'
                              AND os.cancelled_by = 'buyer'
                              AND os.deposit_paid_at IS NOT NULL) AS first_deposit_default_at,
           count(*) FILTER (WHERE os.status = 'cancelled' AND os.cancelled_by = os.side) AS cancellations
    FROM order_sides os CROSS JOIN params p
    GROUP BY os.merchant_id
),
late AS (
    SELECT o.buyer_id AS merchant_id, count(*) AS late_payments
    FROM etl.clean_payments pa
    JOIN etl.clean_orders o ON o.id = pa.order_id
    CROSS JOIN params p
    WHERE o.buyer_id IN (SELECT id FROM merchants)
      AND pa.kind IN ('deposit', 'balance') AND pa.due_at IS NOT NULL
      AND (pa.paid_at > pa.due_at OR (pa.paid_at IS NULL AND pa.due_at < p.as_of_ts))
    GROUP BY o.buyer_id
),
dispute_sides AS (
    SELECT d.raised_by AS merchant_id, true AS raised, d.outcome = 'against_won' AS lost,
           d.resolved_at
    FROM etl.clean_disputes d WHERE d.raised_by IN (SELECT id FROM merchants)
    UNION ALL
    SELECT d.against_id, false, d.outcome = 'raiser_won', d.resolved_at
    FROM etl.clean_disputes d WHERE d.against_id IN (SELECT id FROM merchants)
),
disputes AS (
    SELECT ds.merchant_id,
           count(*) FILTER (WHERE ds.raised) AS disputes_raised,
           count(*) FILTER (WHERE ds.lost) AS disputes_lost,
           min(ds.resolved_at) FILTER (WHERE ds.lost) AS first_dispute_lost_at,
           bool_or(ds.lost AND ds.resolved_at >= p.as_of_ts - interval '6 months') AS lost_6m
    FROM dispute_sides ds CROSS JOIN params p
    GROUP BY ds.merchant_id
),
reviews AS (
    SELECT rv.target_merchant_id AS merchant_id, round(avg(rv.stars), 2) AS avg_stars,
           count(*) AS review_count
    FROM etl.clean_reviews rv WHERE rv.target_merchant_id IN (SELECT id FROM merchants)
    GROUP BY rv.target_merchant_id
),
fakes AS (
    SELECT f.merchant_id, count(DISTINCT f.listing_id) AS fake_listings_confirmed
    FROM etl.clean_listing_flags f
    WHERE f.status = 'confirmed' AND f.merchant_id IN (SELECT id FROM merchants)
    GROUP BY f.merchant_id
),
loans AS (
    SELECT ld.merchant_id, min(ld.at) AS first_loan_default_at
    FROM etl.loan_defaults ld
    WHERE ld.merchant_id IN (SELECT id FROM merchants)
    GROUP BY ld.merchant_id
),
match_sides AS (
    SELECT r.merchant_id, mt.id AS match_id, mt.created_at
    FROM etl.clean_matches mt JOIN etl.clean_requests r ON r.id = mt.request_id
    WHERE r.merchant_id IN (SELECT id FROM merchants)
    UNION ALL
    SELECT l.merchant_id, mt.id, mt.created_at
    FROM etl.clean_matches mt JOIN etl.clean_listings l ON l.id = mt.listing_id
    WHERE l.merchant_id IN (SELECT id FROM merchants)
),
first_moves AS (
    SELECT h.match_id, min(h.at) AS moved_at
    FROM ops.match_stage_history h
    WHERE h.from_stage IS NOT NULL AND h.match_id IN (SELECT match_id FROM match_sides)
    GROUP BY h.match_id
),
responses AS (
    SELECT ms.merchant_id, count(*) AS matches_total,
           round((percentile_cont(0.5) WITHIN GROUP (
               ORDER BY extract(epoch FROM fm.moved_at - ms.created_at) / 3600.0)
               FILTER (WHERE fm.moved_at IS NOT NULL))::numeric, 2) AS median_response_hours
    FROM match_sides ms LEFT JOIN first_moves fm ON fm.match_id = ms.match_id
    GROUP BY ms.merchant_id
),
final AS (
    SELECT m.id AS merchant_id, p.as_of AS as_of_date, m.cert_level, m.merchant_type,
           m.size_class, m.status AS merchant_status, ci.tier_level, m.registered_at,
           greatest(0, ((extract(year FROM p.as_of) - extract(year FROM mart.cn_date(m.registered_at))) * 12
                 + extract(month FROM p.as_of) - extract(month FROM mart.cn_date(m.registered_at))))::integer
               AS months_on_platform,
           coalesce(d.deals_12m, 0)::integer AS deals_12m, coalesce(d.gmv_12m, 0) AS gmv_12m,
           coalesce(d.deals_total, 0)::integer AS deals_total,
           coalesce(d.deposit_defaults, 0)::integer AS deposit_defaults,
           coalesce(lt.late_payments, 0)::integer AS late_payments,
           coalesce(d.cancellations, 0)::integer AS cancellations,
           coalesce(ds.disputes_raised, 0)::integer AS disputes_raised,
           coalesce(ds.disputes_lost, 0)::integer AS disputes_lost,
           rv.avg_stars, coalesce(rv.review_count, 0)::integer AS review_count,
           coalesce(fk.fake_listings_confirmed, 0)::integer AS fake_listings_confirmed,
           coalesce(rs.matches_total, 0)::integer AS matches_total, rs.median_response_hours,
           m.last_active_at,
           (p.as_of - mart.cn_date(m.last_active_at))::integer AS days_since_active,
           d.first_deposit_default_at IS NOT NULL AS outcome_deposit_default,
           lo.first_loan_default_at IS NOT NULL AS outcome_loan_default,
           coalesce(ds.lost_6m, false) AS outcome_dispute_lost_6m,
           d.first_deposit_default_at, lo.first_loan_default_at, ds.first_dispute_lost_at
    FROM merchants m CROSS JOIN params p
    LEFT JOIN app.cities ci ON ci.id = m.city_id
    LEFT JOIN deals d ON d.merchant_id = m.id
    LEFT JOIN late lt ON lt.merchant_id = m.id
    LEFT JOIN disputes ds ON ds.merchant_id = m.id
    LEFT JOIN reviews rv ON rv.merchant_id = m.id
    LEFT JOIN fakes fk ON fk.merchant_id = m.id
    LEFT JOIN loans lo ON lo.merchant_id = m.id
    LEFT JOIN responses rs ON rs.merchant_id = m.id
)
INSERT INTO mart.merchant_features AS t
    (merchant_id, as_of_date, cert_level, merchant_type, size_class, merchant_status, tier_level,
     registered_at, months_on_platform, deals_12m, gmv_12m, deals_total, deposit_defaults,
     late_payments, cancellations, disputes_raised, disputes_lost, avg_stars, review_count,
     fake_listings_confirmed, matches_total, median_response_hours, last_active_at,
     days_since_active, outcome_deposit_default, outcome_loan_default, outcome_dispute_lost_6m,
     first_deposit_default_at, first_loan_default_at, first_dispute_lost_at, computed_at, run_id)
SELECT merchant_id, as_of_date, cert_level, merchant_type, size_class, merchant_status, tier_level,
       registered_at, months_on_platform, deals_12m, gmv_12m, deals_total, deposit_defaults,
       late_payments, cancellations, disputes_raised, disputes_lost, avg_stars, review_count,
       fake_listings_confirmed, matches_total, median_response_hours, last_active_at,
       days_since_active, outcome_deposit_default, outcome_loan_default, outcome_dispute_lost_6m,
       first_deposit_default_at, first_loan_default_at, first_dispute_lost_at, now(), :run_id
FROM final
ON CONFLICT (merchant_id) DO UPDATE SET
    as_of_date = EXCLUDED.as_of_date, cert_level = EXCLUDED.cert_level,
    merchant_type = EXCLUDED.merchant_type, size_class = EXCLUDED.size_class,
    merchant_status = EXCLUDED.merchant_status, tier_level = EXCLUDED.tier_level,
    registered_at = EXCLUDED.registered_at, months_on_platform = EXCLUDED.months_on_platform,
    deals_12m = EXCLUDED.deals_12m, gmv_12m = EXCLUDED.gmv_12m,
    deals_total = EXCLUDED.deals_total, deposit_defaults = EXCLUDED.deposit_defaults,
    late_payments = EXCLUDED.late_payments, cancellations = EXCLUDED.cancellations,
    disputes_raised = EXCLUDED.disputes_raised, disputes_lost = EXCLUDED.disputes_lost,
    avg_stars = EXCLUDED.avg_stars, review_count = EXCLUDED.review_count,
    fake_listings_confirmed = EXCLUDED.fake_listings_confirmed,
    matches_total = EXCLUDED.matches_total,
    median_response_hours = EXCLUDED.median_response_hours,
    last_active_at = EXCLUDED.last_active_at, days_since_active = EXCLUDED.days_since_active,
    outcome_deposit_default = EXCLUDED.outcome_deposit_default,
    outcome_loan_default = EXCLUDED.outcome_loan_default,
    outcome_dispute_lost_6m = EXCLUDED.outcome_dispute_lost_6m,
    first_deposit_default_at = EXCLUDED.first_deposit_default_at,
    first_loan_default_at = EXCLUDED.first_loan_default_at,
    first_dispute_lost_at = EXCLUDED.first_dispute_lost_at,
    computed_at = now(), run_id = EXCLUDED.run_id
WHERE (t.as_of_date, t.cert_level, t.merchant_type, t.size_class, t.merchant_status,
       t.tier_level, t.registered_at, t.months_on_platform, t.deals_12m, t.gmv_12m,
       t.deals_total, t.deposit_defaults, t.late_payments, t.cancellations, t.disputes_raised,
       t.disputes_lost, t.avg_stars, t.review_count, t.fake_listings_confirmed,
       t.matches_total, t.median_response_hours, t.last_active_at, t.days_since_active,
       t.outcome_deposit_default, t.outcome_loan_default, t.outcome_dispute_lost_6m,
       t.first_deposit_default_at, t.first_loan_default_at, t.first_dispute_lost_at)
  IS DISTINCT FROM
      (EXCLUDED.as_of_date, EXCLUDED.cert_level, EXCLUDED.merchant_type, EXCLUDED.size_class,
       EXCLUDED.merchant_status, EXCLUDED.tier_level, EXCLUDED.registered_at,
       EXCLUDED.months_on_platform, EXCLUDED.deals_12m, EXCLUDED.gmv_12m,
       EXCLUDED.deals_total, EXCLUDED.deposit_defaults, EXCLUDED.late_payments,
       EXCLUDED.cancellations, EXCLUDED.disputes_raised, EXCLUDED.disputes_lost,
       EXCLUDED.avg_stars, EXCLUDED.review_count, EXCLUDED.fake_listings_confirmed,
       EXCLUDED.matches_total, EXCLUDED.median_response_hours, EXCLUDED.last_active_at,
       EXCLUDED.days_since_active, EXCLUDED.outcome_deposit_default,
       EXCLUDED.outcome_loan_default, EXCLUDED.outcome_dispute_lost_6m,
       EXCLUDED.first_deposit_default_at, EXCLUDED.first_loan_default_at,
       EXCLUDED.first_dispute_lost_at);
