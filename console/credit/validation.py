"""The validation report of a scorecard version on point-in-time samples (console/credit/pit.py).

What a model validator asks for, on the out-of-time sample:
- ranking: AUC with a DeLong 95% confidence interval (DeLong, DeLong & Clarke-Pearson 1988,
  the variance from the placement values), Gini = 2·AUC − 1 with the same interval mapped,
  KS with a percentile bootstrap interval (BOOTSTRAP resamples, fixed seed: the same data
  gives the same interval);
- calibration: per grade, merchants, bad ones and the observed rate against the PD the
  version promises: its calibrated PD per grade when its file states one (fitted on the
  development sample, console/credit/calibration.py), else the PD the scaling implies (the
  mean of 1 / (1 + odds(score)) over the grade's merchants, also shown beside a calibrated
  one); an exact two-sided binomial test per grade and the one-sided Jeffreys test per grade
  (the ECB's PD back-test: is the grade's PD too low? p = the Beta(bad + ½, good + ½)
  distribution at the promised PD), the Hosmer–Lemeshow statistic over the grades, adjacent
  grades pooled until each group expects at least HL_MIN_EXPECTED bad ones (the χ²
  approximation needs it: a grade of three merchants at 1% expects 0.03, and one bad there
  would outweigh every other grade), df = number of groups (nothing was fitted on this
  sample), and the
  calibration in the large (all merchants' bad count at the mean promised PD, binomial), which
  tells a shift of the whole bad rate from a wrong order of the grades;
- the margin of conservatism: per grade, the point estimate the file states, the MoC and the
  PD used (point + MoC, console/credit/calibration.py); the tests above check the PD USED,
  the one loans price with;
- the verdict on the calibration (``calibration_holds``, what the promotion gate ranks by):
  Hosmer–Lemeshow does not reject at 5% AND no grade is RED by the one-sided Jeffreys test,
  p < JEFFREYS_RED (1%, the ECB's traffic light for the PD back-test); a grade with
  JEFFREYS_RED <= p < JEFFREYS_AMBER (5%) is AMBER: shown, not blocking; above, GREEN;
- stability: PSI of the scores and CSI of each factor's bins against the development sample
  (the baseline), with the card's thresholds (0.10 investigate, 0.25 shifted);
- information value of each factor's bins on the development sample, with a leakage alarm
  above IV_LEAK (a factor that separates that well is usually the outcome in disguise) and
  a note below IV_WEAK.

Conventions: a higher score is a better merchant; ``bad`` is 1 for a bad event in the window.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

import numpy as np
import pandas as pd
from scipy import stats

from console.credit import metrics
from console.credit.pit import SamplePlan
from console.credit.scorecard import Scorecard, factor_bins, score_frame

Z95 = 1.959963984540054
BOOTSTRAP = 1000
BOOTSTRAP_SEED = 17
IV_LEAK = 1.0
IV_WEAK = 0.02
HL_MIN_EXPECTED = 5.0   # each Hosmer–Lemeshow group expects at least this many bad
# The ECB's traffic light for the one-sided Jeffreys test of a grade's PD: below RED the
# grade's PD is too low and the version's calibration does not hold (the gate refuses it);
# from RED to AMBER a warning (shown, not blocking); above AMBER green.
JEFFREYS_RED = 0.01
JEFFREYS_AMBER = 0.05
JEFFREYS_ALPHA = JEFFREYS_AMBER   # a grade whose Jeffreys p is below: its PD looks too low
HL_ALPHA = 0.05
GATE_RULE = ("calibration holds = Hosmer-Lemeshow p >= 0.05 AND no grade red by the one-sided "
             "Jeffreys test (p < 0.01; 0.01 <= p < 0.05 amber: shown, not blocking)")
WOE_SMOOTHING = 0.5     # added to each bin's good and bad counts so an empty side stays finite


# ---------------------------------------------------------------- ranking
def delong_auc(scores, bad) -> tuple[float, float]:
    """AUC (P(good scores above bad), ties half) and its DeLong standard error."""
    s = np.asarray(scores, dtype=float)
    y = np.asarray(bad, dtype=int)
    good, badv = s[y == 0], s[y == 1]
    m, n = good.size, badv.size
    if m == 0 or n == 0:
        return float("nan"), float("nan")
    # placement values via midranks: V10 for each good, V01 for each bad
    all_rank = stats.rankdata(np.concatenate([good, badv]))
    good_rank = stats.rankdata(good)
    bad_rank = stats.rankdata(badv)
    auc = (all_rank[:m].sum() - m * (m + 1) / 2) / (m * n)
    v10 = (all_rank[:m] - good_rank) / n          # share of bad below each good (ties half)
    v01 = 1.0 - (all_rank[m:] - bad_rank) / m     # share of good above each bad
    var = (np.var(v10, ddof=1) / m if m > 1 else 0.0) + (np.var(v01, ddof=1) / n if n > 1 else 0.0)
    return float(auc), float(np.sqrt(var))


def bootstrap_ks(scores, bad, *, resamples: int = BOOTSTRAP,
                 seed: int = BOOTSTRAP_SEED) -> tuple[float, float]:
    """2.5% and 97.5% percentiles of KS over stratified bootstrap resamples (goods and bads
    resampled apart, so every resample has both)."""
    s = np.asarray(scores, dtype=float)
    y = np.asarray(bad, dtype=int)
    good, badv = s[y == 0], s[y == 1]
    if good.size == 0 or badv.size == 0:
        return float("nan"), float("nan")
    rng = np.random.default_rng(seed)
    values = np.unique(s)
    out = np.empty(resamples)
    for k in range(resamples):
        g = rng.choice(good, good.size)
        b = rng.choice(badv, badv.size)
        cg = np.searchsorted(np.sort(g), values, side="right") / g.size
        cb = np.searchsorted(np.sort(b), values, side="right") / b.size
        out[k] = np.max(np.abs(cb - cg))
    lo, hi = np.percentile(out, [2.5, 97.5])
    return float(lo), float(hi)


# ---------------------------------------------------------------- calibration
def light(p: float) -> str:
    """The traffic light of a one-sided Jeffreys p: red, amber, green ('' without merchants)."""
    if p != p:                                   # NaN: an empty grade
        return ""
    return "red" if p < JEFFREYS_RED else ("amber" if p < JEFFREYS_AMBER else "green")


def calibration_by_grade(grades, bad, promised_pd, *, order, scaling_pd=None,
                         point_pd: dict[str, float] | None = None) -> pd.DataFrame:
    """Per grade (in ``order``): merchants, bad, observed rate, promised PD (mean: the PD
    used), expected bad, the exact two-sided binomial p-value of the bad count at the promised
    PD, the one-sided Jeffreys p-value (small: the PD is too low) and its traffic light; the
    scaling's PD (mean) when ``scaling_pd`` is given; the point estimate and the margin of
    conservatism (promised − point) when ``point_pd`` (per grade) is given, else NaN."""
    frame = pd.DataFrame({"grade": list(grades), "bad": np.asarray(bad, dtype=int),
                          "pd": np.asarray(promised_pd, dtype=float),
                          "scaling": np.asarray(promised_pd if scaling_pd is None else scaling_pd,
                                                dtype=float)})
    rows = []
    for grade in order:
        part = frame[frame["grade"] == grade]
        n, k = len(part), int(part["bad"].sum())
        pd_mean = float(part["pd"].mean()) if n else float("nan")
        p_value = float(stats.binomtest(k, n, pd_mean).pvalue) if n else float("nan")
        point = float(point_pd[grade]) if point_pd and n else float("nan")
        jp = jeffreys_p(k, n, pd_mean)
        rows.append({"grade": grade, "merchants": n, "bad": k,
                     "bad_rate": k / n if n else float("nan"), "promised_pd": pd_mean,
                     "expected_bad": pd_mean * n if n else float("nan"),
                     "binomial_p": p_value, "jeffreys_p": jp,
                     "scaling_pd": float(part["scaling"].mean()) if n else float("nan"),
                     "point_pd": point, "moc": pd_mean - point, "jeffreys_light": light(jp)})
    return pd.DataFrame(rows)


@dataclass
class InTheLarge:
    """All merchants at once: the observed bad rate against the mean promised PD."""
    rows: int
    bad: int
    observed: float
    promised: float
    binomial_p: float


def in_the_large(bad, promised_pd) -> InTheLarge:
    y = np.asarray(bad, dtype=int)
    p = float(np.mean(np.asarray(promised_pd, dtype=float))) if y.size else float("nan")
    n, k = int(y.size), int(y.sum())
    return InTheLarge(n, k, k / n if n else float("nan"), p,
                      float(stats.binomtest(k, n, p).pvalue) if n else float("nan"))


def jeffreys_p(bad: int, n: int, pd_value: float) -> float:
    """The one-sided Jeffreys test of a grade's PD (ECB, instructions for reporting the
    validation of IRB models, 2019): with the Jeffreys prior Beta(½, ½), the posterior of the
    grade's default rate after ``bad`` of ``n`` is Beta(bad + ½, n − bad + ½); p is its
    probability below the promised PD. A small p says the PD is too low."""
    if not n:
        return float("nan")
    return float(stats.beta.cdf(pd_value, bad + 0.5, n - bad + 0.5))


def hl_groups(expected, *, min_expected: float = HL_MIN_EXPECTED) -> list[list[int]]:
    """Positions of consecutive grades (best first) pooled until each group expects at least
    ``min_expected`` bad; a short group at the worst end joins the one before it."""
    return metrics.pool_consecutive(expected, minimum=min_expected)


def hosmer_lemeshow(table: pd.DataFrame, *,
                    min_expected: float = HL_MIN_EXPECTED) -> tuple[float, int, float]:
    """HL = Σ (O − E)² / (E · (1 − E/n)) over groups of the populated grades of ``table``
    (merchants, bad, expected_bad), adjacent grades pooled until each group expects at least
    ``min_expected`` bad (hl_groups); df = number of groups (a model validated out of
    sample)."""
    t = table[table["merchants"] > 0]
    if t.empty:
        return float("nan"), 0, float("nan")
    groups = hl_groups(t["expected_bad"].to_numpy(dtype=float), min_expected=min_expected)
    pick = lambda col: np.array([t[col].to_numpy(dtype=float)[g].sum() for g in groups])  # noqa: E731
    n, o, e = pick("merchants"), pick("bad"), pick("expected_bad")
    stat = float(np.sum((o - e) ** 2 / (e * (1 - e / n))))
    df = len(groups)
    return stat, df, float(stats.chi2.sf(stat, df))


# ---------------------------------------------------------------- factors
def information_value(bins, bad) -> tuple[float, pd.DataFrame]:
    """IV of a binned factor: Σ (good share − bad share) · ln(good share / bad share), with
    WOE_SMOOTHING added to each bin's counts; and the per-bin table (bin, n, bad, woe)."""
    frame = pd.DataFrame({"bin": np.asarray(bins), "bad": np.asarray(bad, dtype=int)})
    table = frame.groupby("bin")["bad"].agg(n="size", bad="sum").reset_index()
    table["good"] = table["n"] - table["bad"]
    g = table["good"] + WOE_SMOOTHING
    b = table["bad"] + WOE_SMOOTHING
    g_share, b_share = g / g.sum(), b / b.sum()
    table["woe"] = np.log(g_share / b_share)
    iv = float(np.sum((g_share - b_share) * table["woe"]))
    return iv, table


@dataclass
class Performance:
    rows: int
    bad: int
    auc: float
    auc_ci: tuple[float, float]
    gini: float
    gini_ci: tuple[float, float]
    ks: float
    ks_ci: tuple[float, float]


def performance(scores, bad) -> Performance:
    auc, se = delong_auc(scores, bad)
    lo, hi = max(0.0, auc - Z95 * se), min(1.0, auc + Z95 * se)
    ks = metrics.ks(scores, bad)
    return Performance(int(len(bad)), int(np.sum(bad)), auc, (lo, hi), 2 * auc - 1,
                       (2 * lo - 1, 2 * hi - 1), ks, bootstrap_ks(scores, bad))


@dataclass
class ValidationReport:
    version: str
    plan: SamplePlan
    development: Performance
    out_of_time: Performance
    by_grade: pd.DataFrame                     # OOT calibration per grade
    hl_stat: float
    hl_df: int
    hl_p: float
    score_psi: float
    score_psi_level: str
    factors: pd.DataFrame                      # factor, iv, iv_alarm, csi, csi_level
    leak_alarms: list[str] = field(default_factory=list)
    calibrated: bool = False                   # the promised PD is the version's calibrated one
    overall: InTheLarge | None = None          # calibration in the large, out of time

    @property
    def hl_holds(self) -> bool:
        """Hosmer–Lemeshow does not reject the promised PDs at HL_ALPHA (5%) out of time."""
        return not (self.hl_p < HL_ALPHA)

    @property
    def calibration_holds(self) -> bool:
        """The gate's verdict on the calibration (GATE_RULE): Hosmer–Lemeshow holds (p >= 5%)
        AND no grade is red by the one-sided Jeffreys test (p < JEFFREYS_RED, 1%). Amber
        grades (1% <= p < 5%) are reported, not blocking: with seven grades tested one by
        one, one grade under 5% is not rare by chance alone; under 1% the PD used is too low
        for a loan to be priced on it."""
        return self.hl_holds and not self.pd_red

    def _graded(self, low: float, high: float) -> list[str]:
        t = self.by_grade
        p = t["jeffreys_p"]
        return t.loc[(t["merchants"] > 0) & (p >= low) & (p < high), "grade"].tolist()

    @property
    def pd_too_low(self) -> list[str]:
        """Grades whose one-sided Jeffreys test rejects the promised PD at JEFFREYS_ALPHA (5%):
        more bad than the promise allows; red and amber together (pd_red, pd_amber)."""
        return self._graded(-1.0, JEFFREYS_ALPHA)

    @property
    def pd_red(self) -> list[str]:
        """Grades red by the Jeffreys test (p < 1%): the version's calibration does not hold."""
        return self._graded(-1.0, JEFFREYS_RED)

    @property
    def pd_amber(self) -> list[str]:
        """Grades amber by the Jeffreys test (1% <= p < 5%): shown, not blocking."""
        return self._graded(JEFFREYS_RED, JEFFREYS_AMBER)

    @property
    def grades_monotonic(self) -> bool:
        rates = self.by_grade.loc[self.by_grade["merchants"] > 0, "bad_rate"].to_numpy()
        return bool(np.all(np.diff(rates) >= 0))


def validate(card: Scorecard, development: pd.DataFrame, out_of_time: pd.DataFrame,
             plan: SamplePlan) -> ValidationReport:
    """The report of ``card`` on point-in-time samples (rows with the card's features and
    ``bad``; NEW merchants already left out)."""
    dev = score_frame(card, development)
    oot = score_frame(card, out_of_time)
    y_dev = development["bad"].to_numpy(dtype=int)
    y_oot = out_of_time["bad"].to_numpy(dtype=int)
    grades = [b.grade for b in card.bands]
    promised = card.promised_pd(oot["score"], oot["score_grade"])
    point = (card.raw.get("calibration") or {}).get("point") if card.grade_pd else None
    by_grade = calibration_by_grade(oot["score_grade"], y_oot, promised, order=grades,
                                    scaling_pd=card.pd_at(oot["score"]), point_pd=point)
    hl_stat, hl_df, hl_p = hosmer_lemeshow(by_grade)
    psi_value = metrics.score_psi(dev["score"], oot["score"])
    level = lambda v: metrics.psi_level(v, investigate=card.psi_investigate,  # noqa: E731
                                        shifted=card.psi_shifted)
    rows = []
    for factor in card.factors:
        iv, _ = information_value(dev[f"bin__{factor.name}"], y_dev)
        k = len(factor.bins)
        before = np.bincount(dev[f"bin__{factor.name}"], minlength=k)
        after = np.bincount(oot[f"bin__{factor.name}"], minlength=k)
        csi = metrics.psi(before, after)
        rows.append({"factor": factor.name, "iv": iv,
                     "iv_alarm": "leak" if iv > IV_LEAK else ("weak" if iv < IV_WEAK else "ok"),
                     "csi": csi, "csi_level": level(csi)})
    factors = pd.DataFrame(rows)
    return ValidationReport(
        version=card.version, plan=plan,
        development=performance(dev["score"], y_dev),
        out_of_time=performance(oot["score"], y_oot),
        by_grade=by_grade, hl_stat=hl_stat, hl_df=hl_df, hl_p=hl_p,
        score_psi=psi_value, score_psi_level=level(psi_value), factors=factors,
        leak_alarms=factors.loc[factors["iv_alarm"] == "leak", "factor"].tolist(),
        calibrated=card.grade_pd is not None, overall=in_the_large(y_oot, promised))


def better(a: ValidationReport, b: ValidationReport) -> ValidationReport:
    """The better of two reports on the same samples: a version without a leakage alarm
    before one with; then one whose calibration holds before one whose does not (GATE_RULE:
    Hosmer–Lemeshow p >= 0.05 and no grade red by the one-sided Jeffreys test, p < 0.01; an
    amber grade, 0.01 <= p < 0.05, does not count against it); then the higher out-of-time
    AUC (``a`` on a tie)."""
    def rank(r: ValidationReport) -> tuple[bool, bool, float]:
        return (not r.leak_alarms, r.calibration_holds, r.out_of_time.auc)
    return a if rank(a) >= rank(b) else b


def data_end(last_event_day: date | None, today: date) -> date:
    """The last day outcomes are observed: the day after the newest event, at most today
    (a window past it would count merchants as good whose outcome nobody has seen yet)."""
    if last_event_day is None:
        return today
    from datetime import timedelta
    return min(today, last_event_day + timedelta(days=1))
