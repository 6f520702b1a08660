"""Reserving a stock car for a buyer, releasing it, selling it.

in_stock → reserved (held for one merchant) → sold; a reservation may be released back to
in_stock, and a car in stock may be sold straight away. Each move locks the car at the
form's version (a stale form is refused: of two people reserving or selling one car at
once, exactly one wins), writes one audit row, and is refused with nothing changed when it
does not apply.

A sale records the sold price, the holding cost of its days in stock (to the Shanghai day of
the sale, console/inventory/holding.py) and the realised margin = sold − cost − holding,
frozen on the row; the car's listing goes to 'sold' in the same transaction. Refused: a car
reserved for another buyer (release it first), a price under the floor (for everyone: a
manager lowers the floor first, a price change with its reason; README "Self-operated
stock"), a buyer that is not an active merchant or is the platform's own merchant.
"""
from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from sqlalchemy.engine import Connection

from console import clock, db, fmt
from console.audit import write_audit
from console.errors import Conflict, InvalidInput
from console.inventory import holding
from console.inventory.cars import ACT_ROLES, ENTITY, Price, bump, buyer, locked, parse_price
from console.inventory.prices import CarState
from console.roles import Actor, requires


def _note(note: str | None) -> str | None:
    return (note or "").strip() or None


@requires(*ACT_ROLES)
def reserve(*, conn: Connection, actor: Actor, stock_car_id: int, version: int,
            merchant_id: int, note: str | None = None) -> CarState:
    """Hold a car in stock for one buyer."""
    car = locked(conn, stock_car_id, version)
    if car["status"] != "in_stock":
        raise Conflict("inventory.error.not_in_stock")
    who = buyer(conn, merchant_id, car=car)
    new_version = bump(conn, stock_car_id, """status = 'reserved', reserved_for = :m,
                       reserved_by = :by, reserved_at = now()""", m=merchant_id, by=actor.id)
    write_audit(conn=conn, actor_id=actor.id, action="stock_car.reserve", entity_type=ENTITY,
                entity_id=stock_car_id, before={"status": car["status"]},
                after={"status": "reserved", "reserved_for": who["id"]}, reason=_note(note))
    return CarState(stock_car_id=stock_car_id, status="reserved", version=new_version)


@requires(*ACT_ROLES)
def release(*, conn: Connection, actor: Actor, stock_car_id: int, version: int,
            note: str | None = None) -> CarState:
    """Put a reserved car back in stock."""
    car = locked(conn, stock_car_id, version)
    if car["status"] != "reserved":
        raise Conflict("inventory.error.not_reserved")
    new_version = bump(conn, stock_car_id, """status = 'in_stock', reserved_for = NULL,
                       reserved_by = NULL, reserved_at = NULL""")
    write_audit(conn=conn, actor_id=actor.id, action="stock_car.release", entity_type=ENTITY,
                entity_id=stock_car_id,
                before={"status": "reserved", "reserved_for": car["reserved_for"]},
                after={"status": "in_stock"}, reason=_note(note))
    return CarState(stock_car_id=stock_car_id, status="in_stock", version=new_version)


def record_order(conn: Connection, *, listing_id: int | None, buyer_id: int, price: Decimal,
                 at: datetime) -> int | None:
    """The sale as a completed deal on the car's listing, sold by the platform's merchant, so
    the deal counts in GMV (its self-operated part: the listing is self-operated) and the
    listing leaves the market. Paid directly, not through escrow: no deposit, no fee.

    One writer for the desk's sale and the demo's sold cars (console/demo/inventory.py), so
    both are the same deal. Both rows are dated ``at``, the sale's moment: the daily KPIs read
    a closed listing's updated_at as the day it left the market. The application roles' rows
    get the database's clock anyway (migration 064's trigger); the demo seed, the tables'
    owner, keeps its history's times, so its content hash holds."""
    if listing_id is None:
        return None
    db.execute(conn, """UPDATE app.listings SET status = 'sold', updated_at = :at
                        WHERE id = :l""", l=listing_id, at=at)
    return db.scalar(conn, """
        INSERT INTO app.orders (listing_id, buyer_id, seller_id, quantity, unit_price, amount,
                                deposit_amount, status, created_at, completed_at, updated_at)
        SELECT l.id, :b, l.merchant_id, 1, :p, :p, 0, 'completed', :at, :at, :at
        FROM app.listings l WHERE l.id = :l
        RETURNING id""", l=listing_id, b=buyer_id, p=price, at=at)


@requires(*ACT_ROLES)
def sell(*, conn: Connection, actor: Actor, stock_car_id: int, version: int, merchant_id: int,
         sold_price: Price, note: str | None = None) -> CarState:
    """Sell the car to a merchant at ``sold_price``; freezes its holding cost and margin."""
    price = parse_price(sold_price, key="inventory.error.bad_sold_price")
    car = locked(conn, stock_car_id, version)
    if car["status"] == "reserved" and car["reserved_for"] != merchant_id:
        held_for = db.scalar(conn, "SELECT name FROM app.merchants WHERE id = :id",
                             id=car["reserved_for"])
        raise Conflict("inventory.error.reserved_for_other", buyer=held_for)
    if price < car["floor_price"]:
        raise InvalidInput("inventory.error.below_floor", price=fmt.yuan(price, digits=2),
                           floor=fmt.yuan(car["floor_price"], digits=2))
    who = buyer(conn, merchant_id, car=car)
    t = holding.terms()
    # One clock for the sale's moment and its days, so the list's days of a sold car (from
    # sold_at) are the days its holding cost was frozen for.
    at = clock.now()
    days = holding.days_in_stock(car["purchase_date"], at.date())
    held = holding.holding_cost(car["purchase_cost"], days, t)
    realised = holding.margin(price, car["purchase_cost"], held)
    order_id = record_order(conn, listing_id=car["listing_id"], buyer_id=merchant_id,
                            price=price, at=at)
    new_version = bump(conn, stock_car_id, """status = 'sold', reserved_for = NULL,
                       reserved_by = NULL, reserved_at = NULL, sold_to = :m, sold_by = :by,
                       sold_at = :at, sold_price = :p, holding_cost = :h,
                       realised_margin = :r, order_id = :o""",
                       m=merchant_id, by=actor.id, at=at, p=price, h=held, r=realised,
                       o=order_id)
    write_audit(conn=conn, actor_id=actor.id, action="stock_car.sell", entity_type=ENTITY,
                entity_id=stock_car_id,
                before={"status": car["status"], "reserved_for": car["reserved_for"],
                        "asking_price": car["asking_price"], "floor_price": car["floor_price"]},
                after={"status": "sold", "sold_to": who["id"], "sold_price": price, "order_id": order_id,
                       "days_in_stock": days, "holding_cost": held, "realised_margin": realised},
                reason=_note(note))
    return CarState(stock_car_id=stock_car_id, status="sold", version=new_version)
