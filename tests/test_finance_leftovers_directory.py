"""The merchant directory shows the VIP tier in force from the memberships (fin.vip_memberships,
issue 19), as the profile does, not the marketplace's old app.merchants.vip_level number; one
indexed join per page row."""
from __future__ import annotations

from datetime import timedelta

import pandas as pd
import sqlalchemy as sa

from console import clock, db
from console.finance import vip
from console.services import merchants
from console.services.merchants import DirectoryFilters
from tests.apptest import app_as
from tests.test_merchants import world  # noqa: F401  (fixture)

DIRECTORY = "pages/merchant_directory.py"


def membership(conn, merchant_id, tier, *, starts, expires, status="active", by,
               renewed_from=None, ref):
    today = clock.today()
    return conn.execute(sa.text("""
        INSERT INTO fin.vip_memberships (merchant_id, tier, starts_on, expires_on, status,
                                         renewed_from, list_fee, fee_paid, payment_ref,
                                         enrolled_by, lapsed_at)
        VALUES (:m, :t, :s, :e, :st, :rf, 30000, 30000, :ref, :by,
                CASE WHEN :st = 'lapsed' THEN now() END)
        RETURNING id"""), {"m": merchant_id, "t": tier, "s": today + timedelta(days=starts),
                           "e": today + timedelta(days=expires), "st": status,
                           "rf": renewed_from, "ref": ref, "by": by}).scalar_one()


def members(engine, w):
    """m1 gold in force; m2 silver whose last day was yesterday (the lapse not yet swept);
    m3 diamond lapsed; m4 gold but suspended; m5 silver renewed early (the new term starts
    after the old one, which is marked renewed); m6 never a member."""
    by = w["staff"]["bd1"].id
    with engine.begin() as conn:
        membership(conn, w["m1"], "gold", starts=-100, expires=265, by=by, ref="P1")
        membership(conn, w["m2"], "silver", starts=-366, expires=-1, by=by, ref="P2")
        membership(conn, w["m3"], "diamond", starts=-400, expires=-35, status="lapsed", by=by,
                   ref="P3")
        membership(conn, w["m4"], "gold", starts=-10, expires=355, by=by, ref="P4")
        old = membership(conn, w["m5"], "silver", starts=-360, expires=4, status="renewed",
                         by=by, ref="P5")
        membership(conn, w["m5"], "silver", starts=5, expires=369, by=by, renewed_from=old,
                   ref="P6")


def test_the_directory_shows_the_membership_in_force_as_the_profile_does(world, engine):  # noqa: F811
    members(engine, world)
    with engine.begin() as conn:   # the old number says otherwise everywhere: not shown
        conn.execute(sa.text("UPDATE app.merchants SET vip_level = 3"))
    bd = world["staff"]["bd1"]
    with db.connection() as conn:
        page = merchants.search_directory(conn=conn, actor=bd, filters=DirectoryFilters(),
                                          limit=50)
        rows = page.rows.set_index("id")
        assert "vip_level" not in page.rows.columns
        tiers = {k: (None if pd.isna(v) else v) for k, v in rows["vip_tier"].items()}
        assert tiers == {world["m1"]: "gold", world["m2"]: None, world["m3"]: None,
                         world["m4"]: None, world["m5"]: "silver", world["m6"]: None}
        assert rows.loc[world["m4"], "on_hold"] == "suspended"
        # the profile's membership line names the same tier where one is in force
        for m in ("m1", "m5", "m3", "m6"):
            shown = vip.merchant_vip(conn=conn, actor=bd, merchant_id=world[m]).current
            assert (shown.tier if shown else None) == tiers[world[m]], m


def test_the_directory_page_reads_the_tier_in_words(world, engine):  # noqa: F811
    members(engine, world)
    for lang, gold, silver, held, col in (("zh", "金卡", "银卡", "已暂停", "VIP 会员"),
                                          ("en", "Gold", "Silver", "Suspended", "VIP membership")):
        at = app_as(world["staff"]["bd1"], page=DIRECTORY, lang=lang)
        assert not at.exception and not at.error
        table = at.dataframe[0].value
        name = "车商名称" if lang == "zh" else table.columns[1]
        shown = dict(zip(table[name], table[col]))
        assert shown == {"东方汽车贸易": gold, "京华二网车行": "—", "冀中资源": "—",
                         "保定平行进口": held, "石家庄名车": silver, "北方车城": "—"}


def test_the_tier_is_one_indexed_join(world, engine):  # noqa: F811
    members(engine, world)
    sql = merchants._page_sql("true", merchants.SORTS["name"], True)
    with engine.begin() as conn:
        conn.execute(sa.text("SET LOCAL enable_seqscan = off"))
        plan = "\n".join(r[0] for r in conn.execute(
            sa.text("EXPLAIN " + sql), {"limit": 50, "offset": 0, "today": clock.today()}))
    assert "vip_memberships_one_active" in plan
    assert sql.count("fin.vip_memberships") == 1
