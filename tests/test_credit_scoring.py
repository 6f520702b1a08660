"""The scorecard: points by hand, monotonic factors, grade band edges, re-runs, the config."""
from __future__ import annotations

import itertools

import pytest

from console.credit import engine as credit_engine
from console.credit.scorecard import DEFAULT_CONFIG, ScorecardError, load
from console.errors import Conflict
import sqlalchemy as sa

from tests.test_credit_support import HAND_CARD, hand_card, merchant, purchase, rows, set_features

CERT = {"none": 150, "personal": 200, "enterprise": 250}
LOST = {0: 225, 1: 150, 5: 100}
STARS = {3.9: 175, 4.0: 225, None: 200}


def score(engine, card) -> int:
    with engine.begin() as conn:
        return credit_engine.score_all(conn, card)


def scores_of(engine, run_id) -> dict[int, dict]:
    return {r["merchant_id"]: r for r in rows(engine, """
        SELECT merchant_id, score, score_grade, grade, insufficient_history, factors, reasons
        FROM ops.credit_scores WHERE run_id = :r""", r=run_id)}


def test_hand_card_points_are_what_the_scaling_says(tmp_path):
    card = hand_card(tmp_path)
    points = {f.name: {b.bin_no: b.points for b in f.bins} for f in card.factors}
    assert points == {"cert_level": {0: 150, 1: 150, 2: 200, 3: 250},
                      "disputes_lost": {0: 200, 1: 225, 2: 150, 3: 100},
                      "avg_stars": {0: 200, 1: 175, 2: 225}}
    # 600 points at odds 19:1, 50 more points double them.
    assert card.odds_at(600) == 19
    assert card.odds_at(650) == 38


def test_score_is_the_exact_sum_of_factor_points_on_every_bin_combination(engine, tmp_path):
    card = hand_card(tmp_path)
    expected = {}
    for cert, lost, stars in itertools.product(CERT, LOST, STARS):
        m = merchant(engine, cert_level=cert, disputes_lost=lost, avg_stars=stars)
        expected[m] = CERT[cert] + LOST[lost] + STARS[stars]
    got = scores_of(engine, score(engine, card))
    for m, total in expected.items():
        factor_sum = sum(f["points"] for f in got[m]["factors"].values())
        assert (got[m]["score"], factor_sum) == (total, total)


def test_hand_computed_cases_with_grades_and_reasons(engine, tmp_path):
    card = hand_card(tmp_path)
    best = merchant(engine, cert_level="enterprise", disputes_lost=0, avg_stars=4.6)
    worst = merchant(engine, cert_level="none", disputes_lost=3, avg_stars=3.5)
    middle = merchant(engine, cert_level="personal", disputes_lost=1, avg_stars=None)
    got = scores_of(engine, score(engine, card))
    assert (got[best]["score"], got[best]["grade"], got[best]["reasons"]) == (700, "AAA", [])
    assert got[best]["factors"] == {
        "cert_level": {"value": "enterprise", "bin": 3, "points": 250},
        "disputes_lost": {"value": 0, "bin": 1, "points": 225},
        "avg_stars": {"value": 4.6, "bin": 2, "points": 225}}
    # 150 + 100 + 175: lost 125 on disputes, 100 on certification, 50 on stars.
    assert (got[worst]["score"], got[worst]["grade"]) == (425, "C")
    assert got[worst]["reasons"] == ["disputes_lost", "cert_level", "avg_stars"]
    # 200 + 150 + 200 (no reviews: the missing bin) = 550, exactly on the BBB floor.
    assert (got[middle]["score"], got[middle]["grade"]) == (550, "BBB")
    assert got[middle]["reasons"] == ["disputes_lost", "cert_level", "avg_stars"]
    assert got[middle]["factors"]["avg_stars"] == {"value": None, "bin": 0, "points": 200}


# Totals reachable with the hand card, each with the grade its band gives: every band's
# floor and the step just below it.
EDGES = [(("enterprise", 0, 4.0), 700, "AAA"), (("enterprise", 0, 3.0), 650, "AA"),
         (("personal", 0, 4.0), 650, "AA"), (("enterprise", 1, 4.0), 625, "A"),
         (("personal", 0, 3.0), 600, "A"), (("enterprise", 1, 3.0), 575, "BBB"),
         (("personal", 1, 4.0), 575, "BBB"), (("none", 1, 4.0), 525, "BB"),
         (("enterprise", 2, 3.0), 525, "BB"), (("personal", 2, 4.0), 525, "BB"),
         (("none", 1, 3.0), 475, "B"), (("none", 2, 4.0), 475, "B"),
         (("personal", 2, 3.0), 475, "B"), (("none", 2, 3.0), 425, "C"),
         (("personal", 1, None), 550, "BBB"), (("none", 1, None), 500, "BB"),
         (("none", 2, None), 450, "B")]


def test_grade_band_edges_in_sql_and_in_python(engine, tmp_path):
    card = hand_card(tmp_path)
    ids = {merchant(engine, cert_level=c, disputes_lost=d, avg_stars=s): (total, grade)
           for (c, d, s), total, grade in EDGES}
    got = scores_of(engine, score(engine, card))
    assert {m: (got[m]["score"], got[m]["grade"]) for m in ids} == ids
    for floor, grade, below in [(700, "AAA", "AA"), (650, "AA", "A"), (600, "A", "BBB"),
                                (550, "BBB", "BB"), (500, "BB", "B"), (450, "B", "C")]:
        assert (card.grade_for(floor), card.grade_for(floor - 1)) == (grade, below)


def test_more_lost_disputes_never_raise_the_score(engine):
    card = load(DEFAULT_CONFIG)
    ids = {n: merchant(engine, disputes_lost=n, deals_12m=4, avg_stars=4.2, review_count=6)
           for n in range(7)}
    got = scores_of(engine, score(engine, card))
    totals = [got[ids[n]]["score"] for n in range(7)]
    assert totals == sorted(totals, reverse=True)
    assert totals[0] > totals[1] > totals[2]          # the first lost disputes do cost points
    assert got[ids[2]]["reasons"][0] == "disputes_lost"


@pytest.mark.parametrize("factor", [f.name for f in load(DEFAULT_CONFIG).factors
                                    if f.direction is not None])
def test_every_v1_factor_moves_the_declared_way(factor):
    f = load(DEFAULT_CONFIG).factor(factor)
    points = [b.points for b in f.bins if not b.is_missing]
    assert points == sorted(points, reverse=(f.direction == "down"))


def test_a_config_whose_points_go_the_wrong_way_is_refused(tmp_path):
    bad = HAND_CARD.replace("doublings = [0.5, -1.0, -2.0]", "doublings = [0.5, -1.0, 0.0]")
    with pytest.raises(ScorecardError, match="disputes_lost: points must move down"):
        hand_card(tmp_path, bad)


def test_a_config_with_grades_out_of_order_is_refused(tmp_path):
    bad = HAND_CARD.replace("min_score = 650", "min_score = 720")
    with pytest.raises(ScorecardError, match="min_score must fall"):
        hand_card(tmp_path, bad)


def test_a_rerun_gives_the_same_scores(engine):
    card = load(DEFAULT_CONFIG)
    for n in range(6):
        merchant(engine, disputes_lost=n % 3, deals_12m=n * 2, cancellations=n,
                 avg_stars=3 + n * 0.3, review_count=n, median_response_hours=n * 10)
    first, second = score(engine, card), score(engine, card)
    a, b = scores_of(engine, first), scores_of(engine, second)
    assert len(a) == 6 and a == b


def test_a_merchant_without_a_completed_deal_is_new_with_at_most_the_starter_limit(engine, tmp_path):
    card = hand_card(tmp_path)
    new = merchant(engine, cert_level="enterprise", months=1, deals_total=0, avg_stars=4.5)
    old_no_deal = merchant(engine, cert_level="enterprise", months=30, deals_total=0, avg_stars=4.5)
    traded = merchant(engine, cert_level="enterprise", months=1, deals_total=1, avg_stars=4.5)
    purchase(engine, traded, 400_000)
    got = scores_of(engine, score(engine, card))
    assert (got[new]["score"], got[new]["score_grade"], got[new]["grade"],
            got[new]["insufficient_history"]) == (700, "AAA", "NEW", True)
    # Age alone does not grade: no completed deal is NEW however old the account.
    assert (got[old_no_deal]["grade"], got[old_no_deal]["insufficient_history"]) == ("NEW", True)
    assert (got[traded]["grade"], got[traded]["insufficient_history"]) == ("AAA", False)
    view = {r["merchant_id"]: (r["effective_grade"], r["insufficient_history"], int(r["loan_limit"]),
                               r["vip_eligible"])
            for r in rows(engine, "SELECT * FROM ops.merchant_credit")}
    # starter limit 50,000 (settings); AAA's cap 5,000,000 vs 0.25 x 400,000 purchases = 100,000
    assert view == {new: ("NEW", True, 50_000, False), old_no_deal: ("NEW", True, 50_000, False),
                    traded: ("AAA", False, 100_000, True)}


def test_a_neutral_merchant_scores_exactly_the_base():
    card = load(DEFAULT_CONFIG)
    neutral = {"cert_level": "personal", "months_on_platform": 3, "deals_12m": 1, "gmv_12m": 0,
               "deposit_defaults": 0, "late_payments": 0, "cancellations": 0,
               "disputes_raised": 0, "disputes_lost": 0, "avg_stars": None, "review_count": 0,
               "days_since_active": 10, "deals_total": 1}
    import pandas as pd
    from console.credit.scorecard import score_frame, shares
    frame = score_frame(card, pd.DataFrame([neutral]))
    assert int(frame["score"].iloc[0]) == card.base_points == 600
    # v1 rounded each of 14 shares of 600 (42.86) up to 43: 602. Whole shares add up exactly.
    assert shares(600, 14) == [43] * 12 + [42] * 2 and sum(shares(600, 14)) == 600


@pytest.mark.parametrize("purchases, grade_floor, expected", [
    # (trailing purchases, hand-card grade by cert, limit): min(cap, 0.25 x purchases), thousands
    (400_000, "enterprise", 100_000),       # AAA cap 5,000,000; 0.25 x 400,000
    (30_000_000, "enterprise", 5_000_000),  # the cap binds
    (10_003_999, "enterprise", 2_500_000),  # 2,500,999.75 down to whole thousands
    (0, "enterprise", 0),                   # a deal long ago, nothing bought in 12 months
])
def test_limit_is_the_smaller_of_the_cap_and_the_multiple_of_purchases(
        engine, tmp_path, purchases, grade_floor, expected):
    card = hand_card(tmp_path)
    m = merchant(engine, cert_level=grade_floor, disputes_lost=0, avg_stars=4.6)
    if purchases:
        purchase(engine, m, purchases)
    purchase(engine, m, 9_000_000, days_before_as_of=400)    # outside the 12 months
    score(engine, card)
    got = rows(engine, "SELECT effective_grade, loan_limit FROM ops.merchant_credit WHERE merchant_id = :m", m=m)
    assert [(g["effective_grade"], int(g["loan_limit"])) for g in got] == [("AAA", expected)]
    with engine.connect() as conn:
        terms = credit_engine.limit_terms(conn, m)
    assert (terms["effective_grade"], int(terms["loan_limit"]), int(terms["grade_cap"]),
            float(terms["limit_multiple"]), int(terms["purchases_12m"]),
            terms["insufficient_history"]) == ("AAA", expected, 5_000_000, 0.25, purchases, False)


def test_loan_limit_and_vip_follow_the_grade(engine, tmp_path):
    card = hand_card(tmp_path)
    best = merchant(engine, cert_level="enterprise", disputes_lost=0, avg_stars=4.6)
    weak = merchant(engine, cert_level="none", disputes_lost=1, avg_stars=4.0)
    purchase(engine, best, 40_000_000)
    purchase(engine, weak, 40_000_000)
    score(engine, card)
    got = {r["merchant_id"]: (r["effective_grade"], int(r["loan_limit"]), r["vip_eligible"])
           for r in rows(engine, "SELECT * FROM ops.merchant_credit")}
    assert got == {best: ("AAA", 5_000_000, True), weak: ("BB", 500_000, False)}


def test_only_the_active_version_drives_grades(engine, tmp_path):
    active = hand_card(tmp_path)
    m = merchant(engine, cert_level="enterprise", disputes_lost=0, avg_stars=4.6)
    score(engine, active)
    candidate = hand_card(tmp_path, HAND_CARD.replace('version = "hand"', 'version = "hand2"')
                          .replace("enterprise = 1.0", "enterprise = -1.0"))
    run = score(engine, candidate)   # registers hand2 as a candidate; scores the active card
    assert rows(engine, """SELECT v.version FROM ops.credit_runs r
                           JOIN ops.credit_scorecard_versions v ON v.id = r.version_id
                           WHERE r.id = :r""", r=run) == [{"version": "hand"}]
    assert rows(engine, "SELECT version, status FROM ops.credit_scorecard_versions ORDER BY id") == [
        {"version": "hand", "status": "active"}, {"version": "hand2", "status": "candidate"}]
    # Even a run of the candidate written by hand does not move the merchant's grade.
    with engine.begin() as conn:
        vid = conn.execute(sa.text("SELECT id FROM ops.credit_scorecard_versions WHERE version = 'hand2'")).scalar()
        credit_engine.score_version(conn, vid, candidate)
    assert rows(engine, "SELECT grade, run_id FROM ops.merchant_credit WHERE merchant_id = :m", m=m) == [
        {"grade": "AAA", "run_id": run}]


def test_a_changed_file_under_a_used_version_name_is_refused(engine, tmp_path):
    score(engine, hand_card(tmp_path))
    changed = hand_card(tmp_path, HAND_CARD.replace("pdo = 50", "pdo = 40"))
    with pytest.raises(Conflict) as err, engine.begin() as conn:
        credit_engine.score_all(conn, changed)
    assert err.value.key == "credit.error.version_changed"


def test_scores_follow_the_mart_when_features_change(engine, tmp_path):
    card = hand_card(tmp_path)
    m = merchant(engine, cert_level="enterprise", disputes_lost=0, avg_stars=4.6)
    first = score(engine, card)
    set_features(engine, m, cert_level="enterprise", disputes_lost=2, avg_stars=4.6)
    second = score(engine, card)
    assert scores_of(engine, first)[m]["score"] == 700
    assert scores_of(engine, second)[m]["score"] == 575
    latest = rows(engine, "SELECT score, grade FROM ops.merchant_credit WHERE merchant_id = :m", m=m)
    assert latest == [{"score": 575, "grade": "BBB"}]
