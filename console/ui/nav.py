"""The page registry: which page exists, under which section, for which roles.

The navigation shows each person only the pages of their roles. Services check roles
again, so a page reached some other way still refuses.
"""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class PageSpec:
    path: str          # file under pages/
    title_key: str     # catalogue key of the title
    icon: str
    section: str       # catalogue key of the section
    roles: frozenset[str]
    url_path: str


def _spec(path, title_key, icon, section, roles, url_path) -> PageSpec:
    return PageSpec(path, title_key, icon, section, frozenset(roles), url_path)


ALL = ("ops", "bd", "risk", "manager", "admin")

PAGES: list[PageSpec] = [
    _spec("pages/home.py", "nav.home", ":material/home:", "nav.section.work", ALL, "home"),
    _spec("pages/admin_staff.py", "nav.staff", ":material/group:", "nav.section.admin",
          ("admin",), "staff"),
    _spec("pages/admin_audit.py", "nav.audit", ":material/history:", "nav.section.admin",
          ("admin", "manager"), "audit"),
    _spec("pages/merchant_directory.py", "nav.merchant_directory", ":material/storefront:",
          "nav.section.data", ("bd", "ops", "risk", "manager"), "merchants"),
    _spec("pages/merchant_profile.py", "nav.merchant_profile", ":material/badge:",
          "nav.section.data", ("bd", "ops", "risk", "manager"), "merchant"),
    _spec("pages/vehicle_library.py", "nav.vehicle_library", ":material/directions_car:",
          "nav.section.data", ALL, "vehicles"),
    _spec("pages/mgr_growth.py", "nav.growth", ":material/trending_up:", "nav.section.insight",
          ("manager", "bd"), "growth"),
]


def pages_for(roles: frozenset[str]) -> list[PageSpec]:
    return [p for p in PAGES if p.roles & roles]
