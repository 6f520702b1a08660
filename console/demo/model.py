"""Scales, the anchor date and the hidden behaviour model shared by the generators.

Every bad outcome of a merchant (late or failed deposits, cancellations, lost disputes,
fake listings, loan defaults, low stars) is drawn from one latent quality score ``q``
(standard normal, never stored). ``hazard(q, base, slope)`` turns it into a per-merchant
probability whose average over merchants is ``base``, so a scorecard built on what the
database shows ranks merchants by ``q`` and its default rate falls across grades.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import numpy as np

SHANGHAI = ZoneInfo("Asia/Shanghai")
DEFAULT_ANCHOR = datetime(2026, 11, 20, 0, 0, tzinfo=SHANGHAI)
DAY = 86_400
HOUR = 3_600
# The demo's history: two years of trading before the anchor. A scorecard is developed on
# monthly snapshots of a mature book and checked out of time on a later one (issue 17): with one
# year, the development snapshots fell in the platform's first trading months, when few
# merchants had traded and the bad events that lag a deal (lost disputes, deposit defaults,
# loan defaults three months after the deposit) had not started yet, so the bad rate out of
# time was twice the development's; over two years it is stable from snapshot to snapshot.
HISTORY_DAYS = 730


@dataclass(frozen=True)
class Scale:
    name: str
    merchants: int
    listings: int
    requests: int
    events: int               # target total of app.events (logins fill up to it)
    cert_backlog_days: float  # certifications submitted this recently are still undecided


SCALES: dict[str, Scale] = {
    "small": Scale("small", 300, 3_000, 900, 30_000, 12.0),
    "demo": Scale("demo", 3_000, 30_000, 9_000, 300_000, 4.0),
    "large": Scale("large", 50_000, 1_000_000, 300_000, 10_000_000, 1.5),
}

# ------------------------------------------------------------------ where dealers are
# Share of new merchants per city tier (1 一线 … 6 五线) at the start and at the end of the
# history: the business starts in big cities and spreads into lower tiers.
TIER_SHARE_EARLY = np.array([0.20, 0.30, 0.22, 0.14, 0.08, 0.06])
TIER_SHARE_LATE = np.array([0.07, 0.15, 0.17, 0.21, 0.20, 0.20])
# Registration time fraction f of the history has density a*f^(a-1): growth, more sign-ups late.
REGISTRATION_GROWTH = 1.6


def expected_tier_shares() -> np.ndarray:
    """Share of merchants per tier the generator promises: the mixture at E[f] = a/(a+1)."""
    mean_f = REGISTRATION_GROWTH / (REGISTRATION_GROWTH + 1)
    return (1 - mean_f) * TIER_SHARE_EARLY + mean_f * TIER_SHARE_LATE


MERCHANT_TYPES = np.array(["4s", "secondary", "resource", "parallel_import"])
CHANNELS = np.array(["bd_visit", "referral", "organic", "ad", "event", "partner"])
CHANNEL_SHARE = np.array([0.30, 0.18, 0.22, 0.15, 0.08, 0.07])

# ------------------------------------------------------------------ listings
PRICE_OUTLIER_RATE = 0.006   # suspicious listings 12-25 points below their series' usual discount
PRICE_PREMIUM_RATE = 0.02    # hot models quoted 加X万 above guide (series within 6 points of guide)
VIN_SHARE = 0.40
VIN_MALFORMED_RATE = 0.01    # of the VINs given
VIN_DUPLICATE_RATE = 0.005   # of the VINs given, copied from another merchant's listing
EXTERIOR_COLORS = ("白色", "黑色", "灰色", "银色", "蓝色", "红色", "绿色", "棕色", "香槟色", "橙色", "紫色", "黄色")
EXTERIOR_SHARE = np.array([0.32, 0.24, 0.14, 0.08, 0.08, 0.05, 0.03, 0.02, 0.015, 0.01, 0.008, 0.007])
INTERIOR_COLORS = ("黑色", "米色", "棕色", "灰色", "红色", "白色")
INTERIOR_SHARE = np.array([0.55, 0.20, 0.12, 0.06, 0.04, 0.03])

# ------------------------------------------------------------------ certification defects
BAD_CHECK_RATE = 0.05        # wrong ID check digit / USCC check character
DUPLICATE_IDENTITY_RATE = 0.02
NAME_MISMATCH_RATE = 0.04    # enterprise: company name or legal representative differs
UNCLEAR_DOC_RATE = 0.06      # blurry upload: needs_info or rejected document_unclear

# The deal board's lost reasons (console.services.deals.LOST_REASONS; a test keeps them equal).
LOST_REASONS = ("price_gap", "no_stock", "buyer_cancelled", "seller_unresponsive",
                "bought_elsewhere", "delivery_time", "trust_concerns", "other")
PAYMENT_CHANNELS = np.array(["wechat", "alipay", "bank"])


def hazard(q: np.ndarray, base: float, slope: float, cap: float = 0.95) -> np.ndarray:
    """Per-merchant probability with mean ``base`` over q ~ N(0,1), higher for low q."""
    return np.minimum(cap, base * np.exp(-slope * q - slope * slope / 2))


def today_anchor() -> datetime:
    """The start of today on the business clock: the anchor of a demo a person will use now.
    The fixed DEFAULT_ANCHOR keeps tests and benches reproducible, but a console seeded with
    it shows a world that stopped on that day (every card overdue, every chart stale)."""
    from console import clock
    day = clock.today()
    return datetime(day.year, day.month, day.day, tzinfo=SHANGHAI)


def anchor_epoch(anchor: datetime | None) -> int:
    """Seconds since the epoch of the anchor ("now" of the demo world)."""
    anchor = anchor or DEFAULT_ANCHOR
    if anchor.tzinfo is None:
        anchor = anchor.replace(tzinfo=SHANGHAI)
    return int(anchor.timestamp())


def history_start(anchor_s: int) -> int:
    """When the demo's history begins: HISTORY_DAYS before the anchor."""
    return anchor_s - HISTORY_DAYS * DAY


def to_datetime(epoch_s: int) -> datetime:
    return datetime(1970, 1, 1, tzinfo=ZoneInfo("UTC")) + timedelta(seconds=int(epoch_s))
