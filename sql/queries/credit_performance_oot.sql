-- Out-of-time performance of one scoring run: did the merchants it rated badly go bad AFTER it
-- scored them? The in-sample query counts outcomes known when the run scored (a lost dispute is
-- both a factor and an outcome), which flatters KS and AUC. Here:
-- - merchants already bad when the run finished are left out (the score could see it);
-- - bad = a first deposit default, loan default or lost dispute within :window_days after;
-- - the exposure rule is the in-sample query's (sql/queries/credit_performance.sql).
-- Parameters: :run_id, :window_days.
WITH run AS (
    SELECT finished_at AS t FROM ops.credit_runs WHERE id = :run_id
),
population AS (
    SELECT s.merchant_id, s.score, s.grade, run.t,
           least(f.first_deposit_default_at, f.first_loan_default_at,
                 f.first_dispute_lost_at) AS first_bad_at
    FROM ops.credit_scores s
    CROSS JOIN run
    JOIN mart.merchant_features f ON f.merchant_id = s.merchant_id
    WHERE s.run_id = :run_id
      AND NOT s.insufficient_history
      AND (f.deals_total + f.deposit_defaults + f.cancellations + f.late_payments
           + f.disputes_raised + f.disputes_lost > 0
           OR f.outcome_deposit_default OR f.outcome_loan_default OR f.outcome_dispute_lost_6m)
)
SELECT merchant_id, score, grade,
       coalesce(first_bad_at <= t + make_interval(days => CAST(:window_days AS integer)),
                false)::int AS bad
FROM population
WHERE first_bad_at IS NULL OR first_bad_at > t
