"""Monitoring maths on distributions small enough to compute by hand."""
from __future__ import annotations

import math

import pandas as pd
import pytest

from console.credit import metrics


def test_psi_of_a_known_shift_matches_the_hand_computation():
    # Σ (a − e)·ln(a/e) = .15·ln 1.6 + .05·ln 1.2 − .05·ln .8 − .15·ln .4
    assert metrics.psi([25, 25, 25, 25], [40, 30, 20, 10]) == pytest.approx(0.2282174, abs=1e-7)


def test_psi_takes_counts_or_shares_alike_and_is_zero_without_change():
    assert metrics.psi([0.25] * 4, [0.4, 0.3, 0.2, 0.1]) == pytest.approx(0.2282174, abs=1e-7)
    assert metrics.psi([10, 30, 60], [1, 3, 6]) == 0.0


def test_psi_floors_an_empty_bin_instead_of_going_infinite():
    # expected shares .5/.5/0 -> floored to 1e-4; −.1·ln .8 + (.1 − 1e-4)·ln(.1 / 1e-4)
    assert metrics.psi([50, 50, 0], [50, 40, 10]) == pytest.approx(0.7123991, abs=1e-7)


@pytest.mark.parametrize("value, level", [(0.0, "stable"), (0.0999, "stable"),
                                          (0.1, "investigate"), (0.25, "investigate"),
                                          (0.2501, "shifted"), (math.nan, "unknown")])
def test_psi_levels_follow_the_bank_thresholds(value, level):
    assert metrics.psi_level(value, investigate=0.1, shifted=0.25) == level


def test_score_psi_is_zero_for_the_same_scores_and_grows_with_a_shift():
    base = list(range(300, 800, 5))
    assert metrics.score_psi(base, base) == 0.0
    shifted = [s - 60 for s in base]
    assert metrics.score_psi(base, shifted) > 0.25


def test_roc_auc_counts_ties_as_half():
    # goods 3, 4, 5 against bads 1, 2, 4: 7.5 of 9 pairs ordered right.
    scores, bad = [3, 4, 5, 1, 2, 4], [0, 0, 0, 1, 1, 1]
    assert metrics.roc_auc(scores, bad) == pytest.approx(7.5 / 9)


def test_ks_is_the_largest_gap_between_the_two_cdfs():
    # at score 2: bads 2/3 below-or-equal, goods 0/3.
    assert metrics.ks([3, 4, 5, 1, 2, 4], [0, 0, 0, 1, 1, 1]) == pytest.approx(2 / 3)
    assert metrics.ks([1, 2, 3, 4], [0, 1, 0, 1]) == pytest.approx(0.5)


def test_auc_and_ks_need_both_classes():
    assert math.isnan(metrics.roc_auc([1, 2], [0, 0]))
    assert math.isnan(metrics.ks([1, 2], [1, 1]))


def test_default_rate_per_grade_lists_all_grades_best_first():
    table = metrics.default_rate_by_grade(["AAA", "AAA", "A", "C", "C", "C", "C"],
                                          [0, 0, 1, 1, 1, 0, 1])
    assert table["grade"].tolist() == ["AAA", "AA", "A", "BBB", "BB", "B", "C"]
    assert table["merchants"].tolist() == [2, 0, 1, 0, 0, 0, 4]
    assert table["bad"].tolist() == [0, 0, 1, 0, 0, 0, 3]
    assert table.loc[table["merchants"] > 0, "default_rate"].tolist() == [0.0, 1.0, 0.75]
    assert not metrics.is_monotonic_by_grade(table)      # A 100% then C 75%: not monotonic
    assert metrics.is_monotonic_by_grade(
        metrics.default_rate_by_grade(["AAA", "A", "C"], [0, 0, 1]))


def test_migration_matrix_counts_merchants_in_both_runs():
    before = pd.Series({1: "AAA", 2: "A", 3: "A", 4: "C"})
    after = pd.Series({1: "AA", 2: "A", 3: "BBB", 5: "B"})
    table = metrics.migration_matrix(before, after)
    assert table.shape == (7, 7)
    assert int(table.to_numpy().sum()) == 3          # merchants 4 and 5 are in one run only
    assert (table.loc["AAA", "AA"], table.loc["A", "A"], table.loc["A", "BBB"]) == (1, 1, 1)


@pytest.mark.parametrize("rate, level", [(0.0, "ok"), (0.0499, "ok"), (0.05, "warn"),
                                         (0.0999, "warn"), (0.10, "red"), (0.5, "red")])
def test_override_rate_levels(rate, level):
    assert metrics.rate_level(rate, warn=0.05, red=0.10) == level
