"""The escrow dispute desk (定金担保纠纷): risk staff work the open disputes, oldest first,
read both sides' statements and evidence beside the deal and its escrow, and decide.

A decision releases the deposit to the seller, refunds it to the buyer, or splits it; the
two parts add up to the deposit to the fen, and a reason is always given. A deposit above
``CONSOLE_DISPUTE_SECOND_APPROVAL_YUAN`` (settings) needs a second, different risk officer:
the first one's decision is only proposed until then. A decision that takes effect, in one
transaction: closes the dispute with its outcome, moves the order's escrow, records the
payouts, writes the audit row and queues an SMS to both merchants. The credit features
read the dispute's outcome (sql/etl/merchant_features.sql: ``disputes_lost``), so a
dispute decided against a merchant counts against its next score.

Concurrency: every decision takes the dispute's row lock first (then the proposal's), so a
double click, two officers deciding at once or two approvers pressing at once end in
exactly one decision; the others are told it was already decided. A partial unique index
(one live decision per dispute, migration 072) backs this up in the database.
"""
from __future__ import annotations

import json
import re
import unicodedata
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Annotated, Any

import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from console import clock, db
from console.audit import write_audit
from console.boundary import Number, Text, like_contains
from console.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from console.match_policy import policy_or_default
from console.roles import Actor, requires
from console.services.notify import delivery_time
from console.settings import get_settings

READERS = ("risk", "manager")          # managers read the desk; only risk decides
DECIDERS = ("risk",)
KINDS = ("release", "refund", "split")
REASONS = ("not_delivered", "wrong_spec", "late_delivery", "price_change", "damage", "other")
EVIDENCE_KINDS = ("photo", "chat", "contract", "transfer", "logistics", "inspection")
CENT = Decimal("0.01")
MAX_YUAN = Decimal("999999999999.99")  # numeric(14,2)

Amount = Annotated[str, Text(max=40, key="disputes.error.bad_amount")] | Decimal | None


# ---------------------------------------------------------------- amounts
# Whole yuan with or without thousands commas, then at most two decimals (fen).
_YUAN_TEXT = re.compile(r"(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d{1,2})?", re.ASCII)


def parse_yuan(value: Any) -> Decimal:
    """An amount in yuan as staff type it: '12500', '12,500.50', '¥12,500', full-width
    '１２５００' (normalised). Refused (InvalidInput): empty, negative, NaN, infinity,
    exponents, more than two decimals, other scripts' digits, Chinese numerals, floats."""
    if isinstance(value, Decimal):
        if not value.is_finite() or value < 0 or value != value.quantize(CENT, rounding="ROUND_DOWN"):
            raise InvalidInput("disputes.error.bad_amount")
        amount = value.quantize(CENT)
    elif isinstance(value, str):
        text = unicodedata.normalize("NFKC", value).strip()
        text = text.removeprefix("¥").removesuffix("元").strip()
        if not _YUAN_TEXT.fullmatch(text):
            raise InvalidInput("disputes.error.bad_amount")
        amount = Decimal(text.replace(",", "")).quantize(CENT)
    else:      # a float cannot hold every fen exactly; an int is fine
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise InvalidInput("disputes.error.bad_amount")
        amount = Decimal(value).quantize(CENT)
    if amount > MAX_YUAN:
        raise InvalidInput("disputes.error.bad_amount")
    return amount


def split_amounts(*, kind: str, deposit: Decimal, seller_amount: Any,
                  buyer_amount: Any) -> tuple[Decimal, Decimal]:
    """(to the seller, to the buyer) of a decision on ``deposit``, or InvalidInput."""
    deposit = Decimal(deposit).quantize(CENT)
    if kind == "release":
        return deposit, Decimal("0.00")
    if kind == "refund":
        return Decimal("0.00"), deposit
    if kind != "split":
        raise InvalidInput("disputes.error.bad_kind")
    if seller_amount in (None, "") or buyer_amount in (None, ""):
        raise InvalidInput("disputes.error.split_needs_both")
    seller, buyer = parse_yuan(seller_amount), parse_yuan(buyer_amount)
    if seller + buyer != deposit:
        raise InvalidInput("disputes.error.split_sum", deposit=f"¥{deposit:,.2f}",
                           total=f"¥{seller + buyer:,.2f}")
    if seller == 0 or buyer == 0:
        raise InvalidInput("disputes.error.split_zero")
    return seller, buyer


def needs_second_approval(deposit: Decimal) -> bool:
    """Four eyes above the configured amount (in yuan)."""
    return Decimal(deposit) > Decimal(get_settings().dispute_second_approval_yuan)


# ---------------------------------------------------------------- the queue
@dataclass(frozen=True)
class QueueFilters:
    reason: str | None = None
    min_deposit: Annotated[int, Number(min=0, max=10**12)] | None = None
    max_deposit: Annotated[int, Number(min=0, max=10**12)] | None = None
    min_age_days: Annotated[int, Number(min=0, max=3_660, key="input.days")] | None = None
    query: Annotated[str, Text(max=100, key="input.query")] = ""   # merchant name or order id
    awaiting_second: bool = False      # only disputes with a proposal waiting for approval


@dataclass(frozen=True)
class Queue:
    rows: pd.DataFrame
    total: int
    threshold_yuan: int


@requires(*READERS)
def dispute_queue(*, conn: Connection, actor: Actor, filters: QueueFilters = QueueFilters(),
                  limit: int = 50, offset: int = 0) -> Queue:
    """Open disputes, oldest first: the deposit at stake, how long it has waited, the two
    merchants and whether a decision waits for a second officer."""
    f = filters
    if f.reason is not None and f.reason not in REASONS:
        raise InvalidInput("disputes.error.bad_filter")
    text = (f.query or "").strip()
    where = [r"d.status = 'open'"]
    params: dict[str, Any] = {"limit": int(limit), "offset": int(offset), "me": actor.id}
    if f.reason:
        where.append("d.reason = :reason")
        params["reason"] = f.reason
    if f.min_deposit is not None:
        where.append("o.deposit_amount >= :min_dep")
        params["min_dep"] = f.min_deposit
    if f.max_deposit is not None:
        where.append("o.deposit_amount <= :max_dep")
        params["max_dep"] = f.max_deposit
    if f.min_age_days is not None:
        where.append("d.created_at <= now() - make_interval(days => :age)")
        params["age"] = f.min_age_days
    if text:
        where.append(r"""(o.id::text = :q OR d.id::text = :q
                          OR b.name ILIKE :pattern ESCAPE '\' OR s.name ILIKE :pattern ESCAPE '\')""")
        params.update(q=text, pattern=like_contains(text))
    if f.awaiting_second:
        where.append("p.id IS NOT NULL")
    body = f"""
        FROM app.disputes d
        JOIN app.orders o ON o.id = d.order_id
        JOIN app.merchants b ON b.id = o.buyer_id
        JOIN app.merchants s ON s.id = o.seller_id
        LEFT JOIN ops.dispute_decisions p ON p.dispute_id = d.id AND p.status = 'proposed'
        WHERE {' AND '.join(where)}"""
    total = db.scalar(conn, f"SELECT count(*) {body}", **params)
    rows = db.fetch_df(conn, f"""
        SELECT d.id AS dispute_id, d.order_id, d.reason, o.deposit_amount,
               extract(epoch FROM now() - d.created_at) / 86400.0 AS age_days,
               d.created_at, b.name AS buyer, s.name AS seller,
               CASE WHEN d.raised_by = o.buyer_id THEN 'buyer' ELSE 'seller' END AS raised_by_side,
               p.kind AS proposed_kind, (p.proposed_by = :me) AS proposed_by_me
        {body}
        ORDER BY d.created_at, d.id
        LIMIT :limit OFFSET :offset""", **params)
    rows["age_days"] = rows["age_days"].astype(float)
    return Queue(rows, int(total), get_settings().dispute_second_approval_yuan)


# ---------------------------------------------------------------- one dispute
@dataclass
class DisputeView:
    dispute: dict[str, Any]          # the dispute, its order, both merchants
    statements: pd.DataFrame         # side, merchant, body, evidence (list), created_at
    timeline: pd.DataFrame           # at, event, detail
    decisions: pd.DataFrame          # every decision, proposed or taken
    pending: dict[str, Any] | None   # the proposal waiting for a second officer
    needs_second: bool
    threshold_yuan: int
    payments: pd.DataFrame = field(default_factory=pd.DataFrame)


_DISPUTE_SQL = """
    SELECT d.id, d.order_id, d.reason, d.status, d.outcome, d.created_at, d.resolved_at,
           d.raised_by, d.against_id,
           CASE WHEN d.raised_by = o.buyer_id THEN 'buyer' ELSE 'seller' END AS raised_by_side,
           o.status AS order_status, o.escrow_state, o.amount, o.deposit_amount, o.quantity,
           o.unit_price, o.created_at AS order_created_at, o.deposit_paid_at,
           o.completed_at, o.cancelled_at,
           o.buyer_id, b.name AS buyer, b.status AS buyer_status,
           o.seller_id, s.name AS seller, s.status AS seller_status,
           app.vehicle_name(br.name, se.name) || ' ' || t.name AS vehicle
    FROM app.disputes d
    JOIN app.orders o ON o.id = d.order_id
    JOIN app.merchants b ON b.id = o.buyer_id
    JOIN app.merchants s ON s.id = o.seller_id
    LEFT JOIN app.listings l ON l.id = o.listing_id
    LEFT JOIN app.trims t ON t.id = l.trim_id
    LEFT JOIN app.series se ON se.id = t.series_id
    LEFT JOIN app.brands br ON br.id = se.brand_id
    WHERE d.id = :id"""


@requires(*READERS)
def dispute_view(*, conn: Connection, actor: Actor, dispute_id: int) -> DisputeView:
    row = db.fetch_one(conn, _DISPUTE_SQL, id=int(dispute_id))
    if row is None:
        raise NotFound("error.not_found")
    dispute = dict(row)
    statements = db.fetch_df(conn, """
        SELECT st.id, st.side, m.name AS merchant, st.body, st.evidence, st.created_at
        FROM app.dispute_statements st JOIN app.merchants m ON m.id = st.merchant_id
        WHERE st.dispute_id = :id ORDER BY st.created_at, st.id""", id=int(dispute_id))
    decisions = db.fetch_df(conn, """
        SELECT x.id, x.version, x.kind, x.status, x.deposit_amount, x.seller_amount,
               x.buyer_amount, x.reason, x.needs_second, x.proposed_by AS proposed_by_id,
               p.display_name AS proposed_by, x.proposed_at,
               coalesce(a.display_name, r.display_name) AS decided_by, x.decided_at,
               x.decision_note
        FROM ops.dispute_decisions x
        JOIN ops.staff p ON p.id = x.proposed_by
        LEFT JOIN ops.staff a ON a.id = x.approved_by
        LEFT JOIN ops.staff r ON r.id = x.rejected_by
        WHERE x.dispute_id = :id ORDER BY x.proposed_at, x.id""", id=int(dispute_id))
    payments = db.fetch_df(conn, """
        SELECT kind, channel, amount, status, due_at, paid_at, created_at
        FROM app.payments WHERE order_id = :o ORDER BY created_at, id""", o=dispute["order_id"])
    pending = decisions[decisions["status"] == "proposed"]
    return DisputeView(
        dispute=dispute, statements=statements,
        timeline=_timeline(dispute, statements, decisions, payments), decisions=decisions,
        pending=pending.iloc[0].to_dict() if not pending.empty else None,
        needs_second=needs_second_approval(dispute["deposit_amount"]),
        threshold_yuan=get_settings().dispute_second_approval_yuan, payments=payments)


def _timeline(d: dict[str, Any], statements: pd.DataFrame, decisions: pd.DataFrame,
              payments: pd.DataFrame) -> pd.DataFrame:
    """What happened to the deal, in time order: an event code and its parameters (codes
    and amounts, which the page words through the catalogue)."""
    items: list[dict[str, Any]] = [{"at": d["order_created_at"], "event": "order_created",
                                    "params": {"amount": d["amount"]}}]
    for p in payments.itertuples():
        paid = p.paid_at is not None and not pd.isna(p.paid_at)
        items.append({"at": p.paid_at if paid else p.created_at, "event": "payment",
                      "params": {"kind": p.kind, "status": p.status, "amount": p.amount}})
    items.append({"at": d["created_at"], "event": "dispute_raised",
                  "params": {"side": d["raised_by_side"], "reason": d["reason"]}})
    for s in statements.itertuples():
        items.append({"at": s.created_at, "event": "statement", "params": {"side": s.side}})
    for x in decisions.itertuples():
        first = "decision_proposed" if x.needs_second else "decision_taken"
        items.append({"at": x.proposed_at, "event": first,
                      "params": {"kind": x.kind, "who": x.proposed_by}})
        if x.needs_second and x.decided_at is not None and not pd.isna(x.decided_at):
            items.append({"at": x.decided_at, "event": f"decision_{x.status}",
                          "params": {"kind": x.kind, "who": x.decided_by}})
    if d["resolved_at"] is not None:
        items.append({"at": d["resolved_at"], "event": "dispute_resolved",
                      "params": {"outcome": d["outcome"]}})
    frame = pd.DataFrame(items, columns=["at", "event", "params"])
    frame["at"] = pd.to_datetime(frame["at"], utc=True)
    return frame.sort_values("at", kind="stable").reset_index(drop=True)


# ---------------------------------------------------------------- deciding
@dataclass(frozen=True)
class Decision:
    decision_id: int
    status: str                  # 'applied' (took effect) or 'proposed' (waits for a second officer)
    seller_amount: Decimal
    buyer_amount: Decimal


def _lock_open_dispute(conn: Connection, dispute_id: int) -> dict[str, Any]:
    """The dispute and its order, row-locked: every decision on it queues here."""
    row = db.fetch_one(conn, """
        SELECT d.id, d.status, d.raised_by, d.against_id, d.order_id, o.buyer_id, o.seller_id,
               o.deposit_amount, o.escrow_state, o.status AS order_status
        FROM app.disputes d JOIN app.orders o ON o.id = d.order_id
        WHERE d.id = :id
        FOR UPDATE OF d, o""", id=int(dispute_id))
    if row is None:
        raise NotFound("error.not_found")
    if row["status"] != "open":
        raise Conflict("disputes.error.already_decided")
    if row["escrow_state"] != "disputed" or not row["deposit_amount"] or row["deposit_amount"] <= 0:
        raise Conflict("disputes.error.no_deposit_held")
    return dict(row)


@requires(*DECIDERS)
def decide(*, conn: Connection, actor: Actor, dispute_id: int, kind: str, reason: str,
           seller_amount: Amount = None, buyer_amount: Amount = None) -> Decision:
    """Release, refund or split a disputed deposit, with a reason. Above the configured
    amount the decision is proposed and waits for a second risk officer."""
    if kind not in KINDS:
        raise InvalidInput("disputes.error.bad_kind")
    reason = (reason or "").strip()
    if not reason:
        raise InvalidInput("error.reason_required")
    d = _lock_open_dispute(conn, dispute_id)
    deposit = Decimal(d["deposit_amount"]).quantize(CENT)
    seller, buyer = split_amounts(kind=kind, deposit=deposit, seller_amount=seller_amount,
                                  buyer_amount=buyer_amount)
    if db.scalar(conn, """SELECT 1 FROM ops.dispute_decisions
                          WHERE dispute_id = :id AND status = 'proposed'""", id=d["id"]):
        raise Conflict("disputes.error.proposal_pending")
    second = needs_second_approval(deposit)
    try:
        with conn.begin_nested():
            decision_id = int(db.scalar(conn, """
                INSERT INTO ops.dispute_decisions
                    (dispute_id, order_id, kind, deposit_amount, seller_amount, buyer_amount,
                     reason, needs_second, status, proposed_by)
                VALUES (:d, :o, :kind, :dep, :seller, :buyer, :reason, :second, 'proposed', :me)
                RETURNING id""", d=d["id"], o=d["order_id"], kind=kind, dep=deposit,
                seller=seller, buyer=buyer, reason=reason, second=second, me=actor.id))
    except sa.exc.IntegrityError as err:      # a live decision exists after all
        raise Conflict("disputes.error.already_decided") from err
    audit = {"dispute_id": d["id"], "order_id": d["order_id"], "kind": kind,
             "deposit": deposit, "seller_amount": seller, "buyer_amount": buyer}
    if second:
        write_audit(conn=conn, actor_id=actor.id, action="dispute.propose",
                    entity_type="dispute", entity_id=d["id"],
                    before={"status": "open"}, after={**audit, "decision_id": decision_id,
                                                      "status": "proposed"}, reason=reason)
        return Decision(decision_id, "proposed", seller, buyer)
    _apply(conn, actor, d, decision_id=decision_id, kind=kind, seller=seller, buyer=buyer,
           reason=reason, approved_by=None)
    return Decision(decision_id, "applied", seller, buyer)


def _lock_proposal(conn: Connection, actor: Actor, decision_id: int) -> tuple[dict, dict]:
    """The dispute (locked first, as every decision does) and the proposal, both locked."""
    dispute_id = db.scalar(conn, "SELECT dispute_id FROM ops.dispute_decisions WHERE id = :id",
                           id=int(decision_id))
    if dispute_id is None:
        raise NotFound("error.not_found")
    row = db.fetch_one(conn, """
        SELECT d.id, d.status, d.raised_by, d.against_id, d.order_id, o.buyer_id, o.seller_id,
               o.deposit_amount, o.escrow_state, o.status AS order_status
        FROM app.disputes d JOIN app.orders o ON o.id = d.order_id
        WHERE d.id = :id FOR UPDATE OF d, o""", id=dispute_id)
    proposal = dict(db.fetch_one(conn, """SELECT * FROM ops.dispute_decisions WHERE id = :id
                                          FOR UPDATE""", id=int(decision_id)))
    if proposal["proposed_by"] == actor.id:
        raise PermissionDenied("disputes.error.own_proposal")
    if proposal["status"] != "proposed":
        raise Conflict("disputes.error.already_decided")
    if row["status"] != "open" or row["escrow_state"] != "disputed":
        raise Conflict("disputes.error.already_decided")
    return dict(row), proposal


@requires(*DECIDERS)
def approve(*, conn: Connection, actor: Actor, decision_id: int, note: str = "") -> Decision:
    """The second risk officer approves a proposed decision: it takes effect now."""
    d, p = _lock_proposal(conn, actor, decision_id)
    _apply(conn, actor, d, decision_id=p["id"], kind=p["kind"], seller=p["seller_amount"],
           buyer=p["buyer_amount"], reason=p["reason"], approved_by=actor.id,
           note=(note or "").strip() or None, proposed_by=p["proposed_by"])
    return Decision(p["id"], "applied", p["seller_amount"], p["buyer_amount"])


@requires(*DECIDERS)
def reject(*, conn: Connection, actor: Actor, decision_id: int, note: str) -> None:
    """The second risk officer turns a proposal down, saying why; the dispute stays open."""
    note = (note or "").strip()
    if not note:
        raise InvalidInput("error.reason_required")
    d, p = _lock_proposal(conn, actor, decision_id)
    db.execute(conn, """
        UPDATE ops.dispute_decisions
        SET status = 'rejected', rejected_by = :me, decided_at = now(), decision_note = :note,
            version = version + 1
        WHERE id = :id AND status = 'proposed'""", me=actor.id, note=note, id=p["id"])
    write_audit(conn=conn, actor_id=actor.id, action="dispute.reject", entity_type="dispute",
                entity_id=d["id"], before={"decision_id": p["id"], "status": "proposed"},
                after={"decision_id": p["id"], "status": "rejected", "kind": p["kind"]},
                reason=note)


# Order and escrow after each kind of decision. A split pays both sides out of escrow, so
# the escrow is closed as released; both amounts are in ops.dispute_decisions and app.payments.
_ORDER_AFTER = {
    "release": ("completed", "released"),
    "refund": ("cancelled", "refunded"),
    "split": ("cancelled", "released"),
}


def outcome_of(*, kind: str, raiser_side: str) -> str:
    """app.disputes.outcome: who won, seen from the merchant who raised it."""
    if kind == "split":
        return "settled"
    winner = "seller" if kind == "release" else "buyer"
    return "raiser_won" if winner == raiser_side else "against_won"


def _apply(conn: Connection, actor: Actor, d: dict[str, Any], *, decision_id: int, kind: str,
           seller: Decimal, buyer: Decimal, reason: str, approved_by: int | None,
           note: str | None = None, proposed_by: int | None = None) -> None:
    raiser_side = "buyer" if d["raised_by"] == d["buyer_id"] else "seller"
    outcome = outcome_of(kind=kind, raiser_side=raiser_side)
    order_status, escrow = _ORDER_AFTER[kind]
    decided = db.execute(conn, """
        UPDATE ops.dispute_decisions
        SET status = 'applied', approved_by = :approver, decided_at = now(),
            decision_note = :note, version = version + 1
        WHERE id = :id AND status = 'proposed'""", approver=approved_by, note=note, id=decision_id)
    closed = db.execute(conn, """
        UPDATE app.disputes SET status = 'resolved', outcome = :outcome, resolved_at = now()
        WHERE id = :id AND status = 'open'""", outcome=outcome, id=d["id"])
    moved = db.execute(conn, """
        UPDATE app.orders
        SET escrow_state = :escrow, status = :status, updated_at = now(),
            completed_at = CASE WHEN :status = 'completed' THEN now() ELSE completed_at END,
            cancelled_at = CASE WHEN :status = 'cancelled' THEN now() ELSE cancelled_at END,
            cancelled_by = CASE WHEN :status = 'cancelled' THEN 'platform' ELSE cancelled_by END
        WHERE id = :id AND escrow_state = 'disputed'""", escrow=escrow, status=order_status,
        id=d["order_id"])
    if (decided, closed, moved) != (1, 1, 1):      # the locks make this unreachable
        raise Conflict("disputes.error.already_decided")
    # The payouts: instructions to the payment provider, which confirms them (pending).
    for payout_kind, amount in (("release", seller), ("refund", buyer)):
        if amount > 0:
            db.execute(conn, """
                INSERT INTO app.payments (order_id, kind, channel, amount, status, created_at)
                VALUES (:o, :kind, 'bank', :amount, 'pending', now())""",
                o=d["order_id"], kind=payout_kind, amount=amount)
    after = {"decision_id": decision_id, "kind": kind, "outcome": outcome,
             "order_id": d["order_id"], "deposit": d["deposit_amount"],
             "seller_amount": seller, "buyer_amount": buyer, "escrow_state": escrow,
             "order_status": order_status}
    if proposed_by is not None:
        after["proposed_by"] = proposed_by
    write_audit(conn=conn, actor_id=actor.id,
                action="dispute.approve" if approved_by is not None else "dispute.decide",
                entity_type="dispute", entity_id=d["id"],
                before={"status": "open", "escrow_state": "disputed",
                        "order_status": d["order_status"]},
                after=after, reason=reason if note is None else f"{reason}\n{note}")
    _notify_both(conn, d, kind=kind, seller=seller, buyer=buyer, outcome=outcome)


def _notify_both(conn: Connection, d: dict[str, Any], *, kind: str, seller: Decimal,
                 buyer: Decimal, outcome: str) -> None:
    """One SMS to each merchant through the outbox (the gateway sends it; never twice,
    never in the quiet hours: one decided at night waits for the morning)."""
    now = clock.now()
    send_after = delivery_time(now, policy_or_default(None))
    for side, merchant_id, amount in (("buyer", d["buyer_id"], buyer),
                                      ("seller", d["seller_id"], seller)):
        payload = {"dispute_id": d["id"], "order_id": d["order_id"], "kind": kind,
                   "side": side, "amount": str(amount), "deposit": str(d["deposit_amount"]),
                   "outcome": outcome}
        db.execute(conn, """
            INSERT INTO app.notification_outbox (merchant_id, channel, template, payload,
                                                 dedupe_key, created_at, send_after)
            VALUES (:m, 'sms', 'dispute.decided', CAST(:payload AS jsonb), :key, :now, :after)
            ON CONFLICT (dedupe_key) DO NOTHING""", m=merchant_id, now=now, after=send_after,
            payload=json.dumps(payload, ensure_ascii=False),
            key=f"dispute:{d['id']}:decided:{side}")


@requires(*DECIDERS)
def awaiting_my_approval(*, conn: Connection, actor: Actor) -> pd.DataFrame:
    """Proposals another officer made, which I may approve or reject, oldest first."""
    return db.fetch_df(conn, """
        SELECT x.id AS decision_id, x.dispute_id, x.order_id, x.kind, x.deposit_amount,
               x.seller_amount, x.buyer_amount, p.display_name AS proposed_by, x.proposed_at
        FROM ops.dispute_decisions x JOIN ops.staff p ON p.id = x.proposed_by
        WHERE x.status = 'proposed' AND x.proposed_by <> :me
        ORDER BY x.proposed_at, x.id""", me=actor.id)
