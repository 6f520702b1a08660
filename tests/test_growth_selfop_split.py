"""GMV split into self-operated and marketplace (issue 21): a deal on a listing marked
is_self_operated is self-operated, every other deal marketplace.

On the ETL's seed (tests/test_etl.py): hand-computed marts, the two parts adding up to GMV in
every row (and the contract that says so failing when they do not), an incremental run equal
to a full rebuild, and migration 114's backfill giving what the job gives. On the demo data:
the split the growth page shows equals the one an analyst computes from app.orders joined to
app.listings, and the demo's self-operated listings make it non-empty.
"""
from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import pytest
import sqlalchemy as sa

from console import clock, fmt
from console.services import growth
from console.services.growth import GrowthFilters
from console.settings import PROJECT_ROOT
from etl import check_contracts, run_all, run_job
from tests.apptest import app_as
from tests.test_etl import change, q, seed

MARTS = {"mart.daily_kpis": ("day",), "mart.daily_kpis_segment": ("day", "tier_level", "merchant_type"),
         "mart.daily_kpis_brand": ("day", "brand_id")}
SPLIT = ("gmv", "gmv_self_operated", "gmv_marketplace")


def run_sql(engine, sql: str) -> None:
    """Statements without a result (several at once, as the seed's)."""
    with engine.begin() as conn:
        conn.connection.cursor().execute(sql)


@pytest.fixture
def seeded(engine):
    """The ETL seed with listing 2 (BYD, M1's; sold to M2 on 02-15 for 95,000) the platform's own."""
    seed(engine)
    run_sql(engine, "UPDATE app.listings SET is_self_operated = true WHERE id = 2")
    return engine


def split_rows(engine) -> dict[str, list[tuple]]:
    """Every mart row's key and GMV split, in key order."""
    out = {}
    for mart, key in MARTS.items():
        cols = ", ".join((*key, *SPLIT))
        out[mart] = [tuple(r) for r in q(engine, f"SELECT {cols} FROM {mart} ORDER BY {cols}")]
    return out


def not_adding_up(engine) -> list:
    return [(mart, row) for mart, rows in split_rows(engine).items() for row in rows
            if row[-2] + row[-1] != row[-3]]


def test_the_marts_split_gmv_by_hand_and_incrementally_as_a_full_rebuild(seeded):
    assert run_job("daily_kpis", engine=seeded).status == "succeeded"
    money = Decimal
    # 02-15: M2 (tier 4 secondary) buys listing 2, self-operated: all of the day's GMV.
    assert q(seeded, """SELECT gmv, gmv_self_operated, gmv_marketplace FROM mart.daily_kpis_segment
                        WHERE day = '2025-02-15' AND tier_level = 4 AND merchant_type = 'secondary'""") \
        == [(money("95000.00"), money("95000.00"), money("0.00"))]
    assert q(seeded, """SELECT gmv, gmv_self_operated, gmv_marketplace FROM mart.daily_kpis_brand
                        WHERE day = '2025-02-15' AND brand_id = 2""") \
        == [(money("95000.00"), money("95000.00"), money("0.00"))]
    assert q(seeded, "SELECT gmv, gmv_self_operated, gmv_marketplace FROM mart.daily_kpis "
                     "WHERE day = '2025-02-15'") == [(money("95000.00"), money("95000.00"),
                                                       money("0.00"))]
    # The change: M4 buys listing 3 (M3's, not self-operated) on 03-05 for 180,000.
    change(seeded)
    assert run_job("daily_kpis", engine=seeded).status == "succeeded"
    assert q(seeded, "SELECT gmv, gmv_self_operated, gmv_marketplace FROM mart.daily_kpis "
                     "WHERE day = '2025-03-05'") == [(money("180000.00"), money("0.00"),
                                                       money("180000.00"))]
    assert q(seeded, "SELECT sum(gmv), sum(gmv_self_operated), sum(gmv_marketplace) "
                     "FROM mart.daily_kpis") == [(money("275000.00"), money("95000.00"),
                                                  money("180000.00"))]
    assert not_adding_up(seeded) == []
    incremental = split_rows(seeded)
    assert run_job("daily_kpis", engine=seeded, full=True).status == "succeeded"
    assert split_rows(seeded) == incremental


def test_a_listing_made_self_operated_after_its_sale_moves_its_deal_once_the_order_is_read(seeded):
    run_job("daily_kpis", engine=seeded)
    # The split is read with the order, as its brand is: the order's next change carries it.
    run_sql(seeded, "UPDATE app.listings SET is_self_operated = false WHERE id = 2;"
                    "UPDATE app.orders SET updated_at = clock_timestamp() WHERE listing_id = 2")
    run_job("daily_kpis", engine=seeded)
    assert q(seeded, "SELECT gmv_self_operated, gmv_marketplace FROM mart.daily_kpis "
                     "WHERE day = '2025-02-15'") == [(Decimal("0.00"), Decimal("95000.00"))]
    incremental = split_rows(seeded)
    run_job("daily_kpis", engine=seeded, full=True)
    assert split_rows(seeded) == incremental


def test_every_contract_passes_and_a_split_that_does_not_add_up_fails_its_own(seeded):
    results = run_all(engine=seeded)
    assert [(r.job, r.contracts_failed) for r in results if r.contracts_failed] == []
    run_sql(seeded, "UPDATE mart.daily_kpis_brand SET gmv_marketplace = gmv_marketplace + 1 "
                    "WHERE day = '2025-02-15' AND brand_id = 2")
    failed = check_contracts(engine=seeded, names=["daily_kpis"])["daily_kpis"]
    # the row itself, and the brands no longer summing to the platform's day
    assert {"daily_kpis_brand.gmv_split_adds_up", "daily_kpis_brand.brands_sum_to_platform"} \
        <= set(failed)
    assert "daily_kpis.gmv_split_adds_up" not in failed


def test_migration_114_backfills_what_the_job_computes(seeded):
    """A database the job ran on before migration 114: its new columns at their defaults;
    the migration's backfill then gives the split the job's own run gives."""
    change(seeded)
    run_all(engine=seeded)
    want = split_rows(seeded)
    run_sql(seeded, """UPDATE etl.kpi_order_moves SET self_operated = false;
                 UPDATE etl.kpi_segment_days SET gmv_self_operated = 0, gmv_marketplace = 0;
                 UPDATE etl.kpi_brand_days SET gmv_self_operated = 0, gmv_marketplace = 0;
                 UPDATE mart.daily_kpis SET gmv_self_operated = 0, gmv_marketplace = 0;
                 UPDATE mart.daily_kpis_segment SET gmv_self_operated = 0, gmv_marketplace = 0;
                 UPDATE mart.daily_kpis_brand SET gmv_self_operated = 0, gmv_marketplace = 0""")
    text = (PROJECT_ROOT / "sql" / "migrations" / "114_selfop_match_growth.sql").read_text()
    backfill = text[text.index("-- Backfill"):]
    run_sql(seeded, backfill)
    assert split_rows(seeded) == want
    # and the state it leaves carries on: a change, an incremental run, a full rebuild
    run_sql(seeded, "UPDATE app.orders SET amount = amount + 1000, "
                    "updated_at = clock_timestamp() WHERE listing_id = 2")
    run_job("daily_kpis", engine=seeded)
    incremental = split_rows(seeded)
    run_job("daily_kpis", engine=seeded, full=True)
    assert split_rows(seeded) == incremental
    assert not_adding_up(seeded) == []


# ------------------------------------------------------------------ on the demo data

ANALYST_SQL = """
SELECT coalesce(sum(o.amount) FILTER (WHERE l.is_self_operated), 0) AS self_operated,
       coalesce(sum(o.amount) FILTER (WHERE NOT l.is_self_operated), 0) AS marketplace,
       coalesce(sum(o.amount), 0) AS total
FROM app.orders o
JOIN app.listings l ON l.id = o.listing_id
WHERE o.status = 'completed'
  AND (o.completed_at AT TIME ZONE 'Asia/Shanghai')::date BETWEEN :start AND :end
"""


def whole_months() -> tuple[date, date]:
    """The last three complete calendar months before this one (Shanghai)."""
    this_month = clock.today().replace(day=1)
    end = this_month - timedelta(days=1)
    start = (this_month - timedelta(days=80)).replace(day=1)
    return start, end


@pytest.fixture
def demo(demo_engine):
    """The small demo after the ETL ran, and a manager's account on it (make_actor works on
    the ``engine`` fixture's database, which the page would then read)."""
    from console.roles import Actor
    from tests.conftest import TEST_PASSWORD_HASH
    results = run_all(engine=demo_engine)
    assert all(r.status == "succeeded" for r in results), [(r.job, r.error) for r in results]
    with demo_engine.begin() as conn:
        staff_id = conn.execute(sa.text(
            """INSERT INTO ops.staff (username, display_name, password_hash, roles)
               VALUES ('split.manager', '拆分经理', :h, ARRAY['manager']) RETURNING id"""),
            {"h": TEST_PASSWORD_HASH}).scalar_one()
    return demo_engine, Actor(id=staff_id, username="split.manager", display_name="拆分经理",
                              roles=frozenset({"manager"}))


def test_the_page_shows_the_split_an_analyst_computes_from_the_raw_tables(demo):
    engine, manager = demo
    start, end = whole_months()
    with engine.connect() as conn:
        raw = conn.execute(sa.text(ANALYST_SQL), {"start": start, "end": end}).mappings().one()
        report = growth.kpis(conn=conn, actor=manager, grain="month",
                             filters=GrowthFilters(start=start, end=end))
    # the demo's self-operated listings sell: both parts are there
    assert raw["self_operated"] > 0 and raw["marketplace"] > 0
    assert raw["self_operated"] + raw["marketplace"] == raw["total"]
    assert list(report.series["period_start"]) == [start, (start + timedelta(days=32)).replace(day=1),
                                                   (start + timedelta(days=63)).replace(day=1)]
    split = report.gmv_split.set_index("part")["amount"].to_dict()
    assert split == {"self_operated": raw["self_operated"], "marketplace": raw["marketplace"],
                     "total": raw["total"]}

    at = split_page(manager, start, end)
    numbers = dict(self_operated=fmt.yuan(raw["self_operated"], digits=2),
                   self_share=fmt.percent(raw["self_operated"] / raw["total"]),
                   marketplace=fmt.yuan(raw["marketplace"], digits=2),
                   market_share=fmt.percent(raw["marketplace"] / raw["total"]),
                   total=fmt.yuan(raw["total"], digits=2))
    expected = ("图中各期合计：自营 {self_operated}（{self_share}）+ 平台撮合 {marketplace}"
                "（{market_share}）= GMV {total}").format(**numbers)
    assert expected in [c.value for c in at.caption]
    # the compared month's two cards: that month's amounts, in 万元, adding up to its GMV
    last = report.comparison.set_index("metric")["current"]
    assert last["gmv_self_operated"] + last["gmv_marketplace"] == pytest.approx(last["gmv"], abs=0.005)
    cards = {m.label: m.value for m in at.metric}
    assert cards["自营 GMV"] == fmt.wan(last["gmv_self_operated"], lang="zh")
    assert cards["平台撮合 GMV"] == fmt.wan(last["gmv_marketplace"], lang="zh")

    en = split_page(manager, start, end, lang="en")
    assert ("Periods shown: self-operated {self_operated} ({self_share}) + marketplace "
            "{marketplace} ({market_share}) = GMV {total}").format(**numbers) \
        in [c.value for c in en.caption]


def split_page(manager, start: date, end: date, *, lang: str = "zh"):
    """The growth page over whole months by month, the GMV split turned on."""
    at = app_as(manager, page="pages/mgr_growth.py", lang=lang)
    at.date_input(key="g_dates").set_value((start, end)).run()
    at.radio(key="g_grain").set_value("month").run()
    at.toggle(key="g_gmv_split").set_value(True).run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    return at
