"""`python -m console.credit score | expire | check [--config FILE]`.

score  – expire due overrides, then score every merchant in mart.merchant_features
         (run the ETL's merchant-features job first); prints the grade distribution.
expire – only mark overrides past their expiry as expired.
check  – load and check a scorecard file, print its points table.

Plain functions underneath, so a scheduler (cron, Airflow, Dagster) can call them too.
The command runs as the jobs' database role (JOBS_DATABASE_URL, README).
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from console import db
from console.credit import engine as credit_engine
from console.credit.scorecard import DEFAULT_CONFIG, Scorecard, ScorecardError, load
from console.errors import ConsoleError


def score(card: Scorecard) -> int:
    """One scoring run in its own transaction; a failure is recorded as a failed run."""
    # Expiry writes audit rows, which hold the audit chain's head until they commit
    # (migration 061): commit them before the long scoring run, not after it.
    with db.transaction(role="jobs") as conn:
        expired = credit_engine.expire_due_overrides(conn)
    try:
        with db.transaction(role="jobs") as conn:
            run_id = credit_engine.score_all(conn, card)
    except Exception as err:
        with db.transaction(role="jobs") as conn:
            credit_engine.record_failed_run(conn, card, error=f"{type(err).__name__}: {err}")
        raise
    print(f"overrides expired: {expired}")
    return run_id


def _print_distribution(run_id: int) -> None:
    with db.connection(role="jobs") as conn:
        rows = db.fetch_all(conn, """SELECT grade, count(*) AS n,
                                            count(*) FILTER (WHERE insufficient_history) AS ih
                                     FROM ops.credit_scores WHERE run_id = :r
                                     GROUP BY grade ORDER BY ops.credit_grade_rank(grade)""",
                            r=run_id)
    for row in rows:
        print(f"  {row['grade']:>4}  {row['n']:>8,}  (insufficient history: {row['ih']:,})")


def _print_points(card: Scorecard) -> None:
    print(f"scorecard {card.version}: {card.base_points} points at odds {card.base_odds:g}:1, "
          f"pdo {card.pdo:g}")
    for factor in card.factors:
        cells = ", ".join(f"{factor.label(b.bin_no)}={b.points}" for b in factor.bins)
        print(f"  {factor.name}: {cells}")
    for band in card.bands:
        print(f"  {band.grade:>4} ≥ {band.min_score if band.min_score is not None else '−∞'}  "
              f"limit {band.loan_limit:,.0f}  vip {band.vip}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m console.credit")
    parser.add_argument("command", choices=["score", "expire", "check"])
    parser.add_argument("--config", type=Path, default=DEFAULT_CONFIG,
                        help="scorecard file (default: console/credit/scorecard_v1.toml)")
    args = parser.parse_args(argv)
    try:
        card = load(args.config)
    except (ScorecardError, KeyError, TypeError) as err:
        print(f"scorecard file refused: {err}", file=sys.stderr)
        return 2
    if args.command == "check":
        _print_points(card)
        return 0
    if args.command == "expire":
        with db.transaction(role="jobs") as conn:
            print(f"overrides expired: {credit_engine.expire_due_overrides(conn)}")
        return 0
    started = time.perf_counter()
    try:
        run_id = score(card)
    except ConsoleError as err:
        print(f"scoring refused: {err.key} {err.params}", file=sys.stderr)
        return 1
    with db.connection(role="jobs") as conn:
        n = db.scalar(conn, "SELECT merchants_scored FROM ops.credit_runs WHERE id = :r", r=run_id)
    print(f"run {run_id}: {n:,} merchants scored with {card.version} "
          f"in {time.perf_counter() - started:.1f}s")
    _print_distribution(run_id)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
