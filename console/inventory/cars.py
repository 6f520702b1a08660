"""What every decision on a stock car starts with: the car locked at the form's version, a
price as staff type it, a buyer that may buy. Not gated itself: the gated services in
prices.py and sales.py call it inside their transaction."""
from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Any

from sqlalchemy.engine import Connection

from console import db
from console.boundary import Text
from console.errors import Conflict, InvalidInput, NotFound
from console.logistics.requests import parse_value

ENTITY = "stock_car"
ACT_ROLES = ("ops", "manager")
# A price as staff type it: 215000, 21.5万, ２１５０００, ¥215,000 (text, as the logistics desk's
# declared value: a number where text is expected is refused at the boundary, like any other).
Price = Annotated[str, Text(max=40)]


def parse_price(value: Any, *, key: str) -> Decimal:
    """A positive amount of whole fen, read as console/logistics/requests.py reads a typed
    value; refused with ``key`` (which names the field) otherwise."""
    try:
        return parse_value(value)
    except InvalidInput:
        raise InvalidInput(key) from None


def locked(conn: Connection, stock_car_id: int, version: int):
    """The car's row under FOR UPDATE; refused when missing or changed since the form."""
    row = db.fetch_one(conn, "SELECT * FROM inv.stock_cars WHERE id = :id FOR UPDATE",
                       id=stock_car_id)
    if row is None:
        raise NotFound("inventory.error.not_found")
    if row["version"] != version:
        raise Conflict("error.stale")
    if row["status"] == "sold":
        raise Conflict("inventory.error.sold")
    return row


def buyer(conn: Connection, merchant_id: int, *, car) -> dict:
    """A merchant that may buy the car: it exists, is active, and is not the car's own
    seller (the platform's merchant that lists it)."""
    row = db.fetch_one(conn, "SELECT id, name, status FROM app.merchants WHERE id = :id",
                       id=merchant_id)
    if row is None:
        raise NotFound("inventory.error.buyer_not_found", id=merchant_id)
    if row["status"] != "active":
        raise InvalidInput("inventory.error.buyer_inactive", name=row["name"])
    seller = db.scalar(conn, "SELECT merchant_id FROM app.listings WHERE id = :l",
                       l=car["listing_id"]) if car["listing_id"] is not None else None
    if seller == merchant_id:
        raise InvalidInput("inventory.error.buyer_is_seller")
    return dict(row)


def bump(conn: Connection, stock_car_id: int, sets: str, **params: Any) -> int:
    """Apply ``sets`` to the car and move its version on; returns the new version."""
    return db.scalar(conn, f"""UPDATE inv.stock_cars SET {sets}, version = version + 1
                               WHERE id = :id RETURNING version""", id=stock_car_id, **params)
