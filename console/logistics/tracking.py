"""Tracking a transport request: the state machine, the desk's queue and the request page.

The states (lgx.requests.status) and the moves a person makes with ``move``::

    待报价 awaiting_quote → 已报价 quoted          (a quote recorded for it: lgx.quotes)
    已报价 quoted → 已下单 ordered                  (only by booking a quote: the quotes
                                                     module writes carrier, truck, prices)
    已下单 ordered → 已提车 picked_up → 运输中 in_transit → 已到达 arrived
    已到达 arrived → 已交车 delivered               (with the handover: who received the
                                                     cars, when, a photo reference)
    ordered / picked_up / in_transit / arrived → 异常 exception (a delay, damage or a
                                                     refusal, with a note) → back to the
                                                     state it left
    awaiting_quote / quoted / ordered (not on a load), or an exception raised while ordered
                                                  → 已取消 cancelled (with a reason)

Anything else is refused (Conflict 'lgx.error.illegal_move'); delivered and cancelled are
final. Every move is taken on the request's row locked (FOR UPDATE) at the version the form
was loaded with (a stale form: Conflict 'error.stale'), and writes one timeline event
(lgx.request_events, the move's time, who, the note, the handover) and one audit row in the
caller's transaction: a refused move writes nothing.

The queue (/logistics) is every open request (not delivered nor cancelled), oldest first,
filtered by status, lane and ready date, with its age and its SLA level while it waits for
a quote (settings.logistics_sla_hours); "take" and "next" assign a request to the person.
Ops and managers read every request; a BD person the requests of the deals they own.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Annotated, Any

import pandas as pd
from sqlalchemy.engine import Connection

from console import clock, db, masking, sla
from console.audit import write_audit
from console.boundary import Text
from console.errors import Conflict, InvalidInput, NotFound
from console.roles import Actor, requires
from console.settings import get_settings

STATUSES = ("awaiting_quote", "quoted", "ordered", "picked_up", "in_transit", "arrived",
            "delivered", "exception", "cancelled")
FLOW = ("awaiting_quote", "quoted", "ordered", "picked_up", "in_transit", "arrived",
        "delivered")
FINAL = ("delivered", "cancelled")
OPEN = tuple(s for s in STATUSES if s not in FINAL)
# The forward move a person makes from each state ('ordered' is the booking's, not here).
FORWARD = {"awaiting_quote": "quoted", "ordered": "picked_up", "picked_up": "in_transit",
           "in_transit": "arrived", "arrived": "delivered"}
EXCEPTION_FROM = ("ordered", "picked_up", "in_transit", "arrived")
CANCEL_FROM = ("awaiting_quote", "quoted", "ordered")
EXCEPTION_KINDS = ("delay", "damage", "refusal")
QUEUE_VIEWS = ("all", "mine", "unassigned")
READ_ROLES = ("ops", "manager")             # every request
FOLLOW_ROLES = ("bd",)                      # the requests of the deals they own
# A handover time more than this ahead of the clock is a typing slip, not a delivery.
HANDOVER_SLACK = timedelta(minutes=10)


# ---------------------------------------------------------------- the rules, pure
def next_moves(status: str, status_before_exception: str | None = None) -> tuple[str, ...]:
    """The states a person may move a request to from ``status``, in the order the page
    offers them (the forward move first)."""
    if status == "exception":
        back = (status_before_exception,) if status_before_exception else ()
        return back + (("cancelled",) if status_before_exception in CANCEL_FROM else ())
    moves = []
    if status in FORWARD:
        moves.append(FORWARD[status])
    if status in EXCEPTION_FROM:
        moves.append("exception")
    if status in CANCEL_FROM:
        moves.append("cancelled")
    return tuple(moves)


def sla_level(age_hours: float) -> str:
    """console/sla.py's rule at settings.logistics_sla_hours."""
    return sla.sla_level(age_hours, sla_hours=get_settings().logistics_sla_hours)


def carrier_phone_for(actor: Actor, phone: str | None) -> str | None:
    """A carrier's contact phone: whole for the desk (ops deals with carriers), masked for
    everyone else (BD, managers)."""
    return phone if actor.has("ops") else masking.mask_phone(phone)


# ---------------------------------------------------------------- shared with the desk's modules
def lock_request(conn: Connection, request_id: int):
    """The request row, locked for this transaction; NotFound when there is none."""
    row = db.fetch_one(conn, "SELECT * FROM lgx.requests WHERE id = :id FOR UPDATE",
                       id=request_id)
    if row is None:
        raise NotFound("lgx.error.request_unknown")
    return row


def check_version(row, version: int) -> None:
    if row["version"] != version:
        raise Conflict("error.stale")


def timeline_event(conn: Connection, *, request_id: int, kind: str, actor_id: int | None,
                   from_status: str | None = None, to_status: str | None = None,
                   note: str | None = None, handover_receiver: str | None = None,
                   handover_at: datetime | None = None, handover_photo_ref: str | None = None,
                   assignee_id: int | None = None) -> int:
    """Append one event to the request's timeline (the quotes, loads, claims and ratings
    modules write theirs with it too); returns its id."""
    return db.scalar(conn, """
        INSERT INTO lgx.request_events (request_id, kind, from_status, to_status, note,
                                        handover_receiver, handover_at, handover_photo_ref,
                                        actor_id, assignee_id)
        VALUES (:r, :k, :f, :t, :n, :hr, :ha, :hp, :a, :as)
        RETURNING id""", r=request_id, k=kind, f=from_status, t=to_status, n=note,
                     hr=handover_receiver, ha=handover_at, hp=handover_photo_ref, a=actor_id,
                     **{"as": assignee_id})


def _text(value: str | None) -> str | None:
    return (value or "").strip() or None


# ---------------------------------------------------------------- moving a request
@dataclass(frozen=True)
class Moved:
    request_id: int
    status: str
    version: int


@requires("ops")
def move(*, conn: Connection, actor: Actor, request_id: int, version: int, to_status: str,
         note: str | None = None, exception_kind: str | None = None,
         handover_receiver: Annotated[str, Text(max=60)] | None = None,
         handover_at: datetime | None = None,
         handover_photo_ref: Annotated[str, Text(max=300)] | None = None) -> Moved:
    """Move a request to ``to_status`` (module doc). Refused: a stale form, a move the state
    machine does not allow, 'ordered' by hand (a quote is booked for that), 'quoted' without
    a quote, an exception without its kind and a note, a cancellation without a reason or of
    a request booked on a load, a delivery without its handover (receiver, time not in the
    future nor before the pick-up, photo reference)."""
    if to_status not in STATUSES:
        raise InvalidInput("lgx.error.bad_status")
    note = _text(note)
    row = lock_request(conn, request_id)
    check_version(row, version)
    status = row["status"]
    legal = next_moves(status, row["status_before_exception"])
    if to_status == "ordered" and status in ("awaiting_quote", "quoted"):
        raise Conflict("lgx.error.order_by_booking")
    if to_status not in legal:
        raise Conflict("lgx.error.illegal_move")
    receiver = photo = None
    delivered_at = None
    if to_status == "quoted" and not db.scalar(
            conn, "SELECT EXISTS (SELECT 1 FROM lgx.quotes WHERE request_id = :r)", r=request_id):
        raise Conflict("lgx.error.no_quote")
    if to_status == "exception":
        if exception_kind not in EXCEPTION_KINDS:
            raise InvalidInput("lgx.error.exception_kind")
        if note is None:
            raise InvalidInput("lgx.error.note_required")
    if to_status == "cancelled":
        if note is None:
            raise InvalidInput("lgx.error.reason_required")
        if row["load_id"] is not None:
            raise Conflict("lgx.error.unbook_first")
    if to_status == "delivered":
        receiver, photo = _text(handover_receiver), _text(handover_photo_ref)
        if receiver is None or photo is None or handover_at is None:
            raise InvalidInput("lgx.error.handover_required")
        if handover_at.tzinfo is None:
            handover_at = handover_at.replace(tzinfo=clock.business_tz())
        if handover_at > clock.now() + HANDOVER_SLACK:
            raise InvalidInput("lgx.error.handover_future")
        if row["picked_up_at"] is not None and handover_at < row["picked_up_at"]:
            raise InvalidInput("lgx.error.handover_before_pickup")
        delivered_at = handover_at
    now = clock.now()
    new = db.fetch_one(conn, """
        UPDATE lgx.requests
        SET status = :to,
            status_before_exception = CASE WHEN :to = 'exception' THEN status END,
            exception_kind = CASE WHEN :to = 'exception' THEN CAST(:kind AS text) END,
            picked_up_at = CASE WHEN :to = 'picked_up' THEN :now ELSE picked_up_at END,
            delivered_at = CASE WHEN :to = 'delivered' THEN :delivered ELSE delivered_at END,
            version = version + 1
        WHERE id = :id
        RETURNING status, version""", to=to_status,
                       kind=exception_kind if to_status == "exception" else None, now=now,
                       delivered=delivered_at, id=request_id)
    timeline_event(conn, request_id=request_id, kind="status", actor_id=actor.id,
                   from_status=status, to_status=to_status, note=note,
                   handover_receiver=receiver, handover_at=delivered_at,
                   handover_photo_ref=photo)
    after: dict[str, Any] = {"status": to_status}
    if to_status == "exception":
        after["exception_kind"] = exception_kind
    if to_status == "delivered":
        after.update(handover_receiver=receiver, handover_at=delivered_at,
                     handover_photo_ref=photo)
    write_audit(conn=conn, actor_id=actor.id, action="lgx.request.move", entity_type="transport_request",
                entity_id=request_id, before={"status": status, "version": version},
                after=after, reason=note)
    return Moved(request_id=request_id, status=new["status"], version=new["version"])


@requires("ops")
def add_note(*, conn: Connection, actor: Actor, request_id: int, note: str) -> None:
    """A note on the request's timeline (a call with the carrier, the merchant's wish)."""
    note = _text(note)
    if note is None:
        raise InvalidInput("lgx.error.note_required")
    lock_request(conn, request_id)
    timeline_event(conn, request_id=request_id, kind="note", actor_id=actor.id, note=note)
    write_audit(conn=conn, actor_id=actor.id, action="lgx.request.note", entity_type="transport_request",
                entity_id=request_id, after={"note": note})


# ---------------------------------------------------------------- assignment
def _assign(conn: Connection, actor: Actor, request_id: int, assignee_id: int,
            before: int | None) -> int:
    new_version = db.scalar(conn, """
        UPDATE lgx.requests SET assignee_id = :to, version = version + 1
        WHERE id = :id RETURNING version""", to=assignee_id, id=request_id)
    timeline_event(conn, request_id=request_id, kind="assigned", actor_id=actor.id,
                   assignee_id=assignee_id)
    write_audit(conn=conn, actor_id=actor.id, action="lgx.request.assign", entity_type="transport_request",
                entity_id=request_id, before={"assignee_id": before},
                after={"assignee_id": assignee_id})
    return new_version


@requires("ops")
def assign(*, conn: Connection, actor: Actor, request_id: int, version: int,
           assignee_id: int) -> int:
    """Give an open request to an ops colleague or take it (assignee_id = my id): one not
    held by someone else, at the version the page showed. Returns the new version."""
    row = lock_request(conn, request_id)
    check_version(row, version)
    if row["status"] in FINAL:
        raise Conflict("lgx.error.closed")
    if row["assignee_id"] not in (None, actor.id):
        raise Conflict("lgx.error.held_by_other")
    if not db.scalar(conn, """SELECT 1 FROM ops.staff WHERE id = :id AND is_active
                              AND 'ops' = ANY (roles)""", id=assignee_id):
        raise InvalidInput("lgx.error.bad_assignee")
    if row["assignee_id"] == assignee_id:
        return row["version"]
    return _assign(conn, actor, request_id, assignee_id, row["assignee_id"])


@requires("ops")
def next_request(*, conn: Connection, actor: Actor) -> int | None:
    """Take the oldest unassigned request waiting for a quote (then a quoted one not yet
    ordered); None when there is none. Two people pressing "next" at once get two
    different requests (SKIP LOCKED)."""
    request_id = db.scalar(conn, """
        SELECT id FROM lgx.requests
        WHERE status IN ('awaiting_quote','quoted') AND assignee_id IS NULL
        ORDER BY status = 'quoted', created_at, id
        LIMIT 1 FOR UPDATE SKIP LOCKED""")
    if request_id is None:
        return None
    _assign(conn, actor, request_id, actor.id, None)
    return request_id


# ---------------------------------------------------------------- the queue
@dataclass(frozen=True)
class QueueFilters:
    """The queue's filters; empty ``statuses``: every open request."""

    statuses: tuple[str, ...] = ()
    from_city_id: int | None = None
    to_city_id: int | None = None
    ready_from: date | None = None
    ready_to: date | None = None
    view: str = "all"


@dataclass(frozen=True)
class QueuePage:
    rows: pd.DataFrame
    total: int


def sees_every_request(actor: Actor) -> bool:
    return actor.has(*READ_ROLES)


# Every request for the desk and managers; a BD person's: the requests of their deals.
_SCOPE = """(CAST(:every AS boolean) OR EXISTS (
    SELECT 1 FROM ops.matches mt WHERE mt.id = r.match_id AND mt.owner_id = :me))"""


def _queue_where(filters: QueueFilters) -> str:
    parts = ["r.status = ANY(:statuses)", _SCOPE]
    if filters.from_city_id is not None:
        parts.append("r.from_city_id = :from_city")
    if filters.to_city_id is not None:
        parts.append("r.to_city_id = :to_city")
    if filters.ready_from is not None:
        parts.append("r.ready_date >= :ready_from")
    if filters.ready_to is not None:
        parts.append("r.ready_date <= :ready_to")
    if filters.view == "mine":
        parts.append("r.assignee_id = :me")
    elif filters.view == "unassigned":
        parts.append("r.assignee_id IS NULL")
    return " AND ".join(parts)


@requires(*READ_ROLES, *FOLLOW_ROLES)
def list_queue(*, conn: Connection, actor: Actor, filters: QueueFilters = QueueFilters(),
               limit: int = 50, offset: int = 0) -> QueuePage:
    """One page of requests, oldest first: status, merchant, lane, dates, cars, value,
    carrier, who holds it, age in hours and the SLA level of one waiting for a quote."""
    statuses = list(filters.statuses) or list(OPEN)
    if any(s not in STATUSES for s in statuses) or filters.view not in QUEUE_VIEWS:
        raise InvalidInput("lgx.error.bad_filter")
    if (filters.ready_from is not None and filters.ready_to is not None
            and filters.ready_from > filters.ready_to):
        raise InvalidInput("lgx.error.bad_date_range")
    where = _queue_where(filters)
    params = {"statuses": statuses, "from_city": filters.from_city_id,
              "to_city": filters.to_city_id, "ready_from": filters.ready_from,
              "ready_to": filters.ready_to, "me": actor.id, "every": sees_every_request(actor)}
    total = int(db.scalar(conn, f"SELECT count(*) FROM lgx.requests r WHERE {where}", **params))
    rows = db.fetch_df(conn, f"""
        WITH page AS MATERIALIZED (
            SELECT r.* FROM lgx.requests r WHERE {where}
            ORDER BY r.created_at, r.id LIMIT :limit OFFSET :offset)
        SELECT r.id, r.status, r.source, r.merchant_id, m.name AS merchant,
               fc.name AS from_city, tc.name AS to_city, r.ready_date, r.wanted_by, r.cars,
               r.declared_value, c.name AS carrier, r.assignee_id, s.display_name AS assignee,
               r.created_at, r.version,
               extract(epoch FROM now() - r.created_at) / 3600 AS age_hours
        FROM page r
        JOIN app.merchants m ON m.id = r.merchant_id
        JOIN app.cities fc ON fc.id = r.from_city_id
        JOIN app.cities tc ON tc.id = r.to_city_id
        LEFT JOIN lgx.carriers c ON c.id = r.carrier_id
        LEFT JOIN ops.staff s ON s.id = r.assignee_id
        ORDER BY r.created_at, r.id""", **params, limit=limit, offset=offset)
    if rows.empty:
        rows["sla"] = pd.Series(dtype=object)
    else:
        rows["age_hours"] = rows["age_hours"].astype(float).round(1)
        rows["sla"] = pd.Series([sla_level(h) if s == "awaiting_quote" else None
                                 for h, s in zip(rows["age_hours"], rows["status"])],
                                index=rows.index, dtype=object)
    return QueuePage(rows=rows, total=total)


@requires("ops")
def queue_counts(*, conn: Connection, actor: Actor) -> dict[str, int]:
    """The queue's header: waiting for a quote unassigned, mine open, past the SLA, in an
    exception."""
    row = db.fetch_one(conn, """
        SELECT count(*) FILTER (WHERE status = 'awaiting_quote' AND assignee_id IS NULL)
                   AS unassigned,
               count(*) FILTER (WHERE assignee_id = :me) AS mine,
               count(*) FILTER (WHERE status = 'awaiting_quote'
                                  AND created_at <= now() - make_interval(hours => :sla)) AS late,
               count(*) FILTER (WHERE status = 'exception') AS exceptions
        FROM lgx.requests
        WHERE status NOT IN ('delivered','cancelled')""", me=actor.id,
                         sla=get_settings().logistics_sla_hours)
    return {k: int(v or 0) for k, v in dict(row).items()}


@requires(*READ_ROLES, *FOLLOW_ROLES)
def cities(*, conn: Connection, actor: Actor) -> pd.DataFrame:
    """Every city (id, name, province) for the lane pickers, by province then name."""
    return db.fetch_df(conn, """SELECT id, name, province FROM app.cities
                                ORDER BY province, name, id""")


# ---------------------------------------------------------------- one request
@dataclass
class RequestView:
    request: dict[str, Any]
    cars: pd.DataFrame
    timeline: pd.DataFrame
    moves: tuple[str, ...] = field(default_factory=tuple)


@requires(*READ_ROLES, *FOLLOW_ROLES)
def get_request(*, conn: Connection, actor: Actor, request_id: int) -> RequestView:
    """A request with its lane, dates, value, cars, carrier (its contact phone masked for
    those who do not deal with carriers), the moves a person may make now, and its timeline.
    A BD person reads only a request of a deal they own (another is not found for them)."""
    row = db.fetch_one(conn, f"""
        SELECT r.*, m.name AS merchant, fc.name AS from_city, fc.province AS from_province,
               tc.name AS to_city, tc.province AS to_province,
               c.name AS carrier, c.contact_name AS carrier_contact,
               c.contact_phone AS carrier_phone, s.display_name AS assignee,
               cb.display_name AS created_by_name,
               r.price_to_merchant - r.cost_from_carrier AS margin
        FROM lgx.requests r
        JOIN app.merchants m ON m.id = r.merchant_id
        JOIN app.cities fc ON fc.id = r.from_city_id
        JOIN app.cities tc ON tc.id = r.to_city_id
        LEFT JOIN lgx.carriers c ON c.id = r.carrier_id
        LEFT JOIN ops.staff s ON s.id = r.assignee_id
        LEFT JOIN ops.staff cb ON cb.id = r.created_by
        WHERE r.id = :id AND {_SCOPE}""", id=request_id, me=actor.id,
                       every=sees_every_request(actor))
    if row is None:
        raise NotFound("lgx.error.request_unknown")
    request = dict(row)
    request["carrier_phone"] = carrier_phone_for(actor, request["carrier_phone"])
    cars = db.fetch_df(conn, """
        SELECT rc.id, rc.vin, app.vehicle_name(b.name, s.name) AS series, t.name AS trim,
               rc.quantity, rc.listing_id
        FROM lgx.request_cars rc
        LEFT JOIN app.trims t ON t.id = rc.trim_id
        LEFT JOIN app.series s ON s.id = t.series_id
        LEFT JOIN app.brands b ON b.id = s.brand_id
        WHERE rc.request_id = :r ORDER BY rc.id""", r=request_id)
    timeline = db.fetch_df(conn, """
        SELECT e.at, e.kind, e.from_status, e.to_status, e.note, e.handover_receiver,
               e.handover_at, e.handover_photo_ref, who.display_name AS who,
               asg.display_name AS assignee
        FROM lgx.request_events e
        LEFT JOIN ops.staff who ON who.id = e.actor_id
        LEFT JOIN ops.staff asg ON asg.id = e.assignee_id
        WHERE e.request_id = :r ORDER BY e.at, e.id""", r=request_id)
    return RequestView(request=request, cars=cars, timeline=timeline,
                       moves=next_moves(request["status"], request["status_before_exception"]))
