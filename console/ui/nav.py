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
    _spec("pages/admin_sso.py", "nav.sso", ":material/key:", "nav.section.admin",
          ("admin",), "sso"),
    _spec("pages/admin_data_quality.py", "nav.data_quality", ":material/fact_check:",
          "nav.section.admin", ("admin", "manager"), "data-quality"),
    _spec("pages/merchant_directory.py", "nav.merchant_directory", ":material/storefront:",
          "nav.section.data", ("bd", "ops", "risk", "manager"), "merchants"),
    _spec("pages/merchant_profile.py", "nav.merchant_profile", ":material/badge:",
          "nav.section.data", ("bd", "ops", "risk", "manager"), "merchant"),
    _spec("pages/vehicle_library.py", "nav.vehicle_library", ":material/directions_car:",
          "nav.section.data", ALL, "vehicles"),
    _spec("pages/mgr_growth.py", "nav.growth", ":material/trending_up:", "nav.section.insight",
          ("manager", "bd"), "growth"),
    _spec("pages/bd_leads.py", "nav.bd_leads", ":material/front_hand:", "nav.section.bd",
          ("bd", "manager"), "leads"),
    _spec("pages/bd_board.py", "nav.bd_board", ":material/view_kanban:", "nav.section.bd",
          ("bd", "manager"), "board"),
    _spec("pages/bd_tasks.py", "nav.bd_tasks", ":material/task_alt:", "nav.section.bd",
          ("bd", "manager"), "tasks"),
    _spec("pages/bd_search.py", "nav.bd_search", ":material/search:", "nav.section.bd",
          ("bd", "manager"), "car-search"),
    _spec("pages/bd_leaderboard.py", "nav.bd_leaderboard", ":material/leaderboard:",
          "nav.section.bd", ("bd", "manager"), "bd-leaderboard"),
    _spec("pages/bd_vip.py", "nav.bd_vip", ":material/workspace_premium:", "nav.section.bd",
          ("bd", "risk", "admin", "manager"), "vip"),
    _spec("pages/ops_cert_queue.py", "nav.ops.cert_queue", ":material/fact_check:",
          "nav.section.ops", ("ops",), "cert-queue"),
    _spec("pages/ops_cert_case.py", "nav.ops.cert_case", ":material/assignment_ind:",
          "nav.section.ops", ("ops",), "cert-case"),
    _spec("pages/ops_listing_review.py", "nav.ops.listing_review", ":material/gpp_maybe:",
          "nav.section.ops", ("ops",), "listing-review"),
    _spec("pages/ops_queue_metrics.py", "nav.ops.queue_metrics", ":material/monitoring:",
          "nav.section.ops", ("ops", "manager"), "queue-metrics"),
    _spec("pages/ops_import_docs.py", "nav.ops.import_docs", ":material/description:",
          "nav.section.ops", ("ops", "manager", "bd"), "import-docs"),
    _spec("pages/risk_grades.py", "nav.risk_grades", ":material/bar_chart:", "nav.section.risk",
          ("risk", "bd", "manager"), "credit-grades"),
    _spec("pages/risk_card.py", "nav.risk_card", ":material/credit_score:", "nav.section.risk",
          ("risk", "bd", "manager"), "rating-card"),
    _spec("pages/risk_overrides.py", "nav.risk_overrides", ":material/approval:",
          "nav.section.risk", ("risk",), "credit-overrides"),
    _spec("pages/risk_lines.py", "nav.risk_lines", ":material/account_balance:",
          "nav.section.risk", ("risk",), "credit-lines"),
    _spec("pages/risk_monitoring.py", "nav.risk_monitoring", ":material/query_stats:",
          "nav.section.risk", ("risk", "manager"), "credit-monitoring"),
    _spec("pages/risk_validation.py", "nav.risk_validation", ":material/fact_check:",
          "nav.section.risk", ("risk", "manager"), "credit-validation"),
    _spec("pages/risk_loan_queue.py", "nav.risk_loan_queue", ":material/request_quote:",
          "nav.section.risk", ("risk", "manager", "bd"), "loan-queue"),
    _spec("pages/risk_loan.py", "nav.risk_loan", ":material/receipt_long:", "nav.section.risk",
          ("risk", "manager", "bd"), "loan"),
    _spec("pages/risk_portfolio.py", "nav.risk_portfolio", ":material/stacked_line_chart:",
          "nav.section.risk", ("risk", "manager"), "loan-portfolio"),
    _spec("pages/risk_disputes.py", "nav.risk_disputes", ":material/gavel:", "nav.section.risk",
          ("risk", "manager"), "disputes"),
    _spec("pages/ops_logistics_queue.py", "nav.lgx_queue", ":material/local_shipping:",
          "nav.section.logistics", ("ops", "manager", "bd"), "logistics"),
    _spec("pages/ops_transport.py", "nav.lgx_transport", ":material/route:",
          "nav.section.logistics", ("ops", "manager", "bd"), "transport"),
    _spec("pages/ops_loads.py", "nav.lgx_loads", ":material/view_week:",
          "nav.section.logistics", ("ops", "manager"), "loads"),
    _spec("pages/ops_carriers.py", "nav.lgx_carriers", ":material/warehouse:",
          "nav.section.logistics", ("ops", "manager"), "carriers"),
    _spec("pages/mgr_logistics.py", "nav.logistics_dashboard", ":material/local_shipping:",
          "nav.section.logistics", ("manager", "ops"), "logistics-dashboard"),
    _spec("pages/ops_stock.py", "nav.stock", ":material/garage:", "nav.section.ops",
          ("ops", "manager"), "stock"),
]


def pages_for(roles: frozenset[str]) -> list[PageSpec]:
    return [p for p in PAGES if p.roles & roles]
