"""Rows for the quotes and loads tests (tests/test_logistics_pricing.py, test_logistics_loads.py):
real cities with the coordinates of console/data/reference (the demo's app.cities), carriers
with lanes and rates, inserted directly as the superuser."""
from __future__ import annotations

from decimal import Decimal

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from console.demo import reference


def cities(engine: Engine, *short_names: str) -> dict[str, int]:
    """The named reference cities in app.cities (inserted when missing), by short name."""
    known = {c.short_name: c for c in reference.cities()}
    out = {}
    with engine.begin() as conn:
        for name in short_names:
            c = known[name]
            out[name] = conn.execute(sa.text("""
                INSERT INTO app.cities (name, short_name, adcode, province, tier_level, tier_name,
                                        longitude, latitude)
                VALUES (:n, :s, :a, :p, :tl, :tn, :lon, :lat)
                ON CONFLICT (adcode) DO UPDATE SET name = EXCLUDED.name
                RETURNING id"""), {"n": c.name, "s": c.short_name, "a": c.adcode,
                                   "p": c.province, "tl": c.tier_level, "tn": c.tier_name,
                                   "lon": c.longitude, "lat": c.latitude}).scalar_one()
    return out


def carrier(engine: Engine, *, name: str, lanes: list[tuple[str, str]],
            rates: list[tuple[str, int, int | None, str, str]],
            truck_types: tuple[str, ...] = ("large", "small", "single"),
            status: str = "active", cover_per_car: int = 100_000,
            phone: str = "13800001234") -> int:
    """A carrier serving ``lanes`` (province pairs) at ``rates`` (truck type, band from, band
    to, yuan per car-km, minimum per car)."""
    with engine.begin() as conn:
        cid = conn.execute(sa.text("""
            INSERT INTO lgx.carriers (name, contact_name, contact_phone, truck_types,
                                      cover_per_car, status)
            VALUES (:n, '李师傅', :ph, :tt, :cov, :st) RETURNING id"""),
            {"n": name, "ph": phone, "tt": list(truck_types), "cov": cover_per_car,
             "st": status}).scalar_one()
        for f, t in lanes:
            conn.execute(sa.text("""INSERT INTO lgx.carrier_lanes VALUES (:c, :f, :t)"""),
                         {"c": cid, "f": f, "t": t})
        for truck, low, high, per_km, minimum in rates:
            conn.execute(sa.text("""
                INSERT INTO lgx.carrier_rates (carrier_id, truck_type, band_from_km, band_to_km,
                                               yuan_per_car_km, min_per_car)
                VALUES (:c, :tt, :lo, :hi, :r, :m)"""),
                {"c": cid, "tt": truck, "lo": low, "hi": high, "r": Decimal(per_km),
                 "m": Decimal(minimum)})
    return cid


def submitted(engine: Engine, *, merchant_id: int, trim_id: int, from_city_id: int,
              to_city_id: int, cars: int, ready, wanted_by,
              declared_value: Decimal | int = 200_000) -> int:
    """A request as the marketplace submits it (console/logistics/requests.py submit_request):
    ``cars`` of a trim the merchant lists. Returns its id."""
    from console.logistics import requests as lr
    with engine.begin() as conn:
        return lr.submit_request(conn=conn, merchant_id=merchant_id, from_city_id=from_city_id,
                                 to_city_id=to_city_id, ready_date=ready, wanted_by=wanted_by,
                                 declared_value=Decimal(declared_value),
                                 cars=(lr.CarLine(trim_id=trim_id, quantity=cars),)).request_id
