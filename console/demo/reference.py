"""The real reference data behind the demo: cities, 2025 series, trims named after 2018 patterns.

Everything here is read from ``console/data/reference/`` (see PROVENANCE.md there). The
vehicle library is generated once per seed: series and prices are real, trims are placed
inside each series' real guide-price range and named like real Autohome trims.
"""
from __future__ import annotations

import csv
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from console.settings import PROJECT_ROOT

REFERENCE_DIR = PROJECT_ROOT / "console" / "data" / "reference"
WAN = 10_000  # 1 万元

# ------------------------------------------------------------------ origin and energy rules
# Makers that build a foreign brand in China with a local partner (or alone, like Tesla's
# Shanghai plant): the schema's 'joint_venture' means "foreign brand, built in China".
JV_MAKERS = (
    "一汽-大众", "上汽大众", "一汽丰田", "广汽丰田", "东风日产", "郑州日产", "东风本田", "广汽本田",
    "一汽奥迪", "上汽奥迪", "华晨宝马", "北京奔驰", "福建奔驰", "北京现代", "起亚", "长安福特",
    "江铃福特", "长安马自达", "长安林肯", "上汽通用别克", "上汽通用凯迪拉克", "上汽通用雪佛兰",
    "别克至境", "东风标致", "东风雪铁龙", "奇瑞捷豹路虎", "光束汽车", "沃尔沃亚太", "特斯拉中国",
    "smart", "东风英菲尼迪", "上汽大众斯柯达",
)
# Chinese brands made by those same JVs stay domestic.
DOMESTIC_BRANDS_OF_JVS = {"五菱汽车", "宝骏", "启辰", "东风风度", "捷达", "灵悉"}

BEV_BRANDS = {
    "特斯拉", "蔚来", "乐道", "firefly萤火虫", "小鹏汽车", "极氪", "小米汽车", "埃安", "广汽昊铂",
    "ARCFOX极狐", "智己汽车", "欧拉", "哪吒汽车", "Polestar极星", "smart", "知豆", "东风纳米",
    "江淮钇为", "凌宝汽车", "曹操汽车", "睿蓝汽车", "江铃集团新能源", "领途汽车", "创维汽车",
    "飞凡汽车", "iCAR", "奇瑞新能源", "东风奕派", "灵悉", "示界", "小虎", "MINI",
}
EREV_BRANDS = {"理想汽车", "AITO", "尊界", "尚界"}
# Brands selling both a plug-in (or range-extender) and a pure-electric version of a series.
MIXED_NEV_BRANDS = {
    "比亚迪": ("phev", "bev"), "吉利银河": ("phev", "bev"), "零跑汽车": ("bev", "erev"),
    "深蓝汽车": ("bev", "erev"), "阿维塔": ("bev", "erev"), "岚图": ("erev", "bev"),
    "腾势": ("phev", "bev"), "方程豹": ("phev", "bev"), "智界": ("bev", "erev"),
    "享界": ("erev", "bev"), "仰望": ("erev", "bev"), "长安启源": ("phev", "bev"),
    "蓝电": ("phev", "phev"), "五菱汽车": ("bev", "ice"), "宝骏": ("bev", "ice"),
}
# Brands whose petrol series also come as full hybrids (双擎 / e:HEV).
HYBRID_BRANDS = {"丰田", "本田", "日产", "雷克萨斯"}
NAME_MARKERS = (  # series-name fragments that settle the energy type
    (re.compile(r"增程|EREV", re.I), "erev"),
    (re.compile(r"DM|EM-i|PHEV|插电|插混|新能源|雷神|Hi·P|Hi-P|e-Pro", re.I), "phev"),
    (re.compile(r"EV|纯电|e:N|bZ", re.I), "bev"),
    (re.compile(r"双擎|e:HEV|混动|HEV|智混", re.I), "hev"),
)

# Import series for parallel-import trade: the 2025 ranking has none (it ranks locally built
# cars), so these come from the Autohome file's "(进口)" makers and wholly imported brands.
# Prices are the 2016-2018 model-year guide prices; the ranking gives no sales figure, so
# sales_count is stored as 0 and IMPORT_WEIGHT stands in for it when sampling.
IMPORT_SERIES = (  # (brand, factory_series in the Autohome file, series name shown)
    ("丰田", "丰田(进口) 埃尔法", "埃尔法"),
    ("奔驰", "奔驰(进口) 奔驰G级", "奔驰G级"),
    ("奔驰", "奔驰(进口) 奔驰GLS", "奔驰GLS"),
    ("路虎", "路虎(进口) 揽胜", "揽胜"),
    ("路虎", "路虎(进口) 揽胜运动版", "揽胜运动版"),
    ("雷克萨斯", "雷克萨斯 雷克萨斯ES", "雷克萨斯ES"),
    ("雷克萨斯", "雷克萨斯 雷克萨斯RX", "雷克萨斯RX"),
    ("雷克萨斯", "雷克萨斯 雷克萨斯LX", "雷克萨斯LX"),
    ("保时捷", "保时捷 Macan", "Macan"),
    ("大众", "大众(进口) 途锐", "途锐"),
    ("凯迪拉克", "凯迪拉克(进口) 凯雷德ESCALADE", "凯雷德"),
)
IMPORT_WEIGHT = 8_000

# ------------------------------------------------------------------ data classes


@dataclass(frozen=True)
class City:
    id: int
    name: str
    short_name: str
    adcode: str
    province: str
    tier_level: int
    tier_name: str
    longitude: float
    latitude: float


@dataclass(frozen=True)
class Series:
    id: int
    brand: str
    name: str
    manufacturer: str
    min_price: float  # yuan
    max_price: float
    sales_count: int
    energy_type: str
    origin: str
    weight: float     # sampling weight (sales count; IMPORT_WEIGHT for imports)
    pattern_key: str  # Autohome factory_series whose real trim names fit, '' if none


@dataclass(frozen=True)
class Trim:
    id: int
    series_id: int
    name: str
    model_year: int
    guide_price: float
    energy_type: str


# ------------------------------------------------------------------ readers


def _rows(name: str) -> list[dict[str, str]]:
    with (REFERENCE_DIR / name).open(encoding="utf-8", newline="") as f:
        return list(csv.DictReader(f))


@lru_cache(maxsize=1)
def cities() -> tuple[City, ...]:
    rows = sorted(_rows("city_tier_2025_derived.csv"),
                  key=lambda r: (int(r["tier_level"]), r["adcode"]))
    return tuple(City(id=i, name=r["city_name"], short_name=r["city_short"], adcode=r["adcode"],
                      province=r["province"], tier_level=int(r["tier_level"]), tier_name=r["tier"],
                      longitude=float(r["longitude"]), latitude=float(r["latitude"]))
                 for i, r in enumerate(rows, start=1))


@lru_cache(maxsize=1)
def counties_by_city_prefix() -> dict[str, tuple[str, ...]]:
    out: dict[str, list[str]] = {}
    for r in _rows("county_adcodes_2025.csv"):
        out.setdefault(r["city_prefix"], []).append(r["county_adcode"])
    return {k: tuple(v) for k, v in out.items()}


@lru_cache(maxsize=1)
def trim_patterns() -> dict[str, tuple[tuple[str, float], ...]]:
    """factory_series -> ((name without model year, guide price in yuan), ...) sorted by price."""
    out: dict[str, list[tuple[str, float]]] = {}
    for r in _rows("autohome_trims_2016_2018.csv"):
        body = clean_trim_body(r["spec_name"])
        if body:
            out.setdefault(r["factory_series"], []).append((body, float(r["guide_price_wan"]) * WAN))
    return {k: tuple(sorted(set(v), key=lambda t: (t[1], t[0]))) for k, v in out.items()}


_YEAR_PREFIX = re.compile(r"^\d{4}款\s*")
_EMISSION = re.compile(r"\s*国(IV|V|VI|Ⅴ|Ⅵ)\b")


def clean_trim_body(spec_name: str) -> str:
    """'2018款 1.5T 自动豪华型 国V' -> '1.5T 自动豪华型' (model year and emission class dropped)."""
    return _EMISSION.sub("", _YEAR_PREFIX.sub("", spec_name)).strip()


_GRADE = re.compile(r"^(?:手动|自动|CVT|DCT|DSG|两驱|四驱)*([\u4e00-\u9fff]{2}[型版])$")


@lru_cache(maxsize=1)
def grade_ladder() -> tuple[str, ...]:
    """Trim grade words (豪华型, 尊贵型 …) of the 2018 trims, cheapest first by mean position."""
    positions: dict[str, list[float]] = {}
    for rows in trim_patterns().values():
        prices = [p for _, p in rows]
        lo, hi = min(prices), max(prices)
        if hi <= lo:
            continue
        for body, price in rows:
            last = body.split()[-1]
            m = _GRADE.match(last)
            if m and not re.search(r"[座门驱年]", m.group(1)):
                positions.setdefault(m.group(1), []).append((price - lo) / (hi - lo))
    common = [(sum(v) / len(v), g) for g, v in positions.items() if len(v) >= 12]
    return tuple(g for _, g in sorted(common))


def _marker_energy(name: str) -> str | None:
    for pattern, energy in NAME_MARKERS:
        if pattern.search(name):
            return energy
    return None


def infer_energy(brand: str, series_name: str) -> str:
    marked = _marker_energy(series_name)
    if marked:
        return marked
    if brand in BEV_BRANDS:
        return "bev"
    if brand in EREV_BRANDS:
        return "erev"
    if brand in MIXED_NEV_BRANDS:
        return MIXED_NEV_BRANDS[brand][0]
    return "ice"


def infer_origin(brand: str, manufacturer: str) -> str:
    if "进口" in manufacturer:
        return "import"
    if brand not in DOMESTIC_BRANDS_OF_JVS and any(m in manufacturer for m in JV_MAKERS):
        return "joint_venture"
    return "domestic"


@lru_cache(maxsize=1)
def series() -> tuple[Series, ...]:
    patterns = trim_patterns()
    by_name = {}
    for key in patterns:
        by_name.setdefault(key.split(" ", 1)[-1], key)
    out: list[Series] = []
    rows = sorted(_rows("dongchedi_rank_data_cleaned.csv"), key=lambda r: int(r["rank"]))
    seen: set[tuple[str, str]] = set()
    for r in rows:
        key = (r["brand_name"], r["series_name"])
        if key in seen:
            continue
        seen.add(key)
        lo, hi = sorted((float(r["min_price"]) * WAN, float(r["max_price"]) * WAN))
        out.append(Series(
            id=len(out) + 1, brand=r["brand_name"], name=r["series_name"],
            manufacturer=r["sub_brand_name"], min_price=lo, max_price=hi,
            sales_count=int(r["count"]), energy_type=infer_energy(r["brand_name"], r["series_name"]),
            origin=infer_origin(r["brand_name"], r["sub_brand_name"]), weight=float(r["count"]),
            pattern_key=by_name.get(r["series_name"], "")))
    for brand, factory, name in IMPORT_SERIES:
        prices = [p for _, p in patterns[factory]]
        maker = factory.split(" ", 1)[0]
        out.append(Series(
            id=len(out) + 1, brand=brand, name=name,
            manufacturer=maker if "进口" in maker else f"{maker}(进口)",
            min_price=min(prices), max_price=max(prices), sales_count=0,
            energy_type=infer_energy(brand, name), origin="import", weight=IMPORT_WEIGHT,
            pattern_key=factory))
    return tuple(out)


# ------------------------------------------------------------------ trims

def _round_price(yuan: float) -> float:
    """Guide prices are quoted to 100 yuan (e.g. 12.98万 = 129,800)."""
    return float(max(100, round(yuan / 100) * 100))


def _powertrain(energy: str, brand: str, price: float, p: float, rng: np.random.Generator) -> str:
    """Powertrain words in today's naming; range and displacement grow with the trim's price."""
    step = min(3, int(p * 4))  # position in the series' price range -> 0..3
    if energy == "bev":
        return f"{(405, 510, 600, 702)[step] + int(rng.integers(0, 4)) * 10}km"
    if energy == "phev":
        tech = ("DM-i" if brand in {"比亚迪", "腾势", "方程豹"}
                else "EM-i" if brand.startswith("吉利") else "插混")
        return f"{tech} {(55, 100, 120, 200)[step]}km"
    if energy == "erev":
        return f"增程 {(180, 210, 240, 300)[step]}km"
    engines = ("1.5L", "1.5T", "1.6L") if price < 150_000 else \
        ("1.5T", "2.0L", "2.0T") if price < 300_000 else ("2.0T", "2.5T", "3.0T")
    engine = engines[int(rng.integers(0, 3))]
    if energy == "hev":
        return f"{engine} 混动"
    return f"{engine} {('自动', 'DCT', 'CVT', '手自一体')[int(rng.integers(0, 4))]}"


def _trim_energies(s: Series, k: int, rng: np.random.Generator) -> list[str]:
    if s.brand in MIXED_NEV_BRANDS and s.energy_type != "ice" and not _marker_energy(s.name):
        first, second = MIXED_NEV_BRANDS[s.brand]
        return [first if rng.random() < 0.6 else second for _ in range(k)]
    if s.energy_type == "ice" and s.brand in HYBRID_BRANDS:
        return ["hev" if rng.random() < 0.3 else "ice" for _ in range(k)]
    return [s.energy_type] * k


def make_trims(rng: np.random.Generator) -> list[Trim]:
    """Trims inside every series' real price range; real 2016-2018 names where the series existed."""
    trims: list[Trim] = []
    ladder = grade_ladder()
    patterns = trim_patterns()
    for s in series():
        spread = (s.max_price - s.min_price) / s.min_price
        k = 1 if spread == 0 else int(min(8, 2 + round(spread * 12)))
        real = list(patterns.get(s.pattern_key, ()))
        if real:
            # Real names, placed at the same relative position inside the 2025 range.
            pick = sorted(rng.choice(len(real), size=min(k, len(real)), replace=False))
            lo, hi = real[0][1], real[-1][1]
            bodies = [real[i][0] for i in pick]
            pos = [0.0 if hi == lo else (real[i][1] - lo) / (hi - lo) for i in pick]
        else:
            grade_idx = sorted(rng.choice(len(ladder), size=k, replace=False))
            bodies = [ladder[i] for i in grade_idx]
            pos = list(np.linspace(0.0, 1.0, k)) if k > 1 else [0.0]
        energies = (_trim_energies(s, len(bodies), rng) if not real
                    else [_marker_energy(b) or s.energy_type for b in bodies])
        names: set[str] = set()
        for body, p, energy in zip(bodies, pos, energies):
            year = 2026 if rng.random() < 0.35 else 2025
            price = _round_price(s.min_price + p * (s.max_price - s.min_price))
            if not real:
                body = f"{_powertrain(energy, s.brand, price, p, rng)} {body}"
            name = f"{year}款 {body}"
            if name in names:
                continue
            names.add(name)
            trims.append(Trim(id=len(trims) + 1, series_id=s.id, name=name, model_year=year,
                              guide_price=price, energy_type=energy))
    return trims


def brands() -> list[str]:
    """Brand names in order of first appearance (rank), so ids are stable."""
    seen: dict[str, None] = {}
    for s in series():
        seen.setdefault(s.brand, None)
    return list(seen)


def reference_path(name: str) -> Path:
    return REFERENCE_DIR / name


@lru_cache(maxsize=1)
def brand_initials() -> dict[str, str]:
    """Brand -> index letter (A-Z) from the Autohome file; ASCII names give their own letter."""
    out = {r["brand"]: r["brand_letter"] for r in _rows("autohome_trims_2016_2018.csv")}
    for name in brands():
        if name not in out and name[:1].isascii() and name[:1].isalpha():
            out[name] = name[0].upper()
    return out
