"""Vehicle library (车型库): browse brand → series → trim, and import trims and guide prices.

An import is two steps. ``preview_import`` validates every row of the CSV and says what
would be added, what would change and which rows are wrong, writing nothing. ``confirm_import``
re-validates the same file against the library as it is now, refuses if the plan differs
from the one previewed (someone changed the library in between), and then writes every
valid change in the caller's single transaction, with a guide-price history row per price
set. Listings are never touched: each keeps the guide price it was published against.

Row numbers are spreadsheet row numbers: the header is row 1, the first data row is row 2.
"""
from __future__ import annotations

import csv
import hashlib
import io
import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timezone
from decimal import Decimal, InvalidOperation
from typing import Any

import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from console import db
from console.audit import write_audit
from console.boundary import bad_character
from console.errors import Conflict, InvalidInput
from console.roles import ROLES, Actor, requires

BROWSE_ROLES = ROLES
IMPORT_ROLES = ("ops", "admin")
ENERGY_TYPES = ("ice", "hev", "phev", "bev", "erev")
REQUIRED_COLUMNS = ("brand", "series", "trim", "model_year", "guide_price")
OPTIONAL_COLUMNS = ("energy_type",)
# Chinese headers as a dealer-ops spreadsheet would have them.
HEADER_ALIASES = {"品牌": "brand", "车系": "series", "车型": "trim", "年款": "model_year",
                  "指导价": "guide_price", "厂商指导价": "guide_price", "能源类型": "energy_type"}
MIN_MODEL_YEAR = 2000
MODEL_YEARS_AHEAD = 2          # next year's 款 is announced in advance, not further
MAX_IMPORT_BYTES = 5_000_000
MAX_IMPORT_ROWS = 20_000
MAX_PRICE = Decimal("100000000")   # ¥100M: above any car on sale; a typo guard
# Cell lengths the preview holds every row to, so that confirm never meets a value the
# database refuses (a 3,200-character trim name overflows the btree index on
# (series_id, name)). The longest real trim name in the reference data is 47 characters.
# The catalogue's vehicle.err.too_long states both numbers.
TRIM_NAME_MAX = 100
CELL_MAX = 200
_IMPORT_LOCK_KEY = 7_310_030           # advisory lock serialising library imports


# ---------------------------------------------------------------- browse
@requires(*BROWSE_ROLES)
def list_brands(*, conn: Connection, actor: Actor) -> pd.DataFrame:
    return db.fetch_df(conn, """
        SELECT b.id, b.name, b.initial,
               count(DISTINCT s.id) AS series_count, count(t.id) AS trim_count
        FROM app.brands b
        LEFT JOIN app.series s ON s.brand_id = b.id
        LEFT JOIN app.trims t ON t.series_id = s.id
        GROUP BY b.id ORDER BY b.initial NULLS LAST, b.name""")


@requires(*BROWSE_ROLES)
def list_series(*, conn: Connection, actor: Actor, brand_id: int) -> pd.DataFrame:
    return db.fetch_df(conn, """
        SELECT s.id, s.name, s.manufacturer, s.energy_type, s.origin,
               s.min_guide_price, s.max_guide_price, count(t.id) AS trim_count
        FROM app.series s LEFT JOIN app.trims t ON t.series_id = s.id
        WHERE s.brand_id = :b
        GROUP BY s.id ORDER BY s.sales_count DESC, s.name""", b=brand_id)


@requires(*BROWSE_ROLES)
def list_trims(*, conn: Connection, actor: Actor, series_id: int) -> pd.DataFrame:
    return db.fetch_df(conn, """
        SELECT id, name, model_year, guide_price, energy_type, is_active, updated_at
        FROM app.trims WHERE series_id = :s
        ORDER BY model_year DESC, guide_price, name""", s=series_id)


@requires(*BROWSE_ROLES)
def price_history(*, conn: Connection, actor: Actor, trim_id: int) -> pd.DataFrame:
    return db.fetch_df(conn, """
        SELECT h.changed_at, h.old_price, h.new_price, s.display_name AS changed_by, h.source
        FROM app.trim_price_history h LEFT JOIN ops.staff s ON s.id = h.changed_by
        WHERE h.trim_id = :t ORDER BY h.changed_at DESC, h.id DESC""", t=trim_id)


def import_template() -> bytes:
    """An example file with the expected header, for staff to fill in."""
    return ("brand,series,trim,model_year,guide_price,energy_type\n"
            "丰田,凯美瑞,2025款 2.0E 精英版,2025,171800,ice\n").encode("utf-8-sig")


# ---------------------------------------------------------------- import: parse and validate
@dataclass(frozen=True)
class RowError:
    row: int
    code: str        # catalogue key suffix: vehicle.err.<code>
    field: str
    value: str


@dataclass(frozen=True)
class ImportPreview:
    to_add: pd.DataFrame
    to_change: pd.DataFrame
    errors: pd.DataFrame
    unchanged: int
    rows: int
    digest: str          # fingerprint of the plan; confirm refuses a different plan

    @property
    def has_changes(self) -> bool:
        return not (self.to_add.empty and self.to_change.empty)


@dataclass(frozen=True)
class ImportResult:
    added: int
    changed: int
    price_changes: int


def _decode(content: bytes) -> str:
    # Excel in China saves CSV as GB18030 unless told otherwise; accept both.
    for encoding in ("utf-8-sig", "gb18030"):
        try:
            return content.decode(encoding)
        except UnicodeDecodeError:
            continue
    raise InvalidInput("vehicle.import_bad_encoding")


def _read_rows(content: bytes) -> list[tuple[int, dict[str, str]]]:
    """(spreadsheet row number, cells by canonical column) for each non-blank data row."""
    if len(content) > MAX_IMPORT_BYTES:
        raise InvalidInput("vehicle.import_too_large", max=MAX_IMPORT_ROWS)
    records = _records(csv.reader(io.StringIO(_decode(content))))
    header = next(records, None)
    if header is None or not header:
        raise InvalidInput("vehicle.import_empty")
    columns = [HEADER_ALIASES.get(h.strip(), h.strip().lower()) for h in header]
    missing = [c for c in REQUIRED_COLUMNS if c not in columns]
    if missing:
        raise InvalidInput("vehicle.import_missing_columns", columns=", ".join(missing))
    rows = []
    for line_no, cells in enumerate(records, start=2):
        if cells is None:                       # a row the CSV reader could not read
            rows.append((line_no, {UNREADABLE: ""}))
            continue
        if not any(c.strip() for c in cells):
            continue
        record = {col: (cells[i].strip() if i < len(cells) else "")
                  for i, col in enumerate(columns) if col in REQUIRED_COLUMNS + OPTIONAL_COLUMNS}
        rows.append((line_no, record))
        if len(rows) > MAX_IMPORT_ROWS:
            raise InvalidInput("vehicle.import_too_large", max=MAX_IMPORT_ROWS)
    if not rows:
        raise InvalidInput("vehicle.import_empty")
    return rows


UNREADABLE = "_unreadable"


def _records(reader) -> Iterator[list[str] | None]:
    """The reader's records, None for one it cannot read (a cell over the csv module's
    131,072-character field limit), so that one row is an error and the rest still read."""
    while True:
        try:
            yield next(reader)
        except StopIteration:
            return
        except csv.Error:
            yield None


def _cell_errors(line: int, rec: dict[str, str]) -> list[RowError]:
    """Cells no column of the library may hold: control characters, or longer than the
    column allows. Checked first, so the preview shows what confirm would fail on."""
    if UNREADABLE in rec:
        return [RowError(line, "unreadable", "", "")]
    errors = []
    for col, value in rec.items():
        if bad_character(value) is not None:
            errors.append(RowError(line, "bad_characters", col, _shown(value)))
        elif len(value) > (TRIM_NAME_MAX if col == "trim" else CELL_MAX):
            errors.append(RowError(line, "too_long", col, _shown(value)))
    return errors


def _shown(value: str, limit: int = 40) -> str:
    """A refused cell as the preview shows it: short, its invisible characters spelled out."""
    head = "".join(ch if bad_character(ch) is None else f"\\u{ord(ch):04x}" for ch in value[:limit])
    return head + (f"… ({len(value):,})" if len(value) > limit else "")


def _parse_price(raw: str) -> tuple[Decimal | None, str | None]:
    try:
        price = Decimal(raw.replace(",", ""))
    except InvalidOperation:
        return None, "price_not_numeric"
    if not price.is_finite() or price.as_tuple().exponent < -2:
        return None, "price_not_numeric"
    if price <= 0:
        return None, "price_not_positive"
    if price > MAX_PRICE:
        return None, "price_too_high"
    return price.quantize(Decimal("0.01")), None


def _parse_year(raw: str) -> int | None:
    try:
        year = int(raw)
    except ValueError:
        return None
    latest = datetime.now(timezone.utc).year + MODEL_YEARS_AHEAD
    return year if MIN_MODEL_YEAR <= year <= latest else None


def _library(conn: Connection) -> tuple[dict, dict, dict]:
    """Brands by folded name, series by (brand id, folded name), trims by (series id, name)."""
    brands = {r["name"].casefold(): r["id"] for r in db.fetch_all(conn, "SELECT id, name FROM app.brands")}
    series = {(r["brand_id"], r["name"].casefold()): dict(r) for r in db.fetch_all(
        conn, "SELECT id, brand_id, name, energy_type FROM app.series")}
    trims = {(r["series_id"], r["name"]): dict(r) for r in db.fetch_all(conn, """
        SELECT id, series_id, name, model_year, guide_price, energy_type FROM app.trims""")}
    return brands, series, trims


def _validate_row(line: int, rec: dict[str, str], brands: dict, series: dict,
                  errors: list[RowError]) -> dict[str, Any] | None:
    """The row as typed values with its series, or None after appending its errors."""
    unusable = _cell_errors(line, rec)
    if unusable:
        errors.extend(unusable)
        return None
    before = len(errors)
    for col in REQUIRED_COLUMNS:
        if not rec.get(col):
            errors.append(RowError(line, "missing_field", col, ""))
    brand_id = series_row = None
    if rec.get("brand"):
        brand_id = brands.get(rec["brand"].casefold())
        if brand_id is None:
            errors.append(RowError(line, "unknown_brand", "brand", rec["brand"]))
    if brand_id is not None and rec.get("series"):
        series_row = series.get((brand_id, rec["series"].casefold()))
        if series_row is None:
            errors.append(RowError(line, "unknown_series", "series", rec["series"]))
    price = None
    if rec.get("guide_price"):
        price, code = _parse_price(rec["guide_price"])
        if code:
            errors.append(RowError(line, code, "guide_price", rec["guide_price"]))
    year = None
    if rec.get("model_year"):
        year = _parse_year(rec["model_year"])
        if year is None:
            errors.append(RowError(line, "bad_model_year", "model_year", rec["model_year"]))
    energy = (rec.get("energy_type") or "").lower() or None
    if energy is not None and energy not in ENERGY_TYPES:
        errors.append(RowError(line, "bad_energy_type", "energy_type", rec["energy_type"]))
    if len(errors) > before:
        return None
    return {"row": line, "brand": rec["brand"], "series": rec["series"], "trim": rec["trim"],
            "series_id": series_row["id"], "model_year": year, "guide_price": price,
            "energy_type": energy or series_row["energy_type"]}


def _drop_duplicates(valid: list[dict], errors: list[RowError]) -> list[dict]:
    """A trim named twice in one file is ambiguous: every occurrence is an error."""
    seen: dict[tuple, list[int]] = {}
    for item in valid:
        seen.setdefault((item["series_id"], item["trim"]), []).append(item["row"])
    keep = []
    for item in valid:
        lines = seen[(item["series_id"], item["trim"])]
        if len(lines) > 1:
            others = ", ".join(str(n) for n in lines if n != item["row"])
            errors.append(RowError(item["row"], "duplicate_trim", "trim", f"{item['trim']} ({others})"))
        else:
            keep.append(item)
    return keep


def _plan(conn: Connection, content: bytes) -> ImportPreview:
    rows = _read_rows(content)
    brands, series, trims = _library(conn)
    errors: list[RowError] = []
    valid = [v for line, rec in rows
             if (v := _validate_row(line, rec, brands, series, errors)) is not None]
    valid = _drop_duplicates(valid, errors)
    adds, changes, unchanged = [], [], 0
    for item in valid:
        current = trims.get((item["series_id"], item["trim"]))
        if current is None:
            adds.append(item)
        elif (current["guide_price"], current["model_year"], current["energy_type"]) != (
                item["guide_price"], item["model_year"], item["energy_type"]):
            changes.append({**item, "trim_id": current["id"],
                            "old_price": current["guide_price"],
                            "old_model_year": current["model_year"],
                            "old_energy_type": current["energy_type"]})
        else:
            unchanged += 1
    add_cols = ["row", "brand", "series", "trim", "model_year", "guide_price", "energy_type",
                "series_id"]
    change_cols = ["row", "trim_id", "brand", "series", "trim", "old_price", "guide_price",
                   "old_model_year", "model_year", "old_energy_type", "energy_type", "series_id"]
    errors.sort(key=lambda e: (e.row, e.field, e.code))
    return ImportPreview(
        to_add=pd.DataFrame(adds, columns=add_cols),
        to_change=pd.DataFrame(changes, columns=change_cols),
        errors=pd.DataFrame([e.__dict__ for e in errors], columns=["row", "code", "field", "value"]),
        unchanged=unchanged, rows=len(rows), digest=_digest(adds, changes))


def _digest(adds: list[dict], changes: list[dict]) -> str:
    plan = {"add": sorted([a["series_id"], a["trim"], a["model_year"], str(a["guide_price"]),
                           a["energy_type"]] for a in adds),
            "change": sorted([c["trim_id"], str(c["old_price"]), str(c["guide_price"]),
                              c["model_year"], c["energy_type"]] for c in changes)}
    return hashlib.sha256(json.dumps(plan, ensure_ascii=False).encode()).hexdigest()


@requires(*IMPORT_ROLES)
def preview_import(*, conn: Connection, actor: Actor, content: bytes) -> ImportPreview:
    """What the file would do, row by row. Writes nothing."""
    return _plan(conn, content)


# ---------------------------------------------------------------- import: apply
_INSERT_TRIMS = """
    WITH incoming AS (
        SELECT * FROM unnest(CAST(:series_ids AS integer[]), CAST(:names AS text[]),
                             CAST(:years AS smallint[]), CAST(:prices AS numeric[]),
                             CAST(:energies AS text[]))
               AS u(series_id, name, model_year, guide_price, energy_type)),
    added AS (
        INSERT INTO app.trims (series_id, name, model_year, guide_price, energy_type)
        SELECT series_id, name, model_year, guide_price, energy_type FROM incoming
        RETURNING id, guide_price),
    history AS (
        INSERT INTO app.trim_price_history (trim_id, old_price, new_price, changed_by, source)
        SELECT id, NULL, guide_price, :actor, 'import' FROM added RETURNING 1)
    SELECT (SELECT count(*) FROM added)"""

# The WHERE on the old values makes each update conditional: a trim changed since the
# preview is not overwritten (the count then differs and the whole import is refused).
_UPDATE_TRIMS = """
    WITH incoming AS (
        SELECT * FROM unnest(CAST(:ids AS integer[]), CAST(:old_prices AS numeric[]),
                             CAST(:prices AS numeric[]), CAST(:years AS smallint[]),
                             CAST(:energies AS text[]))
               AS u(id, old_price, new_price, model_year, energy_type)),
    changed AS (
        UPDATE app.trims t
        SET guide_price = i.new_price, model_year = i.model_year,
            energy_type = i.energy_type, updated_at = now()
        FROM incoming i
        WHERE t.id = i.id AND t.guide_price = i.old_price
        RETURNING t.id, i.old_price, i.new_price),
    history AS (
        INSERT INTO app.trim_price_history (trim_id, old_price, new_price, changed_by, source)
        SELECT id, old_price, new_price, :actor, 'import' FROM changed
        WHERE old_price <> new_price RETURNING 1)
    SELECT (SELECT count(*) FROM changed) AS changed, (SELECT count(*) FROM history) AS priced"""

# A series' guide-price range must cover its trims (the generator and the search use it).
_WIDEN_SERIES = """
    UPDATE app.series s
    SET min_guide_price = LEAST(s.min_guide_price, r.lo),
        max_guide_price = GREATEST(s.max_guide_price, r.hi)
    FROM (SELECT series_id, min(guide_price) AS lo, max(guide_price) AS hi
          FROM app.trims WHERE series_id = ANY(CAST(:series_ids AS integer[]))
          GROUP BY series_id) r
    WHERE s.id = r.series_id"""


def _apply(conn: Connection, actor: Actor, plan: ImportPreview) -> ImportResult:
    adds, changes = plan.to_add, plan.to_change
    added = changed = price_changes = 0
    if not adds.empty:
        added = db.scalar(conn, _INSERT_TRIMS, actor=actor.id,
                          series_ids=[int(v) for v in adds["series_id"]],
                          names=list(adds["trim"]), years=[int(v) for v in adds["model_year"]],
                          prices=list(adds["guide_price"]), energies=list(adds["energy_type"]))
    if not changes.empty:
        row = db.fetch_one(conn, _UPDATE_TRIMS, actor=actor.id,
                           ids=[int(v) for v in changes["trim_id"]],
                           old_prices=list(changes["old_price"]),
                           prices=list(changes["guide_price"]),
                           years=[int(v) for v in changes["model_year"]],
                           energies=list(changes["energy_type"]))
        changed, price_changes = int(row["changed"]), int(row["priced"])
        if changed != len(changes):
            raise Conflict("vehicle.import_stale")
    series_ids = sorted({int(v) for v in adds["series_id"]} | {int(v) for v in changes["series_id"]})
    if series_ids:
        db.execute(conn, _WIDEN_SERIES, series_ids=series_ids)
    return ImportResult(added=int(added), changed=changed, price_changes=int(added) + price_changes)


@requires(*IMPORT_ROLES)
def confirm_import(*, conn: Connection, actor: Actor, content: bytes, digest: str) -> ImportResult:
    """Write every valid change of the previewed file, all or nothing, in ``conn``'s transaction.

    ``digest`` is the preview's: if the library changed since, the plan differs and the
    import is refused (preview again). Rows with errors are skipped, as the preview showed.
    """
    # One import at a time; other writers of a trim are caught by the conditional UPDATE.
    db.scalar(conn, "SELECT pg_advisory_xact_lock(:k)", k=_IMPORT_LOCK_KEY)
    plan = _plan(conn, content)
    if plan.digest != digest:
        raise Conflict("vehicle.import_stale")
    if not plan.has_changes:
        raise InvalidInput("vehicle.import_nothing")
    try:
        result = _apply(conn, actor, plan)
    except sa.exc.IntegrityError as exc:
        # Someone added the same trim between our lock and insert: refuse the whole file.
        raise Conflict("vehicle.import_stale") from exc
    write_audit(conn=conn, actor_id=actor.id, action="vehicle_library.import",
                entity_type="vehicle_library", entity_id=digest[:16],
                after={"file_sha256": hashlib.sha256(content).hexdigest(), "rows": plan.rows,
                       "added": result.added, "changed": result.changed,
                       "skipped_errors": int(plan.errors["row"].nunique()),
                       "unchanged": plan.unchanged})
    return result
