-- Foundation schema: the marketplace (app), staff work (ops), ETL outputs (mart), ETL bookkeeping (etl).
-- Money is numeric(14,2) in yuan (元). Times are timestamptz. Enumerations are text + CHECK
-- so that adding a value is one ALTER of a constraint, not an enum type migration.

CREATE SCHEMA IF NOT EXISTS app;
CREATE SCHEMA IF NOT EXISTS ops;
CREATE SCHEMA IF NOT EXISTS mart;
CREATE SCHEMA IF NOT EXISTS etl;

-- ---------------------------------------------------------------- staff (ops)
CREATE TABLE ops.staff (
    id               bigserial PRIMARY KEY,
    username         text NOT NULL UNIQUE CHECK (username ~ '^[a-z0-9_.-]{3,40}$'),
    display_name     text NOT NULL CHECK (length(display_name) BETWEEN 1 AND 60),
    password_hash    text NOT NULL,
    roles            text[] NOT NULL DEFAULT '{}'
                     CHECK (roles <@ ARRAY['ops','bd','risk','manager','admin']::text[]),
    is_active        boolean NOT NULL DEFAULT true,
    failed_attempts  integer NOT NULL DEFAULT 0 CHECK (failed_attempts >= 0),
    locked_until     timestamptz,
    last_login_at    timestamptz,
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now(),
    version          integer NOT NULL DEFAULT 1
);

-- ---------------------------------------------------------------- reference: cities, vehicle library
CREATE TABLE app.cities (
    id          serial PRIMARY KEY,
    name        text NOT NULL,
    short_name  text NOT NULL,
    adcode      text NOT NULL UNIQUE,
    province    text NOT NULL,
    tier_level  smallint NOT NULL CHECK (tier_level BETWEEN 1 AND 6),  -- 1 一线, 2 新一线, 3 二线 … 6 五线
    tier_name   text NOT NULL,
    longitude   double precision NOT NULL CHECK (longitude BETWEEN 70 AND 140),
    latitude    double precision NOT NULL CHECK (latitude BETWEEN 15 AND 55)
);

CREATE TABLE app.brands (
    id          serial PRIMARY KEY,
    name        text NOT NULL UNIQUE,
    initial     text
);

CREATE TABLE app.series (
    id            serial PRIMARY KEY,
    brand_id      integer NOT NULL REFERENCES app.brands(id),
    name          text NOT NULL,
    manufacturer  text NOT NULL,
    min_guide_price numeric(14,2) NOT NULL CHECK (min_guide_price > 0),
    max_guide_price numeric(14,2) NOT NULL CHECK (max_guide_price >= min_guide_price),
    sales_count   integer NOT NULL DEFAULT 0 CHECK (sales_count >= 0),
    energy_type   text NOT NULL CHECK (energy_type IN ('ice','hev','phev','bev','erev')),
    origin        text NOT NULL CHECK (origin IN ('domestic','joint_venture','import')),
    UNIQUE (brand_id, name)
);

CREATE TABLE app.trims (
    id           serial PRIMARY KEY,
    series_id    integer NOT NULL REFERENCES app.series(id),
    name         text NOT NULL,
    model_year   smallint NOT NULL CHECK (model_year BETWEEN 2000 AND 2100),
    guide_price  numeric(14,2) NOT NULL CHECK (guide_price > 0),
    energy_type  text NOT NULL CHECK (energy_type IN ('ice','hev','phev','bev','erev')),
    is_active    boolean NOT NULL DEFAULT true,
    created_at   timestamptz NOT NULL DEFAULT now(),
    updated_at   timestamptz NOT NULL DEFAULT now(),
    UNIQUE (series_id, name)
);

CREATE TABLE app.trim_price_history (
    id            bigserial PRIMARY KEY,
    trim_id       integer NOT NULL REFERENCES app.trims(id),
    old_price     numeric(14,2) CHECK (old_price > 0),
    new_price     numeric(14,2) NOT NULL CHECK (new_price > 0),
    changed_at    timestamptz NOT NULL DEFAULT now(),
    changed_by    bigint REFERENCES ops.staff(id),
    source        text NOT NULL DEFAULT 'seed'
);
CREATE INDEX ON app.trim_price_history (trim_id, changed_at);

-- ---------------------------------------------------------------- merchants and certification
CREATE TABLE app.merchants (
    id             bigserial PRIMARY KEY,
    name           text NOT NULL,
    merchant_type  text NOT NULL CHECK (merchant_type IN ('4s','secondary','resource','parallel_import')),
    size_class     text NOT NULL DEFAULT 'small' CHECK (size_class IN ('large','small')),  -- 大B / 小b
    city_id        integer NOT NULL REFERENCES app.cities(id),
    channel        text NOT NULL CHECK (channel IN ('bd_visit','referral','organic','ad','event','partner')),
    registered_at  timestamptz NOT NULL,
    status         text NOT NULL DEFAULT 'active' CHECK (status IN ('active','suspended','closed')),
    cert_level     text NOT NULL DEFAULT 'none' CHECK (cert_level IN ('none','personal','enterprise')),
    bd_owner_id    bigint REFERENCES ops.staff(id),
    vip_level      smallint NOT NULL DEFAULT 0 CHECK (vip_level BETWEEN 0 AND 5),
    phone          text NOT NULL CHECK (phone ~ '^1[3-9][0-9]{9}$'),
    contact_name   text,
    last_active_at timestamptz,
    updated_at     timestamptz NOT NULL DEFAULT now(),
    version        integer NOT NULL DEFAULT 1
);
CREATE INDEX ON app.merchants (city_id);
CREATE INDEX ON app.merchants (bd_owner_id);
CREATE INDEX ON app.merchants (phone);
CREATE INDEX ON app.merchants (registered_at);
CREATE INDEX ON app.merchants (updated_at);

CREATE TABLE app.certifications (
    id              bigserial PRIMARY KEY,
    merchant_id     bigint NOT NULL REFERENCES app.merchants(id),
    kind            text NOT NULL CHECK (kind IN ('personal','enterprise')),
    status          text NOT NULL DEFAULT 'pending'
                    CHECK (status IN ('pending','in_review','needs_info','approved','rejected')),
    real_name       text,           -- personal: name on the ID card
    id_number       text,           -- personal: 居民身份证号码, stored as submitted
    company_name    text,           -- enterprise: name on the licence
    uscc            text,           -- enterprise: 统一社会信用代码, stored as submitted
    legal_rep       text,           -- enterprise: 法定代表人
    licence_doc_ref text,           -- enterprise: object-store key of the licence image
    id_doc_ref      text,           -- personal: object-store key of the ID images
    submitted_at    timestamptz NOT NULL,
    assignee_id     bigint REFERENCES ops.staff(id),
    assigned_at     timestamptz,
    snoozed_until   timestamptz,
    decided_at      timestamptz,
    reviewer_id     bigint REFERENCES ops.staff(id),
    reason_code     text,
    reason_note     text,
    requested_doc   text,           -- needs_info: which document to re-upload
    previous_id     bigint REFERENCES app.certifications(id),  -- resubmission chain
    updated_at      timestamptz NOT NULL DEFAULT now(),
    version         integer NOT NULL DEFAULT 1,
    CHECK (kind <> 'personal' OR (real_name IS NOT NULL AND id_number IS NOT NULL)),
    CHECK (kind <> 'enterprise' OR (company_name IS NOT NULL AND uscc IS NOT NULL AND legal_rep IS NOT NULL)),
    CHECK (status NOT IN ('approved','rejected') OR (decided_at IS NOT NULL)),
    CHECK (status <> 'rejected' OR reason_code IS NOT NULL)
);
CREATE INDEX ON app.certifications (status, submitted_at);
CREATE INDEX ON app.certifications (assignee_id, status);
CREATE INDEX ON app.certifications (merchant_id);
CREATE INDEX ON app.certifications (id_number);
CREATE INDEX ON app.certifications (uscc);
CREATE INDEX ON app.certifications (updated_at);

-- ---------------------------------------------------------------- supply, demand, bids
CREATE TABLE app.listings (
    id                 bigserial PRIMARY KEY,
    merchant_id        bigint NOT NULL REFERENCES app.merchants(id),
    trim_id            integer NOT NULL REFERENCES app.trims(id),
    exterior_color     text NOT NULL,
    interior_color     text NOT NULL,
    quantity           integer NOT NULL CHECK (quantity > 0),
    city_id            integer NOT NULL REFERENCES app.cities(id),
    price              numeric(14,2) NOT NULL CHECK (price > 0),
    guide_price        numeric(14,2) NOT NULL CHECK (guide_price > 0),  -- as published against
    available_from     date NOT NULL,                                    -- delivery time
    vin                text,
    is_parallel_import boolean NOT NULL DEFAULT false,
    is_self_operated   boolean NOT NULL DEFAULT false,
    status             text NOT NULL DEFAULT 'live'
                       CHECK (status IN ('live','sold','withdrawn','taken_down','expired')),
    published_at       timestamptz NOT NULL,
    updated_at         timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX ON app.listings (status, trim_id);
CREATE INDEX ON app.listings (merchant_id);
CREATE INDEX ON app.listings (city_id);
CREATE INDEX ON app.listings (vin) WHERE vin IS NOT NULL;
CREATE INDEX ON app.listings (updated_at);
CREATE INDEX ON app.listings (published_at);

CREATE TABLE app.requests (
    id               bigserial PRIMARY KEY,
    merchant_id      bigint NOT NULL REFERENCES app.merchants(id),
    series_id        integer NOT NULL REFERENCES app.series(id),
    trim_id          integer REFERENCES app.trims(id),  -- NULL: any trim of the series
    accepted_colors  text[] NOT NULL DEFAULT '{}',      -- empty: any colour
    quantity         integer NOT NULL CHECK (quantity > 0),
    city_id          integer NOT NULL REFERENCES app.cities(id),
    max_price        numeric(14,2) NOT NULL CHECK (max_price > 0),
    needed_by        date NOT NULL,
    mode             text NOT NULL DEFAULT 'normal' CHECK (mode IN ('normal','bidding')),
    bid_deadline     timestamptz,
    status           text NOT NULL DEFAULT 'open'
                     CHECK (status IN ('open','matched','closed','cancelled','expired')),
    created_at       timestamptz NOT NULL,
    updated_at       timestamptz NOT NULL DEFAULT now(),
    CHECK (mode <> 'bidding' OR bid_deadline IS NOT NULL)
);
CREATE INDEX ON app.requests (status, series_id);
CREATE INDEX ON app.requests (merchant_id);
CREATE INDEX ON app.requests (updated_at);
CREATE INDEX ON app.requests (created_at);

CREATE TABLE app.bids (
    id          bigserial PRIMARY KEY,
    request_id  bigint NOT NULL REFERENCES app.requests(id),
    seller_id   bigint NOT NULL REFERENCES app.merchants(id),
    listing_id  bigint REFERENCES app.listings(id),
    price       numeric(14,2) NOT NULL CHECK (price > 0),
    quantity    integer NOT NULL CHECK (quantity > 0),
    status      text NOT NULL DEFAULT 'active' CHECK (status IN ('active','withdrawn','accepted','lost')),
    created_at  timestamptz NOT NULL
);
CREATE INDEX ON app.bids (request_id);

-- ---------------------------------------------------------------- staff matches (deal board)
CREATE TABLE ops.matches (
    id                bigserial PRIMARY KEY,
    request_id        bigint NOT NULL REFERENCES app.requests(id),
    listing_id        bigint NOT NULL REFERENCES app.listings(id),
    source            text NOT NULL CHECK (source IN ('auto','manual','bid')),
    score             numeric(8,3),
    stage             text NOT NULL DEFAULT 'suggested'
                      CHECK (stage IN ('suggested','contacted','negotiating','deposit_paid','won','lost')),
    owner_id          bigint REFERENCES ops.staff(id),
    deal_value        numeric(14,2) NOT NULL DEFAULT 0 CHECK (deal_value >= 0),
    lost_reason       text,
    lost_note         text,
    next_action_at    timestamptz,
    stage_entered_at  timestamptz NOT NULL DEFAULT now(),
    created_at        timestamptz NOT NULL DEFAULT now(),
    updated_at        timestamptz NOT NULL DEFAULT now(),
    version           integer NOT NULL DEFAULT 1,
    UNIQUE (request_id, listing_id),
    CHECK (stage <> 'lost' OR lost_reason IS NOT NULL)
);
CREATE INDEX ON ops.matches (owner_id, stage);
CREATE INDEX ON ops.matches (stage);
CREATE INDEX ON ops.matches (updated_at);

-- ---------------------------------------------------------------- orders, escrow, payments
CREATE TABLE app.orders (
    id              bigserial PRIMARY KEY,
    match_id        bigint REFERENCES ops.matches(id),
    request_id      bigint REFERENCES app.requests(id),
    listing_id      bigint NOT NULL REFERENCES app.listings(id),
    buyer_id        bigint NOT NULL REFERENCES app.merchants(id),
    seller_id       bigint NOT NULL REFERENCES app.merchants(id),
    quantity        integer NOT NULL CHECK (quantity > 0),
    unit_price      numeric(14,2) NOT NULL CHECK (unit_price > 0),
    amount          numeric(14,2) NOT NULL CHECK (amount >= 0),
    deposit_amount  numeric(14,2) NOT NULL CHECK (deposit_amount >= 0),
    fee_amount      numeric(14,2) NOT NULL DEFAULT 0 CHECK (fee_amount >= 0),
    status          text NOT NULL DEFAULT 'created'
                    CHECK (status IN ('created','deposit_paid','completed','cancelled','disputed')),
    escrow_state    text NOT NULL DEFAULT 'none'
                    CHECK (escrow_state IN ('none','held','released','refunded','disputed')),
    cancelled_by    text CHECK (cancelled_by IN ('buyer','seller','platform')),
    created_at      timestamptz NOT NULL,
    deposit_paid_at timestamptz,
    completed_at    timestamptz,
    cancelled_at    timestamptz,
    updated_at      timestamptz NOT NULL DEFAULT now(),
    CHECK (buyer_id <> seller_id)
);
CREATE INDEX ON app.orders (buyer_id);
CREATE INDEX ON app.orders (seller_id);
CREATE INDEX ON app.orders (match_id);
CREATE INDEX ON app.orders (status);
CREATE INDEX ON app.orders (updated_at);

CREATE TABLE app.payments (
    id          bigserial PRIMARY KEY,
    order_id    bigint NOT NULL REFERENCES app.orders(id),
    kind        text NOT NULL CHECK (kind IN ('deposit','balance','refund','release','fee')),
    channel     text NOT NULL CHECK (channel IN ('wechat','alipay','bank')),
    amount      numeric(14,2) NOT NULL CHECK (amount >= 0),
    status      text NOT NULL DEFAULT 'succeeded' CHECK (status IN ('pending','succeeded','failed')),
    due_at      timestamptz,
    paid_at     timestamptz,
    created_at  timestamptz NOT NULL
);
CREATE INDEX ON app.payments (order_id);
CREATE INDEX ON app.payments (created_at);

-- ---------------------------------------------------------------- reviews, disputes, logistics, loans
CREATE TABLE app.reviews (
    id                  bigserial PRIMARY KEY,
    reviewer_id         bigint NOT NULL REFERENCES app.merchants(id),
    target_merchant_id  bigint NOT NULL REFERENCES app.merchants(id),
    order_id            bigint REFERENCES app.orders(id),
    listing_id          bigint REFERENCES app.listings(id),
    stars               smallint NOT NULL CHECK (stars BETWEEN 1 AND 5),
    tags                text[] NOT NULL DEFAULT '{}',   -- e.g. 'fake_listing'
    body                text,
    created_at          timestamptz NOT NULL,
    CHECK (reviewer_id <> target_merchant_id)
);
CREATE INDEX ON app.reviews (target_merchant_id);
CREATE INDEX ON app.reviews (listing_id) WHERE listing_id IS NOT NULL;

CREATE TABLE app.disputes (
    id           bigserial PRIMARY KEY,
    order_id     bigint NOT NULL REFERENCES app.orders(id),
    raised_by    bigint NOT NULL REFERENCES app.merchants(id),
    against_id   bigint NOT NULL REFERENCES app.merchants(id),
    reason       text NOT NULL CHECK (reason IN ('not_delivered','wrong_spec','late_delivery','price_change','damage','other')),
    status       text NOT NULL DEFAULT 'open' CHECK (status IN ('open','resolved')),
    outcome      text CHECK (outcome IN ('raiser_won','against_won','settled')),
    created_at   timestamptz NOT NULL,
    resolved_at  timestamptz,
    CHECK (status <> 'resolved' OR outcome IS NOT NULL)
);
CREATE INDEX ON app.disputes (against_id);
CREATE INDEX ON app.disputes (raised_by);

CREATE TABLE app.logistics_requests (
    id            bigserial PRIMARY KEY,
    order_id      bigint NOT NULL REFERENCES app.orders(id),
    from_city_id  integer NOT NULL REFERENCES app.cities(id),
    to_city_id    integer NOT NULL REFERENCES app.cities(id),
    status        text NOT NULL DEFAULT 'requested' CHECK (status IN ('requested','quoted','in_transit','delivered','cancelled')),
    quoted_fee    numeric(14,2) CHECK (quoted_fee >= 0),
    created_at    timestamptz NOT NULL
);

CREATE TABLE app.loan_applications (
    id           bigserial PRIMARY KEY,
    merchant_id  bigint NOT NULL REFERENCES app.merchants(id),
    order_id     bigint REFERENCES app.orders(id),
    amount       numeric(14,2) NOT NULL CHECK (amount > 0),
    status       text NOT NULL DEFAULT 'applied'
                 CHECK (status IN ('applied','approved','rejected','repaid','defaulted')),
    applied_at   timestamptz NOT NULL,
    decided_at   timestamptz,
    due_at       timestamptz,
    closed_at    timestamptz
);
CREATE INDEX ON app.loan_applications (merchant_id);

-- ---------------------------------------------------------------- activity stream and outbox
CREATE TABLE app.events (
    id           bigserial PRIMARY KEY,
    merchant_id  bigint NOT NULL REFERENCES app.merchants(id),
    event_type   text NOT NULL CHECK (event_type IN (
                    'registered','login','cert_submitted','cert_approved','cert_rejected',
                    'listing_created','request_created','bid_placed','match_created',
                    'deposit_paid','deal_completed','order_cancelled','review_posted','dispute_raised')),
    entity_id    bigint,
    occurred_at  timestamptz NOT NULL,
    props        jsonb NOT NULL DEFAULT '{}'
);
CREATE INDEX ON app.events (merchant_id, event_type, occurred_at);
CREATE INDEX ON app.events (occurred_at);

CREATE TABLE app.notification_outbox (
    id            bigserial PRIMARY KEY,
    merchant_id   bigint NOT NULL REFERENCES app.merchants(id),
    channel       text NOT NULL DEFAULT 'sms' CHECK (channel IN ('sms','app','wechat')),
    template      text NOT NULL,
    payload       jsonb NOT NULL DEFAULT '{}',
    dedupe_key    text UNIQUE,             -- never the same notification twice
    status        text NOT NULL DEFAULT 'queued' CHECK (status IN ('queued','sent','failed','held')),
    created_at    timestamptz NOT NULL DEFAULT now(),
    send_after    timestamptz NOT NULL DEFAULT now(),
    sent_at       timestamptz
);
CREATE INDEX ON app.notification_outbox (merchant_id, created_at);
CREATE INDEX ON app.notification_outbox (status, send_after);

-- ---------------------------------------------------------------- audit log (append-only)
CREATE TABLE ops.audit_log (
    id           bigserial PRIMARY KEY,
    at           timestamptz NOT NULL DEFAULT now(),
    actor_id     bigint REFERENCES ops.staff(id),   -- NULL: the system (scheduled jobs)
    action       text NOT NULL,
    entity_type  text NOT NULL,
    entity_id    text NOT NULL,
    before       jsonb,
    after        jsonb,
    reason       text
);
CREATE INDEX ON ops.audit_log (entity_type, entity_id, at);
CREATE INDEX ON ops.audit_log (actor_id, at);

CREATE FUNCTION ops.refuse_audit_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'ops.audit_log is append-only: % refused', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END $$;

CREATE TRIGGER audit_log_append_only
    BEFORE UPDATE OR DELETE ON ops.audit_log
    FOR EACH ROW EXECUTE FUNCTION ops.refuse_audit_change();
CREATE TRIGGER audit_log_no_truncate
    BEFORE TRUNCATE ON ops.audit_log
    FOR EACH STATEMENT EXECUTE FUNCTION ops.refuse_audit_change();

-- Notes on any case (certification, listing flag, match, merchant).
CREATE TABLE ops.notes (
    id           bigserial PRIMARY KEY,
    entity_type  text NOT NULL,
    entity_id    bigint NOT NULL,
    staff_id     bigint NOT NULL REFERENCES ops.staff(id),
    body         text NOT NULL CHECK (length(btrim(body)) > 0),
    created_at   timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX ON ops.notes (entity_type, entity_id, created_at);

-- ---------------------------------------------------------------- ETL bookkeeping
CREATE TABLE etl.runs (
    id                 bigserial PRIMARY KEY,
    job                text NOT NULL,
    started_at         timestamptz NOT NULL DEFAULT now(),
    finished_at        timestamptz,
    status             text NOT NULL DEFAULT 'running' CHECK (status IN ('running','succeeded','failed','refused')),
    full_refresh       boolean NOT NULL DEFAULT false,
    rows_in            bigint NOT NULL DEFAULT 0,
    rows_loaded        bigint NOT NULL DEFAULT 0,
    rows_quarantined   bigint NOT NULL DEFAULT 0,
    watermark_before   timestamptz,
    watermark_after    timestamptz,
    error_text         text
);
CREATE INDEX ON etl.runs (job, started_at);

CREATE TABLE etl.watermarks (
    job         text PRIMARY KEY,
    watermark   timestamptz NOT NULL,
    updated_at  timestamptz NOT NULL DEFAULT now()
);
