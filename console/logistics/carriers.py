"""The carrier directory (承运商): who moves the cars, on which lanes, on which trucks, at what
price per car by distance band, with what insurance cover and whom to call.

A lane is a province pair (干线 are sold province to province: a carrier serving 上海市 →
四川省 takes any city of one to any city of the other). Rates are per truck type and standard
distance band (console/logistics/geo.py ``BANDS``; pricing.py has the arithmetic). A
suspended carrier is offered no estimate, can have no quote recorded or booked and gets no
load; its history stays.

The desk (ops) edits; managers read. A carrier's phone is personal data: shown to the roles
that call carriers (console/masking.py), masked for the others. Every change is made on the
carrier row locked (FOR UPDATE) at the version the form was loaded with (a stale form is
refused), bumps the version and writes one audit row in the caller's transaction. No row is
deleted (sql/grants.sql): a lane a carrier stops serving is marked inactive (migration 106).
"""
from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal

import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from console import boundary, db, masking
from console.audit import write_audit
from console.errors import Conflict, InvalidInput, NotFound
from console.logistics import geo, pricing, scores
from console.roles import Actor, requires

DESK = ("ops",)
READERS = ("ops", "manager")
STATUSES = ("active", "suspended")
ENTITY = "carrier"
_PHONE = re.compile(r"[0-9+-]{5,20}")


@dataclass(frozen=True)
class CarrierView:
    carrier: dict
    lanes: pd.DataFrame      # from_province, to_province (active lanes)
    rates: pd.DataFrame      # truck_type, band_from_km, band_to_km, yuan_per_car_km, min_per_car
    score: scores.CarrierScore | None = None   # console/logistics/scores.py


# ---------------------------------------------------------------- reads
@requires(*READERS)
def list_carriers(*, conn: Connection, actor: Actor, status: str | None = None,
                  query: str = "") -> pd.DataFrame:
    """The directory, active first then by name: lanes served, truck types, cover, contact
    (phone masked for roles that do not call carriers)."""
    if status is not None and status not in STATUSES:
        raise InvalidInput("input.choice")
    df = db.fetch_df(conn, """
        SELECT c.id, c.name, c.status, c.truck_types, c.cover_per_car, c.contact_name,
               c.contact_phone AS phone,
               (SELECT count(*) FROM lgx.carrier_lanes l
                WHERE l.carrier_id = c.id AND l.active) AS lanes,
               c.updated_at, c.version
        FROM lgx.carriers c
        WHERE (CAST(:status AS text) IS NULL OR c.status = :status)
          AND (:q = '' OR c.name ILIKE :pattern ESCAPE '\\'
               OR c.contact_name ILIKE :pattern ESCAPE '\\')
        ORDER BY c.status = 'suspended', c.name""",
                     status=status, q=query.strip(),
                     pattern=boundary.like_contains(query.strip()))
    board = scores.carrier_scores(conn, carrier_ids=df["id"].tolist()) if len(df) else {}
    df["score"] = [board[c].score if c in board else None for c in df["id"]]
    df["on_time_rate"] = [board[c].on_time_rate if c in board else None for c in df["id"]]
    df["delivered"] = [board[c].delivered if c in board else 0 for c in df["id"]]
    return masking.mask_frame(df, actor)


@requires(*READERS)
def get_carrier(*, conn: Connection, actor: Actor, carrier_id: int) -> CarrierView:
    row = db.fetch_one(conn, """
        SELECT id, name, status, truck_types, cover_per_car, contact_name, contact_phone,
               created_at, updated_at, version
        FROM lgx.carriers WHERE id = :id""", id=carrier_id)
    if row is None:
        raise NotFound("lgx.carriers.error.not_found")
    carrier = dict(row)
    carrier["contact_phone"] = masking.phone_for(actor, carrier["contact_phone"])
    lanes = db.fetch_df(conn, """
        SELECT from_province, to_province FROM lgx.carrier_lanes
        WHERE carrier_id = :id AND active ORDER BY from_province, to_province""", id=carrier_id)
    rates = db.fetch_df(conn, """
        SELECT truck_type, band_from_km, band_to_km, yuan_per_car_km, min_per_car
        FROM lgx.carrier_rates WHERE carrier_id = :id
        ORDER BY array_position(ARRAY['large','small','single'], truck_type), band_from_km""",
                        id=carrier_id)
    return CarrierView(carrier=carrier, lanes=lanes, rates=rates,
                       score=scores.carrier_scores(conn, carrier_ids=[carrier_id]).get(carrier_id))


@requires(*READERS)
def provinces(*, conn: Connection, actor: Actor) -> list[str]:
    """The provinces of the cities the platform knows (a lane's two ends)."""
    return [r["province"] for r in db.fetch_all(
        conn, "SELECT DISTINCT province FROM app.cities ORDER BY province")]


def rates_of(conn: Connection, carrier_ids: Sequence[int]) -> dict[int, list[pricing.Rate]]:
    """The rates of the carriers asked for, by carrier (pricing.Rate)."""
    out: dict[int, list[pricing.Rate]] = {int(c): [] for c in carrier_ids}
    if not out:
        return out
    for r in db.fetch_all(conn, """
            SELECT carrier_id, truck_type, band_from_km, band_to_km, yuan_per_car_km, min_per_car
            FROM lgx.carrier_rates WHERE carrier_id = ANY(CAST(:ids AS bigint[]))""",
                          ids=list(out)):
        out[int(r["carrier_id"])].append(pricing.Rate(
            truck_type=r["truck_type"], band_from_km=int(r["band_from_km"]),
            band_to_km=None if r["band_to_km"] is None else int(r["band_to_km"]),
            yuan_per_car_km=Decimal(r["yuan_per_car_km"]), min_per_car=Decimal(r["min_per_car"])))
    return out


# ---------------------------------------------------------------- checks of a form
def _clean_fields(carrier_name: str, contact_name: str, contact_phone: str,
                  truck_types: Sequence[str], cover_per_car: str) -> dict:
    name, contact, phone = carrier_name.strip(), contact_name.strip(), contact_phone.strip()
    if not 1 <= len(name) <= 80:
        raise InvalidInput("lgx.carriers.error.name")
    if not 1 <= len(contact) <= 40:
        raise InvalidInput("lgx.carriers.error.contact_name")
    if not _PHONE.fullmatch(phone):
        raise InvalidInput("lgx.carriers.error.phone")
    types = [t for t in pricing.TRUCK_TYPES if t in set(truck_types)]
    if not types or len(types) != len(set(truck_types)):
        raise InvalidInput("lgx.carriers.error.truck_types")
    cover = pricing.parse_yuan(cover_per_car)
    if cover is None:
        raise InvalidInput("lgx.carriers.error.cover")
    return {"name": name, "contact_name": contact, "contact_phone": phone,
            "truck_types": types, "cover_per_car": cover}


def _locked(conn: Connection, carrier_id: int, version: int):
    row = db.fetch_one(conn, "SELECT * FROM lgx.carriers WHERE id = :id FOR UPDATE",
                       id=carrier_id)
    if row is None:
        raise NotFound("lgx.carriers.error.not_found")
    if row["version"] != version:
        raise Conflict("error.stale")
    return row


def _bump(conn: Connection, carrier_id: int) -> int:
    return db.scalar(conn, """UPDATE lgx.carriers SET version = version + 1 WHERE id = :id
                              RETURNING version""", id=carrier_id)


def _name_taken(err: sa.exc.IntegrityError) -> bool:
    return getattr(getattr(err.orig, "diag", None), "constraint_name", None) == "carriers_name_key"


# ---------------------------------------------------------------- writes
@requires(*DESK)
def create_carrier(*, conn: Connection, actor: Actor, carrier_name: str, contact_name: str,
                   contact_phone: str, truck_types: tuple[str, ...], cover_per_car: str) -> int:
    """A new carrier (active, no lanes or rates yet); returns its id."""
    fields = _clean_fields(carrier_name, contact_name, contact_phone, truck_types, cover_per_car)
    try:
        with conn.begin_nested():
            carrier_id = db.scalar(conn, """
                INSERT INTO lgx.carriers (name, contact_name, contact_phone, truck_types,
                                          cover_per_car)
                VALUES (:name, :contact_name, :contact_phone, :truck_types, :cover_per_car)
                RETURNING id""", **fields)
    except sa.exc.IntegrityError as err:
        if _name_taken(err):
            raise Conflict("lgx.carriers.error.name_taken", name=fields["name"]) from None
        raise
    write_audit(conn=conn, actor_id=actor.id, action="lgx.carrier.create",
                entity_type=ENTITY, entity_id=carrier_id, after=fields)
    return carrier_id


@requires(*DESK)
def update_carrier(*, conn: Connection, actor: Actor, carrier_id: int, version: int,
                   carrier_name: str, contact_name: str, contact_phone: str,
                   truck_types: tuple[str, ...], cover_per_car: str) -> int:
    """Change a carrier's name, contact, trucks or cover; returns the new version."""
    fields = _clean_fields(carrier_name, contact_name, contact_phone, truck_types, cover_per_car)
    row = _locked(conn, carrier_id, version)
    before = {k: row[k] for k in fields}
    try:
        with conn.begin_nested():
            db.execute(conn, """
                UPDATE lgx.carriers SET name = :name, contact_name = :contact_name,
                       contact_phone = :contact_phone, truck_types = :truck_types,
                       cover_per_car = :cover_per_car
                WHERE id = :id""", id=carrier_id, **fields)
    except sa.exc.IntegrityError as err:
        if _name_taken(err):
            raise Conflict("lgx.carriers.error.name_taken", name=fields["name"]) from None
        raise
    write_audit(conn=conn, actor_id=actor.id, action="lgx.carrier.update",
                entity_type=ENTITY, entity_id=carrier_id, before=before, after=fields)
    return _bump(conn, carrier_id)


def _known_provinces(conn: Connection, names: Sequence[str]) -> list[str]:
    wanted = sorted({n.strip() for n in names})
    known = {r["province"] for r in db.fetch_all(
        conn, "SELECT DISTINCT province FROM app.cities WHERE province = ANY(:p)", p=wanted)}
    if not wanted or set(wanted) - known:
        raise InvalidInput("lgx.carriers.error.province")
    return wanted


@requires(*DESK)
def add_lanes(*, conn: Connection, actor: Actor, carrier_id: int, version: int,
              from_provinces: tuple[str, ...], to_provinces: tuple[str, ...]) -> int:
    """The carrier serves every pair of ``from_provinces`` × ``to_provinces`` (a pair of one
    province with itself is a lane inside it); returns the new version."""
    _locked(conn, carrier_id, version)
    starts = _known_provinces(conn, from_provinces)
    ends = _known_provinces(conn, to_provinces)
    lanes = [(f, t) for f in starts for t in ends]
    db.execute(conn, """
        INSERT INTO lgx.carrier_lanes (carrier_id, from_province, to_province, active)
        SELECT :c, f, t, true FROM unnest(CAST(:f AS text[]), CAST(:t AS text[])) AS x(f, t)
        ON CONFLICT (carrier_id, from_province, to_province) DO UPDATE SET active = true""",
               c=carrier_id, f=[f for f, _ in lanes], t=[t for _, t in lanes])
    write_audit(conn=conn, actor_id=actor.id, action="lgx.carrier.add_lanes",
                entity_type=ENTITY, entity_id=carrier_id,
                after={"lanes": [f"{f} → {t}" for f, t in lanes]})
    return _bump(conn, carrier_id)


@requires(*DESK)
def remove_lane(*, conn: Connection, actor: Actor, carrier_id: int, version: int,
                from_province: str, to_province: str) -> int:
    """The carrier no longer serves this lane (kept, inactive); returns the new version."""
    _locked(conn, carrier_id, version)
    if db.execute(conn, """
            UPDATE lgx.carrier_lanes SET active = false
            WHERE carrier_id = :c AND from_province = :f AND to_province = :t AND active""",
                  c=carrier_id, f=from_province, t=to_province) != 1:
        raise Conflict("lgx.carriers.error.no_such_lane")
    write_audit(conn=conn, actor_id=actor.id, action="lgx.carrier.remove_lane",
                entity_type=ENTITY, entity_id=carrier_id,
                before={"lane": f"{from_province} → {to_province}"})
    return _bump(conn, carrier_id)


@requires(*DESK)
def set_rate(*, conn: Connection, actor: Actor, carrier_id: int, version: int,
             truck_type: str, band_from_km: int, yuan_per_car_km: str,
             min_per_car: str) -> int:
    """The carrier's price per car on ``truck_type`` in the standard band starting at
    ``band_from_km`` (geo.BANDS); returns the new version."""
    row = _locked(conn, carrier_id, version)
    if truck_type not in row["truck_types"]:
        raise InvalidInput("lgx.carriers.error.truck_not_run")
    band = next((b for b in geo.BANDS if b[0] == band_from_km), None)
    if band is None:
        raise InvalidInput("lgx.carriers.error.band")
    rate = pricing.parse_rate(yuan_per_car_km)
    if rate is None:
        raise InvalidInput("lgx.carriers.error.rate")
    minimum = pricing.parse_yuan(min_per_car or "0", allow_zero=True)
    if minimum is None:
        raise InvalidInput("lgx.carriers.error.minimum")
    before = db.fetch_one(conn, """
        SELECT yuan_per_car_km, min_per_car FROM lgx.carrier_rates
        WHERE carrier_id = :c AND truck_type = :t AND band_from_km = :b""",
                          c=carrier_id, t=truck_type, b=band[0])
    db.execute(conn, """
        INSERT INTO lgx.carrier_rates (carrier_id, truck_type, band_from_km, band_to_km,
                                       yuan_per_car_km, min_per_car)
        VALUES (:c, :t, :b, :e, :r, :m)
        ON CONFLICT (carrier_id, truck_type, band_from_km)
        DO UPDATE SET band_to_km = EXCLUDED.band_to_km,
                      yuan_per_car_km = EXCLUDED.yuan_per_car_km,
                      min_per_car = EXCLUDED.min_per_car""",
               c=carrier_id, t=truck_type, b=band[0], e=band[1], r=rate, m=minimum)
    write_audit(conn=conn, actor_id=actor.id, action="lgx.carrier.set_rate",
                entity_type=ENTITY, entity_id=carrier_id,
                before=dict(before) if before else None,
                after={"truck_type": truck_type, "band_from_km": band[0],
                       "band_to_km": band[1], "yuan_per_car_km": rate, "min_per_car": minimum})
    return _bump(conn, carrier_id)


@requires(*DESK)
def set_status(*, conn: Connection, actor: Actor, carrier_id: int, version: int,
               status: str, reason: str = "") -> int:
    """Suspend a carrier (with a reason) or make it active again; returns the new version."""
    if status not in STATUSES:
        raise InvalidInput("input.choice")
    row = _locked(conn, carrier_id, version)
    if row["status"] == status:
        raise Conflict("lgx.carriers.error.already", status=status)
    if status == "suspended" and not reason.strip():
        raise InvalidInput("lgx.carriers.error.reason_required")
    db.execute(conn, "UPDATE lgx.carriers SET status = :s WHERE id = :id", s=status, id=carrier_id)
    write_audit(conn=conn, actor_id=actor.id,
                action="lgx.carrier.suspend" if status == "suspended" else "lgx.carrier.reactivate",
                entity_type=ENTITY, entity_id=carrier_id, before={"status": row["status"]},
                after={"status": status}, reason=reason.strip() or None)
    return _bump(conn, carrier_id)
