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


def _fresh_database(scale: str) -> Engine:
    base = make_url(db.database_url())
    name = f"bench_{scale}"
    admin = sa.create_engine(base.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    admin.dispose()
    engine = db.make_engine(base.set(database=name).render_as_string(hide_password=False))
    db.set_default_engine(engine)
    migrate(engine=engine)
    return engine


def area_modules() -> list[str]:
    # "load" first: it fills the database every other area measures.
    names = sorted(m.name for m in pkgutil.iter_modules(bench.__path__) if not m.name.startswith("_"))
    return sorted(names, key=lambda n: (n != "load", n))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench")
    parser.add_argument("--scale", choices=["small", "demo", "large"], default="small")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("areas", nargs="*", help="only these areas (after load)")
    args = parser.parse_args(argv)
    ctx = Context(engine=_fresh_database(args.scale), scale=args.scale, seed=args.seed)
    for name in area_modules():
        if args.areas and name != "load" and name not in args.areas:
            continue
        print(f"-- {name}", file=sys.stderr, flush=True)
        importlib.import_module(f"bench.{name}").run(ctx)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
