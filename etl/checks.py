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
                                  # and, for the marts' contracts: unique_key | between | has_columns | rows_violating
    severity: Severity
    column: str | None = None
    params: dict[str, Any] = field(default_factory=dict)

    @property
    def row_level(self) -> bool:
        """A check whose failing rows go to the quarantine (the sources' checks)."""
        return self.kind in _ROW_KINDS

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
        if self.kind == "unique_key":
            columns = list(self.params["columns"])
            if len(columns) == 1:  # GE's compound expectation wants two or more
                return gxe.ExpectColumnValuesToBeUnique(column=columns[0], meta=meta)
            return gxe.ExpectCompoundColumnsToBeUnique(column_list=columns, meta=meta)
        if self.kind == "between":
            return gxe.ExpectColumnValuesToBeBetween(column=self.column, min_value=self.params["low"],
                                                     max_value=self.params["high"], meta=meta)
        if self.kind == "has_columns":
            return gxe.ExpectTableColumnsToMatchSet(column_set=list(self.params["columns"]),
                                                    exact_match=False, meta=meta)
        if self.kind == "rows_violating":
            return gxe.UnexpectedRowsExpectation(unexpected_rows_query=self.params["query"],
                                                 meta=meta, description=self.name)
        # Cross-table and clock checks: GE's own SQL escape hatch, same predicate as ours.
        return gxe.UnexpectedRowsExpectation(
            # GE substitutes {batch} with "(…) AS subselect": the predicate uses that alias.
            unexpected_rows_query=(f"SELECT * FROM {{batch}} "
                                   f"WHERE {self.failing_predicate('subselect')}"),
            meta=meta, description=self.name)


_ROW_KINDS = frozenset({"not_null", "unique", "in_set", "non_negative", "not_future", "fk",
                        "price_band"})


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


# ---------------------------------------------------------------- the marts' contracts
def unique_key(relation: str, columns: Sequence[str]) -> Check:
    """The mart's key: unique over these columns (compound)."""
    return Check(f"{_short(relation)}.key_unique", relation, "unique_key", "error",
                 params={"columns": tuple(columns)})


def between(relation: str, column: str, low: float | None, high: float | None,
            name: str | None = None) -> Check:
    return Check(name or f"{_short(relation)}.{column}_between", relation, "between", "error",
                 column, {"low": low, "high": high})


def has_columns(relation: str, columns: Sequence[str]) -> Check:
    """The columns the dashboards read are there (more may be)."""
    return Check(f"{_short(relation)}.columns", relation, "has_columns", "error",
                 params={"columns": tuple(columns)})


def rows_violating(relation: str, name: str, query: str) -> Check:
    """An invariant across rows or tables: ``query`` selects the rows that break it, reading
    the mart as ``{batch}`` (great-expectations names it ``subselect``)."""
    return Check(f"{_short(relation)}.{name}", relation, "rows_violating", "error",
                 params={"query": query})
