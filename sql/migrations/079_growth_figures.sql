-- Growth figures that mean what they say (issue 15).
--
-- 1. Supply and demand count the posts matching can use: a live listing / an open request of
--    an active merchant, and for a request one not past its needed-by date (the milestone
--    reads the same). The raw totals stay in their columns (live_listings, open_requests, …)
--    for the tooltip that says how many posts there are in all.
ALTER TABLE mart.supply_demand
    ADD COLUMN matchable_listings       integer NOT NULL DEFAULT 0,
    ADD COLUMN matchable_listing_units  integer NOT NULL DEFAULT 0,
    ADD COLUMN matchable_requests       integer NOT NULL DEFAULT 0,
    ADD COLUMN matchable_request_units  integer NOT NULL DEFAULT 0;
DELETE FROM etl.watermarks WHERE job = 'supply_demand';

-- 2. Live listings / open requests at the end of a day: a post that went off during a day
--    is no longer live at its end (the kept moves took it off the day after). The job's kept
--    state starts over, as in 057: the next run reads every row again.
TRUNCATE etl.kpi_post_moves, etl.kpi_match_moves, etl.kpi_order_moves, etl.kpi_payment_moves,
         etl.kpi_segment_days, etl.kpi_brand_days, etl.kpi_merchant_days, etl.kpi_request_times,
         mart.daily_kpis, mart.kpi_periods, mart.daily_kpis_segment, mart.daily_kpis_brand;
DELETE FROM etl.watermarks WHERE job = 'daily_kpis';
DELETE FROM etl.excluded_rows WHERE job = 'daily_kpis';

-- 3. Retention counts the merchant's own actions only (a listing or request published, a bid
--    placed, a deposit paid, a deal completed), not a match BD opened on its listing or a
--    deposit it received: the active months are rebuilt by the next run.
TRUNCATE mart.merchant_active_months;
DELETE FROM etl.watermarks WHERE job = 'cohort_activity';
DELETE FROM etl.excluded_rows WHERE job = 'cohort_activity';
