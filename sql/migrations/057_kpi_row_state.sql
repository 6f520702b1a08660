-- State of job daily_kpis, third part: matches, orders and payments are kept per row like the
-- posts (047, 055), so a run corrects the per-day figures by its changed rows only. A 1%
-- change of matches or orders touches every day, and recounting every day re-read all 225k
-- matches and 85k orders with a listing lookup each (~3 s of a 12 s incremental run). A row's
-- old contributions being kept also means a timestamp moved to another day now leaves no
-- stale figure on the old day.
--
-- Names for what the tables now hold: the kept contributions of each kind of row, and their
-- sums per day and segment / brand.
ALTER TABLE etl.segment_post_moves RENAME TO kpi_post_moves;
ALTER TABLE etl.segment_post_days RENAME TO kpi_segment_days;
ALTER TABLE etl.brand_post_days RENAME TO kpi_brand_days;

-- Per match: the buyer's segment (the request's merchant), the brand of the listing traded,
-- the day it was made.
CREATE TABLE etl.kpi_match_moves (
    match_id       bigint PRIMARY KEY,
    tier_level     smallint NOT NULL,
    merchant_type  text NOT NULL,
    brand_id       integer,
    day            date
);

-- Per order: the buyer's segment, the brand of the listing, and the days it counts on (NULL
-- when it does not: no deposit, not completed, not cancelled) with the amounts.
CREATE TABLE etl.kpi_order_moves (
    order_id       bigint PRIMARY KEY,
    tier_level     smallint NOT NULL,
    merchant_type  text NOT NULL,
    brand_id       integer,
    created_day    date,
    deposit_day    date,
    completed_day  date,
    cancelled_day  date,
    escrow_state   text,
    deposit_amount numeric(14,2),
    amount         numeric(14,2),
    fee_amount     numeric(14,2)
);

-- Per succeeded deposit or balance payment: the buyer's segment (the order's buyer), the day
-- it was paid, its channel and amount.
CREATE TABLE etl.kpi_payment_moves (
    payment_id     bigint PRIMARY KEY,
    tier_level     smallint NOT NULL,
    merchant_type  text NOT NULL,
    day            date,
    channel        text,
    amount         numeric(14,2)
);

ALTER TABLE etl.kpi_segment_days
    ADD COLUMN matches_created integer NOT NULL DEFAULT 0,
    ADD COLUMN orders_created integer NOT NULL DEFAULT 0,
    ADD COLUMN deposits_paid integer NOT NULL DEFAULT 0,
    ADD COLUMN deals_completed integer NOT NULL DEFAULT 0,
    ADD COLUMN orders_cancelled integer NOT NULL DEFAULT 0,
    ADD COLUMN gmv numeric(16,2) NOT NULL DEFAULT 0,
    ADD COLUMN fee_amount numeric(16,2) NOT NULL DEFAULT 0,
    ADD COLUMN deposit_held numeric(16,2) NOT NULL DEFAULT 0,
    ADD COLUMN deposit_released numeric(16,2) NOT NULL DEFAULT 0,
    ADD COLUMN deposit_refunded numeric(16,2) NOT NULL DEFAULT 0,
    ADD COLUMN deposit_disputed numeric(16,2) NOT NULL DEFAULT 0,
    ADD COLUMN pay_wechat numeric(16,2) NOT NULL DEFAULT 0,
    ADD COLUMN pay_alipay numeric(16,2) NOT NULL DEFAULT 0,
    ADD COLUMN pay_bank numeric(16,2) NOT NULL DEFAULT 0;
ALTER TABLE etl.kpi_brand_days
    ADD COLUMN matches_created integer NOT NULL DEFAULT 0,
    ADD COLUMN orders_created integer NOT NULL DEFAULT 0,
    ADD COLUMN deals_completed integer NOT NULL DEFAULT 0,
    ADD COLUMN gmv numeric(16,2) NOT NULL DEFAULT 0;

-- The job starts over (its state lacks the new kinds): no watermark, empty state and marts.
TRUNCATE etl.kpi_post_moves, etl.kpi_segment_days, etl.kpi_brand_days,
         mart.daily_kpis, mart.kpi_periods, mart.daily_kpis_segment, mart.daily_kpis_brand;
DELETE FROM etl.watermarks WHERE job = 'daily_kpis';
DELETE FROM etl.excluded_rows WHERE job = 'daily_kpis';
