-- Dealer finance (issue 19): credit lines from credit grades, and order loans (订单贷) against
-- the car's certificate of conformity (合格证). Its own schema, `fin`, because it is money the
-- platform lends: its privileges differ from the marketplace's (sql/grants.sql: no role
-- deletes a row here, ever; the jobs accrue interest and re-evaluate lines).
--
-- Money is numeric(14,2) yuan, as app.orders. Rates are daily (日利率, e.g. 0.000500 = 万五).
-- The arithmetic (interest per day, the split of a repayment into interest then principal,
-- its rounding rule) lives in console/finance; the database holds the invariants it must keep:
--   * a line's committed amount never goes below zero and every loan's parts stay in range;
--   * four eyes on manual lines and on large loans, as the database's own rule;
--   * one loan at a time on a certificate (the platform holds the paper).
--
-- app.loan_applications (migration 001) is the marketplace's old, outcome-only record that the
-- scorecard's features read; these tables are the staff's desk and the loans' real life.

CREATE SCHEMA fin;

-- ---------------------------------------------------------------- credit lines (授信额度)
-- One row per merchant with a line. grade_line comes from the merchant's current grade (the
-- scorecard's loan_limit, through ops.merchant_credit) and is re-evaluated after every scoring
-- run; manual_line, when set, is an approved line request that replaces it until it expires.
-- committed = what applications in flight and loans not yet repaid hold of the line
-- (principal only). A downgrade may leave the line below committed: nothing is cut, the
-- available amount is zero and new drawings are refused until repayments bring it back.
CREATE TABLE fin.credit_lines (
    merchant_id       bigint PRIMARY KEY REFERENCES app.merchants(id),
    grade             text CHECK (grade IS NULL OR ops.credit_grade_rank(grade) IS NOT NULL),
    grade_line        numeric(14,2) NOT NULL DEFAULT 0 CHECK (grade_line >= 0),
    manual_line       numeric(14,2) CHECK (manual_line >= 0),
    manual_request_id bigint,
    manual_until      timestamptz,
    committed         numeric(14,2) NOT NULL DEFAULT 0 CHECK (committed >= 0),
    evaluated_run_id  bigint REFERENCES ops.credit_runs(id),
    evaluated_at      timestamptz NOT NULL DEFAULT clock_timestamp(),
    version           integer NOT NULL DEFAULT 1,
    updated_at        timestamptz NOT NULL DEFAULT clock_timestamp(),
    CHECK ((manual_line IS NULL) = (manual_request_id IS NULL)
           AND (manual_line IS NULL) = (manual_until IS NULL))
);

-- A manual line (人工授信), proposed by one risk person and approved by another.
CREATE TABLE fin.line_requests (
    id             bigserial PRIMARY KEY,
    merchant_id    bigint NOT NULL REFERENCES app.merchants(id),
    line           numeric(14,2) NOT NULL CHECK (line >= 0),
    from_line      numeric(14,2) NOT NULL CHECK (from_line >= 0),  -- the line when proposed
    reason_code    text NOT NULL,
    reason         text NOT NULL CHECK (length(btrim(reason)) > 0),
    expires_at     timestamptz NOT NULL,
    status         text NOT NULL DEFAULT 'proposed'
                   CHECK (status IN ('proposed','approved','rejected','expired','superseded','revoked')),
    proposed_by    bigint NOT NULL REFERENCES ops.staff(id),
    proposed_at    timestamptz NOT NULL DEFAULT now(),
    approved_by    bigint REFERENCES ops.staff(id),
    rejected_by    bigint REFERENCES ops.staff(id),
    decided_at     timestamptz,
    decision_note  text,
    version        integer NOT NULL DEFAULT 1,
    CHECK (approved_by <> proposed_by),
    CHECK (rejected_by <> proposed_by),
    CHECK (status <> 'approved' OR (approved_by IS NOT NULL AND decided_at IS NOT NULL)),
    CHECK (status <> 'rejected' OR (rejected_by IS NOT NULL AND decided_at IS NOT NULL)),
    CHECK (expires_at > proposed_at)
);
CREATE UNIQUE INDEX line_requests_one_open ON fin.line_requests (merchant_id)
    WHERE status = 'proposed';
CREATE INDEX line_requests_status_idx ON fin.line_requests (status, proposed_at);
ALTER TABLE fin.credit_lines ADD FOREIGN KEY (manual_request_id) REFERENCES fin.line_requests(id);

-- ---------------------------------------------------------------- order loans (订单贷)
-- A buyer finances a platform order. The seller is paid, never the borrower; the car's
-- certificate of conformity is held by the platform from disbursement to full repayment.
--
-- status: applied → approved (one risk person; amounts above the threshold in settings need
-- second_approved_by too) → disbursed → repaid; or rejected / cancelled before disbursement.
-- A loan 90+ days past due is defaulted (default_at, the first day it was); it stays open for
-- collection, and a later full repayment still closes it (status repaid, default_at kept).
CREATE TABLE fin.loans (
    id                   bigserial PRIMARY KEY,
    merchant_id          bigint NOT NULL REFERENCES app.merchants(id),   -- the borrower (buyer)
    order_id             bigint NOT NULL REFERENCES app.orders(id),
    seller_id            bigint NOT NULL REFERENCES app.merchants(id),   -- the payee
    certificate_no       text NOT NULL CHECK (length(certificate_no) BETWEEN 1 AND 40),
    vin                  text CHECK (vin IS NULL OR length(vin) = 17),
    order_amount         numeric(14,2) NOT NULL CHECK (order_amount > 0),
    principal            numeric(14,2) NOT NULL CHECK (principal > 0 AND principal <= order_amount),
    term_days            smallint NOT NULL CHECK (term_days IN (30, 60, 90)),
    daily_rate           numeric(8,6) NOT NULL CHECK (daily_rate > 0 AND daily_rate < 0.01),
    grade                text NOT NULL CHECK (ops.credit_grade_rank(grade) IS NOT NULL),
    needs_second         boolean NOT NULL,
    status               text NOT NULL DEFAULT 'applied'
                         CHECK (status IN ('applied','approved','rejected','cancelled','disbursed','repaid')),
    -- the queue (as the certification queue's cases)
    assignee_id          bigint REFERENCES ops.staff(id),
    assigned_at          timestamptz,
    applied_at           timestamptz NOT NULL DEFAULT now(),
    approved_by          bigint REFERENCES ops.staff(id),
    approved_at          timestamptz,
    second_approved_by   bigint REFERENCES ops.staff(id),
    second_approved_at   timestamptz,
    rejected_by          bigint REFERENCES ops.staff(id),
    decided_at           timestamptz,
    decision_note        text,
    disbursed_by         bigint REFERENCES ops.staff(id),
    disbursed_at         timestamptz,
    due_date             date,                 -- disbursement's Shanghai day + term_days
    -- the loan's money: balance = principal - principal_paid + interest_accrued - interest_paid
    principal_paid       numeric(14,2) NOT NULL DEFAULT 0,
    interest_accrued     numeric(14,2) NOT NULL DEFAULT 0,
    interest_paid        numeric(14,2) NOT NULL DEFAULT 0,
    accrued_through      date,                 -- the last Shanghai day whose interest is in
    dpd                  integer NOT NULL DEFAULT 0 CHECK (dpd >= 0),
    bucket               text NOT NULL DEFAULT 'current'
                         CHECK (bucket IN ('current','dpd_1_30','dpd_31_60','dpd_61_90','dpd_90p')),
    default_at           date,
    repaid_at            timestamptz,
    certificate_state    text NOT NULL DEFAULT 'none' CHECK (certificate_state IN ('none','held','released')),
    version              integer NOT NULL DEFAULT 1,
    updated_at           timestamptz NOT NULL DEFAULT clock_timestamp(),
    CHECK (merchant_id <> seller_id),
    CHECK (principal_paid >= 0 AND principal_paid <= principal),
    CHECK (interest_paid >= 0 AND interest_paid <= interest_accrued),
    -- four eyes: no one decides their own case twice, as the database's own rule
    CHECK (second_approved_by <> approved_by),
    CHECK (status NOT IN ('approved','disbursed','repaid')
           OR (approved_by IS NOT NULL AND (NOT needs_second OR second_approved_by IS NOT NULL))),
    CHECK (status <> 'rejected' OR (rejected_by IS NOT NULL AND decided_at IS NOT NULL)),
    CHECK (status NOT IN ('disbursed','repaid') OR (disbursed_at IS NOT NULL AND due_date IS NOT NULL)),
    CHECK (status <> 'repaid' OR (repaid_at IS NOT NULL AND principal_paid = principal
                                  AND interest_paid = interest_accrued)),
    CHECK ((certificate_state = 'held') = (status = 'disbursed')),
    CHECK (certificate_state <> 'released' OR status = 'repaid')
);
-- One live loan per certificate and per order: a certificate already held (or promised to an
-- application in flight) cannot secure a second loan.
CREATE UNIQUE INDEX loans_one_per_certificate ON fin.loans (certificate_no)
    WHERE status IN ('applied','approved','disbursed');
CREATE UNIQUE INDEX loans_one_per_order ON fin.loans (order_id)
    WHERE status IN ('applied','approved','disbursed');
CREATE INDEX loans_queue_idx ON fin.loans (status, applied_at) WHERE status IN ('applied','approved');
CREATE INDEX loans_merchant_idx ON fin.loans (merchant_id, applied_at);
CREATE INDEX loans_seller_idx ON fin.loans (seller_id) WHERE status IN ('applied','approved','disbursed');
CREATE INDEX loans_open_idx ON fin.loans (bucket, due_date) WHERE status = 'disbursed';
CREATE INDEX loans_assignee_idx ON fin.loans (assignee_id) WHERE status IN ('applied','approved');

-- Repayments: each split into interest first, then principal (the split is the service's,
-- the sum is the database's rule). reference is the payment channel's id: the same payment
-- recorded twice (a double click, a retried callback) is one repayment.
CREATE TABLE fin.loan_repayments (
    id            bigserial PRIMARY KEY,
    loan_id       bigint NOT NULL REFERENCES fin.loans(id),
    amount        numeric(14,2) NOT NULL CHECK (amount > 0),
    to_interest   numeric(14,2) NOT NULL CHECK (to_interest >= 0),
    to_principal  numeric(14,2) NOT NULL CHECK (to_principal >= 0),
    channel       text NOT NULL CHECK (channel IN ('wechat','alipay','bank')),
    reference     text NOT NULL CHECK (length(reference) BETWEEN 1 AND 64),
    received_at   timestamptz NOT NULL,
    recorded_by   bigint REFERENCES ops.staff(id),      -- NULL: the payment callback
    recorded_at   timestamptz NOT NULL DEFAULT clock_timestamp(),
    CHECK (to_interest + to_principal = amount),
    UNIQUE (reference)
);
CREATE INDEX loan_repayments_loan_idx ON fin.loan_repayments (loan_id, received_at);

-- The loan's timeline: every decision, the checks as they were, collection notes, promises
-- to pay, bucket moves, the certificate's custody. Append-only for the login roles.
CREATE TABLE fin.loan_events (
    id          bigserial PRIMARY KEY,
    loan_id     bigint NOT NULL REFERENCES fin.loans(id),
    kind        text NOT NULL CHECK (kind IN (
                    'applied','checks','assigned','approved','second_approved','rejected',
                    'cancelled','disbursed','certificate_held','repayment','certificate_released',
                    'repaid','bucket','defaulted','collection_note','promise_to_pay')),
    at          timestamptz NOT NULL DEFAULT clock_timestamp(),
    staff_id    bigint REFERENCES ops.staff(id),        -- NULL: a job or a callback
    amount      numeric(14,2),
    promise_date date,
    note        text CHECK (note IS NULL OR length(note) <= 2000),
    detail      jsonb NOT NULL DEFAULT '{}'::jsonb,     -- check results, from/to bucket
    CHECK (kind <> 'promise_to_pay' OR (promise_date IS NOT NULL AND amount > 0)),
    CHECK (kind <> 'collection_note' OR length(btrim(note)) > 0)
);
CREATE INDEX loan_events_loan_idx ON fin.loan_events (loan_id, at);

-- The jobs' accrual moves updated_at like every writer (migration 064's rule).
CREATE TRIGGER stamp_updated_at BEFORE INSERT OR UPDATE ON fin.credit_lines
    FOR EACH ROW EXECUTE FUNCTION app.stamp_updated_at();
CREATE TRIGGER stamp_updated_at BEFORE INSERT OR UPDATE ON fin.loans
    FOR EACH ROW EXECUTE FUNCTION app.stamp_updated_at();

COMMENT ON SCHEMA fin IS 'Dealer finance: credit lines, order loans, repayments (issue 19).';
COMMENT ON COLUMN fin.credit_lines.committed IS
    'Principal held by applications in flight and loans not yet repaid (never below 0).';
COMMENT ON COLUMN fin.loans.daily_rate IS 'Daily interest rate, e.g. 0.000500 = 万五 a day.';
