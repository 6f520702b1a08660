-- Self-operated stock in matching and in the growth KPIs (issue 21).
--
-- 1. The match policy's aged-stock boost. The rest of the match policy is configuration
--    (console/match_policy.py, read from the environment); this part is a manager's business
--    decision taken from the console, so it is a row: one row, optimistic locking on
--    `version`, every change an audit row (console/services/aged_stock_boost.py). Its
--    updated_at is stamped by the database (migration 064) so that the incremental rematch
--    (console/services/matching.py rematch_changed) sees a change the way it sees a changed
--    listing, and rescores the live self-operated listings.
--    Rule: a self-operated car in stock more than `aged_after_days` days gets
--    aged_points x min((days in stock - aged_after_days) / aged_full_days, 1) points:
--    nothing up to the threshold, then linearly up to the cap, reached `aged_full_days` days
--    later. 0 points (the default) turns it off.
CREATE TABLE ops.match_policy (
    id               smallint PRIMARY KEY DEFAULT 1 CHECK (id = 1),
    aged_points      numeric(5,2) NOT NULL DEFAULT 0 CHECK (aged_points BETWEEN 0 AND 10),
    aged_after_days  integer NOT NULL DEFAULT 60 CHECK (aged_after_days BETWEEN 0 AND 730),
    aged_full_days   integer NOT NULL DEFAULT 30 CHECK (aged_full_days BETWEEN 1 AND 365),
    version          integer NOT NULL DEFAULT 1,
    updated_by       bigint REFERENCES ops.staff(id),
    updated_at       timestamptz NOT NULL DEFAULT now()
);
INSERT INTO ops.match_policy DEFAULT VALUES;
CREATE TRIGGER stamp_updated_at BEFORE INSERT OR UPDATE ON ops.match_policy
    FOR EACH ROW EXECUTE FUNCTION app.stamp_updated_at();

-- 2. GMV split into self-operated and marketplace (a listing's is_self_operated decides),
--    kept like every other per-day figure of job daily_kpis (migration 057): per order in
--    etl.kpi_order_moves, summed per day and segment / brand, and in the three per-day marts.
--    Both parts are stored and computed apart, so the marts' contract checks that they add up
--    to gmv (etl/contracts.py) rather than having it hold by construction.
--    self_operated goes last: the job copies the moves with SELECT * (sql/etl/daily_kpis.sql).
ALTER TABLE etl.kpi_order_moves ADD COLUMN self_operated boolean NOT NULL DEFAULT false;
ALTER TABLE etl.kpi_segment_days
    ADD COLUMN gmv_self_operated numeric(16,2) NOT NULL DEFAULT 0,
    ADD COLUMN gmv_marketplace numeric(16,2) NOT NULL DEFAULT 0;
ALTER TABLE etl.kpi_brand_days
    ADD COLUMN gmv_self_operated numeric(16,2) NOT NULL DEFAULT 0,
    ADD COLUMN gmv_marketplace numeric(16,2) NOT NULL DEFAULT 0;
ALTER TABLE mart.daily_kpis
    ADD COLUMN gmv_self_operated numeric(16,2) NOT NULL DEFAULT 0,
    ADD COLUMN gmv_marketplace numeric(16,2) NOT NULL DEFAULT 0;
ALTER TABLE mart.daily_kpis_segment
    ADD COLUMN gmv_self_operated numeric(16,2) NOT NULL DEFAULT 0,
    ADD COLUMN gmv_marketplace numeric(16,2) NOT NULL DEFAULT 0;
ALTER TABLE mart.daily_kpis_brand
    ADD COLUMN gmv_self_operated numeric(16,2) NOT NULL DEFAULT 0,
    ADD COLUMN gmv_marketplace numeric(16,2) NOT NULL DEFAULT 0;

-- Backfill of a database the job already ran on, from its own kept state, so the marts keep
-- their history and pass their contract at once (the next run carries on incrementally):
-- the kept orders learn their listing's flag, then each per-day total is split by them.
UPDATE etl.kpi_order_moves m SET self_operated = true
FROM app.orders o JOIN app.listings l ON l.id = o.listing_id
WHERE o.id = m.order_id AND l.is_self_operated;

UPDATE etl.kpi_segment_days SET gmv_marketplace = gmv;
UPDATE etl.kpi_segment_days k
SET gmv_self_operated = s.amount, gmv_marketplace = k.gmv - s.amount
FROM (SELECT completed_day, tier_level, merchant_type, sum(amount) AS amount
      FROM etl.kpi_order_moves WHERE self_operated AND completed_day IS NOT NULL
      GROUP BY 1, 2, 3) s
WHERE (k.day, k.tier_level, k.merchant_type) = (s.completed_day, s.tier_level, s.merchant_type);

UPDATE etl.kpi_brand_days SET gmv_marketplace = gmv;
UPDATE etl.kpi_brand_days k
SET gmv_self_operated = s.amount, gmv_marketplace = k.gmv - s.amount
FROM (SELECT completed_day, brand_id, sum(amount) AS amount
      FROM etl.kpi_order_moves
      WHERE self_operated AND completed_day IS NOT NULL AND brand_id IS NOT NULL
      GROUP BY 1, 2) s
WHERE (k.day, k.brand_id) = (s.completed_day, s.brand_id);

UPDATE mart.daily_kpis_segment SET gmv_marketplace = gmv;
UPDATE mart.daily_kpis_segment t
SET gmv_self_operated = k.gmv_self_operated, gmv_marketplace = t.gmv - k.gmv_self_operated
FROM etl.kpi_segment_days k
WHERE (t.day, t.tier_level, t.merchant_type) = (k.day, k.tier_level, k.merchant_type)
  AND k.gmv_self_operated <> 0;

UPDATE mart.daily_kpis_brand SET gmv_marketplace = gmv;
UPDATE mart.daily_kpis_brand t
SET gmv_self_operated = k.gmv_self_operated, gmv_marketplace = t.gmv - k.gmv_self_operated
FROM etl.kpi_brand_days k
WHERE (t.day, t.brand_id) = (k.day, k.brand_id) AND k.gmv_self_operated <> 0;

UPDATE mart.daily_kpis SET gmv_marketplace = gmv;
UPDATE mart.daily_kpis t
SET gmv_self_operated = s.self_operated, gmv_marketplace = t.gmv - s.self_operated
FROM (SELECT day, sum(gmv_self_operated) AS self_operated FROM mart.daily_kpis_segment
      GROUP BY day HAVING sum(gmv_self_operated) <> 0) s
WHERE t.day = s.day;
