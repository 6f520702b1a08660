"""The PD per grade a version promises: calibrated on a development sample (pool adjacent
violators over the grades, empty grades from the worse side, a floor), stated in the
scorecard file, and what the out-of-time calibration tests measure against."""
from __future__ import annotations

import hashlib
import math
from datetime import date

import numpy as np
import pandas as pd
import pytest

from console.credit import calibration, validation
from console.credit.pit import SamplePlan
from console.credit.scorecard import ScorecardError, load
from tests.test_credit_support import HAND_CARD, hand_card
from tests.test_credit_validation import HISTORY, frame

PLAN = SamplePlan((date(2026, 3, 1),), date(2026, 6, 1), 60)

# A development history scored by the hand card (tests/test_credit_support.py):
# (cert, disputes lost, stars) -> score -> grade, and how many merchants / bad ones.
DEVELOPMENT = [
    (("enterprise", 0, 4.6), 20, 0),   # 700 AAA: 0 of 20
    (("enterprise", 0, 3.5), 10, 1),   # 650 AA:  1 of 10 = 10%
    (("none", 0, 4.5), 10, 0),         # 600 A:   0 of 10, below AA: pooled with it
    (("none", 1, 4.5), 8, 2),          # 525 BB:  2 of 8 = 25%      (BBB: nobody)
    (("none", 1, 3.5), 4, 2),          # 475 B:   2 of 4 = 50%      (C: nobody)
]


def development() -> pd.DataFrame:
    rows = []
    for features, n, bad in DEVELOPMENT:
        rows += [(*features, 1)] * bad + [(*features, 0)] * (n - bad)
    return frame(rows)


def test_calibration_on_a_small_history_equals_a_hand_computation(tmp_path):
    fitted = calibration.fit(hand_card(tmp_path), development(), score_dates=PLAN.development,
                             window_days=60)
    # AA 1/10 then A 0/10 falls: pooled, (1 + 0) / (10 + 10) = 5% for both. AAA's 0 of 20
    # is floored at 0.05%. BBB has nobody: the nearest worse grade's PD, BB's 2/8. C has
    # nobody and no worse grade: B's 2/4.
    assert fitted["pd"] == {"AAA": 0.0005, "AA": 0.05, "A": 0.05, "BBB": 0.25, "BB": 0.25,
                            "B": 0.5, "C": 0.5}
    assert fitted["merchants"] == {"AAA": 20, "AA": 10, "A": 10, "BBB": 0, "BB": 8, "B": 4, "C": 0}
    assert fitted["bad_by_grade"] == {"AAA": 0, "AA": 1, "A": 0, "BBB": 0, "BB": 2, "B": 2, "C": 0}
    assert (fitted["rows"], fitted["bad"], fitted["method"]) == (52, 5, "pava")


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
    # AA: 1 bad of 2 at 5%: P(1) + P(2) = 2·0.05·0.95 + 0.05² (P(0) = 0.9025 is above P(1))
    assert table.loc["AA", "binomial_p"] == pytest.approx(2 * 0.05 * 0.95 + 0.05 ** 2)
    # C: 1 of 1 at 50%: both outcomes equally likely, p = 1
    assert table.loc["C", "binomial_p"] == pytest.approx(1.0)
    # B's scaling PD is still shown beside the promise: 475 points
    assert table.loc["B", "scaling_pd"] == pytest.approx(1 / (1 + 19 * 2 ** ((475 - 600) / 50)))
    assert report.hl_stat == pytest.approx(hl)
    assert report.hl_p == pytest.approx(math.exp(-hl / 2) * sum((hl / 2) ** j / math.factorial(j)
                                                                for j in range(3)))
    assert report.calibration_holds == (report.hl_p >= 0.05)
    # In the large: 3 bad of 8 against the mean promise of the 8 merchants
    mean = (0.0005 + 2 * 0.05 + 2 * 0.05 + 0.25 + 0.5 + 0.5) / 8
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
        assert sum(stated["merchants"].values()) == stated["rows"] > 0
        assert np.isclose(sum(stated["bad_by_grade"].values()), stated["bad"])
