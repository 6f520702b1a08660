"""The demo's parallel imports (平行进口车, issue 21): app.listing_imports for every demo
listing flagged ``is_parallel_import`` (console/demo/generate.py), and VINs that follow the
market each car was built for.

Market versions by series (``MARKET_MIX``), modelled on the trade (working assumptions, not
data; BRIEF.md section 6 and README "Parallel imports"): Toyota, Lexus LX and the Range
Rovers come mostly as Middle-East versions (中东版), with European ones for the Land Rovers;
the Alabama-built Mercedes GLS and the Cadillac Escalade mostly as US and Canadian versions
(美规, 加版), with a few Mexican ones; the G-Class as Middle-East and European versions; the
Porsche Macan and the VW Touareg mostly European. An importer's other cars (a domestic trim
it lists) follow ``OTHER_MIX``. Ports (``PORT_SHARE``): Tianjin by far the largest (about
three in five cars), then Shanghai, Shenzhen (Qianhai), Guangzhou (Nansha), Dalian and
Qingdao. A quarter of the live imports are futures (期货, ``FUTURE_SHARE``), arriving 3 to
90 days after the seed's moment; the rest, and every listing no longer live, are in stock.

VINs (console.checks.vin_reason): each import with a VIN gets one of its series' maker and
plant (``SERIES_WMI``: 4JG GLS from Alabama, 5TD/1GY from US plants, W1N/SAL/WP1/WVG from
Europe, JTN/JTH/JTJ from Japan; for a North-American version of the Lexus RX, 2T2 from
Ontario) with the check digit in position 9 right for a US, Canadian or Mexican version
and any VIN character there for a Middle-East or European one, as their markets have it.
The generator's planted faults stay: a VIN with a bad format keeps it, a North-American
version whose generated VIN had a wrong check digit gets a wrong one again, and a VIN copied
from another dealer's listing is rewritten everywhere it occurs, so the copy stays a copy.
A domestic trim's VIN (WMI L…) is left as it was made.

Deterministic by seed (its own random stream, np.random.default_rng([seed, STREAM])):
nothing else in the world moves.
"""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import numpy as np

from console.checks import vin_check_char, vin_problem
from console.demo import generate as G
from console.demo import reference as ref
from console.imports.details import MARKET_VERSIONS, PORTS

STREAM = 109                 # migration 109's number: nothing else's random stream moves
TABLE = "app.listing_imports"
SHANGHAI = timezone(timedelta(hours=8))

# Shares over MARKET_VERSIONS (middle_east, us, canada, europe, mexico), per series name.
MARKET_MIX: dict[str, tuple[float, ...]] = {
    "埃尔法": (0.75, 0.00, 0.00, 0.25, 0.00),
    "奔驰G级": (0.50, 0.10, 0.05, 0.35, 0.00),
    "奔驰GLS": (0.15, 0.35, 0.35, 0.05, 0.10),
    "揽胜": (0.45, 0.10, 0.05, 0.40, 0.00),
    "揽胜运动版": (0.45, 0.10, 0.05, 0.40, 0.00),
    "雷克萨斯ES": (0.40, 0.30, 0.30, 0.00, 0.00),
    "雷克萨斯RX": (0.35, 0.25, 0.40, 0.00, 0.00),
    "雷克萨斯LX": (0.70, 0.15, 0.15, 0.00, 0.00),
    "Macan": (0.20, 0.10, 0.10, 0.60, 0.00),
    "途锐": (0.45, 0.00, 0.00, 0.55, 0.00),
    "凯雷德": (0.30, 0.50, 0.15, 0.00, 0.05),
}
OTHER_MIX = (0.35, 0.15, 0.20, 0.25, 0.05)
PORT_SHARE = {"tianjin": 0.60, "shanghai": 0.13, "shenzhen": 0.10, "guangzhou": 0.08,
              "dalian": 0.05, "qingdao": 0.04}
FUTURE_SHARE = 0.25
ARRIVAL_DAYS = (3, 90)
NORTH_AMERICA = frozenset(("us", "canada", "mexico"))
# Where each import series is built: its WMI for a North-American version and for the others.
SERIES_WMI: dict[str, tuple[str, str]] = {
    "埃尔法": ("JTN", "JTN"), "奔驰G级": ("W1N", "W1N"), "奔驰GLS": ("4JG", "4JG"),
    "揽胜": ("SAL", "SAL"), "揽胜运动版": ("SAL", "SAL"), "雷克萨斯ES": ("JTH", "JTH"),
    "雷克萨斯RX": ("2T2", "JTJ"), "雷克萨斯LX": ("JTJ", "JTJ"), "Macan": ("WP1", "WP1"),
    "途锐": ("WVG", "WVG"), "凯雷德": ("1GY", "1GY"),
}
VIN_ALPHABET = G.VIN_ALPHABET


def _arrival_day(anchor: int, days: int) -> str:
    """The calendar day (Shanghai) ``days`` after the anchor, as ISO text for COPY."""
    moment = datetime.fromtimestamp(anchor, SHANGHAI) + timedelta(days=int(days))
    return moment.date().isoformat()


def plan(world: G.World, *, seed: int) -> G.Table:
    """The import rows of every parallel-import listing, added to the world, with their
    VINs rewritten in the listings' own column (module doc)."""
    rng = np.random.default_rng([seed, STREAM])
    cols = world.tables["app.listings"].columns
    idx = np.flatnonzero(np.asarray(cols["is_parallel_import"], dtype=bool))
    series = ref.series()
    names = [series[world.trim_series[t - 1] - 1].name for t in np.asarray(cols["trim_id"])[idx]]
    mixes = np.array([MARKET_MIX.get(n, OTHER_MIX) for n in names], dtype=float)
    draw = rng.random(len(idx))
    market_at = (draw[:, None] > np.cumsum(mixes, axis=1)).sum(axis=1).clip(0, 4)
    market = np.array(MARKET_VERSIONS, dtype=object)[market_at]
    port_p = np.array([PORT_SHARE[p] for p in PORTS])
    port = np.array(PORTS, dtype=object)[rng.choice(len(PORTS), len(idx), p=port_p / port_p.sum())]
    live = np.asarray(cols["status"], dtype=object)[idx] == "live"
    future = live & (rng.random(len(idx)) < FUTURE_SHARE)
    days = rng.integers(ARRIVAL_DAYS[0], ARRIVAL_DAYS[1] + 1, len(idx))
    arrival = np.array([_arrival_day(world.anchor, d) if f else None
                        for d, f in zip(days, future)], dtype=object)
    published = np.asarray(cols["published_at"], dtype=np.int64)[idx]
    _rewrite_vins(cols, idx, names, market, rng)
    return world.add(G.Table(TABLE, {
        "listing_id": idx + 1, "market_version": market, "port": port,
        "availability": np.where(future, "future", "in_stock").astype(object),
        "expected_arrival": arrival, "created_at": published, "updated_at": published,
        "version": np.ones(len(idx), dtype=np.int64)}))


def _rewrite_vins(cols: dict, idx: np.ndarray, names: list[str], market: np.ndarray,
                  rng: np.random.Generator) -> None:
    vins = cols["vin"]
    serials = rng.integers(0, 1_000_000, len(idx))
    parts = rng.integers(0, len(VIN_ALPHABET), (len(idx), 8))
    new_for: dict[str, str] = {}
    for k, i in enumerate(idx):
        old = vins[i]
        if old is None or names[k] not in SERIES_WMI or old in new_for:
            continue
        problem = vin_problem(old)
        if problem == "format":
            continue                     # a planted bad format stays bad
        wmi = SERIES_WMI[names[k]][0 if market[k] in NORTH_AMERICA else 1]
        p = "".join(VIN_ALPHABET[j] for j in parts[k])
        draft = f"{wmi}{p[:5]}0{old[9]}{p[5]}{serials[k]:06d}"
        if market[k] in NORTH_AMERICA:
            right = vin_check_char(draft)
            ninth = right if problem is None else ("0" if right != "0" else "1")
        else:
            ninth = p[6]                 # free: whatever the market's maker puts there
        new_for[old] = draft[:8] + ninth + draft[9:]
    if new_for:                          # a duplicate elsewhere stays the same VIN
        for i, v in enumerate(vins):
            if v in new_for:
                vins[i] = new_for[v]
