"""The scheduled jobs as Dagster assets (console/orchestration/, issue 18 "Jobs under an
orchestrator"), materialised in-process on the seeded small demo database.

Dagster lives in its own environment, `.venv-orch` (`make orchestration-venv`:
requirements.txt + requirements-orchestration.txt), never in `.venv`: `make test` runs this
file with it after the main suite. In `.venv` the Dagster tests are skipped, and the first
test below fails unless `.venv-orch` is there with dagster in it, so the suite cannot pass
while these tests never run. `CONSOLE_SKIP_ORCHESTRATION=1` opts out (a machine that cannot
install the extra); `make test` then leaves this file out as well.
"""
from __future__ import annotations

import os
import subprocess
import sys
import uuid
from decimal import Decimal

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import make_url

from console.jobs import LOCK_NAMESPACE, STEP_NAMES, run_all
from console.settings import PROJECT_ROOT
from etl.jobs import JOBS
from tests.conftest import _console_roles, _create_database, _drop_database, _superuser_engine

try:
    import dagster as dg
except ImportError:  # the main venv: these tests run under .venv-orch
    dg = None

ORCH_PYTHON = PROJECT_ROOT / ".venv-orch" / "bin" / "python"
OPT_OUT = "CONSOLE_SKIP_ORCHESTRATION"

needs_dagster = pytest.mark.skipif(
    dg is None, reason="runs under .venv-orch (make test runs it there: make test-orchestration)")


def test_the_orchestration_tests_have_their_environment():
    """Not skipped silently: without the environment this fails and says what to do."""
    if os.environ.get(OPT_OUT) == "1":
        pytest.skip(f"{OPT_OUT}=1: the Dagster assets are not tested on this machine")
    if dg is not None:
        return
    assert ORCH_PYTHON.exists(), (
        f"{ORCH_PYTHON} is missing: `make orchestration-venv` builds it (dagster from "
        f"requirements-orchestration.txt); {OPT_OUT}=1 opts out")
    probe = subprocess.run([str(ORCH_PYTHON), "-c", "import dagster; print(dagster.__version__)"],
                           capture_output=True, text=True, timeout=120)
    assert probe.returncode == 0, f"{ORCH_PYTHON} cannot import dagster:\n{probe.stderr[-2000:]}"


# ---------------------------------------------------------------- helpers
MART_TABLES = [mart for job in JOBS.values() for mart in job.marts]
# What the system jobs write besides the marts. Columns left out of the comparison: when a
# row was written (the two runs are seconds apart), never what it says.
OPS_TABLES = ["ops.cert_prechecks", "ops.listing_flags", "ops.match_suggestions",
              "ops.credit_scores", "ops.merchant_credit"]
WRITE_TIMES = {"computed_at", "created_at", "updated_at", "checked_at", "scored_at",
               "raised_at", "suggested_at", "refreshed_at"}


# A suggestion's freshness points decay by the second (console/services/matching.py scores
# with the wall clock): runs a minute apart may round its third decimal apart.
AGE_SCORED = {"ops.match_suggestions": ("score", "components")}


def _close(a, b) -> bool:
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_close(a[k], b[k]) for k in a)
    if isinstance(a, (int, float, Decimal)) and isinstance(b, (int, float, Decimal)):
        return abs(float(a) - float(b)) <= 0.005
    return a == b


def aged_scores_agree(expected: dict, actual: dict) -> bool:
    """The clock-dependent scores: the same keys, values within 0.005."""
    return all(expected[t].keys() == actual[t].keys()
               and all(_close(expected[t][k], actual[t][k]) for k in expected[t])
               for t in AGE_SCORED)


def aged_scores(engine) -> dict[str, dict[tuple, dict]]:
    with engine.connect() as conn:
        return {table: {(r.request_id, r.listing_id): {"score": r.score, **r.components}
                        for r in conn.execute(sa.text(
                            f"SELECT request_id, listing_id, {', '.join(cols)} FROM {table}"))}
                for table, cols in AGE_SCORED.items()}


def snapshot(engine) -> dict[str, list[tuple]]:
    """Every row of the marts and of the jobs' ops tables, in a fixed order (of the
    suggestions, all but their clock-dependent scores: ``aged_scores``)."""
    tables = {}
    with engine.connect() as conn:
        for table in MART_TABLES + OPS_TABLES:
            schema, name = table.split(".")
            cols = [c for (c,) in conn.execute(sa.text(
                """SELECT column_name FROM information_schema.columns
                   WHERE table_schema = :s AND table_name = :t ORDER BY ordinal_position"""),
                {"s": schema, "t": name})
                if c not in WRITE_TIMES and c not in AGE_SCORED.get(table, ())]
            select = ", ".join(f'"{c}"' for c in cols)
            tables[table] = [tuple(r) for r in conn.execute(sa.text(
                f"SELECT {select} FROM {table} ORDER BY {select}"))]
    return tables


def materialise(*, selection=None, full: bool = False):
    from console.orchestration.assets import ASSETS, ConsoleJobs
    return dg.materialize(ASSETS, selection=selection, resources={"console": ConsoleJobs(full=full)},
                          instance=dg.DagsterInstance.ephemeral(), raise_on_error=False)


def checks_of(result) -> dict[tuple[str, str], tuple[bool, str, dict]]:
    """(asset, check) -> (passed, severity, metadata) of a run's asset check evaluations."""
    return {(e.asset_key.to_user_string(), e.check_name):
            (e.passed, e.severity.value, {k: v.value for k, v in e.metadata.items()})
            for e in result.get_asset_check_evaluations()}


def materialised(result) -> set[str]:
    return {e.asset_key.to_user_string() for e in result.get_asset_materialization_events()}


@pytest.fixture
def second_demo(server_url, admin_engine, demo_template):
    """Another fresh copy of the seeded demo database: (url, superuser engine)."""
    name = f"t_{uuid.uuid4().hex[:12]}"
    _create_database(admin_engine, name, template=demo_template)
    url = make_url(server_url).set(database=name).render_as_string(hide_password=False)
    eng = _superuser_engine(url)
    yield url, eng
    eng.dispose()
    _drop_database(admin_engine, name)


ALL_ASSETS = {f"mart/{m.split('.')[1]}" for m in MART_TABLES} | {
    "ops/cert_prechecks", "ops/listing_flags", "ops/match_suggestions", "ops/credit_scores",
    "ops/credit_validation_reports", "fin/loans",
    "fin/vip_memberships", "mart/loan_portfolio", "mart/logistics"}


# ---------------------------------------------------------------- the tests
@needs_dagster
def test_the_assets_produce_what_console_jobs_produces(demo_engine, jobs_engine, second_demo,
                                                       monkeypatch):
    # `console jobs` on one copy of the demo ...
    results = run_all(engine=jobs_engine, echo=lambda _: None)
    assert [(r.name, r.ok, r.skipped) for r in results] == [(n, True, False) for n in STEP_NAMES]
    expected, expected_scores = snapshot(demo_engine), aged_scores(demo_engine)
    assert all(expected[t] for t in MART_TABLES + ["ops.credit_scores", "ops.match_suggestions"])

    # ... and the Dagster assets on another, from the same start.
    url, other = second_demo
    with _console_roles(url, monkeypatch):
        result = materialise()
    assert result.success
    assert materialised(result) == ALL_ASSETS
    actual = snapshot(other)
    for table in expected:
        assert actual[table] == expected[table], table
    assert aged_scores_agree(expected_scores, aged_scores(other))
    # Every great-expectations check ran and passed: two per mart.
    assert {key: (passed, severity) for key, (passed, severity, _) in checks_of(result).items()
            } == {(f"mart/{m.split('.')[1]}", check): (True, "WARN")
                  for m in MART_TABLES for check in ("sources", "contract")}
    with other.connect() as conn:   # the ETL's run log says who started it
        assert conn.execute(sa.text("SELECT DISTINCT triggered_by FROM etl.runs")).scalars().all() == [
            "dagster"]


@needs_dagster
def test_a_failing_great_expectations_check_is_a_failed_asset_check(demo_engine, monkeypatch):
    # A listing priced at five times its trim's guide price: the suite quarantines it.
    with demo_engine.begin() as conn:
        listing = conn.execute(sa.text("""
            UPDATE app.listings l SET price = t.guide_price * 5 FROM app.trims t
            WHERE l.id = (SELECT min(id) FROM app.listings) AND t.id = l.trim_id
            RETURNING l.id""")).scalar_one()
    # A transformation that breaks a day of the KPI segments: the mart's contract catches it.
    from etl import runner
    load_step = runner.load_step

    def broken(conn, job, step, sql, params):
        written = load_step(conn, job, step, sql, params)
        if job.name == "daily_kpis" and step == job.steps[-1][0]:
            conn.execute(sa.text("""
                UPDATE mart.daily_kpis_segment SET listings_created = listings_created + 1
                WHERE (day, tier_level, merchant_type) = (
                    SELECT day, tier_level, merchant_type FROM mart.daily_kpis_segment
                    ORDER BY day, tier_level, merchant_type LIMIT 1)"""))
        return written

    monkeypatch.setattr(runner, "load_step", broken)

    result = materialise(selection=[dg.AssetKey(["mart", m.split(".")[1]]) for m in MART_TABLES])
    assert result.success                       # warnings: the loads stand
    assert materialised(result) == {f"mart/{m.split('.')[1]}" for m in MART_TABLES}
    checks = checks_of(result)
    assert len(checks) == 2 * len(MART_TABLES)
    failed = {key: (severity, meta["failed_expectations"])
              for key, (passed, severity, meta) in checks.items() if not passed}
    reads_listings = [job for job in JOBS.values() if "app.listings" in job.sources]
    assert {job.name for job in reads_listings} == {
        "funnel_facts", "daily_kpis", "merchant_features", "supply_demand"}
    assert failed == {
        ("mart/daily_kpis", "contract"): ("WARN", ["daily_kpis.segments_sum_to_platform"]),
        **{(f"mart/{m.split('.')[1]}", "sources"): ("WARN", ["listings.price_in_guide_band"])
           for job in reads_listings for m in job.marts}}
    sources = checks[("mart/supply_demand", "sources")][2]
    assert (sources["rows_quarantined"], sources["failing_rows"]) == (1, 1)
    with demo_engine.connect() as conn:
        assert conn.execute(sa.text(
            "SELECT row_key FROM etl.excluded_rows WHERE job = 'supply_demand'")).scalars().all() == [
            str(listing)]


def _credit_runs(engine) -> int:
    with engine.connect() as conn:
        return conn.execute(sa.text("SELECT count(*) FROM ops.credit_runs")).scalar()


@needs_dagster
def test_an_error_severity_check_stops_the_mart_and_what_depends_on_it(demo_engine):
    from tests.test_etl_suites import _clone, _loosen
    with demo_engine.begin() as conn:   # two reviews with one id, as a replica without keys has
        _loosen(conn, "app.reviews")
        _clone(conn, "app.reviews", {"id": "(SELECT min(id) FROM app.reviews)"})

    seeded_runs = _credit_runs(demo_engine)   # the demo's history: weekly runs and today's
    result = materialise(selection=[dg.AssetKey(["mart", "merchant_features"]),
                                    dg.AssetKey(["ops", "credit_scores"])])
    assert not result.success
    assert result.get_failed_step_keys() == {"etl"}
    assert result.is_node_untouched("credit")  # scoring does not run on what did not load
    assert materialised(result) == set()
    checks = checks_of(result)
    assert {key: (passed, severity, meta["failed_expectations"])
            for key, (passed, severity, meta) in checks.items()} == {
        ("mart/merchant_features", "sources"): (False, "ERROR", ["reviews.id_unique"])}
    with demo_engine.connect() as conn:
        assert conn.execute(sa.text("""SELECT (SELECT count(*) FROM mart.merchant_features),
                                              (SELECT count(*) FROM ops.credit_runs),
                                              (SELECT string_agg(job || ':' || status, ',')
                                               FROM etl.runs)""")).one() == (
            0, seeded_runs, "merchant_features:failed")


@needs_dagster
def test_a_step_another_run_holds_is_skipped_with_what_depends_on_it(demo_engine, jobs_engine):
    seeded_runs = _credit_runs(demo_engine)
    with demo_engine.connect() as holder:   # a `console jobs` run at its ETL, elsewhere
        holder.execute(sa.text("SELECT pg_advisory_lock(:ns, hashtext('etl'))"),
                       {"ns": LOCK_NAMESPACE})
        holder.commit()
        result = materialise()
    assert result.success
    assert materialised(result) == {"ops/cert_prechecks", "ops/listing_flags",
                                    "ops/match_suggestions", "fin/loans", "fin/vip_memberships",
                                    "mart/loan_portfolio", "mart/logistics"}
    assert checks_of(result) == {}
    with demo_engine.connect() as conn:
        done = conn.execute(sa.text("""SELECT (SELECT count(*) FROM etl.runs),
                                              (SELECT count(*) FROM ops.credit_runs),
                                              (SELECT count(*) FROM ops.match_suggestions) > 0""")).one()
    assert tuple(done) == (0, seeded_runs, True)      # no scoring run without the ETL


@needs_dagster
def test_the_definitions_load_as_a_code_location_without_streamlit():
    from console.orchestration import assets, defs
    assert set(assets.STEP_ASSETS) == set(STEP_NAMES)   # a new step needs its asset
    graph = defs.resolve_asset_graph()
    assert {k.to_user_string() for k in graph.get_all_asset_keys()} == ALL_ASSETS
    deps = {k.to_user_string(): {p.to_user_string() for p in graph.get(k).parent_keys}
            for k in graph.get_all_asset_keys()}
    assert deps["ops/match_suggestions"] == {"ops/listing_flags"}
    assert deps["ops/credit_scores"] == {"mart/merchant_features"}
    assert deps["ops/credit_validation_reports"] == {"ops/credit_scores"}
    assert deps["mart/funnel_facts"] == {"ops/listing_flags", "ops/match_suggestions"}
    schedule = defs.resolve_schedule_def("console_jobs_every_15_minutes")
    assert (schedule.cron_schedule, schedule.execution_timezone, schedule.job_name) == (
        "*/15 * * * *", "Asia/Shanghai", "console_jobs")
    assert schedule.default_status == dg.DefaultScheduleStatus.STOPPED   # cron stays the default
    job = defs.resolve_job_def("console_jobs")
    full = dg.validate_run_config(job, {"resources": {"console": {"config": {"full": True}}}})
    assert full["resources"]["console"] == {"config": {"full": True}}   # `console jobs --full`
    layer = job.asset_layer   # the scheduled job runs them all
    assert {k.to_user_string() for k in layer.selected_asset_keys} == ALL_ASSETS
    assert len(layer.asset_graph.asset_check_keys) == 2 * len(MART_TABLES)

    # As a Dagster deployment loads it: its own process, the module named on the command line.
    env = {k: v for k, v in os.environ.items() if not k.startswith("DAGSTER_")}
    loaded = subprocess.run(
        [sys.executable, "-c", "import sys; from console.orchestration import defs; "
         "print(sorted(m for m in ('streamlit', 'great_expectations') if m in sys.modules))"],
        cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=120, env=env)
    assert (loaded.returncode, loaded.stdout.strip()) == (0, "[]"), loaded.stderr[-2000:]
    validated = subprocess.run(
        [sys.executable, "-m", "dagster", "definitions", "validate", "-m", "console.orchestration"],
        cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=300, env=env)
    assert validated.returncode == 0, validated.stdout[-2000:] + validated.stderr[-2000:]
