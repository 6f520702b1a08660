"""Model monitoring measures a run on point-in-time labels: a bad event after the run within
the label window; bad events before the run are the card's inputs, never its label."""
from __future__ import annotations

import math

import pytest

from console.credit import engine as credit_engine
from console.errors import Conflict
from console.services import credit
from tests import trust_rows
from tests.apptest import app_as
from tests.test_credit_support import city, hand_card, merchant, one, rows

RUN_DAYS_AGO = 70      # the run finished 70 days ago: its 60-day window has closed


def _order(engine, buyer: int, *, days_ago: float, status: str = "cancelled") -> int:
    """An order of ``buyer``'s; cancelled by the buyer after paying its deposit (a deposit
    default) ``days_ago`` days ago, or completed then."""
    c = city(engine)
    seller = trust_rows.merchant(engine, city_id=c)
    listing = trust_rows.listing(engine, merchant_id=seller, trim_id=trust_rows.trim(engine),
                                 city_id=c)
    return one(engine, """
        INSERT INTO app.orders (listing_id, buyer_id, seller_id, quantity, unit_price, amount,
                                deposit_amount, status, escrow_state, cancelled_by, created_at,
                                deposit_paid_at, cancelled_at, completed_at)
        VALUES (:l, :b, :s, 1, 200000, 200000, 5000, :st,
                CASE WHEN :st = 'cancelled' THEN 'refunded' ELSE 'released' END,
                CASE WHEN :st = 'cancelled' THEN 'buyer' END,
                now() - make_interval(days => :d + 3), now() - make_interval(days => :d + 2),
                CASE WHEN :st = 'cancelled' THEN now() - make_interval(days => :d) END,
                CASE WHEN :st = 'completed' THEN now() - make_interval(days => :d) END)
        RETURNING id""", l=listing, b=buyer, s=seller, st=status, d=days_ago)


def _lost_dispute(engine, loser: int, *, days_ago: float) -> None:
    order_id = _order(engine, loser, days_ago=days_ago + 10, status="completed")
    seller = one(engine, "SELECT seller_id FROM app.orders WHERE id = :o", o=order_id)
    one(engine, """INSERT INTO app.disputes (order_id, raised_by, against_id, reason, status,
                                             outcome, created_at, resolved_at)
                   VALUES (:o, :s, :b, 'not_delivered', 'resolved', 'raiser_won',
                           now() - make_interval(days => :d + 5), now() - make_interval(days => :d))""",
        o=order_id, s=seller, b=loser, d=days_ago)


def _loan_default(engine, borrower: int, *, days_ago: float) -> None:
    one(engine, """INSERT INTO app.loan_applications (merchant_id, amount, status, applied_at,
                                                      decided_at, due_at, closed_at)
                   VALUES (:m, 150000, 'defaulted', now() - make_interval(days => :d + 95),
                           now() - make_interval(days => :d + 94),
                           now() - make_interval(days => :d + 30), now() - make_interval(days => :d))""",
        m=borrower, d=days_ago)


def _score(engine, tmp_path, *, days_ago: int = 0) -> int:
    with engine.begin() as conn:
        run_id = credit_engine.score_all(conn, hand_card(tmp_path))
    one(engine, """UPDATE ops.credit_runs SET finished_at = now() - make_interval(days => :d)
                   WHERE id = :r""", d=days_ago, r=run_id)
    return run_id


def test_only_bad_events_after_the_run_within_the_window_are_the_label(engine, tmp_path, make_actor):
    merchant(engine, name="A")                         # nothing happens: good
    b = merchant(engine, name="B")                     # deposit default 40 days after the run
    c = merchant(engine, name="C", deposit_defaults=1, outcome_deposit_default=True)
    d = merchant(engine, name="D")                     # loses a dispute 65 days after: past the window
    e = merchant(engine, name="E", deposit_defaults=1, outcome_deposit_default=True)
    new = merchant(engine, name="NEW", deals_total=0)  # not graded: not in the population
    _order(engine, b, days_ago=RUN_DAYS_AGO - 40)
    _order(engine, c, days_ago=RUN_DAYS_AGO + 10)      # before the run: an input, not the label
    _lost_dispute(engine, d, days_ago=RUN_DAYS_AGO - 65)
    _order(engine, e, days_ago=RUN_DAYS_AGO + 30)      # before the run, and again after it:
    _loan_default(engine, e, days_ago=RUN_DAYS_AGO - 10)   # a loan default 10 days after: bad
    _order(engine, new, days_ago=RUN_DAYS_AGO - 5)
    run_id = _score(engine, tmp_path, days_ago=RUN_DAYS_AGO)
    with engine.connect() as conn:
        report = credit.monitoring_report(conn=conn, actor=make_actor("risk"), run_b=run_id)
    perf = report.performance
    assert (perf.outcomes, perf.bad) == (5, 2)                       # A-E assessed; B and E bad
    assert report.window_days == 60 and report.days_since_run == RUN_DAYS_AGO
    assert not report.window_open
    grades = perf.by_grade.set_index("grade")
    assert (grades["merchants"].sum(), grades["bad"].sum()) == (5, 2)
    # The hand card: enterprise (250), no lost dispute in the mart (225), no stars (200) =
    # 675, AA: all five in one grade, two of them bad.
    assert (grades.loc["AA", "merchants"], grades.loc["AA", "bad"]) == (5, 2)
    assert grades.loc["AA", "default_rate"] == 0.4
    # The old label read the mart's outcome flags: C and E bad (events the card reads as
    # inputs), B good (the mart does not flag it). KS: the five share one score.
    assert perf.ks == 0.0 and perf.auc == 0.5


def test_a_fresh_run_waits_for_its_window(engine, tmp_path, make_actor):
    f = merchant(engine, name="F", deposit_defaults=1, outcome_deposit_default=True,
                 outcome_loan_default=True)
    merchant(engine, name="G")
    _order(engine, f, days_ago=1)                     # yesterday: before the run, an input
    _score(engine, tmp_path)
    with engine.connect() as conn:
        report = credit.monitoring_report(conn=conn, actor=make_actor("manager"))
    assert (report.performance.outcomes, report.performance.bad) == (2, 0)
    assert report.performance.ks is None and report.performance.auc is None
    assert report.days_since_run == 0 and report.window_open


# ---------------------------------------------------------------- stability within a version
def _run_of(engine, card_text: str, tmp_path) -> int:
    """A run of the version ``card_text`` names (registered as a candidate if new: scored
    directly, as the promotion's approval scores the promoted version)."""
    card = hand_card(tmp_path, card_text)
    with engine.begin() as conn:
        version_id = credit_engine.register_version(conn, card)
        return credit_engine.score_version(conn, version_id, card)


def _two_runs_of_a_then_one_of_b(engine, tmp_path):
    from tests.test_credit_support import HAND_CARD, merchant as make
    make(engine, name="好", cert_level="enterprise", disputes_lost=0, avg_stars=4.6)   # 700
    weak = make(engine, name="弱", cert_level="none", disputes_lost=1, avg_stars=4.0)  # 525
    a1 = _run_of(engine, HAND_CARD, tmp_path)
    one(engine, "UPDATE mart.merchant_features SET disputes_lost = 0 WHERE merchant_id = :m",
        m=weak)                                                                   # 525 -> 600
    a2 = _run_of(engine, HAND_CARD, tmp_path)
    other = HAND_CARD.replace('version = "hand"', 'version = "handB"').replace(
        "base_points = 600", "base_points = 800")        # every score 200 points higher
    b1 = _run_of(engine, other, tmp_path)
    return a1, a2, b1, other


def _scores(engine, run_id: int) -> list[float]:
    return [float(r["score"]) for r in rows(engine, """
        SELECT score FROM ops.credit_run_merchants WHERE run_id = :r ORDER BY score""", r=run_id)]


def test_the_first_run_of_a_new_version_is_not_compared_with_another_version(
        engine, tmp_path, make_actor):
    a1, a2, b1, other = _two_runs_of_a_then_one_of_b(engine, tmp_path)
    actor = make_actor("manager")
    with engine.connect() as conn:
        report = credit.monitoring_report(conn=conn, actor=actor)
    # The latest run is handB's first: no run of handB before it, no PSI, no migration.
    assert (report.run_a, report.run_b, report.version_b) == (None, b1, "handB")
    assert report.first_of_version
    assert report.score_psi is None and report.factor_psi.empty and report.migration.empty
    # A cross-version pair asked for explicitly is refused, not computed.
    with engine.connect() as conn, pytest.raises(Conflict) as refused:
        credit.monitoring_report(conn=conn, actor=actor, run_a=a2, run_b=b1)
    assert refused.value.key == "credit.error.monitor_cross_version"
    assert refused.value.params == {"run_a": a2, "version_a": "hand", "run_b": b1,
                                    "version_b": "handB"}
    # The last run of "hand" defaults to the previous run of "hand" (b1 is newer, not in it).
    assert (_scores(engine, a1), _scores(engine, a2)) == ([525.0, 700.0], [600.0, 700.0])
    with engine.connect() as conn:
        report = credit.monitoring_report(conn=conn, actor=actor, run_b=a2)
    assert (report.run_a, report.run_b, report.first_of_version) == (a1, a2, False)
    # By hand: a1's deciles put 525 in the lowest bin and 700 in the highest; a2's 600 lands
    # in the fifth bin (edges 542.5, 560, ..., 682.5, right-closed), so the lowest bin empties
    # and the fifth fills: PSI = 2 * (0.5 - f) * ln(0.5 / f), an empty bin's share floored at f.
    f = 1e-4
    assert report.score_psi == pytest.approx(2 * (0.5 - f) * math.log(0.5 / f), abs=1e-9)
    assert report.score_psi_level == "shifted"
    psi = dict(zip(report.factor_psi["factor"], report.factor_psi["psi"]))
    # disputes_lost bins (0 | 1 | >=2): 1, 1, 0 merchants before; 2, 0, 0 after.
    assert psi["disputes_lost"] == pytest.approx(
        0.5 * math.log(2) + (0.5 - f) * math.log(0.5 / f), abs=1e-9)
    assert psi["cert_level"] == 0.0 and psi["avg_stars"] == 0.0
    assert int(report.migration.loc["BB", "A"]) == 1 and int(report.migration.loc["AAA", "AAA"]) == 1
    # A second run of handB is compared with handB's first, never with "hand".
    b2 = _run_of(engine, other, tmp_path)
    with engine.connect() as conn:
        report = credit.monitoring_report(conn=conn, actor=actor)
    assert (report.run_a, report.run_b, report.first_of_version) == (b1, b2, False)
    assert report.score_psi == 0.0


def test_the_page_says_the_latest_run_is_the_first_of_its_version(engine, tmp_path, make_actor):
    a1, a2, b1, _ = _two_runs_of_a_then_one_of_b(engine, tmp_path)
    for lang, text in (("en", f"Run {b1} is the first run of scorecard handB"),
                       ("zh", f"第 {b1} 次评分是评分卡 handB 的首次评分")):
        at = app_as(make_actor("manager"), lang=lang, page="pages/risk_monitoring.py")
        assert not at.exception and not at.error
        assert any(i.value.startswith(text) for i in at.info), [i.value for i in at.info]
        assert not [m for m in at.metric if m.label in ("Score PSI", "总分 PSI")]
    # No baseline is offered for handB's first run; checking a2, only a1 ("hand") is.
    assert [s.label for s in at.selectbox] == ["当前评分"]
    at.selectbox[0].select(a2).run()
    assert not at.exception and not at.error
    baseline = next(s for s in at.selectbox if s.label == "对比基准（较早一次）")
    assert [o.split(" · ")[::2] for o in baseline.options] == [[f"#{a1}", "hand"]]
    assert [m.value for m in at.metric if m.label == "总分 PSI"] == ["🔴 8.515"]
    assert "只比较同一评分卡版本（hand）的两次评分。" in [c.value for c in at.caption]
