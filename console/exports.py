"""Every CSV the console hands out: formula cells neutralised, and the export audited.

A dealer names its company ``=HYPERLINK("http://…")``; staff export a list and open it in
Excel or WPS, which would run that text as a formula. OWASP's CSV-injection guidance: a
cell must not begin with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return, so such a
text cell gets a leading single quote (``'=HYPERLINK(…)``), which spreadsheets show as
text and do not evaluate.

Numbers stay numbers: only text cells (``str`` values) are neutralised. A negative loan
limit or score held as a number (int, float, Decimal) is written as ``-5.00`` and read as
the number it is; a spreadsheet never evaluates a plain number. The same characters inside
a text column ("-2+3" as a merchant name) are text and get the quote.

The file is UTF-8 with a BOM, so Excel and WPS read the Chinese. Lines end in ``\\r\\n``
(RFC 4180): then the csv writer quotes every cell holding a carriage return or a line feed,
which with ``\\n`` alone it would leave bare for a CR.
Leading ``#`` lines say what the file holds (filters, who, when); they start with ``#``
and are neutralised like any cell. ``audited_csv`` writes the audit row (who, which export,
which filters, how many rows) in the caller's transaction, when the file is built.
"""
from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import pandas as pd
from sqlalchemy.engine import Connection

from console.audit import write_audit
from console.roles import Actor

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
LINE_END = "\r\n"


def neutralise(value: Any) -> Any:
    """A text cell a spreadsheet would evaluate, made inert; anything else unchanged."""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


def neutralise_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """Text cells of every column (and the header) neutralised; numeric columns untouched."""
    out = frame.copy()
    for column in out.columns:
        if out[column].dtype == object or pd.api.types.is_string_dtype(out[column].dtype):
            out[column] = out[column].map(neutralise)
    out.columns = [neutralise(str(c)) for c in out.columns]
    return out


def csv_bytes(frame: pd.DataFrame, *, preamble: Iterable[Sequence[Any]] = ()) -> bytes:
    """``frame`` as CSV bytes (UTF-8 with BOM), after ``preamble`` rows; all neutralised."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator=LINE_END)
    for row in preamble:
        writer.writerow([neutralise(cell) for cell in row])
    neutralise_frame(frame).to_csv(out, index=False, quoting=csv.QUOTE_MINIMAL,
                                   lineterminator=LINE_END)
    return out.getvalue().encode("utf-8-sig")


def audited_csv(*, conn: Connection, actor: Actor, export: str, filters: Mapping[str, Any],
                frame: pd.DataFrame, preamble: Iterable[Sequence[Any]] = (),
                action: str | None = None, entity_type: str = "export") -> bytes:
    """``csv_bytes`` plus one audit row in ``conn``'s transaction: who exported ``export``
    with which ``filters``, and how many rows the file holds.

    The audit row is written only once the file is built, so a refusal leaves none; and the
    caller's transaction must commit for it to stay (a read-only connection rolls it back).
    """
    data = csv_bytes(frame, preamble=preamble)
    write_audit(conn=conn, actor_id=actor.id, action=action or f"{export}.export",
                entity_type=entity_type, entity_id=export,
                after={"filters": dict(filters), "rows": len(frame)})
    return data
