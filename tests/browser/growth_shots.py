"""Screenshots of every tab of the growth page and of the manager's home (issue 15), in zh and
en at 1440x900, on a throw-away demo database after the system jobs ran:
``python -m tests.browser.growth_shots [--out DIR]`` (default /tmp/growth_shots). Also hovers a
KPI card's help icon, so the definition from the metric catalogue shows in a shot."""
from __future__ import annotations

import argparse
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.engine import make_url

from console import db
from tests.browser.live import browser_page, console_server, sign_in, wait_idle
from tests.browser.screenshots import prepare_database

TABS = {"zh": ["转化漏斗", "核心指标", "留存同期群", "供需平衡"],
        "en": ["Funnel", "KPIs", "Cohort retention", "Supply & demand"]}
# Per tab, texts to scroll to for a further shot (Streamlit scrolls inside its own container,
# so a full-page shot is the first screen only).
SCROLL = {"zh": {0: ["流失名单"], 1: ["撮合率与定金率", "定金资金（元）"], 2: ["虚线框"],
                 3: ["只计可撮合的"]},
          "en": {0: ["Who dropped off"], 1: ["Match and deposit rates", "Deposit volume (yuan)"],
                 2: ["Dotted outline"], 3: ["Matchable posts only"]}}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", default="/tmp/growth_shots")
    parser.add_argument("--seed", type=int, default=42)
    args = parser.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    url, name, password = prepare_database("small", args.seed)
    try:
        with console_server(url) as base_url, browser_page() as page:
            sign_in(page, base_url, "shots", password)
            for lang in ("zh", "en"):
                if lang == "en":
                    page.get_by_text("English", exact=True).click()
                    wait_idle(page)
                page.get_by_role("link", name="我的工作台" if lang == "zh" else "My home").click()
                wait_idle(page)
                page.wait_for_timeout(1000)
                page.screenshot(path=str(out / f"home_{lang}.png"), full_page=True)
                page.get_by_role("link", name="增长看板" if lang == "zh" else "Growth dashboard").click()
                wait_idle(page)
                for i, tab in enumerate(TABS[lang]):
                    page.get_by_role("tab", name=tab).click()
                    wait_idle(page)
                    page.wait_for_timeout(2000)      # plotly draws after the run ends
                    page.screenshot(path=str(out / f"growth_{i}_{lang}.png"), full_page=True)
                    for j, text in enumerate(SCROLL[lang].get(i, [])):
                        target = page.get_by_text(text).locator("visible=true").first
                        try:
                            target.scroll_into_view_if_needed(timeout=5000)
                            page.wait_for_timeout(800)
                            page.screenshot(path=str(out / f"growth_{i}_{lang}_s{j}.png"))
                        except Exception as exc:   # a missing text: say so, shoot the rest
                            print(f"no {text!r}: {exc.__class__.__name__}")
                    if i == 1:
                        page.get_by_role("tab", name=tab).scroll_into_view_if_needed()
                        # the match-rate card's definition on hover
                        icons = page.locator("[data-testid='stMetric'] "
                                             "[data-testid='stTooltipHoverTarget'] >> visible=true")
                        if icons.count() >= 5:
                            icons.nth(4).hover(timeout=5000)
                            page.wait_for_timeout(800)
                            page.screenshot(path=str(out / f"growth_hover_{lang}.png"))
                print(f"saved {lang} shots into {out}")
    finally:
        db.get_engine().dispose()
        admin = sa.create_engine(make_url(url).set(database="postgres"), isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


if __name__ == "__main__":
    main()
