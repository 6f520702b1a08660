-- The performance population of one scoring run (credit_performance.sql: scored merchants
-- without the insufficient-history flag that traded, with their outcome), counted per score,
-- grade and outcome: the monitoring page needs the counts, not 20,000 rows of merchants.
-- Reads the run's narrow copy of its scores (ops.credit_run_merchants, migration 076).
-- bad       = deposit default, order-loan default, or a dispute lost within six months;
-- later     = not yet bad when the run finished (the out-of-time population);
-- went_bad  = first bad within :window_days days after the run finished.
-- Parameters: :run_id, :window_days.
WITH run AS (
    SELECT finished_at FROM ops.credit_runs WHERE id = :run_id
),
population AS (
    SELECT s.score, s.grade,
           (f.outcome_deposit_default OR f.outcome_loan_default OR f.outcome_dispute_lost_6m)::int AS bad,
           least(f.first_deposit_default_at, f.first_loan_default_at,
                 f.first_dispute_lost_at) AS first_bad_at
    FROM ops.credit_run_merchants s
    JOIN mart.merchant_features f ON f.merchant_id = s.merchant_id
    WHERE s.run_id = :run_id
      AND NOT s.insufficient_history
      AND (f.deals_total + f.deposit_defaults + f.cancellations + f.late_payments
           + f.disputes_raised + f.disputes_lost > 0
           OR f.outcome_deposit_default OR f.outcome_loan_default OR f.outcome_dispute_lost_6m)
)
SELECT p.score, p.grade, p.bad,
       (p.first_bad_at IS NULL OR p.first_bad_at > r.finished_at) AS later,
       coalesce(p.first_bad_at <= r.finished_at + :window_days * interval '24 hours', false)
           AS went_bad,
       count(*) AS merchants
FROM population p CROSS JOIN run r
GROUP BY 1, 2, 3, 4, 5
