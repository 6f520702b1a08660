"""The metric catalogue (issue 15): one definition of every figure the growth page, the home
page and the KPI marts show, read from ``catalogue.toml`` next to this file.

Pages take a figure's name and its hover definition from here (``name``, ``definition``);
the growth service takes a figure's maturity (``maturity_days``: how long after a period ends
its figure stops changing) to mark immature periods. Pure: no streamlit, no database.
"""
from __future__ import annotations

import tomllib
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

CATALOGUE = Path(__file__).with_name("catalogue.toml")
GRAINS = ("event", "snapshot", "distinct", "cohort", "current", "funnel")
SIDES = ("seller", "buyer", "either", "trade", "merchant", "staff", "platform")


class MetricCatalogueError(RuntimeError):
    pass


@dataclass(frozen=True)
class Metric:
    key: str
    zh: str
    en: str
    definition_zh: str
    definition_en: str
    grain: str
    side: str
    maturity_days: int
    columns: tuple[str, ...]

    def name(self, lang: str) -> str:
        return self.en if lang == "en" else self.zh

    def definition(self, lang: str) -> str:
        return self.definition_en if lang == "en" else self.definition_zh


@lru_cache(maxsize=1)
def _load() -> tuple[dict[str, Metric], dict[str, tuple[str, ...]]]:
    with CATALOGUE.open("rb") as fh:
        raw = tomllib.load(fh)
    metrics: dict[str, Metric] = {}
    for key, entry in raw.get("metrics", {}).items():
        try:
            metric = Metric(key=key, zh=entry["zh"], en=entry["en"],
                            definition_zh=entry["definition_zh"],
                            definition_en=entry["definition_en"], grain=entry["grain"],
                            side=entry["side"], maturity_days=int(entry["maturity_days"]),
                            columns=tuple(entry.get("columns", ())))
        except KeyError as missing:
            raise MetricCatalogueError(f"metric {key!r} lacks {missing}") from None
        if metric.grain not in GRAINS or metric.side not in SIDES or metric.maturity_days < 0:
            raise MetricCatalogueError(f"metric {key!r}: bad grain, side or maturity")
        metrics[key] = metric
    marts = {name: tuple(spec.get("dimensions", ())) for name, spec in raw.get("marts", {}).items()}
    return metrics, marts


def metrics() -> dict[str, Metric]:
    """Every figure of the catalogue by key (``kpi.gmv``, ``funnel.first_match``, …)."""
    return _load()[0]


def marts() -> dict[str, tuple[str, ...]]:
    """The marts the catalogue covers, each with its dimension columns."""
    return _load()[1]


def get(key: str) -> Metric | None:
    return metrics().get(key)


def name(key: str, lang: str) -> str:
    """The figure's name in ``lang`` (the key itself when it has no entry: a test fails then)."""
    metric = get(key)
    return metric.name(lang) if metric else key


def definition(key: str, lang: str) -> str:
    metric = get(key)
    return metric.definition(lang) if metric else ""


def maturity_days(key: str) -> int:
    metric = get(key)
    return metric.maturity_days if metric else 0


def column_metric(column: str) -> Metric | None:
    """The figure a mart column ("mart.table.column") holds, if any."""
    return next((m for m in metrics().values() if column in m.columns), None)
