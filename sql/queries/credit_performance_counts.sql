-- The performance of one scoring run on point-in-time labels (issue 17), counted per score,
-- grade and outcome: the monitoring page needs the counts, not 20,000 rows of merchants.
-- Population: the run's graded merchants (NEW ones, without a completed deal, are not graded
-- by the card), from its narrow copy of the scores (ops.credit_run_merchants, migration 076).
-- Label: bad = a bad event at or after the run finished and within :window_days days of it:
-- a deposit default (the buyer cancelled after paying a deposit), a dispute lost, a loan
-- default (etl.loan_defaults, migration 102: an order loan 90+ days past due, dated the start
-- of its default day, or an older loan record closed as defaulted), as
-- sql/queries/credit_features_as_of.sql and credit_override_outcomes.sql. loan_bad: bad with
-- an order loan of fin.loans reaching 90+ days past due in the window (the population's
-- loan defaults the monitoring page shows). Bad events before the run are the card's inputs, never its
-- label: a merchant that defaulted before and again after is bad, one that defaulted only
-- before is good for this run (before this, the label was the features mart's outcome flags,
-- which the card also reads: 95 of 97 bad merchants carried their bad event as an input).
-- Parameters: :run_id, :window_days.
WITH run AS (
    SELECT finished_at AS since,
           finished_at + make_interval(days => CAST(:window_days AS integer)) AS until
    FROM ops.credit_runs WHERE id = :run_id
),
bad_events AS (
    SELECT o.buyer_id AS merchant_id, false AS order_loan
    FROM etl.clean_orders o CROSS JOIN run r
    WHERE o.status = 'cancelled' AND o.cancelled_by = 'buyer' AND o.deposit_paid_at IS NOT NULL
      AND o.cancelled_at >= r.since AND o.cancelled_at < r.until
    UNION
    SELECT CASE d.outcome WHEN 'against_won' THEN d.raised_by ELSE d.against_id END, false
    FROM etl.clean_disputes d CROSS JOIN run r
    WHERE d.outcome IN ('against_won', 'raiser_won')
      AND d.resolved_at >= r.since AND d.resolved_at < r.until
    UNION
    SELECT ld.merchant_id, ld.kind = 'order_loan'
    FROM etl.loan_defaults ld CROSS JOIN run r
    WHERE ld.at >= r.since AND ld.at < r.until
),
bad AS (
    SELECT merchant_id, bool_or(order_loan) AS order_loan FROM bad_events GROUP BY merchant_id
)
SELECT s.score, s.grade, (b.merchant_id IS NOT NULL)::int AS bad,
       coalesce(b.order_loan, false)::int AS loan_bad, count(*) AS merchants
FROM ops.credit_run_merchants s
LEFT JOIN bad b ON b.merchant_id = s.merchant_id
WHERE s.run_id = :run_id AND NOT s.insufficient_history
GROUP BY 1, 2, 3, 4
