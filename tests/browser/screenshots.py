"""Screenshots of every page for the README: `make screenshots` (or python -m tests.browser.screenshots).

Seeds a throw-away database with demo data and runs the system jobs on it (ETL marts,
matches, credit ratings), creates a one-off account holding every
role (random password, never stored), signs in with Debian's Chromium and saves one PNG
per page into docs/screenshots/.
"""
from __future__ import annotations

import argparse
import secrets
import uuid

import sqlalchemy as sa
from sqlalchemy.engine import make_url

from console import db
from console.auth import hash_password
from console.migrate import migrate
from console.roles import ROLES
from console.i18n import translate
from console.settings import PROJECT_ROOT
from console.ui.nav import PAGES
from tests.browser.live import browser_page, console_server, sign_in, wait_idle

OUT = PROJECT_ROOT / "docs" / "screenshots"


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
    seed(engine=engine, scale=scale, seed=seed_value)
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
                page.get_by_role("button", name="退出登录" if args.lang == "zh" else "Sign out").wait_for()
                wait_idle(page)
                page.wait_for_timeout(1500)  # plotly charts draw after the run ends
                target = OUT / f"{spec.url_path}{'' if args.lang == 'zh' else '_en'}.png"
                page.screenshot(path=str(target), full_page=True)
                print(f"saved {target.relative_to(PROJECT_ROOT)}")
    finally:
        db.get_engine().dispose()
        if name is None:
            return
        admin = sa.create_engine(make_url(url).set(database="postgres"), isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


if __name__ == "__main__":
    main()
