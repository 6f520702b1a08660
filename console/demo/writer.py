"""COPY column arrays into PostgreSQL in bounded chunks (CSV built in memory per chunk)."""
from __future__ import annotations

import io
import sys
import time
from collections.abc import Sequence

import numpy as np
import pandas as pd

from console.demo.generate import NA, Table

CHUNK_ROWS = 200_000
DATE_COLUMNS = {"needed_by", "available_from"}
RAW_FLOAT_COLUMNS = {"longitude", "latitude"}


def is_time_column(name: str) -> bool:
    return name.endswith(("_at", "_until")) or name in ("bid_deadline", "send_after")


def _with_nulls(text: np.ndarray, missing: np.ndarray) -> np.ndarray:
    out = text.astype(object)
    out[missing] = None
    return out


def format_column(name: str, values: object) -> object:
    """One column as CSV-ready values: times as UTC ISO text, NA/None/NaN as NULL."""
    if isinstance(values, list) and values and isinstance(values[0], list) or (
            isinstance(values, list) and name in ("accepted_colors", "tags", "roles")):
        return ["{" + ",".join(v) + "}" for v in values]
    arr = np.asarray(values)
    if name in DATE_COLUMNS or is_time_column(name):
        if arr.dtype == object:
            arr = np.array([NA if v is None else v for v in arr], dtype=np.int64)
        arr = arr.astype(np.int64)
        missing = arr == NA
        if name in DATE_COLUMNS:  # calendar date in Shanghai
            text = np.datetime_as_string((arr + 8 * 3600).astype("datetime64[s]").astype("datetime64[D]"))
        else:
            text = np.char.add(np.datetime_as_string(arr.astype("datetime64[s]"), unit="s"), "+00")
        return _with_nulls(text, missing) if missing.any() else text
    if arr.dtype == bool:
        return np.where(arr, "t", "f")
    if name in RAW_FLOAT_COLUMNS:
        return [repr(float(v)) for v in arr]
    if arr.dtype.kind == "f":
        missing = np.isnan(arr)
        text = np.char.mod("%.2f", np.where(missing, 0, arr))
        return _with_nulls(text, missing) if missing.any() else text
    if arr.dtype.kind in "iu" and (name == "id" or name.endswith("_id")):
        missing = arr == NA
        return _with_nulls(arr.astype(str), missing) if missing.any() else arr
    if arr.dtype == object:
        # Kept as text: a DataFrame would turn a column of ints and NULLs into floats.
        return np.array([None if v is None or (isinstance(v, float) and np.isnan(v)) else str(v)
                         for v in arr], dtype=object)
    return arr


class Progress:
    """A one-line carriage-return progress display on stderr (silent when disabled)."""

    def __init__(self, enabled: bool, total_rows: int) -> None:
        self.enabled, self.total, self.done = enabled, max(total_rows, 1), 0
        self.started = time.perf_counter()

    def advance(self, table: str, rows: int) -> None:
        self.done += rows
        if self.enabled:
            rate = self.done / max(time.perf_counter() - self.started, 1e-9)
            pct = min(100.0, 100.0 * self.done / self.total)
            sys.stderr.write(f"\r  seeding {pct:5.1f}%  {self.done:>12,} rows  {rate:>10,.0f} rows/s  {table:<28}")
            sys.stderr.flush()

    def close(self) -> None:
        if self.enabled:
            sys.stderr.write("\n")
            sys.stderr.flush()


def copy_table(cursor, table: Table, progress: Progress, columns: Sequence[str] | None = None) -> int:
    """COPY a Table (all of it, CHUNK_ROWS at a time); returns the row count."""
    columns = list(columns or table.columns)
    n = len(table)
    if n == 0:
        return 0
    for start in range(0, n, CHUNK_ROWS):
        stop = min(n, start + CHUNK_ROWS)
        frame = pd.DataFrame({c: format_column(c, _slice(table.columns[c], start, stop)) for c in columns})
        copy_frame(cursor, table.name, columns, frame)
        progress.advance(table.name, stop - start)
    if table.name == "app.certifications":  # and the images of their documents (issue 14)
        from console.demo.documents import copy_images
        copy_images(cursor)
    return n


def copy_frame(cursor, table_name: str, columns: Sequence[str], frame: pd.DataFrame) -> None:
    buf = io.StringIO()
    frame.to_csv(buf, header=False, index=False)
    buf.seek(0)
    cols = ", ".join(columns)
    cursor.copy_expert(f"COPY {table_name} ({cols}) FROM STDIN WITH (FORMAT csv)", buf)


def _slice(values: object, start: int, stop: int) -> object:
    return values[start:stop]  # type: ignore[index]
