"""Business time. The platform's dates are Shanghai dates whatever the server's time zone: a
server on UTC says "today" is yesterday until 08:00 in Shanghai, so nothing that checks or
proposes a date may use ``date.today()``. (Tests move the clock by replacing ``now``.)"""
from __future__ import annotations

from datetime import date, datetime
from zoneinfo import ZoneInfo

from console.settings import get_settings


def business_tz() -> ZoneInfo:
    return ZoneInfo(get_settings().timezone)


def now() -> datetime:
    """The current instant, in the business time zone."""
    return datetime.now(business_tz())


def today() -> date:
    """Today's date in the business time zone (settings.timezone, Asia/Shanghai)."""
    return now().date()
