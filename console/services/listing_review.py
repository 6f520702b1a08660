"""Listing authenticity review (车源真实性): flags raised by a scan, decided by ops staff.

A scan raises a flag on a live listing when
- price_below_guide: it is more than N points below its series' usual discount
  (the median discount of the series' listings, parallel imports left out: migration 116;
  N configurable). A parallel import has no Chinese guide price: it is flagged instead when its price is more than N points below its
  price reference (console/imports/prices.py: the median of recent deals and live listings
  of its trim and market version; none, and no flag, with too few). Discounts differ by brand
  (a Chinese brand sells about 14 points below guide, a joint venture 27, Tesla near list):
  a series with fewer than MIN_SERIES_SAMPLE listings is judged by its brand's listings of
  the same origin, a thin brand by all listings of that origin (domestic, joint venture,
  import), and only then by the market's; the flag's detail names the basis;
- vin_malformed: its VIN, as read (console.checks), is malformed: wrong format, or a wrong
  check digit in position 9 where its market requires one (China, GB 16735; North
  America). A VIN built for another market (a parallel import's WDC…, WP0…) carries no check
  digit: it is not checkable, and not flagged. A parallel import's recorded market version
  decides over its WMI (console.checks.vin_reason): a Gulf-spec car from a US plant is not
  checkable, a US-spec car from Japan must carry its check digit;
- vin_duplicate: the VIN (as read) was first listed by another merchant;
- cert_rejected: the merchant had a certification rejected recently (and none approved since);
- reported_fake: other merchants tagged it 'fake_listing' in a review.

Each kind is raised at most once per listing (UNIQUE (listing_id, kind)), so scans are
idempotent and a cleared flag stays cleared. Staff confirm a flag (the listing is taken
down, the merchant warned through the outbox, and the confirmation counts in the credit
factor view ops.merchant_confirmed_fake_listings) or clear it; both need a reason code.

Command: ``python -m console.services.listing_review scan [--gap N]``.
"""
from __future__ import annotations

import json
import sys
from dataclasses import dataclass, field
from typing import Any

import pandas as pd
from sqlalchemy.engine import Connection

from console import db
from console.audit import write_audit
from console.checks import vin_problem, vin_reason
from console.errors import InvalidInput, NotFound
from console.imports import prices as import_prices
from console.roles import Actor, requires
from console.services import flag_evidence, trust_queue as tq
from console.settings import get_settings

Q = tq.LISTING_FLAG
KINDS = ("price_below_guide", "vin_malformed", "vin_duplicate", "cert_rejected", "reported_fake")
STATUSES = ("pending", "in_review", "confirmed", "cleared", "superseded")
DECISIONS = {"confirm": "confirmed", "clear": "cleared"}
MERCHANT_TYPES, TIERS = tq.MERCHANT_TYPES, tq.TIERS
READ_ROLES = ("ops", "risk", "manager")

RECENT_REJECT_DAYS = 30
# Fewer listings than this in a series and its median says little: use its brand's (same
# origin); with fewer than this in the brand too, its origin's; and only then the market's.
MIN_SERIES_SAMPLE = 5


def price_gap_points() -> float:
    """N of 'more than N points below the series' usual discount' (CONSOLE_PRICE_GAP_POINTS)."""
    return float(get_settings().listing_price_gap_points)


# ------------------------------------------------------------------ the scan
# The usual discount per series (series -> brand of the same origin -> origin -> market) is
# one table, ops.series_norms (migration 081), refreshed just before this insert: the match
# score caps the discount it rewards at the same line (issue 16).
_PRICE_SQL = """
INSERT INTO ops.listing_flags (listing_id, merchant_id, kind, detail)
SELECT l.id, l.merchant_id, 'price_below_guide',
       jsonb_build_object('points', round(CAST(p.points AS numeric), 1),
                          'usual', round(CAST(b.usual_points AS numeric), 1), 'gap', :gap,
                          'basis', b.basis)
FROM app.listings l
JOIN app.trims t ON t.id = l.trim_id
JOIN ops.series_norms b ON b.series_id = t.series_id
CROSS JOIN LATERAL (SELECT CAST((l.guide_price - l.price) / l.guide_price * 100
                                AS double precision) AS points) p
WHERE l.status = 'live' AND NOT l.is_parallel_import AND p.points > b.usual_points + :gap
ON CONFLICT (listing_id, kind) DO NOTHING
"""

_VIN_DUPLICATE_SQL = """
INSERT INTO ops.listing_flags (listing_id, merchant_id, kind, detail)
SELECT l.id, l.merchant_id, 'vin_duplicate',
       jsonb_build_object('vin', l.vin, 'other_listing', e.id, 'other_merchant', e.merchant_id)
FROM app.listings l
CROSS JOIN LATERAL (
    SELECT o.id, o.merchant_id FROM app.listings o
    WHERE o.vin IS NOT NULL AND app.normalise_code(o.vin) = app.normalise_code(l.vin)
    ORDER BY o.published_at, o.id LIMIT 1) e
WHERE l.status = 'live' AND l.vin IS NOT NULL
  AND e.merchant_id <> l.merchant_id  -- the first to list a VIN owns it; relisting is fine
ON CONFLICT (listing_id, kind) DO NOTHING
"""

_CERT_REJECTED_SQL = """
INSERT INTO ops.listing_flags (listing_id, merchant_id, kind, detail)
SELECT l.id, l.merchant_id, 'cert_rejected',
       jsonb_build_object('certification_id', r.id, 'reason_code', r.reason_code)
FROM app.listings l
JOIN LATERAL (
    SELECT c.id, c.reason_code, c.decided_at FROM app.certifications c
    WHERE c.merchant_id = l.merchant_id AND c.status = 'rejected'
      AND c.decided_at >= now() - make_interval(days => :days)
    ORDER BY c.decided_at DESC LIMIT 1) r ON true
WHERE l.status = 'live'
  AND NOT EXISTS (SELECT 1 FROM app.certifications a
                  WHERE a.merchant_id = l.merchant_id AND a.status = 'approved'
                    AND a.decided_at > r.decided_at)
ON CONFLICT (listing_id, kind) DO NOTHING
"""

_REPORTED_SQL = """
INSERT INTO ops.listing_flags (listing_id, merchant_id, kind, detail)
SELECT l.id, l.merchant_id, 'reported_fake',
       jsonb_build_object('reports', count(*), 'reporters', count(DISTINCT r.reviewer_id))
FROM app.reviews r JOIN app.listings l ON l.id = r.listing_id
WHERE 'fake_listing' = ANY (r.tags) AND r.listing_id IS NOT NULL
  AND r.reviewer_id <> l.merchant_id AND l.status = 'live'
GROUP BY l.id, l.merchant_id
ON CONFLICT (listing_id, kind) DO NOTHING
"""


def _raise_price_flags(conn: Connection, gap: float) -> int:
    db.scalar(conn, "SELECT ops.refresh_series_norms(:n)", n=MIN_SERIES_SAMPLE)
    return db.execute(conn, _PRICE_SQL, gap=gap) + _raise_import_price_flags(conn, gap)


def _raise_import_price_flags(conn: Connection, gap: float) -> int:
    """A live parallel import more than ``gap`` points below its price reference
    (console/imports/prices.py), with the count it rests on; an import with too few prices
    of its trim and version is not judged on price. The references of every live import
    come from one read of their trims' prices (references_of): one lateral read per import
    took longer than the statement timeout at the large scale."""
    live = db.fetch_all(conn, """
        SELECT l.id, l.merchant_id, l.trim_id, l.price, li.market_version
        FROM app.listings l JOIN app.listing_imports li ON li.listing_id = l.id
        WHERE l.status = 'live' AND l.is_parallel_import
          AND NOT EXISTS (SELECT 1 FROM ops.listing_flags f
                          WHERE f.listing_id = l.id AND f.kind = 'price_below_guide')""")
    refs = import_prices.references_of(conn, listings=[
        (r["id"], r["trim_id"], r["market_version"]) for r in live])
    bad: list[tuple[int, int, str]] = []
    for r in live:
        ref = refs.get(r["id"])
        points = ref.below_points(r["price"]) if ref is not None else None
        if points is not None and points > gap:
            bad.append((r["id"], r["merchant_id"], json.dumps({
                "points": points, "gap": gap, "basis": "import_reference",
                "reference": float(ref.median), "count": ref.count,
                "market_version": r["market_version"]})))
    return _insert_flags(conn, "price_below_guide", bad)


def raise_listing_flags(*, conn: Connection, price_gap: float | None = None,
                        recent_reject_days: int = RECENT_REJECT_DAYS) -> dict[str, int]:
    """Scan live listings and insert the flags not raised before; returns new flags per kind.

    A system job (no actor): one audit row records the run and its counts.
    """
    gap = price_gap_points() if price_gap is None else float(price_gap)
    if gap < 0:
        raise InvalidInput("trust.error.bad_form_value")
    raised = {
        "price_below_guide": _raise_price_flags(conn, gap),
        "vin_malformed": _raise_malformed_vins(conn),
        "vin_duplicate": db.execute(conn, _VIN_DUPLICATE_SQL),
        "cert_rejected": db.execute(conn, _CERT_REJECTED_SQL, days=recent_reject_days),
        "reported_fake": db.execute(conn, _REPORTED_SQL),
    }
    write_audit(conn=conn, actor_id=None, action="listing_flag.scan", entity_type="listing_flag",
                entity_id="scan", after={"raised": raised, "price_gap": gap})
    return raised


@requires("ops")
def scan_now(*, conn: Connection, actor: Actor) -> dict[str, int]:
    """An ops member runs the scan from the console instead of waiting for the schedule."""
    raised = raise_listing_flags(conn=conn)
    write_audit(conn=conn, actor_id=actor.id, action="listing_flag.scan_requested",
                entity_type="listing_flag", entity_id="scan", after={"raised": raised})
    return raised


def _raise_malformed_vins(conn: Connection, *, chunk: int = 5000) -> int:
    """VINs checked in Python (console.checks is the one implementation), streamed in chunks."""
    # Per-statement option: Connection.execution_options() would change the whole connection.
    result = conn.exec_driver_sql(
        """SELECT l.id, l.merchant_id, l.vin, li.market_version FROM app.listings l
           LEFT JOIN app.listing_imports li ON li.listing_id = l.id AND l.is_parallel_import
           WHERE l.status = 'live' AND l.vin IS NOT NULL
             AND NOT EXISTS (SELECT 1 FROM ops.listing_flags f
                             WHERE f.listing_id = l.id AND f.kind = 'vin_malformed')""",
        execution_options={"stream_results": True})
    bad: list[tuple[int, int, str]] = []
    for rows in result.partitions(chunk):
        for listing_id, merchant_id, vin, market_version in rows:
            problem = vin_problem(vin, market_version=market_version)
            if problem:
                bad.append((listing_id, merchant_id,
                            json.dumps({"vin": vin, "problem": problem})))
    result.close()
    return _insert_flags(conn, "vin_malformed", bad)


def _insert_flags(conn: Connection, kind: str, bad: list[tuple[int, int, str]]) -> int:
    """Flags found in Python, (listing, merchant, detail as JSON), in one statement."""
    if not bad:
        return 0
    ids, merchants, details = (list(c) for c in zip(*bad))
    return db.execute(conn, """
        INSERT INTO ops.listing_flags (listing_id, merchant_id, kind, detail)
        SELECT i, m, :kind, CAST(d AS jsonb)
        FROM unnest(CAST(:ids AS bigint[]), CAST(:ms AS bigint[]), CAST(:ds AS text[])) AS x(i, m, d)
        ON CONFLICT (listing_id, kind) DO NOTHING""", kind=kind, ids=ids, ms=merchants,
                      ds=details)


# ------------------------------------------------------------------ the queue
SORTS = {"raised_at": "f.raised_at", "kind": "f.kind", "status": "f.status",
         "merchant_name": "m.name", "tier": "ci.tier_level", "points": "points"}


@dataclass(frozen=True, kw_only=True)
class FlagFilters:
    kinds: tuple[str, ...] = ()
    statuses: tuple[str, ...] = ("pending", "in_review")
    tiers: tuple[int, ...] = ()
    merchant_types: tuple[str, ...] = ()
    min_age_hours: float | None = None
    max_age_hours: float | None = None
    assignee: str = "any"
    include_snoozed: bool = False


def _where(filters: FlagFilters, actor: Actor) -> tuple[str, dict[str, Any]]:
    clauses: list[str] = []
    params: dict[str, Any] = {}
    if filters.kinds:
        clauses.append("f.kind = ANY (:kinds)")
        params["kinds"] = tq.check_choices(filters.kinds, KINDS)
    if filters.statuses:
        clauses.append("f.status = ANY (:statuses)")
        params["statuses"] = tq.check_choices(filters.statuses, STATUSES)
    tq.shared_where(filters, actor, alias="f", age_column="f.raised_at", clauses=clauses,
                    params=params)
    return (" AND ".join(clauses) or "true"), params


@requires(*READ_ROLES)
def list_queue(*, conn: Connection, actor: Actor, filters: FlagFilters = FlagFilters(),
               sort: str = "raised_at", descending: bool = False,
               limit: int | None = None, offset: int = 0) -> tq.QueuePage:
    limit = tq.check_page(sort, SORTS, limit, offset)
    where, params = _where(filters, actor)
    joins = """FROM ops.listing_flags f
               JOIN app.listings l ON l.id = f.listing_id
               JOIN app.merchants m ON m.id = f.merchant_id
               JOIN app.cities ci ON ci.id = l.city_id"""
    total = int(db.scalar(conn, f"SELECT count(*) {joins} WHERE {where}", **params))
    direction = "DESC" if descending else "ASC"
    rows = db.fetch_df(conn, f"""
        SELECT f.id, f.kind, f.status, f.listing_id, l.status AS listing_status, l.price,
               l.guide_price,
               round((l.guide_price - l.price) / l.guide_price * 100, 1) AS points,
               l.vin, f.merchant_id, m.name AS merchant_name, m.merchant_type,
               ci.name AS city, ci.tier_level AS tier, f.raised_at, f.detail,
               s.display_name AS assignee, f.assignee_id, f.snoozed_until, f.version,
               f.decided_at,
               extract(epoch FROM coalesce(f.decided_at, now()) - f.raised_at) / 3600 AS age_hours
        {joins} LEFT JOIN ops.staff s ON s.id = f.assignee_id
        WHERE {where}
        ORDER BY {SORTS[sort]} {direction}, f.id {direction}
        LIMIT :limit OFFSET :offset""", limit=limit, offset=offset, **params)
    if not rows.empty:
        rows["age_hours"] = rows["age_hours"].astype(float).round(1)
        rows["points"] = rows["points"].astype(float)
        rows["sla"] = rows["age_hours"].map(tq.sla_level)
    else:
        rows["sla"] = pd.Series(dtype=str)
    return tq.QueuePage(rows=rows, total=total)


@requires("ops")
def queue_counts(*, conn: Connection, actor: Actor) -> dict[str, int]:
    """The work page's header: only the people who work the queue see it."""
    row = db.fetch_one(conn, """
        SELECT count(*) FILTER (WHERE status = 'pending' AND assignee_id IS NULL
                                  AND (snoozed_until IS NULL OR snoozed_until <= now())) AS unassigned,
               count(*) FILTER (WHERE status = 'in_review' AND assignee_id = :me) AS mine,
               count(*) FILTER (WHERE raised_at <= now() - interval '48 hours') AS late
        FROM ops.listing_flags WHERE status IN ('pending','in_review')""", me=actor.id)
    return {k: int(v or 0) for k, v in dict(row).items()}


@requires("ops")
def next_flag(*, conn: Connection, actor: Actor) -> int | None:
    return tq.take_next(conn, Q, actor)


@requires("ops")
def assign_flag(*, conn: Connection, actor: Actor, flag_id: Any, version: Any,
                assignee_id: Any) -> int:
    return tq.assign(conn, Q, actor, case_id=flag_id, version=version, assignee_id=assignee_id)


@requires("ops", "manager")
def unassign_flag(*, conn: Connection, actor: Actor, flag_id: Any, version: Any) -> int:
    return tq.unassign(conn, Q, actor, case_id=flag_id, version=version)


@requires("ops")
def snooze_flag(*, conn: Connection, actor: Actor, flag_id: Any, version: Any, until: Any) -> int:
    return tq.snooze(conn, Q, actor, case_id=flag_id, version=version, until=until)


@requires("ops", "manager")
def auto_assign(*, conn: Connection, actor: Actor) -> dict[int, int]:
    return tq.auto_assign(conn, Q, actor)


@requires("ops")
def add_note(*, conn: Connection, actor: Actor, flag_id: Any, body: str) -> int:
    return tq.add_note(conn, Q, actor, case_id=flag_id, body=body)


# ------------------------------------------------------------------ decisions
@dataclass(frozen=True)
class FlagDecision:
    flag_id: int
    status: str
    listing_id: int
    listing_taken_down: bool
    superseded: tuple[int, ...] = ()


@requires("ops")
def decide_flag(*, conn: Connection, actor: Actor, flag_id: Any, version: Any, decision: Any,
                reason_code: Any, note: str | None = None) -> FlagDecision:
    """Confirm (take the listing down, warn the merchant) or clear a flag, with a reason.

    Confirming also needs a note; the note is part of the decision's audit row."""
    flag_id, version = tq.check_case_id(flag_id), tq.check_version(version)
    if decision not in DECISIONS:
        raise InvalidInput("trust.error.bad_form_value")
    code = tq.check_reason(conn, Q, decision, reason_code)
    note = (note or "").strip() or None
    if decision == "confirm" and note is None:
        # Taking a listing down is the destructive choice: it is never made without words.
        raise InvalidInput("ops.error.takedown_note_required")
    status = DECISIONS[decision]
    _lock_listing_of(conn, flag_id)
    row = db.fetch_one(conn, """
        UPDATE ops.listing_flags
        SET status = :status, decided_at = now(), decided_by = :me, reason_code = :code,
            reason_note = :note, snoozed_until = NULL, version = version + 1, updated_at = now()
        WHERE id = :id AND version = :v AND assignee_id = :me AND status = 'in_review'
        RETURNING id, listing_id, merchant_id, kind""",
                        status=status, me=actor.id, code=code, note=note, id=flag_id, v=version)
    if row is None:
        tq.explain_refusal(conn, Q, flag_id, actor, version, must_hold=True)
    taken_down, superseded = False, ()
    if status == "confirmed":
        taken_down, superseded = _take_down(conn, row)
    write_audit(conn=conn, actor_id=actor.id, action=f"listing_flag.{status}",
                entity_type="listing_flag", entity_id=row["id"], before={"status": "in_review"},
                after={"status": status, "reason_code": code, "note": note,
                       "listing_id": row["listing_id"], "listing_taken_down": taken_down,
                       "superseded": list(superseded)},
                reason=note or code)
    return FlagDecision(flag_id=row["id"], status=status, listing_id=row["listing_id"],
                        listing_taken_down=taken_down, superseded=superseded)


def _lock_listing_of(conn: Connection, flag_id: int) -> None:
    """Lock the flag's listing, then all of the listing's flags in id order.

    A confirmation writes the listing and every open flag of it (they are superseded). Two
    confirmations on different flags of one listing used to lock their own flag first and
    then wait for each other's: a deadlock. One fixed order, listing first, makes the
    second wait at the listing; when it gets there, the conditional UPDATE finds its flag
    decided and it gets the Conflict any loser of a race gets. NO KEY UPDATE is what the
    UPDATEs take anyway, and lets the scan insert flags that reference the listing.
    """
    listing_id = db.scalar(conn, "SELECT listing_id FROM ops.listing_flags WHERE id = :id",
                           id=flag_id)
    if listing_id is None:
        raise NotFound("error.not_found")
    db.execute(conn, "SELECT 1 FROM app.listings WHERE id = :l FOR NO KEY UPDATE", l=listing_id)
    db.execute(conn, """SELECT 1 FROM ops.listing_flags WHERE listing_id = :l
                        ORDER BY id FOR NO KEY UPDATE""", l=listing_id)


def _take_down(conn: Connection, flag) -> tuple[bool, tuple[int, ...]]:
    """Take the listing down, close the listing's other open flags, warn the merchant."""
    taken_down = db.execute(conn, """UPDATE app.listings SET status = 'taken_down', updated_at = now()
                                     WHERE id = :id AND status <> 'taken_down'""",
                            id=flag["listing_id"]) == 1
    superseded = tuple(r["id"] for r in db.fetch_all(conn, """
        UPDATE ops.listing_flags
        SET status = 'superseded', decided_at = now(), version = version + 1, updated_at = now()
        WHERE listing_id = :lid AND id <> :id AND status IN ('pending','in_review')
        RETURNING id""", lid=flag["listing_id"], id=flag["id"]))
    db.execute(conn, """
        INSERT INTO app.notification_outbox (merchant_id, channel, template, payload, dedupe_key)
        VALUES (:mid, 'sms', 'listing.taken_down', CAST(:payload AS jsonb), :dedupe)
        ON CONFLICT (dedupe_key) DO NOTHING""",
               mid=flag["merchant_id"],
               payload=json.dumps({"listing_id": flag["listing_id"], "flag_id": flag["id"],
                                   "kind": flag["kind"]}),
               dedupe=f"listing:{flag['listing_id']}:taken_down")
    return taken_down, superseded


@requires(*READ_ROLES)
def decision_options(*, conn: Connection, actor: Actor) -> dict[str, list[str]]:
    return {"confirm": tq.reason_codes(conn, Q, "confirm"),
            "clear": tq.reason_codes(conn, Q, "clear")}


# ------------------------------------------------------------------ one flag, credit factor
@dataclass
class FlagView:
    flag: dict[str, Any]
    other_flags: pd.DataFrame
    merchant_history: pd.DataFrame
    timeline: pd.DataFrame
    options: dict[str, list[str]] = field(default_factory=dict)

    @property
    def is_open(self) -> bool:
        return self.flag["status"] in tq.OPEN_STATUSES


@requires(*READ_ROLES)
def get_flag(*, conn: Connection, actor: Actor, flag_id: Any) -> FlagView:
    flag_id = tq.check_case_id(flag_id)
    row = db.fetch_one(conn, """
        SELECT f.*, l.status AS listing_status, l.price, l.guide_price, l.vin, l.quantity,
               l.exterior_color, l.interior_color, l.published_at, l.is_parallel_import,
               li.market_version, li.port, li.availability, li.expected_arrival,
               coalesce(li.version, 0) AS import_version,
               app.vehicle_name(b.name, se.name) || ' ' || t.name AS vehicle,
               m.name AS merchant_name, m.merchant_type, m.cert_level, ci.name AS city,
               a.display_name AS assignee,
               coalesce(cf.confirmed_listings, 0) AS merchant_confirmed_fakes,
               extract(epoch FROM coalesce(f.decided_at, now()) - f.raised_at) / 3600 AS age_hours
        FROM ops.listing_flags f
        JOIN app.listings l ON l.id = f.listing_id
        JOIN app.trims t ON t.id = l.trim_id JOIN app.series se ON se.id = t.series_id
        JOIN app.brands b ON b.id = se.brand_id
        JOIN app.merchants m ON m.id = f.merchant_id JOIN app.cities ci ON ci.id = l.city_id
        LEFT JOIN ops.staff a ON a.id = f.assignee_id
        LEFT JOIN ops.merchant_confirmed_fake_listings cf ON cf.merchant_id = f.merchant_id
        LEFT JOIN app.listing_imports li ON li.listing_id = l.id AND l.is_parallel_import
        WHERE f.id = :id""", id=flag_id)
    if row is None:
        raise NotFound("error.not_found")
    flag = dict(row)
    # How the listing's VIN reads whatever the flag: None (valid), 'format' / 'check_digit'
    # (malformed) or 'not_checkable' (a market without a check digit: a parallel import's
    # market version decides); the catalogue's trust.detail.* says it in words.
    flag["vin_reason"] = (vin_reason(flag["vin"], market_version=flag["market_version"])
                          if flag["vin"] is not None else None)
    # A parallel import's price reference (None for a domestic listing), shown by the page.
    flag["import_reference"] = (import_prices.listing_reference(conn,
                                                                listing_id=flag["listing_id"])
                                if flag["is_parallel_import"] else None)
    # The evidence in words (console.services.flag_evidence), rendered by the page.
    flag["evidence"] = flag_evidence.evidence(flag["kind"], flag["detail"],
                                              vin_reason=flag["vin_reason"])
    flag["age_hours"] = round(float(flag["age_hours"]), 1)
    flag["sla"] = tq.sla_level(flag["age_hours"])
    return FlagView(
        flag=flag,
        other_flags=db.fetch_df(conn, """
            SELECT id, kind, status, raised_at, reason_code FROM ops.listing_flags
            WHERE listing_id = :lid AND id <> :id ORDER BY raised_at""",
                                lid=flag["listing_id"], id=flag_id),
        merchant_history=db.fetch_df(conn, """
            SELECT id, listing_id, kind, status, raised_at, decided_at, reason_code
            FROM ops.listing_flags WHERE merchant_id = :mid AND listing_id <> :lid
            ORDER BY raised_at DESC LIMIT 20""", mid=flag["merchant_id"], lid=flag["listing_id"]),
        timeline=tq.timeline(conn, Q, flag_id),
        options=decision_options(conn=conn, actor=actor),
    )


@requires("ops", "risk", "manager")
def confirmed_fake_listings(*, conn: Connection, actor: Actor, merchant_id: int) -> int:
    """The credit factor input: listings of this merchant confirmed fake."""
    return int(db.scalar(conn, """SELECT coalesce(max(confirmed_listings), 0)
                                  FROM ops.merchant_confirmed_fake_listings
                                  WHERE merchant_id = :mid""", mid=merchant_id))


def main(argv: list[str]) -> int:
    if not argv or argv[0] != "scan":
        print("usage: python -m console.services.listing_review scan [--gap N]", file=sys.stderr)
        return 2
    from console import job_runs
    gap = float(argv[argv.index("--gap") + 1]) if "--gap" in argv else None
    with job_runs.recorded("listing_flags"):   # the run log health reads, as the step's
        with db.transaction(role="jobs") as conn:  # a scheduled job: the jobs' role
            raised = raise_listing_flags(conn=conn, price_gap=gap)
    for kind, n in raised.items():
        print(f"listing flags raised: {kind} = {n}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
