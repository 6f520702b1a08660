"""Merchant credit ratings for staff: grades, rating cards, overrides under four eyes,
model monitoring and export.

Risk staff score, propose and decide overrides; BD staff and managers read grades.
Scoring itself is set-based SQL in console/credit/engine.py.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any

import numpy as np
import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from console import clock, db
from console.audit import write_audit
from console.credit import engine as credit_engine
from console.credit import metrics
from console.credit.scorecard import DEFAULT_CONFIG, NEW_GRADE, bin_label, check_file
from console.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from console.exports import audited_csv
from console.grades import GRADES
from console.roles import Actor, requires
from console.services import merchant_search
from console.settings import get_settings

READERS = ("risk", "bd", "manager")     # may read grades and rating cards
MONITORS = ("risk", "manager")           # may read model monitoring and export
OVERRIDE_REASONS = ("new_information", "guarantee", "collateral", "data_error",
                    "adverse_news", "other")
MAX_OVERRIDE_DAYS = 366                  # an override is reviewed at least once a year
# The card's grades and NEW (no completed deal: not graded by the card, starter limit only).
ALL_GRADES: tuple[str, ...] = (*GRADES, NEW_GRADE)


# ---------------------------------------------------------------- suspended merchants
# A suspended (or closed) merchant keeps its score history, but its grade, order-loan
# limit and VIP standing do not hold while it is on hold. Every page asks shown_terms (one
# merchant) or withhold_terms (a table) what to show, so no page shows a suspended
# merchant as AAA with a limit.
ON_HOLD = ("suspended", "closed")


@dataclass(frozen=True)
class ShownTerms:
    on_hold: str | None          # 'suspended' / 'closed' when the terms do not hold, else None
    grade: str | None            # the effective grade, None while on hold
    loan_limit: Any              # yuan, None while on hold
    vip: bool | None             # None while on hold

    @property
    def held(self) -> bool:
        return self.on_hold is not None


def shown_terms(*, merchant_status: str | None, grade: str | None, loan_limit: Any,
                vip_eligible: bool | None) -> ShownTerms:
    """What to show of a merchant's credit terms: nothing but its status while on hold."""
    if merchant_status in ON_HOLD:
        return ShownTerms(merchant_status, None, None, None)
    return ShownTerms(None, grade, loan_limit, vip_eligible)


def withhold_terms(frame: pd.DataFrame, *, status: str = "status",
                   columns: tuple[str, ...] = ("grade", "effective_grade", "loan_limit",
                                               "vip_eligible")) -> pd.DataFrame:
    """``frame`` with the credit terms of merchants on hold emptied (None) and an
    ``on_hold`` column ('suspended' / 'closed' / None) saying why; the same rule as
    shown_terms, for tables."""
    out = frame.copy()
    held = out[status].isin(ON_HOLD) if status in out.columns else pd.Series(False, index=out.index)
    for column in columns:
        if column in out.columns:
            out[column] = out[column].astype(object).where(~held, None)
    out["on_hold"] = out[status].astype(object).where(held, None) if status in out.columns else None
    return out


# ---------------------------------------------------------------- reading grades
@requires(*READERS, replica=True)
def grade_overview(*, conn: Connection, actor: Actor) -> dict[str, Any]:
    """Effective-grade distribution of the latest run, and the grade trend over runs."""
    distribution = db.fetch_df(conn, """
        SELECT g.grade, count(m.merchant_id) AS merchants,
               count(m.merchant_id) FILTER (WHERE m.is_override) AS overridden,
               count(m.merchant_id) FILTER (WHERE m.insufficient_history) AS insufficient_history
        FROM unnest(CAST(:grades AS text[])) WITH ORDINALITY AS g(grade, rank)
        LEFT JOIN (SELECT c.* FROM ops.merchant_credit c
                   JOIN app.merchants am ON am.id = c.merchant_id
                   WHERE am.status <> ALL (CAST(:on_hold AS text[]))) m
               ON m.effective_grade = g.grade
        GROUP BY g.grade, g.rank ORDER BY g.rank""", grades=list(ALL_GRADES), on_hold=list(ON_HOLD))
    # Rated merchants whose terms do not hold (suspended, closed): left out of the
    # distribution above, counted here.
    on_hold = db.scalar(conn, """
        SELECT count(*) FROM ops.merchant_credit c JOIN app.merchants am ON am.id = c.merchant_id
        WHERE am.status = ANY (CAST(:on_hold AS text[]))""", on_hold=list(ON_HOLD))
    # Each run's merchants per grade are kept with its scores (migration 076): counting 24
    # runs' score rows here took 2.6 s at 50,000 merchants.
    trend = db.fetch_df(conn, """
        SELECT r.id AS run_id, r.finished_at, g.grade, g.merchants
        FROM (SELECT id, finished_at FROM ops.credit_runs WHERE status = 'succeeded'
              ORDER BY id DESC LIMIT 24) r
        JOIN ops.credit_run_grades g ON g.run_id = r.id
        ORDER BY r.id, ops.credit_grade_rank(g.grade)""")
    return {"distribution": distribution, "trend": trend,
            "latest_run": _latest_run(conn), "override": _override_rate(conn),
            "on_hold": int(on_hold)}


def _latest_run(conn: Connection) -> dict[str, Any] | None:
    row = db.fetch_one(conn, """
        SELECT r.id, r.finished_at, r.merchants_scored, r.features_as_of, v.version
        FROM ops.credit_runs r JOIN ops.credit_scorecard_versions v ON v.id = r.version_id
        WHERE r.status = 'succeeded' ORDER BY r.id DESC LIMIT 1""")
    return dict(row) if row else None


@dataclass(frozen=True)
class OverrideRate:
    """Active overrides over GRADED merchants (NEW merchants are not graded by the card, so
    they count in neither the numerator nor the denominator), upgrades and downgrades apart:
    an upgrade raises a limit, a downgrade protects one; bank practice watches both."""
    active: int
    scored: int                 # graded merchants (not NEW)
    rate: float                 # (upgrades + downgrades) / graded
    level: str                  # ok / warn / red
    warn: float
    red: float
    upgrades: int = 0
    downgrades: int = 0
    up_rate: float = 0.0
    down_rate: float = 0.0
    up_level: str = "ok"
    down_level: str = "ok"
    new_overridden: int = 0     # overrides of NEW merchants (limit stays at most the starter)


@requires(*MONITORS)
def override_rate(*, conn: Connection, actor: Actor) -> OverrideRate:
    """The override rate alone, as grade_overview gives it: the overrides page shows it
    without the grade distribution and trend it does not show (295 ms of its 397 ms on the
    large bench)."""
    return _override_rate(conn)


def _override_rate(conn: Connection) -> OverrideRate:
    row = db.fetch_one(conn, """
        SELECT count(*) FILTER (WHERE NOT insufficient_history) AS graded,
               count(*) FILTER (WHERE is_override AND NOT insufficient_history
                                  AND effective_grade_rank < ops.credit_grade_rank(grade)) AS up,
               count(*) FILTER (WHERE is_override AND NOT insufficient_history
                                  AND effective_grade_rank > ops.credit_grade_rank(grade)) AS down,
               count(*) FILTER (WHERE is_override AND insufficient_history) AS new_overridden
        FROM ops.merchant_credit""")
    card = check_file(DEFAULT_CONFIG)
    graded, up, down = int(row["graded"]), int(row["up"]), int(row["down"])

    def share(n: int) -> float:
        return n / graded if graded else 0.0

    def level(rate: float) -> str:
        return metrics.rate_level(rate, warn=card.override_warn, red=card.override_red)

    rate = share(up + down)
    return OverrideRate(up + down, graded, rate, level(rate), card.override_warn,
                        card.override_red, up, down, share(up), share(down), level(share(up)),
                        level(share(down)), int(row["new_overridden"]))


@requires(*READERS)
def search_merchants(*, conn: Connection, actor: Actor, query: str = "",
                     grade: str | None = None, limit: int = 50,
                     offset: int = 0) -> tuple[pd.DataFrame, int]:
    """Merchants by name fragment or id, with their current rating, best score first
    (console/services/merchant_search.py); (page, total)."""
    if grade is not None and grade not in ALL_GRADES:
        raise InvalidInput("credit.error.bad_grade")
    page, total = merchant_search.search(conn, text=(query or "").strip(), grade=grade,
                                         limit=limit, offset=offset, on_hold=ON_HOLD)
    return withhold_terms(page), int(total)


@dataclass
class RatingCard:
    merchant: dict[str, Any]
    current: dict[str, Any] | None          # the ops.merchant_credit row
    factors: pd.DataFrame                    # factor, value, bin, points, max_points, lost
    reasons: list[str]                       # factor names, worst first
    history: pd.DataFrame                    # run_id, finished_at, score, grade
    overrides: pd.DataFrame
    version: str | None = None
    odds: float | None = None                # good:bad odds implied by the score
    pending_override: dict[str, Any] | None = field(default=None)
    shown: ShownTerms | None = None          # what to show of the terms (None: not scored)


@requires(*READERS)
def rating_card(*, conn: Connection, actor: Actor, merchant_id: int) -> RatingCard:
    merchant = db.fetch_one(conn, """
        SELECT m.id, m.name, m.merchant_type, m.size_class, m.cert_level, m.status,
               m.registered_at, ci.name AS city
        FROM app.merchants m JOIN app.cities ci ON ci.id = m.city_id
        WHERE m.id = :id""", id=int(merchant_id))
    if merchant is None:
        raise NotFound("error.not_found")
    current = db.fetch_one(conn, "SELECT * FROM ops.merchant_credit WHERE merchant_id = :id",
                           id=int(merchant_id))
    factors, reasons, version = pd.DataFrame(), [], None
    if current is not None:
        factors = _card_factors(conn, run_id=current["run_id"], merchant_id=int(merchant_id))
        reasons = list(db.scalar(conn, """SELECT reasons FROM ops.credit_scores
                                          WHERE run_id = :r AND merchant_id = :m""",
                                 r=current["run_id"], m=int(merchant_id)) or [])
        version = db.scalar(conn, """SELECT v.version FROM ops.credit_runs r
                                     JOIN ops.credit_scorecard_versions v ON v.id = r.version_id
                                     WHERE r.id = :r""", r=current["run_id"])
    history = db.fetch_df(conn, """
        SELECT r.id AS run_id, r.finished_at, s.score, s.grade, s.insufficient_history
        FROM ops.credit_scores s JOIN ops.credit_runs r ON r.id = s.run_id
        WHERE s.merchant_id = :id AND r.status = 'succeeded'
        ORDER BY r.id""", id=int(merchant_id))
    overrides = _overrides_of(conn, merchant_id=int(merchant_id))
    pending = overrides[overrides["status"] == "proposed"] if not overrides.empty else overrides
    card = check_file(DEFAULT_CONFIG)
    return RatingCard(dict(merchant), dict(current) if current else None, factors, reasons,
                      history, overrides, version,
                      card.odds_at(current["score"]) if current else None,
                      pending.iloc[0].to_dict() if not pending.empty else None,
                      shown_terms(merchant_status=merchant["status"],
                                  grade=current["effective_grade"],
                                  loan_limit=current["loan_limit"],
                                  vip_eligible=current["vip_eligible"]) if current else None)


def _card_factors(conn: Connection, *, run_id: int, merchant_id: int) -> pd.DataFrame:
    frame = db.fetch_df(conn, """
        SELECT f.key AS factor, f.value->'value' AS value, (f.value->>'bin')::int AS bin_no,
               (f.value->>'points')::int AS points, b.max_points,
               b.max_points - (f.value->>'points')::int AS points_lost,
               b.lower, b.upper, b.categories, b.is_missing
        FROM ops.credit_scores s
        JOIN ops.credit_runs r ON r.id = s.run_id
        CROSS JOIN LATERAL jsonb_each(s.factors) AS f
        JOIN ops.credit_scorecard_bins b ON b.version_id = r.version_id AND b.factor = f.key
                                        AND b.bin_no = (f.value->>'bin')::int
        WHERE s.run_id = :r AND s.merchant_id = :m
        ORDER BY b.factor_order""", r=run_id, m=merchant_id)
    frame["bin_label"] = [bin_label(lower=r.lower, upper=r.upper, categories=r.categories,
                                    is_missing=r.is_missing) for r in frame.itertuples()]
    return frame.drop(columns=["lower", "upper", "categories", "is_missing"])


def _overrides_of(conn: Connection, *, merchant_id: int) -> pd.DataFrame:
    return db.fetch_df(conn, """
        SELECT o.id, o.status, o.from_grade, o.new_grade, o.reason_code, o.reason, o.expires_at,
               p.display_name AS proposed_by, o.proposed_at,
               coalesce(a.display_name, j.display_name) AS decided_by, o.decided_at,
               o.decision_note
        FROM ops.credit_overrides o
        JOIN ops.staff p ON p.id = o.proposed_by
        LEFT JOIN ops.staff a ON a.id = o.approved_by
        LEFT JOIN ops.staff j ON j.id = o.rejected_by
        WHERE o.merchant_id = :id ORDER BY o.proposed_at DESC, o.id DESC""", id=merchant_id)


# ---------------------------------------------------------------- overrides (four eyes)
def expiry_instant(expires_on: date) -> datetime:
    """An override 'until 2026-12-31' holds through that day, Shanghai time."""
    return datetime.combine(expires_on + timedelta(days=1), time.min, tzinfo=clock.business_tz())


@requires("risk")
def propose_override(*, conn: Connection, actor: Actor, merchant_id: int, new_grade: str,
                     reason_code: str, reason: str, expires_on: date) -> int:
    """A risk officer proposes a new grade until a date; another officer must decide."""
    if new_grade not in GRADES:
        raise InvalidInput("credit.error.bad_grade")
    if reason_code not in OVERRIDE_REASONS:
        raise InvalidInput("credit.error.bad_reason_code")
    if not (reason or "").strip():
        raise InvalidInput("error.reason_required")
    if not isinstance(expires_on, date) or not (
            clock.today() <= expires_on <= clock.today() + timedelta(days=MAX_OVERRIDE_DAYS)):
        raise InvalidInput("credit.error.bad_expiry", days=MAX_OVERRIDE_DAYS)
    current = db.fetch_one(conn, """SELECT run_id, grade, effective_grade, insufficient_history
                                    FROM ops.merchant_credit
                                    WHERE merchant_id = :m""", m=int(merchant_id))
    if current is None:
        raise NotFound("credit.error.not_scored")
    if current["effective_grade"] == new_grade:
        raise InvalidInput("credit.error.same_grade")
    # A graded merchant's override moves at most so many notches from its SCORED grade (not
    # from an earlier override's, so overrides cannot walk a grade further step by step).
    # A NEW merchant has no scored grade to measure from; its limit stays at most the
    # starter limit whatever grade it is given (migration 083).
    max_notches = get_settings().credit_override_max_notches
    if not current["insufficient_history"] and \
            abs(GRADES.index(new_grade) - GRADES.index(current["grade"])) > max_notches:
        raise InvalidInput("credit.error.too_many_notches", notches=max_notches,
                           grade=current["grade"])
    try:
        with conn.begin_nested():
            override_id = db.scalar(conn, """
                INSERT INTO ops.credit_overrides (merchant_id, run_id, from_grade, new_grade,
                                                  reason_code, reason, expires_at, proposed_by,
                                                  basis_grade)
                VALUES (:m, :run, :from_grade, :new_grade, :code, :reason, :exp, :by, :basis)
                RETURNING id""", m=int(merchant_id), run=current["run_id"], basis=current["grade"],
                from_grade=current["effective_grade"], new_grade=new_grade, code=reason_code,
                reason=reason.strip(), exp=expiry_instant(expires_on), by=actor.id)
    except sa.exc.IntegrityError as err:
        # Only the one-open-proposal index means "already proposed"; any other violation is
        # a bug the console reports as such, not as a refusal in the wrong words.
        if getattr(err.orig, "pgcode", None) != "23505":
            raise
        raise Conflict("credit.error.open_proposal_exists") from err
    write_audit(conn=conn, actor_id=actor.id, action="credit.override.propose",
                entity_type="credit_override", entity_id=override_id,
                after={"merchant_id": int(merchant_id), "from_grade": current["effective_grade"],
                       "new_grade": new_grade, "reason_code": reason_code,
                       "expires_on": expires_on},
                reason=reason.strip())
    return int(override_id)


def _lock_proposal(conn: Connection, *, override_id: int, actor: Actor,
                   expected_version: int | None) -> dict[str, Any]:
    row = db.fetch_one(conn, """SELECT * FROM ops.credit_overrides WHERE id = :id FOR UPDATE""",
                       id=int(override_id))
    if row is None:
        raise NotFound("error.not_found")
    if row["proposed_by"] == actor.id:
        raise PermissionDenied("credit.error.own_override")
    if row["status"] != "proposed":
        raise Conflict("credit.error.already_decided", status=row["status"])
    if expected_version is not None and row["version"] != expected_version:
        raise Conflict("error.stale")
    if row["expires_at"] <= db.scalar(conn, "SELECT now()"):
        raise Conflict("credit.error.override_expired")
    return dict(row)


@requires("risk")
def approve_override(*, conn: Connection, actor: Actor, override_id: int, note: str = "",
                     expected_version: int | None = None) -> None:
    """A second risk officer approves: the new grade holds until the override expires."""
    row = _lock_proposal(conn, override_id=override_id, actor=actor,
                         expected_version=expected_version)
    limit = override_limit(conn, merchant_id=row["merchant_id"], grade=row["new_grade"])
    senior = get_settings().credit_override_senior_limit_yuan
    # Seniority scales with the limit the override creates: above the senior limit the
    # approver must also hold the manager role (a head of risk), not only be another officer.
    if limit is not None and limit > senior and not actor.has("manager"):
        raise PermissionDenied("credit.error.senior_approval", limit=f"{limit:,.0f}",
                               senior=f"{senior:,.0f}")
    superseded = [r["id"] for r in db.fetch_all(conn, """
        UPDATE ops.credit_overrides SET status = 'superseded', version = version + 1
        WHERE merchant_id = :m AND status = 'approved' AND id <> :id
        RETURNING id""", m=row["merchant_id"], id=row["id"])]
    db.execute(conn, """
        UPDATE ops.credit_overrides
        SET status = 'approved', approved_by = :by, decided_at = now(), decision_note = :note,
            version = version + 1, approved_limit = :limit
        WHERE id = :id AND status = 'proposed'""",
        by=actor.id, note=(note or "").strip() or None, id=row["id"], limit=limit)
    write_audit(conn=conn, actor_id=actor.id, action="credit.override.approve",
                entity_type="credit_override", entity_id=row["id"],
                before={"status": "proposed"},
                after={"status": "approved", "merchant_id": row["merchant_id"],
                       "new_grade": row["new_grade"], "expires_at": row["expires_at"],
                       "superseded": superseded, "limit": limit},
                reason=(note or "").strip() or None)


def override_limit(conn: Connection, *, merchant_id: int, grade: str) -> float | None:
    """The order-loan limit the merchant would hold under ``grade`` now: the same rule as
    its current row (migration 083: the grade's cap, at most the multiple of its purchases;
    a NEW merchant at most the starter limit)."""
    value = db.scalar(conn, """
        SELECT ops.credit_limit(s.insufficient_history, b.loan_limit, s.purchases_12m,
                                r.limit_multiple, coalesce(r.starter_limit, v.ih_loan_limit))
        FROM ops.merchant_grade_current c
        JOIN ops.credit_runs r ON r.id = c.run_id
        JOIN ops.credit_scorecard_versions v ON v.id = r.version_id
        JOIN ops.credit_scores s ON s.run_id = c.run_id AND s.merchant_id = c.merchant_id
        LEFT JOIN ops.credit_grade_bands b ON b.version_id = r.version_id AND b.grade = :g
        WHERE c.merchant_id = :m""", m=int(merchant_id), g=grade)
    return float(value) if value is not None else None


@requires("risk")
def reject_override(*, conn: Connection, actor: Actor, override_id: int, note: str,
                    expected_version: int | None = None) -> None:
    """A second risk officer rejects, saying why; the scored grade stays."""
    if not (note or "").strip():
        raise InvalidInput("error.reason_required")
    row = _lock_proposal(conn, override_id=override_id, actor=actor,
                         expected_version=expected_version)
    db.execute(conn, """
        UPDATE ops.credit_overrides
        SET status = 'rejected', rejected_by = :by, decided_at = now(), decision_note = :note,
            version = version + 1
        WHERE id = :id AND status = 'proposed'""", by=actor.id, note=note.strip(), id=row["id"])
    write_audit(conn=conn, actor_id=actor.id, action="credit.override.reject",
                entity_type="credit_override", entity_id=row["id"],
                before={"status": "proposed"},
                after={"status": "rejected", "merchant_id": row["merchant_id"]},
                reason=note.strip())


@requires("risk")
def override_inbox(*, conn: Connection, actor: Actor) -> pd.DataFrame:
    """Open proposals, oldest first; mine = proposed by me (I cannot decide those)."""
    return db.fetch_df(conn, """
        SELECT o.id, o.version, o.merchant_id, m.name AS merchant, o.from_grade, o.new_grade,
               o.reason_code, o.reason, o.expires_at, p.display_name AS proposed_by,
               o.proposed_at, c.score, (o.proposed_by = :me) AS mine
        FROM ops.credit_overrides o
        JOIN app.merchants m ON m.id = o.merchant_id
        JOIN ops.staff p ON p.id = o.proposed_by
        LEFT JOIN ops.merchant_credit c ON c.merchant_id = o.merchant_id
        WHERE o.status = 'proposed' AND o.expires_at > now()
        ORDER BY o.proposed_at, o.id""", me=actor.id)


@requires("risk")
def recent_override_decisions(*, conn: Connection, actor: Actor, limit: int = 50) -> pd.DataFrame:
    return db.fetch_df(conn, """
        SELECT o.id, o.merchant_id, m.name AS merchant, o.status, o.from_grade, o.new_grade,
               o.reason_code, o.expires_at, p.display_name AS proposed_by,
               coalesce(a.display_name, j.display_name) AS decided_by, o.decided_at,
               o.decision_note
        FROM ops.credit_overrides o
        JOIN app.merchants m ON m.id = o.merchant_id
        JOIN ops.staff p ON p.id = o.proposed_by
        LEFT JOIN ops.staff a ON a.id = o.approved_by
        LEFT JOIN ops.staff j ON j.id = o.rejected_by
        WHERE o.status <> 'proposed'
        ORDER BY coalesce(o.decided_at, o.proposed_at) DESC, o.id DESC
        LIMIT :n""", n=int(limit))


# ---------------------------------------------------------------- scoring runs
@requires("risk")
def run_scoring(*, conn: Connection, actor: Actor) -> int:
    """Score every merchant now with the repo's scorecard (audited as this officer)."""
    card = check_file(DEFAULT_CONFIG)
    expired = credit_engine.mark_expired_overrides(conn)
    run_id = credit_engine.score_all(conn, card, triggered_by=actor.id)
    scored = db.scalar(conn, "SELECT merchants_scored FROM ops.credit_runs WHERE id = :r", r=run_id)
    # Audit rows last: the first one takes the audit chain's head until this transaction
    # commits, and every staff decision would wait for the whole scoring run behind it.
    credit_engine.audit_expired_overrides(conn, expired)
    write_audit(conn=conn, actor_id=actor.id, action="credit.score", entity_type="credit_run",
                entity_id=run_id, after={"version": card.version, "merchants": scored,
                                         "overrides_expired": len(expired)})
    return run_id


@requires(*MONITORS)
def list_runs(*, conn: Connection, actor: Actor) -> pd.DataFrame:
    return db.fetch_df(conn, """
        SELECT r.id AS run_id, r.status, v.version, r.started_at, r.finished_at,
               r.features_as_of, r.merchants_scored, s.display_name AS triggered_by, r.error_text
        FROM ops.credit_runs r
        JOIN ops.credit_scorecard_versions v ON v.id = r.version_id
        LEFT JOIN ops.staff s ON s.id = r.triggered_by
        ORDER BY r.id DESC LIMIT 100""")


# ---------------------------------------------------------------- monitoring
@dataclass
class Performance:
    """How well one run's scores separate good from bad merchants on a set of outcomes."""
    ks: float | None = None
    auc: float | None = None
    outcomes: int = 0                                                 # merchants evaluated
    bad: int = 0
    loan_bad: int = 0          # of the bad: an order loan reached 90+ days past due (fin.loans)
    by_grade: pd.DataFrame = field(default_factory=pd.DataFrame)     # grade, merchants, bad, rate
    monotonic: bool | None = None


@dataclass
class Monitoring:
    run_a: int | None
    run_b: int | None
    score_psi: float | None = None
    score_psi_level: str = "unknown"
    factor_psi: pd.DataFrame = field(default_factory=pd.DataFrame)   # factor, psi, level
    migration: pd.DataFrame = field(default_factory=pd.DataFrame)    # grade x grade
    override: OverrideRate | None = None
    # run_b's graded merchants on point-in-time labels: bad = a bad event within window_days
    # after the run finished (sql/queries/credit_performance_counts.sql); bad events before
    # the run are the card's inputs, never its label.
    performance: Performance = field(default_factory=Performance)
    window_days: int = 0
    days_since_run: int | None = None
    # The population's dates: run_b's score date (the Shanghai day it finished) and its
    # outcome window, from when the run finished to window_days later (both Shanghai days).
    score_date: date | None = None
    window_from: date | None = None
    window_to: date | None = None
    # Stability compares runs of one scorecard version only: bins and scores mean different
    # things in another version. run_b's version; True when run_b is that version's first
    # run (no earlier run to compare with, and no development distribution is stored for a
    # version: the validation report keeps the PSI it measured, not the bins, so no PSI).
    version_b: str | None = None
    first_of_version: bool = False

    @property
    def window_open(self) -> bool:
        """Outcomes of the run are still arriving: its window has not passed yet."""
        return self.days_since_run is not None and self.days_since_run < self.window_days


@requires(*MONITORS, replica=True)
def monitoring_report(*, conn: Connection, actor: Actor, run_a: int | None = None,
                      run_b: int | None = None) -> Monitoring:
    """Stability between two runs of the SAME scorecard version (default: the latest run
    and the previous run of its version) and run_b's performance on point-in-time labels:
    bad events after the run within the validation's label window
    (CONSOLE_CREDIT_LABEL_WINDOW_DAYS), over its graded merchants
    (sql/queries/credit_performance_counts.sql). Score PSI, factor PSI and grade migration
    across versions are refused (credit.error.monitor_cross_version): a score, a bin or a
    grade means something else in another version. When run_b is its version's first run
    there is nothing to compare it with: ``first_of_version``, no stability figures."""
    if run_b is None:
        run_b = db.scalar(conn, """SELECT max(id) FROM ops.credit_runs
                                   WHERE status = 'succeeded'""")
    chosen = [int(r) for r in (run_a, run_b) if r is not None]
    found = {int(r["id"]): r for r in db.fetch_all(conn, """
        SELECT r.id, r.version_id, v.version FROM ops.credit_runs r
        JOIN ops.credit_scorecard_versions v ON v.id = r.version_id
        WHERE r.id = ANY(:ids) AND r.status = 'succeeded'""", ids=chosen)} if chosen else {}
    if len(found) != len(set(chosen)):
        raise NotFound("error.not_found")      # a run that does not exist or did not succeed
    report = Monitoring(None, run_b, override=_override_rate(conn),
                        window_days=get_settings().credit_label_window_days)
    if run_b is None:
        return report
    b = found[int(run_b)]
    report.version_b = b["version"]
    if run_a is None:
        run_a = db.scalar(conn, """SELECT max(id) FROM ops.credit_runs
                                   WHERE status = 'succeeded' AND version_id = :v
                                     AND id < :b""", v=b["version_id"], b=int(run_b))
        report.first_of_version = run_a is None
    elif found[int(run_a)]["version_id"] != b["version_id"]:
        raise Conflict("credit.error.monitor_cross_version", run_a=int(run_a),
                       version_a=found[int(run_a)]["version"], run_b=int(run_b),
                       version_b=b["version"])
    report.run_a = run_a
    if run_a is not None:   # the compared version's own thresholds and factor order
        _stability(conn, report, credit_engine.version_card(conn, b["version_id"]))
    _performance(conn, report)
    return report


def _stability(conn: Connection, report: Monitoring, card) -> None:
    """Score PSI, factor PSI and grade migration between run_a and run_b, from the counts
    each run keeps (migration 076): no factor of a score row is unpacked here."""
    scores = db.fetch_df(conn, """SELECT run_id, score, merchants FROM ops.credit_run_scores
                                  WHERE run_id IN (:a, :b)""",
                         a=report.run_a, b=report.run_b)

    def spread(run_id: int) -> np.ndarray:
        run = scores[scores["run_id"] == run_id]
        return np.repeat(run["score"].to_numpy(), run["merchants"].to_numpy())

    report.score_psi = metrics.score_psi(spread(report.run_a), spread(report.run_b))
    report.score_psi_level = metrics.psi_level(report.score_psi, investigate=card.psi_investigate,
                                               shifted=card.psi_shifted)
    bins = db.fetch_df(conn, """
        SELECT factor, bin_no,
               coalesce(sum(merchants) FILTER (WHERE run_id = :a), 0) AS before,
               coalesce(sum(merchants) FILTER (WHERE run_id = :b), 0) AS after
        FROM ops.credit_run_bins
        WHERE run_id IN (:a, :b)
        GROUP BY 1, 2 ORDER BY 1, 2""", a=report.run_a, b=report.run_b)
    rows = []
    for factor, group in bins.groupby("factor", sort=False):
        value = metrics.psi(group["before"], group["after"])
        rows.append({"factor": factor, "psi": value,
                     "level": metrics.psi_level(value, investigate=card.psi_investigate,
                                                shifted=card.psi_shifted)})
    order = {f.name: f.order for f in card.factors}
    report.factor_psi = (pd.DataFrame(rows, columns=["factor", "psi", "level"])
                         .sort_values("factor", key=lambda s: s.map(order).fillna(99)))
    report.migration = _grade_moves(conn, run_a=report.run_a, run_b=report.run_b)


def _grade_moves(conn: Connection, *, run_a: int, run_b: int) -> pd.DataFrame:
    """Merchants per grade before (run_a) → after (run_b): kept by the scoring transaction for
    a run and the previous run of its version (migration 108), else counted here."""
    kept = db.fetch_df(conn, """SELECT before, after, merchants FROM ops.credit_run_moves
                                WHERE run_id = :b AND from_run_id = :a""", a=run_a, b=run_b)
    if len(kept):
        return metrics.migration_counts(kept["before"], kept["after"], kept["merchants"])
    # One pass over both runs' rows, no self-join: a scoring run's rows are newer than the
    # table's statistics until the next ANALYZE, so a join's planner expected one row per
    # run and compared 50,000 x 50,000 (288 s on the large bench, past the 30 s timeout).
    moves = db.fetch_df(conn, """
        SELECT before, after, count(*) AS merchants
        FROM (SELECT min(grade) FILTER (WHERE run_id = :a) AS before,
                     min(grade) FILTER (WHERE run_id = :b) AS after
              FROM ops.credit_run_merchants
              WHERE run_id IN (:a, :b)
              GROUP BY merchant_id) AS m
        WHERE before IS NOT NULL AND after IS NOT NULL
        GROUP BY 1, 2""", a=run_a, b=run_b)
    return metrics.migration_counts(moves["before"], moves["after"], moves["merchants"])


def _performance(conn: Connection, report: Monitoring) -> None:
    """run_b's performance on point-in-time labels, from its graded merchants counted per
    score, grade and outcome in the database (not one row per merchant)."""
    frame = db.fetch_df(conn, db.named_query("credit_performance_counts"), run_id=report.run_b,
                        window_days=report.window_days)
    scored_at = pd.Timestamp(db.scalar(conn, "SELECT finished_at FROM ops.credit_runs WHERE id = :r",
                                       r=report.run_b)).tz_convert(clock.business_tz())
    report.days_since_run = (clock.today() - scored_at.date()).days
    report.score_date = report.window_from = scored_at.date()
    report.window_to = (scored_at + pd.Timedelta(days=report.window_days)).date()
    report.performance = _measure(frame)


def _measure(frame: pd.DataFrame) -> Performance:
    """KS, AUC and default rate per grade of one population: rows of (score, grade, bad)
    standing for ``merchants`` merchants each."""
    weights = frame["merchants"] if len(frame) else []
    out = Performance(outcomes=int(frame["merchants"].sum()) if len(frame) else 0,
                      bad=int((frame["bad"] * frame["merchants"]).sum()) if len(frame) else 0,
                      loan_bad=int((frame["loan_bad"] * frame["merchants"]).sum())
                      if len(frame) else 0)
    out.by_grade = metrics.default_rate_by_grade(frame["grade"] if len(frame) else [],
                                                 frame["bad"] if len(frame) else [],
                                                 weights)
    if len(frame):
        # Undefined (NaN) without both good and bad merchants: None, shown as "—".
        out.ks = _defined(metrics.ks(frame["score"], frame["bad"], weights))
        out.auc = _defined(metrics.roc_auc(frame["score"], frame["bad"], weights))
        out.monotonic = metrics.is_monotonic_by_grade(out.by_grade)
    return out


def _defined(value: float) -> float | None:
    return None if value != value else float(value)


# ---------------------------------------------------------------- export
EXPORT_COLUMNS = ("merchant_id", "name", "city", "merchant_type", "score", "grade",
                  "effective_grade", "is_override", "insufficient_history", "loan_limit",
                  "vip_eligible", "scored_at", "on_hold")


@requires(*MONITORS)
def export_csv(*, conn: Connection, actor: Actor, grade: str | None = None) -> bytes:
    """Current ratings as CSV (UTF-8 with BOM so that Excel opens Chinese text); the first
    line says which filter was applied. The export is audited (console.exports), so the
    caller's transaction must commit."""
    if grade is not None and grade not in ALL_GRADES:
        raise InvalidInput("credit.error.bad_grade")
    frame = db.fetch_df(conn, """
        SELECT c.merchant_id, m.name, ci.name AS city, m.merchant_type, c.score, c.grade,
               c.effective_grade, c.is_override, c.insufficient_history, c.loan_limit,
               c.vip_eligible, c.scored_at, m.status
        FROM ops.merchant_credit c
        JOIN app.merchants m ON m.id = c.merchant_id
        JOIN app.cities ci ON ci.id = m.city_id
        WHERE CAST(:grade AS text) IS NULL
           OR (c.effective_grade = :grade AND m.status <> ALL (CAST(:on_hold AS text[])))
        ORDER BY c.score DESC, c.merchant_id""", grade=grade, on_hold=list(ON_HOLD))
    # A suspended merchant's terms do not hold: empty in the file, its status in on_hold.
    frame = withhold_terms(frame)
    return audited_csv(conn=conn, actor=actor, export="credit_ratings",
                       filters={"effective_grade": grade}, entity_type="credit",
                       frame=frame.reindex(columns=list(EXPORT_COLUMNS)),
                       preamble=[[f"# effective_grade={grade or 'all'}"]])


# ---------------------------------------------------------------- validation (point in time)
@dataclass
class VersionValidation:
    version_id: int
    version: str
    status: str              # active / candidate / retired
    source: str              # expert / fitted
    report: Any              # console.credit.validation.ValidationReport
    calibration: dict[str, Any] | None = None   # the version's [calibration], as registered
    # factors the point-in-time rebuild has no history for (v1's dead factors): no report
    unrebuilt: list[str] = field(default_factory=list)
    # read from storage (console/credit/validation_store.py): when and on what it was
    # computed, and whether it is stale; None for a fresh computation or nothing stored
    stored: Any = None


@dataclass
class Validation:
    plan: Any                                  # console.credit.pit.SamplePlan (None: none stored)
    data_end: date | None
    versions: list[VersionValidation]
    better: str | None                         # the version the report prefers

    def of(self, version: str) -> VersionValidation | None:
        return next((v for v in self.versions if v.version == version), None)


def _shown_versions(conn: Connection) -> list[Any]:
    """The versions the report covers: the active one and the candidates (three at most),
    and the version the active one replaced, for comparison after a promotion."""
    return db.fetch_all(conn, """
        (SELECT id, version, status, source, config_sha256 FROM ops.credit_scorecard_versions
         WHERE status IN ('active', 'candidate')
         ORDER BY status = 'active' DESC, id DESC LIMIT 3)
        UNION ALL
        (SELECT id, version, status, source, config_sha256 FROM ops.credit_scorecard_versions
         WHERE status = 'retired' ORDER BY promoted_at DESC NULLS LAST, id DESC LIMIT 1)""")


def _better(reports: list[Any]) -> str | None:
    from console.credit import validation
    if not reports:
        return None
    best = reports[0]
    for other in reports[1:]:
        best = validation.better(best, other)
    return best.version


def _validate_versions(conn: Connection, rows: list[Any] | None = None) -> Validation:
    """A fresh computation of the report (seconds: seven point-in-time samples rebuilt)."""
    from console.credit import pit, validation

    last_event = db.scalar(conn, """SELECT mart.cn_date(max(occurred_at)) FROM app.events""")
    end = validation.data_end(last_event, clock.today())
    window = get_settings().credit_label_window_days
    plan = pit.plan(data_end=end, window_days=window, development_dates=pit.DEVELOPMENT_DATES)
    development = pit.sample(conn, dates=plan.development, window_days=window)
    out_of_time = pit.sample(conn, dates=[plan.out_of_time], window_days=window)
    versions = []
    for row in (_shown_versions(conn) if rows is None else rows):
        card = credit_engine.version_card(conn, row["id"])
        unrebuilt = [f.name for f in card.factors if f.name not in pit.FEATURES]
        if unrebuilt or development.empty or out_of_time.empty \
                or development["bad"].sum() == 0 or out_of_time["bad"].sum() == 0:
            report = None
        else:
            report = validation.validate(card, development, out_of_time, plan)
        versions.append(VersionValidation(int(row["id"]), row["version"], row["status"],
                                          row["source"], report, card.raw.get("calibration"),
                                          unrebuilt))
    return Validation(plan, end, versions, _better([v.report for v in versions
                                                    if v.report is not None]))


@dataclass(frozen=True)
class StoredValidation:
    """What one computation stored: the report rows' ids, how long it took."""
    ids: list[int]
    versions: list[str]
    seconds: float
    data_end: date
    found: Validation          # the computation itself (the command prints it)


def compute_and_store(conn: Connection, *, requested_by: int | None = None) -> StoredValidation:
    """Compute the report of the shown versions and store it (ops.credit_validation_reports),
    in the caller's transaction, which must run as the jobs' role (the table is theirs to
    write). Holds each version's computation lock: a second computation of one of these
    versions meanwhile is refused (credit.error.validation_running), not run twice."""
    import time as _time

    from console.credit import validation_store as store
    rows = _shown_versions(conn)
    if not store.try_lock_versions(conn, [int(r["id"]) for r in rows]):
        raise Conflict("credit.error.validation_running")
    run_id = store.latest_run_id(conn)        # before the samples: a run after them is newer
    watermark = db.scalar(conn, "SELECT max(occurred_at) FROM app.events")
    started = _time.perf_counter()
    found = _validate_versions(conn, rows)
    seconds = _time.perf_counter() - started
    sha = {int(r["id"]): r["config_sha256"] for r in rows}
    ids = store.store(conn, plan=found.plan, data_end=found.data_end, computed=[
        store.Computed(v.version_id, sha[v.version_id], v.report, v.unrebuilt)
        for v in found.versions], events_watermark=watermark, run_id=run_id, seconds=seconds,
        requested_by=requested_by)
    return StoredValidation(ids, [v.version for v in found.versions], seconds, found.data_end,
                            found)


def validation_is_current(conn: Connection) -> bool:
    """Every shown version has a stored report and none is stale (the scheduled step
    computes only when this is False)."""
    from console.credit import validation_store as store
    ids = [int(r["id"]) for r in _shown_versions(conn)]
    found = store.latest(conn, version_ids=ids, now=clock.now(), names=False,
                         max_age_hours=get_settings().credit_validation_max_age_hours)
    return len(found) == len(ids) and not any(s.stale for s in found.values())


def _stored_validation(conn: Connection) -> Validation:
    from console.credit import validation_store as store
    rows = _shown_versions(conn)
    found = store.latest(conn, version_ids=[int(r["id"]) for r in rows], now=clock.now(),
                         max_age_hours=get_settings().credit_validation_max_age_hours)
    versions = []
    for row in rows:
        kept = found.get(int(row["id"]))
        card = credit_engine.version_card(conn, row["id"])
        versions.append(VersionValidation(
            int(row["id"]), row["version"], row["status"], row["source"],
            kept.report if kept else None, card.raw.get("calibration"),
            kept.unrebuilt if kept else [], kept))
    if not found:
        return Validation(None, None, versions, None)
    newest = max(found.values(), key=lambda s: (s.computed_at, s.id))
    # "better" compares reports on the same samples only: those of the newest computation's
    same = [v.report for v in versions if v.report is not None
            and v.stored.sample_key == newest.sample_key]
    return Validation(newest.plan, newest.data_end, versions, _better(same))


@requires(*MONITORS, replica=True)
def validation_report(*, conn: Connection, actor: Actor) -> Validation:
    """The stored validation reports (console/credit/validation_store.py) of the active
    version, the candidates and the last retired version, each with when and on what data
    it was computed and whether it is stale; computed by the scheduled jobs' step, the
    command, or recompute_validation, never here. ``plan`` is None while none is stored."""
    return _stored_validation(conn)


@requires("risk")
def recompute_validation(*, conn: Connection, actor: Actor) -> StoredValidation:
    """A risk officer has the report computed now and stored (seconds; on the jobs'
    engine, whose role writes the reports, as the data-quality page's "run a job" does);
    the audit row names the rows stored. A second recompute of the same versions while one
    runs is refused (credit.error.validation_running)."""
    with db.transaction(role="jobs") as jobs_conn:   # the jobs' engine: no UI timeout
        done = compute_and_store(jobs_conn, requested_by=actor.id)
    write_audit(conn=conn, actor_id=actor.id, action="credit.validation.recompute",
                entity_type="credit_validation", entity_id=done.ids[0] if done.ids else None,
                after={"report_ids": done.ids, "versions": done.versions,
                       "data_end": done.data_end.isoformat(),
                       "seconds": round(done.seconds, 1)})
    return done


def report_summary(item: VersionValidation) -> dict[str, Any]:
    """What a promotion keeps of one version's report (JSON): the figures shown."""
    r = item.report
    if r is None:
        return {"version": item.version, "status": item.status, "report": None,
                "unrebuilt_factors": item.unrebuilt}
    ci = lambda pair: [round(float(x), 4) for x in pair]  # noqa: E731
    return {"version": item.version, "status": item.status, "source": item.source,
            "oot_rows": r.out_of_time.rows, "oot_bad": r.out_of_time.bad,
            "auc": round(r.out_of_time.auc, 4), "auc_ci": ci(r.out_of_time.auc_ci),
            "gini": round(r.out_of_time.gini, 4), "ks": round(r.out_of_time.ks, 4),
            "ks_ci": ci(r.out_of_time.ks_ci), "hl_stat": round(r.hl_stat, 3),
            "hl_df": r.hl_df, "hl_p": float(f"{r.hl_p:.4g}"),
            "score_psi": round(r.score_psi, 4), "leak_alarms": r.leak_alarms,
            "calibrated": r.calibrated, "calibration_holds": r.calibration_holds,
            "in_the_large": {"rows": r.overall.rows, "bad": r.overall.bad,
                             "observed": round(r.overall.observed, 6),
                             "promised": round(r.overall.promised, 6),
                             "binomial_p": float(f"{r.overall.binomial_p:.4g}")},
            "grades": [{k: (None if isinstance(v, float) and v != v else v)
                        for k, v in g.items()} for g in r.by_grade.to_dict("records")]}


# ---------------------------------------------------------------- promotion gate
@requires("risk")
def propose_promotion(*, conn: Connection, actor: Actor, version_id: int, reason: str) -> int:
    """Propose a candidate version for active, with both reports side by side (kept)."""
    if not (reason or "").strip():
        raise InvalidInput("error.reason_required")
    target = db.fetch_one(conn, """SELECT id, version, status FROM ops.credit_scorecard_versions
                                   WHERE id = :v""", v=int(version_id))
    if target is None:
        raise NotFound("error.not_found")
    if target["status"] != "candidate":
        raise Conflict("credit.error.not_candidate", version=target["version"])
    found = _validate_versions(conn)
    active = next((v for v in found.versions if v.status == "active"), None)
    candidate = found.of(target["version"])
    _gate(candidate)
    report = {"active": report_summary(active) if active else None,
              "candidate": report_summary(candidate) if candidate else None,
              "better": found.better, "data_end": found.data_end.isoformat(),
              "window_days": found.plan.window_days,
              "development_dates": [d.isoformat() for d in found.plan.development],
              "out_of_time_date": found.plan.out_of_time.isoformat()}
    try:
        with conn.begin_nested():
            promotion_id = db.scalar(conn, """
                INSERT INTO ops.credit_promotions (version_id, from_version_id, reason, report,
                                                   proposed_by)
                VALUES (:v, :f, :r, CAST(:rep AS jsonb), :by) RETURNING id""",
                v=target["id"], f=active.version_id if active else None, r=reason.strip(),
                rep=_json(report), by=actor.id)
    except sa.exc.IntegrityError as err:
        if getattr(err.orig, "pgcode", None) != "23505":   # only the one-open index means this
            raise
        raise Conflict("credit.error.open_promotion_exists") from err
    write_audit(conn=conn, actor_id=actor.id, action="credit.promotion.propose",
                entity_type="credit_promotion", entity_id=promotion_id,
                after={"version": target["version"], "better": found.better,
                       "active": active.version if active else None},
                reason=reason.strip())
    return int(promotion_id)


def _gate(candidate: VersionValidation | None) -> None:
    """What no second person may wave through: a candidate whose out-of-time report shows a
    leaking factor, or PDs that do not hold (Hosmer–Lemeshow, or a grade red by the one-sided
    Jeffreys test: console/credit/validation.py); loans price risk with those PDs. A
    candidate without a report (samples without good and bad merchants) is proposed as
    before, the reports side by side saying so; which of two passing versions is better is
    the report's recommendation, for the two people to weigh."""
    report = candidate.report if candidate else None
    if report is None:
        return
    if report.leak_alarms:
        raise Conflict("credit.error.gate_leak", version=candidate.version,
                       factors=", ".join(report.leak_alarms))
    if not report.calibration_holds:
        raise Conflict("credit.error.gate_calibration", version=candidate.version)


def _json(value: Any) -> str:
    import json
    return json.dumps(value, ensure_ascii=False, default=str)


def _open_promotion(conn: Connection, *, promotion_id: int, actor: Actor) -> dict[str, Any]:
    row = db.fetch_one(conn, """SELECT p.*, v.version FROM ops.credit_promotions p
                                JOIN ops.credit_scorecard_versions v ON v.id = p.version_id
                                WHERE p.id = :id FOR UPDATE OF p""", id=int(promotion_id))
    if row is None:
        raise NotFound("error.not_found")
    if row["proposed_by"] == actor.id:
        raise PermissionDenied("credit.error.own_promotion")
    if row["status"] != "proposed":
        raise Conflict("credit.error.already_decided", status=row["status"])
    return dict(row)


@requires("risk", "manager")
def approve_promotion(*, conn: Connection, actor: Actor, promotion_id: int,
                      note: str = "") -> int | None:
    """A second person approves: the version becomes active, the previous one retired, and
    a scoring run with it replaces every merchant's grade and limit at once; the run's id
    (None while the features mart is still empty, as in a database just seeded: the next
    scoring run is the new version's first)."""
    row = _open_promotion(conn, promotion_id=promotion_id, actor=actor)
    db.execute(conn, """UPDATE ops.credit_promotions
                        SET status = 'approved', decided_by = :by, decided_at = now(),
                            decision_note = :note
                        WHERE id = :id""", by=actor.id, note=(note or "").strip() or None,
               id=row["id"])
    credit_engine.lock_current_grades(conn)
    db.execute(conn, """UPDATE ops.credit_scorecard_versions SET status = 'retired'
                        WHERE status = 'active'""")
    db.execute(conn, """UPDATE ops.credit_scorecard_versions
                        SET status = 'active', promoted_by = :by, promoted_at = now()
                        WHERE id = :v""", by=actor.id, v=row["version_id"])
    run_id = None
    if db.scalar(conn, "SELECT EXISTS (SELECT 1 FROM mart.merchant_features)"):
        card = credit_engine.version_card(conn, row["version_id"])
        run_id = credit_engine.score_version(conn, row["version_id"], card, triggered_by=actor.id)
        db.execute(conn, "UPDATE ops.credit_promotions SET run_id = :r WHERE id = :id",
                   r=run_id, id=row["id"])
    write_audit(conn=conn, actor_id=actor.id, action="credit.promotion.approve",
                entity_type="credit_promotion", entity_id=row["id"],
                before={"status": "proposed"},
                after={"status": "approved", "version": row["version"], "run_id": run_id},
                reason=(note or "").strip() or None)
    return run_id


@requires("risk", "manager")
def reject_promotion(*, conn: Connection, actor: Actor, promotion_id: int, note: str) -> None:
    if not (note or "").strip():
        raise InvalidInput("error.reason_required")
    row = _open_promotion(conn, promotion_id=promotion_id, actor=actor)
    db.execute(conn, """UPDATE ops.credit_promotions
                        SET status = 'rejected', decided_by = :by, decided_at = now(),
                            decision_note = :note
                        WHERE id = :id""", by=actor.id, note=note.strip(), id=row["id"])
    write_audit(conn=conn, actor_id=actor.id, action="credit.promotion.reject",
                entity_type="credit_promotion", entity_id=row["id"],
                before={"status": "proposed"},
                after={"status": "rejected", "version": row["version"]}, reason=note.strip())


@requires(*MONITORS)
def promotions(*, conn: Connection, actor: Actor) -> pd.DataFrame:
    """Promotion decisions, newest first, with who proposed and who decided."""
    return db.fetch_df(conn, """
        SELECT p.id, v.version, f.version AS from_version, p.status, p.reason,
               s.display_name AS proposed_by, p.proposed_at, d.display_name AS decided_by,
               p.decided_at, p.decision_note, p.report->>'better' AS better,
               (p.proposed_by = :me) AS mine
        FROM ops.credit_promotions p
        JOIN ops.credit_scorecard_versions v ON v.id = p.version_id
        LEFT JOIN ops.credit_scorecard_versions f ON f.id = p.from_version_id
        JOIN ops.staff s ON s.id = p.proposed_by
        LEFT JOIN ops.staff d ON d.id = p.decided_by
        ORDER BY p.proposed_at DESC, p.id DESC LIMIT 50""", me=actor.id)


@requires("risk")
def register_challenger(*, conn: Connection, actor: Actor) -> str:
    """Register the repo's challenger file (console/credit/scorecard_c1.toml) as a
    candidate; its version name (already registered: nothing changes)."""
    from console.credit.scorecard import CHALLENGER_CONFIG
    card = check_file(CHALLENGER_CONFIG)
    credit_engine.register_version(conn, card)
    write_audit(conn=conn, actor_id=actor.id, action="credit.version.register",
                entity_type="credit_version", entity_id=card.version,
                after={"version": card.version, "source": card.source})
    return card.version


# ---------------------------------------------------------------- override re-examination
@requires("risk")
def overrides_to_review(*, conn: Connection, actor: Actor) -> pd.DataFrame:
    """Approved overrides a new score moved: the grade they were proposed against, the new
    scored grade, the override's grade; oldest mark first."""
    return db.fetch_df(conn, """
        SELECT o.id, o.merchant_id, m.name AS merchant, o.basis_grade, o.review_grade,
               o.new_grade, o.expires_at, o.review_due_at, o.version
        FROM ops.credit_overrides o JOIN app.merchants m ON m.id = o.merchant_id
        WHERE o.status = 'approved' AND o.review_due_at IS NOT NULL AND o.expires_at > now()
        ORDER BY o.review_due_at, o.id""")


@requires("risk")
def review_override(*, conn: Connection, actor: Actor, override_id: int, keep: bool,
                    note: str) -> None:
    """Keep (the new scored grade becomes the override's basis) or revoke (the scored grade
    holds again at once) an override a new score moved; audited with the reason."""
    if not (note or "").strip():
        raise InvalidInput("error.reason_required")
    row = db.fetch_one(conn, """SELECT * FROM ops.credit_overrides WHERE id = :id FOR UPDATE""",
                       id=int(override_id))
    if row is None:
        raise NotFound("error.not_found")
    if row["status"] != "approved" or row["review_due_at"] is None:
        raise Conflict("credit.error.nothing_to_review")
    if keep:
        db.execute(conn, """UPDATE ops.credit_overrides
                            SET basis_grade = review_grade, review_due_at = NULL,
                                review_grade = NULL, reviewed_by = :by, reviewed_at = now()
                            WHERE id = :id""", by=actor.id, id=row["id"])
    else:
        db.execute(conn, """UPDATE ops.credit_overrides
                            SET status = 'revoked', reviewed_by = :by, reviewed_at = now(),
                                version = version + 1
                            WHERE id = :id""", by=actor.id, id=row["id"])
    write_audit(conn=conn, actor_id=actor.id,
                action="credit.override.keep" if keep else "credit.override.revoke",
                entity_type="credit_override", entity_id=row["id"],
                before={"status": "approved", "basis_grade": row["basis_grade"]},
                after={"status": "approved" if keep else "revoked",
                       "scored_grade": row["review_grade"], "merchant_id": row["merchant_id"]},
                reason=note.strip())


@requires(*MONITORS, replica=True)
def override_outcomes(*, conn: Connection, actor: Actor) -> pd.DataFrame:
    """Per grade an override gave: overridden merchants and their bad rate after approval,
    against merchants scored that grade without an override (sql/queries/
    credit_override_outcomes.sql: the peers counted from the scoring run's kept counts per
    grade, migration 092, equal to the row-by-row definition in tests/sql/); the window is
    the validation's label window."""
    frame = db.fetch_df(conn, db.named_query("credit_override_outcomes"),
                        window_days=get_settings().credit_label_window_days)
    for cohort in ("overridden", "peers"):
        frame[f"{cohort}_rate"] = np.where(frame[cohort] > 0,
                                           frame[f"{cohort}_bad"] / frame[cohort].where(frame[cohort] > 0, 1),
                                           np.nan)
    return frame
