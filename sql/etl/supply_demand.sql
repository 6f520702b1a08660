-- Supply/demand balance: live listings against open requests by brand × city tier ×
-- merchant type. A snapshot of "now", small enough to recompute whole on every run.
-- Two counts of each side (issue 15): every live listing / open request (live_listings, …),
-- and the ones matching can use (matchable_*): of an active merchant (a suspended or closed
-- merchant's posts leave matching, app.matchable_listings / app.matchable_requests) and, for
-- a request, not past its needed-by date (Shanghai today). The growth page, its milestone and
-- the home page count the matchable ones; the totals go in the tooltip.

-- step: prep_snapshot
CREATE TEMP TABLE sd_snapshot ON COMMIT DROP AS
WITH supply AS (
    SELECT se.brand_id, ci.tier_level, m.merchant_type,
           count(*) AS live_listings, sum(l.quantity) AS listing_units,
           count(*) FILTER (WHERE am.status = 'active') AS matchable_listings,
           coalesce(sum(l.quantity) FILTER (WHERE am.status = 'active'), 0) AS matchable_listing_units
    FROM etl.clean_listings l
    JOIN app.trims tr ON tr.id = l.trim_id
    JOIN app.series se ON se.id = tr.series_id
    JOIN app.cities ci ON ci.id = l.city_id
    JOIN etl.clean_merchants m ON m.id = l.merchant_id
    JOIN app.merchants am ON am.id = l.merchant_id     -- its status now
    WHERE l.status = 'live'
    GROUP BY 1, 2, 3
),
demand AS (
    SELECT se.brand_id, ci.tier_level, m.merchant_type,
           count(*) AS open_requests, sum(r.quantity) AS request_units,
           count(*) FILTER (WHERE am.status = 'active' AND r.needed_by >= mart.cn_date(now()))
               AS matchable_requests,
           coalesce(sum(r.quantity) FILTER (WHERE am.status = 'active'
                                              AND r.needed_by >= mart.cn_date(now())), 0)
               AS matchable_request_units
    FROM etl.clean_requests r
    JOIN app.series se ON se.id = r.series_id
    JOIN app.cities ci ON ci.id = r.city_id
    JOIN etl.clean_merchants m ON m.id = r.merchant_id
    JOIN app.merchants am ON am.id = r.merchant_id
    WHERE r.status = 'open'
    GROUP BY 1, 2, 3
),
tiers AS (
    SELECT tier_level, min(tier_name) AS tier_name FROM app.cities GROUP BY tier_level
)
SELECT k.brand_id, k.tier_level, k.merchant_type, b.name AS brand_name, t.tier_name,
       coalesce(s.live_listings, 0)::integer AS live_listings,
       coalesce(s.listing_units, 0)::integer AS listing_units,
       coalesce(d.open_requests, 0)::integer AS open_requests,
       coalesce(d.request_units, 0)::integer AS request_units,
       coalesce(s.matchable_listings, 0)::integer AS matchable_listings,
       coalesce(s.matchable_listing_units, 0)::integer AS matchable_listing_units,
       coalesce(d.matchable_requests, 0)::integer AS matchable_requests,
       coalesce(d.matchable_request_units, 0)::integer AS matchable_request_units
FROM (SELECT brand_id, tier_level, merchant_type FROM supply
      UNION SELECT brand_id, tier_level, merchant_type FROM demand) k
JOIN app.brands b ON b.id = k.brand_id
JOIN tiers t ON t.tier_level = k.tier_level
LEFT JOIN supply s ON s.brand_id = k.brand_id AND s.tier_level = k.tier_level
                  AND s.merchant_type = k.merchant_type
LEFT JOIN demand d ON d.brand_id = k.brand_id AND d.tier_level = k.tier_level
                  AND d.merchant_type = k.merchant_type;

-- step: prune
DELETE FROM mart.supply_demand t
WHERE NOT EXISTS (SELECT 1 FROM sd_snapshot s WHERE s.brand_id = t.brand_id
                  AND s.tier_level = t.tier_level AND s.merchant_type = t.merchant_type);

-- step: merge
INSERT INTO mart.supply_demand AS t
    (brand_id, tier_level, merchant_type, brand_name, tier_name, live_listings, listing_units,
     open_requests, request_units, matchable_listings, matchable_listing_units,
     matchable_requests, matchable_request_units, computed_at, run_id)
SELECT brand_id, tier_level, merchant_type, brand_name, tier_name, live_listings,
       listing_units, open_requests, request_units, matchable_listings,
       matchable_listing_units, matchable_requests, matchable_request_units, now(), :run_id
FROM sd_snapshot
ON CONFLICT (brand_id, tier_level, merchant_type) DO UPDATE SET
    brand_name = EXCLUDED.brand_name, tier_name = EXCLUDED.tier_name,
    live_listings = EXCLUDED.live_listings, listing_units = EXCLUDED.listing_units,
    open_requests = EXCLUDED.open_requests, request_units = EXCLUDED.request_units,
    matchable_listings = EXCLUDED.matchable_listings,
    matchable_listing_units = EXCLUDED.matchable_listing_units,
    matchable_requests = EXCLUDED.matchable_requests,
    matchable_request_units = EXCLUDED.matchable_request_units,
    computed_at = now(), run_id = EXCLUDED.run_id
WHERE (t.brand_name, t.tier_name, t.live_listings, t.listing_units, t.open_requests,
       t.request_units, t.matchable_listings, t.matchable_listing_units, t.matchable_requests,
       t.matchable_request_units)
      IS DISTINCT FROM (EXCLUDED.brand_name, EXCLUDED.tier_name, EXCLUDED.live_listings,
                        EXCLUDED.listing_units, EXCLUDED.open_requests, EXCLUDED.request_units,
                        EXCLUDED.matchable_listings, EXCLUDED.matchable_listing_units,
                        EXCLUDED.matchable_requests, EXCLUDED.matchable_request_units);
