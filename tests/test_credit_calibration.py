"""The PD per grade a version promises: calibrated on a development sample (pool adjacent
violators over the grades, empty grades from the worse side, a floor: the point estimate),
plus a margin of conservatism (the one-sided Jeffreys upper bound of the grade's pooled
development bad rate, monotone: the PD used), stated in the scorecard file, and what the
out-of-time calibration tests and the promotion gate measure against."""
from __future__ import annotations

import hashlib
import math
from datetime import date

import numpy as np
import pandas as pd
import pytest

from scipy import stats

from console.credit import calibration, validation
from console.credit.pit import SamplePlan
from console.credit.scorecard import ScorecardError, load
from tests.test_credit_support import HAND_CARD, hand_card
from tests.test_credit_validation import HISTORY, frame

PLAN = SamplePlan((date(2026, 3, 1),), date(2026, 6, 1), 60)

# A development history scored by the hand card (tests/test_credit_support.py):
# (cert, disputes lost, stars) -> score -> grade, and how many merchants / bad ones.
DEVELOPMENT = [
    (("enterprise", 0, 4.6), 40, 0),   # 700 AAA: 0 of 40
    (("enterprise", 0, 3.5), 20, 2),   # 650 AA:  2 of 20 = 10%
    (("none", 0, 4.5), 20, 0),         # 600 A:   0 of 20, below AA: pooled with it
    (("none", 1, 4.5), 16, 4),         # 525 BB:  4 of 16 = 25%     (BBB: nobody)
    (("none", 1, 3.5), 8, 4),          # 475 B:   4 of 8, under 20 merchants   (C: nobody)
]


def development() -> pd.DataFrame:
    rows = []
    for features, n, bad in DEVELOPMENT:
        rows += [(*features, 1)] * bad + [(*features, 0)] * (n - bad)
    return frame(rows)


def test_calibration_on_a_small_history_equals_a_hand_computation(tmp_path):
    fitted = calibration.fit(hand_card(tmp_path), development(), score_dates=PLAN.development,
                             window_days=60)
    # B has 8 merchants, fewer than 20, and no worse grade with any: pooled with BB, the
    # grade before it, (4 + 4) / (16 + 8) = 1/3 for both. AA 2/20 then A 0/20 falls: pooled,
    # (2 + 0) / (20 + 20) = 5% for both. AAA's 0 of 40 is floored at 0.05%. BBB has nobody:
    # the nearest worse grade's PD, BB's. C has nobody and no worse grade: B's.
    third = round(1 / 3, 6)
    assert fitted["point"] == {"AAA": 0.0005, "AA": 0.05, "A": 0.05, "BBB": third, "BB": third,
                               "B": third, "C": third}
    # The PD used: the 90% one-sided Jeffreys upper bound of each grade's pool, Beta(K + ½,
    # N − K + ½).ppf(0.9): AAA 0 of 40, AA and A 2 of 40, BB and B 8 of 24 (BBB and C: the
    # worse side's, as the point estimate). Already monotone, all above the point estimate.
    assert fitted["confidence"] == 0.9
    assert fitted["pd"] == {"AAA": 0.03305, "AA": 0.111037, "A": 0.111037, "BBB": 0.46317,
                            "BB": 0.46317, "B": 0.46317, "C": 0.46317}
    assert fitted["pd"]["AAA"] == round(stats.beta.ppf(0.9, 0.5, 40.5), 6)
    assert fitted["pd"]["AA"] == round(stats.beta.ppf(0.9, 2.5, 38.5), 6)
    assert fitted["pd"]["BB"] == round(stats.beta.ppf(0.9, 8.5, 16.5), 6)
    assert fitted["merchants"] == {"AAA": 40, "AA": 20, "A": 20, "BBB": 0, "BB": 16, "B": 8, "C": 0}
    assert fitted["bad_by_grade"] == {"AAA": 0, "AA": 2, "A": 0, "BBB": 0, "BB": 4, "B": 4, "C": 0}
    assert (fitted["rows"], fitted["bad"], fitted["method"]) == (104, 10, "pava")


def test_thin_grades_are_pooled_with_a_neighbour():
    # best first: 4 merchants join the next grade (4 + 68 >= 20); 677 and 1434 stand alone;
    # 10 + 9 at the worst end stay under 20 and join the pool before them
    assert calibration.thin_pools([4, 68, 677, 1434, 10, 9], min_merchants=20) == [
        [0, 1], [2], [3, 4, 5]]
    assert calibration.thin_pools([5, 5], min_merchants=20) == [[0, 1]]
    # v2's AAA on the demo's development sample: 0 of 4 is no evidence for the floor; with
    # AA's 1 of 68 it is 1/72
    table = calibration.calibrate(["AAA"] * 4 + ["AA"] * 68, [0] * 4 + [1] + [0] * 67,
                                  order=["AAA", "AA"])
    assert table["point"].tolist() == pytest.approx([1 / 72, 1 / 72])
    # and its margin of conservatism is that pool's: 1 of 72, Beta(1.5, 71.5) at 90%
    assert table["pd"].tolist() == pytest.approx([stats.beta.ppf(0.9, 1.5, 71.5)] * 2)


def test_the_jeffreys_upper_bound_by_hand():
    # 1 bad of 10 at 90%: Beta(1.5, 9.5). Its CDF by hand (the density integrated with
    # Simpson's rule on 20,000 steps, the Beta function from math.lgamma) at the bound is 0.9.
    upper = calibration.jeffreys_upper(1, 10, 0.90)
    assert upper == pytest.approx(0.2745617501536903, rel=1e-12)
    a, b = 1.5, 9.5
    log_beta = math.lgamma(a) + math.lgamma(b) - math.lgamma(a + b)
    density = lambda x: math.exp((a - 1) * math.log(x) + (b - 1) * math.log(1 - x) - log_beta) \
        if x > 0 else 0.0  # noqa: E731
    steps = 20_000
    h = upper / steps
    cdf = h / 3 * sum((1 if i in (0, steps) else 4 if i % 2 else 2) * density(i * h)
                      for i in range(steps + 1))
    assert cdf == pytest.approx(0.90, abs=1e-5)
    # 0 bad of 20: Beta(0.5, 20.5) — a grade without a bad is still promised 6.5%, not 0
    assert calibration.jeffreys_upper(0, 20, 0.90) == pytest.approx(0.06461200279283, rel=1e-9)
    # a higher confidence, a higher bound; no merchants, no bound
    assert calibration.jeffreys_upper(1, 10, 0.95) > upper
    assert math.isnan(calibration.jeffreys_upper(0, 0))
    with pytest.raises(ValueError, match="confidence"):
        calibration.calibrate(["AAA"], [0], order=["AAA"], confidence=1.0)


def test_the_margin_of_conservatism_keeps_the_pd_monotone():
    # AAA: 0 bad of 20, point estimate floored at 0.05%, upper bound Beta(0.5, 20.5) 6.46%.
    # AA: 20 of 1,000 = 2%, upper bound Beta(20.5, 980.5) 2.64%, below AAA's: lifted to
    # AAA's 6.46% (never a lower PD for a worse grade; no grade lowered). A: 30 of 200 = 15%,
    # upper bound Beta(30.5, 170.5) above AAA's: its own.
    grades = ["AAA"] * 20 + ["AA"] * 1000 + ["A"] * 200
    bad = [0] * 20 + [1] * 20 + [0] * 980 + [1] * 30 + [0] * 170
    table = calibration.calibrate(grades, bad, order=["AAA", "AA", "A"]).set_index("grade")
    aaa, aa, a = (stats.beta.ppf(0.9, 0.5, 20.5), stats.beta.ppf(0.9, 20.5, 980.5),
                  stats.beta.ppf(0.9, 30.5, 170.5))
    assert table["point"].tolist() == pytest.approx([0.0005, 0.02, 0.15])
    assert table["upper"].tolist() == pytest.approx([aaa, aa, a])
    assert aa < aaa < a
    assert table["pd"].tolist() == pytest.approx([aaa, aaa, a])
    assert table["moc"].tolist() == pytest.approx([aaa - 0.0005, aaa - 0.02, a - 0.15])
    assert (table["moc"] > 0).all()


def test_pool_adjacent_violators_by_hand():
    # 10% (w 10), 5% (w 10) violate: pooled 7.5%; 20% (w 10), 15% (w 30): pooled
    # (2 + 4.5) / 40 = 16.25%; the two pools are in order.
    assert calibration.pava([0.10, 0.05, 0.20, 0.15], [10, 10, 10, 30]).tolist() == \
        pytest.approx([0.075, 0.075, 0.1625, 0.1625])
    # a later violation reaches back over an earlier pool
    assert calibration.pava([0.3, 0.1, 0.2, 0.0], [1, 1, 1, 1]).tolist() == pytest.approx([0.15] * 4)


def test_the_file_states_the_promise_and_the_report_tests_it(tmp_path):
    path = tmp_path / "card.toml"
    path.write_text(HAND_CARD, encoding="utf-8")
    assert load(path).grade_pd is None
    fitted = calibration.fit(load(path), development(), score_dates=PLAN.development,
                             window_days=60)
    calibration.write(path, fitted)
    calibration.write(path, fitted)                      # written again: replaced, not twice
    assert path.read_text(encoding="utf-8").count("[calibration]") == 1
    card = load(path)
    assert card.grade_pd == fitted["pd"]
    # the promise is part of the version's content: another hash than the card without it
    assert card.sha256 != hashlib.sha256(HAND_CARD.encode("utf-8")).hexdigest()

    # Out of time (tests/test_credit_validation.py's history): the promise is the grade's PD.
    report = validation.validate(card, development(), frame(HISTORY), PLAN)
    assert report.calibrated
    table = report.by_grade.set_index("grade")
    observed = {"AAA": (1, 0), "AA": (2, 1), "A": (2, 0), "BBB": (1, 0), "BB": (0, 0),
                "B": (1, 1), "C": (1, 1)}
    hl = 0.0
    for grade, (n, bad) in observed.items():
        assert (table.loc[grade, "merchants"], table.loc[grade, "bad"]) == (n, bad), grade
        if not n:
            continue
        p = fitted["pd"][grade]
        assert table.loc[grade, "promised_pd"] == pytest.approx(p), grade
        hl += (bad - n * p) ** 2 / (n * p * (1 - p))
        # the report shows the point estimate and the margin of conservatism beside the PD used
        assert table.loc[grade, "point_pd"] == pytest.approx(fitted["point"][grade]), grade
        assert table.loc[grade, "moc"] == pytest.approx(p - fitted["point"][grade]), grade
    # AA: 1 bad of 2 at the PD used, q = 11.1037%: P(1) + P(2) = 2q(1 − q) + q² (P(0) is
    # above P(1))
    q = 0.111037
    assert table.loc["AA", "binomial_p"] == pytest.approx(2 * q * (1 - q) + q ** 2, rel=1e-5)
    # C: 1 of 1 at 46.317%: P(1) is the only outcome as unlikely as it (P(0) is above)
    assert table.loc["C", "binomial_p"] == pytest.approx(0.46317, rel=1e-5)
    # B's scaling PD is still shown beside the promise: 475 points
    assert table.loc["B", "scaling_pd"] == pytest.approx(1 / (1 + 19 * 2 ** ((475 - 600) / 50)))
    stat, df, p_value = validation.hosmer_lemeshow(report.by_grade, min_expected=0)
    assert (stat, df) == (pytest.approx(hl), 6)
    assert p_value == pytest.approx(math.exp(-hl / 2) * sum((hl / 2) ** j / math.factorial(j)
                                                            for j in range(3)))
    # The report's test pools grades until a group expects 5 bad: 8 merchants expecting
    # 1.2 are one group, 3 bad against 1.2
    e = 0.03305 + 2 * 0.111037 + 2 * 0.111037 + 3 * 0.46317
    one = (3 - e) ** 2 / (e * (1 - e / 8))
    assert (report.hl_stat, report.hl_df) == (pytest.approx(one, rel=1e-5), 1)
    assert report.hl_p == pytest.approx(math.erfc(math.sqrt(one / 2)), rel=1e-5)
    # no grade red by the Jeffreys test (AAA 0 of 1, AA 1 of 2 at 11.1%, ...): HL decides
    assert report.pd_red == []
    assert report.calibration_holds == (report.hl_p >= 0.05)
    # In the large: 3 bad of 8 against the mean promise of the 8 merchants
    mean = e / 8
    assert (report.overall.rows, report.overall.bad) == (8, 3)
    assert report.overall.promised == pytest.approx(mean)
    probs = [math.comb(8, i) * mean ** i * (1 - mean) ** (8 - i) for i in range(9)]
    assert report.overall.binomial_p == pytest.approx(
        sum(q for q in probs if q <= probs[3] * (1 + 1e-7)))


def test_a_version_without_calibration_is_held_to_its_scaling(tmp_path):
    report = validation.validate(hand_card(tmp_path), frame(HISTORY), frame(HISTORY), PLAN)
    assert not report.calibrated
    table = report.by_grade.set_index("grade")
    assert table.loc["AAA", "promised_pd"] == pytest.approx(1 / (1 + 19 * 2 ** (100 / 50)))
    assert table.loc["AAA", "scaling_pd"] == table.loc["AAA", "promised_pd"]


@pytest.mark.parametrize("pds, message", [
    ("{ AAA = 0.01, AA = 0.02, A = 0.03, BBB = 0.02, BB = 0.05, B = 0.1, C = 0.2 }", "must not fall"),
    ("{ AAA = 0.01, AA = 0.02, A = 0.03, BBB = 0.04, BB = 0.05, B = 0.1 }", "list exactly"),
    ("{ AAA = 0.0, AA = 0.02, A = 0.03, BBB = 0.04, BB = 0.05, B = 0.1, C = 0.2 }", "above 0"),
])
def test_a_broken_calibration_is_refused(tmp_path, pds, message):
    path = tmp_path / "card.toml"
    path.write_text(HAND_CARD + f"\n[calibration]\npd = {pds}\n", encoding="utf-8")
    with pytest.raises(ScorecardError, match=message):
        load(path)


def test_the_repository_cards_state_a_calibration():
    from console.credit.scorecard import CHALLENGER_CONFIG, DEFAULT_CONFIG
    for path in (DEFAULT_CONFIG, CHALLENGER_CONFIG):
        card = load(path)
        values = list(card.grade_pd.values())
        assert values == sorted(values) and min(values) >= calibration.PD_FLOOR, path
        stated = card.raw["calibration"]
        # the PD used is the point estimate plus a margin of conservatism, never below it
        assert stated["confidence"] == 0.9
        assert list(stated["point"]) == list(stated["pd"])
        assert all(stated["pd"][g] >= stated["point"][g] for g in stated["pd"]), path
        assert sum(stated["merchants"].values()) == stated["rows"] > 0
        assert np.isclose(sum(stated["bad_by_grade"].values()), stated["bad"])
