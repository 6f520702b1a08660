-- The escrow dispute desk (issue 14): what each side says, and the staff's decision.
--
-- app.dispute_statements is what the merchants submit through the marketplace (their
-- account of the deal and the evidence they attach), so it lives in app with the disputes.
-- ops.dispute_decisions is what risk staff decide: release the deposit to the seller,
-- refund it to the buyer, or split it, always with a reason. Above an amount from the
-- settings (CONSOLE_DISPUTE_SECOND_APPROVAL_YUAN) a decision is first 'proposed' and takes
-- effect only when a second, different risk officer approves it ('applied'); below it a
-- decision is 'applied' at once.

CREATE TABLE app.dispute_statements (
    id           bigserial PRIMARY KEY,
    dispute_id   bigint NOT NULL REFERENCES app.disputes(id),
    merchant_id  bigint NOT NULL REFERENCES app.merchants(id),
    side         text NOT NULL CHECK (side IN ('buyer', 'seller')),
    body         text NOT NULL CHECK (length(btrim(body)) BETWEEN 1 AND 4000),
    -- what the merchant attached: [{"kind": "photo"|"chat"|"contract"|"transfer"|"logistics"
    --                               |"inspection", "title": "…"}]
    evidence     jsonb NOT NULL DEFAULT '[]' CHECK (jsonb_typeof(evidence) = 'array'),
    created_at   timestamptz NOT NULL,
    updated_at   timestamptz NOT NULL DEFAULT clock_timestamp()
);
CREATE INDEX ON app.dispute_statements (dispute_id, created_at);
CREATE INDEX ON app.dispute_statements (updated_at);
CREATE TRIGGER stamp_updated_at BEFORE INSERT OR UPDATE ON app.dispute_statements
    FOR EACH ROW EXECUTE FUNCTION app.stamp_updated_at();

CREATE TABLE ops.dispute_decisions (
    id              bigserial PRIMARY KEY,
    dispute_id      bigint NOT NULL REFERENCES app.disputes(id),
    order_id        bigint NOT NULL REFERENCES app.orders(id),
    kind            text NOT NULL CHECK (kind IN ('release', 'refund', 'split')),
    -- yuan, to the fen: the two parts always add up to the deposit held
    deposit_amount  numeric(14,2) NOT NULL CHECK (deposit_amount > 0),
    seller_amount   numeric(14,2) NOT NULL CHECK (seller_amount >= 0),
    buyer_amount    numeric(14,2) NOT NULL CHECK (buyer_amount >= 0),
    reason          text NOT NULL CHECK (length(btrim(reason)) > 0),
    needs_second    boolean NOT NULL,
    status          text NOT NULL CHECK (status IN ('proposed', 'applied', 'rejected')),
    proposed_by     bigint NOT NULL REFERENCES ops.staff(id),
    proposed_at     timestamptz NOT NULL DEFAULT now(),
    approved_by     bigint REFERENCES ops.staff(id),
    rejected_by     bigint REFERENCES ops.staff(id),
    decided_at      timestamptz,
    decision_note   text,
    version         integer NOT NULL DEFAULT 1,
    CHECK (seller_amount + buyer_amount = deposit_amount),
    CHECK (kind <> 'release' OR buyer_amount = 0),
    CHECK (kind <> 'refund' OR seller_amount = 0),
    CHECK (kind <> 'split' OR (seller_amount > 0 AND buyer_amount > 0)),
    -- four eyes: the second person is never the proposer
    CHECK (approved_by IS NULL OR approved_by <> proposed_by),
    CHECK (rejected_by IS NULL OR rejected_by <> proposed_by),
    CHECK (status <> 'applied' OR decided_at IS NOT NULL),
    CHECK (status <> 'applied' OR NOT needs_second OR approved_by IS NOT NULL)
);
-- One live decision per dispute: a second proposal, or a second decision from a double
-- click or two approvers at once, is refused by the database.
CREATE UNIQUE INDEX dispute_decisions_one_live ON ops.dispute_decisions (dispute_id)
    WHERE status IN ('proposed', 'applied');
CREATE INDEX ON ops.dispute_decisions (status, proposed_at);

-- The queue: open disputes, oldest first.
CREATE INDEX disputes_open_oldest ON app.disputes (created_at, id) WHERE status = 'open';
