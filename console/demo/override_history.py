"""The risk desk's last six months: weekly scoring runs and the credit overrides decided
between them, so the overrides page, its outcomes, the rating card's override history and
the monitoring page's override figures show what a team that has used the console for a
while sees (production scores daily; the demo keeps one run a week to stay quick to seed).

Runs. Each week, as the scheduled job does: the sweep marks the overrides past their expiry
'expired' (console/credit/engine.py, its own audit rows), then the ACTIVE version (v1: the
promotion of the better candidate is decided after this history, at the seed's moment)
scores every merchant through the real scoring SQL. Its input is the features mart as it
stood on that day: the point-in-time features of sql/queries/credit_features_as_of.sql (the
mart's definitions, every event counted only before the day), written into the (empty at
seed time) mart for the run and taken out again. The run's times are then set to that day,
02:00 Shanghai, and ops.merchant_grade_current carries the run's time.

Overrides, and why they are written with SQL rather than through console/services/credit.py.
The services stamp now() (the proposal, the decision) and take an expiry that may not lie in
the past; the audit log stamps its own time (migration 061's trigger, hash-chained,
append-only, so no row of it can be moved afterwards). Running the services and shifting the
rows' times afterwards would leave audit rows whose contents (the expiry the proposal named,
the approval's expires_at) disagree with the overrides they describe. So each historical
proposal, approval, rejection and re-examination (keep or revoke, after a run moved an
overridden merchant; the last run's marks are left for today's desk) is the service's own
statement with the day's time in place of now(), its audit row written with the service's
action and contents, and the service's
rules checked here before each one: a grade on the scale and different from the effective
one, at most CREDIT_OVERRIDE_MAX_NOTCHES from the scored grade, one open proposal per
merchant (the database's index), a decider other than the proposer (the database's check),
and above the senior limit a decider who also holds the manager role. The audit rows carry
the seed's moment, which is when they were written; their order is the history's. The
current grades follow by the database's own trigger (migration 066), recomputed once more at
the end as a scoring run does. Today's queue is proposed through the service itself
(propose_override, undecorated in the seed's transaction as credit_history.promote_better
does): it needs no backdating.

Who did what, and what came of it, is drawn from the world's seed (its own random stream):
a grade first and then a merchant of it, so overrides spread over the scale; upgrades mostly
for merchants with no bad event in the label window after the day, a few that went bad
anyway; downgrades more often for merchants that did go bad (the demo's author knows the
future; the officers did not), and at least one of each, so the outcomes view has overrides
that did better and worse than the merchants the card graded alike.

Not at the large scale by default (its bench builds a month of history of its own). Seeding
the demo scale takes about half a minute longer with it.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any

import numpy as np

from console import db
from console.demo import model as M

WEEKS = 26                   # weekly runs over the six months before the anchor
RUN_AT = time(2, 0)          # the scheduled run, Shanghai time
STREAM = 29                  # np.random.default_rng([seed, 29]): nothing else moves
# Proposals a week on average: a handful of exceptions, not a share of the book, so the
# override rate stays in the few per cent a risk team watches (small: 300 merchants).
PER_WEEK = {"small": 1.5, "demo": 1.6, "large": 2.5}
PENDING = 4                  # proposals waiting in the second-person queue today
OFFICERS = ("risk1", "risk2", "lead1")   # lead1 is also a manager (the senior approvals)
EXPIRY_DAYS = (30, 60, 90, 180, 365)
EXPIRY_SHARE = (0.15, 0.25, 0.30, 0.20, 0.10)
# How a historical proposal ends: approved, rejected, or left undecided until it lapsed.
OUTCOMES = ("approved", "rejected", "lapsed")
OUTCOME_SHARE = (0.72, 0.20, 0.08)
LAPSED_DAYS = 14             # an undecided proposal's short term
# The share of upgrades given to merchants that went bad within the label window after the
# day (a little above the book's rate: the officers' confidence was sometimes misplaced), and
# of downgrades (well above it: they saw trouble coming, not always).
BAD_SHARE = {"up": 0.07, "down": 0.30}
SUPERSEDE_SHARE = 0.12       # a week's proposal that replaces an approved override instead
SHANGHAI = M.SHANGHAI

# A person's words (data, in the demo's language), not console text: per reason code the
# notes an officer writes when proposing, and the second person's notes.
UP_REASONS = {
    "guarantee": ("实际控制人出具个人连带责任担保函，已核验原件与身份。",
                  "集团母公司出具担保函，覆盖平台订单贷款额度。"),
    "collateral": ("以库存车辆合格证质押，评估值覆盖提高后的额度。",
                   "追加保证金 20 万元，存入平台监管账户。"),
    "new_information": ("补充提交近六个月银行流水和纳税证明，经营情况好于评分所见。",
                        "新获主机厂区域授权，下季度批售量预计翻倍，已见授权书。"),
    "data_error": ("评分未计入其线下结清的三笔订单，已与财务核对。",
                   "一笔违约记录系平台误判，争议已改判，评分数据尚未更新。"),
}
DOWN_REASONS = {
    "adverse_news": ("工商信息显示新增两起买卖合同纠纷诉讼，股权被部分冻结。",
                     "媒体报道其门店停业整顿，BD 现场走访确认。"),
    "new_information": ("BD 回访反馈资金周转紧张，近一个月多次拖延提车。",
                        "其主要供货方终止合作，库存周转明显放缓。"),
    "other": ("所在经销商集团重组，经营前景不明，先下调观察。",),
}
APPROVE_NOTES = ("已核对材料原件，同意。", "同意，到期前复核。", None, None)
REJECT_NOTES = {
    "up": ("担保人本身在平台有逾期记录，担保力度不足。",
           "流水未显示稳定回款，证据不足以上调。",
           "评分刚反映了近期的违约，暂不上调，三个月后再议。"),
    "down": ("负面信息尚未核实，暂不下调，下周复核。",
             "诉讼金额不大，不影响履约能力，维持评分等级。"),
}
# Re-examination after a run moved an overridden merchant (migration 085): mostly kept.
KEEP_SHARE = 0.7
KEEP_NOTES = ("担保仍然有效，调整理由仍成立，保留。", "新评分变化不大，维持人工调整。",
              "已电话回访，经营正常，保留到期。")
REVOKE_NOTES = ("新评分已反映其近况，撤销人工调整。", "担保人已退出，调整理由不再成立。")
SENIOR_NOTE = "提高后的额度超过高级审批线，须由风控负责人审批，请补充材料后重新提交。"
PENDING_REASONS = (
    ("up", "guarantee", "实际控制人愿追加个人连带责任担保，担保函已上传。"),
    ("down", "adverse_news", "法院公告显示其被列为被执行人，涉案金额约 80 万元。"),
    ("up", "new_information", "新开二网门店两家，近三个月回款及时，附银行流水。"),
    ("up", "collateral", "以名下两台库存车合格证质押，评估值约 60 万元。"),
)


@dataclass
class Summary:
    runs: int = 0
    overrides: int = 0
    statuses: dict[str, int] = field(default_factory=dict)


def _at(day: date, clock: time) -> datetime:
    return datetime.combine(day, clock, tzinfo=SHANGHAI)


def _officers(conn) -> dict[str, Any]:
    from console.roles import Actor, require_role
    rows = db.fetch_all(conn, """SELECT id, username, display_name, roles, session_epoch
                                 FROM ops.staff WHERE username = ANY (:u) AND is_active""",
                        u=list(OFFICERS))
    found = {r["username"]: require_role(Actor(
        id=int(r["id"]), username=r["username"], display_name=r["display_name"],
        roles=frozenset(r["roles"]), session_epoch=int(r["session_epoch"])), "risk") for r in rows}
    return {name: found[name] for name in OFFICERS}


# ---------------------------------------------------------------- the weekly runs
# The mart's row of every merchant registered before the day, as the ETL's definitions give
# it on that day (features from sql/queries/credit_features_as_of.sql; matches and their
# first stage move before the day for the response time, as sql/etl/merchant_features.sql).
_FILL_MART = """
INSERT INTO mart.merchant_features
    (merchant_id, as_of_date, cert_level, merchant_type, size_class, merchant_status,
     tier_level, registered_at, months_on_platform, deals_12m, gmv_12m, deals_total,
     deposit_defaults, late_payments, cancellations, disputes_raised, disputes_lost,
     avg_stars, review_count, fake_listings_confirmed, matches_total, median_response_hours,
     days_since_active)
WITH ts AS (SELECT CAST(:as_of AS date)::timestamp AT TIME ZONE 'Asia/Shanghai' AS at),
match_sides AS (
    SELECT r.merchant_id, mt.id AS match_id, mt.created_at
    FROM etl.clean_matches mt JOIN etl.clean_requests r ON r.id = mt.request_id, ts
    WHERE mt.created_at < ts.at
    UNION ALL
    SELECT l.merchant_id, mt.id, mt.created_at
    FROM etl.clean_matches mt JOIN etl.clean_listings l ON l.id = mt.listing_id, ts
    WHERE mt.created_at < ts.at
),
first_moves AS (
    SELECT h.match_id, min(h.at) AS moved_at
    FROM ops.match_stage_history h, ts
    WHERE h.from_stage IS NOT NULL AND h.at < ts.at
    GROUP BY h.match_id
),
responses AS (
    SELECT ms.merchant_id, count(*) AS matches_total,
           round((percentile_cont(0.5) WITHIN GROUP (
               ORDER BY extract(epoch FROM fm.moved_at - ms.created_at) / 3600.0)
               FILTER (WHERE fm.moved_at IS NOT NULL))::numeric, 2) AS median_response_hours
    FROM match_sides ms LEFT JOIN first_moves fm ON fm.match_id = ms.match_id
    GROUP BY ms.merchant_id
),
fakes AS (
    SELECT f.merchant_id, count(DISTINCT f.listing_id) AS n
    FROM etl.clean_listing_flags f, ts
    WHERE f.status = 'confirmed' AND f.decided_at < ts.at
    GROUP BY f.merchant_id
)
SELECT f.merchant_id, f.as_of_date, f.cert_level, m.merchant_type, m.size_class, m.status,
       ci.tier_level, m.registered_at, f.months_on_platform, f.deals_12m, f.gmv_12m,
       f.deals_total, f.deposit_defaults, f.late_payments, f.cancellations, f.disputes_raised,
       f.disputes_lost, f.avg_stars, f.review_count, coalesce(fk.n, 0),
       coalesce(r.matches_total, 0), r.median_response_hours, f.days_since_active
FROM demo_pit f
JOIN app.merchants m ON m.id = f.merchant_id
JOIN app.cities ci ON ci.id = m.city_id
LEFT JOIN responses r ON r.merchant_id = f.merchant_id
LEFT JOIN fakes fk ON fk.merchant_id = f.merchant_id
"""


def _score_week(conn, *, day: date, window_days: int) -> tuple[int, datetime]:
    """The scheduled job of ``day``: sweep, then score the features of that day; the run."""
    from console.credit import engine as credit_engine
    run_at = _at(day, RUN_AT)
    expired = credit_engine.mark_expired_overrides(conn, now=run_at)
    credit_engine.audit_expired_overrides(conn, expired)
    db.execute(conn, "DROP TABLE IF EXISTS demo_pit")
    db.execute(conn, "CREATE TEMP TABLE demo_pit ON COMMIT DROP AS "
                     + db.named_query("credit_features_as_of").rstrip().rstrip(";"),
               as_of=day, window_days=int(window_days))
    db.execute(conn, "DELETE FROM mart.merchant_features")
    db.execute(conn, _FILL_MART, as_of=day)
    run_id = credit_engine.score_all(conn)
    # The run took its seconds on that night; its marks for re-examination are its own.
    finished = run_at + timedelta(seconds=20 + int(day.toordinal() % 40))
    db.execute(conn, """UPDATE ops.credit_runs SET started_at = :s, finished_at = :f
                        WHERE id = :r""", s=run_at, f=finished, r=run_id)
    db.execute(conn, """UPDATE ops.credit_overrides SET review_due_at = :f
                        WHERE review_due_at >= now()""", f=finished)
    # The current grades carry the run's time (what ops.refresh_merchant_grades would write
    # now; the run's own refresh already wrote everything else).
    db.execute(conn, "UPDATE ops.merchant_grade_current SET scored_at = :f WHERE run_id = :r",
               f=finished, r=run_id)
    return int(run_id), finished


# ---------------------------------------------------------------- one override
def _current(conn, merchant_id: int) -> dict[str, Any]:
    return dict(db.fetch_one(conn, """SELECT run_id, grade, effective_grade,
                                             insufficient_history, is_override
                                      FROM ops.merchant_credit WHERE merchant_id = :m""",
                             m=int(merchant_id)))


def _propose(conn, *, officer, merchant_id: int, new_grade: str, code: str, reason: str,
             expires_on: date, at: datetime) -> int:
    """propose_override's statement and audit row, at ``at`` (its checks: _check)."""
    from console.audit import write_audit
    from console.services.credit import expiry_instant
    current = _current(conn, merchant_id)
    override_id = db.scalar(conn, """
        INSERT INTO ops.credit_overrides (merchant_id, run_id, from_grade, new_grade,
                                          reason_code, reason, expires_at, proposed_by,
                                          basis_grade, proposed_at)
        VALUES (:m, :run, :from_grade, :new_grade, :code, :reason, :exp, :by, :basis, :at)
        RETURNING id""", m=int(merchant_id), run=current["run_id"], basis=current["grade"],
        from_grade=current["effective_grade"], new_grade=new_grade, code=code, reason=reason,
        exp=expiry_instant(expires_on), by=officer.id, at=at)
    write_audit(conn=conn, actor_id=officer.id, action="credit.override.propose",
                entity_type="credit_override", entity_id=override_id,
                after={"merchant_id": int(merchant_id), "from_grade": current["effective_grade"],
                       "new_grade": new_grade, "reason_code": code, "expires_on": expires_on},
                reason=reason)
    return int(override_id)


def _approve(conn, *, officer, override_id: int, note: str | None, at: datetime,
             limit: float | None) -> None:
    """approve_override's statements and audit row, at ``at``."""
    from console.audit import write_audit
    row = db.fetch_one(conn, "SELECT * FROM ops.credit_overrides WHERE id = :id FOR UPDATE",
                       id=override_id)
    superseded = [r["id"] for r in db.fetch_all(conn, """
        UPDATE ops.credit_overrides SET status = 'superseded', version = version + 1
        WHERE merchant_id = :m AND status = 'approved' AND id <> :id
        RETURNING id""", m=row["merchant_id"], id=row["id"])]
    db.execute(conn, """
        UPDATE ops.credit_overrides
        SET status = 'approved', approved_by = :by, decided_at = :at, decision_note = :note,
            version = version + 1, approved_limit = :limit
        WHERE id = :id AND status = 'proposed'""",
        by=officer.id, note=note, id=row["id"], limit=limit, at=at)
    write_audit(conn=conn, actor_id=officer.id, action="credit.override.approve",
                entity_type="credit_override", entity_id=row["id"],
                before={"status": "proposed"},
                after={"status": "approved", "merchant_id": row["merchant_id"],
                       "new_grade": row["new_grade"], "expires_at": row["expires_at"],
                       "superseded": superseded, "limit": limit},
                reason=note)


def _reject(conn, *, officer, override_id: int, note: str, at: datetime) -> None:
    """reject_override's statement and audit row, at ``at``."""
    from console.audit import write_audit
    merchant_id = db.scalar(conn, """
        UPDATE ops.credit_overrides
        SET status = 'rejected', rejected_by = :by, decided_at = :at, decision_note = :note,
            version = version + 1
        WHERE id = :id AND status = 'proposed' RETURNING merchant_id""",
        by=officer.id, note=note, id=override_id, at=at)
    write_audit(conn=conn, actor_id=officer.id, action="credit.override.reject",
                entity_type="credit_override", entity_id=override_id,
                before={"status": "proposed"},
                after={"status": "rejected", "merchant_id": merchant_id}, reason=note)


def _review(conn, *, officer, override_id: int, keep: bool, note: str, at: datetime) -> None:
    """review_override's statements and audit row, at ``at``."""
    from console.audit import write_audit
    row = db.fetch_one(conn, "SELECT * FROM ops.credit_overrides WHERE id = :id FOR UPDATE",
                       id=override_id)
    if keep:
        db.execute(conn, """UPDATE ops.credit_overrides
                            SET basis_grade = review_grade, review_due_at = NULL,
                                review_grade = NULL, reviewed_by = :by, reviewed_at = :at
                            WHERE id = :id""", by=officer.id, id=override_id, at=at)
    else:
        db.execute(conn, """UPDATE ops.credit_overrides
                            SET status = 'revoked', reviewed_by = :by, reviewed_at = :at,
                                version = version + 1
                            WHERE id = :id""", by=officer.id, id=override_id, at=at)
    write_audit(conn=conn, actor_id=officer.id,
                action="credit.override.keep" if keep else "credit.override.revoke",
                entity_type="credit_override", entity_id=override_id,
                before={"status": "approved", "basis_grade": row["basis_grade"]},
                after={"status": "approved" if keep else "revoked",
                       "scored_grade": row["review_grade"], "merchant_id": row["merchant_id"]},
                reason=note)


def _check(conn, *, merchant_id: int, new_grade: str) -> None:
    """propose_override's rules (the database enforces the rest)."""
    from console.grades import GRADES
    from console.settings import get_settings
    current = _current(conn, merchant_id)
    notches = get_settings().credit_override_max_notches
    if new_grade not in GRADES or new_grade == current["effective_grade"] or (
            not current["insufficient_history"]
            and abs(GRADES.index(new_grade) - GRADES.index(current["grade"])) > notches):
        raise AssertionError(f"demo override breaks a rule: {merchant_id} -> {new_grade}")


# ---------------------------------------------------------------- the history
def _target(grade: str, direction: str, notches: int) -> str | None:
    from console.grades import GRADES
    k = GRADES.index(grade) + (-notches if direction == "up" else notches)
    return GRADES[k] if 0 <= k < len(GRADES) else None


def _candidates(conn, run_id: int) -> list[dict[str, Any]]:
    """Graded merchants of the run with their point-in-time label (a bad event in the label
    window after the day), their effective grade now and whether an override holds."""
    return [dict(r) for r in db.fetch_all(conn, """
        SELECT s.merchant_id, s.grade, c.effective_grade, c.is_override, p.bad = 1 AS bad
        FROM ops.credit_scores s
        JOIN demo_pit p ON p.merchant_id = s.merchant_id
        JOIN ops.merchant_credit c ON c.merchant_id = s.merchant_id
        WHERE s.run_id = :r AND NOT s.insufficient_history
          AND NOT EXISTS (SELECT 1 FROM ops.credit_overrides o
                          WHERE o.merchant_id = s.merchant_id AND o.status = 'proposed')
        ORDER BY s.merchant_id""", r=run_id)]


def _week(conn, rng: np.random.Generator, *, officers: dict[str, Any], run_id: int,
          start: datetime, end: datetime, end_of_history: datetime, rate: float,
          used: set[int], summary: Summary, aims: dict[str, bool],
          review: bool = True) -> None:
    """The proposals made between one run and the next, each decided (or not) before it;
    with ``review``, the overrides the run marked are re-examined in its first days (the
    last run's marks are left for today's desk)."""
    from console.services.credit import expiry_instant, override_limit
    from console.settings import get_settings
    senior = get_settings().credit_override_senior_limit_yuan
    pool = _candidates(conn, run_id)
    plan: list[dict[str, Any]] = []
    events: list[tuple[datetime, int, str]] = []
    marked = [dict(r) for r in db.fetch_all(conn, """
        SELECT id, merchant_id FROM ops.credit_overrides
        WHERE status = 'approved' AND review_due_at IS NOT NULL AND expires_at > :end
        ORDER BY id""", end=end)] if review else []
    first = start.astimezone(SHANGHAI).date()
    for item in marked:
        keep = bool(rng.random() < KEEP_SHARE)
        notes = KEEP_NOTES if keep else REVOKE_NOTES
        plan.append({"id": item["id"], "merchant_id": item["merchant_id"], "keep": keep,
                     "note": notes[int(rng.integers(len(notes)))],
                     "decider": officers[OFFICERS[int(rng.integers(len(OFFICERS)))]]})
        at = _at(first + timedelta(days=int(rng.integers(0, 2))), time(9, 30)) \
            + timedelta(minutes=int(rng.integers(0, 8 * 60)))
        events.append((min(at, end - timedelta(hours=1)), len(plan) - 1, "review"))
    # A merchant whose override is being re-examined gets no other proposal this week.
    pool = [c for c in pool if c["merchant_id"] not in {m["merchant_id"] for m in marked}]
    said: set[str] = set()
    # the week's proposals; the last, shorter span before the anchor its share of a week
    span_days = max(1.0, (end - start).total_seconds() / 86400)
    for _ in range(int(rng.poisson(rate * min(span_days, 7.0) / 7.0))):
        direction = "up" if rng.random() < 0.6 else "down"
        notches = 1 if rng.random() < 0.8 else 2
        # (and at least one replaces an approved override, once the history has one)
        forced = aims.get("supersede", False) and any(
            c["is_override"] and c["merchant_id"] in used for c in pool)
        supersede = rng.random() < SUPERSEDE_SHARE or forced
        # Upgrades mostly for merchants who then stayed good; downgrades mostly for those
        # who then went bad (what the officers saw that the card did not, right or wrong).
        want_bad = rng.random() < BAD_SHARE[direction]
        # Until the history has one approved upgrade that went bad and one approved downgrade
        # that was right, the next of its kind is one (the outcomes show both, even small);
        # likewise one approved override that supersedes another.
        aim = aims.get(direction, False) and not supersede
        want_bad = want_bad or aim
        planned = {p["merchant_id"] for p in plan}
        choices = [c for c in pool
                   if (c["merchant_id"] in used) == supersede and c["merchant_id"] not in planned
                   and (not supersede or c["is_override"])
                   and _target(c["effective_grade"], direction, notches) is not None
                   and _target(c["effective_grade"], direction, notches) != c["effective_grade"]
                   # back to the scored grade is a revocation, not an override
                   and _target(c["effective_grade"], direction, notches) != c["grade"]]
        choices = [c for c in choices
                   if abs(_rank(_target(c["effective_grade"], direction, notches))
                          - _rank(c["grade"])) <= get_settings().credit_override_max_notches]
        choices = [c for c in choices if supersede or c["bad"] == want_bad]
        if not choices:
            continue
        # A grade first, then a merchant of it: overrides over the whole scale, not only the
        # grades most merchants hold.
        grades = sorted({c["effective_grade"] for c in choices}, key=_rank)
        grade = grades[int(rng.integers(len(grades)))]
        choices = [c for c in choices if c["effective_grade"] == grade]
        pick = choices[int(rng.integers(len(choices)))]
        merchant_id = int(pick["merchant_id"])
        new_grade = _target(pick["effective_grade"], direction, notches)
        reasons = UP_REASONS if direction == "up" else DOWN_REASONS
        # no note twice in a week (officers write their own words)
        options = [(c, r) for c in reasons for r in reasons[c] if r not in said] or \
            [(c, r) for c in reasons for r in reasons[c]]
        code, reason = options[int(rng.integers(len(options)))]
        said.add(reason)
        outcome = OUTCOMES[int(rng.choice(len(OUTCOMES), p=OUTCOME_SHARE))]
        if aim or forced:
            outcome = "approved"
            aims["supersede" if forced else direction] = False
        # Office hours: proposed on a day of the week from 09:00 to 18:00, decided the same
        # day (the second officer reads the queue), so before the next run.
        first, last = start.astimezone(SHANGHAI).date(), (end - timedelta(seconds=1)).astimezone(SHANGHAI).date()
        on = first + timedelta(days=int(rng.integers(0, max(1, (last - first).days))))
        proposed = _at(on, time(9)) + timedelta(minutes=int(rng.integers(0, 9 * 60)))
        decided = proposed + timedelta(minutes=int(rng.integers(40, 5 * 60)))
        days = int(rng.choice(EXPIRY_DAYS, p=EXPIRY_SHARE))
        if outcome == "lapsed" and expiry_instant(
                proposed.date() + timedelta(days=LAPSED_DAYS)) <= end_of_history:
            days = LAPSED_DAYS
        elif outcome == "lapsed":
            outcome = "approved"     # it would still be open: today's queue is _queue_today's
        expires_on = proposed.date() + timedelta(days=days)
        proposer = officers[OFFICERS[int(rng.integers(len(OFFICERS)))]]
        others = [o for o in officers.values() if o.id != proposer.id]
        decider = others[int(rng.integers(len(others)))]
        notes = APPROVE_NOTES if outcome == "approved" else REJECT_NOTES[direction]
        plan.append({"merchant_id": merchant_id, "new_grade": new_grade, "code": code,
                     "reason": reason, "expires_on": expires_on, "proposer": proposer,
                     "decider": decider, "others": others, "outcome": outcome,
                     "note": notes[int(rng.integers(len(notes)))]})
        events += [(proposed, len(plan) - 1, "propose"), (decided, len(plan) - 1, outcome)]
        pool = [c for c in pool if c["merchant_id"] != merchant_id]
    # Written in the order they happened, so ids and audit rows follow the history.
    for at, k, step in sorted(events, key=lambda e: (e[0], e[1])):
        item = plan[k]
        if step == "propose":
            _check(conn, merchant_id=item["merchant_id"], new_grade=item["new_grade"])
            item["id"] = _propose(conn, officer=item["proposer"], merchant_id=item["merchant_id"],
                                  new_grade=item["new_grade"], code=item["code"],
                                  reason=item["reason"], expires_on=item["expires_on"], at=at)
            used.add(item["merchant_id"])
            summary.overrides += 1
        elif step == "approved":
            limit = override_limit(conn, merchant_id=item["merchant_id"], grade=item["new_grade"])
            decider = item["decider"]
            if limit is not None and limit > senior and not decider.has("manager"):
                # The service refuses an approval above the senior limit without the manager
                # role: the head of risk decides, or, when they proposed it, it goes back.
                seniors = [o for o in item["others"] if o.has("manager")]
                if not seniors:
                    _reject(conn, officer=decider, override_id=item["id"], note=SENIOR_NOTE,
                            at=at)
                    continue
                decider = seniors[0]
            _approve(conn, officer=decider, override_id=item["id"], at=at, limit=limit,
                     note=item["note"])
        elif step == "review":
            _review(conn, officer=item["decider"], override_id=item["id"], keep=item["keep"],
                    note=item["note"], at=at)
        elif step == "rejected":
            _reject(conn, officer=item["decider"], override_id=item["id"], at=at,
                    note=item["note"])


def _rank(grade: str) -> int:
    from console.grades import GRADES
    return GRADES.index(grade)


def _queue_today(conn, rng: np.random.Generator, *, officers: dict[str, Any], used: set[int],
                 pending: int) -> None:
    """Today's second-person queue, proposed through the service itself (now, an expiry
    ahead): the proposers alternate, so every officer has another's proposal to decide."""
    import inspect

    from console import clock
    from console.services import credit
    propose = inspect.unwrap(credit.propose_override)
    pool = [c for c in _candidates(conn, _latest_run(conn)) if c["merchant_id"] not in used]
    proposers = ("risk1", "risk2", "lead1", "risk1")
    shown: set[str] = set()
    for k in range(pending):
        direction, code, reason = PENDING_REASONS[k % len(PENDING_REASONS)]
        choices = [c for c in pool if _target(c["effective_grade"], direction, 1) is not None]
        # four different grades in the queue where the book has them
        choices = [c for c in choices if c["effective_grade"] not in shown] or choices
        if not choices:
            return
        pick = choices[int(rng.integers(len(choices)))]
        propose(conn=conn, actor=officers[proposers[k % len(proposers)]],
                merchant_id=int(pick["merchant_id"]),
                new_grade=_target(pick["effective_grade"], direction, 1), reason_code=code,
                reason=reason, expires_on=clock.today() + timedelta(days=(90, 180)[k % 2]))
        pool = [c for c in pool if c["merchant_id"] != pick["merchant_id"]]
        shown.add(pick["effective_grade"])


def _latest_run(conn) -> int:
    return int(db.scalar(conn, "SELECT max(id) FROM ops.credit_runs WHERE status = 'succeeded'"))


def write(conn, *, scale: str, seed: int, anchor: int, weeks: int = WEEKS,
          pending: int = PENDING) -> Summary:
    """The weekly runs and the overrides before ``anchor`` (epoch seconds), then today's
    queue; in the seed's transaction, after the world and the scorecard versions, before the
    promotion. Nothing when a scoring run exists already."""
    from console.settings import get_settings
    summary = Summary()
    if db.scalar(conn, "SELECT EXISTS (SELECT 1 FROM ops.credit_runs)"):
        return summary
    rng = np.random.default_rng([seed, STREAM])
    officers = _officers(conn)
    window = get_settings().credit_label_window_days
    anchor_at = M.to_datetime(anchor).astimezone(SHANGHAI)
    today = anchor_at.date()
    days = [today - timedelta(days=1 + 7 * k) for k in reversed(range(weeks))]
    # The mart is the ETL's: kept aside while the history borrows it (empty at a fresh seed).
    db.execute(conn, """CREATE TEMP TABLE demo_kept_features ON COMMIT DROP AS
                        SELECT * FROM mart.merchant_features""")
    used: set[int] = set()
    aims = {"up": True, "down": True, "supersede": True}
    for k, day in enumerate(days):
        run_id, finished = _score_week(conn, day=day, window_days=window)
        summary.runs += 1
        end = _at(days[k + 1], RUN_AT) if k + 1 < len(days) else anchor_at
        _week(conn, rng, officers=officers, run_id=run_id, start=finished, end=end,
              end_of_history=anchor_at, review=k + 1 < len(days), aims=aims, rate=PER_WEEK.get(scale, PER_WEEK["demo"]), used=used, summary=summary)
    # The sweep of the anchor's night: what ran out since the last run is expired too.
    from console.credit import engine as credit_engine
    credit_engine.audit_expired_overrides(
        conn, credit_engine.mark_expired_overrides(conn, now=anchor_at))
    _queue_today(conn, rng, officers=officers, used=used, pending=pending)
    db.execute(conn, "DELETE FROM mart.merchant_features")
    db.execute(conn, "INSERT INTO mart.merchant_features SELECT * FROM demo_kept_features")
    db.scalar(conn, "SELECT ops.refresh_merchant_grades()")
    summary.statuses = {r["status"]: int(r["n"]) for r in db.fetch_all(conn, """
        SELECT status, count(*) AS n FROM ops.credit_overrides GROUP BY 1 ORDER BY 1""")}
    return summary
