-- The logistics dashboard's mart (issue 20, pages/mgr_logistics.py): rebuilt whole by the
-- system jobs' step `logistics_mart` (console/logistics/mart.py) from the raw desk tables
-- (lgx.requests, lgx.claims) and the cities' coordinates, so every figure can be checked
-- with independent SQL over those tables.
--
-- Definitions:
--   * an order = a transport request ordered from a carrier (ordered_at set) and not
--     cancelled; its month = the Shanghai month of ordered_at; its lane = (from city, to city);
--   * road km of a lane = the great-circle km between the city centres (ops.great_circle_km)
--     × the road factor in settings (logistics_road_factor), rounded half up, at least 1 —
--     console/logistics/geo.py's rule;
--   * cars moved = the cars of the orders; car-km = cars × the lane's road km;
--   * delivered / on time / damaged as console/logistics/scores.py counts them: on time = the
--     Shanghai day of delivered_at on or before wanted_by and no settled delay claim; damaged
--     = a settled damage claim (over the delivered orders);
--   * revenue = price to the merchant, cost = cost from the carrier, margin = revenue − cost.

CREATE TABLE mart.lgx_lane_month (
    month          date NOT NULL,              -- first day of the Shanghai month ordered
    from_city_id   integer NOT NULL,
    to_city_id     integer NOT NULL,
    road_km        integer NOT NULL CHECK (road_km > 0),
    orders         integer NOT NULL CHECK (orders > 0),
    cars           integer NOT NULL CHECK (cars > 0),
    delivered      integer NOT NULL CHECK (delivered >= 0 AND delivered <= orders),
    on_time        integer NOT NULL CHECK (on_time >= 0 AND on_time <= delivered),
    damaged        integer NOT NULL CHECK (damaged >= 0 AND damaged <= delivered),
    revenue        numeric(16,2) NOT NULL,     -- price to the merchants
    cost           numeric(16,2) NOT NULL,     -- cost from the carriers
    car_km         bigint NOT NULL CHECK (car_km > 0),
    PRIMARY KEY (month, from_city_id, to_city_id)
);
CREATE INDEX lgx_lane_month_lane_idx ON mart.lgx_lane_month (from_city_id, to_city_id);

-- Each rebuild: the dashboard's freshness stamp (the newest row), with what it saw.
CREATE TABLE mart.lgx_builds (
    id             bigserial PRIMARY KEY,
    as_of          date NOT NULL,
    road_factor    numeric(6,3) NOT NULL,
    started_at     timestamptz NOT NULL,
    finished_at    timestamptz NOT NULL DEFAULT clock_timestamp(),
    orders         integer NOT NULL,
    lane_rows      integer NOT NULL,
    newest_source  timestamptz           -- the newest order, delivery or claim decision read
);

COMMENT ON TABLE mart.lgx_lane_month IS
    'Logistics orders per month and lane, rebuilt from lgx.requests and lgx.claims (issue 20).';
COMMENT ON TABLE mart.lgx_builds IS
    'One row per rebuild of the logistics mart: its freshness stamp.';
