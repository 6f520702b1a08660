-- Override governance (issue 17, step 5).
--
-- Re-examination: when a scoring run moves a merchant whose grade an approved override
-- replaces (its scored grade now differs from the scored grade the override was proposed
-- against), the override is marked for review (review_due_at, with the new scored grade);
-- a risk officer then keeps it (the mark clears, the new grade is the new basis) or revokes
-- it (status 'revoked': the scored grade holds again at once, through the current-grade
-- trigger of migration 066). Both decisions are audited by the service.

ALTER TABLE ops.credit_overrides DROP CONSTRAINT credit_overrides_status_check;
ALTER TABLE ops.credit_overrides ADD CONSTRAINT credit_overrides_status_check
    CHECK (status IN ('proposed', 'approved', 'rejected', 'expired', 'superseded', 'revoked'));

ALTER TABLE ops.credit_overrides
    ADD COLUMN basis_grade text CHECK (basis_grade IS NULL
                                       OR ops.credit_grade_rank(basis_grade) IS NOT NULL),
    ADD COLUMN review_due_at timestamptz,          -- a new score moved the merchant
    ADD COLUMN review_grade text,                  -- …to this scored grade
    ADD COLUMN reviewed_by bigint REFERENCES ops.staff(id),
    ADD COLUMN reviewed_at timestamptz,
    -- the limit the override creates, when it was approved (seniority rule, the record)
    ADD COLUMN approved_limit numeric(14,2);

-- The scored grade each override was proposed against (its run's grade for the merchant).
UPDATE ops.credit_overrides o SET basis_grade = s.grade
FROM ops.credit_scores s WHERE s.run_id = o.run_id AND s.merchant_id = o.merchant_id;

CREATE INDEX credit_overrides_review_idx ON ops.credit_overrides (review_due_at)
    WHERE review_due_at IS NOT NULL AND status = 'approved';

-- After a scoring run: mark the approved, unexpired overrides whose merchant's scored grade
-- moved away from the override's basis; how many were newly marked.
CREATE FUNCTION ops.mark_overrides_for_review(p_run bigint) RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE
    marked integer;
BEGIN
    UPDATE ops.credit_overrides o
    SET review_due_at = clock_timestamp(), review_grade = s.grade
    FROM ops.credit_scores s
    WHERE s.run_id = p_run AND s.merchant_id = o.merchant_id
      AND o.status = 'approved' AND o.expires_at > now()
      AND s.grade IS DISTINCT FROM o.basis_grade
      AND (o.review_due_at IS NULL OR o.review_grade IS DISTINCT FROM s.grade);
    GET DIAGNOSTICS marked = ROW_COUNT;
    RETURN marked;
END $$;
