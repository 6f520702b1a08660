"""Distances of the logistics desk: road kilometres between two cities, and distance bands.

Road km = the great-circle distance between the two city centres (app.cities' coordinates,
haversine on a sphere of radius 6371.0088 km, the mean Earth radius: the same formula as
``ops.great_circle_km`` in sql/migrations/020_matching.sql) × the road factor
(``settings.logistics_road_factor``, 1.25: roads run 1.2–1.3 times the straight line,
BRIEF.md section 6), rounded to the nearest whole km (half up), at least 1 km.

Example: 上海 (31.230372 N, 121.473662 E) → 成都 (30.572893 N, 104.066794 E): great circle
1,660.70 km; × 1.25 = 2,075.88 → 2,076 road km.

"Nearby" (two lanes a load may share) compares the straight line between the two starts and
between the two ends with ``settings.logistics_nearby_km``: proximity is about where the
truck stops, not how far the road winds.

A carrier prices by distance band (lgx.carrier_rates); the directory offers the standard
bands ``BANDS`` so a carrier's bands never overlap. A band holds from its lower bound
(inclusive) to its upper bound (exclusive); None is open-ended.

Pure functions, plus one read of the cities' coordinates.
"""
from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

from sqlalchemy.engine import Connection

from console import db

EARTH_RADIUS_KM = 6371.0088
# The standard distance bands of the directory's rate form, road km: short haul, regional,
# long haul, very long haul.
BANDS: tuple[tuple[int, int | None], ...] = ((0, 500), (500, 1000), (1000, 2000), (2000, None))


@dataclass(frozen=True)
class City:
    id: int
    name: str
    province: str
    latitude: float
    longitude: float


def great_circle_km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Haversine distance in km between two points given in degrees."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dlat, dlon = p2 - p1, math.radians(lon2 - lon1)
    h = math.sin(dlat / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dlon / 2) ** 2
    return 2 * EARTH_RADIUS_KM * math.asin(min(1.0, math.sqrt(h)))


def road_km(straight_km: float, road_factor: float) -> int:
    """Road km of a straight-line distance: × the road factor, nearest km (half up), ≥ 1."""
    km = Decimal(repr(straight_km * road_factor)).quantize(Decimal(1), rounding=ROUND_HALF_UP)
    return max(1, int(km))


def city_road_km(a: City, b: City, road_factor: float) -> int:
    return road_km(great_circle_km(a.latitude, a.longitude, b.latitude, b.longitude),
                   road_factor)


def is_nearby(a: City, b: City, nearby_km: float) -> bool:
    """Whether two cities are within ``nearby_km`` in a straight line (the same city is)."""
    return a.id == b.id or great_circle_km(
        a.latitude, a.longitude, b.latitude, b.longitude) <= nearby_km


def band_of(km: int, bands: Iterable[tuple[int, int | None]] = BANDS) -> tuple[int, int | None] | None:
    """The band ``km`` falls in: lower bound ≤ km < upper bound (None: no upper bound)."""
    for low, high in bands:
        if low <= km and (high is None or km < high):
            return (low, high)
    return None


def cities(conn: Connection, city_ids: Iterable[int]) -> dict[int, City]:
    """The cities asked for, by id (a missing id is simply absent)."""
    ids = sorted({int(c) for c in city_ids})
    if not ids:
        return {}
    rows = db.fetch_all(conn, """
        SELECT id, short_name AS name, province, latitude, longitude
        FROM app.cities WHERE id = ANY(CAST(:ids AS integer[]))""", ids=ids)
    return {int(r["id"]): City(id=int(r["id"]), name=r["name"], province=r["province"],
                               latitude=float(r["latitude"]), longitude=float(r["longitude"]))
            for r in rows}
