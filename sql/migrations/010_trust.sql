-- Trust queues: certification review (pre-checks, reason codes) and listing authenticity flags.
-- The certification case itself is app.certifications (status, assignee, snooze, version,
-- previous_id already live there); this file adds what staff write around it.

-- ---------------------------------------------------------------- reason codes
-- One list per queue and decision; a service refuses any code not listed here. Adding a
-- code is one INSERT in a later migration plus its catalogue label trust.reason.<code>.
CREATE TABLE ops.review_reasons (
    queue       text NOT NULL CHECK (queue IN ('certification','listing_flag')),
    decision    text NOT NULL CHECK (decision IN ('reject','needs_info','confirm','clear')),
    code        text NOT NULL CHECK (code ~ '^[a-z_]{2,40}$'),
    sort_order  smallint NOT NULL DEFAULT 0,
    PRIMARY KEY (queue, decision, code)
);

INSERT INTO ops.review_reasons (queue, decision, code, sort_order) VALUES
    ('certification','reject','id_invalid',1),
    ('certification','reject','licence_invalid',2),
    ('certification','reject','name_mismatch',3),
    ('certification','reject','duplicate_identity',4),
    ('certification','reject','document_forged',5),
    ('certification','reject','business_scope',6),
    ('certification','reject','other',9),
    ('certification','needs_info','document_unclear',1),
    ('certification','needs_info','document_expired',2),
    ('certification','needs_info','document_missing',3),
    ('certification','needs_info','name_mismatch',4),
    ('certification','needs_info','other',9),
    ('listing_flag','confirm','price_fake',1),
    ('listing_flag','confirm','vin_fake',2),
    ('listing_flag','confirm','stock_not_exist',3),
    ('listing_flag','confirm','merchant_not_genuine',4),
    ('listing_flag','confirm','other',9),
    ('listing_flag','clear','price_verified',1),
    ('listing_flag','clear','vin_verified',2),
    ('listing_flag','clear','stock_verified',3),
    ('listing_flag','clear','report_unfounded',4),
    ('listing_flag','clear','other',9);

-- Documents a reviewer may ask a merchant to upload again, per certification kind.
CREATE TABLE ops.cert_documents (
    code        text PRIMARY KEY CHECK (code ~ '^[a-z_]{2,40}$'),
    kind        text NOT NULL CHECK (kind IN ('personal','enterprise')),
    sort_order  smallint NOT NULL DEFAULT 0
);
INSERT INTO ops.cert_documents (code, kind, sort_order) VALUES
    ('id_front','personal',1),
    ('id_back','personal',2),
    ('id_in_hand','personal',3),
    ('business_licence','enterprise',1),
    ('legal_rep_id','enterprise',2),
    ('authorisation_letter','enterprise',3),
    ('dealer_authorisation','enterprise',4);

-- ---------------------------------------------------------------- certification pre-checks
-- One row per submission and check, written by console.services.prechecks before a human
-- looks at the case. A failed hard check flags the case; it never decides it.
CREATE TABLE ops.cert_prechecks (
    certification_id  bigint NOT NULL REFERENCES app.certifications(id),
    check_code        text NOT NULL CHECK (check_code IN (
                          'id_number','uscc','id_duplicate','uscc_duplicate',
                          'company_name','legal_rep','phone_shared')),
    outcome           text NOT NULL CHECK (outcome IN ('pass','fail','skip')),
    is_hard           boolean NOT NULL,
    detail            text,          -- why: 'check_digit', 'format', another merchant's id …
    checked_at        timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (certification_id, check_code)
);
-- The queue's "flags" filter looks only at failures.
CREATE INDEX cert_prechecks_failed ON ops.cert_prechecks (check_code, certification_id)
    WHERE outcome = 'fail';

-- "Next case": the oldest unassigned pending case, found without scanning decided ones.
CREATE INDEX certifications_unassigned_pending
    ON app.certifications (submitted_at, id)
    WHERE status = 'pending' AND assignee_id IS NULL;
CREATE INDEX certifications_decided_at
    ON app.certifications (decided_at) WHERE decided_at IS NOT NULL;

-- ---------------------------------------------------------------- listing authenticity flags
CREATE TABLE ops.listing_flags (
    id             bigserial PRIMARY KEY,
    listing_id     bigint NOT NULL REFERENCES app.listings(id),
    merchant_id    bigint NOT NULL REFERENCES app.merchants(id),
    kind           text NOT NULL CHECK (kind IN (
                       'price_below_guide','vin_malformed','vin_duplicate',
                       'cert_rejected','reported_fake')),
    detail         jsonb NOT NULL DEFAULT '{}',
    -- superseded: closed without a judgement because another flag on the same listing
    -- was confirmed and the listing is already down.
    status         text NOT NULL DEFAULT 'pending'
                   CHECK (status IN ('pending','in_review','confirmed','cleared','superseded')),
    raised_at      timestamptz NOT NULL DEFAULT now(),
    assignee_id    bigint REFERENCES ops.staff(id),
    assigned_at    timestamptz,
    snoozed_until  timestamptz,
    decided_at     timestamptz,
    decided_by     bigint REFERENCES ops.staff(id),
    reason_code    text,
    reason_note    text,
    updated_at     timestamptz NOT NULL DEFAULT now(),
    version        integer NOT NULL DEFAULT 1,
    -- A scan raises each kind at most once per listing, so a cleared flag stays cleared.
    UNIQUE (listing_id, kind),
    CHECK (status NOT IN ('confirmed','cleared','superseded') OR decided_at IS NOT NULL),
    CHECK (status NOT IN ('confirmed','cleared') OR reason_code IS NOT NULL),
    CHECK (status <> 'in_review' OR assignee_id IS NOT NULL)
);
CREATE INDEX ON ops.listing_flags (status, raised_at);
CREATE INDEX ON ops.listing_flags (assignee_id, status);
CREATE INDEX ON ops.listing_flags (merchant_id, status);
CREATE INDEX ON ops.listing_flags (decided_at) WHERE decided_at IS NOT NULL;

-- Credit factor input: listings confirmed fake per merchant (counted once per listing).
CREATE VIEW ops.merchant_confirmed_fake_listings AS
SELECT merchant_id,
       count(DISTINCT listing_id) AS confirmed_listings,
       max(decided_at)            AS last_confirmed_at
FROM ops.listing_flags
WHERE status = 'confirmed'
GROUP BY merchant_id;

-- Reports of fake listings are looked up by tag.
CREATE INDEX reviews_fake_listing ON app.reviews (listing_id)
    WHERE listing_id IS NOT NULL AND 'fake_listing' = ANY (tags);
