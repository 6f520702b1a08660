"""Model monitoring measures a run on point-in-time labels: a bad event after the run within
the label window; bad events before the run are the card's inputs, never its label."""
from __future__ import annotations

from console.credit import engine as credit_engine
from console.services import credit
from tests import trust_rows
from tests.test_credit_support import city, hand_card, merchant, one

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
