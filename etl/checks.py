"""Expectations: one declaration gives a great-expectations expectation (pushed into SQL by
GE's SQL datasource) and, for row-level checks, the SQL predicate that names failing rows by
key, so the quarantine can hold them. Both read the same staging relation.

Severity: ``error`` stops the load (the run fails, marts untouched); ``warn`` loads the batch
without the failing rows and records them.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

Severity = Literal["error", "warn"]

# How far a listing's price may stray from its trim's guide price before it is implausible:
# deep discounts (下30点) and parallel-import premiums both stay inside this band.
PRICE_BAND = (0.5, 1.5)
# Clock skew tolerated between the marketplace's servers and the database.
FUTURE_SLACK = "5 minutes"


@dataclass(frozen=True)
class Check:
    name: str                     # unique in a suite, e.g. "listings.status_in_set"
    source: str                   # the source table, e.g. "app.listings"
    kind: str                     # not_null | unique | in_set | non_negative | not_future | fk | price_band | row_count_drop
    severity: Severity
    column: str | None = None
    params: dict[str, Any] = field(default_factory=dict)

    @property
    def row_level(self) -> bool:
        return self.kind != "row_count_drop"

    def failing_predicate(self, alias: str = "s", relation: str = "") -> str:
        """SQL boolean over ``alias`` (a staging row): true when the row fails.

        Built only from names declared in code (columns, tables), never from data.
        """
        c = f"{alias}.{self.column}" if self.column else ""
        if self.kind == "not_null":
            return f"{c} IS NULL"
        if self.kind == "unique":
            return (f"{c} IN (SELECT u.{self.column} FROM {relation} u "
                    f"GROUP BY u.{self.column} HAVING count(*) > 1)")
        if self.kind == "in_set":
            values = ", ".join(_literal(v) for v in self.params["values"])
            return f"({c} IS NOT NULL AND {c} NOT IN ({values}))"
        if self.kind == "non_negative":
            return f"{c} < 0"
        if self.kind == "not_future":
            return f"{c} > now() + interval '{FUTURE_SLACK}'"
        if self.kind == "fk":
            ref_table, ref_col = self.params["ref_table"], self.params["ref_column"]
            return (f"({c} IS NOT NULL AND NOT EXISTS "
                    f"(SELECT 1 FROM {ref_table} r WHERE r.{ref_col} = {c}))")
        if self.kind == "price_band":
            low, high = PRICE_BAND
            return (f"EXISTS (SELECT 1 FROM app.trims r WHERE r.id = {alias}.trim_id "
                    f"AND ({alias}.price < r.guide_price * {low} "
                    f"OR {alias}.price > r.guide_price * {high}))")
        raise ValueError(f"no row predicate for {self.kind}")

    def ge_expectation(self, *, previous_count: int | None = None):
        """The great-expectations 1.x expectation for this check."""
        import great_expectations.expectations as gxe

        meta = {"check": self.name}
        if self.kind == "not_null":
            return gxe.ExpectColumnValuesToNotBeNull(column=self.column, meta=meta)
        if self.kind == "unique":
            return gxe.ExpectColumnValuesToBeUnique(column=self.column, meta=meta)
        if self.kind == "in_set":
            return gxe.ExpectColumnValuesToBeInSet(column=self.column,
                                                   value_set=list(self.params["values"]), meta=meta)
        if self.kind == "non_negative":
            return gxe.ExpectColumnValuesToBeBetween(column=self.column, min_value=0, meta=meta)
        if self.kind == "row_count_drop":
            floor = 0 if previous_count is None else int(
                previous_count * (1 - self.params["max_drop_pct"] / 100))
            return gxe.ExpectTableRowCountToBeBetween(min_value=floor, meta=meta)
        # Cross-table and clock checks: GE's own SQL escape hatch, same predicate as ours.
        return gxe.UnexpectedRowsExpectation(
            # GE substitutes {batch} with "(…) AS subselect": the predicate uses that alias.
            unexpected_rows_query=(f"SELECT * FROM {{batch}} "
                                   f"WHERE {self.failing_predicate('subselect')}"),
            meta=meta, description=self.name)


def _literal(value: Any) -> str:
    if isinstance(value, (int, float)):
        return str(value)
    text = str(value)
    if "'" in text:
        raise ValueError("enumeration values never carry quotes")
    return f"'{text}'"


# ---------------------------------------------------------------- constructors
def _short(source: str) -> str:
    return source.split(".", 1)[1]


def key_checks(source: str, column: str = "id") -> list[Check]:
    """Keys are not null and unique (error: a merge on a broken key corrupts the mart)."""
    s = _short(source)
    return [Check(f"{s}.{column}_not_null", source, "not_null", "error", column),
            Check(f"{s}.{column}_unique", source, "unique", "error", column)]


def in_set(source: str, column: str, values: Sequence[Any], severity: Severity = "warn") -> Check:
    return Check(f"{_short(source)}.{column}_in_set", source, "in_set", severity, column,
                 {"values": tuple(values)})


def non_negative(source: str, column: str, severity: Severity = "warn") -> Check:
    return Check(f"{_short(source)}.{column}_non_negative", source, "non_negative", severity, column)


def not_future(source: str, column: str, severity: Severity = "warn") -> Check:
    return Check(f"{_short(source)}.{column}_not_future", source, "not_future", severity, column)


def fk(source: str, column: str, ref: str, ref_column: str = "id",
       severity: Severity = "warn") -> Check:
    return Check(f"{_short(source)}.{column}_fk", source, "fk", severity, column,
                 {"ref_table": ref, "ref_column": ref_column})


def price_band(source: str = "app.listings", severity: Severity = "warn") -> Check:
    return Check(f"{_short(source)}.price_in_guide_band", source, "price_band", severity, "price")


def row_count_drop(source: str, max_drop_pct: float = 50, severity: Severity = "error") -> Check:
    """The source table may not shrink by more than max_drop_pct since the last run."""
    return Check(f"{_short(source)}.row_count_drop", source, "row_count_drop", severity,
                 params={"max_drop_pct": max_drop_pct})
