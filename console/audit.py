"""The audit log: one row per staff action, written in the caller's transaction."""
from __future__ import annotations

import json
from datetime import date, datetime
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection


def _default(value: Any) -> Any:
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, (set, frozenset)):
        return sorted(value)
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def _json(value: Any) -> str | None:
    if value is None:
        return None
    return json.dumps(dict(value) if not isinstance(value, (dict, list)) else value,
                      default=_default, ensure_ascii=False)


def write_audit(*, conn: Connection, actor_id: int | None, action: str, entity_type: str,
                entity_id: Any, before: Any = None, after: Any = None,
                reason: str | None = None) -> int:
    """Append one audit row inside ``conn``'s transaction; returns its id."""
    return conn.execute(sa.text(
        """INSERT INTO ops.audit_log (actor_id, action, entity_type, entity_id, before, after, reason)
           VALUES (:actor, :action, :etype, :eid, CAST(:before AS jsonb), CAST(:after AS jsonb), :reason)
           RETURNING id"""),
        {"actor": actor_id, "action": action, "etype": entity_type, "eid": str(entity_id),
         "before": _json(before), "after": _json(after), "reason": reason}).scalar_one()
