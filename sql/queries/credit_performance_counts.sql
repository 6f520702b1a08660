-- The performance of one scoring run on point-in-time labels (issue 17), counted per score,
-- grade and outcome: the monitoring page needs the counts, not 20,000 rows of merchants.
-- Population: the run's graded merchants (NEW ones, without a completed deal, are not graded
-- by the card), from its narrow copy of the scores (ops.credit_run_merchants, migration 076).
-- Label: bad = a bad event at or after the run finished and within :window_days days of it:
-- a deposit default (the buyer cancelled after paying a deposit), a dispute lost, an order
-- loan in default (as sql/queries/credit_features_as_of.sql and
-- credit_override_outcomes.sql). Bad events before the run are the card's inputs, never its
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
    SELECT o.buyer_id AS merchant_id
    FROM etl.clean_orders o CROSS JOIN run r
    WHERE o.status = 'cancelled' AND o.cancelled_by = 'buyer' AND o.deposit_paid_at IS NOT NULL
      AND o.cancelled_at >= r.since AND o.cancelled_at < r.until
    UNION
    SELECT CASE d.outcome WHEN 'against_won' THEN d.raised_by ELSE d.against_id END
    FROM etl.clean_disputes d CROSS JOIN run r
    WHERE d.outcome IN ('against_won', 'raiser_won')
      AND d.resolved_at >= r.since AND d.resolved_at < r.until
    UNION
    SELECT la.merchant_id
    FROM etl.clean_loan_applications la CROSS JOIN run r
    WHERE la.status = 'defaulted' AND la.closed_at >= r.since AND la.closed_at < r.until
)
SELECT s.score, s.grade, (b.merchant_id IS NOT NULL)::int AS bad, count(*) AS merchants
FROM ops.credit_run_merchants s
LEFT JOIN bad_events b ON b.merchant_id = s.merchant_id
WHERE s.run_id = :run_id AND NOT s.insufficient_history
GROUP BY 1, 2, 3
