"""A day's (or an hour's) work on the platform, for the bench: the change sets the incremental
ETL, the daily history and the commit-measuring figures run on.

A change set touches ``per_mille``/1000 of the rows of every mutable or growing source, each
change stamped now(). ``salt`` chooses which rows (by id modulo 1000), so consecutive sets
touch different rows: a figure measured on a new salt each time measures fresh work, not a
re-run over rows an earlier run already processed. Slices in use (id % 1000): the load's
history 2..61, the ETL bench 100..129, the rematch bench 800..805.

- listings: that share of live listings is sold, and as many new live listings are published
  (copies, 1% cheaper): the live stock stays the size it was, as on the platform;
- requests, merchants (last active now), orders, matches, certifications: touched;
- payments: that share of the succeeded payments is confirmed again now (paid_at moves);
- events: that share of the event table is appended as today's logins (the fastest-growing
  table, append-only: its watermark is the id).
"""
from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.engine import Connection

_PICK = "id % 1000 >= :lo AND id % 1000 < :hi"

_STATEMENTS: dict[str, str] = {
    "listings": f"""
        WITH sold AS (
            UPDATE app.listings SET status = 'sold', updated_at = now()
            WHERE {_PICK} AND status = 'live'
            RETURNING merchant_id, trim_id, exterior_color, interior_color, quantity, city_id,
                      price, guide_price, available_from, is_parallel_import, is_self_operated
        ), published AS (
            INSERT INTO app.listings (merchant_id, trim_id, exterior_color, interior_color,
                                      quantity, city_id, price, guide_price, available_from,
                                      is_parallel_import, is_self_operated, status, published_at)
            SELECT merchant_id, trim_id, exterior_color, interior_color, quantity, city_id,
                   round(price * 0.99, 2), guide_price, available_from, is_parallel_import,
                   is_self_operated, 'live', now()
            FROM sold
            RETURNING 1
        )
        SELECT (SELECT count(*) FROM sold) + (SELECT count(*) FROM published)""",
    "requests": f"UPDATE app.requests SET updated_at = now() WHERE {_PICK}",
    "merchants": f"""UPDATE app.merchants SET last_active_at = now(), updated_at = now()
                     WHERE {_PICK}""",
    "orders": f"UPDATE app.orders SET updated_at = now() WHERE {_PICK}",
    "matches": f"UPDATE ops.matches SET updated_at = now() WHERE {_PICK}",
    "certifications": f"UPDATE app.certifications SET updated_at = now() WHERE {_PICK}",
    "payments": f"""UPDATE app.payments SET paid_at = now(), updated_at = now()
                    WHERE {_PICK} AND status = 'succeeded'""",
    "events": f"""
        INSERT INTO app.events (merchant_id, event_type, occurred_at)
        SELECT merchant_id, 'login', now() - make_interval(secs => id % 3600)
        FROM app.events WHERE {_PICK}""",
}


def apply(conn: Connection, *, per_mille: int, salt: int) -> dict[str, int]:
    """Apply one change set in the caller's transaction; rows changed per source."""
    if not 1 <= per_mille <= 1000 or 1000 % per_mille:
        raise ValueError("per_mille must divide 1000")
    lo = (salt * per_mille) % 1000
    changed = {}
    for name, sql in _STATEMENTS.items():
        result = conn.execute(sa.text(sql), {"lo": lo, "hi": lo + per_mille})
        changed[name] = int(result.scalar()) if result.returns_rows else result.rowcount
    return changed
