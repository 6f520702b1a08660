"""The logistics desk's queue (issue 20), on the desk's history of bench/lgx_dashboard.py
(large: 100k transport requests, 200 carriers; the newest ten days' requests still open).

- logistics_queue_page_ms: the queue page's (/logistics) data time on a first load through
  the navigation, as a person of the desk (ops): the header's counts, the cities of the lane
  pickers, the first page of open requests oldest first and their total (bench/pages.py's
  DataClock: every connection the run opens), the median of its runs; target <= 150 ms at
  the large scale.
"""
from __future__ import annotations

import logging
import statistics

from bench import _actors, lgx_dashboard
from console import db


def run(ctx) -> None:
    lgx_dashboard.ensure_requests(ctx)
    with ctx.engine.connect() as conn:
        total = db.scalar(conn, "SELECT count(*) FROM lgx.requests")
        open_ = db.scalar(conn, """SELECT count(*) FROM lgx.requests
                                   WHERE status NOT IN ('delivered','cancelled')""")

    from bench import pages
    from console.ui import nav
    logging.getLogger("streamlit").setLevel(logging.ERROR)
    spec = next(p for p in nav.PAGES if p.path == "pages/ops_logistics_queue.py")
    actor = _actors.actor(ctx.engine, "ops")
    with pages.DataClock().installed() as data_clock:
        runs, calls = pages.measure_page(data_clock, actor, spec)
    top = sorted(calls.items(), key=lambda kv: -kv[1])[:3]
    ctx.report("logistics_queue_page_ms", statistics.median(runs), "ms", runs=runs,
               note=f"as ops; {open_:,} open of {total:,} requests; slowest calls: "
                    + ", ".join(f"{c} {ms:.0f} ms" for c, ms in top))
