-- Funnel facts: per merchant, the time of each funnel step.
-- Incremental: recompute every merchant touched by the batch, from all of its (clean) rows.

-- step: prep_affected
CREATE TEMP TABLE affected_merchants ON COMMIT DROP AS
WITH changed AS (
    SELECT id AS merchant_id FROM etl.stg_funnel_facts__merchants
    UNION SELECT merchant_id FROM etl.stg_funnel_facts__certifications
    UNION SELECT merchant_id FROM etl.stg_funnel_facts__listings
    UNION SELECT merchant_id FROM etl.stg_funnel_facts__requests
    UNION SELECT buyer_id FROM etl.stg_funnel_facts__orders
    UNION SELECT seller_id FROM etl.stg_funnel_facts__orders
    UNION SELECT r.merchant_id FROM etl.stg_funnel_facts__matches mt
          JOIN app.requests r ON r.id = mt.request_id
    UNION SELECT l.merchant_id FROM etl.stg_funnel_facts__matches mt
          JOIN app.listings l ON l.id = mt.listing_id
)
SELECT merchant_id FROM changed WHERE merchant_id IS NOT NULL AND NOT :full
UNION ALL
SELECT id FROM app.merchants WHERE :full;

-- step: prune
-- Merchants gone from the clean source (quarantined, or deleted on a full rebuild).
DELETE FROM mart.funnel_facts f
WHERE (:full OR f.merchant_id IN (SELECT merchant_id FROM affected_merchants))
  AND NOT EXISTS (SELECT 1 FROM etl.clean_merchants m WHERE m.id = f.merchant_id);

-- step: merge
WITH merchants AS (
    SELECT m.* FROM etl.clean_merchants m
    WHERE m.id IN (SELECT merchant_id FROM affected_merchants)
),
certs AS (
    SELECT c.merchant_id,
           min(c.submitted_at) AS cert_submitted_at,
           min(c.decided_at) FILTER (WHERE c.status = 'approved') AS certified_at
    FROM etl.clean_certifications c JOIN merchants m ON m.id = c.merchant_id
    GROUP BY c.merchant_id
),
listings AS (
    SELECT l.merchant_id, min(l.published_at) AS first_listing_at
    FROM etl.clean_listings l JOIN merchants m ON m.id = l.merchant_id
    GROUP BY l.merchant_id
),
requests AS (
    SELECT r.merchant_id, min(r.created_at) AS first_request_at
    FROM etl.clean_requests r JOIN merchants m ON m.id = r.merchant_id
    GROUP BY r.merchant_id
),
match_sides AS (
    SELECT r.merchant_id, mt.created_at
    FROM etl.clean_matches mt JOIN etl.clean_requests r ON r.id = mt.request_id
    WHERE r.merchant_id IN (SELECT id FROM merchants)
    UNION ALL
    SELECT l.merchant_id, mt.created_at
    FROM etl.clean_matches mt JOIN etl.clean_listings l ON l.id = mt.listing_id
    WHERE l.merchant_id IN (SELECT id FROM merchants)
),
matches AS (
    SELECT merchant_id, min(created_at) AS first_match_at FROM match_sides GROUP BY merchant_id
),
order_sides AS (
    SELECT o.buyer_id AS merchant_id, o.deposit_paid_at, o.completed_at, o.status
    FROM etl.clean_orders o WHERE o.buyer_id IN (SELECT id FROM merchants)
    UNION ALL
    SELECT o.seller_id, o.deposit_paid_at, o.completed_at, o.status
    FROM etl.clean_orders o WHERE o.seller_id IN (SELECT id FROM merchants)
),
orders AS (
    SELECT merchant_id,
           -- A deal paid in full without escrow (the stock desk's sale, issue 21) passes the
           -- payment step when it completes: no funnel has more deals than payers.
           min(CASE WHEN deposit_paid_at IS NOT NULL THEN deposit_paid_at
                    WHEN status = 'completed' THEN completed_at END) AS first_deposit_at,
           min(completed_at) FILTER (WHERE status = 'completed') AS first_deal_at
    FROM order_sides GROUP BY merchant_id
),
final AS (
    SELECT m.id AS merchant_id, m.name AS merchant_name, m.registered_at, mart.cn_month(m.registered_at) AS cohort_month,
           m.channel, m.merchant_type, m.size_class, m.city_id, ci.province, ci.tier_level,
           ci.tier_name, m.bd_owner_id, c.cert_submitted_at, c.certified_at,
           l.first_listing_at, r.first_request_at,
           CASE WHEN l.first_listing_at IS NULL THEN r.first_request_at
                WHEN r.first_request_at IS NULL THEN l.first_listing_at
                ELSE least(l.first_listing_at, r.first_request_at) END AS first_post_at,
           mt.first_match_at, o.first_deposit_at, o.first_deal_at
    FROM merchants m
    LEFT JOIN app.cities ci ON ci.id = m.city_id
    LEFT JOIN certs c ON c.merchant_id = m.id
    LEFT JOIN listings l ON l.merchant_id = m.id
    LEFT JOIN requests r ON r.merchant_id = m.id
    LEFT JOIN matches mt ON mt.merchant_id = m.id
    LEFT JOIN orders o ON o.merchant_id = m.id
)
INSERT INTO mart.funnel_facts AS t
    (merchant_id, merchant_name, registered_at, cohort_month, channel, merchant_type, size_class, city_id,
     province, tier_level, tier_name, bd_owner_id, cert_submitted_at, certified_at,
     first_listing_at, first_request_at, first_post_at, first_match_at, first_deposit_at,
     first_deal_at, computed_at, run_id)
SELECT merchant_id, merchant_name, registered_at, cohort_month, channel, merchant_type, size_class, city_id,
       province, tier_level, tier_name, bd_owner_id, cert_submitted_at, certified_at,
       first_listing_at, first_request_at, first_post_at, first_match_at, first_deposit_at,
       first_deal_at, now(), :run_id
FROM final
ON CONFLICT (merchant_id) DO UPDATE SET
    merchant_name = EXCLUDED.merchant_name,
    registered_at = EXCLUDED.registered_at, cohort_month = EXCLUDED.cohort_month,
    channel = EXCLUDED.channel, merchant_type = EXCLUDED.merchant_type,
    size_class = EXCLUDED.size_class, city_id = EXCLUDED.city_id,
    province = EXCLUDED.province, tier_level = EXCLUDED.tier_level,
    tier_name = EXCLUDED.tier_name, bd_owner_id = EXCLUDED.bd_owner_id,
    cert_submitted_at = EXCLUDED.cert_submitted_at, certified_at = EXCLUDED.certified_at,
    first_listing_at = EXCLUDED.first_listing_at, first_request_at = EXCLUDED.first_request_at,
    first_post_at = EXCLUDED.first_post_at, first_match_at = EXCLUDED.first_match_at,
    first_deposit_at = EXCLUDED.first_deposit_at, first_deal_at = EXCLUDED.first_deal_at,
    computed_at = now(), run_id = EXCLUDED.run_id
WHERE (t.merchant_name, t.registered_at, t.channel, t.merchant_type, t.size_class, t.city_id, t.province,
       t.tier_level, t.tier_name, t.bd_owner_id, t.cert_submitted_at, t.certified_at,
       t.first_listing_at, t.first_request_at, t.first_match_at, t.first_deposit_at,
       t.first_deal_at)
  IS DISTINCT FROM
      (EXCLUDED.merchant_name, EXCLUDED.registered_at, EXCLUDED.channel, EXCLUDED.merchant_type, EXCLUDED.size_class,
       EXCLUDED.city_id, EXCLUDED.province, EXCLUDED.tier_level, EXCLUDED.tier_name,
       EXCLUDED.bd_owner_id, EXCLUDED.cert_submitted_at, EXCLUDED.certified_at,
       EXCLUDED.first_listing_at, EXCLUDED.first_request_at, EXCLUDED.first_match_at,
       EXCLUDED.first_deposit_at, EXCLUDED.first_deal_at);
