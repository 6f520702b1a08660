"""Merchant directory (车商名录) and profile (客户管理): search, export, profile, staff actions.

Who may do what:
- the directory and the profile: BD, ops, risk and managers; phone numbers and ID numbers
  are masked per console.masking, and a phone search is only for roles that see numbers;
- contact log: BD staff;
- change of BD owner: managers, with a reason, audited;
- suspend / reinstate: ops or risk, with a reason, audited. Matching reads the views
  app.matchable_listings / app.matchable_requests (migration 030), which leave out
  every merchant whose status is not 'active'.

Credit grades come from the ratings area (ops.merchant_credit, a thin view on the current-grade
table of migration 066), and only
the roles that area lets read grades (risk, BD, managers) see them here. If the view is
absent, or a merchant has no score yet, the directory and the profile say "not rated yet".
"""
from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field
from datetime import date, datetime, timedelta, timezone
from typing import Any

import pandas as pd
from sqlalchemy.engine import Connection

from console import clock, db
from console.audit import write_audit
from console.boundary import like_contains
from console.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from console.exports import audited_csv
from console.grades import GRADES
from console.masking import can_see_phone, id_number_for, mask_frame, phone_for
from console.roles import Actor, requires
from console.services.credit import ON_HOLD

DIRECTORY_ROLES = ("bd", "ops", "risk", "manager")
CONTACT_ROLES = ("bd",)
OWNER_CHANGE_ROLES = ("manager",)
STATUS_ROLES = ("ops", "risk")

# The credit area's effective grade: one row per rated merchant (latest run, overrides applied),
# kept as a table by scoring runs and override decisions (migration 066).
CREDIT_RELATION = "ops.merchant_credit"
CREDIT_READERS = ("risk", "bd", "manager")   # as console.services.credit.READERS
UNRATED = "unrated"

MERCHANT_TYPES = ("4s", "secondary", "resource", "parallel_import")
MERCHANT_STATUSES = ("active", "suspended", "closed")
CERT_LEVELS = ("none", "personal", "enterprise")
# "none": the merchant never submitted a certification.
CERT_STATUSES = ("none", "pending", "in_review", "needs_info", "approved", "rejected")
CONTACT_KINDS = ("call", "visit", "wechat")
SUSPEND_REASONS = ("fake_listings", "fraud_suspected", "dispute_pattern",
                   "certification_invalid", "payment_default", "other")
REINSTATE_REASONS = ("issue_resolved", "appeal_accepted", "suspended_by_mistake", "other")
SORTS = {
    # sort key -> ORDER BY text (constants only: never user text in SQL)
    "last_active": "m.last_active_at DESC NULLS LAST, m.id",
    "registered": "m.registered_at DESC, m.id",
    "name": "m.name, m.id",
}
EXPORT_MAX_ROWS = 50_000
PROFILE_ROWS = 200           # per profile section: the newest rows
FOLLOW_UP_MAX_DAYS = 366
CONTACT_BODY_MAX = 2000

_PHONE = re.compile(r"^1[3-9][0-9]{9}$")
_USCC = re.compile(r"^[0-9A-Z]{18}$")


# ---------------------------------------------------------------- filters
@dataclass(frozen=True, kw_only=True)
class DirectoryFilters:
    """What the directory is filtered by; empty fields filter nothing."""

    name: str = ""
    phone: str = ""
    uscc: str = ""
    city_id: int | None = None
    tier_level: int | None = None
    merchant_type: str | None = None
    status: str | None = None
    cert_level: str | None = None
    cert_status: str | None = None
    credit_grade: str | None = None     # one of GRADES or UNRATED
    bd_owner_id: int | None = None
    no_bd_owner: bool = False
    active_within_days: int | None = None

    def applied(self) -> dict[str, Any]:
        """The filters actually set (for the export header and the audit row)."""
        return {k: v for k, v in asdict(self).items() if v not in (None, "", False)}


@dataclass(frozen=True)
class DirectoryPage:
    rows: pd.DataFrame
    total: int
    offset: int
    limit: int


def _choice(value: str | None, allowed: tuple[str, ...], key: str) -> str | None:
    if value in (None, ""):
        return None
    if value not in allowed:
        raise InvalidInput(key, value=value)
    return value


def normalise_phone(raw: str) -> str:
    """Digits of a mainland mobile number; '+86 138-1234-5678' -> '13812345678'."""
    digits = re.sub(r"[\s\-()]", "", raw or "")
    if digits.startswith("+86"):
        digits = digits[3:]
    elif digits.startswith("0086"):
        digits = digits[4:]
    return digits


def credit_available(conn: Connection) -> bool:
    return db.scalar(conn, "SELECT to_regclass(:rel) IS NOT NULL", rel=CREDIT_RELATION)


def _show_credit(actor: Actor, has_credit: bool) -> bool:
    return has_credit and actor.has(*CREDIT_READERS)


def _where(filters: DirectoryFilters, actor: Actor, has_credit: bool) -> tuple[str, dict]:
    """WHERE text (constant fragments joined) and its bound parameters."""
    clauses: list[str] = ["true"]
    params: dict[str, Any] = {}
    name = (filters.name or "").strip()
    if name:
        params["name_pat"] = like_contains(name)
        clauses.append(r"""(m.name ILIKE :name_pat ESCAPE '\' OR EXISTS (
            SELECT 1 FROM app.certifications x WHERE x.merchant_id = m.id
              AND x.kind = 'enterprise' AND x.status = 'approved'
              AND x.company_name ILIKE :name_pat ESCAPE '\'))""")
    if (filters.phone or "").strip():
        if not can_see_phone(actor):
            raise PermissionDenied("directory.phone_search_refused")
        phone = normalise_phone(filters.phone)
        if not _PHONE.match(phone):
            raise InvalidInput("directory.phone_full_only")
        params["phone"] = phone
        clauses.append("m.phone = :phone")
    uscc = (filters.uscc or "").strip().upper()
    if uscc:
        if not _USCC.match(uscc):
            raise InvalidInput("directory.uscc_format")
        params["uscc"] = uscc
        clauses.append("""EXISTS (SELECT 1 FROM app.certifications x WHERE x.merchant_id = m.id
              AND x.kind = 'enterprise' AND x.status = 'approved' AND upper(x.uscc) = :uscc)""")
    if filters.city_id is not None:
        params["city_id"] = int(filters.city_id)
        clauses.append("m.city_id = :city_id")
    if filters.tier_level is not None:
        if not 1 <= int(filters.tier_level) <= 6:
            raise InvalidInput("directory.bad_filter", value=filters.tier_level)
        params["tier"] = int(filters.tier_level)
        clauses.append("c.tier_level = :tier")
    for column, value, allowed in (("merchant_type", filters.merchant_type, MERCHANT_TYPES),
                                   ("status", filters.status, MERCHANT_STATUSES),
                                   ("cert_level", filters.cert_level, CERT_LEVELS)):
        if _choice(value, allowed, "directory.bad_filter"):
            params[column] = value
            clauses.append(f"m.{column} = :{column}")  # column name from the tuple above
    cert_status = _choice(filters.cert_status, CERT_STATUSES, "directory.bad_filter")
    if cert_status == "none":
        clauses.append("NOT EXISTS (SELECT 1 FROM app.certifications x WHERE x.merchant_id = m.id)")
    elif cert_status:
        params["cert_status"] = cert_status
        clauses.append("""(SELECT x.status FROM app.certifications x WHERE x.merchant_id = m.id
              ORDER BY x.submitted_at DESC, x.id DESC LIMIT 1) = :cert_status""")
    grade = _choice(filters.credit_grade, GRADES + (UNRATED,), "directory.bad_filter")
    if grade and not actor.has(*CREDIT_READERS):
        raise PermissionDenied("directory.credit_not_for_role")
    if grade and not has_credit:
        # No ratings exist yet: everyone is unrated, no one holds a grade.
        clauses.append("true" if grade == UNRATED else "false")
    elif grade == UNRATED:
        clauses.append(f"NOT EXISTS (SELECT 1 FROM {CREDIT_RELATION} g WHERE g.merchant_id = m.id)")
    elif grade:
        # A merchant on hold holds no grade (credit.shown_terms): never found by one.
        params["grade"], params["on_hold"] = grade, list(ON_HOLD)
        clauses.append(f"EXISTS (SELECT 1 FROM {CREDIT_RELATION} g "
                       "WHERE g.merchant_id = m.id AND g.effective_grade = :grade) "
                       "AND m.status <> ALL (CAST(:on_hold AS text[]))")
    if filters.no_bd_owner:
        clauses.append("m.bd_owner_id IS NULL")
    elif filters.bd_owner_id is not None:
        params["owner"] = int(filters.bd_owner_id)
        clauses.append("m.bd_owner_id = :owner")
    if filters.active_within_days is not None:
        days = int(filters.active_within_days)
        if days < 1:
            raise InvalidInput("directory.bad_filter", value=days)
        params["active_days"] = days
        clauses.append("m.last_active_at >= now() - make_interval(days => :active_days)")
    return " AND ".join(clauses), params


def _page_sql(where: str, order: str, show_credit: bool) -> str:
    credit = (f"(SELECT g.effective_grade FROM {CREDIT_RELATION} g WHERE g.merchant_id = m.id "
              "LIMIT 1)" if show_credit else "NULL::text")
    # A merchant on hold (suspended, closed): no grade and no VIP tier; on_hold says why.
    held = "m.status IN ('suspended', 'closed')"   # credit.ON_HOLD
    # The VIP tier is the membership in force (fin.vip_memberships, issue 19), as the profile
    # and the match score read it: the active term whose last day has not passed (the nightly
    # lapse may not have run yet). One join per page row, on the partial unique index
    # vip_memberships_one_active (merchant_id) WHERE status = 'active' (migration 097). The
    # marketplace's old app.merchants.vip_level number is not shown.
    return f"""
        WITH page AS (
            SELECT m.id FROM app.merchants m JOIN app.cities c ON c.id = m.city_id
            WHERE {where}
            ORDER BY {order}
            LIMIT :limit OFFSET :offset
        )
        SELECT m.id, m.name, m.merchant_type, m.size_class, c.name AS city, c.tier_level,
               m.status, m.cert_level,
               COALESCE(lc.status, 'none') AS cert_status, ec.uscc,
               CASE WHEN {held} THEN NULL ELSE {credit} END AS credit_grade,
               s.display_name AS bd_owner, m.phone, m.contact_name,
               CASE WHEN {held} THEN NULL ELSE v.tier END AS vip_tier,
               CASE WHEN {held} THEN m.status END AS on_hold,
               m.registered_at, m.last_active_at
        FROM page p
        JOIN app.merchants m ON m.id = p.id
        JOIN app.cities c ON c.id = m.city_id
        LEFT JOIN ops.staff s ON s.id = m.bd_owner_id
        LEFT JOIN fin.vip_memberships v ON v.merchant_id = m.id AND v.status = 'active'
                                        AND v.expires_on >= CAST(:today AS date)
        LEFT JOIN LATERAL (SELECT x.status FROM app.certifications x WHERE x.merchant_id = m.id
                           ORDER BY x.submitted_at DESC, x.id DESC LIMIT 1) lc ON true
        LEFT JOIN LATERAL (SELECT x.uscc FROM app.certifications x WHERE x.merchant_id = m.id
                             AND x.kind = 'enterprise' AND x.status = 'approved'
                           ORDER BY x.decided_at DESC, x.id DESC LIMIT 1) ec ON true
        ORDER BY {order}"""


def _count(conn: Connection, where: str, params: dict) -> int:
    return int(db.scalar(conn, f"""SELECT count(*) FROM app.merchants m
                                  JOIN app.cities c ON c.id = m.city_id WHERE {where}""",
                         **params))


@requires(*DIRECTORY_ROLES, replica=True)
def count_directory(*, conn: Connection, actor: Actor, filters: DirectoryFilters) -> int:
    """How many merchants match: the page needs it before drawing its pager."""
    where, params = _where(filters, actor, credit_available(conn))
    return _count(conn, where, params)


@requires(*DIRECTORY_ROLES, replica=True)
def search_directory(*, conn: Connection, actor: Actor, filters: DirectoryFilters,
                     offset: int = 0, limit: int = 50, sort: str = "last_active") -> DirectoryPage:
    """One page of merchants matching ``filters`` and the total count, masked for the actor."""
    if sort not in SORTS:
        raise InvalidInput("directory.bad_filter", value=sort)
    if not 1 <= limit <= 500 or offset < 0:
        raise InvalidInput("directory.bad_filter", value=f"{offset}/{limit}")
    has_credit = credit_available(conn)
    where, params = _where(filters, actor, has_credit)
    total = _count(conn, where, params)
    rows = db.fetch_df(conn, _page_sql(where, SORTS[sort], _show_credit(actor, has_credit)),
                       **params, limit=limit, offset=offset, today=clock.today())
    return DirectoryPage(mask_frame(rows, actor), total, offset, limit)


@requires(*DIRECTORY_ROLES)
def export_directory(*, conn: Connection, actor: Actor, filters: DirectoryFilters,
                     sort: str = "last_active") -> bytes:
    """All matching merchants as CSV (UTF-8 with BOM for Excel), masked like the screen.

    The first lines carry who exported, when, and the filters applied; the export of
    personal data is itself audited.
    """
    page = search_directory(conn=conn, actor=actor, filters=filters, offset=0, limit=1, sort=sort)
    if page.total > EXPORT_MAX_ROWS:
        raise InvalidInput("directory.export_too_large", n=page.total, max=EXPORT_MAX_ROWS)
    has_credit = credit_available(conn)
    where, params = _where(filters, actor, has_credit)
    rows = mask_frame(db.fetch_df(conn, _page_sql(where, SORTS[sort],
                                                  _show_credit(actor, has_credit)),
                                  **params, limit=EXPORT_MAX_ROWS, offset=0,
                                  today=clock.today()), actor)
    applied = filters.applied()
    preamble = [[f"# exported_at={datetime.now(timezone.utc).isoformat(timespec='seconds')}",
                 f"by={actor.username}", f"rows={len(rows)}"],
                ["# filters"] + [f"{k}={v}" for k, v in applied.items()]]
    return audited_csv(conn=conn, actor=actor, export="directory", filters=applied, frame=rows,
                       preamble=preamble, action="merchant.export", entity_type="merchant")


@requires(*DIRECTORY_ROLES, replica=True)
def list_cities(*, conn: Connection, actor: Actor) -> pd.DataFrame:
    return db.fetch_df(conn, """SELECT id, name, province, tier_level FROM app.cities
                                ORDER BY tier_level, province, name""")


@requires(*DIRECTORY_ROLES, replica=True)
def list_bd_staff(*, conn: Connection, actor: Actor) -> pd.DataFrame:
    """Active staff holding the BD role: the possible owners of a merchant."""
    return db.fetch_df(conn, """SELECT id, username, display_name FROM ops.staff
                                WHERE is_active AND 'bd' = ANY(roles) ORDER BY display_name, id""")


# ---------------------------------------------------------------- profile
@dataclass(frozen=True)
class CreditInfo:
    visible: bool                # the actor's roles may read grades
    available: bool              # the ratings area exists at all
    rated: bool                  # this merchant has a grade
    grade: str | None = None     # the effective grade (an approved override wins); None
                                 # while the merchant is on hold (suspended, closed)
    score: int | None = None
    reasons: list[str] = field(default_factory=list)   # factor names, worst first
    details: dict[str, Any] = field(default_factory=dict)
    # 'suspended' / 'closed' while the merchant's terms do not hold (credit.shown_terms):
    # grade, details' grade, loan_limit and vip_eligible are then None, and held_grade
    # keeps the effective grade only to say what it would be.
    on_hold: str | None = None
    held_grade: str | None = None


@dataclass(frozen=True)
class MerchantProfile:
    identity: dict[str, Any]
    certifications: pd.DataFrame
    credit: CreditInfo
    listings_live: pd.DataFrame
    listings_past: pd.DataFrame
    requests_live: pd.DataFrame
    requests_past: pd.DataFrame
    matches: pd.DataFrame
    deals: pd.DataFrame
    reviews_received: pd.DataFrame
    reviews_given: pd.DataFrame
    disputes: pd.DataFrame
    notifications: pd.DataFrame
    contact_log: pd.DataFrame
    staff_history: pd.DataFrame


def _identity(conn: Connection, actor: Actor, merchant_id: int) -> dict[str, Any]:
    row = db.fetch_one(conn, """
        SELECT m.id, m.name, m.merchant_type, m.size_class, m.channel, m.status, m.cert_level,
               m.vip_level, m.phone, m.contact_name, m.registered_at, m.last_active_at,
               m.version, m.bd_owner_id, s.display_name AS bd_owner,
               c.name AS city, c.province, c.tier_level
        FROM app.merchants m
        JOIN app.cities c ON c.id = m.city_id
        LEFT JOIN ops.staff s ON s.id = m.bd_owner_id
        WHERE m.id = :id""", id=merchant_id)
    if row is None:
        raise NotFound("error.not_found")
    identity = dict(row)
    identity["phone"] = phone_for(actor, identity["phone"])
    return identity


def _certifications(conn: Connection, actor: Actor, merchant_id: int) -> pd.DataFrame:
    df = db.fetch_df(conn, """
        SELECT x.id, x.kind, x.status, x.real_name, x.id_number, x.company_name, x.uscc,
               x.legal_rep, x.submitted_at, x.decided_at, r.display_name AS reviewer,
               x.reason_code, x.reason_note
        FROM app.certifications x LEFT JOIN ops.staff r ON r.id = x.reviewer_id
        WHERE x.merchant_id = :id ORDER BY x.submitted_at DESC, x.id DESC""", id=merchant_id)
    # Enterprise cases have no ID number (NULL, which pandas may hold as NaN).
    df["id_number"] = pd.Series([id_number_for(actor, v) if isinstance(v, str) else None
                                 for v in df["id_number"]], index=df.index, dtype=object)
    return df


def _credit(conn: Connection, actor: Actor, merchant_id: int) -> CreditInfo:
    if not actor.has(*CREDIT_READERS):
        return CreditInfo(visible=False, available=False, rated=False)
    if not credit_available(conn):
        return CreditInfo(visible=True, available=False, rated=False)
    row = db.fetch_one(conn, f"SELECT * FROM {CREDIT_RELATION} WHERE merchant_id = :id LIMIT 1",
                       id=merchant_id)
    if row is None:
        return CreditInfo(visible=True, available=True, rated=False)
    reasons = db.scalar(conn, """SELECT reasons FROM ops.credit_scores
                                 WHERE run_id = :r AND merchant_id = :m""",
                        r=row["run_id"], m=merchant_id) or []
    details = {k: row[k] for k in ("grade", "is_override", "override_expires_at",
                                   "insufficient_history", "scored_at", "loan_limit",
                                   "vip_eligible") if k in row}
    status = db.scalar(conn, "SELECT status FROM app.merchants WHERE id = :id", id=merchant_id)
    if status in ON_HOLD:   # the terms do not hold: no page can show them by mistake
        details.update({k: None for k in ("grade", "loan_limit", "vip_eligible") if k in details})
        return CreditInfo(visible=True, available=True, rated=True, grade=None,
                          score=row["score"], reasons=list(reasons), details=details,
                          on_hold=status, held_grade=row["effective_grade"])
    return CreditInfo(visible=True, available=True, rated=True, grade=row["effective_grade"],
                      score=row["score"], reasons=list(reasons), details=details)


_VEHICLE = "app.vehicle_name(b.name, s.name)"
_LISTINGS = f"""
    SELECT l.id, {_VEHICLE} || ' ' || t.name AS vehicle, l.exterior_color, l.interior_color,
           l.quantity, c.name AS city, l.price, l.guide_price, l.status, l.published_at
    FROM app.listings l
    JOIN app.trims t ON t.id = l.trim_id JOIN app.series s ON s.id = t.series_id
    JOIN app.brands b ON b.id = s.brand_id JOIN app.cities c ON c.id = l.city_id
    WHERE l.merchant_id = :id AND (l.status = 'live') = :live
    ORDER BY l.published_at DESC, l.id DESC LIMIT :n"""
_REQUESTS = f"""
    SELECT r.id, {_VEHICLE} || COALESCE(' ' || t.name, '') AS vehicle, r.mode, r.quantity,
           c.name AS city, r.max_price, r.needed_by, r.status, r.created_at
    FROM app.requests r
    JOIN app.series s ON s.id = r.series_id JOIN app.brands b ON b.id = s.brand_id
    LEFT JOIN app.trims t ON t.id = r.trim_id JOIN app.cities c ON c.id = r.city_id
    WHERE r.merchant_id = :id AND (r.status = 'open') = :live
    ORDER BY r.created_at DESC, r.id DESC LIMIT :n"""
# Each match seen from this merchant's side: as the buyer (its request) or the seller.
_MATCHES = f"""
    WITH mine AS (
        SELECT mt.id, 'buyer' AS side, l.merchant_id AS counterparty_id
        FROM ops.matches mt JOIN app.requests r ON r.id = mt.request_id
        JOIN app.listings l ON l.id = mt.listing_id WHERE r.merchant_id = :id
        UNION ALL
        SELECT mt.id, 'seller', r.merchant_id
        FROM ops.matches mt JOIN app.listings l ON l.id = mt.listing_id
        JOIN app.requests r ON r.id = mt.request_id WHERE l.merchant_id = :id)
    SELECT mt.id, mine.side, cp.name AS counterparty, {_VEHICLE} || ' ' || t.name AS vehicle,
           mt.stage, mt.source, mt.score, mt.deal_value, o.display_name AS owner,
           mt.stage_entered_at, mt.created_at
    FROM mine JOIN ops.matches mt ON mt.id = mine.id
    JOIN app.merchants cp ON cp.id = mine.counterparty_id
    JOIN app.listings l ON l.id = mt.listing_id JOIN app.trims t ON t.id = l.trim_id
    JOIN app.series s ON s.id = t.series_id JOIN app.brands b ON b.id = s.brand_id
    LEFT JOIN ops.staff o ON o.id = mt.owner_id
    ORDER BY mt.created_at DESC, mt.id DESC LIMIT :n"""
_DEALS = f"""
    WITH mine AS (
        SELECT id, 'buyer' AS side, seller_id AS counterparty_id FROM app.orders WHERE buyer_id = :id
        UNION ALL
        SELECT id, 'seller', buyer_id FROM app.orders WHERE seller_id = :id)
    SELECT o.id, mine.side, cp.name AS counterparty, {_VEHICLE} || ' ' || t.name AS vehicle,
           o.quantity, o.amount, o.deposit_amount, o.status, o.escrow_state,
           o.created_at, o.deposit_paid_at, o.completed_at, o.cancelled_at
    FROM mine JOIN app.orders o ON o.id = mine.id
    JOIN app.merchants cp ON cp.id = mine.counterparty_id
    JOIN app.listings l ON l.id = o.listing_id JOIN app.trims t ON t.id = l.trim_id
    JOIN app.series s ON s.id = t.series_id JOIN app.brands b ON b.id = s.brand_id
    ORDER BY o.created_at DESC, o.id DESC LIMIT :n"""
_REVIEWS = """
    SELECT rv.id, cp.name AS counterparty, rv.stars, rv.tags, rv.body, rv.order_id,
           rv.listing_id, rv.created_at
    FROM app.reviews rv JOIN app.merchants cp ON cp.id = rv.{other}
    WHERE rv.{mine} = :id ORDER BY rv.created_at DESC, rv.id DESC LIMIT :n"""
_DISPUTES = """
    WITH mine AS (
        SELECT id, 'raised' AS side, against_id AS counterparty_id FROM app.disputes WHERE raised_by = :id
        UNION ALL
        SELECT id, 'against', raised_by FROM app.disputes WHERE against_id = :id)
    SELECT d.id, mine.side, cp.name AS counterparty, d.order_id, d.reason, d.status, d.outcome,
           d.created_at, d.resolved_at
    FROM mine JOIN app.disputes d ON d.id = mine.id
    JOIN app.merchants cp ON cp.id = mine.counterparty_id
    ORDER BY d.created_at DESC, d.id DESC LIMIT :n"""
_NOTIFICATIONS = """
    SELECT id, channel, template, status, created_at, send_after, sent_at
    FROM app.notification_outbox WHERE merchant_id = :id
    ORDER BY created_at DESC, id DESC LIMIT :n"""
_CONTACTS = """
    SELECT cl.id, cl.created_at, s.display_name AS staff, cl.kind, cl.body, cl.next_follow_up
    FROM ops.contact_log cl JOIN ops.staff s ON s.id = cl.staff_id
    WHERE cl.merchant_id = :id ORDER BY cl.created_at DESC, cl.id DESC LIMIT :n"""
_STAFF_HISTORY = """
    SELECT a.at, s.display_name AS actor, a.action, a.before, a.after, a.reason
    FROM ops.audit_log a LEFT JOIN ops.staff s ON s.id = a.actor_id
    WHERE a.entity_type = 'merchant' AND a.entity_id = CAST(:id AS text)
    ORDER BY a.at DESC, a.id DESC LIMIT :n"""


@requires(*DIRECTORY_ROLES)
def merchant_profile(*, conn: Connection, actor: Actor, merchant_id: int) -> MerchantProfile:
    """Everything staff need on one merchant, newest first, masked for the actor."""
    identity = _identity(conn, actor, merchant_id)
    q = {"id": merchant_id, "n": PROFILE_ROWS}
    return MerchantProfile(
        identity=identity,
        certifications=_certifications(conn, actor, merchant_id),
        credit=_credit(conn, actor, merchant_id),
        listings_live=db.fetch_df(conn, _LISTINGS, live=True, **q),
        listings_past=db.fetch_df(conn, _LISTINGS, live=False, **q),
        requests_live=db.fetch_df(conn, _REQUESTS, live=True, **q),
        requests_past=db.fetch_df(conn, _REQUESTS, live=False, **q),
        matches=db.fetch_df(conn, _MATCHES, **q),
        deals=db.fetch_df(conn, _DEALS, **q),
        reviews_received=db.fetch_df(conn, _REVIEWS.format(mine="target_merchant_id",
                                                           other="reviewer_id"), **q),
        reviews_given=db.fetch_df(conn, _REVIEWS.format(mine="reviewer_id",
                                                        other="target_merchant_id"), **q),
        disputes=db.fetch_df(conn, _DISPUTES, **q),
        notifications=db.fetch_df(conn, _NOTIFICATIONS, **q),
        contact_log=db.fetch_df(conn, _CONTACTS, **q),
        staff_history=db.fetch_df(conn, _STAFF_HISTORY, **q),
    )


@requires(*DIRECTORY_ROLES)
def follow_ups_due(*, conn: Connection, actor: Actor, within_days: int = 0) -> pd.DataFrame:
    """Merchants whose latest contact by this person asks for a follow-up by today (+N days)."""
    return db.fetch_df(conn, """
        SELECT m.id, m.name, last.created_at AS last_contact, last.kind, last.next_follow_up
        FROM (SELECT DISTINCT ON (merchant_id) merchant_id, created_at, kind, next_follow_up
              FROM ops.contact_log WHERE staff_id = :me
              ORDER BY merchant_id, created_at DESC, id DESC) last
        JOIN app.merchants m ON m.id = last.merchant_id
        WHERE last.next_follow_up <= CAST(:today AS date) + :days
        ORDER BY last.next_follow_up, m.id""", me=actor.id, today=clock.today(), days=within_days)


# ---------------------------------------------------------------- staff actions
@requires(*CONTACT_ROLES)
def add_contact(*, conn: Connection, actor: Actor, merchant_id: int, kind: str, body: str,
                next_follow_up: date | None = None) -> int:
    """A BD's note of a call, visit or WeChat with the merchant, with a next follow-up date."""
    if kind not in CONTACT_KINDS:
        raise InvalidInput("directory.bad_contact_kind", value=kind)
    body = (body or "").strip()
    if not body:
        raise InvalidInput("directory.contact_body_required")
    if len(body) > CONTACT_BODY_MAX:
        raise InvalidInput("directory.contact_body_too_long", max=CONTACT_BODY_MAX)
    if next_follow_up is not None:
        first = clock.today()
        if next_follow_up < first or next_follow_up > first + timedelta(days=FOLLOW_UP_MAX_DAYS):
            raise InvalidInput("directory.follow_up_out_of_range", max=FOLLOW_UP_MAX_DAYS)
    if not db.scalar(conn, "SELECT 1 FROM app.merchants WHERE id = :id", id=merchant_id):
        raise NotFound("error.not_found")
    entry_id = db.scalar(conn, """
        INSERT INTO ops.contact_log (merchant_id, staff_id, kind, body, next_follow_up)
        VALUES (:m, :s, :k, :b, :f) RETURNING id""",
        m=merchant_id, s=actor.id, k=kind, b=body, f=next_follow_up)
    write_audit(conn=conn, actor_id=actor.id, action="merchant.contact_logged",
                entity_type="merchant", entity_id=merchant_id,
                after={"contact_id": entry_id, "kind": kind, "next_follow_up": next_follow_up})
    return entry_id


def _merchant_for_update(conn: Connection, merchant_id: int) -> dict[str, Any]:
    row = db.fetch_one(conn, """SELECT id, status, bd_owner_id, version FROM app.merchants
                                WHERE id = :id FOR UPDATE""", id=merchant_id)
    if row is None:
        raise NotFound("error.not_found")
    return dict(row)


@requires(*OWNER_CHANGE_ROLES)
def change_owner(*, conn: Connection, actor: Actor, merchant_id: int, new_owner_id: int | None,
                 reason: str, expected_version: int) -> None:
    """Give the merchant to another BD (or to nobody). Managers only, with a reason.

    ``expected_version`` is the version the manager saw: a stale form is refused.
    """
    reason = (reason or "").strip()
    if not reason:
        raise InvalidInput("error.reason_required")
    if new_owner_id is not None and not db.scalar(conn, """
            SELECT 1 FROM ops.staff WHERE id = :id AND is_active AND 'bd' = ANY(roles)""",
            id=new_owner_id):
        raise InvalidInput("directory.owner_not_bd")
    row = _merchant_for_update(conn, merchant_id)
    if row["version"] != expected_version:
        raise Conflict("error.stale")
    if row["bd_owner_id"] == new_owner_id:
        raise InvalidInput("directory.owner_unchanged")
    db.execute(conn, """UPDATE app.merchants
                        SET bd_owner_id = :o, updated_at = now(), version = version + 1
                        WHERE id = :id""", o=new_owner_id, id=merchant_id)
    write_audit(conn=conn, actor_id=actor.id, action="merchant.change_owner",
                entity_type="merchant", entity_id=merchant_id,
                before={"bd_owner_id": row["bd_owner_id"]}, after={"bd_owner_id": new_owner_id},
                reason=reason)


def _reason_text(code: str | None, note: str | None, allowed: tuple[str, ...]) -> str:
    if not code:
        raise InvalidInput("error.reason_required")
    _choice(code, allowed, "directory.bad_reason")
    note = (note or "").strip()
    if code == "other" and not note:
        raise InvalidInput("directory.reason_note_required")
    return f"{code}: {note}" if note else code


def _set_status(conn: Connection, actor: Actor, merchant_id: int, *, to_status: str,
                from_status: str, reason: str, expected_version: int, action: str,
                wrong_state_key: str) -> None:
    row = _merchant_for_update(conn, merchant_id)
    if row["version"] != expected_version:
        raise Conflict("error.stale")
    if row["status"] != from_status:
        raise Conflict(wrong_state_key)
    db.execute(conn, """UPDATE app.merchants
                        SET status = :to, updated_at = now(), version = version + 1
                        WHERE id = :id""", to=to_status, id=merchant_id)
    write_audit(conn=conn, actor_id=actor.id, action=action, entity_type="merchant",
                entity_id=merchant_id, before={"status": row["status"]},
                after={"status": to_status}, reason=reason)


@requires(*STATUS_ROLES)
def suspend_merchant(*, conn: Connection, actor: Actor, merchant_id: int, reason_code: str,
                     note: str = "", expected_version: int) -> None:
    """Suspend an active merchant: its posts stay, but leave matching (ops or risk)."""
    reason = _reason_text(reason_code, note, SUSPEND_REASONS)
    _set_status(conn, actor, merchant_id, to_status="suspended", from_status="active",
                reason=reason, expected_version=expected_version, action="merchant.suspend",
                wrong_state_key="directory.status_not_active")


@requires(*STATUS_ROLES)
def reinstate_merchant(*, conn: Connection, actor: Actor, merchant_id: int, reason_code: str,
                       note: str = "", expected_version: int) -> None:
    """Make a suspended merchant active again (ops or risk)."""
    reason = _reason_text(reason_code, note, REINSTATE_REASONS)
    _set_status(conn, actor, merchant_id, to_status="active", from_status="suspended",
                reason=reason, expected_version=expected_version, action="merchant.reinstate",
                wrong_state_key="directory.status_not_suspended")
