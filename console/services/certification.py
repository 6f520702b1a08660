"""The certification queue: personal (ID card) and enterprise (business licence) reviews.

A case is one row of app.certifications. Open cases are 'pending' (nobody holds it) or
'in_review' (held by its assignee). Decisions are 'approved', 'rejected' or 'needs_info';
each is final: the row is frozen, and a resubmission is a new case whose previous_id links
it to the earlier one.

A decision is one conditional UPDATE (holder, open status, version) followed, in the same
transaction, by the merchant's certification level, an event, one audit row and one
notification in app.notification_outbox.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pandas as pd
from sqlalchemy.engine import Connection

from console import db
from console.audit import write_audit
from console.errors import InvalidInput, NotFound
from console.masking import can_see_id_number, id_number_for
from console.roles import Actor, requires
from console.services import prechecks, trust_queue as tq

Q = tq.CERTIFICATION
KINDS = ("personal", "enterprise")
STATUSES = ("pending", "in_review", "needs_info", "approved", "rejected")
DECISIONS = {"approve": "approved", "reject": "rejected", "needs_info": "needs_info"}
MERCHANT_TYPES, TIERS = tq.MERCHANT_TYPES, tq.TIERS
READ_ROLES = ("ops", "risk", "manager")

# Sort keys a page may ask for -> SQL; id breaks ties so paging is stable.
SORTS = {
    "submitted_at": "c.submitted_at",
    "kind": "c.kind",
    "status": "c.status",
    "merchant_name": "m.name",
    "tier": "ci.tier_level",
}


@dataclass(frozen=True, kw_only=True)
class CertFilters:
    kinds: tuple[str, ...] = ()
    statuses: tuple[str, ...] = ("pending", "in_review")
    flags: tuple[str, ...] = ()          # pre-check codes that failed
    flagged_only: bool = False           # any failed hard check
    tiers: tuple[int, ...] = ()
    merchant_types: tuple[str, ...] = ()
    min_age_hours: float | None = None
    max_age_hours: float | None = None
    assignee: str = "any"                # any | me | unassigned
    include_snoozed: bool = False


def _where(filters: CertFilters, actor: Actor) -> tuple[str, dict[str, Any]]:
    """The WHERE clause of the queue from fixed fragments; values are bound."""
    clauses: list[str] = []
    params: dict[str, Any] = {}
    if filters.kinds:
        clauses.append("c.kind = ANY (:kinds)")
        params["kinds"] = tq.check_choices(filters.kinds, KINDS)
    if filters.statuses:
        clauses.append("c.status = ANY (:statuses)")
        params["statuses"] = tq.check_choices(filters.statuses, STATUSES)
    if filters.flags:
        clauses.append("""EXISTS (SELECT 1 FROM ops.cert_prechecks p WHERE p.certification_id = c.id
                          AND p.outcome = 'fail' AND p.check_code = ANY (:flags))""")
        params["flags"] = tq.check_choices(filters.flags, prechecks.ALL_CHECKS)
    if filters.flagged_only:
        clauses.append("""EXISTS (SELECT 1 FROM ops.cert_prechecks p WHERE p.certification_id = c.id
                          AND p.outcome = 'fail' AND p.is_hard)""")
    tq.shared_where(filters, actor, alias="c", age_column="c.submitted_at", clauses=clauses,
                    params=params)
    return (" AND ".join(clauses) or "true"), params


@requires(*READ_ROLES)
def list_queue(*, conn: Connection, actor: Actor, filters: CertFilters = CertFilters(),
               sort: str = "submitted_at", descending: bool = False,
               limit: int | None = None, offset: int = 0) -> tq.QueuePage:
    """One page of the queue (oldest first by default) and the total the filters match."""
    limit = tq.check_page(sort, SORTS, limit, offset)
    where, params = _where(filters, actor)
    base = f"""FROM app.certifications c
               JOIN app.merchants m ON m.id = c.merchant_id
               JOIN app.cities ci ON ci.id = m.city_id
               WHERE {where}"""
    total = int(db.scalar(conn, f"SELECT count(*) {base}", **params))
    direction = "DESC" if descending else "ASC"
    rows = db.fetch_df(conn, f"""
        WITH page AS (
            SELECT c.id, c.kind, c.status, c.merchant_id, m.name AS merchant_name,
                   m.merchant_type, ci.name AS city, ci.tier_level AS tier, c.submitted_at,
                   c.assignee_id, c.snoozed_until, c.previous_id, c.version, c.decided_at,
                   extract(epoch FROM coalesce(c.decided_at, now()) - c.submitted_at) / 3600
                       AS age_hours
            {base}
            ORDER BY {SORTS[sort]} {direction}, c.id {direction}
            LIMIT :limit OFFSET :offset
        )
        SELECT page.*, s.display_name AS assignee,
               ARRAY(SELECT p.check_code FROM ops.cert_prechecks p
                     WHERE p.certification_id = page.id AND p.outcome = 'fail'
                     ORDER BY p.is_hard DESC, p.check_code) AS flags
        FROM page LEFT JOIN ops.staff s ON s.id = page.assignee_id
        {_outer_order(sort, direction)}""",
                       limit=limit, offset=offset, **params)
    if not rows.empty:
        rows["age_hours"] = rows["age_hours"].astype(float).round(1)
        rows["sla"] = rows["age_hours"].map(tq.sla_level)
    else:
        rows["sla"] = pd.Series(dtype=str)
    return tq.QueuePage(rows=rows, total=total)


def _outer_order(sort: str, direction: str) -> str:
    outer = {"submitted_at": "page.submitted_at", "kind": "page.kind", "status": "page.status",
             "merchant_name": "page.merchant_name", "tier": "page.tier"}[sort]
    return f"ORDER BY {outer} {direction}, page.id {direction}"


@requires("ops")
def queue_counts(*, conn: Connection, actor: Actor) -> dict[str, int]:
    """Unassigned pending, mine open, and open cases past the 48 h SLA (the work pages' header)."""
    row = db.fetch_one(conn, """
        SELECT count(*) FILTER (WHERE status = 'pending' AND assignee_id IS NULL
                                  AND (snoozed_until IS NULL OR snoozed_until <= now())) AS unassigned,
               count(*) FILTER (WHERE status = 'in_review' AND assignee_id = :me) AS mine,
               count(*) FILTER (WHERE submitted_at <= now() - interval '48 hours') AS late
        FROM app.certifications WHERE status IN ('pending','in_review')""", me=actor.id)
    return {k: int(v or 0) for k, v in dict(row).items()}


# ------------------------------------------------------------------ assignment
@requires("ops")
def next_case(*, conn: Connection, actor: Actor, kind: str | None = None) -> int | None:
    """Take the oldest unassigned pending case (optionally of one kind); None when empty."""
    if kind is None:
        return tq.take_next(conn, Q, actor)
    tq.check_choices([kind], KINDS)
    return tq.take_next(conn, Q, actor, extra_where="AND c.kind = :kind", kind=kind)


@requires("ops")
def assign_case(*, conn: Connection, actor: Actor, case_id: Any, version: Any,
                assignee_id: Any) -> int:
    """Assign to me (assignee_id = my id) or to a colleague; returns the new version."""
    return tq.assign(conn, Q, actor, case_id=case_id, version=version, assignee_id=assignee_id)


@requires("ops", "manager")
def unassign_case(*, conn: Connection, actor: Actor, case_id: Any, version: Any) -> int:
    return tq.unassign(conn, Q, actor, case_id=case_id, version=version)


@requires("ops")
def snooze_case(*, conn: Connection, actor: Actor, case_id: Any, version: Any, until: Any) -> int:
    return tq.snooze(conn, Q, actor, case_id=case_id, version=version, until=until)


@requires("ops", "manager")
def auto_assign(*, conn: Connection, actor: Actor) -> dict[int, int]:
    """Spread pending cases evenly over active ops staff, at most the configured cap open each."""
    return tq.auto_assign(conn, Q, actor)


@requires(*READ_ROLES)
def reviewers(*, conn: Connection, actor: Actor) -> pd.DataFrame:
    """Active ops staff with their open case count, for 'assign to colleague'."""
    return db.fetch_df(conn, """
        SELECT s.id, s.display_name,
               (SELECT count(*) FROM app.certifications c
                WHERE c.assignee_id = s.id AND c.status = 'in_review') AS open_cases
        FROM ops.staff s WHERE s.is_active AND 'ops' = ANY (s.roles)
        ORDER BY s.display_name""")


# ------------------------------------------------------------------ decisions
@dataclass(frozen=True)
class Decision:
    case_id: int
    status: str
    merchant_id: int
    cert_level: str


@requires("ops")
def decide(*, conn: Connection, actor: Actor, case_id: Any, version: Any, decision: Any,
           reason_code: str | None = None, note: str | None = None,
           requested_doc: str | None = None,
           requested_docs: tuple[str, ...] | list[str] | None = None) -> Decision:
    """Approve, reject (reason code + note) or ask for documents (one or several + reason).

    Only the case's current assignee decides, and only an open case at the version the
    form was loaded with; the loser of a race gets a Conflict and nothing changes. The
    note is part of the decision's audit row.
    """
    case_id, version = tq.check_case_id(case_id), tq.check_version(version)
    if decision not in DECISIONS:
        raise InvalidInput("trust.error.bad_form_value")
    note = (note or "").strip() or None
    asked = ([requested_doc] if requested_doc else []) + list(requested_docs or [])
    reason_code, docs = _check_decision_inputs(conn, case_id, decision, reason_code, note,
                                               asked)
    status = DECISIONS[decision]
    row = db.fetch_one(conn, """
        UPDATE app.certifications
        SET status = :status, decided_at = now(), reviewer_id = :me,
            reason_code = :reason, reason_note = :note, requested_doc = :doc,
            requested_docs = CAST(:docs AS text[]),
            snoozed_until = NULL, version = version + 1, updated_at = now()
        WHERE id = :id AND version = :v AND assignee_id = :me AND status = 'in_review'
        RETURNING id, merchant_id, kind, status""",
                        status=status, me=actor.id, reason=reason_code, note=note,
                        doc=docs[0] if docs else None, docs=docs or None, id=case_id, v=version)
    if row is None:
        tq.explain_refusal(conn, Q, case_id, actor, version, must_hold=True)
    level = _apply_level(conn, row) if status == "approved" else _current_level(conn, row)
    _record_decision(conn, actor, row, reason_code, note, docs, level)
    return Decision(case_id=row["id"], status=status, merchant_id=row["merchant_id"],
                    cert_level=level)


def _check_decision_inputs(conn: Connection, case_id: int, decision: str, reason_code: Any,
                           note: str | None, asked: list[Any]) -> tuple[str | None, list[str]]:
    """The reason code and the documents asked for (in the catalogue's order, once each)."""
    if decision == "approve":
        return None, []
    code = tq.check_reason(conn, Q, decision, reason_code)
    if decision == "reject":
        if not note:
            raise InvalidInput("trust.error.note_required")
        return code, []
    kind = db.scalar(conn, "SELECT kind FROM app.certifications WHERE id = :id", id=case_id)
    if kind is None:
        raise NotFound("error.not_found")
    if not asked:
        raise InvalidInput("trust.error.document_required")
    allowed = document_codes(conn=conn, kind=kind)
    if any(doc not in allowed for doc in asked):
        raise InvalidInput("trust.error.bad_form_value")
    return code, [doc for doc in allowed if doc in asked]


_LEVEL_RANK = {"none": 0, "personal": 1, "enterprise": 2}


def _apply_level(conn: Connection, case) -> str:
    """Approval raises the merchant's level to the case's kind, never lowers it."""
    return db.scalar(conn, """
        UPDATE app.merchants
        SET cert_level = CASE WHEN :kind = 'enterprise' OR cert_level = 'none' THEN :kind
                              ELSE cert_level END,
            version = version + 1, updated_at = now()
        WHERE id = :mid RETURNING cert_level""", kind=case["kind"], mid=case["merchant_id"])


def _current_level(conn: Connection, case) -> str:
    return db.scalar(conn, "SELECT cert_level FROM app.merchants WHERE id = :mid",
                     mid=case["merchant_id"])


_EVENT = {"approved": "cert_approved", "rejected": "cert_rejected"}


def _record_decision(conn: Connection, actor: Actor, case, reason_code: str | None,
                     note: str | None, docs: list[str], level: str) -> None:
    status = case["status"]
    requested_doc = docs[0] if docs else None
    write_audit(conn=conn, actor_id=actor.id, action=f"certification.{status}",
                entity_type="certification", entity_id=case["id"],
                before={"status": "in_review"},
                after={"status": status, "reason_code": reason_code, "note": note,
                       "requested_doc": requested_doc, "requested_docs": docs,
                       "cert_level": level},
                reason=note or reason_code)
    payload = {"certification_id": case["id"], "kind": case["kind"], "status": status,
               "reason_code": reason_code, "requested_doc": requested_doc,
               "requested_docs": docs}
    db.execute(conn, """
        INSERT INTO app.notification_outbox (merchant_id, channel, template, payload, dedupe_key)
        VALUES (:mid, 'sms', :template, CAST(:payload AS jsonb), :dedupe)""",
               mid=case["merchant_id"], template=f"certification.{status}",
               payload=_json(payload), dedupe=f"certification:{case['id']}:decision")
    if status in _EVENT:
        db.execute(conn, """
            INSERT INTO app.events (merchant_id, event_type, entity_id, occurred_at, props)
            VALUES (:mid, :type, :id, now(), CAST(:props AS jsonb))""",
                   mid=case["merchant_id"], type=_EVENT[status], id=case["id"],
                   props=_json({"kind": case["kind"], "reason_code": reason_code}))


def _json(value: dict) -> str:
    import json
    return json.dumps(value, ensure_ascii=False)


def document_codes(*, conn: Connection, kind: str) -> list[str]:
    return [r["code"] for r in db.fetch_all(conn, """
        SELECT code FROM ops.cert_documents WHERE kind = :k ORDER BY sort_order""", k=kind)]


@requires(*READ_ROLES)
def decision_options(*, conn: Connection, actor: Actor) -> dict[str, list[str]]:
    """Reason codes per decision and documents per kind, for the decision form."""
    return {"reject": tq.reason_codes(conn, Q, "reject"),
            "needs_info": tq.reason_codes(conn, Q, "needs_info"),
            "doc.personal": document_codes(conn=conn, kind="personal"),
            "doc.enterprise": document_codes(conn=conn, kind="enterprise")}


# ------------------------------------------------------------------ the case page
@dataclass(frozen=True)
class CaseImage:
    """One uploaded document image of a case (app.certification_images)."""

    doc_code: str
    content_type: str
    image: bytes
    width: int
    height: int
    uploaded_at: Any


@dataclass
class CaseView:
    case: dict[str, Any]
    prechecks: pd.DataFrame
    earlier_cases: pd.DataFrame
    listings: pd.DataFrame
    disputes: pd.DataFrame
    timeline: pd.DataFrame
    options: dict[str, list[str]] = field(default_factory=dict)
    images: list[CaseImage] = field(default_factory=list)
    # The pre-checks as questions (prechecks.present_all) and the merchants they conflict
    # with: id -> name, for the links.
    checks: list[prechecks.PrecheckLine] = field(default_factory=list)
    conflicts: dict[int, str] = field(default_factory=dict)

    @property
    def is_open(self) -> bool:
        return self.case["status"] in tq.OPEN_STATUSES


@requires(*READ_ROLES)
def get_case(*, conn: Connection, actor: Actor, case_id: Any) -> CaseView:
    """Everything the case page shows; ID numbers masked for roles without the right."""
    case_id = tq.check_case_id(case_id)
    row = db.fetch_one(conn, """
        SELECT c.*, m.name AS merchant_name, m.merchant_type, m.cert_level, m.registered_at,
               ci.name AS city, ci.tier_level AS tier, a.display_name AS assignee,
               r.display_name AS reviewer,
               extract(epoch FROM coalesce(c.decided_at, now()) - c.submitted_at) / 3600
                   AS age_hours
        FROM app.certifications c
        JOIN app.merchants m ON m.id = c.merchant_id
        JOIN app.cities ci ON ci.id = m.city_id
        LEFT JOIN ops.staff a ON a.id = c.assignee_id
        LEFT JOIN ops.staff r ON r.id = c.reviewer_id
        WHERE c.id = :id""", id=case_id)
    if row is None:
        raise NotFound("error.not_found")
    case = dict(row)
    case["requested_docs"] = list(case["requested_docs"] or
                                  ([case["requested_doc"]] if case["requested_doc"] else []))
    case["id_number"] = id_number_for(actor, case["id_number"])
    case["age_hours"] = round(float(case["age_hours"]), 1)
    case["sla"] = tq.sla_level(case["age_hours"])
    mid = case["merchant_id"]
    checks = prechecks.results_for(conn, case_id)
    lines = prechecks.present_all(checks)
    conflict_ids = sorted({ln.conflict_merchant_id for ln in lines if ln.conflict_merchant_id})
    conflicts = {r["id"]: r["name"] for r in db.fetch_all(conn, """
        SELECT id, name FROM app.merchants WHERE id = ANY (CAST(:ids AS bigint[]))""",
                                                         ids=conflict_ids)} if conflict_ids else {}
    images = [CaseImage(doc_code=r["doc_code"], content_type=r["content_type"],
                        image=bytes(r["image"]), width=r["width"], height=r["height"],
                        uploaded_at=r["uploaded_at"])
              # The images carry the ID number in full: only for roles that may read it.
              for r in (db.fetch_all(conn, """
        SELECT i.doc_code, i.content_type, i.image, i.width, i.height, i.uploaded_at
        FROM app.certification_images i
        LEFT JOIN ops.cert_documents d ON d.code = i.doc_code
        WHERE i.certification_id = :id ORDER BY d.sort_order, i.id""", id=case_id)
                        if can_see_id_number(actor) else [])]
    case["images_withheld"] = not can_see_id_number(actor)
    return CaseView(
        images=images, checks=lines, conflicts=conflicts,
        case=case,
        prechecks=checks,
        earlier_cases=db.fetch_df(conn, """
            SELECT c.id, c.kind, c.status, c.submitted_at, c.decided_at, c.reason_code,
                   c.requested_doc, s.display_name AS reviewer
            FROM app.certifications c LEFT JOIN ops.staff s ON s.id = c.reviewer_id
            WHERE c.merchant_id = :mid AND c.id <> :id
            ORDER BY c.submitted_at DESC""", mid=mid, id=case_id),
        listings=db.fetch_df(conn, """
            SELECT l.id, app.vehicle_name(b.name, se.name) || ' ' || t.name AS vehicle, l.price,
                   l.guide_price, l.status, l.vin, l.published_at
            FROM app.listings l JOIN app.trims t ON t.id = l.trim_id
            JOIN app.series se ON se.id = t.series_id JOIN app.brands b ON b.id = se.brand_id
            WHERE l.merchant_id = :mid ORDER BY l.published_at DESC LIMIT 20""", mid=mid),
        disputes=db.fetch_df(conn, """
            SELECT d.id, d.order_id, d.reason, d.status, d.outcome, d.created_at,
                   CASE WHEN d.raised_by = :mid THEN 'raised' ELSE 'against' END AS side
            FROM app.disputes d WHERE d.raised_by = :mid OR d.against_id = :mid
            ORDER BY d.created_at DESC LIMIT 20""", mid=mid),
        timeline=tq.timeline(conn, Q, case_id),
        options=decision_options(conn=conn, actor=actor),
    )


@requires("ops")
def add_note(*, conn: Connection, actor: Actor, case_id: Any, body: str) -> int:
    return tq.add_note(conn, Q, actor, case_id=case_id, body=body)


# ------------------------------------------------------------------ the marketplace side
def submit(*, conn: Connection, merchant_id: int, kind: str, real_name: str | None = None,
           id_number: str | None = None, company_name: str | None = None,
           uscc: str | None = None, legal_rep: str | None = None,
           previous_id: int | None = None) -> int:
    """A merchant submits (or resubmits) a certification: a new pending case, pre-checked.

    This is the platform's write, not a staff action (no actor). A resubmission names
    the earlier case, which must be this merchant's and already decided: decided cases
    stay frozen, the new one carries the new documents.
    """
    if kind not in KINDS:
        raise InvalidInput("trust.error.bad_form_value")
    if previous_id is not None:
        prev = db.fetch_one(conn, """SELECT merchant_id, status FROM app.certifications
                                     WHERE id = :id""", id=previous_id)
        if prev is None or prev["merchant_id"] != merchant_id:
            raise InvalidInput("trust.error.bad_form_value")
        if prev["status"] in tq.OPEN_STATUSES:
            raise InvalidInput("trust.error.previous_still_open")
    case_id = db.scalar(conn, """
        INSERT INTO app.certifications (merchant_id, kind, real_name, id_number, company_name,
                                        uscc, legal_rep, submitted_at, previous_id)
        VALUES (:mid, :kind, :rn, :idn, :cn, :uscc, :lr, now(), :prev) RETURNING id""",
                        mid=merchant_id, kind=kind, rn=real_name, idn=id_number, cn=company_name,
                        uscc=uscc, lr=legal_rep, prev=previous_id)
    prechecks.run_prechecks(conn=conn, certification_ids=[case_id])
    return case_id


@requires("ops")
def check_new_submissions(*, conn: Connection, actor: Actor) -> int:
    """Run pre-checks for open cases that have none yet (the queue page calls this)."""
    return prechecks.run_prechecks(conn=conn)
