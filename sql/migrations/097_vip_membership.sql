-- VIP membership (会员体系, issue 19): a merchant whose grade makes it eligible buys a tier for a
-- year (console/finance/vip_tiers.toml: fee, minimum grade, benefits). One row per term: an
-- enrolment is a term, a renewal is a new term linked to the one it renews (renewed_from).
--
-- status:
--   active     the term in force (or, renewed early, the next term: the benefits run on
--              without a gap from the old term's start to the new term's expiry);
--   renewed    a term a renewal took over before it ended (its successor is the active row);
--   lapsed     a term that ended without renewal (the jobs' nightly sweep, console/jobs.py);
--   cancelled  ended by a risk officer or an admin, with a reason.
-- Dates are Shanghai days; a term runs from starts_on to expires_on, both included.
--
-- The database keeps: one active term per merchant (a partial unique index: two BD staff
-- enrolling one merchant at once end with one membership), one renewal per term, a fee paid
-- never above the tier's list fee, the fields each status needs. No login role deletes a row
-- (sql/grants.sql, as for all of fin).

CREATE TABLE fin.vip_memberships (
    id                 bigserial PRIMARY KEY,
    merchant_id        bigint NOT NULL REFERENCES app.merchants(id),
    tier               text NOT NULL CHECK (tier IN ('silver','gold','diamond')),
    starts_on          date NOT NULL,
    expires_on         date NOT NULL,
    status             text NOT NULL DEFAULT 'active'
                       CHECK (status IN ('active','renewed','lapsed','cancelled')),
    renewed_from       bigint REFERENCES fin.vip_memberships(id),
    list_fee           numeric(14,2) NOT NULL CHECK (list_fee >= 0),   -- the tier's fee then
    fee_paid           numeric(14,2) NOT NULL CHECK (fee_paid >= 0 AND fee_paid <= list_fee),
    payment_ref        text NOT NULL CHECK (length(btrim(payment_ref)) BETWEEN 1 AND 64),
    grade_at_enrol     text CHECK (grade_at_enrol IS NULL OR ops.credit_grade_rank(grade_at_enrol) IS NOT NULL),
    enrolled_by        bigint NOT NULL REFERENCES ops.staff(id),
    enrolled_at        timestamptz NOT NULL DEFAULT clock_timestamp(),
    note               text CHECK (note IS NULL OR length(note) <= 2000),
    lapsed_at          timestamptz,
    cancelled_by       bigint REFERENCES ops.staff(id),
    cancelled_at       timestamptz,
    cancel_reason_code text,
    cancel_reason      text CHECK (cancel_reason IS NULL OR length(cancel_reason) <= 2000),
    version            integer NOT NULL DEFAULT 1,
    updated_at         timestamptz NOT NULL DEFAULT clock_timestamp(),
    CHECK (expires_on > starts_on),
    CHECK (renewed_from IS NULL OR renewed_from <> id),
    CHECK ((status = 'cancelled') = (cancelled_by IS NOT NULL)),
    CHECK (status <> 'cancelled' OR (cancelled_at IS NOT NULL AND cancel_reason_code IS NOT NULL
                                     AND length(btrim(cancel_reason)) > 0)),
    CHECK (status <> 'lapsed' OR lapsed_at IS NOT NULL)
);
-- One membership in force per merchant; one renewal per term; a payment used once.
CREATE UNIQUE INDEX vip_memberships_one_active ON fin.vip_memberships (merchant_id)
    WHERE status = 'active';
CREATE UNIQUE INDEX vip_memberships_one_renewal ON fin.vip_memberships (renewed_from)
    WHERE renewed_from IS NOT NULL;
CREATE UNIQUE INDEX vip_memberships_payment_ref ON fin.vip_memberships (payment_ref);
-- The sweep and the follow-up list: active terms by expiry, lapsed ones by when.
CREATE INDEX vip_memberships_active_expiry ON fin.vip_memberships (expires_on)
    WHERE status = 'active';
CREATE INDEX vip_memberships_merchant_idx ON fin.vip_memberships (merchant_id, starts_on);

CREATE TRIGGER stamp_updated_at BEFORE INSERT OR UPDATE ON fin.vip_memberships
    FOR EACH ROW EXECUTE FUNCTION app.stamp_updated_at();

-- A membership is a score component of match suggestions (console/services/matching.py,
-- component "vip"): a term that starts, ends or changes tier queues the member's listings
-- for the next rematch, as a grade change does (migration 081's queue; cause 'vip').
ALTER TABLE ops.match_refresh_queue DROP CONSTRAINT match_refresh_queue_cause_check;
ALTER TABLE ops.match_refresh_queue ADD CONSTRAINT match_refresh_queue_cause_check
    CHECK (cause IN ('grade','flag','norm','vip'));

CREATE FUNCTION fin.queue_vip_rematch() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' OR NEW.status IS DISTINCT FROM OLD.status
       OR NEW.tier IS DISTINCT FROM OLD.tier THEN
        INSERT INTO ops.match_refresh_queue (cause, merchant_id) VALUES ('vip', NEW.merchant_id);
    END IF;
    RETURN NULL;
END $$;
CREATE TRIGGER vip_membership_rematch AFTER INSERT OR UPDATE ON fin.vip_memberships
    FOR EACH ROW EXECUTE FUNCTION fin.queue_vip_rematch();

COMMENT ON TABLE fin.vip_memberships IS
    'VIP membership terms (issue 19): one active per merchant; renewals link to the term renewed.';
COMMENT ON COLUMN fin.vip_memberships.expires_on IS 'The last Shanghai day of the term (included).';
