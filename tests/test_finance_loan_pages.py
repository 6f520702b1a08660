"""The order-loan pages (pages/risk_loan_queue.py, pages/risk_loan.py) in AppTest: the queue in
words, a risk officer taking, approving and disbursing a loan and recording a repayment from
the loan page, both languages, no placeholder left."""
from __future__ import annotations

from decimal import Decimal as D

import pytest
import sqlalchemy as sa
from streamlit.testing.v1 import AppTest

from console import db
from console.finance import loans, payout
from tests import finance_rows as fr
from tests.apptest import APP
from tests.test_finance_loans import FakeGateway


def opened(actor, page, query=None, lang="zh"):
    at = AppTest.from_file(APP, default_timeout=60)
    at.session_state["staff_id"] = actor.id
    at.session_state["lang"] = lang
    at.query_params.update(query or {})
    at.run()
    return at.switch_page(page).run()


def texts(at) -> str:
    return "\n".join([m.value for m in at.markdown] + [c.value for c in at.caption]
                     + [str(m.value) for m in at.metric] + [s.value for s in at.subheader])


@pytest.fixture
def case(engine, make_actor):
    w = fr.world(engine)
    bd, risk = make_actor("bd"), make_actor("risk")
    order_id = fr.new_order(engine, w, 200_000)
    with db.transaction() as conn:
        app = loans.apply(conn=conn, actor=bd, merchant_id=w["buyer"], order_id=order_id,
                          principal=D("140000.00"), term_days=30, certificate_no="WDZ-PAGE-1")
    return {"w": w, "risk": risk, "loan_id": app.loan_id, "manager": make_actor("manager")}


def status(engine, loan_id):
    with engine.connect() as conn:
        return conn.execute(sa.text("SELECT status, assignee_id, certificate_state FROM fin.loans "
                                    "WHERE id = :id"), {"id": loan_id}).one()


def test_the_queue_shows_the_application_in_words(case):
    for lang, stage in (("zh", "待审批"), ("en", "First approval")):
        at = opened(case["manager"], "pages/risk_loan_queue.py", lang=lang)
        assert not at.exception and not at.error
        frame = at.dataframe[0].value
        assert frame.iloc[0].tolist()[:3] == [case["loan_id"], "正常" if lang == "zh" else "On time",
                                              stage]
        assert "¥140,000.00" in frame.iloc[0].tolist()
        assert "{" not in texts(at)
    # the manager reads; only risk takes cases
    assert [b.label for b in at.button if b.key == "loan_next_case"] == []


def test_a_risk_officer_takes_approves_disburses_and_records_a_repayment(engine, case):
    risk, loan_id = case["risk"], case["loan_id"]
    at = opened(risk, "pages/risk_loan_queue.py")
    at.button(key="loan_next_case").click().run()
    assert not at.exception
    assert status(engine, loan_id)[1] == risk.id
    at = opened(risk, "pages/risk_loan.py", {"loan": str(loan_id)})
    assert not at.exception and not at.error
    page = texts(at)
    assert "审批中" in page and "¥140,000.00" in page and "{" not in page
    at.button(key="FormSubmitter:loan_decide-批准").click().run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    assert status(engine, loan_id)[0] == "approved"
    with payout.use(FakeGateway()) as fake:
        at = opened(risk, "pages/risk_loan.py", {"loan": str(loan_id)})
        at.button(key="loan_disburse").click().run()
        assert not at.exception and not at.error
    assert fake.calls[0]["seller_id"] == case["w"]["seller"]
    assert tuple(status(engine, loan_id)) == ("disbursed", None, "held")
    at = opened(risk, "pages/risk_loan.py", {"loan": str(loan_id)})
    assert "平台质押中" in texts(at)
    at.number_input[0].set_value(1000.0)
    at.text_input[0].set_value("BK-PAGE-1")
    at.button(key="FormSubmitter:loan_repay-记录还款").click().run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT amount, to_principal FROM fin.loan_repayments")).one() \
            == (D("1000.00"), D("1000.00"))    # disbursed today: no interest yet
    at = opened(risk, "pages/risk_loan.py", {"loan": str(loan_id)}, lang="en")
    page = texts(at)
    assert "¥139,000.00" in page and "Held by the platform" in page and "{" not in page
    assert "interest ¥0.00, principal ¥1,000.00 (reference BK-PAGE-1)" in page


def test_a_loan_page_without_a_loan_says_where_to_open_one(case):
    at = opened(case["manager"], "pages/risk_loan.py")
    assert not at.exception
    assert [i.value for i in at.info] == ["请从订单贷审批队列打开一笔贷款。"]
