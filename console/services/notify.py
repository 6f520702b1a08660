"""New-match notifications to merchants, through app.notification_outbox.

Three promises, all kept by the database write itself:
- never a duplicate for the same match: the outbox's unique dedupe_key;
- never in quiet hours (22:00-08:00 Asia/Shanghai): such a notification is queued with
  send_after = the next 08:00;
- never more than N per merchant per delivery day: the ones beyond the cap are written with
  status 'held', so the page can say how many were held back.
"""
from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy.engine import Connection

from console import clock, db
from console.match_policy import MatchPolicy, policy_or_default
from console.roles import Actor, requires

SHANGHAI = ZoneInfo("Asia/Shanghai")
TEMPLATE = "new_match"
_LOCK_NAMESPACE = 52   # advisory-lock namespace: one merchant's daily count at a time


@dataclass(frozen=True)
class Notice:
    merchant_id: int
    dedupe_key: str
    payload: dict


@dataclass(frozen=True)
class EnqueueResult:
    queued: int      # will be sent now
    deferred: int    # queued for the end of quiet hours
    held: int        # over the daily cap
    duplicates: int  # already notified for this match


def match_notices(*, request_id: int, listing_id: int, buyer_id: int,
                  seller_id: int | None = None) -> list[Notice]:
    """The notices one new match produces: the buyer, and the seller when known."""
    payload = {"request_id": request_id, "listing_id": listing_id}
    out = [Notice(buyer_id, f"match:{request_id}:{listing_id}:buyer", payload)]
    if seller_id is not None:
        out.append(Notice(seller_id, f"match:{request_id}:{listing_id}:seller", payload))
    return out


def delivery_time(now: datetime, policy: MatchPolicy) -> datetime:
    """``now`` outside quiet hours, else the next end of quiet hours, in Shanghai time."""
    local = now.astimezone(SHANGHAI)
    end = time(policy.quiet_end_hour)
    if local.hour >= policy.quiet_start_hour:
        return datetime.combine(local.date() + timedelta(days=1), end, SHANGHAI)
    if local.hour < policy.quiet_end_hour:
        return datetime.combine(local.date(), end, SHANGHAI)
    return now


# The cap counts what is already queued or sent for the same Shanghai delivery day, then
# numbers the new ones per merchant; those past the cap are stored as 'held'.
_ENQUEUE_SQL = """
WITH incoming AS (
    SELECT * FROM jsonb_to_recordset(CAST(:rows AS jsonb))
           AS x(merchant_id bigint, dedupe_key text, payload jsonb)
), fresh AS (
    SELECT DISTINCT ON (i.dedupe_key) i.* FROM incoming i
    WHERE NOT EXISTS (SELECT 1 FROM app.notification_outbox o WHERE o.dedupe_key = i.dedupe_key)
), used AS (
    SELECT o.merchant_id, count(*) AS n
    FROM app.notification_outbox o
    WHERE o.template = :template AND o.status IN ('queued', 'sent')
      AND o.merchant_id IN (SELECT merchant_id FROM fresh)
      AND o.send_after >= :day_start AND o.send_after < :day_end
    GROUP BY o.merchant_id
), numbered AS (
    SELECT f.*, coalesce(u.n, 0)
                + row_number() OVER (PARTITION BY f.merchant_id ORDER BY f.dedupe_key) AS nth
    FROM fresh f LEFT JOIN used u ON u.merchant_id = f.merchant_id
)
INSERT INTO app.notification_outbox (merchant_id, channel, template, payload, dedupe_key,
                                     status, created_at, send_after)
SELECT merchant_id, 'app', :template, payload, dedupe_key,
       CASE WHEN nth > :cap THEN 'held' ELSE 'queued' END, :now, :send_after
FROM numbered
ON CONFLICT (dedupe_key) DO NOTHING
RETURNING status
"""


def enqueue(*, conn: Connection, notices: Iterable[Notice], now: datetime | None = None,
            policy: MatchPolicy | None = None) -> EnqueueResult:
    """Write the notices to the outbox under the cap, quiet-hours and dedupe rules."""
    policy = policy_or_default(policy)
    notices = list(notices)
    if not notices:
        return EnqueueResult(0, 0, 0, 0)
    now = now or clock.now()
    send_after = delivery_time(now, policy)
    day: date = send_after.astimezone(SHANGHAI).date()
    day_start = datetime.combine(day, time(0), SHANGHAI)
    # Two transactions counting the same merchant's day must not both see room under the cap.
    for merchant_id in sorted({n.merchant_id for n in notices}):
        db.execute(conn, "SELECT pg_advisory_xact_lock(:ns, :m)", ns=_LOCK_NAMESPACE, m=merchant_id)
    rows = json.dumps([{"merchant_id": n.merchant_id, "dedupe_key": n.dedupe_key,
                        "payload": n.payload} for n in notices])
    statuses = [r["status"] for r in db.fetch_all(
        conn, _ENQUEUE_SQL, rows=rows, template=TEMPLATE, day_start=day_start,
        day_end=day_start + timedelta(days=1), cap=policy.notify_daily_cap, now=now,
        send_after=send_after)]
    held = statuses.count("held")
    sent_now = len(statuses) - held
    deferred = sent_now if send_after != now else 0
    return EnqueueResult(queued=sent_now - deferred, deferred=deferred, held=held,
                         duplicates=len(notices) - len(statuses))


@dataclass(frozen=True)
class HeldBack:
    held_today: int       # over the daily cap, never sent
    waiting_quiet: int    # queued until quiet hours end


@requires("bd", "manager")
def held_back_summary(*, conn: Connection, actor: Actor) -> HeldBack:
    """How many new-match notifications the rules held back today (Shanghai day)."""
    now = clock.now()
    day_start = datetime.combine(now.astimezone(SHANGHAI).date(), time(0), SHANGHAI)
    row = db.fetch_one(conn, """
        SELECT count(*) FILTER (WHERE status = 'held' AND created_at >= :start) AS held,
               count(*) FILTER (WHERE status = 'queued' AND send_after > :now) AS waiting
        FROM app.notification_outbox
        WHERE template = :template AND created_at >= :start - interval '1 day'""",
        start=day_start, now=now, template=TEMPLATE)
    return HeldBack(int(row["held"]), int(row["waiting"]))
