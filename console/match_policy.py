"""The matchmaking policy: how many suggestions, how many leads a person may hold, when a
lead goes back to the pool, when a card rots, how many notices a merchant gets a day.

Configuration, read from the one settings object (the environment): a gated service never
takes it from its caller, or a BD could raise their own lead cap. Jobs and tests that need
other values set the environment (CONSOLE_LEAD_CAP, CONSOLE_ROT_DAYS, ...) as a deployment
does. This module imports only the settings, so every service may import it.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from console.settings import DEFAULT_ROT_DAYS, get_settings


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

    @classmethod
    def from_env(cls) -> MatchPolicy:
        """The policy of the one settings object (read from the environment once)."""
        s = get_settings()
        return cls(top_k=s.match_top_k, lead_cap=s.lead_cap, lead_idle_hours=s.lead_idle_hours,
                   rot_days=s.rot_days, notify_daily_cap=s.notify_daily_cap)


def current() -> MatchPolicy:
    """The configured policy."""
    return MatchPolicy.from_env()


def policy_or_default(policy: MatchPolicy | None) -> MatchPolicy:
    """For internal helpers a job may hand a policy: that one, else the configured one."""
    return policy or MatchPolicy.from_env()
