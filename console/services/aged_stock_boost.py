"""The match policy's aged-stock boost (issue 21): managers push the platform's own cars that
have stood too long, as one explainable part of the match score.

The rule is console/match_policy.py ``AgedStockBoost``; the values managers chose are one row
of ops.match_policy (migration 114). Off (0 points) until a manager sets it. A change is a
single conditional UPDATE on the row's version (a stale form is told so), with its audit row
in the same transaction. The next scheduled rematch recomputes every suggestion (console/
services/matching.py rematch_changed reads the row's updated_at like a listing's: the boost
moves every self-operated listing against all the others), as it picks up a changed grade or
VIP term at its next run.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Annotated

from sqlalchemy.engine import Connection

from console import db
from console.audit import write_audit
from console.boundary import Number
from console.errors import Conflict, InvalidInput
from console.match_policy import AgedStockBoost
from console.roles import Actor, requires

# What a manager may set (the table's checks say the same): a boost is worth a few percent of
# the buyer's maximum at most (1 point = 1%), as the trust components are.
MAX_POINTS = 10
MAX_AFTER_DAYS = 730
MAX_FULL_DAYS = 365

Points = Annotated[float, Number(min=0, max=MAX_POINTS, key="selfop.error.points")]
AfterDays = Annotated[int, Number(min=0, max=MAX_AFTER_DAYS, key="selfop.error.after_days")]
FullDays = Annotated[int, Number(min=1, max=MAX_FULL_DAYS, key="selfop.error.full_days")]


@dataclass(frozen=True)
class BoostSetting:
    """The boost in force, with who set it last (None: never changed) and the row's version
    for a stale-form check."""
    boost: AgedStockBoost
    version: int
    updated_by: str | None
    updated_at: datetime


_READ_SQL = """
SELECT p.aged_points, p.aged_after_days, p.aged_full_days, p.version, p.updated_at,
       s.display_name AS updated_by
FROM ops.match_policy p LEFT JOIN ops.staff s ON s.id = p.updated_by
WHERE p.id = 1"""


def _boost(row) -> AgedStockBoost:
    return AgedStockBoost(points=float(row["aged_points"]), after_days=int(row["aged_after_days"]),
                          full_days=int(row["aged_full_days"]))


def stored_boost(conn: Connection) -> AgedStockBoost:
    """The boost the scoring uses (the jobs and every rematch read it; no person involved).
    Without the staff join: the jobs' role may not read ops.staff."""
    row = db.fetch_one(conn, """SELECT aged_points, aged_after_days, aged_full_days
                                FROM ops.match_policy WHERE id = 1""")
    return _boost(row) if row is not None else AgedStockBoost()


@requires("bd", "manager")
def boost_setting(*, conn: Connection, actor: Actor) -> BoostSetting:
    """The boost in force, for the leads page's points help and the managers' form."""
    row = db.fetch_one(conn, _READ_SQL)
    return BoostSetting(_boost(row), int(row["version"]), row["updated_by"], row["updated_at"])


@requires("manager")
def set_aged_stock_boost(*, conn: Connection, actor: Actor, points: Points, after_days: AfterDays,
                         full_days: FullDays, version: int, reason: str) -> BoostSetting:
    """Set the boost (0 points turns it off). A reason is required: it changes which cars BD
    are shown first. Refused when the form is stale (someone changed it since it was read)
    or nothing would change."""
    why = (reason or "").strip()
    if not why:
        raise InvalidInput("selfop.error.reason_required")
    amount = Decimal(str(points)).quantize(Decimal("0.01"))
    if amount != Decimal(str(points)):
        raise InvalidInput("selfop.error.points")   # the column keeps hundredths
    before = db.fetch_one(conn, "SELECT * FROM ops.match_policy WHERE id = 1 FOR UPDATE")
    if before["version"] != version:
        raise Conflict("error.stale")
    old = {"aged_points": before["aged_points"], "aged_after_days": before["aged_after_days"],
           "aged_full_days": before["aged_full_days"]}
    new = {"aged_points": amount, "aged_after_days": after_days, "aged_full_days": full_days}
    if old == new:
        raise InvalidInput("selfop.error.unchanged")
    # updated_at set here as well as by the trigger: a history-writing owner (tests, backfills)
    # keeps an older value the trigger would not touch, and the rematch must see the change.
    db.execute(conn, """
        UPDATE ops.match_policy
        SET aged_points = :p, aged_after_days = :a, aged_full_days = :f, version = version + 1,
            updated_by = :by, updated_at = clock_timestamp()
        WHERE id = 1 AND version = :v""",
               p=amount, a=after_days, f=full_days, by=actor.id, v=version)
    write_audit(conn=conn, actor_id=actor.id, action="match_policy.aged_stock",
                entity_type="match_policy", entity_id=1, before=old, after=new, reason=why)
    row = db.fetch_one(conn, _READ_SQL)
    return BoostSetting(_boost(row), int(row["version"]), row["updated_by"], row["updated_at"])
