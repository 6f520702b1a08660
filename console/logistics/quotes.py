"""Quotes (报价) for a transport request: estimates from every carrier serving the lane, a
carrier's actual quote recorded by the desk, the price check, and booking a quote.

- **Estimates**: every ACTIVE carrier with an active lane from the request's from-province
  to its to-province (lgx.carrier_lanes), on each truck type it runs that it prices at the
  request's road distance (console/logistics/pricing.py: price per car, total, transit
  days, trucks). Ordered by the carrier's score (console/logistics/scores.py, best first,
  unscored carriers after), then by total, then carrier. Nothing is written: an estimate is
  kept (lgx.quotes kind 'estimate') only when it is booked.
- **Actual quote**: the desk types a carrier's own price per car (and its transit days, or
  the estimate's rule); the carrier must be active, serve the lane and run the truck type.
  Recording one moves a request waiting for a quote (待报价) to 已报价.
- **Price check**: the lane's recent median per car = the median of price per car-km of
  every quote on the same truck type recorded in the last ``logistics_lane_median_days``
  days (90) on requests of the same province pair, × this request's road km, to the fen (per
  car-km, so a lane's short and long trips compare; per truck type, so a single-car truck is
  not held against consolidated prices). A quote whose price per car is above
  ``logistics_quote_high_factor`` (1.3) × that median is flagged high (flagged_high); with no
  such quote in the window there is no median and no flag. The flag warns; it does not
  refuse.
- **Booking** a quote (an actual one, or an estimate, kept as a quote at the price computed
  now, never the form's): request → 已下单 with the carrier, truck type, quote,
  cost_from_carrier = the quote's total, price_to_merchant = cost × (1 + margin share),
  ordered_at. Refused: a suspended carrier, a request no longer waiting for or holding
  quotes, a stale form.

Every write is taken on the request row locked (FOR UPDATE) at the version the form was
loaded with, bumps the version, writes the timeline (lgx.request_events) and one audit row
in the caller's transaction; a refusal writes nothing.
"""
from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

import pandas as pd
from sqlalchemy.engine import Connection

from console import clock, db
from console.audit import write_audit
from console.errors import Conflict, InvalidInput, NotFound
from console.logistics import carriers as directory_rates
from console.logistics import geo, pricing, scores
from console.roles import Actor, requires
from console.settings import get_settings

READERS = ("ops", "manager")
DESK = ("ops",)
QUOTABLE = ("awaiting_quote", "quoted")
ENTITY = "transport_request"      # the audit's entity of a request (console/logistics/requests.py)


# ---------------------------------------------------------------- the request row, the timeline
def lock_request(conn: Connection, request_id: int):
    row = db.fetch_one(conn, "SELECT * FROM lgx.requests WHERE id = :id FOR UPDATE",
                       id=request_id)
    if row is None:
        raise NotFound("lgx.quotes.error.request_unknown")
    return row


def check_version(row: Any, version: int) -> None:
    if row["version"] != version:
        raise Conflict("error.stale")


def timeline_event(conn: Connection, *, request_id: int, kind: str, actor_id: int | None,
                   from_status: str | None = None, to_status: str | None = None,
                   note: str | None = None) -> None:
    """One event on the request's timeline (lgx.request_events, append-only)."""
    db.execute(conn, """
        INSERT INTO lgx.request_events (request_id, kind, from_status, to_status, note, actor_id)
        VALUES (:r, :k, :f, :t, :n, :a)""", r=request_id, k=kind, f=from_status, t=to_status,
               n=note, a=actor_id)


# ---------------------------------------------------------------- the request's lane
@dataclass(frozen=True)
class Lane:
    request_id: int
    status: str
    version: int
    cars: int
    origin: geo.City
    destination: geo.City
    distance_km: int
    ready_date: date
    wanted_by: date
    carrier_id: int | None
    quote_id: int | None
    load_id: int | None

    @property
    def provinces(self) -> tuple[str, str]:
        return (self.origin.province, self.destination.province)


def lane_from_row(conn: Connection, row: Any, places: dict[int, geo.City] | None = None) -> Lane:
    places = places or geo.cities(conn, (row["from_city_id"], row["to_city_id"]))
    origin, destination = places[row["from_city_id"]], places[row["to_city_id"]]
    return Lane(request_id=int(row["id"]), status=row["status"], version=int(row["version"]),
                cars=int(row["cars"]), origin=origin, destination=destination,
                distance_km=geo.city_road_km(origin, destination,
                                             get_settings().logistics_road_factor),
                ready_date=row["ready_date"], wanted_by=row["wanted_by"],
                carrier_id=row["carrier_id"], quote_id=row["quote_id"], load_id=row["load_id"])


def _lane(conn: Connection, request_id: int, *, lock: bool = False) -> Lane:
    if lock:
        row = lock_request(conn, request_id)
    else:
        row = db.fetch_one(conn, "SELECT * FROM lgx.requests WHERE id = :id", id=request_id)
        if row is None:
            raise NotFound("lgx.quotes.error.request_unknown")
    return lane_from_row(conn, row)


# ---------------------------------------------------------------- the carriers of lanes
@dataclass
class Directory:
    """Active carriers serving some lanes, with their rates: what estimates are made from."""

    carriers: dict[int, dict] = field(default_factory=dict)
    serving: dict[tuple[str, str], list[int]] = field(default_factory=dict)
    rates: dict[int, list[pricing.Rate]] = field(default_factory=dict)

    def estimates(self, provinces: tuple[str, str], km: int, cars: int,
                  truck_types: tuple[str, ...] = pricing.TRUCK_TYPES
                  ) -> list[tuple[int, pricing.Estimate]]:
        out = []
        for carrier_id in self.serving.get(provinces, []):
            runs = self.carriers[carrier_id]["truck_types"]
            for truck in pricing.TRUCK_TYPES:
                if truck in runs and truck in truck_types:
                    est = pricing.estimate(self.rates.get(carrier_id, []), truck_type=truck,
                                           km=km, cars=cars)
                    if est is not None:
                        out.append((carrier_id, est))
        return out

    def best(self, provinces: tuple[str, str], km: int, cars: int,
             truck_types: tuple[str, ...]) -> tuple[int, pricing.Estimate] | None:
        """The cheapest estimate (then the lowest carrier id) on these truck types."""
        found = self.estimates(provinces, km, cars, truck_types)
        return min(found, key=lambda e: (e[1].total, e[0])) if found else None


def directory(conn: Connection, lanes: set[tuple[str, str]] | None = None) -> Directory:
    """The active carriers on ``lanes`` (province pairs; None: every lane) and their rates."""
    pairs = sorted(lanes) if lanes is not None else None
    rows = db.fetch_all(conn, """
        SELECT c.id, c.name, c.truck_types, l.from_province, l.to_province
        FROM lgx.carrier_lanes l JOIN lgx.carriers c ON c.id = l.carrier_id
        WHERE l.active AND c.status = 'active'
          AND (CAST(:all AS boolean)
               OR (l.from_province, l.to_province) IN (
                   SELECT * FROM unnest(CAST(:f AS text[]), CAST(:t AS text[]))))""",
                        all=pairs is None, f=[p[0] for p in pairs or []],
                        t=[p[1] for p in pairs or []])
    found = Directory()
    serving: dict[tuple[str, str], list[int]] = defaultdict(list)
    for r in rows:
        found.carriers[int(r["id"])] = {"name": r["name"], "truck_types": list(r["truck_types"])}
        serving[(r["from_province"], r["to_province"])].append(int(r["id"]))
    found.serving = {k: sorted(v) for k, v in serving.items()}
    found.rates = directory_rates.rates_of(conn, list(found.carriers))
    return found


# ---------------------------------------------------------------- the price check
def lane_medians(conn: Connection, *, provinces: tuple[str, str],
                 distance_km: int) -> dict[str, Decimal]:
    """The lane's recent median per car at ``distance_km`` by truck type (module doc); a
    truck type without a quote in the window is absent."""
    settings = get_settings()
    rows = db.fetch_all(conn, """
        SELECT q.truck_type,
               percentile_cont(0.5) WITHIN GROUP (ORDER BY q.price_per_car / q.distance_km)
                   AS per_km
        FROM lgx.quotes q
        JOIN lgx.requests r ON r.id = q.request_id
        JOIN app.cities fc ON fc.id = r.from_city_id
        JOIN app.cities tc ON tc.id = r.to_city_id
        WHERE q.recorded_at >= :since AND fc.province = :fp AND tc.province = :tp
        GROUP BY q.truck_type""",
                        since=clock.now() - timedelta(days=settings.logistics_lane_median_days),
                        fp=provinces[0], tp=provinces[1])
    return {r["truck_type"]: pricing.fen(Decimal(repr(r["per_km"])) * distance_km) for r in rows}


def lane_median_per_car(conn: Connection, *, provinces: tuple[str, str], distance_km: int,
                        truck_type: str) -> Decimal | None:
    """The lane's recent median per car on ``truck_type`` at ``distance_km``, or None."""
    return lane_medians(conn, provinces=provinces, distance_km=distance_km).get(truck_type)


def is_high(price_per_car: Decimal, median: Decimal | None) -> bool:
    if median is None:
        return False
    return Decimal(price_per_car) > median * Decimal(repr(get_settings().logistics_quote_high_factor))


# ---------------------------------------------------------------- reading
@dataclass(frozen=True)
class QuotesView:
    request: Lane
    estimates: pd.DataFrame      # carrier_id, carrier, truck_type, price_per_car, total, ...
    quotes: pd.DataFrame         # the quotes recorded or booked for the request
    lane_medians: dict[str, Decimal]   # truck type -> the lane's recent median per car
    high_factor: float
    lane_carriers: pd.DataFrame  # id, name, truck_types: who may quote (active, on the lane)


ESTIMATE_COLUMNS = ["carrier_id", "carrier", "truck_type", "distance_km", "price_per_car",
                    "total", "transit_days", "trucks", "score", "on_time_rate", "delivered",
                    "flagged_high"]


def estimates_for(conn: Connection, lane: Lane,
                  medians: dict[str, Decimal] | None = None) -> pd.DataFrame:
    found = directory(conn, {lane.provinces})
    rows = found.estimates(lane.provinces, lane.distance_km, lane.cars)
    board = scores.carrier_scores(conn, carrier_ids={c for c, _ in rows}) if rows else {}
    rows.sort(key=lambda e: (scores.order_key(board.get(e[0])), e[1].total, e[0],
                             pricing.TRUCK_TYPES.index(e[1].truck_type)))
    return pd.DataFrame([{
        "carrier_id": cid, "carrier": found.carriers[cid]["name"], "truck_type": est.truck_type,
        "distance_km": est.distance_km, "price_per_car": est.price_per_car, "total": est.total,
        "transit_days": est.transit_days, "trucks": est.trucks,
        "score": board[cid].score if cid in board else None,
        "on_time_rate": board[cid].on_time_rate if cid in board else None,
        "delivered": board[cid].delivered if cid in board else 0,
        "flagged_high": is_high(est.price_per_car, (medians or {}).get(est.truck_type))}
        for cid, est in rows],
        columns=ESTIMATE_COLUMNS)


@requires(*READERS)
def request_quotes(*, conn: Connection, actor: Actor, request_id: int) -> QuotesView:
    """The request's lane, its estimates best carrier first, its recorded quotes and the
    lane's median: the quotes panel of the request page."""
    lane = _lane(conn, request_id)
    medians = lane_medians(conn, provinces=lane.provinces, distance_km=lane.distance_km)
    quotes = db.fetch_df(conn, """
        SELECT q.id, q.kind, q.carrier_id, c.name AS carrier, c.status AS carrier_status,
               q.truck_type, q.distance_km, q.price_per_car, q.total, q.transit_days,
               q.lane_median_per_car, q.flagged_high, q.note, s.display_name AS recorded_by,
               q.recorded_at, q.id = r.quote_id AS booked
        FROM lgx.quotes q
        JOIN lgx.carriers c ON c.id = q.carrier_id
        JOIN lgx.requests r ON r.id = q.request_id
        LEFT JOIN ops.staff s ON s.id = q.recorded_by
        WHERE q.request_id = :r ORDER BY q.recorded_at DESC, q.id DESC""", r=request_id)
    lane_carriers = db.fetch_df(conn, """
        SELECT c.id, c.name, c.truck_types
        FROM lgx.carriers c JOIN lgx.carrier_lanes l ON l.carrier_id = c.id
        WHERE c.status = 'active' AND l.active AND l.from_province = :f AND l.to_province = :t
        ORDER BY c.name""", f=lane.provinces[0], t=lane.provinces[1])
    return QuotesView(request=lane, estimates=estimates_for(conn, lane, medians), quotes=quotes,
                      lane_medians=medians,
                      high_factor=get_settings().logistics_quote_high_factor,
                      lane_carriers=lane_carriers)


# ---------------------------------------------------------------- writing
@dataclass(frozen=True)
class Recorded:
    quote_id: int
    flagged_high: bool
    lane_median_per_car: Decimal | None
    version: int


@dataclass(frozen=True)
class Booked:
    request_id: int
    quote_id: int
    cost_from_carrier: Decimal
    price_to_merchant: Decimal
    margin: Decimal
    version: int


def active_carrier(conn: Connection, carrier_id: int, *, lane: Lane | None = None,
                   truck_type: str | None = None):
    """The carrier, refused when unknown, suspended, not serving the lane or not running
    the truck type."""
    row = db.fetch_one(conn, "SELECT * FROM lgx.carriers WHERE id = :id", id=carrier_id)
    if row is None:
        raise NotFound("lgx.carriers.error.not_found")
    if row["status"] != "active":
        raise Conflict("lgx.quotes.error.carrier_suspended", carrier=row["name"])
    if truck_type is not None and truck_type not in row["truck_types"]:
        raise InvalidInput("lgx.carriers.error.truck_not_run")
    if lane is not None and not db.scalar(conn, """
            SELECT EXISTS (SELECT 1 FROM lgx.carrier_lanes WHERE carrier_id = :c
                           AND from_province = :f AND to_province = :t AND active)""",
                                          c=carrier_id, f=lane.provinces[0],
                                          t=lane.provinces[1]):
        raise Conflict("lgx.quotes.error.not_on_lane", carrier=row["name"],
                       lane=f"{lane.provinces[0]} → {lane.provinces[1]}")
    return row


def _quotable(lane: Lane, version: int) -> None:
    check_version({"version": lane.version}, version)
    if lane.status not in QUOTABLE:
        raise Conflict("lgx.quotes.error.not_quotable")


def insert_quote(conn: Connection, *, lane: Lane, carrier_id: int, truck_type: str, kind: str,
                 price_per_car: Decimal, transit_days: int, staff_id: int,
                 note: str | None = None) -> tuple[int, bool, Decimal | None]:
    """One lgx.quotes row with its price check; (id, flagged_high, lane median)."""
    median = lane_median_per_car(conn, provinces=lane.provinces, distance_km=lane.distance_km,
                                 truck_type=truck_type)
    flagged = is_high(price_per_car, median)
    quote_id = db.scalar(conn, """
        INSERT INTO lgx.quotes (request_id, carrier_id, truck_type, kind, distance_km,
                                price_per_car, total, transit_days, lane_median_per_car,
                                flagged_high, note, recorded_by)
        VALUES (:r, :c, :tt, :k, :km, :p, :total, :days, :median, :flag, :note, :by)
        RETURNING id""", r=lane.request_id, c=carrier_id, tt=truck_type, k=kind,
                         km=lane.distance_km, p=price_per_car,
                         total=pricing.fen(price_per_car * lane.cars), days=transit_days,
                         median=median, flag=flagged, note=note, by=staff_id)
    return quote_id, flagged, median


def _quote_event(conn: Connection, lane: Lane, *, actor: Actor, quote_id: int, carrier: str,
                 truck_type: str, price_per_car: Decimal, flagged: bool) -> None:
    timeline_event(conn, request_id=lane.request_id, kind="quote", actor_id=actor.id,
                   note=f"#{quote_id} · {carrier} · ¥{price_per_car:,.2f}"
                        + (" · ⚠" if flagged else ""))


def _to_quoted(conn: Connection, lane: Lane, actor: Actor) -> int:
    """Bump the request's version, moving it 待报价 → 已报价 when it waited for a quote."""
    version = db.scalar(conn, """
        UPDATE lgx.requests
        SET status = CASE WHEN status = 'awaiting_quote' THEN 'quoted' ELSE status END,
            version = version + 1
        WHERE id = :id RETURNING version""", id=lane.request_id)
    if lane.status == "awaiting_quote":
        timeline_event(conn, request_id=lane.request_id, kind="status", actor_id=actor.id,
                       from_status="awaiting_quote", to_status="quoted")
    return version


@requires(*DESK)
def record_quote(*, conn: Connection, actor: Actor, request_id: int, version: int,
                 carrier_id: int, truck_type: str, price_per_car: str,
                 transit_days: int | None = None, note: str | None = None) -> Recorded:
    """Record a carrier's own quote (price per car typed as text) for the request."""
    if truck_type not in pricing.TRUCK_TYPES:
        raise InvalidInput("input.choice")
    price = pricing.parse_yuan(price_per_car)
    if price is None:
        raise InvalidInput("input.price_per_car")
    lane = _lane(conn, request_id, lock=True)
    _quotable(lane, version)
    carrier = active_carrier(conn, carrier_id, lane=lane, truck_type=truck_type)
    days = transit_days if transit_days is not None else pricing.transit_days(lane.distance_km)
    note = (note or "").strip() or None
    quote_id, flagged, median = insert_quote(
        conn, lane=lane, carrier_id=carrier_id, truck_type=truck_type, kind="actual",
        price_per_car=price, transit_days=days, staff_id=actor.id, note=note)
    _quote_event(conn, lane, actor=actor, quote_id=quote_id, carrier=carrier["name"],
                 truck_type=truck_type, price_per_car=price, flagged=flagged)
    new_version = _to_quoted(conn, lane, actor)
    write_audit(conn=conn, actor_id=actor.id, action="lgx.quote.record", entity_type=ENTITY,
                entity_id=request_id, before={"status": lane.status},
                after={"quote_id": quote_id, "carrier_id": carrier_id, "truck_type": truck_type,
                       "price_per_car": price, "total": pricing.fen(price * lane.cars),
                       "transit_days": days, "lane_median_per_car": median,
                       "flagged_high": flagged},
                reason=note)
    return Recorded(quote_id=quote_id, flagged_high=flagged, lane_median_per_car=median,
                    version=new_version)


def order(conn: Connection, actor: Actor, /, *, lane: Lane, quote: Any, carrier_name: str,
          load_id: int | None = None) -> Booked:
    """Book ``quote`` for the request (already locked and checked): 已下单 with its carrier,
    truck, cost and the merchant's price; the timeline's moves and one audit row. An
    internal step of the gated services that book (here and console/logistics/loads.py):
    the connection and actor come positionally, as for every such internal."""
    cost = Decimal(quote["total"])
    price = pricing.merchant_price(cost)
    version = db.scalar(conn, """
        UPDATE lgx.requests
        SET status = 'ordered', carrier_id = :c, truck_type = :tt, quote_id = :q,
            cost_from_carrier = :cost, price_to_merchant = :price, ordered_at = :now,
            load_id = coalesce(CAST(:load AS bigint), load_id), version = version + 1
        WHERE id = :id RETURNING version""",
                          c=quote["carrier_id"], tt=quote["truck_type"], q=quote["id"], cost=cost,
                          price=price, now=clock.now(), load=load_id, id=lane.request_id)
    if lane.status == "awaiting_quote":
        timeline_event(conn, request_id=lane.request_id, kind="status", actor_id=actor.id,
                       from_status="awaiting_quote", to_status="quoted")
    timeline_event(conn, request_id=lane.request_id, kind="status", actor_id=actor.id,
                   from_status="quoted", to_status="ordered",
                   note=f"#{quote['id']} · {carrier_name}")
    write_audit(conn=conn, actor_id=actor.id,
                action="lgx.load.book" if load_id is not None else "lgx.quote.book",
                entity_type=ENTITY, entity_id=lane.request_id, before={"status": lane.status},
                after={"status": "ordered", "quote_id": quote["id"],
                       "carrier_id": quote["carrier_id"], "truck_type": quote["truck_type"],
                       "cost_from_carrier": cost, "price_to_merchant": price,
                       "margin": price - cost, "load_id": load_id})
    return Booked(request_id=lane.request_id, quote_id=int(quote["id"]), cost_from_carrier=cost,
                  price_to_merchant=price, margin=price - cost, version=version)


@requires(*DESK)
def book_quote(*, conn: Connection, actor: Actor, request_id: int, version: int,
               quote_id: int) -> Booked:
    """Book a recorded quote of this request: the request is ordered from its carrier."""
    lane = _lane(conn, request_id, lock=True)
    _quotable(lane, version)
    quote = db.fetch_one(conn, "SELECT * FROM lgx.quotes WHERE id = :q AND request_id = :r",
                         q=quote_id, r=request_id)
    if quote is None:
        raise NotFound("lgx.quotes.error.quote_unknown")
    carrier = active_carrier(conn, quote["carrier_id"])
    return order(conn, actor, lane=lane, quote=quote, carrier_name=carrier["name"])


@requires(*DESK)
def book_estimate(*, conn: Connection, actor: Actor, request_id: int, version: int,
                  carrier_id: int, truck_type: str) -> Booked:
    """Book a carrier's estimate: computed again now from its rates (never the form's
    figure), kept as an 'estimate' quote with its price check, then booked."""
    if truck_type not in pricing.TRUCK_TYPES:
        raise InvalidInput("input.choice")
    lane = _lane(conn, request_id, lock=True)
    _quotable(lane, version)
    carrier = active_carrier(conn, carrier_id, lane=lane, truck_type=truck_type)
    est = pricing.estimate(directory_rates.rates_of(conn, [carrier_id])[carrier_id],
                           truck_type=truck_type, km=lane.distance_km, cars=lane.cars)
    if est is None:
        raise Conflict("lgx.quotes.error.no_rate")
    quote_id, flagged, _ = insert_quote(
        conn, lane=lane, carrier_id=carrier_id, truck_type=truck_type, kind="estimate",
        price_per_car=est.price_per_car, transit_days=est.transit_days, staff_id=actor.id)
    _quote_event(conn, lane, actor=actor, quote_id=quote_id, carrier=carrier["name"],
                 truck_type=truck_type, price_per_car=est.price_per_car, flagged=flagged)
    quote = db.fetch_one(conn, "SELECT * FROM lgx.quotes WHERE id = :q", q=quote_id)
    return order(conn, actor, lane=lane, quote=quote, carrier_name=carrier["name"])
