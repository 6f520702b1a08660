"""The rating card's merchant search (credit.search_merchants): one page of merchants by name
fragment or id, best score first, and the total.

The order is the score, highest first, then the merchant id; merchants without a grade
(never scored) come last, by id. Sorting every merchant by a score that lives in another
table cost ~140 ms at the large scale (50,000 merchants) for each first page. Instead the
page is found in two walks, each along an index, and stops at the page's end:

1. graded merchants along ops.merchant_grade_current (score DESC, merchant_id) (migration
   088), LIMIT/OFFSET on that walk;
2. only when the page reaches past the last graded match: ungraded merchants by id.

The rows of the page are then read by id in one statement with the same columns as before.
Ungraded merchants never match a grade filter, so a grade filter walks graded ones only
(its index, migration 088, narrows the walk to the rows whose scored or override grade is
the one asked for).
"""
from __future__ import annotations

from collections.abc import Sequence

import pandas as pd
from sqlalchemy.engine import Connection

from console import db
from console.boundary import like_contains

# The filter on app.merchants m. % and _ in the query are letters to look for, not
# wildcards.
_TEXT = r"(:q = '' OR m.name ILIKE :pattern ESCAPE '\' OR m.id::text = :q)"
# At most this many matches of a name or id are found first and then sorted; more are read
# along the score index until the page is full. A narrow search (an id, a rare name) walking
# the index would look at every merchant for its few matches; a broad one (every merchant, a
# common word) sorting them all is what was slow. A grade's merchants are always found first:
# a grade in the middle of the scale would walk past every better one.
SORT_AT_MOST = 5_000


def _graded(grade: str | None) -> str:
    """Graded merchants matching the filter: c the current rating (a merchant on hold holds
    no grade, so a grade filter leaves it out)."""
    where = f"ops.merchant_credit c JOIN app.merchants m ON m.id = c.merchant_id WHERE {_TEXT}"
    if grade is not None:
        where += " AND c.effective_grade = :grade AND m.status <> ALL (CAST(:on_hold AS text[]))"
    return where


def search(conn: Connection, *, text: str, grade: str | None, limit: int, offset: int,
           on_hold: Sequence[str]) -> tuple[pd.DataFrame, int]:
    """(page, total) of merchants matching ``text`` (name fragment or id) and ``grade``."""
    params = {"q": text, "pattern": like_contains(text), "grade": grade,
              "on_hold": list(on_hold)}
    limit, offset = int(limit), int(offset)
    graded = _graded(grade)
    # Without a grade every merchant counts, graded or not (the grade table is not read).
    total = int(db.scalar(conn, f"SELECT count(*) FROM app.merchants m WHERE {_TEXT}"
                          if grade is None else f"SELECT count(*) FROM {graded}", **params))
    ids: list[int] = []
    if offset < total:
        if grade is not None or total <= SORT_AT_MOST:
            sql = f"""WITH hits AS MATERIALIZED (SELECT c.merchant_id, c.score FROM {graded})
                      SELECT merchant_id AS id FROM hits ORDER BY score DESC, merchant_id
                      LIMIT :limit OFFSET :offset"""
        else:
            sql = f"""SELECT c.merchant_id AS id FROM {graded}
                      ORDER BY c.score DESC, c.merchant_id LIMIT :limit OFFSET :offset"""
        ids = [int(r["id"]) for r in db.fetch_all(conn, sql, limit=limit, offset=offset,
                                                   **params)]
    if grade is None and len(ids) < limit and offset + len(ids) < total:
        # The page reaches past the graded matches: ungraded ones follow, by id.
        n_graded = offset + len(ids) if ids else int(db.scalar(
            conn, f"SELECT count(*) FROM {graded}", **params))
        ids += [int(r["id"]) for r in db.fetch_all(conn, f"""
            SELECT m.id FROM app.merchants m
            WHERE {_TEXT}
              AND NOT EXISTS (SELECT 1 FROM ops.merchant_grade_current g
                              WHERE g.merchant_id = m.id)
            ORDER BY m.id
            LIMIT :limit OFFSET :offset""", limit=limit - len(ids),
            offset=max(offset - n_graded, 0), **params)]
    page = db.fetch_df(conn, """
        SELECT m.id AS merchant_id, m.name, ci.name AS city, m.merchant_type, m.cert_level,
               m.status, c.score, c.grade, c.effective_grade, c.is_override,
               c.insufficient_history, c.loan_limit, c.vip_eligible
        FROM app.merchants m
        JOIN app.cities ci ON ci.id = m.city_id
        LEFT JOIN ops.merchant_credit c ON c.merchant_id = m.id
        WHERE m.id = ANY (CAST(:ids AS bigint[]))
        ORDER BY c.score DESC NULLS LAST, m.id""", ids=ids)
    return page, total
