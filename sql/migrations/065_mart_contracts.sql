-- Contracts on the marts (etl/contracts.py): each job validates its marts after its load and
-- records the results in etl.validation_results under the suite 'contract:<mart>'.
--
-- mart.freshness, the view behind every dashboard's freshness badge, gains the verdict of
-- each mart's latest contract validation: contract_passed (NULL: never validated) and
-- failed_contracts. The latest one, not the latest run's: a run that wrote nothing does not
-- validate again, and must not wipe the mark of a mart still broken. validation_passed and
-- failed_expectations keep speaking for the sources' checks of the latest run only.

-- The badge reads the newest contract results per mart; the data-quality page per suite.
CREATE INDEX ON etl.validation_results (suite, run_id);

CREATE OR REPLACE VIEW mart.freshness AS
WITH mart_runs AS (
    SELECT unnest(r.marts) AS mart, r.*
    FROM etl.runs r
),
last_success AS (
    SELECT DISTINCT ON (mart) mart, job, id AS run_id, finished_at
    FROM mart_runs WHERE status = 'succeeded'
    ORDER BY mart, finished_at DESC
),
last_run AS (
    SELECT DISTINCT ON (mart) mart, id AS run_id, status, started_at
    FROM mart_runs WHERE status <> 'refused'
    ORDER BY mart, started_at DESC, id DESC
),
last_validation AS (
    SELECT lr.mart, bool_and(v.success) AS validation_passed,
           count(*) FILTER (WHERE NOT v.success) AS failed_expectations
    FROM last_run lr JOIN etl.validation_results v ON v.run_id = lr.run_id
    WHERE v.suite NOT LIKE 'contract:%'
    GROUP BY lr.mart
),
last_contract AS (
    SELECT lr.mart, bool_and(v.success) AS contract_passed,
           count(*) FILTER (WHERE NOT v.success) AS failed_contracts
    FROM last_run lr
    JOIN etl.validation_results v
      ON v.suite = 'contract:' || lr.mart
     AND v.run_id = (SELECT max(x.run_id) FROM etl.validation_results x
                     WHERE x.suite = 'contract:' || lr.mart)
    GROUP BY lr.mart
)
SELECT lr.mart, ls.job, ls.finished_at AS computed_at, lr.status AS last_run_status,
       lr.started_at AS last_run_at,
       coalesce(lv.validation_passed, true) AS validation_passed,
       coalesce(lv.failed_expectations, 0) AS failed_expectations,
       lc.contract_passed,
       coalesce(lc.failed_contracts, 0) AS failed_contracts
FROM last_run lr
LEFT JOIN last_success ls USING (mart)
LEFT JOIN last_validation lv USING (mart)
LEFT JOIN last_contract lc USING (mart);
