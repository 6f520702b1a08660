"""The self-operated stock page (issue 21) on the platform's stock of the large demo scale
(console/demo/inventory.py: 3,000 cars in four warehouses, a quarter sold, with their price
changes; written here once when the database holds no stock, e.g. one loaded before it).

- stock_page_ms: the stock page's (/stock) data time on a first load through the navigation,
  as a person of the desk (ops): the filter choices, the ageing summary, the first page of the
  stock list with its total, and the markdown list with its total (bench/pages.py's
  DataClock: every connection the run opens), the median of its runs; target <= 150 ms at
  the large scale.
"""
from __future__ import annotations

import logging
import statistics
import time

from bench import _actors
from console import db
from console.demo import inventory as demo_inventory
from console.demo import model as M


def ensure_stock(ctx) -> None:
    with ctx.engine.connect() as conn:
        if db.scalar(conn, "SELECT EXISTS (SELECT 1 FROM inv.stock_cars)"):
            return
    started = time.perf_counter()
    with ctx.engine.begin() as conn:
        conn.exec_driver_sql("SET LOCAL statement_timeout = 0")
        made = demo_inventory.write(conn, seed=ctx.seed, scale=ctx.scale,
                                    anchor=M.DEFAULT_ANCHOR)
    ctx.report("inv_load_s", time.perf_counter() - started, "s",
               note=f"one run: {made.cars:,} cars, {made.price_changes:,} price changes")


def run(ctx) -> None:
    ensure_stock(ctx)
    with ctx.engine.connect() as conn:
        total = db.scalar(conn, "SELECT count(*) FROM inv.stock_cars")
        unsold = db.scalar(conn, "SELECT count(*) FROM inv.stock_cars WHERE status <> 'sold'")

    from bench import pages
    from console.ui import nav
    logging.getLogger("streamlit").setLevel(logging.ERROR)
    spec = next(p for p in nav.PAGES if p.path == "pages/ops_stock.py")
    actor = _actors.actor(ctx.engine, "ops")
    with pages.DataClock().installed() as data_clock:
        runs, calls = pages.measure_page(data_clock, actor, spec)
    top = sorted(calls.items(), key=lambda kv: -kv[1])[:3]
    ctx.report("stock_page_ms", statistics.median(runs), "ms", runs=runs,
               note=f"as ops; {unsold:,} cars not sold of {total:,}; slowest calls: "
                    + ", ".join(f"{c} {ms:.0f} ms" for c, ms in top))
