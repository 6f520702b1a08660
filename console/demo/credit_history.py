"""The demo's order-loan book: enough credit history for a development and an out-of-time
sample (issue 17).

The marketplace generator (generate.py) asks for an order loan only while a deal is open,
and few of those reach their due date before the anchor: three defaults in a year, far too
few bad cases to validate a scorecard. Dealers finance most purchases (brief section 6:
order loans of 70-90% of the price for 30-90 days), so this adds the loans behind completed
purchases: a share of buyers financed each completed order at its deposit, repaid it by
the due date, or defaulted. Whether a loan defaults is drawn from the buyer's hidden quality
``q`` (model.py), like every other bad outcome, so a card that reads the marketplace can rank
it. Days past due over DEFAULT_AFTER_DAYS close the loan as defaulted (the existing loans'
rule, generate.py).

Deterministic and separate from the marketplace's random stream: its own generator seeded
from the world's seed, rows appended after the marketplace's loans, so the same seed gives
the same content and no other table moves.
"""
from __future__ import annotations

import numpy as np

from console.demo import model as M
from console.demo.generate import NA, Table, World

DAY = M.DAY
FINANCED_SHARE = 0.45        # completed purchases financed with an order loan
FINANCED_SHARE_LARGE = 0.30  # large dealers pay more of their cars themselves
TERM_DAYS = 60               # order loans run for the weeks between deposit and resale
DEFAULT_BASE = 0.20          # mean default probability of a financed purchase (over q; traders
                             # are better than average, so their rate is lower)
DEFAULT_SLOPE = 1.3          # how strongly low quality drives defaults (model.hazard)
DEFAULT_AFTER_DAYS = 30      # past due this long: closed as defaulted
STREAM = 17                  # the generator's own stream: np.random.default_rng([seed, 17])


def order_loan_book(w: World, *, seed: int) -> int:
    """Append the loans behind completed purchases to app.loan_applications; how many."""
    rng = np.random.default_rng([seed, STREAM])
    orders = w.tables["app.orders"].columns
    loans = w.tables["app.loan_applications"].columns
    financed_orders = {int(o) for o in loans.get("order_id", []) if o not in (None, NA)}
    next_id = len(loans.get("id", [])) + 1
    added = {k: [] for k in ("id", "merchant_id", "order_id", "amount", "status", "applied_at",
                             "decided_at", "due_at", "closed_at")}
    q = w.m_q  # type: ignore[attr-defined]
    large = w.m_large  # type: ignore[attr-defined]
    for k in range(len(orders["id"])):
        order_id = int(orders["id"][k])
        paid = orders["deposit_paid_at"][k]
        if orders["status"][k] != "completed" or paid in (None, NA) or order_id in financed_orders:
            continue
        buyer = int(orders["buyer_id"][k]) - 1
        draw = rng.random(4)
        if draw[0] >= (FINANCED_SHARE_LARGE if large[buyer] else FINANCED_SHARE):
            continue
        applied = int(paid) + int(draw[1] * DAY)
        decided = applied + int(4 * 3600 + draw[2] * 2 * DAY)
        due = decided + TERM_DAYS * DAY
        if decided >= w.anchor:
            continue
        amount = float(round(float(orders["amount"][k]) * (0.7 + 0.2 * draw[3]), -3))
        status, closed = "approved", NA
        defaults = rng.random() < M.hazard(np.array([q[buyer]]), DEFAULT_BASE, DEFAULT_SLOPE)[0]
        if defaults and due + DEFAULT_AFTER_DAYS * DAY < w.anchor:
            status, closed = "defaulted", due + DEFAULT_AFTER_DAYS * DAY
        elif not defaults and due < w.anchor:
            status, closed = "repaid", due - int(rng.integers(0, 30)) * DAY
        for key, value in (("id", next_id), ("merchant_id", buyer + 1), ("order_id", order_id),
                           ("amount", amount), ("status", status), ("applied_at", applied),
                           ("decided_at", decided), ("due_at", due), ("closed_at", closed)):
            added[key].append(value)
        next_id += 1
    for key, values in added.items():
        loans[key] = list(loans.get(key, [])) + values
    w.tables["app.loan_applications"] = Table("app.loan_applications", loans)
    return len(added["id"])


# The demo's scorecard history: v1 (the card issue 17's validation audited) was in use; the
# expert v2 and the fitted challenger c1 were built after the audit; one risk officer proposed
# the better of the two by the validation report, and a second approved it at the gate.
PREVIOUS_CONFIG = "scorecard_v1.toml"
PROPOSER, APPROVER = "risk1", "risk2"


def register_scorecards(conn) -> None:
    """The demo's versions: v1 first (active, as the first version registered is), then the
    expert card v2 and the fitted challenger c1 as candidates. Idempotent."""
    from console.credit import engine as credit_engine
    from console.credit.scorecard import CHALLENGER_CONFIG, CONFIG_DIR, DEFAULT_CONFIG, load
    for path in (CONFIG_DIR / PREVIOUS_CONFIG, DEFAULT_CONFIG, CHALLENGER_CONFIG):
        credit_engine.register_version(conn, load(path))


def promote_better(conn) -> str | None:
    """Record the promotion of the candidate the validation report prefers, through the
    console's gate: risk1 proposes it (the reports of the active version and the candidate
    kept side by side in the proposal), risk2 approves; the version promoted. Without a
    sample to validate on (the small scale) the expert card v2 is proposed. Nothing when a
    promotion was already decided, or when the preferred candidate fails the gate (a leak
    alarm, or calibration that does not hold: the incumbent v1 stays active).

    The seed's staff rows are not committed yet, and a gated service re-reads its actor
    through the console's own engine (console/roles.py), which cannot see them: the gate's
    functions run here undecorated (``inspect.unwrap``), in the seed's transaction, after the
    same role check on the accounts read from it. Everything else is the gate's: the reports
    kept, the second person, the audit rows, the database's checks."""
    import inspect

    from console import db
    from console.credit import validation
    from console.credit.scorecard import DEFAULT_CONFIG, load
    from console.roles import Actor, require_role
    from console.services import credit

    if db.scalar(conn, "SELECT EXISTS (SELECT 1 FROM ops.credit_promotions)"):
        return None

    def staff(username: str, *roles: str) -> Actor:
        row = db.fetch_one(conn, """SELECT id, username, display_name, roles, session_epoch
                                    FROM ops.staff WHERE username = :u AND is_active""",
                           u=username)
        return require_role(Actor(id=int(row["id"]), username=row["username"],
                                  display_name=row["display_name"], roles=frozenset(row["roles"]),
                                  session_epoch=int(row["session_epoch"])), *roles)

    proposer = staff(PROPOSER, "risk")                 # propose_promotion: @requires("risk")
    approver = staff(APPROVER, "risk", "manager")      # approve_promotion: @requires("risk", "manager")
    found = credit._validate_versions(conn)
    candidates = {v.version: v for v in found.versions if v.status == "candidate"}
    reports = [v.report for v in candidates.values() if v.report is not None]
    if reports:
        best = reports[0]
        for other in reports[1:]:
            best = validation.better(best, other)
        if best.leak_alarms or not best.calibration_holds:
            # The gate refuses it (credit._gate), as it would a real team's: the incumbent
            # stays active (a small world with another seed: too few bad merchants).
            return None
        chosen = candidates[best.version]
        oot = best.out_of_time
        # A person's note (data, in the demo's language), not console text.
        reason = (f"按验证报告，{chosen.version} 是更优的候选版本：跨时 AUC {oot.auc:.3f}"
                  f"（95% 区间 {oot.auc_ci[0]:.3f}–{oot.auc_ci[1]:.3f}），跨时样本 {oot.rows} 家、"
                  f"坏 {oot.bad} 家，无泄漏警报，跨时校准通过。")
    else:
        chosen = candidates[load(DEFAULT_CONFIG).version]
        reason = f"{chosen.version}：验证后的专家评分卡；样本中没有坏商户，无法比较各候选版本。"
    promotion_id = inspect.unwrap(credit.propose_promotion)(
        conn=conn, actor=proposer, version_id=chosen.version_id, reason=reason)
    inspect.unwrap(credit.approve_promotion)(
        conn=conn, actor=approver, promotion_id=promotion_id,
        note="已对照两个版本的验证报告，同意上线。")
    return chosen.version


# The audit rows a seed writes: the promotion above, the override history
# (override_history.py) and the sweeps of its weekly runs.
SEEDED_ACTIONS = ("credit.promotion.propose", "credit.promotion.approve",
                  "credit.override.propose", "credit.override.approve",
                  "credit.override.reject", "credit.override.expire",
                  "credit.override.keep", "credit.override.revoke",
                  # today's order-loan queue (console/demo/loans.py), through the services
                  "loan.apply", "loan.assign", "loan.approve",
                  # …and the manual line its application above the four-eyes amount draws on
                  "finance.line.propose", "finance.line.approve")


def seeded_audit_only(conn) -> bool:
    """True when every audit row is the seed's own (the promotion and the override history,
    written in the seed's transaction, so at the moment it registered the scorecard
    versions): a forced reseed then loses no staff decision."""
    from console import db
    return not db.scalar(conn, """
        SELECT EXISTS (SELECT 1 FROM ops.audit_log a
                       WHERE a.action <> ALL (CAST(:actions AS text[]))
                          OR a.at IS DISTINCT FROM (SELECT min(v.created_at)
                                                    FROM ops.credit_scorecard_versions v))""",
        actions=list(SEEDED_ACTIONS))
