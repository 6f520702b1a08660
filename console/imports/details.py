"""A parallel-import listing's import details (app.listing_imports, migration 109): the market
version it was built for, its port of entry, and whether it is in stock (现车) or a future
arrival (期货) with its expected arrival. The marketplace writes them as the dealer publishes;
ops read them with the listing's VIN reading, "documents missing" and price reference, and
correct them.

A correction is ops' decision: version-checked (a form older than the row is refused with
a clear message), audited with what changed and why, in the caller's transaction. Refused,
each with a catalogue key and nothing written: a market version, port or availability that
is not one of the schema's (a forged form value), a future without its arrival date, a
new arrival date in the past (an unchanged one that has passed since it was entered stays:
the car is late, nobody was wrong), no reason, or nothing changed. An in-stock car has no
arrival date: one sent with it is dropped. An import whose details the marketplace never
wrote is recorded by ops with the form's version 0.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Annotated, Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from console import checks, clock, db
from console.audit import write_audit
from console.boundary import Text
from console.errors import Conflict, InvalidInput, NotFound
from console.imports import prices
from console.imports.status import docs_missing_sql, missing_kinds
from console.roles import Actor, requires

ENTITY = "listing_import"
# The schema's choices (migration 109), in the order the form offers them: Tianjin first,
# by far the largest port of parallel imports.
MARKET_VERSIONS: tuple[str, ...] = ("middle_east", "us", "canada", "europe", "mexico")
PORTS: tuple[str, ...] = ("tianjin", "shanghai", "shenzhen", "guangzhou", "dalian", "qingdao")
AVAILABILITIES: tuple[str, ...] = ("in_stock", "future")
FIELDS = ("market_version", "port", "availability", "expected_arrival")
READ_ROLES = ("ops", "manager")


@dataclass(frozen=True)
class ImportDetails:
    """One parallel-import listing as ops read it. ``version`` 0: no details recorded yet."""

    listing_id: int
    vehicle: str
    merchant_name: str
    price: Any
    vin: str | None
    vin_reason: str | None          # console.checks.vin_reason by the market version
    market_version: str | None
    port: str | None
    availability: str | None
    expected_arrival: date | None
    version: int
    docs_missing: bool
    missing_documents: tuple[str, ...]
    reference: prices.PriceReference | None


_READ = f"""
    SELECT l.id, l.price, l.vin, l.is_parallel_import, m.name AS merchant_name,
           app.vehicle_name(b.name, se.name) || ' ' || t.name AS vehicle,
           li.market_version, li.port, li.availability, li.expected_arrival,
           coalesce(li.version, 0) AS version, {docs_missing_sql("l")} AS docs_missing,
           ARRAY(SELECT d.doc_kind FROM app.import_documents d
                 WHERE d.listing_id = l.id AND d.status = 'approved') AS approved
    FROM app.listings l
    JOIN app.merchants m ON m.id = l.merchant_id
    JOIN app.trims t ON t.id = l.trim_id JOIN app.series se ON se.id = t.series_id
    JOIN app.brands b ON b.id = se.brand_id
    LEFT JOIN app.listing_imports li ON li.listing_id = l.id
    WHERE l.id = :id"""


def _listing_id(value: Any) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise InvalidInput("imports.listing.error.bad_form_value")
    return value


@requires(*READ_ROLES)
def get_import_details(*, conn: Connection, actor: Actor, listing_id: int) -> ImportDetails:
    """The listing's import details; NotFound for no listing, InvalidInput for a listing
    that is not a parallel import (it has no import details)."""
    row = db.fetch_one(conn, _READ, id=_listing_id(listing_id))
    if row is None:
        raise NotFound("imports.listing.error.not_found")
    if not row["is_parallel_import"]:
        raise InvalidInput("imports.listing.error.not_import")
    vin_reason = (checks.vin_reason(row["vin"], market_version=row["market_version"])
                  if row["vin"] is not None else None)
    return ImportDetails(
        listing_id=row["id"], vehicle=row["vehicle"], merchant_name=row["merchant_name"],
        price=row["price"], vin=row["vin"], vin_reason=vin_reason,
        market_version=row["market_version"], port=row["port"],
        availability=row["availability"], expected_arrival=row["expected_arrival"],
        version=int(row["version"]), docs_missing=bool(row["docs_missing"]),
        missing_documents=tuple(missing_kinds(set(row["approved"] or ()))),
        reference=prices.listing_reference(conn, listing_id=row["id"]))


def check_details(*, market_version: Any, port: Any, availability: Any,
                  expected_arrival: Any) -> dict[str, Any]:
    """The form's values as the row stores them, or InvalidInput naming the first problem
    (the date's "not in the past" rule needs the stored row: correct_import_details)."""
    if market_version not in MARKET_VERSIONS:
        raise InvalidInput("imports.listing.error.unknown_market")
    if port not in PORTS:
        raise InvalidInput("imports.listing.error.unknown_port")
    if availability not in AVAILABILITIES:
        raise InvalidInput("imports.listing.error.unknown_availability")
    if availability == "in_stock":
        expected_arrival = None
    elif expected_arrival is None:
        raise InvalidInput("imports.listing.error.future_needs_date")
    elif not isinstance(expected_arrival, date):
        raise InvalidInput("imports.listing.error.bad_form_value")
    return {"market_version": market_version, "port": port, "availability": availability,
            "expected_arrival": expected_arrival}


@requires("ops")
def correct_import_details(*, conn: Connection, actor: Actor, listing_id: int, version: int,
                           market_version: str, port: str, availability: str,
                           expected_arrival: date | None = None,
                           reason: Annotated[str, Text(max=500)] = "") -> int:
    """Correct (or, at version 0, record) a parallel import's details; returns the new
    version. Refusals: module doc."""
    listing_id = _listing_id(listing_id)
    if not isinstance(version, int) or isinstance(version, bool) or version < 0:
        raise InvalidInput("imports.listing.error.bad_form_value")
    new = check_details(market_version=market_version, port=port, availability=availability,
                        expected_arrival=expected_arrival)
    reason = (reason or "").strip()
    if not reason:
        raise InvalidInput("imports.listing.error.reason_required")
    listing = db.fetch_one(conn, """SELECT id, is_parallel_import FROM app.listings
                                    WHERE id = :id FOR NO KEY UPDATE""", id=listing_id)
    if listing is None:
        raise NotFound("imports.listing.error.not_found")
    if not listing["is_parallel_import"]:
        raise InvalidInput("imports.listing.error.not_import")
    before = db.fetch_one(conn, f"""SELECT {", ".join(FIELDS)}, version
                                    FROM app.listing_imports WHERE listing_id = :id
                                    FOR UPDATE""", id=listing_id)
    if (before["version"] if before is not None else 0) != version:
        raise Conflict("imports.listing.error.stale")
    old = {f: before[f] for f in FIELDS} if before is not None else dict.fromkeys(FIELDS)
    arrival = new["expected_arrival"]
    if (arrival is not None and arrival < clock.today()
            and (arrival, "future") != (old["expected_arrival"], old["availability"])):
        raise InvalidInput("imports.listing.error.arrival_in_past",
                           day=arrival.isoformat(), today=clock.today().isoformat())
    changed = [f for f in FIELDS if new[f] != old[f]]
    if not changed:
        raise InvalidInput("imports.listing.error.no_change")
    new_version = _write(conn, listing_id=listing_id, version=version, values=new)
    write_audit(conn=conn, actor_id=actor.id, action="listing_import.correct", entity_type=ENTITY,
                entity_id=listing_id,
                before={f: _plain(old[f]) for f in changed},
                after={**{f: _plain(new[f]) for f in changed}, "version": new_version},
                reason=reason)
    return new_version


def _plain(value: Any) -> Any:
    return value.isoformat() if isinstance(value, date) else value


def _write(conn: Connection, *, listing_id: int, version: int, values: dict[str, Any]) -> int:
    if version > 0:
        return int(db.scalar(conn, """
            UPDATE app.listing_imports
            SET market_version = :market_version, port = :port, availability = :availability,
                expected_arrival = :expected_arrival, version = version + 1
            WHERE listing_id = :id AND version = :v
            RETURNING version""", id=listing_id, v=version, **values))
    try:
        with conn.begin_nested():   # another ops member recorded them first: a stale form
            return int(db.scalar(conn, """
                INSERT INTO app.listing_imports (listing_id, market_version, port,
                                                 availability, expected_arrival)
                VALUES (:id, :market_version, :port, :availability, :expected_arrival)
                RETURNING version""", id=listing_id, **values))
    except sa.exc.IntegrityError:
        raise Conflict("imports.listing.error.stale") from None
