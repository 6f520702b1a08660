"""The platform's scheduled system jobs, in dependency order, as plain functions.

`python -m console jobs` runs them all (cron: every 15 minutes; see README). The first
run of `make run` calls them right after seeding so every queue, board and dashboard has
its badges, flags, suggestions, marts and grades. Each step commits on its own: one
failing step is reported and the next still runs, so a broken ETL never blocks review
pre-checks. Each step takes its own advisory lock (``job_lock``): while one run of a step
is at work, another run of the same step, from cron, a second scheduler or a person, skips it.
"""
from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator, Sequence
from typing import Any
from contextlib import contextmanager
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from console import job_runs, logs, match_policy


@dataclass(frozen=True)
class StepResult:
    name: str
    ok: bool
    seconds: float
    detail: str
    skipped: bool = False    # another run held the step's lock; nothing was done


LOCK_NAMESPACE = 7_310_050  # advisory-lock namespace of the system jobs; the step name is the key


def _prechecks(engine: Engine) -> str:
    from console.services.prechecks import run_prechecks
    with engine.begin() as conn:
        return f"{run_prechecks(conn=conn, refresh=False)} cases checked"


def _listing_flags(engine: Engine) -> str:
    from console.services.listing_review import raise_listing_flags
    with engine.begin() as conn:
        raised = raise_listing_flags(conn=conn)
    return ", ".join(f"{kind}={n}" for kind, n in raised.items()) or "none"


def _leads_and_matches(engine: Engine, *, full: bool) -> str:
    from console.services.deals import propose_best_offers
    from console.services.leads import return_untouched
    from console.services.matching import rematch_changed, rematch_full
    policy = match_policy.current()
    # Committed before the rematch: the returns write audit rows, and an audit row holds the
    # audit chain's head (migration 061) until its transaction ends, so every staff action
    # would wait for the whole rematch.
    with engine.begin() as conn:
        returned = return_untouched(conn=conn, idle_hours=policy.lead_idle_hours)
    with engine.begin() as conn:
        rematch = (rematch_full if full else rematch_changed)(conn=conn, top_k=policy.top_k)
        proposed = propose_best_offers(conn=conn)
    return (f"leads returned={returned}, requests rematched={rematch.requests}, "
            f"suggestions={rematch.suggestions}, best offers proposed={proposed}")


def _etl(engine: Engine, *, full: bool) -> str:
    import etl
    results = etl.run_all(engine=engine, full=full, triggered_by="scheduler")
    failed = [r.job for r in results if r.status != "succeeded"]
    if failed:
        raise RuntimeError(f"ETL jobs not succeeded: {', '.join(failed)}")
    return ", ".join(f"{r.job}={r.rows_loaded}" for r in results)


def _credit(engine: Engine) -> str:
    from console.credit import engine as credit_engine
    from console.credit.scorecard import DEFAULT_CONFIG, load
    card = load(DEFAULT_CONFIG)
    with engine.begin() as conn:  # audit rows: committed before the long run (see above)
        expired = credit_engine.expire_due_overrides(conn)
    # Manual credit lines past their end (issue 19); the scoring run below re-evaluates every
    # grade line in its own transaction (migration 099's triggers on the current grades).
    from console.finance.line_requests import expire_due as expire_due_lines
    with engine.begin() as conn:
        lines_expired = expire_due_lines(conn)
    with engine.begin() as conn:
        run_id = credit_engine.score_all(conn, card)
    # The new grades reach the match suggestions now, not at the next run (issue 16): the
    # run queued every seller whose grade moved (migration 081), the rematch takes the queue.
    from console.services.matching import rematch_changed
    with engine.begin() as conn:
        rematch = rematch_changed(conn=conn, top_k=match_policy.current().top_k)
    return (f"scoring run {run_id}, overrides expired={expired}, "
            f"manual lines expired={lines_expired}, requests rematched={rematch.requests}")


def _credit_validation(engine: Engine, *, full: bool) -> str:
    """The scorecard validation report, computed after scoring and stored per version
    (console/credit/validation_store.py) for the validation page, which only reads it:
    computed when a shown version has none, or its newest is stale (a scoring run since,
    older than the setting, other code), and always with ``full``."""
    from console.errors import Conflict
    from console.services.credit import compute_and_store, validation_is_current
    if not full:
        with engine.connect() as conn:
            if validation_is_current(conn):
                return "validation reports current"
    try:
        with engine.begin() as conn:
            done = compute_and_store(conn)
    except Conflict as err:       # a risk officer's recompute of the same versions is at work
        return f"skipped: {err.key}"
    return (f"validation reports stored for {', '.join(done.versions)} "
            f"(data to {done.data_end}, {done.seconds:.1f} s)")


def _loan_accrual(engine: Engine) -> str:
    """Order loans' interest up to yesterday, days past due, buckets and defaults
    (console/finance/accrual.py): one set-based statement; a second run the same day writes
    nothing, so running it every cycle costs one scan of the disbursed loans."""
    from console.finance import accrual
    with engine.begin() as conn:
        return str(accrual.run(conn))


def _vip_lapse(engine: Engine) -> str:
    """VIP terms whose last day has passed become lapsed, one audit row each
    (console/finance/vip.py); BD's follow-up list shows them. A second run the same day
    finds nothing."""
    from console.finance import vip
    with engine.begin() as conn:
        return f"memberships lapsed={vip.lapse_expired(conn)}"


def _loan_portfolio(engine: Engine) -> str:
    """The loan portfolio mart rebuilt whole from the loans and their repayments, after the
    accrual (console/finance/portfolio_mart.py): the portfolio page's month-end snapshots,
    vintages, roll rates, grades and concentration; only when a loan, repayment or loan
    event changed since the last build or the day changed (``refresh``)."""
    from console.finance import portfolio_mart
    with engine.begin() as conn:
        return str(portfolio_mart.refresh(conn))


def _logistics_mart(engine: Engine) -> str:
    """The logistics dashboard's mart rebuilt whole from the desk's requests and claims
    (console/logistics/mart.py): orders, cars, on-time, damage, cost and margin by month and
    lane."""
    from console.logistics import mart
    with engine.begin() as conn:
        return str(mart.rebuild(conn))


def steps(*, full: bool) -> list[tuple[str, Callable[[Engine], str]]]:
    return [
        ("prechecks", _prechecks),
        ("listing_flags", _listing_flags),
        ("matching", lambda e: _leads_and_matches(e, full=full)),
        ("etl", lambda e: _etl(e, full=full)),
        ("credit", _credit),
        ("credit_validation", lambda e: _credit_validation(e, full=full)),
        ("loan_accrual", _loan_accrual),
        ("vip_lapse", _vip_lapse),
        ("loan_portfolio", _loan_portfolio),
        ("logistics_mart", _logistics_mart),
    ]


STEP_NAMES = ("prechecks", "listing_flags", "matching", "etl", "credit", "credit_validation",
              "loan_accrual", "vip_lapse", "loan_portfolio", "logistics_mart")


@contextmanager
def job_lock(engine: Engine, name: str) -> Iterator[bool]:
    """Hold the advisory lock of job ``name`` for the block; yields False (and holds nothing)
    when another run, in any process, holds it. A session lock on a connection of its own:
    the job's steps commit as they go and the lock outlives each of their transactions; it
    ends with the session if the process dies."""
    with engine.connect() as lock_conn:
        got = bool(lock_conn.execute(sa.text("SELECT pg_try_advisory_lock(:ns, hashtext(:job))"),
                                     {"ns": LOCK_NAMESPACE, "job": name}).scalar())
        lock_conn.commit()
        try:
            yield got
        finally:
            if got:
                lock_conn.execute(sa.text("SELECT pg_advisory_unlock(:ns, hashtext(:job))"),
                                  {"ns": LOCK_NAMESPACE, "job": name})
                lock_conn.commit()


def run_alone(name: str, work: Callable[[Connection], Any]) -> tuple[bool, Any]:
    """Step ``name``'s work as a stand-alone command does it (``python -m console.finance
    accrue``, ``… vip lapse``, ``… portfolio_mart rebuild``): as dh_jobs, under the step's
    advisory lock, in one transaction, recorded in the jobs' run log under the step's name so
    health counts it as the step. (False, None) when another run holds the lock: skipped."""
    from console import db
    engine = db.get_engine(role="jobs")
    with job_lock(engine, name) as got:
        if not got:
            return False, None
        with job_runs.recorded(name, engine=engine):
            with engine.begin() as conn:
                return True, work(conn)


def run_step(name: str, fn: Callable[[Engine], str], *, engine: Engine) -> StepResult:
    """One step under its own advisory lock: skipped, not queued, while another run of the
    same step holds it (a run that overran its cron slot, or a second scheduler). Writes one
    JSON log line (console/logs.py): the job, its status and how long, and of an error only
    its class (a database error's message may quote a row's values)."""
    started = time.perf_counter()
    error = None
    with job_lock(engine, name) as got:
        if not got:
            result = StepResult(name, True, time.perf_counter() - started,
                                "skipped: another run of this job holds its lock", skipped=True)
        else:
            try:
                detail, ok = fn(engine), True
            except Exception as err:  # reported, and the next step still runs
                detail, ok, error = f"{type(err).__name__}: {err}", False, type(err).__name__
            result = StepResult(name, ok, time.perf_counter() - started, detail)
            job_runs.record(engine, name, seconds=result.seconds, ok=ok, error=error)  # health
    status = "skipped" if result.skipped else "ok" if result.ok else "failed"
    logs.event(f"job.{name}", level=logging.INFO if result.ok else logging.ERROR, job=name,
               role=engine.url.username, ms=result.seconds * 1000, status=status, error=error)
    return result


def run_all(*, engine: Engine, full: bool = False, echo: Callable[[str], None] = print,
            only: Sequence[str] | None = None) -> list[StepResult]:
    """Every step in order on ``engine``: the jobs' (``db.get_engine(role="jobs")``);
    ``only`` names a subset (still in this order)."""
    unknown = set(only or ()) - set(STEP_NAMES)
    if unknown:
        raise ValueError(f"unknown job(s): {', '.join(sorted(unknown))}; "
                         f"known: {', '.join(STEP_NAMES)}")
    results = []
    for name, fn in steps(full=full):
        if only is not None and name not in only:
            continue
        result = run_step(name, fn, engine=engine)
        label = "skipped" if result.skipped else "ok" if result.ok else "FAILED"
        echo(f"[{label}] {name} ({result.seconds:.1f} s): {result.detail}")
        results.append(result)
    return results
