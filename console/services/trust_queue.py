"""What the certification queue and the listing-flag queue share: assignment, snooze, notes.

Both queues keep their cases in one table with the same work columns (status, assignee_id,
assigned_at, snoozed_until, version). Every change is one conditional UPDATE, so two
reviewers can never hold the same case; when the UPDATE touches no row, ``explain_refusal``
reads the row again to tell the loser why.

Each person holds at most the configured number of open cases per queue
(``review_cap_per_person``). "Next case" and auto-assign change a reviewer's load only
under a transaction-scoped advisory lock on that reviewer, taken before the load is
counted: two transactions counting the same person's load would otherwise both see room
under the cap (twenty people pressing auto-assign at once used to give each reviewer the
cap twenty times over).

Table and column names come only from the two ``QueueTable`` constants below, never from
input; every value is a bound parameter.

The functions here are internal: the public services in certification.py and
listing_review.py check the actor's role first and then call them.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

import pandas as pd
from sqlalchemy.engine import Connection

from console import clock, db, sla
from console.audit import write_audit
from console.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from console.roles import Actor
from console.settings import get_settings

OPEN_STATUSES = ("pending", "in_review")
SLA_LATE_HOURS = 48             # 'warn' from half of it (console/sla.py)


@dataclass(frozen=True)
class QueueTable:
    entity_type: str     # audit entity type and ops.notes entity type
    table: str           # schema-qualified table holding the cases
    age_column: str      # when the case entered the queue
    reason_queue: str    # ops.review_reasons.queue
    lock_namespace: int  # advisory-lock namespace of one reviewer's load in this queue


# Advisory-lock namespaces 51 and 52 are the lead cap's and the notification cap's.
CERTIFICATION = QueueTable("certification", "app.certifications", "submitted_at", "certification",
                           53)
LISTING_FLAG = QueueTable("listing_flag", "ops.listing_flags", "raised_at", "listing_flag", 54)


@dataclass(frozen=True)
class QueuePage:
    """One page of a queue and the number of rows the filters match."""

    rows: pd.DataFrame
    total: int


def sla_level(age_hours: float) -> str:
    """'ok' under 24 h, 'warn' from 24 h, 'late' from 48 h."""
    return sla.sla_level(age_hours, sla_hours=SLA_LATE_HOURS)


def is_active_ops(conn: Connection, staff_id: Any) -> bool:
    if not isinstance(staff_id, int) or isinstance(staff_id, bool):
        return False
    return bool(db.scalar(conn, """SELECT 1 FROM ops.staff
                                   WHERE id = :id AND is_active AND 'ops' = ANY (roles)""",
                          id=staff_id))


def check_version(version: Any) -> int:
    """A form's version must be a positive int; anything else is a forged value."""
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise InvalidInput("trust.error.bad_form_value")
    return version


def check_case_id(case_id: Any) -> int:
    if not isinstance(case_id, int) or isinstance(case_id, bool) or case_id < 1:
        raise InvalidInput("trust.error.bad_form_value")
    return case_id


def load_case(conn: Connection, q: QueueTable, case_id: int, *, lock: bool = False):
    lock_sql = " FOR UPDATE" if lock else ""
    row = db.fetch_one(conn, f"""SELECT t.id, t.status, t.assignee_id, t.version, t.snoozed_until,
                                        s.display_name AS assignee_name
                                 FROM {q.table} t LEFT JOIN ops.staff s ON s.id = t.assignee_id
                                 WHERE t.id = :id{lock_sql}""", id=case_id)
    if row is None:
        raise NotFound("error.not_found")
    return row


def explain_refusal(conn: Connection, q: QueueTable, case_id: int, actor: Actor,
                    version: int | None, *, must_hold: bool) -> None:
    """Raise the reason a conditional UPDATE on ``case_id`` matched no row."""
    row = load_case(conn, q, case_id)
    if row["status"] not in OPEN_STATUSES:
        raise Conflict("trust.error.already_decided")
    if must_hold and row["assignee_id"] != actor.id:
        raise PermissionDenied("trust.error.not_yours")
    if not must_hold and row["assignee_id"] not in (None, actor.id):
        raise Conflict("trust.error.held_by", name=row["assignee_name"])
    if version is not None and row["version"] != version:
        raise Conflict("error.stale")
    raise Conflict("error.stale")


def open_load(conn: Connection, q: QueueTable, staff_id: int) -> int:
    return int(db.scalar(conn, f"""SELECT count(*) FROM {q.table}
                                   WHERE assignee_id = :s AND status = 'in_review'""", s=staff_id))


def lock_reviewers(conn: Connection, q: QueueTable, staff_ids: list[int]) -> None:
    """Hold each reviewer's load in this queue until the transaction ends.

    Taken in ascending id order, so two callers locking overlapping sets of reviewers
    (two auto-assigns, an auto-assign and a "next case") queue behind each other and
    never deadlock. The statement after the locks reads a fresh snapshot (READ COMMITTED),
    so it counts the cases the previous holder committed.
    """
    for staff_id in sorted(set(staff_ids)):
        db.execute(conn, "SELECT pg_advisory_xact_lock(:ns, CAST(:s AS integer))",
                   ns=q.lock_namespace, s=staff_id)


def configured_cap() -> int:
    """The per-person cap of the settings (CONSOLE_REVIEW_CAP): never a caller's number."""
    cap = get_settings().review_cap_per_person
    if not isinstance(cap, int) or isinstance(cap, bool) or cap < 1:
        raise InvalidInput("trust.error.bad_form_value")
    return cap


def take_next(conn: Connection, q: QueueTable, actor: Actor, *, extra_where: str = "",
              **params: Any) -> int | None:
    """Assign the oldest unassigned, unsnoozed pending case to ``actor``; None if none left.
    Conflict when ``actor`` already holds the configured cap of open cases (or more, after
    the cap was lowered): the refusal says how many they hold and the cap.

    SKIP LOCKED lets concurrent callers pass over a row another transaction is taking,
    so each caller gets a different case and nobody waits.
    """
    cap = configured_cap()
    lock_reviewers(conn, q, [actor.id])
    held = open_load(conn, q, actor.id)
    if held >= cap:
        # Says how many the person holds: after the cap was lowered that is more than it.
        raise Conflict("trust.error.cap_reached", held=held, cap=cap)
    case_id = db.scalar(conn, f"""
        UPDATE {q.table} t
        SET assignee_id = :me, assigned_at = now(), status = 'in_review',
            version = version + 1, updated_at = now()
        WHERE t.id = (SELECT c.id FROM {q.table} c
                      WHERE c.status = 'pending' AND c.assignee_id IS NULL
                        AND (c.snoozed_until IS NULL OR c.snoozed_until <= now()) {extra_where}
                      ORDER BY c.{q.age_column}, c.id
                      LIMIT 1
                      FOR UPDATE SKIP LOCKED)
          AND t.status = 'pending' AND t.assignee_id IS NULL
        RETURNING t.id""", me=actor.id, **params)
    if case_id is not None:
        write_audit(conn=conn, actor_id=actor.id, action=f"{q.entity_type}.take_next",
                    entity_type=q.entity_type, entity_id=case_id,
                    before={"assignee_id": None}, after={"assignee_id": actor.id})
    return case_id


def assign(conn: Connection, q: QueueTable, actor: Actor, *, case_id: Any, version: Any,
           assignee_id: Any) -> int:
    """Give an unassigned case (or one I hold) to ``assignee_id``; returns the new version."""
    case_id, version = check_case_id(case_id), check_version(version)
    if not is_active_ops(conn, assignee_id):
        raise InvalidInput("trust.error.bad_assignee")
    new_version = db.scalar(conn, f"""
        UPDATE {q.table}
        SET assignee_id = :to, assigned_at = now(), status = 'in_review',
            version = version + 1, updated_at = now()
        WHERE id = :id AND version = :v AND status IN ('pending','in_review')
          AND (assignee_id IS NULL OR assignee_id = :me)
        RETURNING version""", to=assignee_id, id=case_id, v=version, me=actor.id)
    if new_version is None:
        explain_refusal(conn, q, case_id, actor, version, must_hold=False)
    write_audit(conn=conn, actor_id=actor.id, action=f"{q.entity_type}.assign",
                entity_type=q.entity_type, entity_id=case_id, after={"assignee_id": assignee_id})
    return new_version


def unassign(conn: Connection, q: QueueTable, actor: Actor, *, case_id: Any, version: Any) -> int:
    """Put a case back in the pool: by its holder, or by a manager when the holder is away."""
    case_id, version = check_case_id(case_id), check_version(version)
    holder_clause = "" if actor.has("manager") else "AND assignee_id = :me"
    row = db.fetch_one(conn, f"""
        UPDATE {q.table} t
        SET assignee_id = NULL, assigned_at = NULL, status = 'pending',
            version = version + 1, updated_at = now()
        FROM (SELECT id, assignee_id AS old_assignee FROM {q.table} WHERE id = :id) old
        WHERE t.id = old.id AND t.version = :v AND t.status = 'in_review' {holder_clause}
        RETURNING t.version, old.old_assignee""", id=case_id, v=version, me=actor.id)
    if row is None:
        explain_refusal(conn, q, case_id, actor, version, must_hold=True)
    write_audit(conn=conn, actor_id=actor.id, action=f"{q.entity_type}.unassign",
                entity_type=q.entity_type, entity_id=case_id,
                before={"assignee_id": row["old_assignee"]}, after={"assignee_id": None})
    return row["version"]


def snooze(conn: Connection, q: QueueTable, actor: Actor, *, case_id: Any, version: Any,
           until: Any) -> int:
    """Hide an open case from the queue until the start of ``until`` (Shanghai time)."""
    case_id, version = check_case_id(case_id), check_version(version)
    if not isinstance(until, date) or until <= clock.today():
        raise InvalidInput("trust.error.snooze_future")
    new_version = db.scalar(conn, f"""
        UPDATE {q.table}
        SET snoozed_until = CAST(:until AS date)::timestamp AT TIME ZONE 'Asia/Shanghai',
            version = version + 1, updated_at = now()
        WHERE id = :id AND version = :v AND status IN ('pending','in_review')
          AND (assignee_id IS NULL OR assignee_id = :me)
        RETURNING version""", until=until, id=case_id, v=version, me=actor.id)
    if new_version is None:
        explain_refusal(conn, q, case_id, actor, version, must_hold=False)
    write_audit(conn=conn, actor_id=actor.id, action=f"{q.entity_type}.snooze",
                entity_type=q.entity_type, entity_id=case_id, after={"snoozed_until": until})
    return new_version


def auto_assign(conn: Connection, q: QueueTable, actor: Actor) -> dict[int, int]:
    """Spread pending unassigned cases over active ops staff, oldest first, evenly, up to
    the configured cap of open cases per person. Returns {staff id: cases given now}.

    Each reviewer's free slots are numbered load+1 … cap; ordering all slots by
    (slot number, staff id) and pairing them with cases by rank fills the least-loaded
    reviewers first, one case each per round, in one statement.

    Every reviewer's lock is held before the loads are counted, and only the reviewers
    locked get cases (someone made a reviewer meanwhile waits for the next press).
    """
    cap = configured_cap()
    staff_ids = [r["id"] for r in db.fetch_all(conn, """
        SELECT id FROM ops.staff WHERE is_active AND 'ops' = ANY (roles) ORDER BY id""")]
    lock_reviewers(conn, q, staff_ids)
    rows = db.fetch_all(conn, f"""
        WITH reviewers AS (
            SELECT s.id,
                   (SELECT count(*) FROM {q.table} c
                    WHERE c.assignee_id = s.id AND c.status = 'in_review') AS load
            FROM ops.staff s
            WHERE s.id = ANY (CAST(:staff AS bigint[]))
              AND s.is_active AND 'ops' = ANY (s.roles)
        ),
        slots AS (
            SELECT r.id AS staff_id,
                   row_number() OVER (ORDER BY g.n, r.id) AS rank
            FROM reviewers r
            CROSS JOIN LATERAL generate_series(r.load + 1, :cap) AS g(n)
        ),
        cases AS (
            SELECT c.id, row_number() OVER (ORDER BY c.{q.age_column}, c.id) AS rank
            FROM (SELECT id, {q.age_column} FROM {q.table}
                  WHERE status = 'pending' AND assignee_id IS NULL
                    AND (snoozed_until IS NULL OR snoozed_until <= now())
                  ORDER BY {q.age_column}, id
                  LIMIT (SELECT count(*) FROM slots)
                  FOR UPDATE SKIP LOCKED) c
        )
        UPDATE {q.table} t
        SET assignee_id = slots.staff_id, assigned_at = now(), status = 'in_review',
            version = t.version + 1, updated_at = now()
        FROM cases JOIN slots USING (rank)
        WHERE t.id = cases.id
        RETURNING t.id, t.assignee_id""", cap=cap, staff=staff_ids)
    given: dict[int, int] = {}
    for row in rows:
        given[row["assignee_id"]] = given.get(row["assignee_id"], 0) + 1
        write_audit(conn=conn, actor_id=actor.id, action=f"{q.entity_type}.auto_assign",
                    entity_type=q.entity_type, entity_id=row["id"],
                    before={"assignee_id": None}, after={"assignee_id": row["assignee_id"]})
    return given


def add_note(conn: Connection, q: QueueTable, actor: Actor, *, case_id: Any, body: str) -> int:
    case_id = check_case_id(case_id)
    body = (body or "").strip()
    if not body:
        raise InvalidInput("trust.error.note_empty")
    load_case(conn, q, case_id)
    note_id = db.scalar(conn, """INSERT INTO ops.notes (entity_type, entity_id, staff_id, body)
                                 VALUES (:et, :id, :me, :body) RETURNING id""",
                        et=q.entity_type, id=case_id, me=actor.id, body=body)
    write_audit(conn=conn, actor_id=actor.id, action=f"{q.entity_type}.note",
                entity_type=q.entity_type, entity_id=case_id, after={"note_id": note_id})
    return note_id


def timeline(conn: Connection, q: QueueTable, case_id: int) -> pd.DataFrame:
    """Audit events and notes of one case, oldest first: at, who, kind, action, text."""
    return db.fetch_df(conn, """
        SELECT a.at, s.display_name AS who, 'event' AS kind, a.action,
               coalesce(a.reason, '') AS text
        FROM ops.audit_log a LEFT JOIN ops.staff s ON s.id = a.actor_id
        WHERE a.entity_type = :et AND a.entity_id = CAST(:id AS text) AND a.action NOT LIKE '%.note'
        UNION ALL
        SELECT n.created_at, s.display_name, 'note', 'note', n.body
        FROM ops.notes n JOIN ops.staff s ON s.id = n.staff_id
        WHERE n.entity_type = :et AND n.entity_id = :id
        ORDER BY 1""", et=q.entity_type, id=case_id)


def reason_codes(conn: Connection, q: QueueTable, decision: str) -> list[str]:
    return [r["code"] for r in db.fetch_all(conn, """
        SELECT code FROM ops.review_reasons WHERE queue = :q AND decision = :d
        ORDER BY sort_order, code""", q=q.reason_queue, d=decision)]


def check_reason(conn: Connection, q: QueueTable, decision: str, code: Any) -> str:
    if not code:
        raise InvalidInput("trust.error.reason_required")
    if code not in reason_codes(conn, q, decision):
        raise InvalidInput("trust.error.unknown_reason", code=str(code)[:40])
    return code


MERCHANT_TYPES = ("4s", "secondary", "resource", "parallel_import")
TIERS = (1, 2, 3, 4, 5, 6)
ASSIGNEE_VIEWS = ("any", "me", "unassigned")


def shared_where(filters: Any, actor: Actor, *, alias: str, age_column: str,
                 clauses: list[str], params: dict[str, Any]) -> None:
    """Add the filters both queues offer (the merchant's city tier and type, how long a case
    has waited, whose it is, snoozed or not) to a filter being built. ``alias`` is the queue
    table's; the merchant's city is joined as ``ci`` and the merchant as ``m``."""
    if filters.tiers:
        clauses.append("ci.tier_level = ANY (:tiers)")
        params["tiers"] = [int(t) for t in check_choices(filters.tiers, TIERS)]
    if filters.merchant_types:
        clauses.append("m.merchant_type = ANY (:mtypes)")
        params["mtypes"] = check_choices(filters.merchant_types, MERCHANT_TYPES)
    age_where(age_column, filters.min_age_hours, filters.max_age_hours, clauses, params)
    if filters.assignee not in ASSIGNEE_VIEWS:
        raise InvalidInput("trust.error.bad_form_value")
    if filters.assignee == "me":
        clauses.append(f"{alias}.assignee_id = :me")
        params["me"] = actor.id
    elif filters.assignee == "unassigned":
        clauses.append(f"{alias}.assignee_id IS NULL")
    if not filters.include_snoozed:
        clauses.append(f"({alias}.snoozed_until IS NULL OR {alias}.snoozed_until <= now())")


def check_page(sort: str, sorts: Any, limit: int | None, offset: int) -> int:
    """A queue page's sort key and bounds must be the page's own; returns the page size."""
    if sort not in sorts:
        raise InvalidInput("trust.error.bad_form_value")
    limit = limit or get_settings().page_size
    if not (0 < limit <= 500) or offset < 0:
        raise InvalidInput("trust.error.bad_form_value")
    return limit


def age_where(column: str, min_age_hours: Any, max_age_hours: Any,
              clauses: list[str], params: dict[str, Any]) -> None:
    """Add age bounds (hours since ``column``) to a filter being built."""
    for name, value, op in (("min_age", min_age_hours, "<="), ("max_age", max_age_hours, ">")):
        if value is None:
            continue
        if not isinstance(value, (int, float)) or isinstance(value, bool) or value < 0:
            raise InvalidInput("trust.error.bad_form_value")
        clauses.append(f"{column} {op} now() - make_interval(secs => :{name} * 3600)")
        params[name] = float(value)


def check_choices(values: Any, allowed: tuple[str, ...] | frozenset) -> list[str]:
    """A multi-select's values must all be known; an unknown one is a forged form value."""
    values = list(values or [])
    if any(v not in allowed for v in values):
        raise InvalidInput("trust.error.bad_form_value")
    return values
