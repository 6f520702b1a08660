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


@dataclass
class Context:
    engine: Engine
    scale: str
    seed: int
    figures: dict[str, float] = field(default_factory=dict)

    def report(self, name: str, value: float, unit: str) -> None:
        self.figures[name] = value
        print(f"bench: {name} = {value:.6g} {unit}", flush=True)

    @staticmethod
    def median_ms(fn: Callable[[], object], *, repeat: int = 15, warmup: int = 2) -> float:
        for _ in range(warmup):
            fn()
        samples = []
        for _ in range(repeat):
            start = time.perf_counter()
            fn()
            samples.append((time.perf_counter() - start) * 1000)
        return statistics.median(samples)


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
    db.set_default_engine(engine)
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
                        help="keep an already loaded bench database (skips the load)")
    parser.add_argument("--db", help="database name (default bench_<scale>)")
    parser.add_argument("areas", nargs="*", help="only these areas (after load)")
    args = parser.parse_args(argv)
    engine, loaded = _database(args.db or f"bench_{args.scale}", reuse=args.reuse)
    ctx = Context(engine=engine, scale=args.scale, seed=args.seed)
    for name in area_modules():
        if args.areas and name != "load" and name not in args.areas:
            continue
        if name == "load" and loaded:
            print("-- load skipped: --reuse kept the loaded database", file=sys.stderr)
            continue
        print(f"-- {name}", file=sys.stderr, flush=True)
        importlib.import_module(f"bench.{name}").run(ctx)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
