"""Credit lines on the pages, as the people who use them: the manual-line page (propose,
approve, a hostile amount, decisions), and the line, used and available on the merchant
profile and the rating card, in both languages."""
from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from streamlit.testing.v1 import AppTest

from console.clock import today
from console.credit import engine as credit_engine
from console.finance import lines
from console.services import credit_lines
from tests.apptest import APP, app_as, page_script_as
from tests.test_credit_support import hand_card, merchant, one, purchase, rows

PAGE = "pages/risk_lines.py"


@pytest.fixture
def weak(engine, tmp_path):
    """A BB merchant (line 500,000) with 200,000 of it used."""
    m = merchant(engine, name="弱车商", cert_level="none", disputes_lost=1, avg_stars=4.0)
    purchase(engine, m, 40_000_000)
    with engine.begin() as conn:
        credit_engine.score_all(conn, hand_card(tmp_path))
        lines.reserve(conn, merchant_id=m, amount=Decimal("200000.00"))
    return m


def opened(actor, page: str, query: dict[str, str], lang: str = "zh") -> AppTest:
    at = AppTest.from_file(APP, default_timeout=60)
    at.session_state["staff_id"] = actor.id
    at.session_state["lang"] = lang
    at.query_params.update(query)
    at.run()
    return at.switch_page(page).run()


def metrics_of(at) -> dict[str, str]:
    return {m.label: m.value for m in at.metric}


def propose(engine, actor, merchant_id, line="80万"):
    with engine.begin() as conn:
        return credit_lines.propose_line(conn=conn, actor=actor, merchant_id=merchant_id,
                                         line=line, reason_code="guarantee", reason="集团担保函",
                                         expires_on=today() + timedelta(days=30))


def test_a_second_officer_approves_on_the_page_and_the_proposer_cannot(engine, make_actor, weak):
    alice, bob = make_actor("risk"), make_actor("risk")
    propose(engine, alice, weak)
    own = app_as(alice, page=PAGE)
    assert not own.exception and not own.error
    assert [b.label for b in own.button if b.label in ("批准", "驳回")] == []
    at = app_as(bob, page=PAGE)
    assert "弱车商" in at.markdown[0].value and "80.00 万元" in at.markdown[0].value
    assert any("当前额度 50.00 万元 · 已用 20.00 万元" in c.value for c in at.caption)
    next(b for b in at.button if b.label == "批准").click().run()
    assert not at.exception and not at.error
    assert [s.value for s in at.success] == ["已批准：人工授信已生效。"]
    with engine.connect() as conn:
        now = lines.current(conn, merchant_id=weak)
    assert (now.line, now.is_manual, now.available) == (Decimal("800000.00"), True,
                                                        Decimal("600000.00"))
    history = at.dataframe[0].value
    assert list(history["人工额度（万元）"]) == ["80.00"] and list(history["状态"]) == ["已批准"]


def test_a_risk_officer_proposes_from_a_link_and_a_hostile_amount_is_refused(engine, make_actor,
                                                                             weak):
    alice = make_actor("risk")
    at = opened(alice, PAGE, {"merchant": str(weak)})
    assert not at.exception and not at.error
    assert metrics_of(at) == {"额度": "50.00 万元", "已用": "20.00 万元", "可用": "30.00 万元"}
    at.text_input[0].set_value("1e30")
    at.text_area[0].set_value("集团担保函已收到")
    at.button[0].click().run()        # the form's submit
    assert [e.value for e in at.error] == [
        "额度格式不对：请输入人民币金额，如 500000、500,000.00、¥500,000、50万 或 50w（最多两位小数，"
        "不能为负数，不能用科学计数法或中文数字）。未做任何更改。"]
    assert one(engine, "SELECT count(*) FROM fin.line_requests") == 0
    at.text_input[0].set_value("１２万")
    at.button[0].click().run()
    assert not at.exception and not at.error
    assert rows(engine, "SELECT line, from_line, status FROM fin.line_requests") == [
        {"line": Decimal("120000.00"), "from_line": Decimal("500000.00"), "status": "proposed"}]


@pytest.mark.parametrize("lang, shown", [
    ("zh", {"额度": "50.00 万元", "已用": "20.00 万元", "可用": "30.00 万元"}),
    ("en", {"Line": "50.00 × 10k CNY", "Used": "20.00 × 10k CNY",
            "Available": "30.00 × 10k CNY"}),
])
def test_the_profile_and_the_rating_card_show_line_used_and_available(engine, make_actor, weak,
                                                                      lang, shown):
    bd = make_actor("bd")
    profile = opened(bd, "pages/merchant_profile.py", {"id": str(weak)}, lang)
    assert not profile.exception and not profile.error
    assert {k: v for k, v in metrics_of(profile).items() if k in shown} == shown
    card = opened(make_actor("risk"), "pages/risk_card.py", {"merchant": str(weak)}, lang)
    assert not card.exception and not card.error
    assert {k: v for k, v in metrics_of(card).items() if k in shown} == shown
    caption = "按评级 BB 核定" if lang == "zh" else "From grade BB"
    assert any(c.value.startswith(caption) for c in card.caption)
    # the risk officer's way to a manual line for this merchant; BD has none
    link = f"(/credit-lines?merchant={weak})"
    assert [m.value for m in card.markdown if link in m.value] == [
        f":material/edit: [{'人工授信' if lang == 'zh' else 'Manual line'}]{link}"]
    assert not [m.value for m in profile.markdown if link in m.value]


def test_the_page_reads_in_english_and_is_for_risk_only(engine, make_actor, weak):
    at = app_as(make_actor("risk"), lang="en", page=PAGE)
    assert not at.exception and not at.error
    assert at.title[0].value == "Manual credit lines"
    # BD reads the line on the profile and the card; the page itself, reached by URL, refuses
    guessed = page_script_as(make_actor("bd"), PAGE)
    assert [e.value for e in guessed.error] == ["无权访问：需要以下角色之一：risk。"]
    assert not guessed.button
