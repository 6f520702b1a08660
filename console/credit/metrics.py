"""Monitoring maths, vectorised with numpy/scipy: PSI, KS, ROC-AUC, rates per grade.

Conventions: a higher score means a better merchant; ``bad`` is 1 for a merchant with an
outcome (deposit default, order-loan default, or a dispute lost), else 0.
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from console.grades import GRADES

# An empty bin would make PSI infinite; like most monitoring tools we floor each share.
PSI_FLOOR = 1e-4


def psi(expected: Sequence[float], actual: Sequence[float], *, floor: float = PSI_FLOOR) -> float:
    """Population stability index between two distributions over the same bins.

    Inputs are counts (or shares) per bin; PSI = Σ (a − e) · ln(a / e) over the bins' shares.
    """
    e = np.asarray(expected, dtype=float)
    a = np.asarray(actual, dtype=float)
    if e.shape != a.shape or e.sum() <= 0 or a.sum() <= 0:
        return float("nan")
    e = np.maximum(e / e.sum(), floor)
    a = np.maximum(a / a.sum(), floor)
    return float(np.sum((a - e) * np.log(a / e)))


def psi_level(value: float, *, investigate: float, shifted: float) -> str:
    """'stable' below ``investigate``, 'shifted' above ``shifted``, else 'investigate'."""
    if np.isnan(value):
        return "unknown"
    if value < investigate:
        return "stable"
    return "shifted" if value > shifted else "investigate"


def score_psi(expected_scores: Sequence[float], actual_scores: Sequence[float],
              *, n_bins: int = 10) -> float:
    """PSI of scores binned at the expected run's deciles (ties merge bins)."""
    e = np.asarray(expected_scores, dtype=float)
    a = np.asarray(actual_scores, dtype=float)
    if e.size == 0 or a.size == 0:
        return float("nan")
    inner = np.unique(np.quantile(e, np.linspace(0, 1, n_bins + 1)[1:-1]))
    # Right-closed at each edge so that a score equal to an edge counts once in both runs.
    e_bins = np.searchsorted(inner, e, side="right")
    a_bins = np.searchsorted(inner, a, side="right")
    k = inner.size + 1
    return psi(np.bincount(e_bins, minlength=k), np.bincount(a_bins, minlength=k))


def _by_score(scores: Sequence[float], bad: Sequence[int],
              weights: Sequence[float] | None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Distinct scores ascending, with the bad and the good merchants at each (weighted: a
    row standing for ``weight`` merchants, as the monitoring query's counts per score)."""
    s = np.asarray(scores, dtype=float)
    y = np.asarray(bad, dtype=int)
    w = np.ones(s.shape) if weights is None else np.asarray(weights, dtype=float)
    values, at = np.unique(s, return_inverse=True)
    bad_at = np.bincount(at, weights=w * (y == 1), minlength=values.size)
    good_at = np.bincount(at, weights=w * (y == 0), minlength=values.size)
    return values, bad_at, good_at


def roc_auc(scores: Sequence[float], bad: Sequence[int],
            weights: Sequence[float] | None = None) -> float:
    """P(a random good merchant scores above a random bad one); ties count half.

    Mann–Whitney over the distinct scores: each good merchant counts the bad ones below its
    score, and half of those at it; O(n log n), exact with ties.
    """
    _, bad_at, good_at = _by_score(scores, bad, weights)
    n_bad, n_good = bad_at.sum(), good_at.sum()
    if n_bad == 0 or n_good == 0:
        return float("nan")
    bad_below = np.cumsum(bad_at) - bad_at
    return float(np.sum(good_at * (bad_below + 0.5 * bad_at)) / (n_good * n_bad))


def ks(scores: Sequence[float], bad: Sequence[int],
       weights: Sequence[float] | None = None) -> float:
    """Kolmogorov–Smirnov: the largest gap between the score CDFs of bad and good merchants."""
    _, bad_at, good_at = _by_score(scores, bad, weights)
    n_bad, n_good = bad_at.sum(), good_at.sum()
    if n_bad == 0 or n_good == 0:
        return float("nan")
    return float(np.max(np.abs(np.cumsum(bad_at) / n_bad - np.cumsum(good_at) / n_good)))


def default_rate_by_grade(grades: Sequence[str], bad: Sequence[int],
                          weights: Sequence[float] | None = None) -> pd.DataFrame:
    """Merchants, bad ones and the default rate per grade, best grade first (all seven)."""
    b = np.asarray(bad, dtype=int)
    w = np.ones(b.shape, dtype=int) if weights is None else np.asarray(weights, dtype=int)
    frame = pd.DataFrame({"grade": list(grades), "merchants": w, "bad": b * w})
    out = (frame.groupby("grade")[["merchants", "bad"]].sum()
           .reindex(list(GRADES), fill_value=0))
    out["default_rate"] = np.where(out["merchants"] > 0,
                                   out["bad"] / out["merchants"].where(out["merchants"] > 0, 1),
                                   np.nan)
    return out.rename_axis("grade").reset_index()


def is_monotonic_by_grade(table: pd.DataFrame) -> bool:
    """True when the default rate never falls from a better grade to a worse one
    (grades without merchants are skipped)."""
    rates = table.loc[table["merchants"] > 0, "default_rate"].to_numpy()
    return bool(np.all(np.diff(rates) >= 0))


def migration_matrix(before: pd.Series, after: pd.Series) -> pd.DataFrame:
    """Merchants by grade in the earlier run (rows) and the later run (columns).

    ``before``/``after`` are grades indexed by merchant id; only merchants in both count.
    """
    both = pd.concat({"before": before, "after": after}, axis=1, join="inner")
    table = pd.crosstab(both["before"], both["after"])
    return table.reindex(index=list(GRADES), columns=list(GRADES), fill_value=0)


def migration_counts(before: Sequence[str], after: Sequence[str],
                     merchants: Sequence[int]) -> pd.DataFrame:
    """The migration matrix from counts: merchants moving from grade ``before`` (rows) to
    grade ``after`` (columns), as the database counts them per pair of grades."""
    frame = pd.DataFrame({"before": list(before), "after": list(after),
                          "merchants": np.asarray(merchants, dtype=int)})
    table = frame.pivot_table(index="before", columns="after", values="merchants",
                              aggfunc="sum", fill_value=0)
    return (table.reindex(index=list(GRADES), columns=list(GRADES), fill_value=0)
            .rename_axis(index="before", columns="after").astype(int))


def rate_level(rate: float, *, warn: float, red: float) -> str:
    """'ok', 'warn' (from warn) or 'red' (from red): the override-rate traffic light."""
    if rate >= red:
        return "red"
    return "warn" if rate >= warn else "ok"


def pool_consecutive(weights, *, minimum: float) -> list[list[int]]:
    """Positions of consecutive grades (best first) pooled until each pool's weight reaches
    ``minimum``; a short pool at the worst end joins the one before it. The calibration's
    thin-grade pools (weight: merchants) and Hosmer–Lemeshow's groups (weight: expected bad)."""
    pools: list[list[int]] = []
    current: list[int] = []
    total = 0.0
    for i, w in enumerate(np.asarray(weights, dtype=float)):
        current.append(i)
        total += w
        if total >= minimum:
            pools.append(current)
            current, total = [], 0.0
    if current:
        if pools:
            pools[-1] = pools[-1] + current
        else:
            pools.append(current)
    return pools
