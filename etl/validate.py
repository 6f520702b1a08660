"""great-expectations 1.x over the staging relations, through a SQL datasource: GE computes
its metrics with SQL inside PostgreSQL, so memory does not grow with the batch."""
from __future__ import annotations

import os
import threading
import uuid
import warnings
from dataclasses import dataclass
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


def _context():
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "False")
    import great_expectations as gx
    from great_expectations.data_context.types.base import ProgressBarsConfig

    context = gx.get_context(mode="ephemeral")
    # A job's terminal shows our own progress, not GE's per-metric bars.
    context.variables.progress_bars = ProgressBarsConfig(globally=False)
    return context


def validate_relation(*, engine: Engine, relation: str, checks: list[Check],
                      previous_counts: dict[str, int | None]) -> list[GeResult]:
    """Run ``checks`` as one GE suite over ``relation`` (schema.name); one result per check."""
    if not checks:
        return []
    import great_expectations as gx

    schema, table = relation.split(".", 1)
    tag = uuid.uuid4().hex[:8]
    with _lock:  # GE's ephemeral context is not meant to be shared across threads
        context = _context()
        url = engine.url.render_as_string(hide_password=False)
        datasource = context.data_sources.add_sql(f"pg_{tag}", connection_string=url)
        with warnings.catch_warnings():
            # schema_name is deprecated in favour of a per-schema connection; one datasource
            # over the whole database serves staging (etl) and source (app, ops) alike.
            warnings.simplefilter("ignore", DeprecationWarning)
            asset = datasource.add_table_asset(f"a_{tag}", table_name=table, schema_name=schema)
        batch_definition = asset.add_batch_definition_whole_table("whole")
        suite = context.suites.add(gx.ExpectationSuite(name=f"s_{tag}"))
        for check in checks:
            suite.add_expectation(check.ge_expectation(previous_count=previous_counts.get(check.name)))
        definition = context.validation_definitions.add(
            gx.ValidationDefinition(name=f"v_{tag}", data=batch_definition, suite=suite))
        outcome = definition.run(result_format="BASIC")
    return [_parse(r) for r in outcome.results]


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
