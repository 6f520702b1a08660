-- The logistics desk (找物流, issue 20): merchants' transport requests, the carriers who move
-- the cars, their quotes, car-carrier loads, tracking, claims and ratings. Its own schema,
-- `lgx`, as dealer finance has `fin`: sql/grants.sql gives it its own rules (no login role
-- deletes a row, the timeline is never rewritten).
--
-- Money is numeric(14,2) yuan, as app.orders. Distances are road kilometres (the great-circle
-- distance between the cities' coordinates times the road factor in settings). The pricing
-- arithmetic lives in console/logistics; the database keeps the invariants it must hold:
--   * a request never moves from a city to itself, and is never wanted before it is ready;
--   * a load never carries more cars than its capacity (cars_booked, kept by the booking
--     service under the load's row lock, and checked here);
--   * a claim never asks more than the cover, and a settlement never pays more than asked;
--   * a delivery always has its handover record (who received it, when, a photo reference).

CREATE SCHEMA lgx;

-- ---------------------------------------------------------------- carriers (承运商)
-- truck types: 'large' = a large car-carrier (大板, 8–10 cars), 'small' = a small one (小板,
-- 1–3 cars), 'single' = a single-car truck (单车板). cover_per_car is the cargo insurance the
-- carrier holds per car (承运险保额): a claim on a request is capped at cover × its cars.
CREATE TABLE lgx.carriers (
    id             bigserial PRIMARY KEY,
    name           text NOT NULL UNIQUE CHECK (length(btrim(name)) BETWEEN 1 AND 80),
    contact_name   text NOT NULL CHECK (length(btrim(contact_name)) BETWEEN 1 AND 40),
    contact_phone  text NOT NULL CHECK (contact_phone ~ '^[0-9+-]{5,20}$'),  -- masked (console/masking.py)
    truck_types    text[] NOT NULL
                   CHECK (cardinality(truck_types) > 0
                          AND truck_types <@ ARRAY['large','small','single']::text[]),
    cover_per_car  numeric(14,2) NOT NULL CHECK (cover_per_car > 0),
    status         text NOT NULL DEFAULT 'active' CHECK (status IN ('active','suspended')),
    created_at     timestamptz NOT NULL DEFAULT now(),
    updated_at     timestamptz NOT NULL DEFAULT clock_timestamp(),
    version        integer NOT NULL DEFAULT 1
);

-- The lanes a carrier serves, province to province (干线 are sold by province pair; a
-- carrier serving 上海→四川 takes any city of one to any city of the other).
CREATE TABLE lgx.carrier_lanes (
    carrier_id     bigint NOT NULL REFERENCES lgx.carriers(id),
    from_province  text NOT NULL,
    to_province    text NOT NULL,
    PRIMARY KEY (carrier_id, from_province, to_province)
);
CREATE INDEX carrier_lanes_lane_idx ON lgx.carrier_lanes (from_province, to_province);

-- A carrier's price per car by distance band and truck type: a car going d road km costs
-- max(min_per_car, d × yuan_per_car_km) of the band d falls in (band_to_km NULL: open).
CREATE TABLE lgx.carrier_rates (
    carrier_id       bigint NOT NULL REFERENCES lgx.carriers(id),
    truck_type       text NOT NULL CHECK (truck_type IN ('large','small','single')),
    band_from_km     integer NOT NULL CHECK (band_from_km >= 0),
    band_to_km       integer CHECK (band_to_km IS NULL OR band_to_km > band_from_km),
    yuan_per_car_km  numeric(8,3) NOT NULL CHECK (yuan_per_car_km > 0),
    min_per_car      numeric(14,2) NOT NULL DEFAULT 0 CHECK (min_per_car >= 0),
    PRIMARY KEY (carrier_id, truck_type, band_from_km)
);

-- ---------------------------------------------------------------- loads (拼板)
-- One car-carrier trip, confirmed by a person from a proposal of requests on the same or a
-- nearby lane with overlapping dates. cars_booked is the sum of the cars of the requests
-- booked on it.
CREATE TABLE lgx.loads (
    id             bigserial PRIMARY KEY,
    carrier_id     bigint NOT NULL REFERENCES lgx.carriers(id),
    truck_type     text NOT NULL CHECK (truck_type IN ('large','small','single')),
    capacity       integer NOT NULL CHECK (capacity BETWEEN 1 AND 10),
    from_city_id   integer NOT NULL REFERENCES app.cities(id),
    to_city_id     integer NOT NULL REFERENCES app.cities(id),
    depart_date    date NOT NULL,
    cars_booked    integer NOT NULL DEFAULT 0 CHECK (cars_booked >= 0 AND cars_booked <= capacity),
    status         text NOT NULL DEFAULT 'open'
                   CHECK (status IN ('open','departed','done','cancelled')),
    confirmed_by   bigint NOT NULL REFERENCES ops.staff(id),
    confirmed_at   timestamptz NOT NULL DEFAULT now(),
    updated_at     timestamptz NOT NULL DEFAULT clock_timestamp(),
    version        integer NOT NULL DEFAULT 1,
    CHECK (from_city_id <> to_city_id)
);
CREATE INDEX loads_open_idx ON lgx.loads (depart_date) WHERE status = 'open';

-- ---------------------------------------------------------------- transport requests
-- status, the tracking state machine (console/logistics owns the legal moves):
--   awaiting_quote 待报价 → quoted 已报价 → ordered 已下单 → picked_up 已提车 → in_transit 运输中
--   → arrived 已到达 → delivered 已交车; exception 异常 (a delay, damage or a refusal: from any
--   state after ordered, back to the state it left, status_before_exception); cancelled.
-- source: 'merchant' (the marketplace side), 'deal' (a deal card at 已付定金 whose buyer and
-- seller are in different cities: match_id set), 'ops' (entered by the desk).
-- price_to_merchant / cost_from_carrier are totals for the request when it is ordered; the
-- platform's margin is their difference.
CREATE TABLE lgx.requests (
    id                       bigserial PRIMARY KEY,
    merchant_id              bigint NOT NULL REFERENCES app.merchants(id),
    source                   text NOT NULL CHECK (source IN ('merchant','deal','ops')),
    match_id                 bigint REFERENCES ops.matches(id),
    order_id                 bigint REFERENCES app.orders(id),
    from_city_id             integer NOT NULL REFERENCES app.cities(id),
    to_city_id               integer NOT NULL REFERENCES app.cities(id),
    ready_date               date NOT NULL,
    wanted_by                date NOT NULL,
    declared_value           numeric(14,2) NOT NULL CHECK (declared_value > 0),
    cars                     integer NOT NULL CHECK (cars BETWEEN 1 AND 100),
    status                   text NOT NULL DEFAULT 'awaiting_quote'
                             CHECK (status IN ('awaiting_quote','quoted','ordered','picked_up',
                                               'in_transit','arrived','delivered','exception',
                                               'cancelled')),
    status_before_exception  text CHECK (status_before_exception IN
                                         ('ordered','picked_up','in_transit','arrived')),
    exception_kind           text CHECK (exception_kind IN ('delay','damage','refusal')),
    carrier_id               bigint REFERENCES lgx.carriers(id),
    truck_type               text CHECK (truck_type IN ('large','small','single')),
    quote_id                 bigint,
    load_id                  bigint REFERENCES lgx.loads(id),
    price_to_merchant        numeric(14,2) CHECK (price_to_merchant >= 0),
    cost_from_carrier        numeric(14,2) CHECK (cost_from_carrier >= 0),
    assignee_id              bigint REFERENCES ops.staff(id),
    created_by               bigint REFERENCES ops.staff(id),   -- NULL: the merchant's own
    created_at               timestamptz NOT NULL DEFAULT now(),
    ordered_at               timestamptz,
    picked_up_at             timestamptz,
    delivered_at             timestamptz,
    updated_at               timestamptz NOT NULL DEFAULT clock_timestamp(),
    version                  integer NOT NULL DEFAULT 1,
    CHECK (from_city_id <> to_city_id),
    CHECK (wanted_by >= ready_date),
    CHECK ((source = 'deal') = (match_id IS NOT NULL)),
    CHECK ((status = 'exception') = (status_before_exception IS NOT NULL)
           AND (status = 'exception') = (exception_kind IS NOT NULL)),
    CHECK (status IN ('awaiting_quote','quoted','cancelled')
           OR (carrier_id IS NOT NULL AND truck_type IS NOT NULL AND ordered_at IS NOT NULL
               AND price_to_merchant IS NOT NULL AND cost_from_carrier IS NOT NULL)),
    CHECK (status <> 'delivered' OR delivered_at IS NOT NULL)
);
CREATE INDEX requests_status_idx ON lgx.requests (status, created_at);
CREATE INDEX requests_merchant_idx ON lgx.requests (merchant_id);
CREATE INDEX requests_carrier_idx ON lgx.requests (carrier_id) WHERE carrier_id IS NOT NULL;
CREATE INDEX requests_lane_idx ON lgx.requests (from_city_id, to_city_id, ready_date);
CREATE INDEX requests_load_idx ON lgx.requests (load_id) WHERE load_id IS NOT NULL;
CREATE INDEX requests_open_idx ON lgx.requests (ready_date)
    WHERE status IN ('awaiting_quote','quoted');
-- One live transport request per deal: the card's "arrange transport" twice is one request.
CREATE UNIQUE INDEX requests_one_per_deal ON lgx.requests (match_id)
    WHERE match_id IS NOT NULL AND status <> 'cancelled';

-- The cars of a request: by VIN (one car), or by trim and quantity. listing_id: the
-- merchant's listing the car comes from, when known (the service checks the cars are the
-- merchant's to move: its listing, or an order where it is buyer or seller).
CREATE TABLE lgx.request_cars (
    id          bigserial PRIMARY KEY,
    request_id  bigint NOT NULL REFERENCES lgx.requests(id),
    vin         text CHECK (vin ~ '^[A-HJ-NPR-Z0-9]{17}$'),
    trim_id     integer REFERENCES app.trims(id),
    quantity    integer NOT NULL DEFAULT 1 CHECK (quantity BETWEEN 1 AND 100),
    listing_id  bigint REFERENCES app.listings(id),
    CHECK (vin IS NOT NULL OR trim_id IS NOT NULL),
    CHECK (vin IS NULL OR quantity = 1)
);
CREATE INDEX request_cars_request_idx ON lgx.request_cars (request_id);
CREATE INDEX request_cars_vin_idx ON lgx.request_cars (vin) WHERE vin IS NOT NULL;

-- ---------------------------------------------------------------- quotes (报价)
-- 'estimate': the desk's estimate from a carrier's rates, kept when it is booked;
-- 'actual': a carrier's own quote the desk recorded. lane_median_per_car is the lane's recent
-- median per car when the quote was recorded; flagged_high when the quote is far above it
-- (the factor in settings).
CREATE TABLE lgx.quotes (
    id                   bigserial PRIMARY KEY,
    request_id           bigint NOT NULL REFERENCES lgx.requests(id),
    carrier_id           bigint NOT NULL REFERENCES lgx.carriers(id),
    truck_type           text NOT NULL CHECK (truck_type IN ('large','small','single')),
    kind                 text NOT NULL CHECK (kind IN ('estimate','actual')),
    distance_km          integer NOT NULL CHECK (distance_km > 0),
    price_per_car        numeric(14,2) NOT NULL CHECK (price_per_car > 0),
    total                numeric(14,2) NOT NULL CHECK (total > 0),
    transit_days         integer NOT NULL CHECK (transit_days BETWEEN 1 AND 60),
    lane_median_per_car  numeric(14,2),
    flagged_high         boolean NOT NULL DEFAULT false,
    note                 text,
    recorded_by          bigint REFERENCES ops.staff(id),
    recorded_at          timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX quotes_request_idx ON lgx.quotes (request_id);
CREATE INDEX quotes_carrier_idx ON lgx.quotes (carrier_id, recorded_at);
ALTER TABLE lgx.requests ADD FOREIGN KEY (quote_id) REFERENCES lgx.quotes(id);

-- ---------------------------------------------------------------- the timeline
-- Append-only (sql/grants.sql: no UPDATE, no DELETE): every status move, note, quote, booking,
-- claim and rating of a request, who and when. A move to delivered carries its handover.
CREATE TABLE lgx.request_events (
    id                  bigserial PRIMARY KEY,
    request_id          bigint NOT NULL REFERENCES lgx.requests(id),
    kind                text NOT NULL CHECK (kind IN ('created','status','note','quote','booked',
                                                       'unbooked','claim','rating')),
    from_status         text,
    to_status           text,
    note                text,
    handover_receiver   text,
    handover_at         timestamptz,
    handover_photo_ref  text,
    actor_id            bigint REFERENCES ops.staff(id),   -- NULL: the merchant's side
    at                  timestamptz NOT NULL DEFAULT clock_timestamp(),
    CHECK (to_status IS DISTINCT FROM 'delivered'
           OR (length(btrim(handover_receiver)) > 0 AND handover_at IS NOT NULL
               AND length(btrim(handover_photo_ref)) > 0))
);
CREATE INDEX request_events_request_idx ON lgx.request_events (request_id, at);

-- ---------------------------------------------------------------- claims (理赔)
-- cover = the carrier's cover_per_car × the request's cars when the claim is filed.
CREATE TABLE lgx.claims (
    id                bigserial PRIMARY KEY,
    request_id        bigint NOT NULL REFERENCES lgx.requests(id),
    carrier_id        bigint NOT NULL REFERENCES lgx.carriers(id),
    kind              text NOT NULL CHECK (kind IN ('damage','delay')),
    amount            numeric(14,2) NOT NULL CHECK (amount > 0),
    cover             numeric(14,2) NOT NULL CHECK (cover > 0),
    evidence_ref      text NOT NULL CHECK (length(btrim(evidence_ref)) > 0),
    description       text NOT NULL CHECK (length(btrim(description)) > 0),
    carrier_response  text,
    status            text NOT NULL DEFAULT 'open'
                      CHECK (status IN ('open','responded','settled','rejected')),
    settled_amount    numeric(14,2) CHECK (settled_amount >= 0),
    filed_by          bigint NOT NULL REFERENCES ops.staff(id),
    filed_at          timestamptz NOT NULL DEFAULT now(),
    decided_by        bigint REFERENCES ops.staff(id),
    decided_at        timestamptz,
    updated_at        timestamptz NOT NULL DEFAULT clock_timestamp(),
    version           integer NOT NULL DEFAULT 1,
    CHECK (amount <= cover),
    CHECK (settled_amount IS NULL OR settled_amount <= amount),
    CHECK ((status = 'settled') = (settled_amount IS NOT NULL)),
    CHECK (status NOT IN ('settled','rejected') OR (decided_by IS NOT NULL AND decided_at IS NOT NULL))
);
CREATE INDEX claims_request_idx ON lgx.claims (request_id);
CREATE INDEX claims_carrier_idx ON lgx.claims (carrier_id, status);

-- ---------------------------------------------------------------- ratings (服务评价)
-- The merchant rates each delivery once; complaint: the merchant filed it as a complaint.
CREATE TABLE lgx.ratings (
    request_id   bigint PRIMARY KEY REFERENCES lgx.requests(id),
    merchant_id  bigint NOT NULL REFERENCES app.merchants(id),
    carrier_id   bigint NOT NULL REFERENCES lgx.carriers(id),
    stars        smallint NOT NULL CHECK (stars BETWEEN 1 AND 5),
    complaint    boolean NOT NULL DEFAULT false,
    comment      text CHECK (length(comment) <= 2000),
    recorded_by  bigint REFERENCES ops.staff(id),   -- NULL: the merchant's side
    rated_at     timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX ratings_carrier_idx ON lgx.ratings (carrier_id);

-- Change times the database keeps (migration 064's rule), for the marts read incrementally.
CREATE TRIGGER stamp_updated_at BEFORE INSERT OR UPDATE ON lgx.carriers
    FOR EACH ROW EXECUTE FUNCTION app.stamp_updated_at();
CREATE TRIGGER stamp_updated_at BEFORE INSERT OR UPDATE ON lgx.loads
    FOR EACH ROW EXECUTE FUNCTION app.stamp_updated_at();
CREATE TRIGGER stamp_updated_at BEFORE INSERT OR UPDATE ON lgx.requests
    FOR EACH ROW EXECUTE FUNCTION app.stamp_updated_at();
CREATE TRIGGER stamp_updated_at BEFORE INSERT OR UPDATE ON lgx.claims
    FOR EACH ROW EXECUTE FUNCTION app.stamp_updated_at();
