"""The review of parallel imports' documents (平行进口车的单证审核, issue 21).

A parallel-import listing needs four documents (console/imports/status.py DOC_KINDS): the
customs declaration (关单), the inspection certificate (商检单), the China 6 environmental
disclosure (环保信息公开) and the conformity certificate (一致性证书). The dealer uploads each
(``submit_document``, the marketplace's write); ops review them in a queue that works like
the certification queue:

- the queue: pending documents, oldest upload first, with their age and SLA level
  (console/sla.py at ``settings.import_doc_sla_hours``), filtered by kind, port, market
  version and whose they are (anyone's, mine, unassigned), paged on the server;
- "take" (one document) and "next" (the oldest unassigned one) give a document to the person,
  at most ``settings.review_cap_per_person`` pending documents each (CONSOLE_REVIEW_CAP, the
  certification queue's cap). A reviewer's load changes only under a transaction-scoped
  advisory lock on that reviewer, taken before the load is counted: two presses at once
  would otherwise both see room under the cap (console/services/trust_queue.py, same rule);
- a decision, approve or reject, always with a reason: taken on the document's row locked,
  at the version the form was loaded with (a stale form is refused), by the holder or on a
  document nobody holds (never on a colleague's); it writes one audit row, and on a rejection
  a notification to the dealer to upload again, in the caller's transaction. A decided
  document is frozen: a rejected one stays as the evidence and the dealer uploads a new one.

A listing's panel shows the four kinds, each missing, pending, approved or rejected (with the
reason), and whether the listing is "documents missing" (status.docs_missing_sql, the one
definition). Each refusal raises before anything is written.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Annotated, Any

import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from console import db, sla
from console.audit import write_audit
from console.boundary import Text
from console.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from console.imports.details import MARKET_VERSIONS, PORTS
from console.imports.status import DOC_KINDS, docs_missing_sql, missing_kinds
from console.roles import Actor, requires
from console.services import trust_queue as tq
from console.settings import get_settings

ENTITY = "import_document"
READ_ROLES = ("ops", "manager", "bd")
DECISIONS = {"approve": "approved", "reject": "rejected"}
VIEWS = ("any", "mine", "unassigned")
# What the panel shows per kind: no document, or its latest document's status.
STATES = ("missing", "pending", "approved", "rejected")
# Advisory-lock namespace of one reviewer's load in this queue: migration 109, issue 21
# (51–55 are the leads', notifications', the two trust queues' and the order loans').
LOCK_NAMESPACE = 10921

DocRef = Annotated[str, Text(max=80)]


def sla_level(age_hours: float) -> str:
    """console/sla.py's rule at settings.import_doc_sla_hours."""
    return sla.sla_level(age_hours, sla_hours=get_settings().import_doc_sla_hours)


# ---------------------------------------------------------------- the queue
@dataclass(frozen=True)
class DocFilters:
    """The queue's filters; an empty tuple: all of them."""

    kinds: tuple[str, ...] = ()
    ports: tuple[str, ...] = ()
    market_versions: tuple[str, ...] = ()
    view: str = "any"                    # any | mine | unassigned


@dataclass(frozen=True)
class QueuePage:
    rows: pd.DataFrame
    total: int


def _queue_where(filters: DocFilters, actor: Actor) -> tuple[str, dict[str, Any]]:
    """The WHERE clause over the document ``d`` and its import details ``li``, from fixed
    fragments; values are bound."""
    clauses = ["d.status = 'pending'"]
    params: dict[str, Any] = {}
    for name, column, allowed in (("kinds", "d.doc_kind", DOC_KINDS),
                                  ("ports", "li.port", PORTS),
                                  ("market_versions", "li.market_version", MARKET_VERSIONS)):
        values = getattr(filters, name)
        if values:
            clauses.append(f"{column} = ANY (:{name})")
            params[name] = tq.check_choices(values, allowed)
    if filters.view not in VIEWS:
        raise InvalidInput("trust.error.bad_form_value")
    if filters.view == "mine":
        clauses.append("d.assigned_to = :me")
        params["me"] = actor.id
    elif filters.view == "unassigned":
        clauses.append("d.assigned_to IS NULL")
    return " AND ".join(clauses), params


@requires(*READ_ROLES)
def list_queue(*, conn: Connection, actor: Actor, filters: DocFilters = DocFilters(),
               limit: int | None = None, offset: int = 0) -> QueuePage:
    """One page of pending documents, oldest upload first, and the number the filters match:
    the document, its listing (vehicle, market version, port, in stock or future, seller),
    who holds it, its age in hours and SLA level."""
    limit = limit or get_settings().page_size
    if not (0 < limit <= 500) or offset < 0:
        raise InvalidInput("trust.error.bad_form_value")
    where, params = _queue_where(filters, actor)
    base = f"""FROM app.import_documents d
               LEFT JOIN app.listing_imports li ON li.listing_id = d.listing_id
               WHERE {where}"""
    total = int(db.scalar(conn, f"SELECT count(*) {base}", **params))
    # The page first (the partial index on pending documents by upload time), then the
    # names of its fifty rows.
    rows = db.fetch_df(conn, f"""
        WITH page AS MATERIALIZED (
            SELECT d.id, d.listing_id, d.doc_kind, d.doc_ref, d.uploaded_at, d.assigned_to,
                   d.version, li.market_version, li.port, li.availability, li.expected_arrival
            {base}
            ORDER BY d.uploaded_at, d.id
            LIMIT :limit OFFSET :offset)
        SELECT p.id, p.doc_kind AS kind, p.doc_ref, p.listing_id,
               app.vehicle_name(b.name, se.name) || ' ' || t.name AS vehicle,
               p.market_version, p.port, p.availability, p.expected_arrival,
               l.merchant_id, m.name AS seller, p.uploaded_at,
               p.assigned_to AS assignee_id, s.display_name AS assignee, p.version,
               extract(epoch FROM now() - p.uploaded_at) / 3600 AS age_hours
        FROM page p
        JOIN app.listings l ON l.id = p.listing_id
        JOIN app.merchants m ON m.id = l.merchant_id
        JOIN app.trims t ON t.id = l.trim_id
        JOIN app.series se ON se.id = t.series_id
        JOIN app.brands b ON b.id = se.brand_id
        LEFT JOIN ops.staff s ON s.id = p.assigned_to
        ORDER BY p.uploaded_at, p.id""", limit=limit, offset=offset, **params)
    if rows.empty:
        rows["sla"] = pd.Series(dtype=object)
    else:
        rows["age_hours"] = rows["age_hours"].astype(float).round(1)
        rows["sla"] = rows["age_hours"].map(sla_level)
    return QueuePage(rows=rows, total=total)


@requires(*READ_ROLES)
def queue_counts(*, conn: Connection, actor: Actor) -> dict[str, int]:
    """The queue's header: pending, pending nobody holds, mine, past the SLA."""
    row = db.fetch_one(conn, """
        SELECT count(*) AS pending,
               count(*) FILTER (WHERE assigned_to IS NULL) AS unassigned,
               count(*) FILTER (WHERE assigned_to = :me) AS mine,
               count(*) FILTER (WHERE uploaded_at <= now() - make_interval(hours => :sla))
                   AS late
        FROM app.import_documents WHERE status = 'pending'""",
                       me=actor.id, sla=get_settings().import_doc_sla_hours)
    return {k: int(v or 0) for k, v in dict(row).items()}


# ---------------------------------------------------------------- assignment
def _lock_reviewer(conn: Connection, staff_id: int) -> int:
    """Hold ``staff_id``'s load in this queue until the transaction ends; returns the number
    of pending documents they hold, counted after the lock (a fresh snapshot under READ
    COMMITTED, so it counts what the previous holder of the lock committed)."""
    db.execute(conn, "SELECT pg_advisory_xact_lock(:ns, CAST(:s AS integer))",
               ns=LOCK_NAMESPACE, s=staff_id)
    return int(db.scalar(conn, """SELECT count(*) FROM app.import_documents
                                  WHERE assigned_to = :s AND status = 'pending'""", s=staff_id))


def _check_room(conn: Connection, actor: Actor) -> None:
    cap = tq.configured_cap()
    held = _lock_reviewer(conn, actor.id)
    if held >= cap:
        raise Conflict("trust.error.cap_reached", held=held, cap=cap)


def _locked(conn: Connection, case_id: int):
    row = db.fetch_one(conn, """
        SELECT d.*, s.display_name AS assignee_name
        FROM app.import_documents d LEFT JOIN ops.staff s ON s.id = d.assigned_to
        WHERE d.id = :id FOR UPDATE OF d""", id=case_id)
    if row is None:
        raise NotFound("imports.docs.error.not_found")
    return row


def _check_open(row, actor: Actor, version: int) -> None:
    """A decided document is frozen; a colleague's is theirs; an old form is stale."""
    if row["status"] != "pending":
        raise Conflict("trust.error.already_decided")
    if row["assigned_to"] not in (None, actor.id):
        raise Conflict("trust.error.held_by", name=row["assignee_name"])
    if row["version"] != version:
        raise Conflict("error.stale")


@dataclass(frozen=True)
class Taken:
    case_id: int
    listing_id: int


@requires("ops")
def next_case(*, conn: Connection, actor: Actor, kind: str | None = None) -> Taken | None:
    """Take the oldest pending document nobody holds (of one kind, if given); None when there
    is none. Refused when I already hold the cap. Two people pressing at once get two
    different documents (SKIP LOCKED)."""
    params: dict[str, Any] = {"me": actor.id}
    kind_clause = ""
    if kind is not None:
        tq.check_choices([kind], DOC_KINDS)
        kind_clause, params["kind"] = "AND c.doc_kind = :kind", kind
    _check_room(conn, actor)
    taken = db.fetch_one(conn, f"""
        UPDATE app.import_documents d
        SET assigned_to = :me, assigned_at = now(), version = version + 1
        WHERE d.id = (SELECT c.id FROM app.import_documents c
                      WHERE c.status = 'pending' AND c.assigned_to IS NULL {kind_clause}
                      ORDER BY c.uploaded_at, c.id
                      LIMIT 1
                      FOR UPDATE SKIP LOCKED)
          AND d.status = 'pending' AND d.assigned_to IS NULL
        RETURNING d.id, d.listing_id""", **params)
    if taken is None:
        return None
    write_audit(conn=conn, actor_id=actor.id, action="import_doc.take_next",
                entity_type=ENTITY, entity_id=taken["id"],
                before={"assignee_id": None}, after={"assignee_id": actor.id})
    return Taken(case_id=taken["id"], listing_id=taken["listing_id"])


@requires("ops")
def take_case(*, conn: Connection, actor: Actor, case_id: int, version: int) -> int:
    """Take one pending document nobody holds (one I hold already stays mine); returns its
    version. Refused: a decided document, a colleague's, a stale form, the cap reached."""
    case_id, version = tq.check_case_id(case_id), tq.check_version(version)
    cap = tq.configured_cap()
    held = _lock_reviewer(conn, actor.id)     # the reviewer's lock before the row's, always
    row = _locked(conn, case_id)
    if row["assigned_to"] == actor.id and row["status"] == "pending":
        return row["version"]
    _check_open(row, actor, version)
    if held >= cap:
        raise Conflict("trust.error.cap_reached", held=held, cap=cap)
    new_version = db.scalar(conn, """
        UPDATE app.import_documents
        SET assigned_to = :me, assigned_at = now(), version = version + 1
        WHERE id = :id RETURNING version""", me=actor.id, id=case_id)
    write_audit(conn=conn, actor_id=actor.id, action="import_doc.take", entity_type=ENTITY,
                entity_id=case_id, before={"assignee_id": None},
                after={"assignee_id": actor.id})
    return new_version


@requires("ops")
def release_case(*, conn: Connection, actor: Actor, case_id: int, version: int) -> int:
    """Put a pending document I hold back in the pool; returns its version."""
    case_id, version = tq.check_case_id(case_id), tq.check_version(version)
    row = _locked(conn, case_id)
    if row["status"] != "pending":
        raise Conflict("trust.error.already_decided")
    if row["assigned_to"] != actor.id:
        raise PermissionDenied("trust.error.not_yours")
    if row["version"] != version:
        raise Conflict("error.stale")
    new_version = db.scalar(conn, """
        UPDATE app.import_documents
        SET assigned_to = NULL, assigned_at = NULL, version = version + 1
        WHERE id = :id RETURNING version""", id=case_id)
    write_audit(conn=conn, actor_id=actor.id, action="import_doc.release", entity_type=ENTITY,
                entity_id=case_id, before={"assignee_id": actor.id},
                after={"assignee_id": None})
    return new_version


# ---------------------------------------------------------------- decisions
@dataclass(frozen=True)
class Decided:
    case_id: int
    status: str
    listing_id: int
    version: int
    documents_missing: bool
    missing: tuple[str, ...]      # the kinds the listing still lacks, in checking order


def _listing_state(conn: Connection, listing_id: int) -> tuple[bool, list[str]]:
    """(documents missing, the kinds not approved) of one listing."""
    row = db.fetch_one(conn, f"""
        SELECT {docs_missing_sql('l')} AS missing,
               ARRAY(SELECT d.doc_kind FROM app.import_documents d
                     WHERE d.listing_id = l.id AND d.status = 'approved') AS approved
        FROM app.listings l WHERE l.id = :id""", id=listing_id)
    return bool(row["missing"]), missing_kinds(set(row["approved"] or ()))


@requires("ops")
def decide(*, conn: Connection, actor: Actor, case_id: int, version: int, decision: str,
           reason: str) -> Decided:
    """Approve or reject a pending document, with a reason (both: the reason is the
    evidence of what was checked). Refused, nothing written: no reason, an unknown decision,
    a decided document, a colleague's, a stale form."""
    why = (reason or "").strip()
    if not why:
        raise InvalidInput("imports.docs.error.reason_required")
    if decision not in DECISIONS:
        raise InvalidInput("trust.error.bad_form_value")
    case_id, version = tq.check_case_id(case_id), tq.check_version(version)
    row = _locked(conn, case_id)
    _check_open(row, actor, version)
    status = DECISIONS[decision]
    new_version = db.scalar(conn, """
        UPDATE app.import_documents
        SET status = :s, decided_by = :me, decided_at = now(), decision_reason = :why,
            assigned_to = coalesce(assigned_to, :me),
            assigned_at = coalesce(assigned_at, now()),
            version = version + 1
        WHERE id = :id RETURNING version""", s=status, me=actor.id, why=why, id=case_id)
    listing_id = row["listing_id"]
    missing, kinds = _listing_state(conn, listing_id)
    write_audit(conn=conn, actor_id=actor.id,
                action="import_doc.approve" if status == "approved" else "import_doc.reject",
                entity_type=ENTITY, entity_id=case_id,
                before={"status": "pending", "assignee_id": row["assigned_to"]},
                after={"status": status, "kind": row["doc_kind"], "listing_id": listing_id,
                       "documents_complete": not missing},
                reason=why)
    if status == "rejected":
        _notify_rejection(conn, row, why)
    return Decided(case_id=case_id, status=status, listing_id=listing_id, version=new_version,
                   documents_missing=missing, missing=tuple(kinds))


def _notify_rejection(conn: Connection, row, why: str) -> None:
    """The dealer is told to upload the kind again (the app's inbox; once per document)."""
    db.execute(conn, """
        INSERT INTO app.notification_outbox (merchant_id, channel, template, payload, dedupe_key)
        SELECT l.merchant_id, 'app', 'import_document.rejected', CAST(:payload AS jsonb), :dedupe
        FROM app.listings l WHERE l.id = :lid""",
               lid=row["listing_id"], dedupe=f"import_document:{row['id']}:rejected",
               payload=json.dumps({"import_document_id": row["id"],
                                   "listing_id": row["listing_id"], "kind": row["doc_kind"],
                                   "reason": why}, ensure_ascii=False))


# ---------------------------------------------------------------- a listing's documents
@dataclass(frozen=True)
class DocLine:
    """One kind on a listing's panel: its latest live document (pending or approved), else
    its latest rejected one, else nothing (missing)."""

    kind: str
    state: str                        # STATES
    case_id: int | None = None
    doc_ref: str | None = None
    uploaded_at: datetime | None = None
    version: int | None = None
    assignee_id: int | None = None
    assignee: str | None = None
    decided_at: datetime | None = None
    decided_by: str | None = None
    reason: str | None = None
    age_hours: float | None = None
    sla: str | None = None


@dataclass
class DocumentPanel:
    listing: dict[str, Any]
    lines: list[DocLine]
    documents_missing: bool
    missing: list[str]
    history: pd.DataFrame = field(default_factory=pd.DataFrame)


_LISTING = f"""
    SELECT l.id, l.merchant_id, m.name AS seller, l.status, l.price, l.quantity, l.vin,
           l.is_parallel_import, app.vehicle_name(b.name, se.name) AS series, t.name AS trim,
           ci.name AS city, li.market_version, li.port, li.availability, li.expected_arrival,
           {docs_missing_sql('l')} AS documents_missing
    FROM app.listings l
    JOIN app.merchants m ON m.id = l.merchant_id
    JOIN app.trims t ON t.id = l.trim_id
    JOIN app.series se ON se.id = t.series_id
    JOIN app.brands b ON b.id = se.brand_id
    LEFT JOIN app.cities ci ON ci.id = l.city_id
    LEFT JOIN app.listing_imports li ON li.listing_id = l.id
    WHERE l.id = :id"""


@requires(*READ_ROLES)
def listing_documents(*, conn: Connection, actor: Actor, listing_id: int) -> DocumentPanel:
    """A parallel import's panel: the listing (vehicle, market version, port, in stock or
    future with its expected arrival, seller), its four kinds and every document it had,
    newest first. NotFound for a listing that is not a parallel import."""
    row = db.fetch_one(conn, _LISTING, id=listing_id)
    if row is None or not row["is_parallel_import"]:
        raise NotFound("imports.docs.error.not_import")
    history = db.fetch_df(conn, """
        SELECT d.id, d.doc_kind AS kind, d.doc_ref, d.status, d.uploaded_at, d.assigned_to,
               a.display_name AS assignee, d.decided_at, r.display_name AS decided_by,
               d.decision_reason AS reason, d.version,
               extract(epoch FROM now() - d.uploaded_at) / 3600 AS age_hours
        FROM app.import_documents d
        LEFT JOIN ops.staff a ON a.id = d.assigned_to
        LEFT JOIN ops.staff r ON r.id = d.decided_by
        WHERE d.listing_id = :id
        ORDER BY d.uploaded_at DESC, d.id DESC""", id=listing_id)
    lines = [_line(kind, history) for kind in DOC_KINDS]
    approved = {ln.kind for ln in lines if ln.state == "approved"}
    return DocumentPanel(listing=dict(row), lines=lines,
                         documents_missing=bool(row["documents_missing"]),
                         missing=missing_kinds(approved), history=history)


def _line(kind: str, history: pd.DataFrame) -> DocLine:
    docs = history[history["kind"] == kind] if not history.empty else history
    if docs.empty:
        return DocLine(kind=kind, state="missing")
    live = docs[docs["status"].isin(("pending", "approved"))]
    doc = (live if not live.empty else docs).iloc[0]
    pending = doc["status"] == "pending"
    age = round(float(doc["age_hours"]), 1)
    return DocLine(kind=kind, state=doc["status"], case_id=int(doc["id"]),
                   doc_ref=doc["doc_ref"], uploaded_at=doc["uploaded_at"],
                   version=int(doc["version"]),
                   assignee_id=None if pd.isna(doc["assigned_to"]) else int(doc["assigned_to"]),
                   assignee=None if pd.isna(doc["assignee"]) else doc["assignee"],
                   decided_at=None if pd.isna(doc["decided_at"]) else doc["decided_at"],
                   decided_by=None if pd.isna(doc["decided_by"]) else doc["decided_by"],
                   reason=None if pd.isna(doc["reason"]) else doc["reason"],
                   age_hours=age if pending else None,
                   sla=sla_level(age) if pending else None)


# ---------------------------------------------------------------- the marketplace side
def submit_document(*, conn: Connection, listing_id: int, kind: str, doc_ref: DocRef,
                    uploaded_at: datetime | date | None = None) -> int:
    """A dealer uploads one document of a parallel import (the platform's write, not a staff
    action): a new pending document. Refused: an unknown kind, an empty reference, a listing
    that is not a parallel import, a kind that already has a pending or approved document
    (one rejected is uploaded again as a new document)."""
    if kind not in DOC_KINDS:
        raise InvalidInput("trust.error.bad_form_value")
    ref = (doc_ref or "").strip()
    if not ref or len(ref) > 80:
        raise InvalidInput("imports.docs.error.ref_required")
    if not db.scalar(conn, """SELECT is_parallel_import FROM app.listings WHERE id = :id""",
                     id=listing_id):
        raise NotFound("imports.docs.error.not_import")
    try:
        with conn.begin_nested():
            return db.scalar(conn, """
                INSERT INTO app.import_documents (listing_id, doc_kind, doc_ref, uploaded_at)
                VALUES (:l, :k, :r, coalesce(CAST(:at AS timestamptz), now()))
                RETURNING id""", l=listing_id, k=kind, r=ref, at=uploaded_at)
    except sa.exc.IntegrityError as err:   # the partial unique index of live documents
        constraint = getattr(getattr(err.orig, "diag", None), "constraint_name", None)
        if constraint == "import_documents_live_idx":
            raise Conflict("imports.docs.error.already_live") from None
        raise
