-- How overridden merchants did afterwards, against merchants of the same grade without an
-- override (issue 17): per grade the override gave, the overridden merchants with a bad event
-- within :window_days days after the approval, and the peers (same run, scored that grade
-- with enough history, never overridden in it) with a bad event within :window_days days
-- after that run. Bad event = a deposit default, a dispute lost or a loan default
-- (etl.loan_defaults, migration 102; as sql/queries/credit_features_as_of.sql). Parameter: :window_days.
--
-- The definition, row by row, is tests/sql/credit_override_outcomes_definition.sql
-- (tests/test_credit_override_outcomes.py holds the two equal). It follows every peer row of
-- ops.credit_scores: 50,000 per run with an override, 29 such runs on the large bench (2.3 GB,
-- 3.6-16 s). Here the peers are counted from what the scoring run keeps per run and grade
-- (ops.credit_run_scored_grades, migration 092) less the merchants overridden in that run,
-- and only the bad events' merchants are looked up in the runs whose window holds the event.
WITH overridden AS MATERIALIZED (
    SELECT o.id, o.merchant_id, o.run_id, o.new_grade AS grade, o.decided_at AS since
    FROM ops.credit_overrides o
    WHERE o.approved_by IS NOT NULL AND o.decided_at IS NOT NULL
),
runs AS MATERIALIZED (           -- the runs with an override, when their peers are followed from
    SELECT r.id AS run_id, r.finished_at AS since
    FROM ops.credit_runs r
    WHERE r.id IN (SELECT run_id FROM overridden)
),
grades AS MATERIALIZED (
    SELECT DISTINCT grade FROM overridden
),
excluded AS MATERIALIZED (       -- a merchant overridden in a run is not that run's peer
    SELECT DISTINCT run_id, merchant_id FROM overridden
),
-- Only events from the first followed day to the last window's end can count.
span AS MATERIALIZED (
    SELECT min(since) AS first_at, max(since) + make_interval(days => :window_days) AS last_at
    FROM (SELECT since FROM overridden UNION ALL SELECT since FROM runs) s
),
bad_events AS MATERIALIZED (
    SELECT e.merchant_id, e.at
    FROM (SELECT o.buyer_id AS merchant_id, o.cancelled_at AS at
          FROM etl.clean_orders o
          WHERE o.status = 'cancelled' AND o.cancelled_by = 'buyer' AND o.deposit_paid_at IS NOT NULL
            AND o.cancelled_at >= (SELECT first_at FROM span)
            AND o.cancelled_at < (SELECT last_at FROM span)
          UNION ALL
          SELECT d.raised_by, d.resolved_at FROM etl.clean_disputes d
          WHERE d.outcome = 'against_won'
            AND d.resolved_at >= (SELECT first_at FROM span)
            AND d.resolved_at < (SELECT last_at FROM span)
          UNION ALL
          SELECT d.against_id, d.resolved_at FROM etl.clean_disputes d
          WHERE d.outcome = 'raiser_won'
            AND d.resolved_at >= (SELECT first_at FROM span)
            AND d.resolved_at < (SELECT last_at FROM span)
          UNION ALL
          SELECT ld.merchant_id, ld.at FROM etl.loan_defaults ld   -- order loans 90+ DPD, old records
          WHERE ld.at >= (SELECT first_at FROM span)
            AND ld.at < (SELECT last_at FROM span)) e
),
bad_by_merchant AS (
    SELECT merchant_id, array_agg(at) AS ats FROM bad_events GROUP BY merchant_id
),
overridden_rows AS (
    SELECT v.grade,
           coalesce((SELECT bool_or(t >= v.since
                                    AND t < v.since + make_interval(days => :window_days))
                     FROM unnest(bm.ats) t), false) AS bad,
           v.since + make_interval(days => :window_days) <= now() AS complete
    FROM overridden v LEFT JOIN bad_by_merchant bm ON bm.merchant_id = v.merchant_id
),
-- Peers per run and grade: the run's merchants of the grade scored with enough history,
-- less those of them overridden in the run.
excluded_scored AS (
    SELECT m.run_id, m.grade, count(*) AS n
    FROM excluded e
    JOIN ops.credit_run_merchants m ON m.run_id = e.run_id AND m.merchant_id = e.merchant_id
    WHERE NOT m.insufficient_history
    GROUP BY m.run_id, m.grade
),
peer_counts AS (
    SELECT k.grade, k.merchants - coalesce(x.n, 0) AS peers,
           r.since + make_interval(days => :window_days) > now() AS open
    FROM ops.credit_run_scored_grades k
    JOIN runs r ON r.run_id = k.run_id
    LEFT JOIN excluded_scored x ON x.run_id = k.run_id AND x.grade = k.grade
    WHERE k.grade IN (SELECT grade FROM grades)
),
-- Peers with a bad event in their run's window: each merchant with such an event, in each
-- run whose window holds it, looked up in that run.
peer_bad AS (
    SELECT m.grade, count(*) AS n
    FROM (SELECT DISTINCT r.run_id, b.merchant_id
          FROM bad_events b
          JOIN runs r ON b.at >= r.since AND b.at < r.since + make_interval(days => :window_days)) p
    JOIN ops.credit_run_merchants m ON m.run_id = p.run_id AND m.merchant_id = p.merchant_id
    WHERE NOT m.insufficient_history
      AND m.grade IN (SELECT grade FROM grades)
      AND NOT EXISTS (SELECT 1 FROM excluded x
                      WHERE x.run_id = p.run_id AND x.merchant_id = p.merchant_id)
    GROUP BY m.grade
)
SELECT g.grade,
       coalesce(v.overridden, 0) AS overridden,
       coalesce(v.overridden_bad, 0) AS overridden_bad,
       coalesce(p.peers, 0) AS peers,
       coalesce(b.n, 0) AS peers_bad,
       coalesce(v.window_open, 0) + coalesce(p.window_open, 0) AS window_open
FROM grades g
LEFT JOIN (SELECT grade, count(*) AS overridden, count(*) FILTER (WHERE bad) AS overridden_bad,
                  count(*) FILTER (WHERE NOT complete) AS window_open
           FROM overridden_rows GROUP BY grade) v ON v.grade = g.grade
LEFT JOIN (SELECT grade, CAST(sum(peers) AS bigint) AS peers,
                  CAST(coalesce(sum(peers) FILTER (WHERE open), 0) AS bigint) AS window_open
           FROM peer_counts GROUP BY grade) p ON p.grade = g.grade
LEFT JOIN peer_bad b ON b.grade = g.grade
ORDER BY ops.credit_grade_rank(g.grade)
