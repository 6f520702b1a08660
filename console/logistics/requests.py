"""Transport requests (运输需求): one or more cars, by VIN or by trim and quantity, from a city
to another, ready on a day and wanted by another, with a declared value for insurance.

Three ways in (``lgx.requests.source``):

- ``submit_request`` — the merchant, on the marketplace side (no staff actor; the demo and
  the tests use it as the marketplace would);
- ``create_from_deal`` — a deal card at 已付定金 (deposit_paid) whose buyer and seller are
  in different cities: BD (the card's owner) or a manager arranges transport, the form
  prefilled by ``deal_transport`` (the buyer moves the car it bought from the seller's
  city to its own); one live request per deal (the unique index
  ``lgx.requests_one_per_deal``: a double click is one request, the other refused);
- ``create_request`` — entered by the logistics desk (ops) for a merchant.

Refused, each with a catalogue key and nothing written: cars that are not the merchant's to
move (a VIN or listing must be its own listing's, or on an order where it is the buyer or
the seller; a trim and quantity must be of a trim it lists or has an order of), a to city
equal to the from city, a wanted-by date before the ready date, no cars or more than 100, a
declared value that is not a positive amount, a merchant that is not active. Text is checked
by the one boundary (console/boundary.py: NUL and other control characters, bidirectional
overrides, length), for the merchant's entry point too; a VIN is read as staff type it
(full-width letters and digits, lower case, spaces: ``console.checks.normalise_code``, the
rule of migration 068), then must be 17 characters of the VIN alphabet. A declared value
typed as text may be '120000', '120,000.00', '¥120,000', '12万' or full-width '１２万'
(NFKC), at most two decimals of a yuan.

Every request writes its 'created' event on the timeline (lgx.request_events) and one
audit row, in the caller's transaction.
"""
from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal, InvalidOperation
from typing import Annotated, Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from console import boundary, checks, clock, db
from console.audit import write_audit
from console.boundary import Text
from console.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from console.roles import Actor, requires

ENTITY = "transport_request"
SOURCES = ("merchant", "deal", "ops")
MAX_CARS = 100                                  # lgx.requests.cars CHECK
CENT = Decimal("0.01")
WAN = Decimal("10000")
MAX_VALUE = Decimal("999999999999.99")          # numeric(14,2)
VIN_FORMAT = re.compile(r"[A-HJ-NPR-Z0-9]{17}")
# A value as staff type it, after NFKC: digits with or without thousands commas, a fraction,
# an optional 万 (or w) and 元.
_VALUE = re.compile(r"(?P<num>(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?)(?P<wan>[万wW])?元?",
                    re.ASCII)
# How long after the ready day the deal form proposes as wanted-by: a long lane's transit.
DEAL_WANTED_DAYS = 7


@dataclass(frozen=True)
class CarLine:
    """One line of a request's cars: a VIN (one car), or a trim and a quantity.
    ``listing_id``: the listing the car comes from, when known."""

    vin: Annotated[str, Text(max=40)] | None = None
    trim_id: int | None = None
    quantity: int = 1
    listing_id: int | None = None


@dataclass(frozen=True)
class Created:
    request_id: int
    version: int
    cars: int


# ---------------------------------------------------------------- reading what was typed
def parse_value(value: Any) -> Decimal:
    """A declared value in yuan: a Decimal or int, or text as staff type it (module doc).
    InvalidInput('lgx.error.bad_value') unless a positive amount of whole fen."""
    if isinstance(value, bool):
        raise InvalidInput("lgx.error.bad_value")
    if isinstance(value, str):
        text = unicodedata.normalize("NFKC", value).strip().removeprefix("¥").strip()
        match = _VALUE.fullmatch(text)
        if match is None:
            raise InvalidInput("lgx.error.bad_value")
        try:
            amount = Decimal(match["num"].replace(",", ""))
        except InvalidOperation:          # pragma: no cover - the pattern admits digits only
            raise InvalidInput("lgx.error.bad_value") from None
        if match["wan"]:
            amount *= WAN
    elif isinstance(value, (int, Decimal)):
        amount = Decimal(value)
    elif isinstance(value, float):
        amount = Decimal(str(value))
    else:
        raise InvalidInput("lgx.error.bad_value")
    if not amount.is_finite() or amount <= 0 or amount > MAX_VALUE:
        raise InvalidInput("lgx.error.bad_value")
    if amount != amount.quantize(CENT, rounding="ROUND_DOWN"):
        raise InvalidInput("lgx.error.bad_value")
    return amount.quantize(CENT)


def normalise_vin(vin: str) -> str:
    """The VIN as read (full-width, lower case and spaces as typed); InvalidInput
    ('lgx.error.vin_format') unless 17 characters of the VIN alphabet (no I, O, Q)."""
    read = checks.normalise_code(unicodedata.normalize("NFKC", vin)) or ""
    read = read.strip()
    if not VIN_FORMAT.fullmatch(read):
        raise InvalidInput("lgx.error.vin_format", vin=vin.strip()[:20])
    return read


def _text(value: str | None) -> str | None:
    return (value or "").strip() or None


# ---------------------------------------------------------------- the checks
_LISTING = """SELECT l.id, l.merchant_id, l.trim_id, l.vin, l.quantity, l.city_id
              FROM app.listings l WHERE l.id = :id"""

# The merchant moves a listing's car when the listing is its own, or when it is the buyer
# or the seller of an order on it that has not fallen through.
_MOVES_LISTING = """(l.merchant_id = :m OR EXISTS (
    SELECT 1 FROM app.orders o WHERE o.listing_id = l.id AND o.status <> 'cancelled'
      AND (o.buyer_id = :m OR o.seller_id = :m)))"""


def _merchant(conn: Connection, merchant_id: int):
    row = db.fetch_one(conn, "SELECT id, name, status, city_id FROM app.merchants WHERE id = :id",
                       id=merchant_id)
    if row is None:
        raise NotFound("lgx.error.merchant_unknown")
    if row["status"] != "active":
        raise Conflict("lgx.error.merchant_not_active", merchant=row["name"])
    return row


def _check_lane_and_dates(conn: Connection, *, from_city_id: int, to_city_id: int,
                          ready_date: date, wanted_by: date) -> None:
    if from_city_id == to_city_id:
        raise InvalidInput("lgx.error.same_city")
    if wanted_by < ready_date:
        raise InvalidInput("lgx.error.wanted_before_ready")
    known = db.scalar(conn, "SELECT count(*) FROM app.cities WHERE id IN (:a, :b)",
                      a=from_city_id, b=to_city_id)
    if known != 2:
        raise NotFound("lgx.error.city_unknown")


def check_cars(conn: Connection, *, merchant_id: int,
               cars: tuple[CarLine, ...] | list[CarLine]) -> list[dict[str, Any]]:
    """The request's car lines, each resolved to (vin, trim_id, quantity, listing_id), or
    InvalidInput naming the first car that is not the merchant's to move (module doc)."""
    if not cars:
        raise InvalidInput("lgx.error.no_cars")
    resolved: list[dict[str, Any]] = []
    vins: set[str] = set()
    for car in cars:
        if not isinstance(car, CarLine):
            raise InvalidInput("lgx.error.no_cars")
        vin = normalise_vin(car.vin) if _text(car.vin) else None
        quantity = car.quantity
        if not 1 <= quantity <= MAX_CARS:
            raise InvalidInput("lgx.error.too_many_cars", max=MAX_CARS)
        if vin is not None and quantity != 1:
            raise InvalidInput("lgx.error.vin_one_car")
        if vin is None and car.trim_id is None and car.listing_id is None:
            raise InvalidInput("lgx.error.car_incomplete")
        if vin is not None:
            if vin in vins:
                raise InvalidInput("lgx.error.vin_twice", vin=vin)
            vins.add(vin)
        if car.listing_id is not None:
            listing = db.fetch_one(conn, f"""{_LISTING} AND {_MOVES_LISTING}""",
                                   id=car.listing_id, m=merchant_id)
            if listing is None:
                raise InvalidInput("lgx.error.car_not_merchants", car=f"#{car.listing_id}")
            if vin is not None and listing["vin"] and checks.normalise_code(listing["vin"]) != vin:
                raise InvalidInput("lgx.error.car_not_merchants", car=vin)
            if car.trim_id is not None and car.trim_id != listing["trim_id"]:
                raise InvalidInput("lgx.error.car_trim_mismatch", car=f"#{car.listing_id}")
            if quantity > listing["quantity"]:
                raise InvalidInput("lgx.error.more_than_listing", car=f"#{car.listing_id}",
                                   n=listing["quantity"])
            resolved.append({"vin": vin, "trim_id": listing["trim_id"], "quantity": quantity,
                             "listing_id": listing["id"]})
        elif vin is not None:
            # The first listing of the VIN as read that the merchant moves (its own first).
            listing = db.fetch_one(conn, f"""
                SELECT l.id, l.trim_id FROM app.listings l
                WHERE app.normalise_code(l.vin) = :vin AND {_MOVES_LISTING}
                ORDER BY (l.merchant_id = :m) DESC, l.published_at DESC, l.id DESC
                LIMIT 1""", vin=vin, m=merchant_id)
            if listing is None:
                raise InvalidInput("lgx.error.car_not_merchants", car=vin)
            if car.trim_id is not None and car.trim_id != listing["trim_id"]:
                raise InvalidInput("lgx.error.car_trim_mismatch", car=vin)
            resolved.append({"vin": vin, "trim_id": listing["trim_id"], "quantity": 1,
                             "listing_id": listing["id"]})
        else:
            moves = db.scalar(conn, f"""
                SELECT EXISTS (SELECT 1 FROM app.listings l
                               WHERE l.trim_id = :t AND {_MOVES_LISTING})""",
                              t=car.trim_id, m=merchant_id)
            if not moves:
                raise InvalidInput("lgx.error.car_not_merchants", car=_trim_name(conn, car.trim_id))
            resolved.append({"vin": None, "trim_id": car.trim_id, "quantity": quantity,
                             "listing_id": None})
    if sum(c["quantity"] for c in resolved) > MAX_CARS:
        raise InvalidInput("lgx.error.too_many_cars", max=MAX_CARS)
    return resolved


def _trim_name(conn: Connection, trim_id: int) -> str:
    name = db.scalar(conn, """SELECT app.vehicle_name(b.name, s.name) || ' ' || t.name
                              FROM app.trims t JOIN app.series s ON s.id = t.series_id
                              JOIN app.brands b ON b.id = s.brand_id WHERE t.id = :t""",
                     t=trim_id)
    return name or f"#{trim_id}"


# ---------------------------------------------------------------- writing one
def _insert(conn: Connection, *, staff_id: int | None, source: str, merchant_id: int,
            from_city_id: int, to_city_id: int, ready_date: date, wanted_by: date,
            declared_value: Decimal, cars: list[dict[str, Any]], match_id: int | None,
            order_id: int | None, note: str | None) -> Created:
    total = sum(c["quantity"] for c in cars)
    try:
        with conn.begin_nested():
            request_id = db.scalar(conn, """
                INSERT INTO lgx.requests (merchant_id, source, match_id, order_id, from_city_id,
                                          to_city_id, ready_date, wanted_by, declared_value,
                                          cars, created_by)
                VALUES (:m, :src, :match, :o, :f, :t, :ready, :wanted, :v, :cars, :by)
                RETURNING id""", m=merchant_id, src=source, match=match_id, o=order_id,
                                    f=from_city_id, t=to_city_id, ready=ready_date,
                                    wanted=wanted_by, v=declared_value, cars=total, by=staff_id)
    except sa.exc.IntegrityError as err:   # the deal's other click committed first
        constraint = getattr(getattr(err.orig, "diag", None), "constraint_name", None)
        if constraint == "requests_one_per_deal":
            raise Conflict("lgx.error.deal_has_request") from None
        raise
    for car in cars:
        db.execute(conn, """
            INSERT INTO lgx.request_cars (request_id, vin, trim_id, quantity, listing_id)
            VALUES (:r, :vin, :t, :q, :l)""", r=request_id, vin=car["vin"], t=car["trim_id"],
                   q=car["quantity"], l=car["listing_id"])
    db.execute(conn, """
        INSERT INTO lgx.request_events (request_id, kind, to_status, note, actor_id)
        VALUES (:r, 'created', 'awaiting_quote', :n, :a)""", r=request_id, n=note, a=staff_id)
    write_audit(conn=conn, actor_id=staff_id, action="lgx.request.create", entity_type="transport_request",
                entity_id=request_id,
                after={"merchant_id": merchant_id, "source": source, "match_id": match_id,
                       "order_id": order_id, "from_city_id": from_city_id,
                       "to_city_id": to_city_id, "ready_date": ready_date,
                       "wanted_by": wanted_by, "declared_value": declared_value,
                       "cars": total, "lines": cars},
                reason=note)
    return Created(request_id=request_id, version=1, cars=total)


def _create(conn: Connection, *, staff_id: int | None, source: str, merchant_id: int,
            from_city_id: int, to_city_id: int, ready_date: date, wanted_by: date,
            declared_value: Any, cars, order_id: int | None, note: str | None) -> Created:
    _check_lane_and_dates(conn, from_city_id=from_city_id, to_city_id=to_city_id,
                          ready_date=ready_date, wanted_by=wanted_by)
    value = parse_value(declared_value)
    _merchant(conn, merchant_id)
    if order_id is not None and not db.scalar(conn, """
            SELECT 1 FROM app.orders WHERE id = :o AND (buyer_id = :m OR seller_id = :m)""",
                                              o=order_id, m=merchant_id):
        raise InvalidInput("lgx.error.order_not_merchants", order=order_id)
    resolved = check_cars(conn, merchant_id=merchant_id, cars=cars)
    return _insert(conn, staff_id=staff_id, source=source, merchant_id=merchant_id,
                   from_city_id=from_city_id, to_city_id=to_city_id, ready_date=ready_date,
                   wanted_by=wanted_by, declared_value=value, cars=resolved, match_id=None,
                   order_id=order_id, note=_text(note))


def submit_request(*, conn: Connection, merchant_id: int, from_city_id: int, to_city_id: int,
                   ready_date: date, wanted_by: date, declared_value: Decimal | str,
                   cars: tuple[CarLine, ...], note: str | None = None) -> Created:
    """The marketplace's write (no staff actor): a merchant asks to move its cars. Its
    arguments pass the same boundary as a gated call's."""
    args = boundary.check_arguments(submit_request, {
        "merchant_id": merchant_id, "from_city_id": from_city_id, "to_city_id": to_city_id,
        "ready_date": ready_date, "wanted_by": wanted_by, "declared_value": declared_value,
        "cars": cars, "note": note})
    return _create(conn, staff_id=None, source="merchant", order_id=None, **args)


@requires("ops")
def create_request(*, conn: Connection, actor: Actor, merchant_id: int, from_city_id: int,
                   to_city_id: int, ready_date: date, wanted_by: date, declared_value: str,
                   cars: tuple[CarLine, ...], order_id: int | None = None,
                   note: str | None = None) -> Created:
    """The desk enters a request for a merchant (by phone, by WeChat), optionally for one of
    its orders (the merchant must be its buyer or seller). The declared value is the text
    the person typed ('12万', '120,000'): a staff form's amount is typed text at the
    boundary, as a manual credit line's is."""
    return _create(conn, staff_id=actor.id, source="ops", merchant_id=merchant_id,
                   from_city_id=from_city_id, to_city_id=to_city_id, ready_date=ready_date,
                   wanted_by=wanted_by, declared_value=declared_value, cars=cars,
                   order_id=order_id, note=note)


# ---------------------------------------------------------------- from a deal
@dataclass(frozen=True)
class DealTransport:
    """What a deal card's "arrange transport" form is prefilled with, and whether it may be
    offered (``refusal``: None, or the catalogue key saying why not)."""

    match_id: int
    merchant_id: int           # the buyer: it moves the car it bought
    merchant: str
    seller: str
    from_city_id: int          # the listing's (seller's) city
    from_city: str
    to_city_id: int            # the request's (buyer's) city
    to_city: str
    stage: str
    car: str                   # the series and trim, for the form's caption
    quantity: int
    listing_id: int
    trim_id: int
    vin: str | None
    declared_value: Decimal
    order_id: int | None
    ready_date: date
    wanted_by: date
    live_request_id: int | None
    may_work: bool
    refusal: str | None


_DEAL = """
    SELECT m.id, m.stage, m.owner_id, m.deal_value, r.merchant_id, buyer.name AS merchant,
           buyer.status AS merchant_status, seller.name AS seller,
           l.id AS listing_id, l.trim_id, l.vin, l.price, l.city_id AS from_city_id,
           fc.name AS from_city, r.city_id AS to_city_id, tc.name AS to_city,
           least(r.quantity, l.quantity) AS quantity,
           app.vehicle_name(b.name, s.name) || ' ' || t.name AS car,
           (SELECT o.id FROM app.orders o WHERE o.match_id = m.id AND o.status <> 'cancelled'
            ORDER BY o.created_at DESC, o.id DESC LIMIT 1) AS order_id,
           (SELECT q.id FROM lgx.requests q WHERE q.match_id = m.id AND q.status <> 'cancelled'
            LIMIT 1) AS live_request_id
    FROM ops.matches m
    JOIN app.requests r ON r.id = m.request_id
    JOIN app.listings l ON l.id = m.listing_id
    JOIN app.trims t ON t.id = l.trim_id
    JOIN app.series s ON s.id = t.series_id
    JOIN app.brands b ON b.id = s.brand_id
    JOIN app.merchants buyer ON buyer.id = r.merchant_id
    JOIN app.merchants seller ON seller.id = l.merchant_id
    JOIN app.cities fc ON fc.id = l.city_id
    JOIN app.cities tc ON tc.id = r.city_id
    WHERE m.id = :id"""


def _deal(conn: Connection, actor: Actor, match_id: int, *, lock: bool = False) -> DealTransport:
    if lock:     # one "arrange transport" of a deal at a time (the index holds it anyway)
        db.execute(conn, "SELECT 1 FROM ops.matches WHERE id = :id FOR UPDATE", id=match_id)
    row = db.fetch_one(conn, _DEAL, id=match_id)
    if row is None:
        raise NotFound("lgx.error.deal_unknown")
    quantity = int(row["quantity"])
    vin = None
    if quantity == 1 and row["vin"]:
        read = checks.normalise_code(row["vin"]) or ""
        vin = read if VIN_FORMAT.fullmatch(read) else None   # a malformed VIN stays off
    value = Decimal(row["deal_value"] or 0)
    if value <= 0:
        value = Decimal(row["price"]) * quantity
    refusal = None
    if row["stage"] != "deposit_paid":
        refusal = "lgx.error.deal_not_deposit_paid"
    elif row["from_city_id"] == row["to_city_id"]:
        refusal = "lgx.error.deal_same_city"
    elif row["live_request_id"] is not None:
        refusal = "lgx.error.deal_has_request"
    today = clock.today()
    return DealTransport(
        match_id=row["id"], merchant_id=row["merchant_id"], merchant=row["merchant"],
        seller=row["seller"], from_city_id=row["from_city_id"], from_city=row["from_city"],
        to_city_id=row["to_city_id"], to_city=row["to_city"], stage=row["stage"],
        car=row["car"], quantity=quantity, listing_id=row["listing_id"],
        trim_id=row["trim_id"], vin=vin, declared_value=value.quantize(CENT),
        order_id=row["order_id"], ready_date=today,
        wanted_by=today + timedelta(days=DEAL_WANTED_DAYS),
        live_request_id=row["live_request_id"],
        may_work=row["owner_id"] == actor.id or actor.has("manager"), refusal=refusal)


@requires("bd", "manager")
def deal_transport(*, conn: Connection, actor: Actor, match_id: int) -> DealTransport:
    """The deal card's transport form, prefilled: the buyer moves the car from the seller's
    city (the listing's) to its own (the request's), the deal's value declared, ready today
    and wanted within a week; ``refusal`` says why it is not offered."""
    return _deal(conn, actor, match_id)


@requires("bd", "manager")
def create_from_deal(*, conn: Connection, actor: Actor, match_id: int, ready_date: date,
                     wanted_by: date, declared_value: str,
                     note: str | None = None) -> Created:
    """"Arrange transport" on a deal card: the card's owner (or a manager) asks the desk to
    move the deal's car for the buyer. Refused: a deal not at 已付定金, buyer and seller in
    one city, a live request for the deal already (a second click), not the person's card."""
    deal = _deal(conn, actor, match_id, lock=True)
    if not deal.may_work:
        raise PermissionDenied("lgx.error.not_your_deal")
    if deal.refusal is not None:
        raise (InvalidInput if deal.refusal == "lgx.error.deal_same_city" else Conflict)(
            deal.refusal)
    _check_lane_and_dates(conn, from_city_id=deal.from_city_id, to_city_id=deal.to_city_id,
                          ready_date=ready_date, wanted_by=wanted_by)
    value = parse_value(declared_value)
    _merchant(conn, deal.merchant_id)
    cars = [{"vin": deal.vin, "trim_id": deal.trim_id, "quantity": deal.quantity,
             "listing_id": deal.listing_id}]
    return _insert(conn, staff_id=actor.id, source="deal", merchant_id=deal.merchant_id,
                   from_city_id=deal.from_city_id, to_city_id=deal.to_city_id,
                   ready_date=ready_date, wanted_by=wanted_by, declared_value=value, cars=cars,
                   match_id=match_id, order_id=deal.order_id, note=_text(note))
