"""The VIP page (pages/bd_vip.py) as BD and risk use it, in both languages."""
from __future__ import annotations

from datetime import timedelta

import pytest
import sqlalchemy as sa

from console import clock
from console.finance import vip
from streamlit.testing.v1 import AppTest

from tests.apptest import APP, app_as
from tests.test_credit_support import rows
from tests.test_finance_vip import _shift, call, set_grade, world  # noqa: F401 - the fixture
from tests.test_vip_fees import members  # noqa: F401 - the fixture


def _members(engine):
    return rows(engine, "SELECT merchant_id, tier, status, fee_paid FROM fin.vip_memberships ORDER BY id")


def _texts(at) -> str:
    return "\n".join([*(e.value for e in at.info), *(e.value for e in at.warning),
                      *(e.value for e in at.error), *(e.value for e in at.success),
                      *(c.value for c in at.caption)])


def test_bd_sees_members_the_follow_up_reasons_and_enrols(engine, console_engine, make_actor, world):
    bd = make_actor("bd")
    gold = call(console_engine, vip.enrol, actor=bd, merchant_id=world["金牌车商"], tier="gold",
                fee_paid="19800", payment_ref="PG-1")
    _shift(engine, gold.id, expires_on=clock.today() + timedelta(days=12))
    set_grade(engine, world["金牌车商"], "A")
    at = app_as(bd, page="pages/bd_vip.py")
    assert not at.exception
    assert [m.value for m in at.metric][:4] == ["0", "1", "0", "1"]  # silver, gold, diamond, to follow
    frames = [d.value for d in at.dataframe]
    follow = next(f for f in frames if "跟进原因" in f.columns)
    end = (clock.today() + timedelta(days=12)).isoformat()
    assert follow["跟进原因"].tolist() == [f"12 天后到期（{end}） · 当前信用等级 A，低于金卡要求的 AA"]
    assert follow["会员等级"].tolist() == ["金卡"]

    # enrol 钻石车商 as diamond from the form
    at.number_input(key="vip_enrol_merchant").set_value(world["钻石车商"]).run()
    assert "钻石车商：当前信用等级 AAA，可开通 银卡 / 金卡 / 钻石卡。" in _texts(at)
    at.selectbox[0].select_index(2)              # diamond
    at.text_input[0].set_value("３９８００")          # full-width digits: refused, nothing written
    at.text_input[1].set_value("PG-2")
    at.button[0].click().run()
    assert "实收会费请填写半角数字金额" in _texts(at)
    assert len(_members(engine)) == 1
    at.text_input[0].set_value("39,800")
    at.button[0].click().run()
    assert not at.exception
    today = clock.today()
    assert (f"已开通钻石卡会员，有效期 {today.isoformat()} 至 {vip.term_end(today).isoformat()}。"
            in _texts(at))
    assert _members(engine)[-1]["tier"] == "diamond"
    assert [m.value for m in at.metric][:4] == ["0", "1", "1", "1"]


def test_the_page_in_english(engine, make_actor, world):
    at = app_as(make_actor("bd"), lang="en", page="pages/bd_vip.py")
    assert not at.exception
    assert at.title[0].value == "VIP membership"
    assert [tab.label for tab in at.tabs] == ["Members", "Follow-up", "Enrol", "Renew",
                                                "Fee discounts"]
    assert "No members in force." in _texts(at)
    # (no widget is changed here: AppTest formats a select box's options in Chinese outside
    # the script run, so a rerun of an English page with one fails in the test, not the page)


@pytest.mark.parametrize("lang, header, names", [
    ("zh", ["会员等级", "年费", "最低信用等级", "曝光加权", "匹配加分", "定金服务费折扣", "会员数",
            "在期会费合计"], ["银卡", "金卡", "钻石卡"]),
    ("en", ["Tier", "Annual fee", "Lowest grade", "Exposure", "Match points",
            "Deposit fee discount", "Members", "Fees of terms in force"],
     ["Silver", "Gold", "Diamond"]),
])
def test_the_tiers_table_shows_each_tiers_fee_and_benefits(engine, console_engine, make_actor,
                                                           world, lang, header, names):
    """The issue's benefits as the page states them: listing exposure, the match score's
    points and the escrow service fee's discount, beside the fee and the lowest grade."""
    bd = make_actor("bd")
    call(console_engine, vip.enrol, actor=bd, merchant_id=world["金牌车商"], tier="gold",
         fee_paid="18800", payment_ref="PT-1")
    at = app_as(bd, lang=lang, page="pages/bd_vip.py")
    assert not at.exception
    tiers = next(d.value for d in at.dataframe if header[3] in d.value.columns)
    assert list(tiers.columns) == header
    assert tiers.values.tolist() == [
        [names[0], "¥9,800", "A", "×1.2", "0.5", "10.0%", "0", "¥0"],
        [names[1], "¥19,800", "AA", "×1.5", "1.0", "20.0%", "1", "¥18,800"],
        [names[2], "¥39,800", "AAA", "×2.0", "1.5", "30.0%", "0", "¥0"],
    ]


def test_an_ineligible_merchant_is_refused_in_words(engine, make_actor, world):
    at = app_as(make_actor("bd"), page="pages/bd_vip.py")
    at.number_input(key="vip_enrol_merchant").set_value(world["普通车商"]).run()
    at.text_input[0].set_value("9800")
    at.text_input[1].set_value("ZH-1")
    at.button[0].click().run()
    assert "普通车商 当前信用等级为 BBB，评分卡规定 A 级及以上才可开通会员。" in _texts(at)
    assert _members(engine) == []


def test_risk_reads_and_cancels_but_has_no_enrol_form(engine, console_engine, make_actor, world):
    bd, risk = make_actor("bd"), make_actor("risk")
    m = call(console_engine, vip.enrol, actor=bd, merchant_id=world["银牌车商"], tier="silver",
             fee_paid="9800", payment_ref="RC-1")
    at = app_as(risk, page="pages/bd_vip.py")
    assert not at.exception
    assert [tab.label for tab in at.tabs] == ["在册会员", "跟进清单", "取消会员", "服务费折扣核对"]
    at.text_area[0].set_value("商户申请退出，已退款")
    at.button[0].click().run()
    assert "已取消该会员。" in _texts(at)
    assert rows(engine, "SELECT status, cancel_reason FROM fin.vip_memberships WHERE id = :i",
                i=m.id) == [{"status": "cancelled", "cancel_reason": "商户申请退出，已退款"}]
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM ops.audit_log WHERE action = 'vip.cancel'")
                            ).scalar() == 1


def test_the_merchant_profile_shows_the_membership(engine, console_engine, make_actor, world):
    bd, ops = make_actor("bd"), make_actor("ops")
    m = call(console_engine, vip.enrol, actor=bd, merchant_id=world["金牌车商"], tier="gold",
             fee_paid="19800", payment_ref="PR-1")
    at = app_as(ops, page="pages/merchant_profile.py")
    at.number_input(key="profile_merchant_pick").set_value(world["金牌车商"]).run()
    assert not at.exception
    line = f"会员：金卡会员 · 有效期 {m.starts_on.isoformat()} 至 {m.expires_on.isoformat()}"
    assert any(line in c.value for c in at.caption), [c.value for c in at.caption]
    # the one VIP on the page: not the marketplace's old vip_level number beside it
    assert not any("VIP" in c.value for c in at.caption), [c.value for c in at.caption]
    at.number_input(key="profile_merchant_pick").set_value(world["银牌车商"]).run()
    assert any("会员：非会员 · 可开通：银卡" in c.value for c in at.caption)


def test_bd_renews_early_from_the_page_and_the_new_term_starts_after_the_old_end(
        engine, console_engine, make_actor, world):
    bd = make_actor("bd")
    m = call(console_engine, vip.enrol, actor=bd, merchant_id=world["银牌车商"], tier="silver",
             fee_paid="9800", payment_ref="PRN-1")
    end = clock.today() + timedelta(days=10)
    _shift(engine, m.id, expires_on=end)
    start = end + timedelta(days=1)
    at = app_as(bd, page="pages/bd_vip.py")
    assert f"新一期从 {start.isoformat()} 起，至 {vip.term_end(start).isoformat()} 止。" in _texts(at)
    fee_inputs = [w for w in at.text_input if w.label == "实收会费（元）"]
    ref_inputs = [w for w in at.text_input if w.label == "收款凭证号"]
    fee_inputs[1].set_value("9800")          # the renew form's (the enrol form's comes first)
    ref_inputs[1].set_value("PRN-2")
    next(b for b in at.button if b.label == "续费一年").click().run()
    assert not at.exception
    assert f"已续费，新一期 {start.isoformat()} 至 {vip.term_end(start).isoformat()}。" in _texts(at)
    assert [(r["status"]) for r in _members(engine)] == ["renewed", "active"]


def fee_tab(actor, *, lang: str) -> AppTest:
    """/vip with the fee tab's window on every term from the first run. (AppTest formats a
    selectbox's options outside the run, in Chinese, so picking one in English fails.)"""
    at = AppTest.from_file(APP, default_timeout=60)
    at.session_state["staff_id"] = actor.id
    at.session_state["lang"] = lang
    at.session_state["vip_fee_window"] = 0
    at.run()
    return at.switch_page("pages/bd_vip.py").run()


def test_the_fee_tab_lists_what_members_were_overcharged_in_both_languages(members, make_actor):
    at = fee_tab(make_actor("risk"), lang="zh")
    assert not at.exception
    assert [m.value for m in at.metric][4:] == ["5", "¥270.00", "3", "¥170.00"]
    assert ("3 笔会员订单的服务费高于等级折扣后应收。已收取的多收部分合计应退 ¥170.00。"
            "1 笔尚未收取，应在成交收取前更正。") in _texts(at)
    over = next(d.value for d in at.dataframe if "已收服务费" in d.value.columns)
    assert over["商户"].tolist() == ["金牌车商", "金牌车商", "银牌车商"]
    assert over["会员等级"].tolist() == ["金卡", "金卡", "银卡"]
    assert over["多计金额"].tolist() == ["¥120.00", "¥120.00", "¥50.00"]
    assert over["应退金额"].tolist() == ["¥120.00", "¥0.00", "¥50.00"]
    assert over["定金支付日"].tolist() == ["2026-05-10", "2026-12-31", "2026-05-31"]
    terms = next(d.value for d in at.dataframe if "已减免" in d.value.columns)
    assert terms[["商户", "定金笔数", "已减免", "多计金额", "应退金额"]].values.tolist() == [
        ["金牌车商", "4", "¥270.00", "¥240.00", "¥120.00"],
        ["银牌车商", "1", "¥0.00", "¥50.00", "¥50.00"]]
    assert "大B 0.3%、小b 0.5%" in _texts(at)
    at = fee_tab(make_actor("manager"), lang="en")
    assert not at.exception
    assert ("Member orders carrying more than the tier's fee: 3. Refund ¥170.00 collected over "
            "it. Correct the fee on 1 not collected yet before the deal completes.") in _texts(at)
    assert [tab.label for tab in at.tabs][-1] == "Fee discounts"
