"""Screenshots of every page for the README: `make screenshots` (or python -m tests.browser.screenshots).

Seeds a throw-away database with demo data and runs the system jobs on it (ETL marts,
matches, credit ratings), creates a one-off account holding every
role (random password, never stored), signs in with Debian's Chromium and saves one PNG
per page into docs/screenshots/.
"""
from __future__ import annotations

import argparse
import re
import secrets
import uuid
from urllib.parse import urlparse

import sqlalchemy as sa
from sqlalchemy.engine import make_url

from console import db
from console.auth import hash_password
from console.demo.model import today_anchor
from console.migrate import migrate
from console.roles import ROLES
from console.i18n import translate
from console.settings import PROJECT_ROOT
from console.ui.nav import PAGES
from tests.browser.live import browser_page, console_server, sign_in, wait_idle

OUT = PROJECT_ROOT / "docs" / "screenshots"

# The shooting account holds no cards of its own: pages that open on the person's own work
# are shot on the team's (the radio's words, by catalogue key).
TEAM_VIEW = {"board": ("matching.board.scope_team",)}

# Pages shot with a record open (the page's own link to it, console/ui/links.py), after the
# page list: (file name, url path, query parameter, SQL picking the record, whether to scroll
# to the record's heading, which names it "#id"). A full page load stays signed in (the
# session cookie); the language is switched again after it.
RECORD_SHOTS = [
    # an order loan being repaid: its money, the certificate held, the timeline
    ("loan", "loan", "loan", """
        SELECT l.id FROM fin.loans l JOIN fin.loan_repayments r ON r.loan_id = l.id
        WHERE l.status = 'disbursed' GROUP BY l.id ORDER BY count(*) DESC, l.id LIMIT 1""",
     False),
    # a case with its document image beside the fields, pre-checks that fail first
    ("cert-case", "cert-case", "case", """
        SELECT c.id FROM app.certifications c
        JOIN app.certification_images i ON i.certification_id = c.id
        WHERE c.status IN ('pending', 'in_review')
        ORDER BY (SELECT count(*) FROM ops.cert_prechecks p
                  WHERE p.certification_id = c.id AND p.outcome = 'fail') DESC,
                 c.kind = 'enterprise' DESC, c.id LIMIT 1""", False),
    # a price flag: its evidence in sentences
    ("listing-review", "listing-review", "flag", """
        SELECT id FROM ops.listing_flags WHERE status IN ('pending', 'in_review')
        ORDER BY kind = 'price_below_guide' DESC, id LIMIT 1""", True),
    # an open dispute with both sides' statements, the largest deposit (four eyes)
    ("disputes", "disputes", "dispute", """
        SELECT d.id FROM app.disputes d JOIN app.orders o ON o.id = d.order_id
        WHERE d.status = 'open'
        ORDER BY (SELECT count(DISTINCT s.side) FROM app.dispute_statements s
                  WHERE s.dispute_id = d.id) DESC, o.deposit_amount DESC, d.id LIMIT 1""", True),
    # the logistics desk (issue 20): the queue and the loads as they open (no record: SQL
    # None); a request in transit with its carrier's quotes, claims and timeline; the carrier
    # with the most deliveries, its lanes, rates and score
    ("logistics-queue", "logistics", "", None, False),
    ("logistics-transport", "transport", "request", """
        SELECT r.id FROM lgx.requests r WHERE r.status IN ('in_transit', 'arrived')
        ORDER BY (SELECT count(*) FROM lgx.quotes q WHERE q.request_id = r.id) DESC,
                 (SELECT count(*) FROM lgx.request_events e WHERE e.request_id = r.id) DESC,
                 r.id LIMIT 1""", False),
    ("logistics-loads", "loads", "", None, False),
    ("logistics-carriers", "carriers", "carrier", """
        SELECT carrier_id FROM lgx.requests WHERE status = 'delivered'
        GROUP BY carrier_id ORDER BY count(*) DESC, carrier_id LIMIT 1""", False),
]


def record_id(url: str, sql: str) -> int | None:
    engine = db.make_engine(url)
    try:
        with engine.connect() as conn:
            return conn.execute(sa.text(sql)).scalar()
    finally:
        engine.dispose()


def prepare_database(scale: str, seed_value: int) -> tuple[str, str, str]:
    from console.demo import seed

    base = make_url(db.database_url())
    name = f"shots_{uuid.uuid4().hex[:8]}"
    admin = sa.create_engine(base.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    url = base.set(database=name).render_as_string(hide_password=False)
    engine = db.make_engine(url)
    db.set_default_engine(engine)
    migrate(engine=engine)
    seed(engine=engine, scale=scale, seed=seed_value, anchor=today_anchor())
    from console import jobs     # the marts, matches and ratings a running console has
    jobs.run_all(engine=engine, echo=lambda _: None)
    password = secrets.token_urlsafe(16)
    with engine.begin() as conn:
        conn.execute(sa.text("""INSERT INTO ops.staff (username, display_name, password_hash, roles)
                                VALUES ('shots', '截图', :h, :r)"""),
                     {"h": hash_password(password), "r": list(ROLES)})
    return url, name, password


def use_existing_database() -> tuple[str, None, str]:
    password = secrets.token_urlsafe(16)
    with db.transaction() as conn:
        conn.execute(sa.text("""INSERT INTO ops.staff (username, display_name, password_hash, roles)
                                VALUES ('shots', '截图', :h, :r)
                                ON CONFLICT (username) DO UPDATE SET password_hash = :h,
                                    roles = :r, is_active = true, locked_until = NULL"""),
                     {"h": hash_password(password), "r": list(ROLES)})
    return db.database_url(), None, password


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--scale", default="small")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--lang", default="zh")
    parser.add_argument("--existing", action="store_true",
                        help="shoot the database DATABASE_URL / CONSOLE_PGDATA names instead of "
                             "seeding a throw-away one (adds an all-roles account 'shots')")
    parser.add_argument("pages", nargs="*", help="only these pages (url paths, e.g. growth)")
    args = parser.parse_args()
    specs = [p for p in PAGES if not args.pages or p.url_path in args.pages]
    if args.existing:
        url, name, password = use_existing_database()
    else:
        url, name, password = prepare_database(args.scale, args.seed)
    OUT.mkdir(parents=True, exist_ok=True)
    try:
        with console_server(url) as base_url, browser_page() as page:
            sign_in(page, base_url, "shots", password)
            if args.lang == "en":
                page.get_by_text("English", exact=True).click()
                wait_idle(page)
            for spec in specs:
                # A full page load would start a new, signed-out Streamlit session:
                # navigate the way a person does, through the sidebar.
                page.get_by_role("link", name=translate(spec.title_key, args.lang)).click()
                # the click's run, not the last page's; the first (default) page is also at "/"
                paths = {spec.url_path} | ({""} if spec is PAGES[0] else set())
                page.wait_for_url(lambda u, paths=paths: urlparse(u).path.strip("/") in paths)
                page.get_by_role("button", name="退出登录" if args.lang == "zh" else "Sign out").wait_for()
                wait_idle(page)
                for key in TEAM_VIEW.get(spec.url_path, ()):
                    page.get_by_text(translate(key, args.lang), exact=True).click()
                    wait_idle(page)
                page.wait_for_timeout(1500)  # plotly charts draw after the run ends
                target = OUT / f"{spec.url_path}{'' if args.lang == 'zh' else '_en'}.png"
                page.screenshot(path=str(target), full_page=True)
                print(f"saved {target.relative_to(PROJECT_ROOT)}")
            for shot, url_path, param, sql, scroll in RECORD_SHOTS:
                if args.pages and url_path not in args.pages:
                    continue
                found = record_id(url, sql) if sql is not None else ""
                if found is None:
                    print(f"no record for {shot}: left as it is")
                    continue
                page.goto(f"{base_url}/{url_path}" + (f"?{param}={found}" if sql else ""))
                # The account keeps its language (a full load opens in the one picked last)
                page.get_by_role("button", name=re.compile("退出登录|Sign out")).wait_for(
                    timeout=30_000)
                wait_idle(page)
                if args.lang == "en" and page.get_by_text("English", exact=True).is_visible():
                    page.get_by_text("English", exact=True).click()
                    page.get_by_role("button", name="Sign out").wait_for()
                    wait_idle(page)
                page.mouse.move(720, 1)   # off the sidebar: no hovered entry in the shot
                if scroll:
                    page.get_by_role("heading").filter(has_text=f"#{found}").last.evaluate(
                        "el => el.scrollIntoView({block: 'start'})")
                page.wait_for_timeout(1500)
                target = OUT / f"{shot}{'' if args.lang == 'zh' else '_en'}.png"
                page.screenshot(path=str(target), full_page=True)
                print(f"saved {target.relative_to(PROJECT_ROOT)} ({param}={found})")
    finally:
        db.get_engine().dispose()
        if name is None:
            return
        admin = sa.create_engine(make_url(url).set(database="postgres"), isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


if __name__ == "__main__":
    main()
