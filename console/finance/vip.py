"""VIP membership (会员体系, issue 19): tiers bought for a year by merchants whose credit grade
makes them eligible, their renewal and lapse, and the list BD follows up.

The tiers and their numbers are configuration (console/finance/vip_tiers.toml): the annual
fee, the lowest grade that may hold the tier, and the benefits (listing exposure, a score
component in match suggestions, a discount on the escrow service fee).

Eligibility is the merchant's current effective grade (ops.merchant_credit: the scored grade,
or an approved override while it runs) at or above the tier's ``min_grade``, and the
scorecard's band saying ``vip_eligible`` (a merchant with too little history never is).

Who does what, and why:
- BD enrols and renews (``ENROLLERS``): membership is sold by BD after a sale; they record
  the fee paid and its payment reference. Managers read the figures but do not sell.
- Risk and admin cancel (``CANCELLERS``): a cancellation takes away benefits a merchant paid
  for, for a credit reason (fraud, a collapse in standing: risk) or a mistaken enrolment
  (admin); the BD who earns from the sale does not end it.
- BD, risk, admin and managers read (``READERS``); ops sees a merchant's status on the profile.

Terms: a term runs from ``starts_on`` to ``expires_on``, both included (Shanghai days), for
``term_months``. A renewal before the end starts the day after the old term ends, so renewing
early loses no day; a renewal after the end starts today. Every decision takes the merchant's
advisory lock first (two BD staff enrolling one merchant at once: one membership, the other
is told it exists), writes its audit row in the same transaction, and refuses a stale form
(``expected_version``). The database's partial unique index (migration 097) holds the same
rule should anything get past the lock.
"""
from __future__ import annotations

import math
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Any

import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from console import clock, db
from console.audit import write_audit
from console.boundary import Text
from console.errors import Conflict, InvalidInput, NotFound
from console.grades import GRADES
from console.roles import Actor, requires

CONFIG_PATH = Path(__file__).with_name("vip_tiers.toml")
ENROLLERS = ("bd",)
CANCELLERS = ("risk", "admin")
READERS = ("bd", "risk", "admin", "manager")
STATUS_READERS = ("bd", "ops", "risk", "manager", "admin")   # the merchant profile's roles
CANCEL_REASONS = ("merchant_request", "risk_concern", "enrolled_in_error", "merchant_closed",
                  "other")
FOLLOW_UP_REASONS = ("lapsed", "expiring", "grade_below")
CENT = Decimal("0.01")
LOCK_NAMESPACE = 7_310_097        # advisory locks of membership decisions: the merchant is the key


# ---------------------------------------------------------------- configuration
@dataclass(frozen=True)
class Tier:
    code: str
    annual_fee_yuan: Decimal
    min_grade: str
    exposure_boost: float
    match_points: float
    deposit_fee_discount: float

    @property
    def min_rank(self) -> int:
        return GRADES.index(self.min_grade) + 1


@dataclass(frozen=True)
class Config:
    tiers: tuple[Tier, ...]            # lowest first
    term_months: int
    renew_window_days: int
    expiring_within_days: int
    lapsed_follow_up_days: int

    def tier(self, code: str) -> Tier:
        for tier in self.tiers:
            if tier.code == code:
                return tier
        raise InvalidInput("finance.vip.error.unknown_tier")


@lru_cache(maxsize=4)
def load_config(path: Path = CONFIG_PATH) -> Config:
    with open(path, "rb") as fh:
        raw = tomllib.load(fh)
    tiers = tuple(Tier(code=t["code"], annual_fee_yuan=Decimal(str(t["annual_fee_yuan"])).quantize(CENT),
                       min_grade=t["min_grade"], exposure_boost=float(t["exposure_boost"]),
                       match_points=float(t["match_points"]),
                       deposit_fee_discount=float(t["deposit_fee_discount"]))
                  for t in raw["tier"])
    for t in tiers:
        if t.min_grade not in GRADES:
            raise ValueError(f"{path.name}: tier {t.code}: unknown grade {t.min_grade}")
    return Config(tiers=tiers, term_months=int(raw["term_months"]),
                  renew_window_days=int(raw["renew_window_days"]),
                  expiring_within_days=int(raw["expiring_within_days"]),
                  lapsed_follow_up_days=int(raw["lapsed_follow_up_days"]))


def tier_codes() -> tuple[str, ...]:
    return tuple(t.code for t in load_config().tiers)


def match_points_milli(weight: float) -> dict[str, int]:
    """Each tier's match score component in thousandths of a point at the policy's weight
    (the matching SQL adds integers: console/services/matching.py)."""
    if not (math.isfinite(weight) and weight >= 0):
        raise ValueError(f"the VIP match weight must be a finite number >= 0, not {weight!r} "
                         "(CONSOLE_MATCH_VIP_WEIGHT)")
    return {t.code: round(t.match_points * weight * 1000) for t in load_config().tiers}


# ---------------------------------------------------------------- pure rules
def add_months(day: date, months: int) -> date:
    """``day`` moved by whole months; a day past the month's end falls on its last day."""
    index = day.year * 12 + day.month - 1 + months
    year, month = divmod(index, 12)
    month += 1
    for last in (31, 30, 29, 28):
        try:
            return date(year, month, min(day.day, last))
        except ValueError:
            continue
    raise AssertionError("unreachable")


def term_end(starts_on: date, months: int | None = None) -> date:
    """The last day of a term starting on ``starts_on``: 2026-12-04 -> 2027-12-03."""
    return add_months(starts_on, months or load_config().term_months) - timedelta(days=1)


def renewal_start(*, expires_on: date, today: date) -> date:
    """A renewal's first day: the day after the old term's end when it has not ended (an
    early renewal loses no day), else today."""
    return expires_on + timedelta(days=1) if expires_on >= today else today


_FEE_TEXT = re.compile(r"(?:\d{1,3}(?:,\d{3})+|\d{1,12})(?:\.\d{1,2})?", re.ASCII)


def parse_fee(value: Any, *, list_fee: Decimal) -> Decimal:
    """The fee paid as BD types it: '19800', '19,800.00'. Refused (InvalidInput,
    ``input.fee_paid``): empty, negative, NaN, infinity, exponents, more than two decimals,
    full-width or other scripts' digits (type the figure of the receipt in half-width
    digits), floats, and anything above the tier's list fee."""
    if isinstance(value, Decimal):
        if not value.is_finite() or value < 0 or value != value.quantize(CENT, rounding="ROUND_DOWN"):
            raise InvalidInput("input.fee_paid")
        amount = value.quantize(CENT)
    elif isinstance(value, str):
        text = value.strip().removeprefix("¥").strip()
        if not _FEE_TEXT.fullmatch(text):
            raise InvalidInput("input.fee_paid")
        amount = Decimal(text.replace(",", "")).quantize(CENT)
    elif isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        amount = Decimal(value).quantize(CENT)
    else:
        raise InvalidInput("input.fee_paid")
    if amount > list_fee:
        raise InvalidInput("finance.vip.error.fee_above_list", fee=f"{amount:,.2f}",
                           list_fee=f"{list_fee:,.2f}")
    return amount


@dataclass(frozen=True)
class Standing:
    """A merchant's standing for membership now."""

    merchant_id: int
    name: str
    status: str                    # app.merchants.status
    grade: str | None              # effective grade; None: unrated or too little history
    vip_eligible: bool             # the scorecard band's flag (false with too little history)

    def eligible_tiers(self) -> tuple[str, ...]:
        return tuple(t.code for t in load_config().tiers if self.refusal(t.code) is None)

    def refusal(self, tier: str) -> InvalidInput | None:
        """Why this merchant may not hold ``tier`` now (a catalogue message), or None."""
        t = load_config().tier(tier)
        if self.status != "active":
            return InvalidInput("finance.vip.error.merchant_not_active", merchant=self.name)
        if self.grade is None:
            return InvalidInput("finance.vip.error.not_rated", merchant=self.name)
        if not self.vip_eligible:
            return InvalidInput("finance.vip.error.grade_not_vip", merchant=self.name,
                                grade=self.grade, lowest=lowest_vip_grade())
        if GRADES.index(self.grade) + 1 > t.min_rank:
            return InvalidInput("finance.vip.error.tier_needs_grade", merchant=self.name,
                                tier=tier, min_grade=t.min_grade, grade=self.grade)
        return None


def lowest_vip_grade() -> str:
    """The lowest grade any tier admits (the silver card's)."""
    return max((t.min_grade for t in load_config().tiers), key=GRADES.index)


def standing(conn: Connection, merchant_id: int) -> Standing:
    row = db.fetch_one(conn, """
        SELECT m.id, m.name, m.status,
               CASE WHEN g.insufficient_history AND NOT g.is_override THEN NULL
                    ELSE g.effective_grade END AS grade,
               coalesce(g.vip_eligible, false) AS vip_eligible
        FROM app.merchants m LEFT JOIN ops.merchant_credit g ON g.merchant_id = m.id
        WHERE m.id = :m""", m=merchant_id)
    if row is None:
        raise NotFound("error.not_found")
    return Standing(merchant_id=row["id"], name=row["name"], status=row["status"],
                    grade=row["grade"], vip_eligible=bool(row["vip_eligible"]))


# ---------------------------------------------------------------- decisions
@dataclass(frozen=True)
class Membership:
    id: int
    merchant_id: int
    tier: str
    starts_on: date
    expires_on: date
    status: str
    fee_paid: Decimal
    version: int
    renewed_from: int | None = None


_COLUMNS = ("id, merchant_id, tier, starts_on, expires_on, status, fee_paid, version, "
            "renewed_from")


def _membership(row: Mapping[str, Any]) -> Membership:
    return Membership(**{k: row[k] for k in _COLUMNS.split(", ")})


def _lock_merchant(conn: Connection, merchant_id: int) -> None:
    """Serialise membership decisions on one merchant until the transaction ends."""
    db.execute(conn, "SELECT pg_advisory_xact_lock(:ns, CAST(:m % 2147483647 AS integer))",
               ns=LOCK_NAMESPACE, m=merchant_id)


def _active(conn: Connection, merchant_id: int) -> Membership | None:
    row = db.fetch_one(conn, f"""SELECT {_COLUMNS} FROM fin.vip_memberships
                                 WHERE merchant_id = :m AND status = 'active'""", m=merchant_id)
    return _membership(row) if row is not None else None


# The terms in force of many merchants in one statement (the BD board's buyers, issue 19):
# the same rule as _active, a caller may build on it.
ACTIVE_OF_MANY = (f"SELECT {_COLUMNS} FROM fin.vip_memberships "
                  "WHERE merchant_id = ANY(CAST(:ms AS bigint[])) AND status = 'active'")


def active_many(conn: Connection, *, merchant_ids: list[int]) -> dict[int, Membership]:
    """Each merchant's term in force by id, in one query; a merchant without one is left out."""
    ids = sorted({int(m) for m in merchant_ids})
    if not ids:
        return {}
    return {row["merchant_id"]: _membership(row)
            for row in db.fetch_all(conn, ACTIVE_OF_MANY, ms=ids)}


def _clean_ref(payment_ref: str) -> str:
    ref = (payment_ref or "").strip()
    if not ref:
        raise InvalidInput("input.payment_ref")
    return ref


def _insert(conn: Connection, actor: Actor, *, merchant_id: int, tier: Tier, starts_on: date,
            fee: Decimal, payment_ref: str, grade: str | None, note: str | None,
            renewed_from: int | None) -> Membership:
    if db.scalar(conn, "SELECT 1 FROM fin.vip_memberships WHERE payment_ref = :r",
                 r=payment_ref) is not None:
        raise Conflict("finance.vip.error.payment_ref_used", ref=payment_ref)
    try:
        with conn.begin_nested():       # a lost race on an index: the person's words, not a driver error
            row = _insert_row(conn, actor, merchant_id=merchant_id, tier=tier, starts_on=starts_on,
                              fee=fee, payment_ref=payment_ref, grade=grade, note=note,
                              renewed_from=renewed_from)
    except sa.exc.IntegrityError as err:
        index = getattr(getattr(err.orig, "diag", None), "constraint_name", None)
        if index in _LOST_RACE:
            raise Conflict(_LOST_RACE[index], ref=payment_ref) from None
        raise
    return _membership(row)


_LOST_RACE = {"vip_memberships_payment_ref": "finance.vip.error.payment_ref_used",
              "vip_memberships_one_active": "finance.vip.error.already_member_now",
              "vip_memberships_one_renewal": "finance.vip.error.not_renewable.renewed"}


def _insert_row(conn: Connection, actor: Actor, *, merchant_id: int, tier: Tier, starts_on: date,
                fee: Decimal, payment_ref: str, grade: str | None, note: str | None,
                renewed_from: int | None) -> Mapping[str, Any]:
    return db.fetch_one(conn, f"""
        INSERT INTO fin.vip_memberships (merchant_id, tier, starts_on, expires_on, renewed_from,
                                         list_fee, fee_paid, payment_ref, grade_at_enrol,
                                         enrolled_by, note)
        VALUES (:m, :tier, :start, :end, :from_id, :list_fee, :fee, :ref, :grade, :me, :note)
        RETURNING {_COLUMNS}""",
        m=merchant_id, tier=tier.code, start=starts_on, end=term_end(starts_on),
        from_id=renewed_from, list_fee=tier.annual_fee_yuan, fee=fee, ref=payment_ref,
        grade=grade, me=actor.id, note=note)


def _audit_after(m: Membership, **extra: Any) -> dict[str, Any]:
    return {"merchant_id": m.merchant_id, "tier": m.tier, "starts_on": m.starts_on,
            "expires_on": m.expires_on, "fee_paid": m.fee_paid, "status": m.status, **extra}


# What the boundary lets through (console/boundary.py): the fee as a person typed it, text no
# longer than a fee can be, as a manual line's amount is; parse_fee decides the rest (a number
# given as a number is not what a form sends, and is refused). A payment reference is the
# channel's id.
FeeInput = Annotated[str, Text(max=30)]
PaymentRef = Annotated[str, Text(max=64, pattern=r"[A-Za-z0-9][A-Za-z0-9_./-]{0,63}")]


@requires(*ENROLLERS)
def enrol(*, conn: Connection, actor: Actor, merchant_id: int, tier: str, fee_paid: FeeInput,
          payment_ref: PaymentRef, note: str = "") -> Membership:
    """Enrol a merchant in ``tier`` from today for a term, after the sale: refused (with the
    catalogue's reason) when its grade does not make it eligible for the tier, when it is
    already a member, or when the payment reference was used before."""
    t = load_config().tier(tier)
    fee = parse_fee(fee_paid, list_fee=t.annual_fee_yuan)
    ref = _clean_ref(payment_ref)
    _lock_merchant(conn, merchant_id)
    who = standing(conn, merchant_id)
    refusal = who.refusal(tier)
    if refusal is not None:
        raise refusal
    current = _active(conn, merchant_id)
    if current is not None:
        raise Conflict("finance.vip.error.already_member", merchant=who.name, tier=current.tier,
                       expires=current.expires_on.isoformat())
    m = _insert(conn, actor, merchant_id=merchant_id, tier=t, starts_on=clock.today(), fee=fee,
                payment_ref=ref, grade=who.grade, note=(note or "").strip() or None,
                renewed_from=None)
    write_audit(conn=conn, actor_id=actor.id, action="vip.enrol", entity_type="vip_membership",
                entity_id=m.id, after=_audit_after(m, grade=who.grade, payment_ref=ref),
                reason=(note or "").strip() or None)
    return m


def _lock_membership(conn: Connection, membership_id: int,
                     expected_version: int | None) -> Membership:
    merchant_id = db.scalar(conn, "SELECT merchant_id FROM fin.vip_memberships WHERE id = :id",
                            id=membership_id)
    if merchant_id is None:
        raise NotFound("error.not_found")
    _lock_merchant(conn, merchant_id)
    row = db.fetch_one(conn, f"SELECT {_COLUMNS} FROM fin.vip_memberships WHERE id = :id FOR UPDATE",
                       id=membership_id)
    m = _membership(row)
    if expected_version is not None and m.version != expected_version:
        raise Conflict("error.stale")
    return m


@requires(*ENROLLERS)
def renew(*, conn: Connection, actor: Actor, membership_id: int, fee_paid: FeeInput,
          payment_ref: PaymentRef, expected_version: int | None = None, note: str = "") -> Membership:
    """Renew a term for another term of the same tier: from the day after it ends when it has
    not ended (renewing early loses no day), else from today (a lapsed member won back).
    Refused more than ``renew_window_days`` before the end, for a cancelled or already renewed
    term, when another term is in force, or when the grade no longer admits the tier."""
    cfg = load_config()
    m = _lock_membership(conn, membership_id, expected_version)
    t = cfg.tier(m.tier)
    fee = parse_fee(fee_paid, list_fee=t.annual_fee_yuan)
    ref = _clean_ref(payment_ref)
    if m.status in ("cancelled", "renewed"):
        raise Conflict(f"finance.vip.error.not_renewable.{m.status}")
    if db.scalar(conn, "SELECT 1 FROM fin.vip_memberships WHERE renewed_from = :id",
                 id=m.id) is not None:
        raise Conflict("finance.vip.error.not_renewable.renewed")
    today = clock.today()
    who = standing(conn, m.merchant_id)
    if m.status == "lapsed":
        current = _active(conn, m.merchant_id)
        if current is not None:
            raise Conflict("finance.vip.error.already_member", merchant=who.name,
                           tier=current.tier, expires=current.expires_on.isoformat())
    days_left = (m.expires_on - today).days
    if days_left > cfg.renew_window_days:
        raise InvalidInput("finance.vip.error.too_early", days=days_left,
                           window=cfg.renew_window_days)
    refusal = who.refusal(m.tier)
    if refusal is not None:
        raise refusal
    old_status = m.status
    if m.status == "active":
        # The old term hands over: renewed when it has not ended, lapsed when it has (the
        # sweep had not come yet), as it would have been.
        ended = m.expires_on < today
        db.execute(conn, """
            UPDATE fin.vip_memberships
            SET status = :s, lapsed_at = CASE WHEN :s = 'lapsed' THEN now() END,
                version = version + 1
            WHERE id = :id""", s="lapsed" if ended else "renewed", id=m.id)
        old_status = "lapsed" if ended else "renewed"
    new = _insert(conn, actor, merchant_id=m.merchant_id, tier=t,
                  starts_on=renewal_start(expires_on=m.expires_on, today=today), fee=fee,
                  payment_ref=ref, grade=who.grade, note=(note or "").strip() or None,
                  renewed_from=m.id)
    write_audit(conn=conn, actor_id=actor.id, action="vip.renew", entity_type="vip_membership",
                entity_id=new.id,
                before={"renewed_from": m.id, "status": m.status, "expires_on": m.expires_on},
                after=_audit_after(new, renewed_from=m.id, previous_status=old_status,
                                   payment_ref=ref),
                reason=(note or "").strip() or None)
    return new


@requires(*CANCELLERS)
def cancel(*, conn: Connection, actor: Actor, membership_id: int, reason_code: str, reason: str,
           expected_version: int | None = None) -> Membership:
    """End an active term now, with a reason code and words (risk or admin)."""
    if reason_code not in CANCEL_REASONS:
        raise InvalidInput("finance.vip.error.cancel_reason_code")
    words = (reason or "").strip()
    if not words:
        raise InvalidInput("error.reason_required")
    m = _lock_membership(conn, membership_id, expected_version)
    if m.status != "active":
        raise Conflict("finance.vip.error.not_active")
    row = db.fetch_one(conn, f"""
        UPDATE fin.vip_memberships
        SET status = 'cancelled', cancelled_by = :me, cancelled_at = now(),
            cancel_reason_code = :code, cancel_reason = :why, version = version + 1
        WHERE id = :id AND status = 'active' RETURNING {_COLUMNS}""",
        me=actor.id, code=reason_code, why=words, id=m.id)
    done = _membership(row)
    write_audit(conn=conn, actor_id=actor.id, action="vip.cancel", entity_type="vip_membership",
                entity_id=m.id, before={"status": "active", "tier": m.tier,
                                        "expires_on": m.expires_on},
                after={"status": "cancelled", "reason_code": reason_code,
                       "merchant_id": m.merchant_id}, reason=words)
    return done


def lapse_expired(conn: Connection, *, today: date | None = None) -> int:
    """The jobs' sweep: every active term whose last day has passed becomes lapsed, one audit
    row each (no actor: the system). Idempotent: a second run finds nothing to lapse."""
    day = today or clock.today()
    lapsed = db.fetch_all(conn, """
        UPDATE fin.vip_memberships SET status = 'lapsed', lapsed_at = now(), version = version + 1
        WHERE status = 'active' AND expires_on < :today
        RETURNING id, merchant_id, tier, expires_on""", today=day)
    for row in lapsed:
        write_audit(conn=conn, actor_id=None, action="vip.lapse", entity_type="vip_membership",
                    entity_id=row["id"], before={"status": "active"},
                    after={"status": "lapsed", "merchant_id": row["merchant_id"],
                           "tier": row["tier"], "expires_on": row["expires_on"]})
    return len(lapsed)


# ---------------------------------------------------------------- reads
_MEMBERS_SQL = """
SELECT v.id AS membership_id, v.merchant_id, m.name AS merchant, c.name AS city,
       s.display_name AS bd_owner, v.tier, v.starts_on, v.expires_on,
       (v.expires_on - CAST(:today AS date)) AS days_left, v.fee_paid,
       CASE WHEN g.insufficient_history AND NOT g.is_override THEN NULL
            ELSE g.effective_grade END AS grade,
       coalesce(g.vip_eligible, false) AS vip_eligible, v.version
FROM fin.vip_memberships v
JOIN app.merchants m ON m.id = v.merchant_id
JOIN app.cities c ON c.id = m.city_id
LEFT JOIN ops.staff s ON s.id = m.bd_owner_id
LEFT JOIN ops.merchant_credit g ON g.merchant_id = v.merchant_id
WHERE v.status = 'active'
ORDER BY array_position(CAST(:tiers AS text[]), v.tier) DESC, v.expires_on, v.id
"""


@requires(*READERS)
def members(*, conn: Connection, actor: Actor) -> pd.DataFrame:
    """Every membership in force, highest tier first, then soonest to end."""
    return db.fetch_df(conn, _MEMBERS_SQL, today=clock.today(), tiers=list(tier_codes()))


@requires(*READERS)
def tier_summary(*, conn: Connection, actor: Actor) -> pd.DataFrame:
    """Per tier: its numbers from the configuration, the members in force and the fees they
    paid for their terms."""
    counts = {r["tier"]: r for r in db.fetch_all(conn, """
        SELECT tier, count(*) AS members, sum(fee_paid) AS fees
        FROM fin.vip_memberships WHERE status = 'active' GROUP BY tier""")}
    rows = []
    for t in load_config().tiers:
        got = counts.get(t.code)
        rows.append({"tier": t.code, "annual_fee": t.annual_fee_yuan, "min_grade": t.min_grade,
                     "exposure_boost": t.exposure_boost, "match_points": t.match_points,
                     "deposit_fee_discount": t.deposit_fee_discount,
                     "members": int(got["members"]) if got else 0,
                     "fees": got["fees"] if got else Decimal("0.00")})
    return pd.DataFrame(rows)


_FOLLOW_UP_SQL = """
SELECT v.id AS membership_id, v.merchant_id, m.name AS merchant, s.display_name AS bd_owner,
       m.bd_owner_id, v.tier, v.status, v.expires_on, (v.expires_on - CAST(:today AS date)) AS days_left,
       CASE WHEN g.insufficient_history AND NOT g.is_override THEN NULL
            ELSE g.effective_grade END AS grade,
       coalesce(g.vip_eligible, false) AS vip_eligible, m.status AS merchant_status, v.version
FROM fin.vip_memberships v
JOIN app.merchants m ON m.id = v.merchant_id
LEFT JOIN ops.staff s ON s.id = m.bd_owner_id
LEFT JOIN ops.merchant_credit g ON g.merchant_id = v.merchant_id
WHERE v.status = 'active'
   OR (v.status = 'lapsed' AND v.expires_on >= CAST(:today AS date) - :lapsed_days
       AND NOT EXISTS (SELECT 1 FROM fin.vip_memberships n WHERE n.renewed_from = v.id)
       AND NOT EXISTS (SELECT 1 FROM fin.vip_memberships a
                       WHERE a.merchant_id = v.merchant_id AND a.status = 'active'))
"""


@requires(*READERS)
def follow_up(*, conn: Connection, actor: Actor, within_days: int | None = None,
              mine: bool = False) -> pd.DataFrame:
    """The members BD should call, each with its reasons (``reasons``: codes of
    FOLLOW_UP_REASONS, most urgent first):
    - ``lapsed``: the term ended without renewal (lapsed by the sweep, or ended and not yet
      swept), for ``lapsed_follow_up_days`` after its end, while the merchant has no other
      term in force;
    - ``expiring``: a term in force ending within ``within_days`` (default from the config);
    - ``grade_below``: a member in force whose current grade no longer admits its tier.
    Sorted lapsed first, then by the day the term ends. ``mine``: only merchants the caller
    owns as BD."""
    cfg = load_config()
    within = cfg.expiring_within_days if within_days is None else within_days
    today = clock.today()
    df = db.fetch_df(conn, _FOLLOW_UP_SQL, today=today, lapsed_days=cfg.lapsed_follow_up_days)
    if mine:
        df = df[df["bd_owner_id"] == actor.id].reset_index(drop=True)
    reasons: list[list[str]] = []
    for row in df.itertuples():
        found = []
        ended = row.status == "lapsed" or int(row.days_left) < 0
        if ended:
            found.append("lapsed")
        elif int(row.days_left) <= within:
            found.append("expiring")
        if not ended:
            who = Standing(merchant_id=int(row.merchant_id), name=row.merchant,
                           status=row.merchant_status,
                           grade=None if pd.isna(row.grade) else row.grade,
                           vip_eligible=bool(row.vip_eligible))
            if who.refusal(row.tier) is not None:
                found.append("grade_below")
        reasons.append(found)
    df["reasons"] = pd.Series(reasons, index=df.index, dtype=object)
    df = df[df["reasons"].map(bool).astype(bool)].copy()
    if df.empty:
        return df.reset_index(drop=True)
    df["urgency"] = df["reasons"].map(lambda r: FOLLOW_UP_REASONS.index(r[0]))
    df = df.sort_values(["urgency", "expires_on", "membership_id"]).drop(columns=["urgency"])
    return df.reset_index(drop=True)


def follow_up_reason(row: Mapping[str, Any], *, lang: str) -> str:
    """A follow-up row's reasons in words, e.g. 已于 2026-11-30 到期未续费 · 当前等级 BBB，
    低于金卡要求的 AA."""
    from console.i18n import translate
    parts = []
    for code in row["reasons"]:
        if code == "lapsed":
            parts.append(translate("finance.vip.reason.lapsed", lang,
                                   day=row["expires_on"].isoformat()))
        elif code == "expiring":
            days = int(row["days_left"])
            parts.append(translate("finance.vip.reason.expiring_today", lang) if days == 0
                         else translate("finance.vip.reason.expiring", lang, n=days,
                                        day=row["expires_on"].isoformat()))
        else:
            grade = row["grade"]
            t = load_config().tier(row["tier"])
            tier = translate(f"finance.vip.tier.{t.code}", lang)
            inactive = row.get("merchant_status") not in (None, "active")
            parts.append(translate("finance.vip.reason.merchant_inactive", lang)
                         if inactive
                         else translate("finance.vip.reason.no_grade", lang, tier=tier)
                         if grade is None or pd.isna(grade)
                         else translate("finance.vip.reason.grade_below", lang, grade=grade,
                                        tier=tier, min_grade=t.min_grade))
    return translate("finance.vip.reason.sep", lang).join(parts)


@dataclass(frozen=True)
class MerchantVip:
    """A merchant's membership as the profile shows it."""

    merchant_id: int
    current: Membership | None      # the term in force
    last_ended: Mapping[str, Any] | None   # the latest term that ended: status, tier, when
    eligible_tiers: tuple[str, ...]
    grade: str | None


@requires(*STATUS_READERS)
def merchant_vip(*, conn: Connection, actor: Actor, merchant_id: int) -> MerchantVip:
    """The merchant's membership in force (if any), its last ended term and the tiers its
    grade admits now."""
    who = standing(conn, merchant_id)
    current = _active(conn, merchant_id)
    last = db.fetch_one(conn, """
        SELECT id, tier, status, expires_on, cancelled_at, lapsed_at, cancel_reason_code
        FROM fin.vip_memberships
        WHERE merchant_id = :m AND status IN ('lapsed','cancelled')
        ORDER BY coalesce(cancelled_at, lapsed_at) DESC, id DESC LIMIT 1""", m=merchant_id)
    return MerchantVip(merchant_id=merchant_id, current=current,
                       last_ended=dict(last) if last else None,
                       eligible_tiers=who.eligible_tiers(), grade=who.grade)


@requires(*READERS)
def standing_of(*, conn: Connection, actor: Actor, merchant_id: int) -> Standing:
    """A merchant's grade and VIP flag now (the enrol form shows what it admits)."""
    return standing(conn, merchant_id)


def status_line(vip: MerchantVip, *, lang: str) -> str:
    """The profile's one line, e.g. 金卡会员 · 有效期 2026-12-04 至 2027-12-03."""
    from console import fmt
    from console.i18n import translate
    if vip.current is not None:
        m = vip.current
        line = translate("finance.vip.profile.member", lang,
                         tier=translate(f"finance.vip.tier.{m.tier}", lang),
                         start=fmt.day(m.starts_on), end=fmt.day(m.expires_on))
        if m.tier not in vip.eligible_tiers:
            line += translate("finance.vip.reason.sep", lang) + translate(
                "finance.vip.profile.below", lang)
        return line
    if vip.last_ended is not None:
        e = vip.last_ended
        key = "finance.vip.profile.lapsed" if e["status"] == "lapsed" else "finance.vip.profile.cancelled"
        return translate(key, lang, tier=translate(f"finance.vip.tier.{e['tier']}", lang),
                         day=fmt.day(e["expires_on"] if e["status"] == "lapsed" else e["cancelled_at"]))
    if vip.eligible_tiers:
        return translate("finance.vip.profile.eligible", lang, tiers="、".join(
            translate(f"finance.vip.tier.{c}", lang) for c in vip.eligible_tiers)
            if lang == "zh" else ", ".join(translate(f"finance.vip.tier.{c}", lang)
                                           for c in vip.eligible_tiers))
    return translate("finance.vip.profile.not_eligible", lang)


# ---------------------------------------------------------------- the stand-alone command
def main(argv: list[str]) -> int:
    """``python -m console.finance.vip lapse``: the jobs' step ``vip_lapse`` alone, for a site
    that schedules it on its own (e.g. once at 00:10 Shanghai time): as dh_jobs, under the
    step's advisory lock (a run of `console jobs` at work on it makes this one skip), writing
    the jobs' run log under the step's name so `python -m console health` counts it."""
    import sys
    if argv != ["lapse"]:
        print("usage: python -m console.finance.vip lapse", file=sys.stderr)
        return 2
    from console import jobs
    ran, lapsed = jobs.run_alone("vip_lapse", lapse_expired)
    if not ran:
        print("vip_lapse: skipped, another run holds its lock")
        return 0
    print(f"vip_lapse: memberships lapsed={lapsed}")
    return 0


if __name__ == "__main__":
    import sys
    raise SystemExit(main(sys.argv[1:]))
