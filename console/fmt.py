"""The one way the console writes numbers, money, percentages and times.

Pure functions, no streamlit: pages, exports and services' messages all use them, so a
figure reads the same on every page and in both languages.

Rules (issue #14):
- Money is in 万元 with thousands separators wherever amounts are aggregated or compared
  (GMV, limits, price filters and the results they filter); a page about single cars may
  show yuan instead. A table states the unit once, in its header (``wan_unit``), and its
  cells carry the bare number (``wan_number``); running text uses ``wan`` / ``yuan``.
- Percentages have one decimal; a change carries its sign.
- Times are Shanghai wall-clock time to the minute, never with an offset.
- An expiry chosen as a day is stored as the next midnight (an exclusive end) and shown as
  the day chosen.
- A missing value (None, NaN, NaT) is an em dash, never "nan" or "None".
"""
from __future__ import annotations

import math
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import pandas as pd

from console.clock import business_tz

MISSING = "—"
MINUS = "−"   # U+2212: a real minus sign lines up with "+" in tables

_WAN_UNIT = {"zh": "万元", "en": "10k CNY"}


def is_missing(value: Any) -> bool:
    if value is None or value is pd.NaT:
        return True
    if isinstance(value, (float, Decimal)):
        return math.isnan(value) if isinstance(value, float) else value.is_nan()
    try:
        return bool(pd.isna(value))
    except (TypeError, ValueError):
        return False


def _signed(text: str, negative: bool) -> str:
    return f"{MINUS}{text}" if negative else text


def number(value: Any, *, digits: int = 0) -> str:
    """1234567 -> '1,234,567'; digits fixes the decimals."""
    if is_missing(value):
        return MISSING
    value = float(value)
    return _signed(f"{abs(value):,.{digits}f}", value < 0 and round(abs(value), digits) != 0)


def wan_number(yuan_amount: Any, *, digits: int = 2) -> str:
    """An amount in yuan as 万元 without the unit: 85494300 -> '8,549.43'."""
    if is_missing(yuan_amount):
        return MISSING
    return number(float(yuan_amount) / 10_000, digits=digits)


def wan_unit(lang: str) -> str:
    """The unit for a header or a filter label: '万元' / '10k CNY'."""
    return _WAN_UNIT.get(lang, _WAN_UNIT["zh"])


def wan(yuan_amount: Any, *, lang: str, digits: int = 2) -> str:
    """85494300 -> '8,549.43 万元' / '8,549.43 × 10k CNY'."""
    if is_missing(yuan_amount):
        return MISSING
    shown = wan_number(yuan_amount, digits=digits)
    return f"{shown} 万元" if lang == "zh" else f"{shown} × 10k CNY"


def yuan(amount: Any, *, digits: int = 0) -> str:
    """A single car's price or a deposit: 84200 -> '¥84,200'."""
    if is_missing(amount):
        return MISSING
    amount = float(amount)
    return _signed(f"¥{abs(amount):,.{digits}f}", amount < 0 and round(abs(amount), digits) != 0)


def measure(value: Any) -> str:
    """A measured value of unknown scale (a data check's observed value): whole numbers with
    separators, others to at most three decimals without trailing zeros: 0.500 -> '0.5'."""
    if is_missing(value):
        return MISSING
    value = float(value)
    if value == int(value):
        return number(value)
    text = f"{abs(value):,.3f}".rstrip("0").rstrip(".")
    return _signed(text, value < 0 and text != "0")


def percent(ratio: Any, *, digits: int = 1) -> str:
    """A share as a percentage: 0.7783 -> '77.8%'."""
    if is_missing(ratio):
        return MISSING
    return number(float(ratio) * 100, digits=digits) + "%"


def change(ratio: Any, *, digits: int = 1) -> str:
    """A relative change with its sign: 0.123 -> '+12.3%', -0.04 -> '−4.0%'."""
    if is_missing(ratio):
        return MISSING
    text = percent(ratio, digits=digits)
    if text.startswith(MINUS) or round(float(ratio) * 100, digits) == 0:
        return text
    return f"+{text}"


def points(discount_points: Any, *, lang: str, digits: int = 1) -> str:
    """Points below the guide price (下X点): 13.6 -> '下13.6点' / '13.6 pts below guide'."""
    if is_missing(discount_points):
        return MISSING
    value = float(discount_points)
    if value < 0:   # above the guide price: a markup (加价)
        shown = number(-value, digits=digits)
        return f"加{shown}点" if lang == "zh" else f"{shown} pts above guide"
    shown = number(value, digits=digits)
    return f"下{shown}点" if lang == "zh" else f"{shown} pts below guide"


def _local(value: Any, tz: ZoneInfo | None = None) -> datetime | None:
    if is_missing(value):
        return None
    if isinstance(value, pd.Timestamp):
        value = value.to_pydatetime()
    if isinstance(value, date) and not isinstance(value, datetime):
        value = datetime.combine(value, time())
    if not isinstance(value, datetime):
        raise TypeError(f"not a time: {type(value).__name__}")
    tz = tz or business_tz()
    # A naive time is already wall-clock time (how the database returns `date` columns).
    return value.astimezone(tz) if value.tzinfo else value


def when(value: Any) -> str:
    """A timestamp as staff read it: '2026-12-04 15:03' in Shanghai time, no offset."""
    local = _local(value)
    return MISSING if local is None else local.strftime("%Y-%m-%d %H:%M")


def day(value: Any) -> str:
    """A date (or a timestamp's Shanghai date): '2026-12-04'."""
    local = _local(value)
    return MISSING if local is None else local.strftime("%Y-%m-%d")


def expiry_day(value: Any) -> str:
    """An exclusive end at local midnight reads as the day chosen: a grant chosen to run
    'until 2027-02-28' is stored as 2027-03-01 00:00 and shows '2027-02-28'."""
    local = _local(value)
    if local is None:
        return MISSING
    if local.time() == time():
        local -= timedelta(days=1)
    return local.strftime("%Y-%m-%d")


def hours(value: Any, *, lang: str) -> str:
    """A duration in hours: 49.5 -> '49.5 小时' / '49.5 h'."""
    if is_missing(value):
        return MISSING
    shown = number(value, digits=1)
    return f"{shown} 小时" if lang == "zh" else f"{shown} h"


_KINDS = {
    "number": lambda v, lang: number(v),
    "decimal": lambda v, lang: number(v, digits=1),
    "wan": lambda v, lang: wan_number(v),
    "yuan": lambda v, lang: yuan(v),
    "measure": lambda v, lang: measure(v),
    "percent": lambda v, lang: percent(v),
    "change": lambda v, lang: change(v),
    "points": lambda v, lang: points(v, lang=lang),
    "when": lambda v, lang: when(v),
    "day": lambda v, lang: day(v),
    "expiry": lambda v, lang: expiry_day(v),
    "hours": lambda v, lang: hours(v, lang=lang),
}
KINDS = frozenset(_KINDS)


def cell(value: Any, kind: str, *, lang: str) -> str:
    """One value formatted as ``kind`` (one of KINDS)."""
    return _KINDS[kind](value, lang)


def frame(df: pd.DataFrame, spec: dict[str, str], *, lang: str) -> pd.DataFrame:
    """A copy of ``df`` whose columns named in ``spec`` are written as their kind, e.g.
    ``frame(rows, {"gmv": "wan", "rate": "percent", "at": "when"}, lang="zh")``.

    For display only: the result holds strings, so sort before formatting.
    """
    unknown = set(spec.values()) - KINDS
    if unknown:
        raise ValueError(f"unknown format kinds: {sorted(unknown)}")
    out = df.copy()
    for column, kind in spec.items():
        if column in out.columns:
            out[column] = [cell(v, kind, lang=lang) for v in out[column]]
    return out
