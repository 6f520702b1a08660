-- Cohort activity: registration month × months since (and by merchant segment), active = the
-- merchant's own action in the month: it published a listing or a request, placed a bid, paid a
-- deposit (as the buyer) or completed a deal (either side: both hand over). Events logged for a
-- merchant without its doing (a match BD or the engine opened on its post, a deposit it received
-- as the seller, a bid received on its request) do not count (issue 15). Definition in
-- console/metrics/catalogue.toml (cohort.active_merchants). The thin merchant_active_months table grows by the batch;
-- the cohort grid is re-aggregated from it (small), so incremental equals full.

-- step: prune
DELETE FROM mart.merchant_active_months WHERE :full;

-- step: merge_active_months
-- Two exclusive branches rather than "(:full OR e.id IN (…))": the planner cannot turn an
-- OR'd IN into a join, and would filter all 10M events through a hashed subplan.
-- An incremental run reads the batch's own copy of its events (append-only: the copy is the
-- row), leaving out the rows this job excludes as etl.clean_events does. Joining the batch
-- back to etl.clean_events made the planner expect a million events of these types in a
-- day's batch (most are logins) and hash-join a scan of all 10M: 4.7 s, now ~0.1 s.
INSERT INTO mart.merchant_active_months (merchant_id, month)
SELECT DISTINCT merchant_id, month
FROM (
    SELECT e.merchant_id, mart.cn_month(e.occurred_at) AS month, e.event_type,
           e.props ->> 'role' AS role
    FROM etl.clean_events e WHERE :full
    UNION ALL
    SELECT s.merchant_id, mart.cn_month(s.occurred_at), s.event_type, s.props ->> 'role'
    FROM etl.stg_cohort_activity__events s
    WHERE NOT :full AND s.id IS NOT NULL
      AND NOT EXISTS (SELECT 1 FROM etl.excluded_rows x
                      WHERE x.job = current_setting('etl.job', true)
                        AND x.source_table = 'app.events' AND x.row_key = s.id::text)
) e
WHERE (event_type IN ('listing_created', 'request_created', 'deal_completed')
       OR (event_type = 'bid_placed' AND role IS DISTINCT FROM 'buyer')      -- the bidder's
       OR (event_type = 'deposit_paid' AND role IS DISTINCT FROM 'seller'))  -- the payer's
ON CONFLICT (merchant_id, month) DO NOTHING;

-- step: prep_grid
-- The grid per cohort month and merchant segment (city tier × merchant type, what the growth
-- page's filters select), every month from registration to the current one, 0 where nobody
-- was active; the platform grid is its sum over segments (a merchant is in one segment).
CREATE TEMP TABLE cohort_grid_segment ON COMMIT DROP AS
WITH cohorts AS (
    SELECT m.id AS merchant_id, mart.cn_month(m.registered_at) AS cohort_month,
           coalesce(ci.tier_level, 0)::smallint AS tier_level, m.merchant_type
    FROM etl.clean_merchants m
    LEFT JOIN app.cities ci ON ci.id = m.city_id
),
sizes AS (
    SELECT cohort_month, tier_level, merchant_type, count(*) AS cohort_size
    FROM cohorts GROUP BY 1, 2, 3
),
activity AS (
    SELECT c.cohort_month, c.tier_level, c.merchant_type,
           ((extract(year FROM a.month) - extract(year FROM c.cohort_month)) * 12
            + extract(month FROM a.month) - extract(month FROM c.cohort_month))::integer AS months_since,
           count(*) AS active_merchants
    FROM mart.merchant_active_months a
    JOIN cohorts c ON c.merchant_id = a.merchant_id
    WHERE a.month >= c.cohort_month
    GROUP BY 1, 2, 3, 4
),
grid AS (
    SELECT s.cohort_month, s.tier_level, s.merchant_type, s.cohort_size, g AS months_since
    FROM sizes s
    CROSS JOIN LATERAL generate_series(0,
        ((extract(year FROM mart.cn_month(now())) - extract(year FROM s.cohort_month)) * 12
         + extract(month FROM mart.cn_month(now())) - extract(month FROM s.cohort_month))::integer) g
)
SELECT g.cohort_month, g.months_since, g.tier_level, g.merchant_type, g.cohort_size,
       coalesce(a.active_merchants, 0)::integer AS active_merchants
FROM grid g
LEFT JOIN activity a USING (cohort_month, tier_level, merchant_type, months_since);
CREATE TEMP TABLE cohort_grid ON COMMIT DROP AS
SELECT cohort_month, months_since, sum(cohort_size)::integer AS cohort_size,
       sum(active_merchants)::integer AS active_merchants,
       round(sum(active_merchants)::numeric / sum(cohort_size), 4) AS retention
FROM cohort_grid_segment
GROUP BY 1, 2;

-- step: prune_cohorts
DELETE FROM mart.cohort_activity t
WHERE NOT EXISTS (SELECT 1 FROM cohort_grid g
                  WHERE g.cohort_month = t.cohort_month AND g.months_since = t.months_since);

-- step: merge_cohorts
INSERT INTO mart.cohort_activity AS t
    (cohort_month, months_since, cohort_size, active_merchants, retention, computed_at, run_id)
SELECT cohort_month, months_since, cohort_size, active_merchants, retention, now(), :run_id
FROM cohort_grid
ON CONFLICT (cohort_month, months_since) DO UPDATE SET
    cohort_size = EXCLUDED.cohort_size, active_merchants = EXCLUDED.active_merchants,
    retention = EXCLUDED.retention, computed_at = now(), run_id = EXCLUDED.run_id
WHERE (t.cohort_size, t.active_merchants, t.retention)
      IS DISTINCT FROM (EXCLUDED.cohort_size, EXCLUDED.active_merchants, EXCLUDED.retention);

-- step: prune_cohort_segments
DELETE FROM mart.cohort_activity_segment t
WHERE NOT EXISTS (SELECT 1 FROM cohort_grid_segment g
                  WHERE (g.cohort_month, g.months_since, g.tier_level, g.merchant_type)
                      = (t.cohort_month, t.months_since, t.tier_level, t.merchant_type));

-- step: merge_cohort_segments
INSERT INTO mart.cohort_activity_segment AS t
    (cohort_month, months_since, tier_level, merchant_type, cohort_size, active_merchants,
     computed_at, run_id)
SELECT cohort_month, months_since, tier_level, merchant_type, cohort_size, active_merchants,
       now(), :run_id
FROM cohort_grid_segment
ON CONFLICT (cohort_month, months_since, tier_level, merchant_type) DO UPDATE SET
    cohort_size = EXCLUDED.cohort_size, active_merchants = EXCLUDED.active_merchants,
    computed_at = now(), run_id = EXCLUDED.run_id
WHERE (t.cohort_size, t.active_merchants)
      IS DISTINCT FROM (EXCLUDED.cohort_size, EXCLUDED.active_merchants);
