"""Changing a stock car's asking and floor price (a markdown, a correction), with a reason.

One change: the car locked at the form's version (a stale form is refused), the new prices
on it and on its live listing (the marketplace shows the asking price), one row in
inv.price_changes (before and after, who, why) and one audit row, in the caller's
transaction. Refused with nothing changed: a price that is not a positive amount, a floor
above the asking price, no reason, prices equal to the current ones, a sold car, and a floor
lowered by anyone but a manager: the floor is what the platform will not sell under, so
ops may mark a car down to it, and only a manager moves it (README "Self-operated stock").
"""
from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.engine import Connection

from console import db, fmt
from console.audit import write_audit
from console.errors import InvalidInput, PermissionDenied
from console.inventory.cars import ACT_ROLES, ENTITY, Price, bump, locked, parse_price
from console.roles import Actor, requires


@dataclass(frozen=True)
class CarState:
    stock_car_id: int
    status: str
    version: int


@requires(*ACT_ROLES)
def change_prices(*, conn: Connection, actor: Actor, stock_car_id: int, version: int,
                  asking_price: Price, floor_price: Price, reason: str) -> CarState:
    """Set the car's asking and floor price; returns its new state."""
    asking = parse_price(asking_price, key="inventory.error.bad_asking")
    floor = parse_price(floor_price, key="inventory.error.bad_floor")
    if floor > asking:
        raise InvalidInput("inventory.error.floor_above_asking", floor=fmt.yuan(floor, digits=2),
                           asking=fmt.yuan(asking, digits=2))
    why = (reason or "").strip()
    if not why:
        raise InvalidInput("inventory.error.reason_required")
    car = locked(conn, stock_car_id, version)
    if asking == car["asking_price"] and floor == car["floor_price"]:
        raise InvalidInput("inventory.error.no_change")
    if floor < car["floor_price"] and not actor.has("manager"):
        raise PermissionDenied("inventory.error.floor_needs_manager",
                               floor=fmt.yuan(car["floor_price"], digits=2))
    new_version = bump(conn, stock_car_id, "asking_price = :a, floor_price = :f",
                       a=asking, f=floor)
    db.execute(conn, """
        INSERT INTO inv.price_changes (stock_car_id, asking_before, asking_after, floor_before,
                                       floor_after, reason, changed_by)
        VALUES (:id, :ab, :aa, :fb, :fa, :why, :by)""",
               id=stock_car_id, ab=car["asking_price"], aa=asking, fb=car["floor_price"],
               fa=floor, why=why, by=actor.id)
    if car["listing_id"] is not None:
        db.execute(conn, """UPDATE app.listings SET price = :a, updated_at = clock_timestamp()
                            WHERE id = :l AND status = 'live'""", a=asking, l=car["listing_id"])
    write_audit(conn=conn, actor_id=actor.id, action="stock_car.reprice", entity_type=ENTITY,
                entity_id=stock_car_id,
                before={"asking_price": car["asking_price"], "floor_price": car["floor_price"]},
                after={"asking_price": asking, "floor_price": floor}, reason=why)
    return CarState(stock_car_id=stock_car_id, status=car["status"], version=new_version)
