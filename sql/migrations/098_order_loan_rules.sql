-- Order loans (issue 19), the rules migration 096 left to the loans' services:
--   * who entered an application: staff entering one for a merchant (applied_by; NULL when
--     the marketplace submitted it) may not approve it, first or second, as the database's
--     own rule beside the service's refusal;
--   * the payout's reference: disbursement pays the seller through the payment channel
--     (console/finance/payout.py) and keeps the channel's reference with the loan.
ALTER TABLE fin.loans
    ADD COLUMN applied_by bigint REFERENCES ops.staff(id),
    ADD COLUMN payout_reference text CHECK (payout_reference IS NULL
                                            OR length(payout_reference) BETWEEN 1 AND 64),
    ADD CONSTRAINT loans_not_own_application
        CHECK (approved_by <> applied_by AND second_approved_by <> applied_by);

-- The accrual reads the loans it has work on: disbursed ones (loans_open_idx covers them);
-- the queue's "next case" takes the oldest unassigned application.
CREATE INDEX loans_unassigned_idx ON fin.loans (applied_at, id)
    WHERE status = 'applied' AND assignee_id IS NULL;
