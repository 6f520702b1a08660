"""What waits for each person on their home page: counts per role the person holds.

Each area registers its counters here; a counter is one cheap indexed COUNT.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy.engine import Connection

from console import db
from console.roles import ROLES, Actor, requires


@dataclass(frozen=True)
class Counter:
    label_key: str
    value: int
    target: int | None = None   # a milestone the value is measured against
    page: str | None = None     # url path of the list the tile opens (console/ui/nav.py)
    query: tuple[tuple[str, str], ...] = ()   # that list's filter (console/ui/links.py FILTERS)
    total: int | None = None    # a wider count the tooltip gives (every post, matchable or not)


# What each tile opens: the list it counts, already filtered the same way. The parameters
# are the ones console/ui/links.py documents per page; a tile without an entry (no page
# works that list yet) is a plain number.
LINKS: dict[str, tuple[str, dict[str, str]]] = {
    "home.ops.pending_certs": ("cert-queue", {"status": "pending", "assignee": "none"}),
    "home.ops.my_certs": ("cert-queue", {"status": "in_review", "assignee": "me"}),
    "home.ops.late_certs": ("cert-queue", {"sla": "late"}),
    "home.ops.open_flags": ("listing-review", {"status": "pending", "assignee": "none"}),
    "home.ops.my_flags": ("listing-review", {"status": "in_review", "assignee": "me"}),
    "home.bd.open_requests": ("leads", {"view": "pool"}),
    "home.bd.my_merchants": ("merchants", {"owner": "me"}),
    "home.bd.my_open_matches": ("board", {"scope": "mine"}),
    "home.bd.pool_leads": ("leads", {"view": "pool"}),
    "home.bd.unattended": ("board", {"scope": "mine", "due": "overdue"}),
    # The profile page without a merchant lists my follow-ups due (pages/merchant_profile.py).
    "home.bd.follow_ups_due": ("merchant", {}),
    "home.risk.open_disputes": ("disputes", {"status": "open"}),
    "home.risk.overrides_to_approve": ("credit-overrides", {"view": "to_approve"}),
    "home.risk.my_overrides_pending": ("credit-overrides", {"view": "mine"}),
    "home.risk.loans_applied": ("loan-queue", {}),      # opens on its "open" view
    "home.manager.live_posts": ("car-search", {}),
    "home.manager.new_merchants_7d": ("growth", {}),
    "home.admin.active_staff": ("staff", {"status": "active"}),
    "home.admin.locked_staff": ("staff", {"status": "locked"}),
    "home.admin.etl_failed_24h": ("data-quality", {"runs": "failed_24h"}),
}


# The business's milestone: 10,000+ live supply and demand posts (BRIEF.md section 1).
TARGETS = {"home.manager.live_posts": 10_000}


CounterFn = Callable[[Connection, Actor], int]

# Counters whose tooltip also gives a wider total.
TOTALS: dict[str, CounterFn] = {
    "home.manager.live_posts": lambda c, a: db.scalar(c, """
        SELECT coalesce(sum(live_listings + open_requests), 0) FROM mart.supply_demand"""),
}

# role -> [(label key, function)]; areas append to this.
COUNTERS: dict[str, list[tuple[str, CounterFn]]] = {
    "ops": [
        # Trust queues (issue 4): snoozed cases wait for their date, so they are not counted.
        ("home.ops.pending_certs", lambda c, a: db.scalar(c, """
            SELECT count(*) FROM app.certifications
            WHERE status = 'pending' AND assignee_id IS NULL
              AND (snoozed_until IS NULL OR snoozed_until <= now())""")),
        ("home.ops.my_certs", lambda c, a: db.scalar(c, """
            SELECT count(*) FROM app.certifications
            WHERE status = 'in_review' AND assignee_id = :me""", me=a.id)),
        ("home.ops.late_certs", lambda c, a: db.scalar(c, """
            SELECT count(*) FROM app.certifications
            WHERE status IN ('pending','in_review') AND submitted_at <= now() - interval '48 hours'""")),
        ("home.ops.open_flags", lambda c, a: db.scalar(c, """
            SELECT count(*) FROM ops.listing_flags
            WHERE status = 'pending' AND assignee_id IS NULL
              AND (snoozed_until IS NULL OR snoozed_until <= now())""")),
        ("home.ops.my_flags", lambda c, a: db.scalar(c, """
            SELECT count(*) FROM ops.listing_flags
            WHERE status = 'in_review' AND assignee_id = :me""", me=a.id)),
    ],
    "bd": [
        ("home.bd.open_requests", lambda c, a: db.scalar(c, """
            SELECT count(*) FROM app.requests WHERE status = 'open'""")),
        ("home.bd.my_merchants", lambda c, a: db.scalar(c, """
            SELECT count(*) FROM app.merchants WHERE bd_owner_id = :me""", me=a.id)),
        ("home.bd.my_open_matches", lambda c, a: db.scalar(c, """
            SELECT count(*) FROM ops.matches
            WHERE owner_id = :me AND stage NOT IN ('won','lost')""", me=a.id)),
        # Matchmaking (issue 5): unowned leads waiting in the pool; my overdue follow-ups.
        ("home.bd.pool_leads", lambda c, a: db.scalar(c, """
            SELECT count(*) FROM app.requests r
            WHERE r.status = 'open'
              AND NOT EXISTS (SELECT 1 FROM ops.lead_claims cl WHERE cl.request_id = r.id)
              AND (r.mode = 'bidding'
                   OR EXISTS (SELECT 1 FROM ops.match_suggestions s WHERE s.request_id = r.id))""")),
        ("home.bd.unattended", lambda c, a: db.scalar(c, """
            SELECT count(*) FROM ops.matches
            WHERE owner_id = :me AND stage NOT IN ('won','lost') AND next_action_at < now()""",
            me=a.id)),
        # Directory (issue 8): merchants whose latest contact by me asks for a follow-up by today.
        ("home.bd.follow_ups_due", lambda c, a: db.scalar(c, """
            SELECT count(*) FROM (
                SELECT DISTINCT ON (merchant_id) next_follow_up FROM ops.contact_log
                WHERE staff_id = :me ORDER BY merchant_id, created_at DESC, id DESC) last
            WHERE last.next_follow_up <= (now() AT TIME ZONE 'Asia/Shanghai')::date""", me=a.id)),
    ],
    "risk": [
        ("home.risk.open_disputes", lambda c, a: db.scalar(c, """
            SELECT count(*) FROM app.disputes WHERE status = 'open'""")),
        # The order-loan queue's default view, "open" (console/finance/loans.py): applied,
        # or approved and waiting to be paid out. (app.loan_applications is the
        # marketplace's record of loans before issue 19, which no one decides here.)
        ("home.risk.loans_applied", lambda c, a: db.scalar(c, """
            SELECT count(*) FROM fin.loans WHERE status IN ('applied', 'approved')""")),
        ("home.risk.overrides_to_approve", lambda c, a: db.scalar(c, """
            SELECT count(*) FROM ops.credit_overrides
            WHERE status = 'proposed' AND proposed_by <> :me AND expires_at > now()""", me=a.id)),
        ("home.risk.my_overrides_pending", lambda c, a: db.scalar(c, """
            SELECT count(*) FROM ops.credit_overrides
            WHERE status = 'proposed' AND proposed_by = :me AND expires_at > now()""", me=a.id)),
    ],
    "manager": [
        # The milestone counts matchable posts (issue 15; console/metrics/catalogue.toml):
        # the supply/demand mart keeps them per segment, a few hundred rows, not 1.3M posts.
        ("home.manager.live_posts", lambda c, a: db.scalar(c, """
            SELECT coalesce(sum(matchable_listings + matchable_requests), 0)
            FROM mart.supply_demand""")),
        ("home.manager.new_merchants_7d", lambda c, a: db.scalar(c, """
            SELECT count(*) FROM app.merchants WHERE registered_at >= now() - interval '7 days'""")),
    ],
    "admin": [
        ("home.admin.active_staff", lambda c, a: db.scalar(c, """
            SELECT count(*) FROM ops.staff WHERE is_active""")),
        ("home.admin.locked_staff", lambda c, a: db.scalar(c, """
            SELECT count(*) FROM ops.staff WHERE locked_until > now()""")),
        ("home.admin.etl_failed_24h", lambda c, a: db.scalar(c, """
            SELECT count(*) FROM etl.runs
            WHERE status = 'failed' AND started_at >= now() - interval '24 hours'""")),
    ],
}


@requires(*ROLES)
def waiting_counts(*, conn: Connection, actor: Actor) -> list[Counter]:
    out: list[Counter] = []
    for role in ("ops", "bd", "risk", "manager", "admin"):
        if actor.has(role):
            for key, fn in COUNTERS[role]:
                page, query = LINKS.get(key, (None, {}))
                total = TOTALS[key](conn, actor) if key in TOTALS else None
                out.append(Counter(key, int(fn(conn, actor) or 0), TARGETS.get(key),
                                   page=page, query=tuple(query.items()),
                                   total=None if total is None else int(total)))
    return out
