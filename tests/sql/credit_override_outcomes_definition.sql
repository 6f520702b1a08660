-- The definition of the overrides page's outcomes, row by row: every overridden merchant and
-- every peer followed on its own. sql/queries/credit_override_outcomes.sql answers the same
-- from the scoring run's kept counts (it read 50,000 wide score rows per run with an override:
-- 3.6-16 s on the large bench); tests/test_credit_override_outcomes.py holds the two equal.
--
-- How overridden merchants did afterwards, against merchants of the same grade without an
-- override (issue 17): per grade the override gave, the overridden merchants with a bad event
-- within :window_days days after the approval, and the peers (same run, scored that grade,
-- never overridden in it) with a bad event within :window_days days after that run.
-- Bad event = a deposit default, a dispute lost or a loan default (etl.loan_defaults, as
-- sql/queries/credit_features_as_of.sql). Parameter: :window_days.
WITH bad_events AS (
    SELECT o.buyer_id AS merchant_id, o.cancelled_at AS at
    FROM etl.clean_orders o
    WHERE o.status = 'cancelled' AND o.cancelled_by = 'buyer' AND o.deposit_paid_at IS NOT NULL
    UNION ALL
    SELECT d.raised_by, d.resolved_at FROM etl.clean_disputes d WHERE d.outcome = 'against_won'
    UNION ALL
    SELECT d.against_id, d.resolved_at FROM etl.clean_disputes d WHERE d.outcome = 'raiser_won'
    UNION ALL
    SELECT ld.merchant_id, ld.at FROM etl.loan_defaults ld   -- order loans 90+ DPD, old records
),
overridden AS (
    SELECT o.id, o.merchant_id, o.run_id, o.new_grade AS grade, o.decided_at AS since
    FROM ops.credit_overrides o
    WHERE o.approved_by IS NOT NULL AND o.decided_at IS NOT NULL
),
peers AS (
    SELECT s.merchant_id, s.run_id, s.grade, r.finished_at AS since
    FROM ops.credit_scores s
    JOIN ops.credit_runs r ON r.id = s.run_id
    WHERE s.run_id IN (SELECT run_id FROM overridden)
      AND NOT s.insufficient_history
      AND s.grade IN (SELECT grade FROM overridden)
      AND NOT EXISTS (SELECT 1 FROM overridden x
                      WHERE x.merchant_id = s.merchant_id AND x.run_id = s.run_id)
),
-- Each merchant's bad-event times in one array, joined by hash: an EXISTS over the union
-- per followed row scanned every bad event once per peer (30 runs x 50,000 peers on the
-- large bench ran past the 30 s statement timeout).
bad_by_merchant AS (
    SELECT merchant_id, array_agg(at) AS ats FROM bad_events
    WHERE at IS NOT NULL GROUP BY merchant_id
),
followed_rows AS (
    SELECT 'overridden' AS cohort, v.grade, v.merchant_id, v.since FROM overridden v
    UNION ALL
    SELECT 'peer', p.grade, p.merchant_id, p.since FROM peers p
),
followed AS (
    SELECT f.cohort, f.grade,
           coalesce((SELECT bool_or(t >= f.since
                                    AND t < f.since + make_interval(days => :window_days))
                     FROM unnest(bm.ats) t), false) AS bad,
           f.since + make_interval(days => :window_days) <= now() AS complete
    FROM followed_rows f LEFT JOIN bad_by_merchant bm ON bm.merchant_id = f.merchant_id
)
SELECT grade,
       count(*) FILTER (WHERE cohort = 'overridden') AS overridden,
       count(*) FILTER (WHERE cohort = 'overridden' AND bad) AS overridden_bad,
       count(*) FILTER (WHERE cohort = 'peer') AS peers,
       count(*) FILTER (WHERE cohort = 'peer' AND bad) AS peers_bad,
       count(*) FILTER (WHERE NOT complete) AS window_open
FROM followed
GROUP BY grade
ORDER BY ops.credit_grade_rank(grade)
