"""Car-carrier loads (拼板): proposals that put requests on one large truck, a person's
confirmation, and bookings that never exceed a load's capacity.

**Proposals for a day D** (the day the truck would leave). Candidates: requests waiting for a
quote, quoted, or ordered, not on a load yet, that can leave on D (ready_date ≤ D ≤
wanted_by: every candidate's window holds D, so their windows overlap) and fit a large
truck (cars ≤ ``logistics_capacity_large``). Taken oldest first (ready date, then id), each
candidate not yet in a proposal seeds one:

1. the seed's carrier is the active carrier with the cheapest large-truck price per car on
   the seed's lane (province pair) at its road km (then the lowest id); an ordered seed
   keeps its own carrier;
2. the other candidates on a nearby lane — both the from cities and the to cities within
   ``logistics_nearby_km`` in a straight line of the seed's — whose lane that carrier
   prices on a large truck (an ordered one only when ordered from that carrier), nearest
   first (sum of the two straight-line km, then ready date, then id), join while the cars
   fit the capacity (one that does not fit is passed over, a smaller one after it may
   join);
3. two requests or more make a proposal; a seed alone stays a candidate for later seeds.

**Saving**: each request sent on its own costs its best single estimate (the cheapest of
every active carrier on its lane on the truck types it would go alone on:
console/logistics/pricing.py ``solo_types``); together each costs the load carrier's
large-truck price per car at its own road km × its cars. An ordered request costs what it
was ordered at either way (its price is agreed). Saving per car = (Σ separately −
Σ together) / Σ cars, to the fen. Proposals are listed by saving per car, largest first.

**Confirming** a proposal (ops) creates the load (carrier, large truck, capacity, the seed's
cities, the day) and books its requests in one transaction: all of them, or none and no
load. **Booking** a request onto a load locks the load row, then the request row (always in
that order: no deadlock), and refuses: a load not open, a suspended carrier, a stale form,
a request already on a load or no longer open, a request off the load's way (ends not
nearby, D outside its window, a lane the carrier does not price), and cars over the
capacity. A request waiting for or holding quotes is ordered from the load's carrier at its
large-truck estimate (kept as a quote, console/logistics/quotes.py ``order``); an ordered
one keeps its price. ``cars_booked`` moves in the same statement as the lock's holder
checked it, and the database's CHECK (cars_booked ≤ capacity) stands behind it. Each
booking writes a 'booked' event and an audit row; taking a request off a load, 'unbooked'.
"""
from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

import pandas as pd
from sqlalchemy.engine import Connection

from console import clock, db
from console.audit import write_audit
from console.errors import Conflict, InvalidInput, NotFound
from console.logistics import geo, pricing, quotes
from console.roles import Actor, requires
from console.settings import get_settings

READERS = ("ops", "manager")
DESK = ("ops",)
LOADABLE = ("awaiting_quote", "quoted", "ordered")
ENTITY = "lgx_load"


@dataclass(frozen=True)
class Member:
    request_id: int
    version: int
    status: str
    cars: int
    from_city: str
    to_city: str
    distance_km: int
    separately: Decimal
    together: Decimal


@dataclass(frozen=True)
class Proposal:
    carrier_id: int
    carrier: str
    from_city_id: int
    to_city_id: int
    from_city: str
    to_city: str
    depart_date: date
    capacity: int
    members: tuple[Member, ...]

    @property
    def cars(self) -> int:
        return sum(m.cars for m in self.members)

    @property
    def separately(self) -> Decimal:
        return sum((m.separately for m in self.members), Decimal("0.00"))

    @property
    def together(self) -> Decimal:
        return sum((m.together for m in self.members), Decimal("0.00"))

    @property
    def saving_per_car(self) -> Decimal:
        return pricing.saving_per_car(self.separately, self.together, self.cars)


_CANDIDATES = """
    SELECT id, version, status, cars, from_city_id, to_city_id, ready_date, wanted_by,
           carrier_id, cost_from_carrier
    FROM lgx.requests
    WHERE status IN ('awaiting_quote', 'quoted', 'ordered') AND load_id IS NULL
      AND ready_date <= :day AND wanted_by >= :day AND cars <= :cap
    ORDER BY ready_date, id"""


def propose(conn: Connection, *, day: date) -> list[Proposal]:
    """The day's proposals (module doc): one read of the candidates, the cities and the
    carriers of their lanes, then arithmetic in memory."""
    settings = get_settings()
    cap, nearby_km = settings.logistics_capacity_large, settings.logistics_nearby_km
    rows = db.fetch_all(conn, _CANDIDATES, day=day, cap=cap)
    if len(rows) < 2:
        return []
    places = geo.cities(conn, {r["from_city_id"] for r in rows} | {r["to_city_id"] for r in rows})
    lanes = {(places[r["from_city_id"]].province, places[r["to_city_id"]].province) for r in rows}
    carriers = quotes.directory(conn, lanes)
    factor = settings.logistics_road_factor

    straight: dict[tuple[int, int], float] = {}

    def km_between(a: int, b: int) -> float:
        key = (a, b) if a <= b else (b, a)
        if key not in straight:
            pa, pb = places[a], places[b]
            straight[key] = 0.0 if a == b else geo.great_circle_km(
                pa.latitude, pa.longitude, pb.latitude, pb.longitude)
        return straight[key]

    near: dict[int, list[int]] = {c: [o for o in places if km_between(c, o) <= nearby_km]
                                  for c in places}
    cand: dict[int, dict[str, Any]] = {}
    by_lane: dict[tuple[int, int], list[int]] = defaultdict(list)
    for r in rows:
        o, d = places[r["from_city_id"]], places[r["to_city_id"]]
        km = geo.city_road_km(o, d, factor)
        provinces = (o.province, d.province)
        if r["status"] == "ordered":
            separately = Decimal(r["cost_from_carrier"])
        else:
            best = carriers.best(provinces, km, r["cars"], pricing.solo_types(r["cars"]))
            if best is None:
                continue          # nobody prices it alone: no saving to show
            separately = best[1].total
        cand[r["id"]] = {**dict(r), "km": km, "provinces": provinces, "separately": separately}
        by_lane[(r["from_city_id"], r["to_city_id"])].append(r["id"])

    def large_price(carrier_id: int, c: dict[str, Any]) -> Decimal | None:
        if carrier_id not in carriers.serving.get(c["provinces"], []):
            return None
        est = pricing.estimate(carriers.rates.get(carrier_id, []), truck_type="large",
                               km=c["km"], cars=c["cars"])
        if est is None or "large" not in carriers.carriers[carrier_id]["truck_types"]:
            return None
        return est.total

    used: set[int] = set()
    proposals: list[Proposal] = []
    for seed_id, seed in cand.items():
        if seed_id in used:
            continue
        if seed["status"] == "ordered":
            carrier_id = seed["carrier_id"]
            if large_price(carrier_id, seed) is None:
                continue
        else:
            best = carriers.best(seed["provinces"], seed["km"], seed["cars"], ("large",))
            if best is None:
                continue
            carrier_id = best[0]
        others = []
        for f in near[seed["from_city_id"]]:
            for t in near[seed["to_city_id"]]:
                for rid in by_lane.get((f, t), []):
                    if rid != seed_id and rid not in used:
                        c = cand[rid]
                        others.append((km_between(seed["from_city_id"], f)
                                       + km_between(seed["to_city_id"], t),
                                       c["ready_date"], rid))
        group = [seed_id]
        cars = seed["cars"]
        for _, _, rid in sorted(others):
            c = cand[rid]
            if cars + c["cars"] > cap:
                continue
            if c["status"] == "ordered" and c["carrier_id"] != carrier_id:
                continue
            if large_price(carrier_id, c) is None:
                continue
            group.append(rid)
            cars += c["cars"]
        if len(group) < 2:
            continue
        used.update(group)
        members = []
        for rid in group:
            c = cand[rid]
            together = (c["separately"] if c["status"] == "ordered"
                        else large_price(carrier_id, c))
            members.append(Member(
                request_id=rid, version=int(c["version"]), status=c["status"], cars=int(c["cars"]),
                from_city=places[c["from_city_id"]].name, to_city=places[c["to_city_id"]].name,
                distance_km=c["km"], separately=c["separately"], together=together))
        proposals.append(Proposal(
            carrier_id=carrier_id, carrier=carriers.carriers[carrier_id]["name"],
            from_city_id=seed["from_city_id"], to_city_id=seed["to_city_id"],
            from_city=places[seed["from_city_id"]].name, to_city=places[seed["to_city_id"]].name,
            depart_date=day, capacity=cap, members=tuple(members)))
    proposals.sort(key=lambda p: (-p.saving_per_car, p.members[0].request_id))
    return proposals


# ---------------------------------------------------------------- reads
@requires(*READERS)
def proposals(*, conn: Connection, actor: Actor, day: date) -> list[Proposal]:
    """The proposals for loads leaving on ``day`` (module doc)."""
    return propose(conn, day=day)


@requires(*READERS)
def open_loads(*, conn: Connection, actor: Actor) -> pd.DataFrame:
    """Loads still open (not departed), earliest departure first, with their free places."""
    return db.fetch_df(conn, """
        SELECT l.id, l.carrier_id, c.name AS carrier, c.status AS carrier_status, l.truck_type,
               fc.short_name AS from_city, tc.short_name AS to_city, l.depart_date,
               l.capacity, l.cars_booked, l.capacity - l.cars_booked AS free,
               (SELECT count(*) FROM lgx.requests r WHERE r.load_id = l.id) AS requests,
               s.display_name AS confirmed_by, l.confirmed_at, l.version
        FROM lgx.loads l
        JOIN lgx.carriers c ON c.id = l.carrier_id
        JOIN app.cities fc ON fc.id = l.from_city_id
        JOIN app.cities tc ON tc.id = l.to_city_id
        JOIN ops.staff s ON s.id = l.confirmed_by
        WHERE l.status = 'open'
        ORDER BY l.depart_date, l.id""")


@requires(*READERS)
def load_bookings(*, conn: Connection, actor: Actor, load_id: int) -> pd.DataFrame:
    """The requests booked on a load, with what each costs and pays."""
    return db.fetch_df(conn, """
        SELECT r.id, r.status, r.cars, fc.short_name AS from_city, tc.short_name AS to_city,
               r.ready_date, r.wanted_by, r.cost_from_carrier, r.price_to_merchant,
               r.price_to_merchant - r.cost_from_carrier AS margin, r.version
        FROM lgx.requests r
        JOIN app.cities fc ON fc.id = r.from_city_id
        JOIN app.cities tc ON tc.id = r.to_city_id
        WHERE r.load_id = :l ORDER BY r.id""", l=load_id)


@requires(*READERS)
def loadable_requests(*, conn: Connection, actor: Actor, load_id: int) -> pd.DataFrame:
    """Open requests not on a load that this open load could take now: ready on its day,
    both ends near its own, cars within its free places, not ordered from another carrier
    (what booking checks again, under the locks)."""
    load = db.fetch_one(conn, "SELECT * FROM lgx.loads WHERE id = :id", id=load_id)
    if load is None:
        raise NotFound("lgx.loads.error.not_found")
    rows = db.fetch_all(conn, _CANDIDATES, day=load["depart_date"],
                        cap=load["capacity"] - load["cars_booked"])
    rows = [r for r in rows if r["status"] != "ordered" or r["carrier_id"] == load["carrier_id"]]
    places = geo.cities(conn, {load["from_city_id"], load["to_city_id"]}
                        | {r["from_city_id"] for r in rows} | {r["to_city_id"] for r in rows})
    nearby_km = get_settings().logistics_nearby_km
    start, end = places[load["from_city_id"]], places[load["to_city_id"]]
    fits = [r for r in rows if geo.is_nearby(start, places[r["from_city_id"]], nearby_km)
            and geo.is_nearby(end, places[r["to_city_id"]], nearby_km)]
    return pd.DataFrame([{
        "id": r["id"], "status": r["status"], "cars": r["cars"],
        "from_city": places[r["from_city_id"]].name, "to_city": places[r["to_city_id"]].name,
        "ready_date": r["ready_date"], "wanted_by": r["wanted_by"], "version": r["version"]}
        for r in fits], columns=["id", "status", "cars", "from_city", "to_city", "ready_date",
                                 "wanted_by", "version"])


# ---------------------------------------------------------------- booking
@dataclass(frozen=True)
class Booking:
    load_id: int
    request_id: int
    cars_booked: int
    request_version: int


def _lock_load(conn: Connection, load_id: int):
    row = db.fetch_one(conn, "SELECT * FROM lgx.loads WHERE id = :id FOR UPDATE", id=load_id)
    if row is None:
        raise NotFound("lgx.loads.error.not_found")
    if row["status"] != "open":
        raise Conflict("lgx.loads.error.not_open")
    return row


def _book(conn: Connection, actor: Actor, load: Any, request_id: int, version: int) -> Booking:
    """Book one request onto ``load`` (its row locked by the caller)."""
    carrier = quotes.active_carrier(conn, load["carrier_id"])
    lane = quotes.lane_from_row(conn, quotes.lock_request(conn, request_id))
    quotes.check_version({"version": lane.version}, version)
    if lane.load_id is not None:
        raise Conflict("lgx.loads.error.already_on_load", load=lane.load_id)
    if lane.status not in LOADABLE:
        raise Conflict("lgx.loads.error.not_loadable")
    free = load["capacity"] - load["cars_booked"]
    if lane.cars > free:
        raise Conflict("lgx.loads.error.over_capacity", cars=lane.cars, free=free,
                       capacity=load["capacity"])
    ends = geo.cities(conn, (load["from_city_id"], load["to_city_id"]))
    nearby_km = get_settings().logistics_nearby_km
    if not (geo.is_nearby(ends[load["from_city_id"]], lane.origin, nearby_km)
            and geo.is_nearby(ends[load["to_city_id"]], lane.destination, nearby_km)):
        raise Conflict("lgx.loads.error.off_the_way")
    if not lane.ready_date <= load["depart_date"] <= lane.wanted_by:
        raise Conflict("lgx.loads.error.dates")
    if lane.status == "ordered" and lane.carrier_id != load["carrier_id"]:
        raise Conflict("lgx.loads.error.ordered_elsewhere")
    cars_booked = db.scalar(conn, """
        UPDATE lgx.loads SET cars_booked = cars_booked + :cars, version = version + 1
        WHERE id = :id RETURNING cars_booked""", cars=lane.cars, id=load["id"])
    if lane.status == "ordered":
        new_version = db.scalar(conn, """
            UPDATE lgx.requests SET load_id = :l, version = version + 1 WHERE id = :id
            RETURNING version""", l=load["id"], id=request_id)
        write_audit(conn=conn, actor_id=actor.id, action="lgx.load.book",
                    entity_type=quotes.ENTITY, entity_id=request_id, before={"load_id": None},
                    after={"load_id": load["id"], "cars": lane.cars})
    else:
        quotes.active_carrier(conn, load["carrier_id"], lane=lane, truck_type="large")
        est = pricing.estimate(
            quotes.directory_rates.rates_of(conn, [load["carrier_id"]])[load["carrier_id"]],
            truck_type="large", km=lane.distance_km, cars=lane.cars)
        if est is None:
            raise Conflict("lgx.quotes.error.no_rate")
        quote_id, _, _ = quotes.insert_quote(
            conn, lane=lane, carrier_id=load["carrier_id"], truck_type="large", kind="estimate",
            price_per_car=est.price_per_car, transit_days=est.transit_days, staff_id=actor.id,
            note=f"load #{load['id']}")
        quote = db.fetch_one(conn, "SELECT * FROM lgx.quotes WHERE id = :q", q=quote_id)
        new_version = quotes.order(conn, actor, lane=lane, quote=quote,
                                   carrier_name=carrier["name"],
                                   load_id=load["id"]).version
    quotes.timeline_event(conn, request_id=request_id, kind="booked", actor_id=actor.id,
                          note=f"load #{load['id']} · {carrier['name']}")
    return Booking(load_id=int(load["id"]), request_id=request_id, cars_booked=int(cars_booked),
                   request_version=int(new_version))


@requires(*DESK)
def book_onto_load(*, conn: Connection, actor: Actor, load_id: int, request_id: int,
                   version: int) -> Booking:
    """Put a request on an open load (module doc); ``version``: the request's, as the form
    showed it."""
    return _book(conn, actor, _lock_load(conn, load_id), request_id, version)


@requires(*DESK)
def confirm_load(*, conn: Connection, actor: Actor, carrier_id: int, from_city_id: int,
                 to_city_id: int, depart_date: date, request_ids: tuple[int, ...],
                 versions: tuple[int, ...]) -> int:
    """A person confirms a proposal: the load, and each request booked on it at the version
    the proposal showed; all or nothing. Returns the load's id."""
    if len(request_ids) != len(versions) or len(set(request_ids)) != len(request_ids):
        raise InvalidInput("lgx.loads.error.bad_form")
    if depart_date < clock.today():
        raise InvalidInput("lgx.loads.error.past_day")
    if from_city_id == to_city_id:
        raise InvalidInput("lgx.loads.error.same_city")
    if len(geo.cities(conn, (from_city_id, to_city_id))) != 2:
        raise NotFound("lgx.loads.error.city_unknown")
    quotes.active_carrier(conn, carrier_id, truck_type="large")
    capacity = get_settings().logistics_capacity_large
    load_id = db.scalar(conn, """
        INSERT INTO lgx.loads (carrier_id, truck_type, capacity, from_city_id, to_city_id,
                               depart_date, confirmed_by, confirmed_at)
        VALUES (:c, 'large', :cap, :f, :t, :d, :by, :now) RETURNING id""",
                        c=carrier_id, cap=capacity, f=from_city_id, t=to_city_id, d=depart_date,
                        by=actor.id, now=clock.now())
    write_audit(conn=conn, actor_id=actor.id, action="lgx.load.confirm", entity_type=ENTITY,
                entity_id=load_id,
                after={"carrier_id": carrier_id, "capacity": capacity, "from_city_id": from_city_id,
                       "to_city_id": to_city_id, "depart_date": depart_date,
                       "request_ids": list(request_ids)})
    for request_id, version in sorted(zip(request_ids, versions)):
        load = db.fetch_one(conn, "SELECT * FROM lgx.loads WHERE id = :id FOR UPDATE", id=load_id)
        _book(conn, actor, load, request_id, version)
    return load_id


@requires(*DESK)
def unbook_from_load(*, conn: Connection, actor: Actor, load_id: int, request_id: int,
                     version: int, reason: str) -> int:
    """Take an ordered request off an open load (it stays ordered from the carrier, on no
    load); returns the request's new version."""
    if not reason.strip():
        raise InvalidInput("lgx.loads.error.reason_required")
    _lock_load(conn, load_id)
    row = quotes.lock_request(conn, request_id)
    quotes.check_version(row, version)
    if row["load_id"] != load_id:
        raise Conflict("lgx.loads.error.not_on_this_load")
    if row["status"] != "ordered":
        raise Conflict("lgx.loads.error.moving")
    db.execute(conn, """UPDATE lgx.loads SET cars_booked = cars_booked - :cars,
                        version = version + 1 WHERE id = :id""", cars=row["cars"], id=load_id)
    new_version = db.scalar(conn, """
        UPDATE lgx.requests SET load_id = NULL, version = version + 1 WHERE id = :id
        RETURNING version""", id=request_id)
    quotes.timeline_event(conn, request_id=request_id, kind="unbooked", actor_id=actor.id,
                          note=f"load #{load_id} · {reason.strip()}")
    write_audit(conn=conn, actor_id=actor.id, action="lgx.load.unbook",
                entity_type=quotes.ENTITY, entity_id=request_id, before={"load_id": load_id},
                after={"load_id": None}, reason=reason.strip())
    return new_version


# ---------------------------------------------------------------- the load's own states
LOAD_MOVES = {("open", "departed"), ("open", "cancelled"), ("departed", "done")}


@requires(*DESK)
def move_load(*, conn: Connection, actor: Actor, load_id: int, version: int,
              to_status: str) -> int:
    """The truck left (open → departed: something booked on it), arrived (departed → done),
    or the load was called off (open → cancelled: nothing booked on it). Returns the load's
    new version. Bookings are taken on and off an open load only."""
    row = db.fetch_one(conn, "SELECT * FROM lgx.loads WHERE id = :id FOR UPDATE", id=load_id)
    if row is None:
        raise NotFound("lgx.loads.error.not_found")
    quotes.check_version(row, version)
    if (row["status"], to_status) not in LOAD_MOVES:
        raise Conflict("lgx.loads.error.illegal_move")
    if to_status == "departed" and row["cars_booked"] == 0:
        raise Conflict("lgx.loads.error.empty")
    if to_status == "cancelled" and row["cars_booked"] > 0:
        raise Conflict("lgx.loads.error.not_empty")
    new_version = db.scalar(conn, """
        UPDATE lgx.loads SET status = :s, version = version + 1 WHERE id = :id
        RETURNING version""", s=to_status, id=load_id)
    write_audit(conn=conn, actor_id=actor.id,
                action="lgx.load.depart" if to_status == "departed" else "lgx.load.done" if to_status == "done" else "lgx.load.cancel",
                entity_type=ENTITY, entity_id=load_id, before={"status": row["status"]},
                after={"status": to_status})
    return new_version
