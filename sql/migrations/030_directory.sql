-- Merchant directory and profile (车商名录), vehicle library management (车型库).
--
-- pg_trgm is not shipped with the embedded server (pgserver), so name search is a plain
-- ILIKE: at 50,000 merchants a sequential scan of one narrow table costs milliseconds.
-- The indexes below serve the directory's selective filters and the profile's look-ups.

-- ---------------------------------------------------------------- contact log (BD calls and visits)
CREATE TABLE ops.contact_log (
    id              bigserial PRIMARY KEY,
    merchant_id     bigint NOT NULL REFERENCES app.merchants(id),
    staff_id        bigint NOT NULL REFERENCES ops.staff(id),
    kind            text NOT NULL CHECK (kind IN ('call','visit','wechat')),
    body            text NOT NULL CHECK (length(btrim(body)) BETWEEN 1 AND 2000),
    next_follow_up  date,
    created_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX ON ops.contact_log (merchant_id, created_at);
-- "my follow-ups due": a BD's entries by date
CREATE INDEX ON ops.contact_log (staff_id, next_follow_up) WHERE next_follow_up IS NOT NULL;

-- ---------------------------------------------------------------- directory filters
CREATE INDEX ON app.merchants (last_active_at);
CREATE INDEX ON app.merchants (status, merchant_type);
CREATE INDEX ON app.certifications (merchant_id, submitted_at);
CREATE INDEX ON app.listings (merchant_id, status);
CREATE INDEX ON app.requests (merchant_id, status);
CREATE INDEX ON ops.matches (listing_id);
CREATE INDEX ON ops.matches (request_id);
CREATE INDEX ON app.reviews (reviewer_id);
CREATE INDEX ON app.disputes (order_id);

-- ---------------------------------------------------------------- what matching may use
-- A suspended (or closed) merchant's posts stay as they are, but leave matching: the
-- matching engine reads these views instead of filtering merchants.status itself, so the
-- rule lives in one place.
CREATE VIEW app.matchable_listings AS
SELECT l.*
FROM app.listings l
JOIN app.merchants m ON m.id = l.merchant_id
WHERE l.status = 'live' AND m.status = 'active';

CREATE VIEW app.matchable_requests AS
SELECT r.*
FROM app.requests r
JOIN app.merchants m ON m.id = r.merchant_id
WHERE r.status = 'open' AND m.status = 'active';
