"""The matchmaking policy: how many suggestions, how many leads a person may hold, when a
lead goes back to the pool, when a card rots, how many notices a merchant gets a day.

Configuration, read from the one settings object (the environment): a gated service never
takes it from its caller, or a BD could raise their own lead cap. Jobs and tests that need
other values set the environment (CONSOLE_LEAD_CAP, CONSOLE_ROT_DAYS, ...) as a deployment
does. This module imports only the settings, so every service may import it.
"""
from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field

from console.settings import DEFAULT_ROT_DAYS, get_settings


@dataclass(frozen=True, kw_only=True)
class AgedStockBoost:
    """The aged-stock part of the score (issue 21): managers push the platform's own cars
    that have stood too long. A self-operated listing (``is_self_operated`` with its car in
    inv.stock_cars, not sold) in stock ``d`` days (the Shanghai business day minus its
    purchase date) gets ``points x min(max(d - after_days, 0) / full_days, 1)``: nothing up
    to the threshold, then linearly up to ``points``, reached ``full_days`` days later. Any
    other listing gets 0, and so does every listing while ``points`` is 0 (the default: off).

    Unlike the rest of the policy it is not configuration but a manager's decision, kept in
    ops.match_policy (migration 114) and changed with an audit row
    (console/services/aged_stock_boost.py)."""

    points: float = 0.0
    after_days: int = 60
    full_days: int = 30

    def points_at(self, days_in_stock: int | None, *, self_operated: bool) -> float:
        """The component for a listing, rounded as the scoring SQL stores it (a thousandth
        of a point)."""
        if not self_operated or days_in_stock is None or self.points <= 0:
            return 0.0
        share = min(max(days_in_stock - self.after_days, 0) / self.full_days, 1.0)
        return math.floor(self.points * 1000 * share + 0.5) / 1000   # half up, as SQL's round

    @property
    def on(self) -> bool:
        return self.points > 0


@dataclass(frozen=True, kw_only=True)
class ScorePolicy:
    """How a suggestion is scored (issue 16). One point is 1% of the buyer's maximum price.

    - cost: what the buyer saves against their maximum, per car, on the delivered cost
      (price + freight), continuously and without a cap: ``100 x (max - delivered) / max``.
      Freight per car = rate x road km; road km = ``road_factor`` x great-circle km; the rate
      is the consolidated one, lower for a lot that fills a large carrier (brief section 6).
    - a discount more than ``norm_gap_points`` beyond the series' usual one (ops.series_norms,
      the line the authenticity scan flags at) is suspect: the price counts as if it were at
      the usual discount, and each point beyond the line costs ``norm_penalty_per_point``. It
      lowers the score, never raises it: such a car ranks below an ordinary one. Neither the
      usual discount nor this rule counts parallel imports (no Chinese guide price: migration
      116); an import far below its own price reference is flagged, and so kept out.
    - credit: ``credit_points`` x the grade's value (console/grades.py; unrated: half).
    - response: ``response_points`` x the seller's response rate (Laplace-smoothed).
    - freshness: ``freshness_points`` x 0.5 ** (days since the stock was last confirmed /
      ``freshness_half_life_days``): a gentle decay that never reaches zero.
    - vip: ``vip_weight`` x the seller's VIP tier's match points (console/finance/
      vip_tiers.toml: silver 0.5, gold 1, diamond 1.5); 0 for a non-member, and for everyone
      when the weight is 0 (CONSOLE_MATCH_VIP_WEIGHT, which managers set: 0 turns it off).
    - aged: the aged-stock boost of a self-operated car (``AgedStockBoost``; off by default).
    The trust components are worth a few percent of the price: a buyer pays a little more to
    a seller who answers and has a good grade, not 10% more.
    """

    freight_yuan_per_car_km: float = 1.5
    freight_full_load_cars: int = 8
    freight_full_load_yuan_per_car_km: float = 1.0
    road_factor: float = 1.25
    norm_gap_points: float = 8.0
    norm_penalty_per_point: float = 1.0
    norm_min_sample: int = 5          # listings a series needs to be its own basis (as the scan)
    credit_points: float = 4.0
    response_points: float = 3.0
    freshness_points: float = 2.0
    freshness_half_life_days: float = 7.0
    vip_weight: float = 1.0
    aged_stock: AgedStockBoost = field(default_factory=AgedStockBoost)

    @classmethod
    def from_env(cls) -> ScorePolicy:
        s = get_settings()
        return cls(freight_yuan_per_car_km=s.freight_yuan_per_car_km,
                   freight_full_load_cars=s.freight_full_load_cars,
                   freight_full_load_yuan_per_car_km=s.freight_full_load_yuan_per_car_km,
                   road_factor=s.road_factor, norm_gap_points=s.listing_price_gap_points,
                   vip_weight=s.match_vip_weight)

    def freight_rate(self, cars: int) -> float:
        """Yuan per car and great-circle km for a lot of ``cars`` (road factor included)."""
        per_km = (self.freight_full_load_yuan_per_car_km if cars >= self.freight_full_load_cars
                  else self.freight_yuan_per_car_km)
        return per_km * self.road_factor


@dataclass(frozen=True, kw_only=True)
class MatchPolicy:
    """Matchmaking knobs; ``current()`` gives the configured ones."""

    top_k: int = 5
    lead_cap: int = 20                # open leads per BD person
    lead_idle_hours: int = 48         # untouched this long -> back to the pool
    rot_days: Mapping[str, int] = field(default_factory=lambda: dict(DEFAULT_ROT_DAYS))
    notify_daily_cap: int = 3         # new-match notifications per merchant per day
    quiet_start_hour: int = 22        # quiet hours in Asia/Shanghai: 22:00 ..
    quiet_end_hour: int = 8           # .. 08:00
    score: ScorePolicy = field(default_factory=lambda: ScorePolicy())

    @classmethod
    def from_env(cls) -> MatchPolicy:
        """The policy of the one settings object (read from the environment once)."""
        s = get_settings()
        return cls(top_k=s.match_top_k, lead_cap=s.lead_cap, lead_idle_hours=s.lead_idle_hours,
                   rot_days=s.rot_days, notify_daily_cap=s.notify_daily_cap,
                   score=ScorePolicy.from_env())


def current() -> MatchPolicy:
    """The configured policy."""
    return MatchPolicy.from_env()


def policy_or_default(policy: MatchPolicy | None) -> MatchPolicy:
    """For internal helpers a job may hand a policy: that one, else the configured one."""
    return policy or MatchPolicy.from_env()
