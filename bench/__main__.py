"""Run every benchmark area against one database loaded at the chosen scale."""
from __future__ import annotations

import argparse
import importlib
import pkgutil
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import sqlalchemy as sa
from sqlalchemy.engine import Engine, make_url

import bench
from console import db
from console.migrate import migrate


# Targets at the large scale (issues 2-8 and 13); a figure without one is information only.
TARGETS: dict[str, float] = {
    "cert_queue_page_ms": 150, "cert_next_case_ms": 20,
    "score_all_s": 10,
    "etl_full_s": 300, "etl_incremental_s": 15,
    "kpi_chart_ms_max": 100,
    "search_ms": 150, "search_ms_max": 300,
    "rematch_full_s": 60, "rematch_one_listing_ms": 100, "board_ms": 150,
    "page_ms_max": 150,
    "portfolio_page_ms": 150,
    "loan_queue_page_ms": 150, "loan_page_ms": 150, "accrual_run_s": 30,
    "logistics_dashboard_ms": 150,
    "logistics_quotes_ms": 150, "logistics_load_proposals_s": 5,
    "logistics_queue_page_ms": 150,
    "stock_page_ms": 150,
    "import_doc_queue_ms": 150,
}
MIN_RUNS = 3


@dataclass
class Figure:
    name: str
    value: float
    unit: str
    runs: list[float]
    target: float | None

    @property
    def met(self) -> bool | None:
        return None if self.target is None else self.value <= self.target


@dataclass
class Context:
    engine: Engine
    scale: str
    seed: int
    figures: dict[str, Figure] = field(default_factory=dict)

    def report(self, name: str, value: float, unit: str, *,
               runs: list[float] | None = None, note: str = "") -> None:
        """Print ``bench: <name> = <value> <unit>`` and, indented below, the runs it is the
        median of and its target."""
        target = TARGETS.get(name) if self.scale == "large" else None
        fig = Figure(name, float(value), unit, list(runs or []), target)
        self.figures[name] = fig
        print(f"bench: {name} = {value:.6g} {unit}", flush=True)
        detail = []
        if fig.runs:
            detail.append(f"median of {len(fig.runs)} runs: "
                          + ", ".join(f"{r:.4g}" for r in fig.runs))
        if note:
            detail.append(note)
        if target is not None:
            detail.append(f"target <= {target:g} {unit}: {'met' if fig.met else 'MISSED'}")
        if detail:
            print("    " + "; ".join(detail), flush=True)

    @staticmethod
    def samples(fn: Callable[[], object], *, repeat: int = 5, warmup: int = 1,
                scale: float = 1000.0) -> list[float]:
        """``repeat`` timings of ``fn`` after ``warmup`` untimed calls (ms by default)."""
        if repeat < MIN_RUNS:
            raise ValueError(f"a figure is the median of at least {MIN_RUNS} runs")
        for _ in range(warmup):
            fn()
        out = []
        for _ in range(repeat):
            start = time.perf_counter()
            fn()
            out.append((time.perf_counter() - start) * scale)
        return out

    def measure(self, name: str, fn: Callable[[], object], *, unit: str = "ms",
                repeat: int = 5, warmup: int = 1) -> float:
        """Time ``fn`` ``repeat`` times, report the median with its runs; the median."""
        runs = self.samples(fn, repeat=repeat, warmup=warmup,
                            scale=1000.0 if unit == "ms" else 1.0)
        value = statistics.median(runs)
        self.report(name, value, unit, runs=runs)
        return value

    def summary(self) -> None:
        judged = [f for f in self.figures.values() if f.target is not None]
        missed = [f.name for f in judged if not f.met]
        print(f"-- targets: {len(judged) - len(missed)} of {len(judged)} met"
              + (f"; missed: {', '.join(missed)}" if missed else ""), flush=True)


def _database(name: str, *, reuse: bool) -> tuple[Engine, bool]:
    """The bench database; returns (engine, already_loaded).

    --reuse keeps a database an earlier run loaded, so one area can be measured again
    without paying for the large load each time.
    """
    base = make_url(db.database_url())
    admin = sa.create_engine(base.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        exists = conn.execute(sa.text("SELECT 1 FROM pg_database WHERE datname = :n"),
                              {"n": name}).scalar()
        if exists and not reuse:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        if not exists or not reuse:
            conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    admin.dispose()
    engine = db.make_engine(base.set(database=name).render_as_string(hide_password=False))
    # The bench measures as the server's own user, which loads the data and migrates; the
    # console's and the jobs' engines point at the bench database too, so code that picks
    # its role's engine (db.transaction(role="jobs"), @requires reading the account) never
    # reaches another database.
    for role in ("console", "jobs"):
        db.set_default_engine(engine, role=role)
    migrate(engine=engine)
    with engine.connect() as conn:
        loaded = bool(conn.execute(sa.text("SELECT EXISTS (SELECT 1 FROM app.merchants)")).scalar())
    return engine, loaded


def area_modules() -> list[str]:
    # "load" first: it fills the database every other area measures.
    names = sorted(m.name for m in pkgutil.iter_modules(bench.__path__) if not m.name.startswith("_"))
    return sorted(names, key=lambda n: (n != "load", n))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench")
    parser.add_argument("--scale", choices=["small", "demo", "large"], default="small")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--reuse", action="store_true",
                        help="keep an already loaded bench database (the load area then only "
                             "adds what is missing: the seed, the history)")
    parser.add_argument("--db", help="database name (default bench_<scale>)")
    parser.add_argument("areas", nargs="*", help="only these areas (after load)")
    args = parser.parse_args(argv)
    engine, _ = _database(args.db or f"bench_{args.scale}", reuse=args.reuse)
    ctx = Context(engine=engine, scale=args.scale, seed=args.seed)
    for name in area_modules():
        if args.areas and name != "load" and name not in args.areas:
            continue
        print(f"-- {name}", file=sys.stderr, flush=True)
        importlib.import_module(f"bench.{name}").run(ctx)
    ctx.summary()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
