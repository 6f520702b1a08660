"""The import-document queue (issue 21) on the demo's parallel imports.

- imp_docs_load_s: when the database holds no import document, the bench writes them once
  (reported then): import details for the live parallel imports that have none (market
  version by id mod 5; Tianjin for three ids in eight, then the other ports; every fourth a
  future arrival 1–60 days out), then the demo's documents (console/demo/import_docs.py) for
  them; the large scale's live imports give tens of thousands of documents, thousands pending;
- import_doc_queue_ms: the queue page's (/import-docs) service calls as an ops person, each
  run on a new connection: the header's counts and the first page of pending documents,
  oldest first, with the total the filters match; the median of five runs; target <= 150 ms
  at the large scale.
"""
from __future__ import annotations

import statistics
import time

from bench import _actors
from console import db
from console.demo import import_docs as demo_docs
from console.imports import documents as docs
from console.settings import get_settings

_DETAILS = """
    INSERT INTO app.listing_imports (listing_id, market_version, port, availability,
                                     expected_arrival)
    SELECT l.id, (ARRAY['middle_east','us','canada','europe','mexico'])[1 + l.id % 5],
           (ARRAY['tianjin','tianjin','tianjin','shanghai','shenzhen','guangzhou','dalian',
                  'qingdao'])[1 + (l.id / 5) % 8],
           CASE WHEN l.id % 4 = 0 THEN 'future' ELSE 'in_stock' END,
           CASE WHEN l.id % 4 = 0 THEN current_date + CAST(1 + l.id % 60 AS integer) END
    FROM app.listings l
    WHERE l.is_parallel_import AND l.status = 'live'
      AND NOT EXISTS (SELECT 1 FROM app.listing_imports li WHERE li.listing_id = l.id)"""


def ensure_documents(ctx) -> None:
    with ctx.engine.connect() as conn:
        if db.scalar(conn, "SELECT EXISTS (SELECT 1 FROM app.import_documents)"):
            return
    started = time.perf_counter()
    with ctx.engine.begin() as conn:
        db.execute(conn, _DETAILS)
        written = demo_docs.write(conn, seed=ctx.seed)
        db.execute(conn, "ANALYZE app.listing_imports")
        db.execute(conn, "ANALYZE app.import_documents")
    ctx.report("imp_docs_load_s", time.perf_counter() - started, "s",
               note=f"{written.documents:,} documents of {written.listings:,} listings, "
                    f"{written.pending:,} pending")


def run(ctx) -> None:
    ensure_documents(ctx)
    actor = _actors.actor(ctx.engine, "ops")
    size = get_settings().page_size

    def queue_page() -> None:
        with ctx.engine.connect() as conn:
            docs.queue_counts(conn=conn, actor=actor)
            docs.list_queue(conn=conn, actor=actor, filters=docs.DocFilters(), limit=size)

    with ctx.engine.connect() as conn:
        pending = db.scalar(conn, "SELECT count(*) FROM app.import_documents WHERE status = 'pending'")
        total = db.scalar(conn, "SELECT count(*) FROM app.import_documents")
    runs = ctx.samples(queue_page, repeat=5)
    ctx.report("import_doc_queue_ms", statistics.median(runs), "ms", runs=runs,
               note=f"as ops; {pending:,} pending of {total:,} documents")
