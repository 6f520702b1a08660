"""The overrides page's outcomes against peers (credit.override_outcomes) on hand-built history:
three scoring runs, overrides that expired, a merchant overridden twice with bad events before,
between and after its overrides. The page's query counts the peers from the scoring run's kept
counts (migration 092); its figures equal the row-by-row definition
(tests/sql/credit_override_outcomes_definition.sql) and the values worked out by hand."""
from __future__ import annotations

from datetime import timedelta

import pandas as pd
import pytest

from console import db
from console.clock import today
from console.credit import engine as credit_engine
from console.services import credit
from console.settings import PROJECT_ROOT
from tests import trust_rows
from tests.apptest import app_as
from tests.test_credit_support import (age_override, city, hand_card, merchant, one, purchase,
                                       rows)

DEFINITION = (PROJECT_ROOT / "tests" / "sql" / "credit_override_outcomes_definition.sql").read_text(
    encoding="utf-8")
IN_30_DAYS = today() + timedelta(days=30)


def call(engine, fn, **kwargs):
    with engine.begin() as conn:
        return fn(conn=conn, **kwargs)


def score(engine, card, *, days_ago: int) -> int:
    """A scoring run, then its finish moved ``days_ago`` days back."""
    with engine.begin() as conn:
        run_id = credit_engine.score_all(conn, card)
    one(engine, """UPDATE ops.credit_runs SET finished_at = finished_at - make_interval(days => :d)
                   WHERE id = :r""", d=days_ago, r=run_id)
    return run_id


def override(engine, proposer, approver, merchant_id, new_grade, *, days_ago: int = 0) -> int:
    oid = call(engine, credit.propose_override, actor=proposer, merchant_id=merchant_id,
               new_grade=new_grade, reason_code="guarantee", reason="担保函", expires_on=IN_30_DAYS)
    call(engine, credit.approve_override, actor=approver, override_id=oid, note="同意")
    if days_ago:
        age_override(engine, oid, days=days_ago)
    return oid


def _seller_listing(engine) -> tuple[int, int]:
    c = city(engine)
    seller = trust_rows.merchant(engine, city_id=c)
    return seller, trust_rows.listing(engine, merchant_id=seller, trim_id=trust_rows.trim(engine),
                                      city_id=c)


def deposit_default(engine, buyer: int, *, days_ago: int) -> None:
    seller, listing = _seller_listing(engine)
    one(engine, """INSERT INTO app.orders (listing_id, buyer_id, seller_id, quantity, unit_price,
                                           amount, deposit_amount, status, escrow_state,
                                           cancelled_by, created_at, deposit_paid_at, cancelled_at)
                   VALUES (:l, :b, :s, 1, 200000, 200000, 5000, 'cancelled', 'refunded', 'buyer',
                           now() - make_interval(days => :d + 3), now() - make_interval(days => :d + 2),
                           now() - make_interval(days => :d))""",
        l=listing, b=buyer, s=seller, d=days_ago)


def dispute_lost(engine, loser: int, *, days_ago: int, loser_raised: bool) -> None:
    """A dispute ``loser`` lost: as the raiser (against_won) or as the one it was against."""
    seller, listing = _seller_listing(engine)
    order = one(engine, """INSERT INTO app.orders (listing_id, buyer_id, seller_id, quantity,
                                                   unit_price, amount, deposit_amount, status,
                                                   escrow_state, created_at, deposit_paid_at,
                                                   completed_at)
                           VALUES (:l, :b, :s, 1, 200000, 200000, 5000, 'completed', 'released',
                                   now() - make_interval(days => :d + 20),
                                   now() - make_interval(days => :d + 19),
                                   now() - make_interval(days => :d + 10))
                           RETURNING id""", l=listing, b=loser, s=seller, d=days_ago)
    raiser, against = (loser, seller) if loser_raised else (seller, loser)
    one(engine, """INSERT INTO app.disputes (order_id, raised_by, against_id, reason, status,
                                             outcome, created_at, resolved_at)
                   VALUES (:o, :r, :a, 'not_delivered', 'resolved', :out,
                           now() - make_interval(days => :d + 5), now() - make_interval(days => :d))""",
        o=order, r=raiser, a=against, out="against_won" if loser_raised else "raiser_won", d=days_ago)


def loan_default(engine, borrower: int, *, days_ago: int) -> None:
    one(engine, """INSERT INTO app.loan_applications (merchant_id, amount, status, applied_at,
                                                      decided_at, due_at, closed_at)
                   VALUES (:m, 150000, 'defaulted', now() - make_interval(days => :d + 95),
                           now() - make_interval(days => :d + 94),
                           now() - make_interval(days => :d + 30), now() - make_interval(days => :d))""",
        m=borrower, d=days_ago)


def definition(engine, window_days: int) -> pd.DataFrame:
    with engine.connect() as conn:
        return db.fetch_df(conn, DEFINITION, window_days=window_days)


@pytest.fixture
def history(engine, make_actor, tmp_path):
    """Three runs (80 and 30 days ago, today) over good AAA, weak BB, mid A, three AA peers
    and a NEW merchant; overrides: run 1 good -> AA and weak -> BBB (both expired since),
    run 2 good -> AA again and p0 -> A, run 3 mid -> AA and p2 twice (-> A, expired, then
    -> AAA); a rejected and an open proposal."""
    alice, head = make_actor("risk"), make_actor("risk", "manager")
    m = {"good": merchant(engine, cert_level="enterprise", disputes_lost=0, avg_stars=4.6),
         "weak": merchant(engine, cert_level="none", disputes_lost=1, avg_stars=4.0),
         "mid": merchant(engine, cert_level="personal", disputes_lost=0, avg_stars=3.5),
         "new": merchant(engine, cert_level="enterprise", months=1, deals_total=0)}
    for n in range(3):
        m[f"p{n}"] = merchant(engine, cert_level="enterprise", disputes_lost=0, avg_stars=3.5)
    for key in ("good", "weak", "mid", "p0", "p1", "p2"):
        purchase(engine, m[key], 40_000_000)
    card = hand_card(tmp_path)
    m["run1"] = score(engine, card, days_ago=0)
    m["o1"] = override(engine, alice, head, m["good"], "AA", days_ago=80)
    m["o2"] = override(engine, alice, head, m["weak"], "BBB", days_ago=80)
    one(engine, "UPDATE ops.credit_runs SET finished_at = finished_at - interval '80 days' WHERE id = :r",
        r=m["run1"])
    with engine.begin() as conn:
        assert credit_engine.expire_due_overrides(conn) == 2
    m["run2"] = score(engine, card, days_ago=0)
    m["o3"] = override(engine, alice, head, m["good"], "AA", days_ago=25)
    m["o4"] = override(engine, alice, head, m["p0"], "A", days_ago=25)
    one(engine, "UPDATE ops.credit_runs SET finished_at = finished_at - interval '30 days' WHERE id = :r",
        r=m["run2"])
    m["run3"] = score(engine, card, days_ago=0)
    m["o5"] = override(engine, alice, head, m["mid"], "AA")
    # p2 overridden twice in run 3: -> A approved 40 days ago (expired since), then -> AAA
    m["o6"] = override(engine, alice, head, m["p2"], "A", days_ago=40)
    with engine.begin() as conn:
        assert credit_engine.expire_due_overrides(conn) == 1
    m["o7"] = override(engine, alice, head, m["p2"], "AAA")
    rejected = call(engine, credit.propose_override, actor=alice, merchant_id=m["weak"],
                    new_grade="B", reason_code="adverse_news", reason="负面", expires_on=IN_30_DAYS)
    call(engine, credit.reject_override, actor=head, override_id=rejected, note="证据不足")
    call(engine, credit.propose_override, actor=alice, merchant_id=m["p1"], new_grade="A",
         reason_code="adverse_news", reason="负面", expires_on=IN_30_DAYS)      # still proposed
    # Bad events, days ago. good: before its first override, inside it, inside its second.
    deposit_default(engine, m["good"], days_ago=85)
    deposit_default(engine, m["good"], days_ago=70)
    deposit_default(engine, m["good"], days_ago=10)
    loan_default(engine, m["weak"], days_ago=15)         # after o2's window; run 2's BB peer
    dispute_lost(engine, m["mid"], days_ago=40, loser_raised=False)   # run 1's A peer
    dispute_lost(engine, m["p0"], days_ago=22, loser_raised=True)     # run 1 peer; o4 overridden
    dispute_lost(engine, m["p1"], days_ago=50, loser_raised=False)    # run 1 peer
    deposit_default(engine, m["p2"], days_ago=5)                      # run 2 peer
    deposit_default(engine, m["new"], days_ago=10)                    # NEW: never a peer
    return m


def test_outcomes_on_a_history_of_runs_and_expired_overrides(engine, make_actor, history):
    assert rows(engine, """SELECT id, status FROM ops.credit_overrides WHERE id IN (:a, :b, :c)
                           ORDER BY id""", a=history["o1"], b=history["o2"], c=history["o3"]) == [
        {"id": history["o1"], "status": "expired"}, {"id": history["o2"], "status": "expired"},
        {"id": history["o3"], "status": "approved"}]
    with engine.connect() as conn:
        table = credit.override_outcomes(conn=conn, actor=make_actor("risk"))
    # AAA: o7 (p2, its event at -5 is before); peer: good in run 3; open: o7, run 3.
    # AA: o1 (bad at -70), o3 (bad at -10), o5 (no event); peers run 1 p0 p1 p2, run 2 p1 p2,
    #     run 3 p0 p1 = 7, bad: p0 and p1 in run 1, p2 in run 2; open: o3 o5 and the 4
    #     peers of runs 2 and 3.
    # A:  o4 (p0, bad at -22), o6 (p2, bad at -5); peers mid in runs 1 and 2, bad in run 1
    #     (-40); open: o4 o6, run 2's mid.
    # BBB: o2 (weak's loan default at -15 falls after its window); no merchant scored BBB.
    assert table[["grade", "overridden", "overridden_bad", "peers", "peers_bad",
                  "window_open"]].to_dict("records") == [
        {"grade": "AAA", "overridden": 1, "overridden_bad": 0, "peers": 1, "peers_bad": 0,
         "window_open": 2},
        {"grade": "AA", "overridden": 3, "overridden_bad": 2, "peers": 7, "peers_bad": 3,
         "window_open": 6},
        {"grade": "A", "overridden": 2, "overridden_bad": 2, "peers": 2, "peers_bad": 1,
         "window_open": 3},
        {"grade": "BBB", "overridden": 1, "overridden_bad": 0, "peers": 0, "peers_bad": 0,
         "window_open": 0}]
    assert table["overridden_rate"].tolist() == pytest.approx([0.0, 2 / 3, 1.0, 0.0])
    assert table["peers_rate"].iloc[:3].tolist() == pytest.approx([0.0, 3 / 7, 0.5])
    assert pd.isna(table["peers_rate"].iloc[3])

@pytest.mark.parametrize("window_days", [10, 21, 60, 90])
def test_the_page_query_equals_the_row_by_row_definition(engine, history, window_days):
    with engine.connect() as conn:
        fast = db.fetch_df(conn, db.named_query("credit_override_outcomes"), window_days=window_days)
    slow = definition(engine, window_days)
    assert not slow.empty
    pd.testing.assert_frame_equal(fast, slow)


def test_the_definition_still_agrees_after_scores_are_corrected_and_a_run_removed(engine, history):
    """The kept counts follow every write of ops.credit_scores: a merchant re-graded, one
    marked as lacking history (its grade left as it was: the peers' own condition decides,
    not the grade), a whole run's scores deleted."""
    one(engine, """UPDATE ops.credit_scores SET grade = 'A' WHERE run_id = :r AND merchant_id = :m""",
        r=history["run2"], m=history["p2"])
    one(engine, """UPDATE ops.credit_scores SET insufficient_history = true
                   WHERE run_id = :r AND merchant_id = :m""", r=history["run1"], m=history["p1"])
    recount = """SELECT run_id, grade, count(*) AS merchants FROM ops.credit_scores
                 WHERE NOT insufficient_history GROUP BY 1, 2 ORDER BY 1, 2"""
    kept = "SELECT run_id, grade, merchants FROM ops.credit_run_scored_grades ORDER BY 1, 2"
    assert rows(engine, kept) == rows(engine, recount)
    for window_days in (21, 60):
        with engine.connect() as conn:
            fast = db.fetch_df(conn, db.named_query("credit_override_outcomes"),
                               window_days=window_days)
        pd.testing.assert_frame_equal(fast, definition(engine, window_days))
    got = fast.set_index("grade")
    # run 2's p2 (bad at -5) is an A peer now; run 1's p1 (bad at -50) no peer at all
    assert (got.loc["AA", "peers"], got.loc["AA", "peers_bad"]) == (5, 1)
    assert (got.loc["A", "peers"], got.loc["A", "peers_bad"]) == (3, 2)
    one(engine, "DELETE FROM ops.credit_scores WHERE run_id = :r", r=history["run3"])
    assert rows(engine, kept) == rows(engine, recount)
    assert not rows(engine, "SELECT 1 FROM ops.credit_run_scored_grades WHERE run_id = :r",
                    r=history["run3"])
    with engine.connect() as conn:
        fast = db.fetch_df(conn, db.named_query("credit_override_outcomes"), window_days=60)
    pd.testing.assert_frame_equal(fast, definition(engine, 60))


def test_the_overrides_page_shows_the_rate_and_the_outcomes(engine, make_actor, history):
    at = app_as(make_actor("risk"), page="pages/risk_overrides.py")
    assert not at.exception and not at.error
    # active now: o3 good AAA -> AA, o4 p0 AA -> A (down); o5 mid A -> AA, o7 p2 AA -> AAA
    # (up); six graded merchants (the NEW one is not)
    assert "上调 33.3%（2 家），下调 33.3%（2 家），分母为已评级商户 6 家（NEW 不计；NEW 商户调整 0 家，" \
        "额度仍不超过起步额度）" in [c.value for c in at.caption]
    table = at.dataframe[-1].value
    assert table.columns[0] == "调整后评级"    # the grade the override gave, not the scored one
    assert [[str(v) for v in r] for r in table.values.tolist()] == [
        ["AAA", "1", "0", "1", "0", "2", "0.0%", "0.0%"],
        ["AA", "3", "2", "7", "3", "6", "66.7%", "42.9%"],
        ["A", "2", "2", "2", "1", "3", "100.0%", "50.0%"],
        ["BBB", "1", "0", "0", "0", "0", "0.0%", "—"]]
