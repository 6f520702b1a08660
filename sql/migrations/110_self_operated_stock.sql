-- Self-operated stock (自营车源, issue 21): the platform's own cars, bought, kept in its
-- warehouses and sold to dealers. Its own schema, `inv`, as dealer finance has `fin` and the
-- logistics desk `lgx`: sql/grants.sql gives it its rules (no login role deletes a row, the
-- price history is never rewritten).
--
-- Money is numeric(14,2) yuan, as app.orders. A car is published on the marketplace as a
-- listing (app.listings, is_self_operated) so it is searched and matched like any other; the
-- stock row says what the platform paid, where the car stands and what it may sell for. The
-- holding cost per day is a setting (console/settings.py), not a column: it is applied to the
-- days in stock when a page is read and frozen on the row when the car is sold.
CREATE SCHEMA inv;

CREATE TABLE inv.warehouses (
    id          serial PRIMARY KEY,
    name        text NOT NULL UNIQUE CHECK (length(btrim(name)) BETWEEN 1 AND 60),
    city_id     integer NOT NULL REFERENCES app.cities(id),
    address     text NOT NULL CHECK (length(btrim(address)) BETWEEN 1 AND 200),
    status      text NOT NULL DEFAULT 'active' CHECK (status IN ('active','closed')),
    created_at  timestamptz NOT NULL DEFAULT now()
);

-- One car. status: 'in_stock' → 'reserved' (held for one buyer) → 'sold'; a reservation may be
-- released back to 'in_stock'. On sale the row freezes the holding cost of its days in stock
-- and the realised margin = sold_price − purchase_cost − holding_cost.
CREATE TABLE inv.stock_cars (
    id              bigserial PRIMARY KEY,
    listing_id      bigint UNIQUE REFERENCES app.listings(id),
    trim_id         integer NOT NULL REFERENCES app.trims(id),
    vin             text UNIQUE CHECK (vin IS NULL OR vin ~ '^[A-HJ-NPR-Z0-9]{17}$'),
    exterior_color  text NOT NULL,
    warehouse_id    integer NOT NULL REFERENCES inv.warehouses(id),
    purchase_cost   numeric(14,2) NOT NULL CHECK (purchase_cost > 0),
    purchase_date   date NOT NULL,
    asking_price    numeric(14,2) NOT NULL CHECK (asking_price > 0),
    floor_price     numeric(14,2) NOT NULL CHECK (floor_price > 0),
    status          text NOT NULL DEFAULT 'in_stock'
                    CHECK (status IN ('in_stock','reserved','sold')),
    reserved_for    bigint REFERENCES app.merchants(id),
    reserved_by     bigint REFERENCES ops.staff(id),
    reserved_at     timestamptz,
    sold_to         bigint REFERENCES app.merchants(id),
    sold_by         bigint REFERENCES ops.staff(id),
    sold_at         timestamptz,
    sold_price      numeric(14,2) CHECK (sold_price IS NULL OR sold_price > 0),
    holding_cost    numeric(14,2) CHECK (holding_cost IS NULL OR holding_cost >= 0),
    realised_margin numeric(14,2),
    order_id        bigint REFERENCES app.orders(id),
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT clock_timestamp(),
    version         integer NOT NULL DEFAULT 1,
    CHECK (floor_price <= asking_price),
    CHECK ((status = 'reserved') = (reserved_for IS NOT NULL AND reserved_at IS NOT NULL)),
    CHECK ((status = 'sold') = (sold_to IS NOT NULL AND sold_at IS NOT NULL
                                AND sold_price IS NOT NULL AND holding_cost IS NOT NULL
                                AND realised_margin IS NOT NULL))
);
CREATE INDEX stock_cars_open_idx ON inv.stock_cars (purchase_date) WHERE status <> 'sold';
CREATE INDEX ON inv.stock_cars (warehouse_id, status);
CREATE INDEX ON inv.stock_cars (sold_at) WHERE status = 'sold';
CREATE INDEX ON inv.stock_cars (updated_at);
CREATE TRIGGER stamp_updated_at BEFORE INSERT OR UPDATE ON inv.stock_cars
    FOR EACH ROW EXECUTE FUNCTION app.stamp_updated_at();

-- Every change of the asking or floor price (a markdown, a correction), with who and why:
-- the stock page's history and the markdown list's "last marked down".
CREATE TABLE inv.price_changes (
    id             bigserial PRIMARY KEY,
    stock_car_id   bigint NOT NULL REFERENCES inv.stock_cars(id),
    asking_before  numeric(14,2) NOT NULL,
    asking_after   numeric(14,2) NOT NULL CHECK (asking_after > 0),
    floor_before   numeric(14,2) NOT NULL,
    floor_after    numeric(14,2) NOT NULL CHECK (floor_after > 0),
    reason         text NOT NULL CHECK (length(btrim(reason)) BETWEEN 1 AND 2000),
    changed_by     bigint NOT NULL REFERENCES ops.staff(id),
    changed_at     timestamptz NOT NULL DEFAULT now(),
    CHECK (floor_after <= asking_after)
);
CREATE INDEX ON inv.price_changes (stock_car_id, changed_at);
