"""Prices that look like the market: each series' usual discount (下X点) from its brand group.

The figures are data (``console/data/reference/``, see PROVENANCE.md there):
- ``brand_groups.csv``: every brand -> chinese / joint_venture / luxury / direct_ev, with
  rows for one manufacturer of a brand where it differs (the import makers -> import;
  广汽本田 and 北京现代 at 30 points);
- ``discount_groups.csv``: per group the mean discount in points below guide, the spread
  between the group's series, the spread between one series' listings and the drift per year.

A series' usual discount at time t is ``base + drift * (t - anchor) / year``: base drawn
around its group's mean (the market at the demo's "now"), drift around the group's drift,
so the discounts deepen slowly over the demo's two years as they did in 2025. A listing's discount
is its series' usual one at publication plus a right-skewed spread (more room below than
above). The draws come from a stream of their own, derived from the world's seed, so they
do not shift the rest of the world.
"""
from __future__ import annotations

import sys
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from console.demo import reference as ref

GROUPS = ("chinese", "joint_venture", "luxury", "direct_ev", "import")
YEAR_S = 365 * 86_400
PRICE_STREAM = 0x70726963  # spawn key of the price draws ("pric")
# A listing's spread between series listings: beta(1.6, 2.4) standardised (mean 0.4, sd 0.2191):
# right-skewed, at most 2.74 sd above the series' usual discount and 1.83 below.
SPREAD_A, SPREAD_B = 1.6, 2.4
SPREAD_MEAN, SPREAD_SD = 0.4, 0.2191
# A listing: at most 3% above guide, and at most half below it: the ETL quarantines a price
# under half its trim's guide price as implausible (etl/checks.py PRICE_BAND), so the demo
# never writes one (generate.listings also floors the rounded price at half the guide).
MIN_POINTS, MAX_POINTS = -3.0, 50.0
MAX_SERIES_POINTS = 45.0
PREMIUM_BELOW = 6.0   # 加价 quotes (加X万) only on series that usually sell within 6 points of guide


@dataclass(frozen=True)
class GroupFigures:
    group: str
    mean_points: float      # mean discount of the group's series, points below guide
    series_sd: float        # spread of the series' usual discounts around that mean
    listing_sd: float       # spread of one series' listings around its usual discount
    drift_per_year: float   # how much deeper the discounts get in a year
    basis: str              # 'cpca' (a published figure) or 'assumption'
    note: str


@lru_cache(maxsize=1)
def group_figures() -> dict[str, GroupFigures]:
    out = {}
    for r in ref._rows("discount_groups.csv"):
        out[r["group"]] = GroupFigures(
            group=r["group"], mean_points=float(r["mean_points"]), series_sd=float(r["series_sd"]),
            listing_sd=float(r["listing_sd"]), drift_per_year=float(r["drift_per_year"]),
            basis=r["basis"], note=r["note"])
    if set(out) != set(GROUPS):
        raise ValueError(f"discount_groups.csv must define exactly {GROUPS}, has {sorted(out)}")
    return out


@lru_cache(maxsize=1)
def brand_groups() -> dict[tuple[str, str], tuple[str, float | None]]:
    """(brand, manufacturer or '') -> (group, the group mean's override or None)."""
    out: dict[tuple[str, str], tuple[str, float | None]] = {}
    for r in ref._rows("brand_groups.csv"):
        key = (r["brand"], r["manufacturer"])
        if key in out:
            raise ValueError(f"brand_groups.csv: {key} twice")
        if r["group"] not in GROUPS:
            raise ValueError(f"brand_groups.csv: {key} has unknown group {r['group']!r}")
        out[key] = (r["group"], float(r["mean_points"]) if r["mean_points"] else None)
    return out


def series_group(brand: str, manufacturer: str) -> tuple[str, float]:
    """The series' brand group and the mean discount it is drawn around (points)."""
    groups = brand_groups()
    group, mean = groups.get((brand, manufacturer)) or groups[(brand, "")]
    return group, group_figures()[group].mean_points if mean is None else mean


def unmapped() -> list[tuple[str, str]]:
    """(brand, manufacturer) of reference series no row of brand_groups.csv covers."""
    groups = brand_groups()
    return sorted({(s.brand, s.manufacturer) for s in ref.series()
                   if (s.brand, s.manufacturer) not in groups and (s.brand, "") not in groups})


@dataclass(frozen=True)
class SeriesDiscounts:
    """Per reference series (index = series id - 1): group, usual discount at the anchor, drift."""
    group: np.ndarray      # object: group names
    base: np.ndarray       # points below guide at the anchor
    drift: np.ndarray      # points per year (deeper with time when > 0)
    listing_sd: np.ndarray
    anchor: int

    def usual(self, series_idx: np.ndarray, t: np.ndarray) -> np.ndarray:
        """Usual discount of these series (0-based) at these times (epoch seconds), points."""
        years = (np.asarray(t, dtype=np.int64) - self.anchor) / YEAR_S
        return np.clip(self.base[series_idx] + self.drift[series_idx] * years, 0.0, MAX_SERIES_POINTS)


def price_rng(rng: np.random.Generator) -> np.random.Generator:
    """A generator of its own for the price draws, derived from the world's seed (not its state)."""
    entropy = rng.bit_generator.seed_seq.entropy
    return np.random.default_rng(np.random.SeedSequence(entropy, spawn_key=(PRICE_STREAM,)))


def series_discounts(rng: np.random.Generator, anchor: int) -> SeriesDiscounts:
    """Draw every reference series' usual discount and drift (``rng``: the price stream)."""
    ss = ref.series()
    figures = group_figures()
    groups, means = zip(*(series_group(s.brand, s.manufacturer) for s in ss))
    fig = [figures[g] for g in groups]
    base = np.asarray(means) + rng.standard_normal(len(ss)) * np.array([f.series_sd for f in fig])
    drift = np.array([f.drift_per_year for f in fig]) + rng.normal(0.0, 0.5, len(ss))
    return SeriesDiscounts(group=np.array(groups, dtype=object),
                           base=np.clip(base, 0.0, MAX_SERIES_POINTS), drift=drift,
                           listing_sd=np.array([f.listing_sd for f in fig]), anchor=anchor)


def listing_points(d: SeriesDiscounts, series_idx: np.ndarray, t: np.ndarray,
                   spread: np.ndarray) -> np.ndarray:
    """Listings' discounts: the series' usual one at ``t`` plus ``spread`` (beta(1.6, 2.4) draws)."""
    z = (np.asarray(spread) - SPREAD_MEAN) / SPREAD_SD
    points = d.usual(series_idx, t) + z * d.listing_sd[series_idx]
    return np.clip(points, MIN_POINTS, MAX_POINTS)


def outlier_points(d: SeriesDiscounts, series_idx: np.ndarray, t: np.ndarray,
                   u: np.ndarray) -> np.ndarray:
    """Suspicious listings: 12 to 25 points below the series' usual discount (``u`` uniform 0..1)."""
    return np.clip(d.usual(series_idx, t) + 12.0 + 13.0 * np.asarray(u), MIN_POINTS, MAX_POINTS)


def request_max_points(d: SeriesDiscounts, series_idx: np.ndarray, t: np.ndarray,
                       u: np.ndarray) -> np.ndarray:
    """A buyer's maximum, in points below guide: the series' usual discount, 6 points either
    way (``u`` uniform 0..1), never more than 2% above guide."""
    return np.maximum(d.usual(series_idx, t) - 6.0 + 12.0 * np.asarray(u), -2.0)


# ------------------------------------------------------------------ the per-brand table
BRAND_MEDIANS_SQL = """
SELECT b.name AS brand, count(*) AS listings,
       percentile_cont(ARRAY[0.25, 0.5, 0.75]) WITHIN GROUP (ORDER BY
             CAST((l.guide_price - l.price) / l.guide_price * 100 AS double precision)) AS q
FROM app.listings l JOIN app.trims t ON t.id = l.trim_id
JOIN app.series se ON se.id = t.series_id JOIN app.brands b ON b.id = se.brand_id
GROUP BY b.name ORDER BY count(*) DESC, b.name LIMIT :n"""


def brand_medians_table(conn, *, n: int = 15) -> str:
    """The n brands with the most listings: group, listings, median 下X点 and quartiles (markdown)."""
    from console import db

    groups = brand_groups()
    lines = ["| brand | group | listings | median 下X点 | p25-p75 |", "|---|---|---:|---:|---|"]
    for r in db.fetch_all(conn, BRAND_MEDIANS_SQL, n=n):
        p25, median, p75 = (f"{v:.1f}" for v in r["q"])
        group = groups.get((r["brand"], ""), ("?",))[0]
        lines.append(f"| {r['brand']} | {group} | {r['listings']:,} | {median} | {p25}-{p75} |")
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    """``python -m console.demo.prices [N]``: the per-brand table of the configured database."""
    from console import db

    with db.get_engine().connect() as conn:
        print(brand_medians_table(conn, n=int(argv[0]) if argv else 15))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
