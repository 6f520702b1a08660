"""BD follows the order-loan applications they filed (issue 19's leftovers): the queue and the
loan page show a BD person their own applications and nothing else, read-only, with the
borrower's ID number masked; the scope is the service's, on the roles read back from the
database, not the page hiding rows."""
from __future__ import annotations

from dataclasses import replace
from decimal import Decimal as D

import pytest
import sqlalchemy as sa
from streamlit.testing.v1 import AppTest

from console import db
from console.errors import NotFound, PermissionDenied
from console.finance import loans
from tests import finance_rows as fr
from tests import trust_rows as tr
from tests.apptest import APP

ID_NUMBER = tr.valid_id(4242)


def run(fn, **kw):
    with db.transaction() as conn:
        return fn(conn=conn, **kw)


def apply(engine, w, actor, *, principal="140000.00", cert=None):
    order_id = fr.new_order(engine, w, 200_000)
    return run(loans.apply, actor=actor, merchant_id=w["buyer"], order_id=order_id,
               principal=D(principal), term_days=30, certificate_no=cert or fr.certificate())


def version(engine, loan_id):
    with engine.connect() as conn:
        return conn.execute(sa.text("SELECT version FROM fin.loans WHERE id = :id"),
                            {"id": loan_id}).scalar()


@pytest.fixture
def desk(engine, make_actor):
    """Two BD people and a risk officer; bd1 filed two applications (one rejected since),
    bd2 one, risk one; the borrower has a contact, a phone and an approved personal
    certification."""
    w = fr.world(engine)
    with engine.begin() as conn:
        conn.execute(sa.text("UPDATE app.merchants SET contact_name = '王芳', phone = '13912345678' "
                             "WHERE id = :m"), {"m": w["buyer"]})
    tr.cert(engine, merchant_id=w["buyer"], status="approved", id_number=ID_NUMBER)
    people = {"bd1": make_actor("bd"), "bd2": make_actor("bd"), "risk": make_actor("risk"),
              "risk2": make_actor("risk"), "manager": make_actor("manager")}
    a = apply(engine, w, people["bd1"])
    b = apply(engine, w, people["bd1"], principal="50000.00")
    c = apply(engine, w, people["bd2"], principal="60000.00")
    d = apply(engine, w, people["risk2"], principal="30000.00")
    taken = run(loans.next_case, actor=people["risk"])
    assert taken == a.loan_id
    run(loans.reject, actor=people["risk"], loan_id=a.loan_id, version=version(engine, a.loan_id),
        reason="资料不全")
    return {"w": w, **people, "ids": {"a": a.loan_id, "b": b.loan_id, "c": c.loan_id,
                                      "d": d.loan_id}}


def ids(page) -> list[int]:
    return [int(i) for i in page.rows["id"]]


def test_bd_sees_only_the_applications_they_filed_in_every_view(desk):
    i = desk["ids"]
    filed = run(loans.list_queue, actor=desk["bd1"], view="filed")
    # newest first, the rejected one too, as its status
    assert ids(filed) == [i["b"], i["a"]] and filed.total == 2
    assert filed.rows["stage"].tolist() == ["first_approval", "closed"]
    assert filed.rows["sla"].tolist()[1] is None and filed.rows["sla"].tolist()[0] == "ok"
    open_ = run(loans.list_queue, actor=desk["bd1"], view="open")
    assert ids(open_) == [i["b"]] and open_.total == 1
    # a view that is not a filer's still shows nothing but theirs
    for view in ("unassigned", "mine", "second", "to_disburse"):
        assert set(ids(run(loans.list_queue, actor=desk["bd1"], view=view))) <= {i["a"], i["b"]}
    assert ids(run(loans.list_queue, actor=desk["bd2"], view="filed")) == [i["c"]]
    # risk and managers see every application still
    assert ids(run(loans.list_queue, actor=desk["manager"], view="open")) == [i["b"], i["c"], i["d"]]
    assert ids(run(loans.list_queue, actor=desk["risk2"], view="filed")) == [i["d"]]
    assert loans.views_for(desk["bd1"]) == ("filed", "open")
    assert loans.views_for(desk["risk"]) == loans.QUEUE_VIEWS
    assert loans.views_for(desk["manager"]) == ("open", "mine", "unassigned", "second",
                                                "to_disburse")


def test_the_scope_follows_the_roles_in_the_database_not_the_callers_claim(desk, engine):
    # bd1's own account claiming risk and manager: the gate reads bd back, the scope holds
    forged = replace(desk["bd1"], roles=frozenset({"bd", "risk", "manager"}))
    assert ids(run(loans.list_queue, actor=forged, view="open")) == [desk["ids"]["b"]]
    with pytest.raises(NotFound):
        run(loans.get_loan, actor=forged, loan_id=desk["ids"]["c"])
    # and once bd1 holds risk in the database, every application shows
    with engine.begin() as conn:
        conn.execute(sa.text("UPDATE ops.staff SET roles = '{bd,risk}' WHERE id = :s"),
                     {"s": desk["bd1"].id})
    assert len(ids(run(loans.list_queue, actor=desk["bd1"], view="open"))) == 3


def test_the_loan_page_data_for_bd_masks_the_id_number_and_hides_others_loans(desk):
    i = desk["ids"]
    mine = run(loans.get_loan, actor=desk["bd1"], loan_id=i["b"]).loan
    # BD phones merchants (the phone shows), the ID number is masked as everywhere for BD
    assert (mine["borrower_contact"], mine["borrower_phone"], mine["borrower_id_number"]) == (
        "王芳", "13912345678", ID_NUMBER[:3] + "*" * 11 + ID_NUMBER[-4:])
    risk = run(loans.get_loan, actor=desk["risk"], loan_id=i["b"]).loan
    assert (risk["borrower_phone"], risk["borrower_id_number"]) == ("13912345678", ID_NUMBER)
    manager = run(loans.get_loan, actor=desk["manager"], loan_id=i["b"]).loan
    assert (manager["borrower_phone"], manager["borrower_id_number"]) == (
        "139****5678", ID_NUMBER[:3] + "*" * 11 + ID_NUMBER[-4:])
    for other in (i["c"], i["d"]):
        with pytest.raises(NotFound) as err:
            run(loans.get_loan, actor=desk["bd1"], loan_id=other)
        assert err.value.key == "finance.loans.error.not_found"


def test_the_service_refuses_bd_decisions_and_changes_nothing(desk, engine):
    i, bd = desk["ids"], desk["bd1"]
    before = fr.counts(engine, desk["w"]["buyer"])
    v = version(engine, i["b"])
    for fn, kw in ((loans.next_case, {}),
                   (loans.assign_case, {"loan_id": i["b"], "version": v, "assignee_id": bd.id}),
                   (loans.approve, {"loan_id": i["b"], "version": v}),
                   (loans.reject, {"loan_id": i["b"], "version": v, "reason": "不批"}),
                   (loans.disburse, {"loan_id": i["b"], "version": v})):
        with pytest.raises(PermissionDenied) as err:
            run(fn, actor=bd, **kw)
        assert err.value.key == "error.role_required"
    # another BD's application is not theirs to withdraw either
    with pytest.raises(NotFound):
        run(loans.cancel, actor=bd, loan_id=i["c"], version=version(engine, i["c"]),
            reason="买方撤回")
    assert fr.counts(engine, desk["w"]["buyer"]) == before
    # their own, yes (the buyer withdrew)
    run(loans.cancel, actor=bd, loan_id=i["b"], version=v, reason="买方撤回")
    assert run(loans.get_loan, actor=bd, loan_id=i["b"]).loan["status"] == "cancelled"


def opened(actor, page, query=None, lang="zh"):
    at = AppTest.from_file(APP, default_timeout=60)
    at.session_state["staff_id"] = actor.id
    at.session_state["lang"] = lang
    at.query_params.update(query or {})
    at.run()
    return at.switch_page(page).run()


def texts(at) -> str:
    return "\n".join([m.value for m in at.markdown] + [c.value for c in at.caption]
                     + [str(m.value) for m in at.metric] + [s.value for s in at.subheader]
                     + [x.value for x in at.info])


def test_bd_opens_the_queue_and_the_loan_page_read_only(desk):
    from console.ui.nav import PAGES
    roles = {p.url_path: p.roles for p in PAGES}
    assert "bd" in roles["loan-queue"] and "bd" in roles["loan"]
    i, bd = desk["ids"], desk["bd1"]
    for lang, words in (("zh", ("我提交的", "待审批", "已拒绝", "只显示你提交的")),
                        ("en", ("Filed by me", "First approval", "Rejected", "Only the order"))):
        at = opened(bd, "pages/risk_loan_queue.py", lang=lang)
        assert not at.exception and not at.error, [e.value for e in at.error]
        frame = at.dataframe[0].value
        assert frame.iloc[:, 0].tolist() == [i["b"], i["a"]]
        assert frame.iloc[:, 2].tolist() == list(words[1:3])
        assert frame.iloc[1, 1] == "—"                         # decided: no SLA
        assert [o for o in at.radio[0].options] == [words[0], "全部在途" if lang == "zh" else "All open"]
        assert words[3] in texts(at) and "{" not in texts(at)
        assert [b for b in at.button if b.key == "loan_next_case"] == []
    at = opened(bd, "pages/risk_loan.py", {"loan": str(i["b"])})
    assert not at.exception and not at.error
    page = texts(at)
    assert "借款商户联系人 王芳 · 电话 13912345678 · 身份证号 " + ID_NUMBER[:3] + "*" * 11 \
        + ID_NUMBER[-4:] in page
    assert ID_NUMBER not in page
    assert [b.key for b in at.button if b.key in ("loan_take", "loan_disburse")] == []
    assert not any("loan_decide" in (b.key or "") for b in at.button)
    # another BD's loan by its link: not found, nothing of it shown
    at = opened(bd, "pages/risk_loan.py", {"loan": str(i["c"])})
    assert not at.exception
    assert "找不到这笔订单贷。" in [e.value for e in at.error]
    assert "¥60,000.00" not in texts(at)
