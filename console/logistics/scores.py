"""Carrier scores (承运商评分): what the desk knows of a carrier's service, in one number.

Per carrier, over the requests it carried (``lgx.requests.carrier_id``):

- **delivered** = its requests in status 已交车 (delivered);
- **on-time rate** = on time / delivered, where a delivery is on time when its Shanghai day
  (``delivered_at``) is on or before the request's ``wanted_by`` *and* no delay claim on it
  was settled (a settled delay claim is the desk agreeing it was late);
- **damage rate** = delivered requests with a settled damage claim / delivered;
- **complaint rate** = ratings filed as a complaint / ratings;
- **average rating** = the mean of the merchants' stars (1–5).

A claim's outcome counts against the carrier: a settled claim does (damage: the damage
rate; delay: the on-time rate); an open, answered or rejected one does not.

The score, 0–100, one decimal::

    score = 40 × on_time_rate + 30 × (1 − damage_rate)
          + 15 × (1 − complaint_rate) + 15 × (average_rating − 1) / 4

A part without data (no delivery: on-time and damage; no rating: complaints and rating) is
left out and the weights of the others scaled up to 100: a carrier with deliveries but no
rating yet is scored on its deliveries alone. A carrier with neither has no score (None):
it is new, and is listed after every scored carrier.

Example: 4 delivered, 3 on time, 1 with a settled damage claim, 2 ratings (5 and 3 stars, one
a complaint): on time 0.75, damage 0.25, complaints 0.5, rating 4.0;
score = 40 × 0.75 + 30 × 0.75 + 15 × 0.5 + 15 × 0.75 = 30 + 22.5 + 7.5 + 11.25 = 71.25 → 71.3.

The score is computed from the exact fractions and rounded to one decimal (half up); the
rates are shown rounded to four decimals, the average rating to two. Every figure can be
checked by hand. Pure reads, no streamlit; callers pass their connection.
"""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from fractions import Fraction

from sqlalchemy.engine import Connection

from console import db
from console.settings import get_settings

WEIGHTS = {"on_time": 40, "damage": 30, "complaint": 15, "rating": 15}
_RATE = Decimal("0.0001")
_SCORE = Decimal("0.1")


@dataclass(frozen=True)
class CarrierScore:
    carrier_id: int
    delivered: int
    on_time: int
    damaged: int
    rated: int
    complaints: int
    stars_total: int
    on_time_rate: Decimal | None
    damage_rate: Decimal | None
    complaint_rate: Decimal | None
    avg_rating: Decimal | None
    score: Decimal | None


# {only}: one of _ALL / _ASKED, per column. The asked-for carriers' rows are found by their
# carrier's index (= ANY of the ids); a set built in SQL and joined back (IN (SELECT id FROM c))
# was planned as a scan of every request and rating: 64-88 ms for the 7 carriers of a quote at
# 100,000 requests, 18 ms this way.
_ALL = "TRUE"
_ASKED = "{column} = ANY(CAST(:ids AS bigint[]))"
_COUNTS = """
    WITH c AS (
        SELECT id FROM lgx.carriers WHERE {only_id}
    ), settled AS (
        SELECT request_id, carrier_id,
               bool_or(kind = 'damage') AS damage, bool_or(kind = 'delay') AS delay
        FROM lgx.claims
        WHERE status = 'settled' AND {only_carrier}
        GROUP BY request_id, carrier_id
    ), d AS (
        SELECT r.carrier_id,
               count(*) AS delivered,
               count(*) FILTER (
                   WHERE (r.delivered_at AT TIME ZONE :tz)::date <= r.wanted_by
                     AND NOT coalesce(s.delay, false)) AS on_time,
               count(*) FILTER (WHERE coalesce(s.damage, false)) AS damaged
        FROM lgx.requests r
        LEFT JOIN settled s ON s.request_id = r.id AND s.carrier_id = r.carrier_id
        WHERE r.status = 'delivered' AND {only_r_carrier}
        GROUP BY r.carrier_id
    ), g AS (
        SELECT carrier_id, count(*) AS rated, count(*) FILTER (WHERE complaint) AS complaints,
               sum(stars) AS stars_total
        FROM lgx.ratings WHERE {only_carrier}
        GROUP BY carrier_id
    )
    SELECT c.id AS carrier_id,
           coalesce(d.delivered, 0) AS delivered, coalesce(d.on_time, 0) AS on_time,
           coalesce(d.damaged, 0) AS damaged, coalesce(g.rated, 0) AS rated,
           coalesce(g.complaints, 0) AS complaints, coalesce(g.stars_total, 0) AS stars_total
    FROM c LEFT JOIN d ON d.carrier_id = c.id LEFT JOIN g ON g.carrier_id = c.id
    ORDER BY c.id"""


def _ratio(part: int, whole: int) -> Fraction | None:
    return None if whole == 0 else Fraction(part, whole)


def _shown(value: Fraction | None, places: Decimal = _RATE) -> Decimal | None:
    if value is None:
        return None
    return (Decimal(value.numerator) / Decimal(value.denominator)).quantize(
        places, rounding=ROUND_HALF_UP)


def combine(*, on_time_rate: Fraction | None, damage_rate: Fraction | None,
            complaint_rate: Fraction | None, avg_rating: Fraction | None) -> Decimal | None:
    """The score of the module doc from its exact parts (None: a part without data)."""
    parts: list[tuple[int, Fraction]] = []     # (weight, goodness 0..1)
    if on_time_rate is not None:
        parts.append((WEIGHTS["on_time"], on_time_rate))
    if damage_rate is not None:
        parts.append((WEIGHTS["damage"], 1 - damage_rate))
    if complaint_rate is not None:
        parts.append((WEIGHTS["complaint"], 1 - complaint_rate))
    if avg_rating is not None:
        parts.append((WEIGHTS["rating"], (avg_rating - 1) / 4))
    if not parts:
        return None
    weight = sum(w for w, _ in parts)
    return _shown(sum(w * g for w, g in parts) * 100 / weight, _SCORE)


def _score(row) -> CarrierScore:
    delivered, rated = int(row["delivered"]), int(row["rated"])
    on_time = _ratio(int(row["on_time"]), delivered)
    damage = _ratio(int(row["damaged"]), delivered)
    complaint = _ratio(int(row["complaints"]), rated)
    stars = _ratio(int(row["stars_total"]), rated)
    return CarrierScore(
        carrier_id=int(row["carrier_id"]), delivered=delivered, on_time=int(row["on_time"]),
        damaged=int(row["damaged"]), rated=rated, complaints=int(row["complaints"]),
        stars_total=int(row["stars_total"]), on_time_rate=_shown(on_time),
        damage_rate=_shown(damage), complaint_rate=_shown(complaint),
        avg_rating=_shown(stars, Decimal("0.01")),
        score=combine(on_time_rate=on_time, damage_rate=damage, complaint_rate=complaint,
                      avg_rating=stars))


def carrier_scores(conn: Connection, *, carrier_ids: Iterable[int] | None = None
                   ) -> dict[int, CarrierScore]:
    """Every asked-for carrier's score (all carriers when ``carrier_ids`` is None), by id.
    A carrier without deliveries or ratings is there with zeros and ``score`` None."""
    ids = None if carrier_ids is None else sorted({int(c) for c in carrier_ids})
    if ids == []:
        return {}
    only = (lambda column: _ALL) if ids is None else (lambda column: _ASKED.format(column=column))
    sql = _COUNTS.format(only_id=only("id"), only_carrier=only("carrier_id"),
                         only_r_carrier=only("r.carrier_id"))
    rows = db.fetch_all(conn, sql, ids=ids or [], tz=get_settings().timezone)
    return {int(r["carrier_id"]): _score(r) for r in rows}


def order_key(score: CarrierScore | None) -> tuple[int, Decimal]:
    """Sort key, best first: scored carriers by descending score, then the unscored."""
    if score is None or score.score is None:
        return (1, Decimal(0))
    return (0, -score.score)
