"""The scorecard configuration: load a versioned TOML file, check it, turn bins into points.

Points follow points-to-double-odds scaling: a bin's points are the factor's whole-point share
of the base points plus ``pdo × doublings`` rounded half up. The shares are whole numbers that
add up to the base exactly (largest remainder: 600 over 14 factors = 42 or 43 points each), so
a merchant neutral on every factor scores exactly the base (before, each share was rounded on
its own: 14 × 43 = 602). Whole points per bin make the total exactly the sum of the factor
points a risk officer reads.
"""
from __future__ import annotations

import hashlib
import math
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from console.errors import InvalidInput
from console.grades import GRADES

CONFIG_DIR = Path(__file__).parent
DEFAULT_CONFIG = CONFIG_DIR / "scorecard_v2.toml"
# The challenger fitted with OptBinning on the demo data (python -m console.credit challenger).
CHALLENGER_CONFIG = CONFIG_DIR / "scorecard_c1.toml"
# Merchants without a completed deal: no grade from the card, at most a starter limit.
NEW_GRADE = "NEW"

# Features the scorecard may use: the rows of the view ops.credit_feature_values.
NUMERIC_FEATURES = frozenset({
    "months_on_platform", "deals_12m", "gmv_12m", "deposit_defaults", "late_payments",
    "cancellations", "disputes_raised", "disputes_lost", "avg_stars", "review_count",
    "fake_listings_confirmed", "median_response_hours", "days_since_active"})
CATEGORY_FEATURES = {"cert_level": frozenset({"none", "personal", "enterprise"})}


class ScorecardError(ValueError):
    """The configuration file is wrong; the message says where (for whoever edits it)."""


@dataclass(frozen=True)
class Bin:
    bin_no: int               # 0 = missing value; 1.. in value order / listed order
    points: int
    lower: float | None = None
    upper: float | None = None
    categories: tuple[str, ...] | None = None
    is_missing: bool = False


@dataclass(frozen=True)
class Factor:
    name: str
    order: int
    direction: str | None     # "up", "down" or None (categorical)
    bins: tuple[Bin, ...]

    @property
    def max_points(self) -> int:
        return max(b.points for b in self.bins)

    def label(self, bin_no: int) -> str:
        """A bin as people read it: '[3, 6)', 'enterprise', '—'."""
        b = next(b for b in self.bins if b.bin_no == bin_no)
        return bin_label(lower=b.lower, upper=b.upper, categories=b.categories,
                         is_missing=b.is_missing)


@dataclass(frozen=True)
class Band:
    grade: str
    rank: int
    min_score: int | None
    loan_limit: float
    vip: bool


@dataclass(frozen=True)
class Scorecard:
    version: str
    sha256: str
    raw: dict[str, Any]
    base_points: int
    base_odds: float
    pdo: float
    factors: tuple[Factor, ...]
    bands: tuple[Band, ...]
    ih_max_months: int
    ih_max_deals: int
    ih_grade: str
    ih_loan_limit: float
    psi_investigate: float
    psi_shifted: float
    override_warn: float
    override_red: float
    # The PD each grade promises, calibrated on the development sample ([calibration],
    # console/credit/calibration.py); None: the file states none, the scaling's PD applies.
    grade_pd: dict[str, float] | None = None

    def factor(self, name: str) -> Factor:
        return next(f for f in self.factors if f.name == name)

    def grade_for(self, score: int) -> str:
        """The grade a total earns (the same rule the scoring SQL applies)."""
        for band in self.bands:
            if band.min_score is None or score >= band.min_score:
                return band.grade
        return GRADES[-1]

    def odds_at(self, score: float) -> float:
        """Odds of good:bad implied by a score under this scaling."""
        return self.base_odds * 2 ** ((score - self.base_points) / self.pdo)

    def pd_at(self, score: Any) -> Any:
        """The probability of going bad the scaling promises at ``score`` (1 / (1 + odds))."""
        import numpy as np
        return 1.0 / (1.0 + self.base_odds * np.power(2.0, (np.asarray(score, dtype=float)
                                                             - self.base_points) / self.pdo))

    def promised_pd(self, score: Any, grade: Any) -> Any:
        """The PD the version promises for each (score, grade): its calibrated PD per grade
        when it states one, else the scaling's PD at the score."""
        import numpy as np
        if self.grade_pd is None:
            return self.pd_at(score)
        return np.array([self.grade_pd[g] for g in np.asarray(grade)], dtype=float)

    def is_new(self, months_on_platform: Any, deals_total: Any) -> Any:
        """Too little history for the card (the NEW grade): fewer completed deals than
        ih_max_deals, or younger than ih_max_months (the same rule as the scoring SQL)."""
        import numpy as np
        months = np.asarray(months_on_platform, dtype=float)
        deals = np.asarray(deals_total, dtype=float)
        return (deals < self.ih_max_deals) | (months < self.ih_max_months)

    @property
    def source(self) -> str:
        return str(self.raw.get("source") or "expert")


def bin_label(*, lower: float | None, upper: float | None,
              categories: tuple[str, ...] | list[str] | None, is_missing: bool) -> str:
    """A bin as people read it: '< 1', '[3, 6)', '≥ 12', 'enterprise', '—' (no value)."""
    if is_missing:
        return "—"
    if categories is not None:
        return ", ".join(categories)
    if lower is None:
        return f"< {_num(upper)}" if upper is not None else "*"
    if upper is None:
        return f"≥ {_num(lower)}"
    return f"[{_num(lower)}, {_num(upper)})"


def _num(x: float) -> str:
    x = float(x)
    return f"{x:g}" if abs(x) < 1e6 else f"{x:,.0f}"


def round_half_up(x: float) -> int:
    return int(math.floor(x + 0.5 + 1e-9))


def bin_points(*, share: int, pdo: float, doublings: float) -> int:
    return int(share) + round_half_up(pdo * doublings)


def shares(base_points: int, n: int) -> list[int]:
    """``base_points`` split into ``n`` whole shares that add up to it exactly, the larger
    shares first (largest remainder on equal parts)."""
    whole, extra = divmod(int(base_points), n)
    return [whole + (1 if i < extra else 0) for i in range(n)]


def load(path: Path | str = DEFAULT_CONFIG) -> Scorecard:
    data = Path(path).read_bytes()
    try:
        raw = tomllib.loads(data.decode("utf-8"))
    except tomllib.TOMLDecodeError as err:
        raise ScorecardError(f"{path}: {err}") from err
    return parse(raw, sha256=hashlib.sha256(data).hexdigest())


def parse(raw: dict[str, Any], *, sha256: str) -> Scorecard:
    scaling = _section(raw, "scaling")
    base_points, base_odds, pdo = scaling["base_points"], scaling["base_odds"], scaling["pdo"]
    if pdo <= 0 or base_odds <= 0:
        raise ScorecardError("scaling: pdo and base_odds must be positive")
    specs = raw.get("factors") or []
    if not specs:
        raise ScorecardError("factors: at least one factor is needed")
    parts = shares(int(base_points), len(specs))
    factors = tuple(_factor(spec, order, share=parts[order - 1], pdo=pdo)
                    for order, spec in enumerate(specs, start=1))
    names = [f.name for f in factors]
    if len(set(names)) != len(names):
        raise ScorecardError("factors: a factor is listed twice")
    ih = _section(raw, "insufficient_history")
    mon = _section(raw, "monitoring")
    if ih["grade"] not in (*GRADES, NEW_GRADE):
        raise ScorecardError(f"insufficient_history.grade: unknown grade {ih['grade']!r}")
    return Scorecard(
        version=str(raw.get("version") or ""), sha256=sha256, raw=raw,
        base_points=int(base_points), base_odds=float(base_odds), pdo=float(pdo),
        factors=factors, bands=_bands(raw.get("grades") or []),
        ih_max_months=int(ih["max_months"]), ih_max_deals=int(ih["max_deals"]),
        ih_grade=ih["grade"], ih_loan_limit=float(ih["loan_limit"]),
        psi_investigate=float(mon["psi_investigate"]), psi_shifted=float(mon["psi_shifted"]),
        override_warn=float(mon["override_warn"]), override_red=float(mon["override_red"]),
        grade_pd=_calibration(raw.get("calibration")))


def _calibration(section: Any) -> dict[str, float] | None:
    """The calibrated PD per grade: every grade, 0 < PD <= 1, never falling from AAA to C."""
    if section is None:
        return None
    if not isinstance(section, dict) or not isinstance(section.get("pd"), dict):
        raise ScorecardError("calibration: needs pd = { AAA = …, …, C = … }")
    pds = section["pd"]
    if set(pds) != set(GRADES):     # a set: the stored copy (jsonb) keeps no key order
        raise ScorecardError(f"calibration.pd: list exactly {', '.join(GRADES)}")
    values = [float(pds[g]) for g in GRADES]
    if any(not 0 < v <= 1 for v in values):
        raise ScorecardError("calibration.pd: every PD must be above 0 and at most 1")
    if any(b < a for a, b in zip(values, values[1:])):
        raise ScorecardError("calibration.pd: the PD must not fall from a better grade to a worse one")
    return dict(zip(GRADES, values))


def _section(raw: dict[str, Any], name: str) -> dict[str, Any]:
    section = raw.get(name)
    if not isinstance(section, dict):
        raise ScorecardError(f"[{name}] is missing")
    return section


def _factor(spec: dict[str, Any], order: int, *, share: int, pdo: float) -> Factor:
    name = spec.get("name")
    points = lambda d: bin_points(share=share, pdo=pdo, doublings=float(d))  # noqa: E731
    missing = Bin(0, points(spec.get("missing", 0.0)), is_missing=True)
    if name in CATEGORY_FEATURES:
        cats = spec.get("categories") or {}
        if set(cats) != CATEGORY_FEATURES[name]:
            raise ScorecardError(f"{name}: categories must be exactly {sorted(CATEGORY_FEATURES[name])}")
        bins = [Bin(i, points(d), categories=(c,)) for i, (c, d) in enumerate(cats.items(), start=1)]
        return Factor(name, order, None, (missing, *bins))
    if name not in NUMERIC_FEATURES:
        raise ScorecardError(f"factor {name!r} is not a known feature")
    edges, doublings = list(spec.get("edges") or []), list(spec.get("doublings") or [])
    if len(doublings) != len(edges) + 1:
        raise ScorecardError(f"{name}: needs one doublings entry per bin ({len(edges) + 1})")
    if any(a >= b for a, b in zip(edges, edges[1:])):
        raise ScorecardError(f"{name}: edges must rise strictly")
    direction = spec.get("direction")
    if direction not in ("up", "down"):
        raise ScorecardError(f"{name}: direction must be 'up' or 'down'")
    steps = [b - a for a, b in zip(doublings, doublings[1:])]
    if (direction == "up" and any(s < 0 for s in steps)) or \
       (direction == "down" and any(s > 0 for s in steps)):
        raise ScorecardError(f"{name}: points must move {direction} with the value")
    bounds = [None, *edges, None]
    bins = [Bin(i + 1, points(d), lower=bounds[i], upper=bounds[i + 1])
            for i, d in enumerate(doublings)]
    return Factor(name, order, direction, (missing, *bins))


def _bands(specs: list[dict[str, Any]]) -> tuple[Band, ...]:
    if [s.get("grade") for s in specs] != list(GRADES):
        raise ScorecardError(f"grades: list exactly {', '.join(GRADES)}, best first")
    bands = tuple(Band(s["grade"], rank, s.get("min_score"), float(s["loan_limit"]), bool(s["vip"]))
                  for rank, s in enumerate(specs, start=1))
    floors = [b.min_score for b in bands[:-1]]
    if any(f is None for f in floors) or bands[-1].min_score is not None:
        raise ScorecardError("grades: every grade but the last needs min_score; the last none")
    if any(a <= b for a, b in zip(floors, floors[1:])):
        raise ScorecardError("grades: min_score must fall from AAA down")
    return bands


def check_file(path: Path | str) -> Scorecard:
    """Load for the command line / the console; a broken file is a refusal with a key."""
    try:
        return load(path)
    except (ScorecardError, KeyError, TypeError) as err:
        raise InvalidInput("credit.error.bad_config", detail=str(err)) from err


# ---------------------------------------------------------------- scoring in Python
# The same rules as sql/queries/credit_score_run.sql, for point-in-time samples (validation,
# the challenger's fit): a numeric value falls in bin n when edge n-1 <= value < edge n, a
# missing value in bin 0, a category in its listed bin. tests/test_credit_pit.py holds the two
# equal on a scored mart.
def factor_bins(factor: Factor, values: Any) -> "np.ndarray":
    import numpy as np
    import pandas as pd

    series = pd.Series(values)
    if factor.direction is None:   # categorical
        lookup = {c: b.bin_no for b in factor.bins if b.categories for c in b.categories}
        return series.map(lookup).fillna(0).astype(int).to_numpy()
    edges = np.array([b.lower for b in factor.bins if not b.is_missing and b.lower is not None],
                     dtype=float)
    numbers = pd.to_numeric(series, errors="coerce").to_numpy(dtype=float)
    bins = np.searchsorted(edges, numbers, side="right") + 1
    return np.where(np.isnan(numbers), 0, bins).astype(int)


def score_frame(card: Scorecard, features: "pd.DataFrame") -> "pd.DataFrame":
    """Score, grade and per-factor bin and points of each row of ``features`` (one column per
    factor, plus months_on_platform and deals_total for the NEW rule)."""
    import numpy as np
    import pandas as pd

    out = pd.DataFrame(index=features.index)
    total = np.zeros(len(features), dtype=int)
    for factor in card.factors:
        bins = factor_bins(factor, features[factor.name])
        points_by_bin = np.array([b.points for b in sorted(factor.bins, key=lambda b: b.bin_no)])
        points = points_by_bin[bins]
        out[f"bin__{factor.name}"] = bins
        out[f"points__{factor.name}"] = points
        total = total + points
    out["score"] = total
    # the number of band floors a score stays below is its band's index, best first
    floors = np.array([b.min_score for b in card.bands[:-1]], dtype=float)
    idx = (total[:, None] < floors[None, :]).sum(axis=1)
    out["score_grade"] = np.array([b.grade for b in card.bands])[idx]
    out["is_new"] = card.is_new(features["months_on_platform"], features["deals_total"])
    out["grade"] = np.where(out["is_new"], card.ih_grade, out["score_grade"])
    return out
