"""The scheduled system jobs (console/jobs.py) as Dagster assets, with their dependencies,
a schedule, and the ETL's great-expectations results as asset checks.

Every asset calls the step `python -m console jobs` runs, through ``console.jobs.run_step``:
the same function, under the same advisory lock (a Dagster run and a cron run never do one
step at once: the second skips it), writing the same JSON log line and run-log row.

| asset | step | depends on |
|---|---|---|
| ``ops/cert_prechecks`` | prechecks | - |
| ``ops/listing_flags`` | listing_flags | - |
| ``ops/match_suggestions`` | matching (idle leads back, rematch, best offers) | listing flags |
| ``mart/<table>``, one per mart | etl (``etl.run_all``: one session, each source staged once) | listing flags, match suggestions |
| ``ops/credit_scores`` | credit (overrides expired, scoring run, rematch of moved grades) | ``mart/merchant_features`` |
| ``ops/credit_validation_reports`` | credit_validation (the validation report, stored when stale) | ``ops/credit_scores`` |
| ``fin/loans`` | loan_accrual (order loans' interest, days past due, buckets, defaults) | |
| ``fin/vip_memberships`` | vip_lapse (VIP terms past their last day lapsed) | |
| ``mart/loan_portfolio`` | loan_portfolio (the portfolio mart rebuilt from the loans) | ``fin/loans`` |
| ``mart/logistics`` | logistics_mart (the logistics dashboard's mart rebuilt from the desk's requests) | |

The marts are one multi-asset that can be subset: materialising some marts runs the ETL jobs
that write them (a job writes all of its marts in one transaction). Each mart has two asset
checks, both from the run's great-expectations validations (``etl.validation_results``):
``sources`` (the job's suite over the batches it read: failing rows quarantined, severity
WARN; an error-severity expectation fails the load, severity ERROR) and ``contract`` (the
mart's latest contract validation, etl/contracts.py; a failed contract does not undo the
load, severity WARN). A step another run holds is skipped: its assets are not materialised
and what depends on them is skipped too.

Unlike ``console jobs``, where a failed step does not stop the next, a failed asset stops
what depends on it (credit scoring does not run on marts whose load failed); the independent
ones still run.
"""
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import dagster as dg
from dagster import AssetExecutionContext
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from console import db, jobs
from console.settings import get_settings
from etl.jobs import JOBS

PRECHECKS = dg.AssetKey(["ops", "cert_prechecks"])
LISTING_FLAGS = dg.AssetKey(["ops", "listing_flags"])
MATCH_SUGGESTIONS = dg.AssetKey(["ops", "match_suggestions"])
CREDIT_SCORES = dg.AssetKey(["ops", "credit_scores"])
CREDIT_VALIDATION = dg.AssetKey(["ops", "credit_validation_reports"])
LOANS = dg.AssetKey(["fin", "loans"])
VIP_MEMBERSHIPS = dg.AssetKey(["fin", "vip_memberships"])
LOAN_PORTFOLIO = dg.AssetKey(["mart", "loan_portfolio"])
LOGISTICS = dg.AssetKey(["mart", "logistics"])

SOURCES_CHECK = "sources"
CONTRACT_CHECK = "contract"
TRIGGERED_BY = "dagster"  # etl.runs.triggered_by of the ETL runs an asset starts
CRON = "*/15 * * * *"     # as the README's cron line for `console jobs`


def mart_key(mart: str) -> dg.AssetKey:
    """``mart.daily_kpis`` -> ``mart/daily_kpis``."""
    return dg.AssetKey(mart.split("."))


MARTS: dict[str, str] = {mart: job.name for job in JOBS.values() for mart in job.marts}


class ConsoleJobs(dg.ConfigurableResource):
    """The jobs' database, as `console jobs` uses it: dh_jobs at ``JOBS_DATABASE_URL``
    (console/settings.py; the same environment as the cron line). ``full``: a full rematch
    and ETL rebuild, as `console jobs --full` (set it in a run's config)."""

    full: bool = False

    def engine(self) -> Engine:
        return db.get_engine(role="jobs")


def _step(context: AssetExecutionContext, name: str, fn: Callable[[Engine], str],
          engine: Engine) -> jobs.StepResult | None:
    """One step of console/jobs.py under its lock: None when another run holds it."""
    result = jobs.run_step(name, fn, engine=engine)
    if result.skipped:
        context.log.warning(f"{name}: {result.detail}; nothing materialised")
        return None
    context.log.info(f"{name} ({result.seconds:.1f} s): {result.detail}")
    return result


def _failed(result: jobs.StepResult) -> dg.Failure:
    return dg.Failure(description=f"{result.name}: {result.detail}",
                      metadata={"seconds": round(result.seconds, 2)})


def _step_asset(key: dg.AssetKey, step: str, *, deps: Sequence[dg.AssetKey],
                description: str) -> dg.AssetsDefinition:
    spec = dg.AssetSpec(key, deps=deps, group_name="console_jobs", description=description,
                        skippable=True, kinds={"postgres"}, metadata={"console_job": step})

    @dg.multi_asset(name=step, specs=[spec])
    def _asset(context: AssetExecutionContext, console: ConsoleJobs) -> Iterator[Any]:
        fn = dict(jobs.steps(full=console.full))[step]
        result = _step(context, step, fn, console.engine())
        if result is None:
            return
        if not result.ok:
            raise _failed(result)
        yield dg.MaterializeResult(asset_key=key, metadata={
            "detail": result.detail, "seconds": round(result.seconds, 2)})

    return _asset


prechecks = _step_asset(PRECHECKS, "prechecks", deps=[], description=(
    "Certification pre-checks: check characters, duplicates, documents of the open cases."))
listing_flags = _step_asset(LISTING_FLAGS, "listing_flags", deps=[], description=(
    "Listing authenticity flags raised for review."))
match_suggestions = _step_asset(MATCH_SUGGESTIONS, "matching", deps=[LISTING_FLAGS], description=(
    "Idle leads back to the pool, the open requests' match suggestions, best bidding offers."))
credit_scores = _step_asset(CREDIT_SCORES, "credit", deps=[mart_key("mart.merchant_features")],
                            description=("A credit scoring run with the active scorecard over "
                                         "mart.merchant_features; expired overrides ended; "
                                         "requests of moved grades rematched."))
credit_validation = _step_asset(CREDIT_VALIDATION, "credit_validation", deps=[CREDIT_SCORES],
                                description=("The scorecard validation report per version, "
                                             "stored for the validation page when stale."))
loan_accrual = _step_asset(LOANS, "loan_accrual", deps=[], description=(
    "Order loans: interest up to yesterday, days past due, buckets and defaults."))
vip_lapse = _step_asset(VIP_MEMBERSHIPS, "vip_lapse", deps=[], description=(
    "VIP membership terms past their last day lapsed (BD's follow-up list)."))
loan_portfolio = _step_asset(LOAN_PORTFOLIO, "loan_portfolio", deps=[LOANS], description=(
    "The loan portfolio mart (mart.loan_*): month-end snapshots, vintages, roll rates, grades, "
    "concentration, rebuilt from the loans and their repayments."))
logistics_mart = _step_asset(LOGISTICS, "logistics_mart", deps=[], description=(
    "The logistics dashboard's mart (mart.lgx_*): orders, cars, on-time, damage, cost and "
    "margin by month and lane, rebuilt from the desk's requests and claims."))


# ---------------------------------------------------------------- the marts
def _mart_specs() -> list[dg.AssetSpec]:
    return [dg.AssetSpec(mart_key(mart), deps=[LISTING_FLAGS, MATCH_SUGGESTIONS],
                         group_name="marts", skippable=True, kinds={"postgres"},
                         description=f"{mart}: {job.description}",
                         metadata={"etl_job": job.name, "table": mart})
            for job in JOBS.values() for mart in job.marts]


def _check_specs() -> list[dg.AssetCheckSpec]:
    specs = []
    for mart, job in MARTS.items():
        specs.append(dg.AssetCheckSpec(SOURCES_CHECK, asset=mart_key(mart), description=(
            f"The great-expectations suite of the batches {job} read (etl/jobs/{job}/suite.py): "
            "failing rows are quarantined (WARN); an error-severity failure stops the load "
            "(ERROR).")))
        specs.append(dg.AssetCheckSpec(CONTRACT_CHECK, asset=mart_key(mart), description=(
            f"The latest validation of {mart} against its great-expectations contract "
            "(etl/contracts.py). A failed contract does not undo the load (WARN).")))
    return specs


def _failures(engine: Engine, run_id: int | None) -> list[dict[str, Any]]:
    """The failed source expectations of one ETL run."""
    if run_id is None:
        return []
    with engine.connect() as conn:
        return db.fetch_all(conn, """
            SELECT expectation, severity, source_table, failing_rows
            FROM etl.validation_results
            WHERE run_id = :run AND suite NOT LIKE 'contract:%' AND NOT success
            ORDER BY expectation""", run=run_id)


def _contracts(engine: Engine, marts: list[str]) -> dict[str, tuple[int, list[str]]]:
    """Each mart's latest contract validation: (ETL run id, failed expectations); a mart
    never validated is absent."""
    with engine.connect() as conn:
        rows = db.fetch_all(conn, """
            SELECT substr(v.suite, 10) AS mart, v.run_id,
                   coalesce(array_agg(v.expectation ORDER BY v.expectation)
                            FILTER (WHERE NOT v.success), '{}') AS failed
            FROM etl.validation_results v
            WHERE v.suite = ANY(CAST(:suites AS text[]))
              AND v.run_id = (SELECT max(x.run_id) FROM etl.validation_results x
                              WHERE x.suite = v.suite)
            GROUP BY v.suite, v.run_id""", suites=[f"contract:{m}" for m in marts])
    return {r["mart"]: (r["run_id"], list(r["failed"])) for r in rows}


def _mart_rows(engine: Engine, mart: str) -> int:
    with engine.connect() as conn:  # a name from the job registry, never from data
        return int(conn.execute(sa.text(f"SELECT count(*) FROM {mart}")).scalar_one())


def _sources_result(key: dg.AssetKey, run: Any, failures: list[dict[str, Any]]
                    ) -> dg.AssetCheckResult:
    errors = [f for f in failures if f["severity"] == "error"]
    return dg.AssetCheckResult(
        asset_key=key, check_name=SOURCES_CHECK, passed=not failures,
        severity=dg.AssetCheckSeverity.ERROR if errors else dg.AssetCheckSeverity.WARN,
        metadata={"etl_run_id": run.run_id, "rows_in": run.rows_in,
                  "rows_quarantined": run.rows_quarantined,
                  "failed_expectations": [f["expectation"] for f in failures],
                  "failing_rows": sum(f["failing_rows"] or 0 for f in failures)})


@dg.multi_asset(name="etl", specs=_mart_specs(), check_specs=_check_specs(), can_subset=True)
def marts(context: AssetExecutionContext, console: ConsoleJobs) -> Iterator[Any]:
    selected = context.selected_asset_keys
    names = [job.name for job in JOBS.values() if any(mart_key(m) in selected for m in job.marts)]
    runs: dict[str, Any] = {}

    def etl_step(engine: Engine) -> str:  # console/jobs.py's etl step, keeping the results
        import etl
        for run in etl.run_all(engine=engine, names=names, full=console.full,
                               triggered_by=TRIGGERED_BY):
            runs[run.job] = run
        failed = [job for job, run in runs.items() if run.status != "succeeded"]
        if failed:
            raise RuntimeError(f"ETL jobs not succeeded: {', '.join(failed)}")
        return ", ".join(f"{job}={run.rows_loaded}" for job, run in runs.items())

    engine = console.engine()
    result = _step(context, "etl", etl_step, engine)
    if result is None:
        return
    checks = context.selected_asset_check_keys
    contracts = _contracts(engine, [m for m, job in MARTS.items() if job in runs])
    for job, run in runs.items():
        failures = _failures(engine, run.run_id)
        for mart in JOBS[job].marts:
            key = mart_key(mart)
            if key not in selected:
                continue
            if run.status == "succeeded":
                yield dg.MaterializeResult(asset_key=key, metadata={
                    "etl_run_id": run.run_id, "rows_in": run.rows_in,
                    "rows_loaded": run.rows_loaded, "rows_quarantined": run.rows_quarantined,
                    "job_rows_written": run.mart_rows_written,
                    "rows": dg.MetadataValue.int(_mart_rows(engine, mart))})
            if run.status != "refused" and dg.AssetCheckKey(key, SOURCES_CHECK) in checks:
                yield _sources_result(key, run, failures)
            if mart in contracts and dg.AssetCheckKey(key, CONTRACT_CHECK) in checks:
                validated_in, failed = contracts[mart]
                yield dg.AssetCheckResult(
                    asset_key=key, check_name=CONTRACT_CHECK, passed=not failed,
                    severity=dg.AssetCheckSeverity.WARN,
                    metadata={"validated_in_etl_run": validated_in,
                              "failed_expectations": failed})
    if not result.ok:
        raise _failed(result)


# ---------------------------------------------------------------- jobs, schedule, definitions
ASSETS = [prechecks, listing_flags, match_suggestions, marts, credit_scores, credit_validation,
          loan_accrual, vip_lapse, loan_portfolio, logistics_mart]
STEP_ASSETS = {"prechecks": prechecks, "listing_flags": listing_flags,
               "matching": match_suggestions, "etl": marts, "credit": credit_scores,
               "credit_validation": credit_validation, "loan_accrual": loan_accrual,
               "vip_lapse": vip_lapse, "loan_portfolio": loan_portfolio,
               "logistics_mart": logistics_mart}

console_jobs = dg.define_asset_job(
    "console_jobs", selection=dg.AssetSelection.assets(*ASSETS),
    description="Every scheduled system job, as `python -m console jobs`.")

every_15_minutes = dg.ScheduleDefinition(
    name="console_jobs_every_15_minutes", job=console_jobs, cron_schedule=CRON,
    execution_timezone=get_settings().timezone,
    description="Instead of the cron line (README, Scheduling); off until turned on.")

defs = dg.Definitions(assets=ASSETS, jobs=[console_jobs], schedules=[every_15_minutes],
                      resources={"console": ConsoleJobs()})
