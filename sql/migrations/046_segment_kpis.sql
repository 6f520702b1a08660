-- Segmented KPI marts (job segment_kpis) and merchant names on the funnel facts, so that the
-- growth page's tier / merchant-type / brand filters apply to its KPIs and its drop-off list
-- names merchants.

-- ---------------------------------------------------------------- daily KPIs by merchant segment
-- The additive figures of mart.daily_kpis, per Shanghai day and merchant segment (the
-- merchant's city tier and type). Each merchant is in exactly one segment, so summing the
-- segments of a day gives mart.daily_kpis' figure (distinct active merchants included).
-- Attribution: a merchant's own rows (registration, certification, events, listings,
-- requests) to its segment; a match, request flags, orders, deposits, deals, GMV, fees and
-- payments to the BUYER's segment (the request's merchant, the order's buyer): the demand
-- side is the one a segment's growth is measured on. A row whose merchant is unknown to the
-- job (quarantined) lands in tier 0 / type 'unknown', so the sums still agree.
CREATE TABLE mart.daily_kpis_segment (
    day                    date NOT NULL,
    tier_level             smallint NOT NULL,     -- 0 = unknown
    merchant_type          text NOT NULL,         -- 'unknown' when the merchant is unknown
    new_registrations      integer NOT NULL DEFAULT 0,
    newly_certified        integer NOT NULL DEFAULT 0,
    active_merchants       integer NOT NULL DEFAULT 0,
    listings_created       integer NOT NULL DEFAULT 0,
    requests_created       integer NOT NULL DEFAULT 0,
    live_listings          integer NOT NULL DEFAULT 0,
    open_requests          integer NOT NULL DEFAULT 0,
    requests_with_match    integer NOT NULL DEFAULT 0,
    requests_with_deposit  integer NOT NULL DEFAULT 0,
    matches_created        integer NOT NULL DEFAULT 0,
    orders_created         integer NOT NULL DEFAULT 0,
    deposits_paid          integer NOT NULL DEFAULT 0,
    deals_completed        integer NOT NULL DEFAULT 0,
    orders_cancelled       integer NOT NULL DEFAULT 0,
    gmv                    numeric(16,2) NOT NULL DEFAULT 0,
    fee_amount             numeric(16,2) NOT NULL DEFAULT 0,
    deposit_held           numeric(16,2) NOT NULL DEFAULT 0,
    deposit_released       numeric(16,2) NOT NULL DEFAULT 0,
    deposit_refunded       numeric(16,2) NOT NULL DEFAULT 0,
    deposit_disputed       numeric(16,2) NOT NULL DEFAULT 0,
    pay_wechat             numeric(16,2) NOT NULL DEFAULT 0,
    pay_alipay             numeric(16,2) NOT NULL DEFAULT 0,
    pay_bank               numeric(16,2) NOT NULL DEFAULT 0,
    computed_at            timestamptz NOT NULL DEFAULT now(),
    run_id                 bigint,
    PRIMARY KEY (day, tier_level, merchant_type)
);

-- ---------------------------------------------------------------- daily KPIs by brand
-- Per Shanghai day and brand: listings (their trim's brand), requests (their series'
-- brand), live listings / open requests at the end of the day, and matches, orders, deals
-- and GMV by the brand of the listing they trade.
CREATE TABLE mart.daily_kpis_brand (
    day               date NOT NULL,
    brand_id          integer NOT NULL,
    listings_created  integer NOT NULL DEFAULT 0,
    requests_created  integer NOT NULL DEFAULT 0,
    live_listings     integer NOT NULL DEFAULT 0,
    open_requests     integer NOT NULL DEFAULT 0,
    matches_created   integer NOT NULL DEFAULT 0,
    orders_created    integer NOT NULL DEFAULT 0,
    deals_completed   integer NOT NULL DEFAULT 0,
    gmv               numeric(16,2) NOT NULL DEFAULT 0,
    computed_at       timestamptz NOT NULL DEFAULT now(),
    run_id            bigint,
    PRIMARY KEY (day, brand_id)
);
CREATE INDEX ON mart.daily_kpis_brand (brand_id, day);

-- ---------------------------------------------------------------- funnel facts: who
-- The drop-off list names the merchants who dropped off (filled by sql/etl/funnel_facts.sql).
ALTER TABLE mart.funnel_facts ADD COLUMN merchant_name text;
-- Rows loaded before this column existed get their names now (the ETL keeps them current).
UPDATE mart.funnel_facts f SET merchant_name = m.name FROM app.merchants m WHERE m.id = f.merchant_id;
