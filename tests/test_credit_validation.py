"""The validation report against hand computations: ranking (AUC, Gini, KS), calibration per
grade (binomial, Hosmer–Lemeshow), stability (PSI/CSI), and the IV leakage alarm."""
from __future__ import annotations

import math
from datetime import date

import numpy as np
import pandas as pd
import pytest

from console.credit import validation
from console.credit.pit import SamplePlan
from tests.test_credit_support import hand_card

# A small out-of-time history scored by the hand card (tests/test_credit_support.py):
#   cert_level none 150 / personal 200 / enterprise 250; disputes_lost 0: 225, 1: 150, 2+: 100;
#   avg_stars < 4.0: 175, >= 4.0: 225, none: 200. Bands AAA 700, AA 650, A 600, BBB 550, ...
HISTORY = [  # cert, disputes lost, stars, bad   -> score, grade
    ("enterprise", 0, 4.6, 0),   # 700 AAA
    ("enterprise", 0, 3.5, 0),   # 650 AA
    ("personal", 0, 4.5, 1),     # 650 AA
    ("personal", 1, 4.5, 0),     # 575 BBB
    ("none", 0, 4.5, 0),         # 600 A
    ("none", 1, 3.5, 1),         # 475 B
    ("none", 2, 3.5, 1),         # 425 C
    ("personal", 0, None, 0),    # 625 A
]
PLAN = SamplePlan((date(2026, 3, 1),), date(2026, 6, 1), 60)


def frame(rows=HISTORY) -> pd.DataFrame:
    return pd.DataFrame([{"cert_level": c, "disputes_lost": lost, "avg_stars": stars, "bad": bad,
                          "months_on_platform": 12, "deals_total": 3}
                         for c, lost, stars, bad in rows])


def pd_at(score: float) -> float:
    """The hand card's promise: 600 points = odds 19:1, 50 points double them."""
    return 1 / (1 + 19 * 2 ** ((score - 600) / 50))


def binomial_two_sided(k: int, n: int, p: float) -> float:
    probs = [math.comb(n, i) * p ** i * (1 - p) ** (n - i) for i in range(n + 1)]
    return min(1.0, sum(q for q in probs if q <= probs[k] * (1 + 1e-7)))


@pytest.fixture
def report(tmp_path):
    return validation.validate(hand_card(tmp_path), frame(), frame(), PLAN)


def test_out_of_time_ranking_matches_the_hand_computation(report):
    oot = report.out_of_time
    # goods 700 650 575 600 625, bads 650 475 425: of the 15 good-bad pairs the good one
    # scores higher in 11 and ties in one: (11 + 0.5) / 15
    assert oot.auc == pytest.approx(11.5 / 15)
    assert oot.gini == pytest.approx(2 * 11.5 / 15 - 1)
    # at 475 two of three bads and none of the goods score at or below: KS = 2/3
    assert oot.ks == pytest.approx(2 / 3)
    assert (oot.rows, oot.bad) == (8, 3)
    # DeLong: placements of goods (share of bads below, ties half) and bads (share of goods above)
    v10 = np.array([3, 2.5, 2, 2, 2]) / 3
    v01 = np.array([1.5, 5, 5]) / 5
    se = math.sqrt(np.var(v10, ddof=1) / 5 + np.var(v01, ddof=1) / 3)
    assert oot.auc_ci == pytest.approx((11.5 / 15 - 1.959964 * se, min(1.0, 11.5 / 15 + 1.959964 * se)),
                                       abs=1e-6)
    lo, hi = oot.ks_ci
    assert 0 <= lo <= hi <= 1


def test_calibration_per_grade_and_hosmer_lemeshow_match_the_hand_computation(report):
    table = report.by_grade.set_index("grade")
    expected = {   # grade: (merchants, bad, promised PD = mean of the members' PDs)
        "AAA": (1, 0, pd_at(700)), "AA": (2, 1, pd_at(650)),
        "A": (2, 0, (pd_at(600) + pd_at(625)) / 2), "BBB": (1, 0, pd_at(575)),
        "BB": (0, 0, None), "B": (1, 1, pd_at(475)), "C": (1, 1, pd_at(425))}
    for grade, (n, bad, promised) in expected.items():
        assert (table.loc[grade, "merchants"], table.loc[grade, "bad"]) == (n, bad), grade
        if n:
            assert table.loc[grade, "promised_pd"] == pytest.approx(promised), grade
            assert table.loc[grade, "binomial_p"] == pytest.approx(
                binomial_two_sided(bad, n, promised), rel=1e-6), grade
    assert pd_at(650) == pytest.approx(1 / 39)
    assert table.loc["AA", "binomial_p"] == pytest.approx(2 * (1 / 39) * (38 / 39) + (1 / 39) ** 2)
    # Each grade its own group (no pooling asked for): the textbook sum over the 6 grades.
    hl = sum((bad - n * p) ** 2 / (n * p * (1 - p)) for n, bad, p in expected.values() if n)
    stat, df, p_value = validation.hosmer_lemeshow(report.by_grade, min_expected=0)
    assert (stat, df) == (pytest.approx(hl), 6)
    assert p_value == pytest.approx(math.exp(-hl / 2) * sum((hl / 2) ** j / math.factorial(j)
                                                            for j in range(3)))
    # The report pools grades until a group expects 5 bad: these 8 merchants expect under
    # one, so all six grades are one group: 3 bad of 8 against the sum of their promises.
    e = sum(n * p for n, _, p in expected.values() if n)
    one = (3 - e) ** 2 / (e * (1 - e / 8))
    assert (report.hl_stat, report.hl_df) == (pytest.approx(one), 1)
    assert report.hl_p == pytest.approx(math.erfc(math.sqrt(one / 2)))      # chi2 sf, 1 df
    # Jeffreys, one-sided: the Beta(bad + 1/2, good + 1/2) posterior's mass below the PD.
    # AA, 1 of 2 at 1/39: Beta(1.5, 1.5), density √(x(1 − x)) / (π/8), whose CDF at sin² θ
    # is (2θ − sin 4θ / 2) / π.
    theta = math.asin(math.sqrt(1 / 39))
    assert table.loc["AA", "jeffreys_p"] == pytest.approx(
        (2 * theta - math.sin(4 * theta) / 2) / math.pi, rel=1e-9)
    # B, 1 of 1 at pd_at(475): Beta(1.5, 0.5), density √(x / (1 − x)) / (π/2), whose CDF at
    # sin² θ is (θ − sin θ cos θ) / (π/2): 0.0503, just above 5%. AA's 0.0069 is below: only
    # AA's promise looks too low.
    theta = math.asin(math.sqrt(pd_at(475)))
    b_p = (theta - math.sin(theta) * math.cos(theta)) / (math.pi / 2)
    assert table.loc["B", "jeffreys_p"] == pytest.approx(b_p, rel=1e-9)
    assert 0.05 < b_p < 0.051
    assert report.pd_too_low == ["AA"]


def test_hosmer_lemeshow_groups_grades_until_each_expects_five_bad():
    # The demo's v2 out of time (expected bad per grade, AAA to C): AAA, AA and A together
    # reach 5; BBB and BB alone; B reaches 5 and C's 3.4 at the worst end joins it.
    assert validation.hl_groups([0.04, 0.6, 9.3, 12.7, 6.4, 6.75, 3.4]) == [
        [0, 1, 2], [3], [4], [5, 6]]
    assert validation.hl_groups([1.0, 1.0]) == [[0, 1]]          # never enough: one group
    table = pd.DataFrame({"merchants": [3, 43, 297, 0, 27], "bad": [1, 2, 11, 0, 4],
                          "expected_bad": [0.04, 0.6, 9.3, 0.0, 6.75]})
    stat, df, p_value = validation.hosmer_lemeshow(table)
    # populated grades only: [AAA, AA, A] (n 343, O 14, E 9.94) and [B] (n 27, O 4, E 6.75)
    hand = (14 - 9.94) ** 2 / (9.94 * (1 - 9.94 / 343)) + (4 - 6.75) ** 2 / (6.75 * (1 - 6.75 / 27))
    assert (stat, df) == (pytest.approx(hand), 2)
    assert p_value == pytest.approx(math.exp(-hand / 2))                   # chi2 sf, 2 df


def test_the_same_sample_twice_is_stable(report):
    assert report.score_psi == pytest.approx(0.0)
    assert report.factors["csi"].tolist() == pytest.approx([0.0, 0.0, 0.0])


def test_information_value_by_hand():
    # bin 1: 3 good 1 bad, bin 2: 1 good 3 bad; +0.5 smoothing: goods 3.5/5, 1.5/5; bads 1.5/5, 3.5/5
    iv, table = validation.information_value([1, 1, 1, 1, 2, 2, 2, 2], [0, 0, 0, 1, 0, 1, 1, 1])
    woe = math.log((3.5 / 5) / (1.5 / 5))
    assert table["woe"].tolist() == pytest.approx([woe, -woe])
    assert iv == pytest.approx(2 * (0.4 * woe))


def test_a_planted_leak_is_caught_by_the_iv_alarm(tmp_path):
    """A factor that is the outcome in disguise (here: lost disputes counted after the score
    date, i.e. the label itself) separates far too well: IV above 1.0 raises the alarm."""
    rng = np.random.default_rng(5)
    rows = [("personal", 0, 4.2, int(rng.random() < 0.2)) for _ in range(400)]
    honest = frame(rows)
    leaky = honest.assign(disputes_lost=honest["bad"] * 2)
    card = hand_card(tmp_path)
    clean = validation.validate(card, honest, honest, PLAN)
    caught = validation.validate(card, leaky, leaky, PLAN)
    assert clean.leak_alarms == []
    assert caught.leak_alarms == ["disputes_lost"]
    iv = caught.factors.set_index("factor").loc["disputes_lost", "iv"]
    assert iv > validation.IV_LEAK and caught.out_of_time.auc > 0.99


def test_the_better_report_wins_on_auc_unless_it_leaks(report, tmp_path):
    # the bad ones at B (475) and at the A of 625 (ranked above three good ones)
    worse = validation.validate(hand_card(tmp_path), frame(), frame().assign(
        bad=[0, 0, 0, 0, 0, 1, 0, 1]), PLAN)
    assert report.out_of_time.auc > worse.out_of_time.auc
    # 3 bad of 8 where the promise expects 0.8 fails Hosmer-Lemeshow (and AA's 1 of 2 at 2.6%
    # is red by Jeffreys); these 2 bad of 8 hold (A amber, not blocking): a promise that
    # holds comes before a higher AUC
    assert (report.calibration_holds, worse.calibration_holds) == (False, True)
    assert (report.pd_red, worse.pd_red, worse.pd_amber) == (["AA"], [], ["A"])
    assert validation.better(report, worse) is worse
    worse.hl_p = report.hl_p            # both fail: the higher AUC
    assert validation.better(report, worse) is report
    leaky = validation.validate(hand_card(tmp_path), frame(), frame(), PLAN)
    leaky.leak_alarms = ["disputes_lost"]
    assert validation.better(leaky, worse) is worse
