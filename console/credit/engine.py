"""Scoring runs and the override-expiry sweep: system work without a signed-in actor.

The console's services (console/services/credit.py) call these for staff, with their own
role checks and audit; the command line (python -m console.credit) calls them directly.
Scoring is one INSERT … SELECT inside PostgreSQL (sql/queries/credit_score_run.sql): no
Python loop per merchant, and memory does not grow with the number of merchants.
"""
from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from console import db
from console.audit import write_audit
from console.credit.scorecard import Scorecard, parse
from console.errors import Conflict
from console.settings import get_settings


def register_version(conn: Connection, card: Scorecard) -> int:
    """The database id of ``card``'s version, copying it in on first use.

    The first version ever registered becomes the active one. A file whose content changed
    under a version name already used is refused: its stored scores would lose their meaning.
    """
    row = db.fetch_one(conn, """SELECT id, config_sha256 FROM ops.credit_scorecard_versions
                                WHERE version = :v""", v=card.version)
    if row is not None:
        if row["config_sha256"] != card.sha256:
            raise Conflict("credit.error.version_changed", version=card.version)
        return int(row["id"])
    has_active = db.scalar(conn, """SELECT EXISTS (SELECT 1 FROM ops.credit_scorecard_versions
                                                   WHERE status = 'active')""")
    version_id = db.scalar(conn, """
        INSERT INTO ops.credit_scorecard_versions
            (version, config_sha256, config, status, base_points, base_odds, pdo,
             ih_min_months, ih_min_deals, ih_grade, ih_loan_limit, source)
        VALUES (:v, :sha, CAST(:config AS jsonb), :status, :bp, :bo, :pdo,
                :ihm, :ihd, :ihg, :ihl, :source)
        ON CONFLICT (version) DO NOTHING
        RETURNING id""",
        v=card.version, sha=card.sha256, config=json.dumps(card.raw, ensure_ascii=False),
        status="candidate" if has_active else "active", bp=card.base_points,
        bo=card.base_odds, pdo=card.pdo, ihm=card.ih_max_months, ihd=card.ih_max_deals,
        ihg=card.ih_grade, ihl=card.ih_loan_limit,
        source=card.source if card.source in ('expert', 'fitted') else 'expert')
    if version_id is None:   # registered concurrently by another run: use theirs
        return register_version(conn, card)
    _insert_bins(conn, version_id, card)
    return int(version_id)


def _insert_bins(conn: Connection, version_id: int, card: Scorecard) -> None:
    rows = [{"vid": version_id, "factor": f.name, "ord": f.order, "no": b.bin_no,
             "lo": b.lower, "hi": b.upper,
             "cats": list(b.categories) if b.categories is not None else None,
             "miss": b.is_missing, "pts": b.points, "max": f.max_points}
            for f in card.factors for b in f.bins]
    conn.execute(sa.text("""
        INSERT INTO ops.credit_scorecard_bins
            (version_id, factor, factor_order, bin_no, lower, upper, categories, is_missing,
             points, max_points)
        VALUES (:vid, :factor, :ord, :no, :lo, :hi, CAST(:cats AS text[]), :miss, :pts, :max)"""),
        rows)
    conn.execute(sa.text("""
        INSERT INTO ops.credit_grade_bands (version_id, grade, grade_rank, min_score, loan_limit,
                                            vip_eligible)
        VALUES (:vid, :grade, :rank, :min, :limit, :vip)"""),
        [{"vid": version_id, "grade": b.grade, "rank": b.rank, "min": b.min_score,
          "limit": b.loan_limit, "vip": b.vip} for b in card.bands])


def active_version(conn: Connection) -> tuple[int, Scorecard] | None:
    """The active version's id and its card, rebuilt from the stored configuration (what
    drives grades and limits, whatever file the caller has)."""
    row = db.fetch_one(conn, """SELECT id, config, config_sha256 FROM ops.credit_scorecard_versions
                                WHERE status = 'active'""")
    if row is None:
        return None
    return int(row["id"]), parse(dict(row["config"]), sha256=row["config_sha256"])


def version_card(conn: Connection, version_id: int) -> Scorecard:
    row = db.fetch_one(conn, """SELECT config, config_sha256 FROM ops.credit_scorecard_versions
                                WHERE id = :id""", id=int(version_id))
    return parse(dict(row["config"]), sha256=row["config_sha256"])


def score_all(conn: Connection, card: Scorecard | None = None, *,
              triggered_by: int | None = None) -> int:
    """Score every merchant in the features mart with the ACTIVE version, in the caller's
    transaction; the run's id. ``card`` is registered first (the first version ever
    registered becomes active; a later one stays a candidate until promoted through the
    gate in console/services/credit.py), so passing a file never makes it drive grades."""
    if card is not None:
        register_version(conn, card)
    active = active_version(conn)
    if active is None:
        raise Conflict("credit.error.no_active_version")
    version_id, active_card = active
    return score_version(conn, version_id, active_card, triggered_by=triggered_by)


def score_version(conn: Connection, version_id: int, card: Scorecard, *,
                  triggered_by: int | None = None) -> int:
    settings = get_settings()
    # The per-merchant aggregation sorts one row per merchant and factor; keep it in memory.
    db.execute(conn, "SET LOCAL work_mem = '256MB'")
    run_id = db.scalar(conn, """
        INSERT INTO ops.credit_runs (version_id, triggered_by, features_as_of, limit_multiple,
                                     starter_limit)
        VALUES (:v, :by, (SELECT max(as_of_date) FROM mart.merchant_features), :mult, :starter)
        RETURNING id""", v=version_id, by=triggered_by, mult=settings.credit_limit_multiple,
        starter=settings.credit_starter_limit_yuan)
    scored = db.execute(conn, db.named_query("credit_score_run"), run_id=run_id,
                        version_id=version_id)
    _check_every_factor_scored(conn, run_id, [f.name for f in card.factors])
    db.execute(conn, """UPDATE ops.credit_runs
                        SET status = 'succeeded', finished_at = clock_timestamp(),
                            merchants_scored = :n
                        WHERE id = :id""", n=scored, id=run_id)
    # The current-grade table (migration 066) follows the run in the same transaction.
    db.scalar(conn, "SELECT ops.refresh_merchant_grades()")
    # Overrides whose merchant the new score moved are marked for re-examination (085).
    db.scalar(conn, "SELECT ops.mark_overrides_for_review(:r)", r=run_id)
    return int(run_id)


def lock_current_grades(conn: Connection) -> None:
    """Serialise with scoring runs before writing overrides in bulk.

    A run holds the current-grade table in EXCLUSIVE mode while it rewrites it; a sweep that
    first changed some overrides (their trigger holds row locks on the table) and then scores
    would otherwise deadlock with another run doing the same. Pages keep reading meanwhile.
    """
    db.execute(conn, "LOCK TABLE ops.merchant_grade_current IN EXCLUSIVE MODE")


def _check_every_factor_scored(conn: Connection, run_id: int, factors: list[str]) -> None:
    """A value no bin covers would silently drop a factor from a total: refuse the run."""
    incomplete = db.scalar(conn, """
        SELECT count(*) FROM ops.credit_scores
        WHERE run_id = :r
          AND (NOT (factors ?& CAST(:names AS text[]))
               OR jsonb_path_exists(factors, '$.*.points ? (@ == null)'))""",
        r=run_id, names=factors)
    if incomplete:
        raise Conflict("credit.error.unscored_factor", merchants=int(incomplete))


def record_failed_run(conn: Connection, card: Scorecard, *, error: str,
                      triggered_by: int | None = None) -> int:
    version_id = register_version(conn, card)
    return int(db.scalar(conn, """
        INSERT INTO ops.credit_runs (version_id, status, finished_at, triggered_by, error_text)
        VALUES (:v, 'failed', clock_timestamp(), :by, :err) RETURNING id""",
        v=version_id, by=triggered_by, err=error[:2000]))


def expire_due_overrides(conn: Connection, *, now: datetime | None = None) -> int:
    """Mark approved or still-proposed overrides past their expiry as 'expired' (audited as
    the system). The effective grade already ignores them from the moment they expire (the
    current-grade row carries the expiry, ops.merchant_credit compares it with now()); this
    keeps the status column and the inbox truthful, and clears the rows (their trigger)."""
    expired = mark_expired_overrides(conn, now=now)
    audit_expired_overrides(conn, expired)
    return len(expired)


def mark_expired_overrides(conn: Connection, *, now: datetime | None = None) -> list[Mapping[str, Any]]:
    """The expiry without its audit rows, for a caller that does long work in the same
    transaction: an audit row holds the audit chain's head until commit (migration 061), so
    such a caller writes them last, with ``audit_expired_overrides``."""
    lock_current_grades(conn)
    return db.fetch_all(conn, """
        UPDATE ops.credit_overrides
        SET status = 'expired', version = version + 1
        WHERE status IN ('approved', 'proposed') AND expires_at <= coalesce(:now, now())
        RETURNING id, merchant_id, new_grade, expires_at""", now=now)


def audit_expired_overrides(conn: Connection, expired: list[Mapping[str, Any]]) -> None:
    for row in expired:
        write_audit(conn=conn, actor_id=None, action="credit.override.expire",
                    entity_type="credit_override", entity_id=row["id"],
                    after={"status": "expired", "merchant_id": row["merchant_id"],
                           "new_grade": row["new_grade"], "expires_at": row["expires_at"]})


# ---------------------------------------------------------------- the limit, for lending
def limit_terms(conn: Connection, merchant_id: int) -> dict[str, Any] | None:
    """What a lender (order loans, issue 19) needs to know of one merchant's limit, now: the
    effective grade (an approved override's, while it holds), the limit and how it was set
    (the grade's cap, the run's multiple of the trailing-12-month purchases, the starter
    limit for NEW merchants). None: not scored by the active version. Whether the merchant is
    on hold (suspended, closed) is the caller's check (console/services/credit.shown_terms)."""
    row = db.fetch_one(conn, """
        SELECT c.merchant_id, c.grade, c.effective_grade, c.is_override, c.insufficient_history,
               c.loan_limit, c.run_id, c.scored_at, s.purchases_12m, r.limit_multiple,
               r.starter_limit, b.loan_limit AS grade_cap, v.version
        FROM ops.merchant_credit c
        JOIN ops.credit_runs r ON r.id = c.run_id
        JOIN ops.credit_scorecard_versions v ON v.id = r.version_id
        JOIN ops.credit_scores s ON s.run_id = c.run_id AND s.merchant_id = c.merchant_id
        LEFT JOIN ops.credit_grade_bands b ON b.version_id = r.version_id
                                          AND b.grade = c.effective_grade
        WHERE c.merchant_id = :m""", m=int(merchant_id))
    return dict(row) if row else None
