"""The audit log: one row per staff action, written in the caller's transaction, and the
verifier of its hash chain (migration 061)."""
from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import date, datetime, timezone
from decimal import Decimal
from itertools import chain, groupby
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


# ------------------------------------------------------------------ the hash chain
# Migration 061 links every row to the one before it: row_hash = sha256_hex(previous row's
# row_hash || canonical content), assigned by a trigger in commit order. The verifier below
# recomputes the chain here, in Python, from the stored values: it shares no code with the
# trigger, so a wrong trigger or a tampered row both show as a break.

GENESIS_HASH = "0" * 64

# SELECT list of the fields in canonical order; jsonb is hashed in its text form.
_CHAIN_COLUMNS = ("id, chain_seq, row_hash, actor_id, action, entity_type, entity_id, "
                  "before::text AS before, after::text AS after, reason, at")


def _field(value: str | None) -> str:
    """'<UTF-8 byte length>:<value>;' or 'N;' for NULL: no value can pose as two fields."""
    if value is None:
        return "N;"
    return f"{len(value.encode('utf-8'))}:{value};"


def _utc_text(at: datetime) -> str:
    return at.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def canonical_content(*, chain_seq: int, actor_id: int | None, action: str, entity_type: str,
                      entity_id: str, before: str | None, after: str | None,
                      reason: str | None, at: datetime) -> str:
    """The text a row's hash covers (migration 061 builds the same in SQL)."""
    return "".join((
        _field(str(chain_seq)), _field(None if actor_id is None else str(actor_id)),
        _field(action), _field(entity_type), _field(entity_id), _field(before), _field(after),
        _field(reason), _field(_utc_text(at))))


def chain_hash(prev_hash: str, row: Mapping[str, Any]) -> str:
    """The row_hash ``row`` (a mapping with the canonical fields) must carry after ``prev_hash``."""
    content = canonical_content(
        chain_seq=row["chain_seq"], actor_id=row["actor_id"], action=row["action"],
        entity_type=row["entity_type"], entity_id=row["entity_id"], before=row["before"],
        after=row["after"], reason=row["reason"], at=row["at"])
    return hashlib.sha256((prev_hash + content).encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class ChainBreak:
    """Where the chain breaks first.

    kind: 'edited' (row ``row_id`` at ``chain_seq`` no longer hashes to its link),
    'deleted' (link ``chain_seq`` is missing; ``row_id`` is the row after the gap, None
    when the newest rows went), 'inserted' (row ``row_id`` is not a link of the chain: a
    second row claiming ``chain_seq``, a row beyond the chain's head, or a row without a
    link, ``chain_seq`` None), 'head_missing' (rows but no chain head).
    """

    kind: str
    chain_seq: int | None
    row_id: int | None


@dataclass(frozen=True)
class ChainReport:
    rows: int                   # rows read (all of them when intact)
    links: int                  # the head's count of links ever made
    head_hash: str | None       # the newest link: write it down elsewhere to anchor the chain
    verified_at: datetime
    broken: ChainBreak | None

    @property
    def intact(self) -> bool:
        return self.broken is None


def _walk(rows: Iterator[Mapping[str, Any]], head_seq: int | None,
          head_hash: str | None) -> tuple[int, ChainBreak | None]:
    """Walk the rows in (chain_seq, id) order, rows without a link last; returns the number
    of rows seen and the first break."""
    expected, prev, seen, last_id = 1, GENESIS_HASH, 0, None
    for seq, group in groupby(rows, key=lambda r: r["chain_seq"]):
        group = list(group)
        seen += len(group)
        if seq is None:
            return seen, ChainBreak("inserted", None, group[0]["id"])
        if head_seq is None:
            return seen, ChainBreak("head_missing", None, None)
        if seq > head_seq:
            return seen, ChainBreak("inserted", seq, group[0]["id"])
        if seq > expected:
            return seen, ChainBreak("deleted", expected, group[0]["id"])
        genuine = [r for r in group if chain_hash(prev, r) == r["row_hash"]]
        if len(group) > 1:
            forged = next(r for r in group if not genuine or r is not genuine[0])
            return seen, ChainBreak("inserted", seq, forged["id"])
        if not genuine:
            return seen, ChainBreak("edited", seq, group[0]["id"])
        prev, last_id, expected = group[0]["row_hash"], group[0]["id"], expected + 1
    if head_seq is not None and head_seq >= expected:
        return seen, ChainBreak("deleted", expected, None)
    if head_seq is not None and head_seq > 0 and head_hash != prev:
        # The newest row was edited and its own hash recomputed: only the head knows.
        return seen, ChainBreak("edited", head_seq, last_id)
    return seen, None


def verify_chain(conn: Connection) -> ChainReport:
    """Recompute the whole chain; stop at its first break.

    One statement reads the head and every row, so both come from one snapshot whatever
    the caller's isolation level (a row committed meanwhile cannot pass for a gap), and the
    rows are streamed rather than held in memory.
    """
    # Streamed per statement: Connection.execution_options() would set it on the caller's
    # connection for good, and a later INSERT there would go out as a server-side cursor.
    result = conn.execute(sa.text(f"""
        SELECT 0 AS part, now() AS verified_at, NULL::bigint AS id, chain_seq, row_hash,
               NULL::bigint AS actor_id, NULL AS action, NULL AS entity_type,
               NULL AS entity_id, NULL AS before, NULL AS after, NULL AS reason,
               NULL::timestamptz AS at
        FROM ops.audit_chain_head
        UNION ALL
        SELECT 1, now(), {_CHAIN_COLUMNS} FROM ops.audit_log
        ORDER BY part, chain_seq NULLS LAST, id"""), execution_options={"yield_per": 5000})
    try:
        rows = iter(result.mappings())
        first = next(rows, None)
        verified_at = first["verified_at"] if first is not None else None
        if first is not None and first["part"] == 0:
            head_seq, head_hash = first["chain_seq"], first["row_hash"]
        else:
            head_seq, head_hash = None, None
            rows = chain([first] if first is not None else [], rows)
        seen, broken = _walk(rows, head_seq, head_hash)
    finally:
        result.close()
    if verified_at is None:  # no head and no rows
        verified_at = conn.execute(sa.text("SELECT now()")).scalar_one()
    return ChainReport(rows=seen, links=head_seq or 0, head_hash=head_hash,
                       verified_at=verified_at, broken=broken)


def describe_chain(report: ChainReport) -> tuple[str, dict[str, Any]]:
    """The catalogue key and parameters that say what ``report`` found."""
    params: dict[str, Any] = {"rows": report.rows, "at": report.verified_at}
    broken = report.broken
    if broken is None:
        return "audit.chain.intact", params
    params.update(seq=broken.chain_seq, id=broken.row_id)
    if broken.kind == "deleted" and broken.row_id is None:
        return "audit.chain.deleted_tail", params
    if broken.kind == "inserted" and broken.chain_seq is None:
        return "audit.chain.unlinked", params
    return f"audit.chain.{broken.kind}", params
