"""One typed settings object, read from the environment once."""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent


# Days a deal card may sit in a stage before it is marked rotting.
DEFAULT_ROT_DAYS = {"suggested": 2, "contacted": 3, "negotiating": 7, "deposit_paid": 14}


def _rot_days(raw: str | None) -> dict[str, int]:
    """'contacted=3,negotiating=10' over the defaults; unknown stages are ignored."""
    days = dict(DEFAULT_ROT_DAYS)
    for item in filter(None, (raw or "").split(",")):
        stage, _, value = item.partition("=")
        if stage.strip() in days and value.strip().isdigit():
            days[stage.strip()] = int(value)
    return days


def _hours_per_name(raw: str | None) -> dict[str, int]:
    """'daily_kpis=48,funnel_facts=72' -> {'daily_kpis': 48, 'funnel_facts': 72}; an item
    that is not name=positive whole number is ignored."""
    hours = {}
    for item in filter(None, (raw or "").split(",")):
        name, _, value = item.partition("=")
        if name.strip() and value.strip().isdigit() and int(value) > 0:
            hours[name.strip()] = int(value)
    return hours


def _int(name: str, default: int) -> int:
    raw = os.environ.get(name)
    return int(raw) if raw not in (None, "") else default


@dataclass(frozen=True, kw_only=True)
class Settings:
    # Without DATABASE_URL an embedded PostgreSQL (pgserver) runs in pgdata_dir.
    # DATABASE_URL is the console's (role dh_console); the other roles have their own URL,
    # derived from it (or from the embedded server) when unset: see console/db.py role_url.
    database_url: str | None = None
    jobs_database_url: str | None = None
    migrate_database_url: str | None = None
    readonly_database_url: str | None = None
    pgdata_dir: Path = field(default_factory=lambda: PROJECT_ROOT / ".pgdata")
    statement_timeout_ms: int = 30_000
    # Login policy: five failures lock for 15 minutes; idle sessions expire.
    max_failed_logins: int = 5
    lockout_minutes: int = 15
    session_idle_minutes: int = 30
    # Ended or idle-expired sign-in sessions (ops.staff_sessions) are deleted this many days
    # after they ended, at the next sign-in (console/sessions.py).
    session_retention_days: int = 30
    default_language: str = "zh"
    timezone: str = "Asia/Shanghai"
    # Work-queue policy (Marble's default cap of 10 open cases per reviewer).
    review_cap_per_person: int = 10
    page_size: int = 50
    # Listing authenticity: flag a price more than N points below the series' usual discount.
    listing_price_gap_points: float = 8.0
    # Matchmaking: suggestions kept per request, lead ownership, rot limits, notifications.
    match_top_k: int = 5
    # Weight of the VIP component of match suggestions (x the tier's points; 0 turns it off).
    match_vip_weight: float = 1.0
    lead_cap: int = 20
    lead_idle_hours: int = 48
    rot_days: dict[str, int] = field(default_factory=lambda: dict(DEFAULT_ROT_DAYS))
    notify_daily_cap: int = 3
    # Honest freshness: hours the newest source event behind a job's marts may be old before
    # its badge warns, per ETL job, over console/freshness.py's defaults (unknown jobs ignored).
    freshness_hours: dict[str, int] = field(default_factory=dict)
    # Freight in the match score's delivered cost (brief section 6: consolidated long-haul
    # car carriers cost 1-2 yuan per car-km; road km are 1.2-1.3 x the great-circle km).
    freight_yuan_per_car_km: float = 1.5
    freight_full_load_cars: int = 8              # a lot this large fills a large carrier
    freight_full_load_yuan_per_car_km: float = 1.0
    road_factor: float = 1.25
    # Escrow disputes: a decision over this many yuan needs a second risk officer (four eyes).
    dispute_second_approval_yuan: int = 50_000
    # Credit limits (issue 17; working assumptions): a graded merchant's 订单贷 limit is at most
    # this multiple of its trailing-12-month purchases (0.25 = three months of buying, order
    # loans run 30-90 days); a merchant without a completed deal at most the starter limit.
    credit_limit_multiple: float = 0.25
    credit_starter_limit_yuan: int = 50_000
    # Overrides move a grade at most this many notches; one whose limit exceeds the senior
    # limit needs an approver who also holds the manager role.
    credit_override_max_notches: int = 2
    credit_override_senior_limit_yuan: int = 1_000_000
    # Validation: a merchant is bad when a bad event happens within this many days after its
    # score date.
    credit_label_window_days: int = 60
    # A stored validation report older than this many hours reads as stale (and the
    # scheduled step recomputes it), even when no scoring run came after it.
    credit_validation_max_age_hours: int = 24
    # Order loans (订单贷, issue 19; working assumptions): a loan finances at most this share of
    # the order's amount; above the second-approval amount (yuan) a second risk person
    # approves; open principal paying one seller, and on one brand's cars, is checked against
    # these amounts; an application waits at most this many hours; a loan more than this many
    # days past due is a default; loss given default for the expected loss.
    loan_order_share: str = "0.7"
    loan_second_approval_yuan: int = 500_000
    loan_seller_exposure_yuan: int = 10_000_000
    loan_brand_exposure_yuan: int = 50_000_000
    loan_sla_hours: int = 24
    loan_default_dpd: int = 90
    loan_lgd: float = 0.45
    # The logistics desk (找物流, issue 20; working assumptions from BRIEF.md section 6, each
    # stated in the README): road km = great-circle km between the city centres × the road
    # factor (1.2–1.3 in practice); a truck covers this many road km a day, plus one day each
    # to load and to unload; cars per truck type (大板 8–10, 小板 1–3, single-car truck 1);
    # a carrier's quote above factor × the lane's median per car over the last window days is
    # flagged; requests are proposed as one load when their lanes start and end within the
    # nearby km and their ready-to-wanted-by windows overlap; the merchant pays the carrier's
    # cost plus the margin share.
    logistics_road_factor: float = 1.25
    logistics_km_per_day: int = 550
    logistics_capacity_large: int = 8
    logistics_capacity_small: int = 3
    logistics_quote_high_factor: float = 1.3
    logistics_lane_median_days: int = 90
    logistics_nearby_km: int = 150
    logistics_margin_share: str = "0.08"
    logistics_sla_hours: int = 4
    # Parallel imports' document review (issue 21; README "Parallel imports: documents"): hours
    # a pending import document may wait before it is late ('warn' from half of it).
    import_doc_sla_hours: int = 24
    # Self-operated stock (自营车源, issue 21; working assumptions stated in the README): a car's
    # holding cost a day = its purchase cost × the capital's daily rate (rounded to the fen)
    # + the warehouse's fee per car-day; a car is on the markdown list once its holding cost
    # has eaten this share of its margin at purchase; the suggested asking price of an age
    # band is the asking price at purchase less these points (one per band: 0–30, 31–60,
    # 61–90, 90+ days).
    stock_capital_daily_rate: str = "0.0003"
    stock_warehouse_yuan_per_day: str = "30"
    stock_markdown_share: str = "0.5"
    stock_markdown_points: str = "0,1,2,3"
    # Parallel imports' price reference (issue 21; working assumptions, README "Parallel
    # imports"): the median unit price of the deals of the last window days and the live
    # listings of the same trim and market version; below the minimum count there is none.
    import_price_window_days: int = 90
    import_price_min_count: int = 3
    # Running it as a service (issue 18; README "Running it for real").
    # Reads from a streaming replica when set (the health command reports its lag).
    read_database_url: str | None = None
    # The console's (UI) connection pool per process: pool_size kept open, max_overflow more
    # under a burst; each Streamlit session holds one only while a query runs.
    pool_size: int = 5
    max_overflow: int = 10
    # The jobs have no statement timeout (a full ETL or rematch runs for minutes) but wait at
    # most this long for a lock; migrations likewise, shorter, so an ALTER TABLE queued
    # behind a long staff transaction fails and is retried instead of stalling every page.
    jobs_lock_timeout_ms: int = 60_000
    migrate_lock_timeout_ms: int = 10_000
    # A statement slower than this is logged (statement text only, never its values).
    slow_query_ms: int = 1_000
    # `python -m console health`: unhealthy when the last successful job run is older, or
    # the replica lags more than this.
    health_max_job_age_minutes: int = 60
    health_max_replica_lag_seconds: int = 60
    # Per scheduled job (console/jobs.py's steps), minutes its last success may be old before
    # `health` fails, over health_max_job_age_minutes: e.g. "credit=1500" where credit is
    # scored nightly (names that are no job are ignored).
    health_job_age_minutes: dict[str, int] = field(default_factory=dict)
    # Dashboards read from the replica: their badge marks it stale above this lag.
    replica_stale_seconds: int = 30
    # The JSON logs' level (console/logs.py): debug also writes every service call that only
    # read; info (the default) decisions, jobs and commands; warning refusals and slow
    # statements; error failures.
    log_level: str = "info"
    # Single sign-on through OpenID Connect (console/sso.py; README "Single sign-on"): on when
    # the provider and the five values below are all set, else only password sign-in.
    sso_provider: str | None = None          # keycloak | feishu | dingtalk | wecom | oidc
    sso_metadata_url: str | None = None      # the provider's /.well-known/openid-configuration
    sso_client_id: str | None = None
    sso_client_secret: str | None = None
    sso_redirect_uri: str | None = None      # the console's public address + /oauth2callback
    sso_cookie_secret: str | None = None     # the same in every console process
    sso_scope: str = "openid email profile"
    sso_prompt: str = "select_account"


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    env = os.environ
    return Settings(
        database_url=env.get("DATABASE_URL") or None,
        jobs_database_url=env.get("JOBS_DATABASE_URL") or None,
        migrate_database_url=env.get("MIGRATE_DATABASE_URL") or None,
        readonly_database_url=env.get("READONLY_DATABASE_URL") or None,
        pgdata_dir=Path(env.get("CONSOLE_PGDATA", PROJECT_ROOT / ".pgdata")),
        statement_timeout_ms=_int("CONSOLE_STATEMENT_TIMEOUT_MS", 30_000),
        max_failed_logins=_int("CONSOLE_MAX_FAILED_LOGINS", 5),
        lockout_minutes=_int("CONSOLE_LOCKOUT_MINUTES", 15),
        session_idle_minutes=_int("CONSOLE_SESSION_IDLE_MINUTES", 30),
        session_retention_days=_int("CONSOLE_SESSION_RETENTION_DAYS", 30),
        default_language=env.get("CONSOLE_LANGUAGE", "zh"),
        review_cap_per_person=_int("CONSOLE_REVIEW_CAP", 10),
        page_size=_int("CONSOLE_PAGE_SIZE", 50),
        listing_price_gap_points=float(env.get("CONSOLE_PRICE_GAP_POINTS") or 8.0),
        match_top_k=_int("CONSOLE_MATCH_TOP_K", 5),
        match_vip_weight=float(env.get("CONSOLE_MATCH_VIP_WEIGHT") or 1.0),
        lead_cap=_int("CONSOLE_LEAD_CAP", 20),
        lead_idle_hours=_int("CONSOLE_LEAD_IDLE_HOURS", 48),
        rot_days=_rot_days(env.get("CONSOLE_ROT_DAYS")),
        notify_daily_cap=_int("CONSOLE_NOTIFY_DAILY_CAP", 3),
        freshness_hours=_hours_per_name(env.get("CONSOLE_FRESHNESS_HOURS")),
        freight_yuan_per_car_km=float(env.get("CONSOLE_FREIGHT_YUAN_PER_CAR_KM") or 1.5),
        freight_full_load_cars=_int("CONSOLE_FREIGHT_FULL_LOAD_CARS", 8),
        freight_full_load_yuan_per_car_km=float(env.get("CONSOLE_FREIGHT_FULL_LOAD_YUAN_PER_CAR_KM") or 1.0),
        road_factor=float(env.get("CONSOLE_ROAD_FACTOR") or 1.25),
        dispute_second_approval_yuan=_int("CONSOLE_DISPUTE_SECOND_APPROVAL_YUAN", 50_000),
        credit_limit_multiple=float(env.get("CONSOLE_CREDIT_LIMIT_MULTIPLE") or 0.25),
        credit_starter_limit_yuan=_int("CONSOLE_CREDIT_STARTER_LIMIT_YUAN", 50_000),
        credit_override_max_notches=_int("CONSOLE_CREDIT_OVERRIDE_MAX_NOTCHES", 2),
        credit_override_senior_limit_yuan=_int("CONSOLE_CREDIT_OVERRIDE_SENIOR_LIMIT_YUAN", 1_000_000),
        credit_label_window_days=_int("CONSOLE_CREDIT_LABEL_WINDOW_DAYS", 60),
        credit_validation_max_age_hours=_int("CONSOLE_CREDIT_VALIDATION_MAX_AGE_HOURS", 24),
        loan_order_share=env.get("CONSOLE_LOAN_ORDER_SHARE") or "0.7",
        loan_second_approval_yuan=_int("CONSOLE_LOAN_SECOND_APPROVAL_YUAN", 500_000),
        loan_seller_exposure_yuan=_int("CONSOLE_LOAN_SELLER_EXPOSURE_YUAN", 10_000_000),
        loan_brand_exposure_yuan=_int("CONSOLE_LOAN_BRAND_EXPOSURE_YUAN", 50_000_000),
        loan_sla_hours=_int("CONSOLE_LOAN_SLA_HOURS", 24),
        loan_default_dpd=_int("CONSOLE_LOAN_DEFAULT_DPD", 90),
        loan_lgd=float(env.get("CONSOLE_LOAN_LGD") or 0.45),
        logistics_road_factor=float(env.get("CONSOLE_LOGISTICS_ROAD_FACTOR") or 1.25),
        logistics_km_per_day=_int("CONSOLE_LOGISTICS_KM_PER_DAY", 550),
        logistics_capacity_large=_int("CONSOLE_LOGISTICS_CAPACITY_LARGE", 8),
        logistics_capacity_small=_int("CONSOLE_LOGISTICS_CAPACITY_SMALL", 3),
        logistics_quote_high_factor=float(env.get("CONSOLE_LOGISTICS_QUOTE_HIGH_FACTOR") or 1.3),
        logistics_lane_median_days=_int("CONSOLE_LOGISTICS_LANE_MEDIAN_DAYS", 90),
        logistics_nearby_km=_int("CONSOLE_LOGISTICS_NEARBY_KM", 150),
        logistics_margin_share=env.get("CONSOLE_LOGISTICS_MARGIN_SHARE") or "0.08",
        logistics_sla_hours=_int("CONSOLE_LOGISTICS_SLA_HOURS", 4),
        import_doc_sla_hours=_int("CONSOLE_IMPORT_DOC_SLA_HOURS", 24),
        stock_capital_daily_rate=env.get("CONSOLE_STOCK_CAPITAL_DAILY_RATE") or "0.0003",
        stock_warehouse_yuan_per_day=env.get("CONSOLE_STOCK_WAREHOUSE_YUAN_PER_DAY") or "30",
        stock_markdown_share=env.get("CONSOLE_STOCK_MARKDOWN_SHARE") or "0.5",
        stock_markdown_points=env.get("CONSOLE_STOCK_MARKDOWN_POINTS") or "0,1,2,3",
        import_price_window_days=_int("CONSOLE_IMPORT_PRICE_WINDOW_DAYS", 90),
        import_price_min_count=_int("CONSOLE_IMPORT_PRICE_MIN_COUNT", 3),
        read_database_url=env.get("READ_DATABASE_URL") or None,
        pool_size=_int("CONSOLE_POOL_SIZE", 5),
        max_overflow=_int("CONSOLE_MAX_OVERFLOW", 10),
        jobs_lock_timeout_ms=_int("CONSOLE_JOBS_LOCK_TIMEOUT_MS", 60_000),
        migrate_lock_timeout_ms=_int("CONSOLE_MIGRATE_LOCK_TIMEOUT_MS", 10_000),
        slow_query_ms=_int("CONSOLE_SLOW_QUERY_MS", 1_000),
        health_max_job_age_minutes=_int("CONSOLE_HEALTH_MAX_JOB_AGE_MINUTES", 60),
        health_max_replica_lag_seconds=_int("CONSOLE_HEALTH_MAX_REPLICA_LAG_SECONDS", 60),
        health_job_age_minutes=_hours_per_name(env.get("CONSOLE_HEALTH_JOB_AGE_MINUTES")),
        replica_stale_seconds=_int("CONSOLE_REPLICA_STALE_SECONDS", 30),
        log_level=(env.get("CONSOLE_LOG_LEVEL") or "info").strip().lower(),
        sso_provider=env.get("CONSOLE_SSO_PROVIDER") or None,
        sso_metadata_url=env.get("CONSOLE_SSO_METADATA_URL") or None,
        sso_client_id=env.get("CONSOLE_SSO_CLIENT_ID") or None,
        sso_client_secret=env.get("CONSOLE_SSO_CLIENT_SECRET") or None,
        sso_redirect_uri=env.get("CONSOLE_SSO_REDIRECT_URI") or None,
        sso_cookie_secret=env.get("CONSOLE_SSO_COOKIE_SECRET") or None,
        sso_scope=env.get("CONSOLE_SSO_SCOPE") or "openid email profile",
        sso_prompt=env.get("CONSOLE_SSO_PROMPT") or "select_account",
    )
