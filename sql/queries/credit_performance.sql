-- The performance population of one scoring run: scored merchants (not flagged insufficient
-- history) that traded, with their outcome. A default rate is only defined where there was
-- exposure: a merchant that never placed or took an order cannot default, and counting it
-- as "good" would reward inactivity. Exposure = any order-related trace in the mart.
-- bad = deposit default, order-loan default, or a dispute lost within six months (in sample:
-- including events known when the run scored). first_bad_at = the first of those events, for
-- the out-of-time measure (console/services/credit.py).
-- Parameter: :run_id.
SELECT s.merchant_id, s.score, s.grade,
       (f.outcome_deposit_default OR f.outcome_loan_default OR f.outcome_dispute_lost_6m)::int AS bad,
       least(f.first_deposit_default_at, f.first_loan_default_at,
             f.first_dispute_lost_at) AS first_bad_at
FROM ops.credit_scores s
JOIN mart.merchant_features f ON f.merchant_id = s.merchant_id
WHERE s.run_id = :run_id
  AND NOT s.insufficient_history
  AND (f.deals_total + f.deposit_defaults + f.cancellations + f.late_payments
       + f.disputes_raised + f.disputes_lost > 0
       OR f.outcome_deposit_default OR f.outcome_loan_default OR f.outcome_dispute_lost_6m)
