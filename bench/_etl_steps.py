"""Where an incremental ETL run spends its time: each source's staging, each job's
validation, each load step, each mart's contract, timed on one run after a fresh change set.

    python -m bench._etl_steps --scale large [--salt N] [--runs 3]

It runs on the bench database the load area built (``bench_<scale>``; nothing is loaded
here) and commits like the bench's own incremental runs: each run gets a change set of its
own (1% of every source, ``--salt`` picks the rows, one salt per run), after an untimed
warm-up run. Prints the steps of the median run, slowest first, and the total per kind of
work.
"""
from __future__ import annotations

import argparse
import statistics
import time
from collections import defaultdict
from collections.abc import Callable
from contextlib import contextmanager
from typing import Any

import sqlalchemy as sa

from bench import _changes

CHANGE_PER_MILLE = 10


class StepTimer:
    """Wraps the ETL's seams (staging, validation, load steps, contracts) to time them."""

    def __init__(self) -> None:
        self.times: dict[tuple[str, str], float] = defaultdict(float)
        self._undo: list[tuple[Any, str, Any]] = []

    def _wrap(self, module: Any, name: str, label: Callable[..., tuple[str, str]]) -> None:
        original = getattr(module, name)

        def timed(*args: Any, **kwargs: Any) -> Any:
            started = time.perf_counter()
            try:
                return original(*args, **kwargs)
            finally:
                self.times[label(*args, **kwargs)] += time.perf_counter() - started

        setattr(module, name, timed)
        self._undo.append((module, name, original))

    @contextmanager
    def installed(self):
        from etl import batches, contracts, runner
        self._wrap(batches, "_stage", lambda conn, table, *a, **k: ("stage", table))
        self._wrap(runner, "_validate", lambda engine, job, *a, **k: ("validate", job.name))
        self._wrap(runner, "_load", lambda conn, job, *a, **k: ("load (all)", job.name))
        self._wrap(runner, "load_step", lambda conn, job, step, *a, **k: ("load", f"{job.name}.{step}"))
        self._wrap(contracts, "_results", lambda engine, contract: ("contract", contract.mart))
        try:
            yield self
        finally:
            for module, name, original in reversed(self._undo):
                setattr(module, name, original)
            self._undo.clear()


def one_run(engine, salt: int) -> tuple[float, dict[tuple[str, str], float]]:
    from etl import run_all
    with engine.begin() as conn:
        conn.execute(sa.text("SET LOCAL statement_timeout = 0"))
        _changes.apply(conn, per_mille=CHANGE_PER_MILLE, salt=salt)
    timer = StepTimer()
    with timer.installed():
        started = time.perf_counter()
        results = run_all(engine=engine, triggered_by="bench-steps")
        total = time.perf_counter() - started
    bad = [(r.job, r.status, r.error) for r in results if r.status != "succeeded"]
    if bad:
        raise RuntimeError(f"ETL run failed: {bad}")
    times = dict(timer.times)
    for r in results:
        times[("job", r.job)] = r.seconds
    return total, times


def report(total: float, times: dict[tuple[str, str], float]) -> None:
    print(f"total {total:.2f} s")
    kinds: dict[str, float] = defaultdict(float)
    for (kind, _), seconds in times.items():
        kinds[kind] += seconds
    print("  by kind: " + ", ".join(f"{k} {v:.2f} s" for k, v in sorted(kinds.items(), key=lambda kv: -kv[1])))
    for (kind, name), seconds in sorted(times.items(), key=lambda kv: -kv[1]):
        if seconds >= 0.05:
            print(f"  {seconds:7.2f} s  {kind:10} {name}")


def main(argv: list[str] | None = None) -> int:
    from bench.__main__ import _database
    parser = argparse.ArgumentParser(prog="python -m bench._etl_steps")
    parser.add_argument("--scale", choices=["small", "demo", "large"], default="large")
    parser.add_argument("--db")
    parser.add_argument("--salt", type=int, default=20)
    parser.add_argument("--runs", type=int, default=1)
    parser.add_argument("--warmup", type=int, default=1,
                        help="untimed runs first (great-expectations' import and context, "
                             "which the bench's process has made before its incremental runs)")
    args = parser.parse_args(argv)
    engine, loaded = _database(args.db or f"bench_{args.scale}", reuse=True)
    if not loaded:
        raise SystemExit("load the bench database first: python -m bench --scale <scale> load")
    for n in range(args.warmup):
        one_run(engine, args.salt + args.runs + n)
    runs = [one_run(engine, args.salt + n) for n in range(args.runs)]
    for n, (total, _) in enumerate(runs):
        print(f"run {n + 1}: {total:.2f} s")
    median = statistics.median(t for t, _ in runs)
    total, times = min(runs, key=lambda r: abs(r[0] - median))
    report(total, times)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
