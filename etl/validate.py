"""great-expectations 1.x over the staging relations, through a SQL datasource: GE computes
its metrics with SQL inside PostgreSQL, so memory does not grow with the batch.

GE's fixed cost is Python, not SQL: importing it takes seconds and building a context, a
datasource and a suite takes a noticeable fraction of a second each. So one ephemeral context
and one datasource per database live for the whole process, and a suite is validated straight
against a batch (``Batch.validate``) instead of being stored as a ValidationDefinition.
"""
from __future__ import annotations

import os
import threading
import uuid
import warnings
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from sqlalchemy.engine import Engine

from etl.checks import Check

_lock = threading.Lock()


@dataclass(frozen=True)
class GeResult:
    check: str
    expectation_type: str
    success: bool
    observed: float | None
    element_count: int | None
    details: dict[str, Any]


@lru_cache(maxsize=1)
def _context():
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "False")
    import great_expectations as gx
    from great_expectations.data_context.types.base import ProgressBarsConfig

    context = gx.get_context(mode="ephemeral")
    # A job's terminal shows our own progress, not GE's per-metric bars.
    context.variables.progress_bars = ProgressBarsConfig(globally=False)
    return context


_datasources: dict[str, Any] = {}


def _datasource(engine: Engine):
    """One GE SQL datasource per database URL, kept for the process (GE keeps its engine)."""
    url = engine.url.render_as_string(hide_password=False)
    if url not in _datasources:
        name = f"pg_{len(_datasources)}_{uuid.uuid4().hex[:6]}"
        # GE makes its own engine: it too keeps bound values out of its errors (console/db.py).
        _datasources[url] = _context().data_sources.add_sql(
            name, connection_string=url, kwargs={"hide_parameters": True})
    return _datasources[url]


def validate_relation(*, engine: Engine, relation: str, checks: list[Check],
                      previous_counts: dict[str, int | None]) -> list[GeResult]:
    """Run ``checks`` as one GE suite over ``relation`` (schema.name); one result per check."""
    if not checks:
        return []
    import great_expectations as gx

    schema, table = relation.split(".", 1)
    with _lock:  # GE's ephemeral context is not meant to be shared across threads
        datasource = _datasource(engine)
        # A fresh asset name per validation: GE caches metrics by batch id, and the id of a
        # whole-table batch is made of names only, so reusing one would replay old metrics.
        asset_name = f"a_{uuid.uuid4().hex[:12]}"
        with warnings.catch_warnings():
            # schema_name is deprecated in favour of a per-schema connection; one datasource
            # over the whole database serves staging (etl) and source (app, ops) alike.
            warnings.simplefilter("ignore", DeprecationWarning)
            asset = datasource.add_table_asset(asset_name, table_name=table, schema_name=schema)
        try:
            batch = asset.add_batch_definition_whole_table("whole").get_batch()
            suite = gx.ExpectationSuite(
                name=f"s_{asset_name}",
                expectations=[c.ge_expectation(previous_count=previous_counts.get(c.name))
                              for c in checks])
            outcome = batch.validate(suite, result_format="BASIC")
        finally:
            datasource.delete_asset(asset_name)
            _forget_metrics(datasource)
    return [_parse(r) for r in outcome.results]


def _forget_metrics(datasource) -> None:
    """Drop what GE's execution engine cached for the batch: memory stays flat over runs."""
    engine = getattr(datasource, "_execution_engine", None)
    if engine is None:
        return
    cache = getattr(engine, "_metric_cache", None)
    if isinstance(cache, dict):
        cache.clear()
    manager = getattr(engine, "batch_manager", None)
    if manager is not None and hasattr(manager, "reset_batch_cache"):
        manager.reset_batch_cache()


def _parse(result) -> GeResult:
    config = result.expectation_config
    body = result.result or {}
    observed = body.get("unexpected_count", body.get("observed_value"))
    details = {k: body[k] for k in ("unexpected_percent", "partial_unexpected_list")
               if k in body}
    info = result.exception_info or {}
    # GE reports either one exception, or one per metric keyed by metric id.
    for item in [info, *[v for v in info.values() if isinstance(v, dict)]]:
        if item.get("raised_exception"):
            details["exception"] = str(item.get("exception_message"))[:500]
    return GeResult(check=config.meta["check"], expectation_type=config.type,
                    success=bool(result.success),
                    observed=float(observed) if isinstance(observed, (int, float)) else None,
                    element_count=body.get("element_count"), details=_jsonable(details))


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value][:20]
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    return str(value)
