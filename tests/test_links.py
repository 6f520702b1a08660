"""A URL for every record (console/ui/links.py): the URL each kind gets, the pages that read
their record or filter from the URL, hostile query strings refused in the catalogue's words,
and the home tiles opening their lists already filtered."""
from __future__ import annotations

import pytest
from streamlit.testing.v1 import AppTest

from console.services.home import LINKS
from console.ui import links
from console.ui.nav import PAGES
from tests import trust_rows as tr
from tests.apptest import APP, app_as

URL_PATHS = {spec.url_path for spec in PAGES}


def test_each_record_kind_has_its_url():
    assert {kind: links.record_url(kind, 123) for kind in links.KINDS} == {
        "merchant": "/merchant?id=123",
        "case": "/cert-case?case=123",
        "flag": "/listing-review?flag=123",
        "card": "/board?card=123",
        "request": "/leads?request=123",
        "listing": "/car-search?listing=123",
        "rating": "/rating-card?merchant=123",
        "loan": "/loan?loan=123",
    }
    assert links.record_link("case", 77) == "[#77](/cert-case?case=77)"
    assert links.record_link("merchant", 5, "东方汽车 [4S]") == "[东方汽车 (4S)](/merchant?id=5)"
    assert links.page_url("cert-queue", sla="late", assignee=None) == "/cert-queue?sla=late"


def test_every_link_and_filter_names_a_registered_page():
    assert {k.url_path for k in links.KINDS.values()} <= URL_PATHS
    assert set(links.FILTERS) <= URL_PATHS
    for key, (page, query) in LINKS.items():
        assert page in URL_PATHS, key
        for name, value in query.items():
            assert value in links.FILTERS[page][name], (key, name, value)
    assert links.page_file("cert-case") == "pages/ops_cert_case.py"
    with pytest.raises(ValueError):
        links.record_url("invoice", 1)


@pytest.mark.parametrize("raw, expected", [
    ("1", 1), ("123", 123), (str(2**63 - 1), 2**63 - 1),
    ("0", None), ("-1", None), ("+1", None), ("01", None), (" 1", None), ("1 ", None),
    ("1.0", None), ("1e3", None), ("abc", None), ("", None), ("１２", None),
    (str(2**63), None), ("9" * 40, None), ("1 OR 1=1", None), ("<script>", None), (None, None),
])
def test_an_id_from_the_url_is_a_plain_positive_bigint(raw, expected):
    assert links.parse_id(raw) == expected


@pytest.fixture
def world(engine, make_actor):
    hz = tr.city(engine, name="杭州市", tier=2)
    merchant = tr.merchant(engine, city_id=hz, name="杭州顺达汽车", merchant_type="4s")
    return {"merchant": merchant, "case": tr.cert(engine, merchant_id=merchant),
            "ops": make_actor("ops"), "risk": make_actor("risk"), "bd": make_actor("bd")}


def opened(actor, page: str, query: dict[str, str], lang: str = "zh") -> AppTest:
    """The console as a link opens it: signed in, on ``page``, with ``query`` in the URL."""
    at = AppTest.from_file(APP, default_timeout=60)
    at.session_state["staff_id"] = actor.id
    at.session_state["lang"] = lang
    at.query_params.update(query)
    at.run()
    return at.switch_page(page).run()


def test_a_case_link_opens_the_case(world):
    at = opened(world["ops"], "pages/ops_cert_case.py", {"case": str(world["case"])})
    assert not at.exception and not at.error
    assert at.title[0].value == f"认证案件 #{world['case']}"
    assert at.number_input(key="cert_case_pick").value == world["case"]


def test_a_merchant_link_opens_the_profile(world):
    at = opened(world["bd"], "pages/merchant_profile.py", {"id": str(world["merchant"])})
    assert not at.exception and not at.error
    assert at.header[0].value == "杭州顺达汽车"


def test_a_rating_card_link_opens_the_card(world):
    at = opened(world["risk"], "pages/risk_card.py", {"merchant": str(world["merchant"])}, "en")
    assert not at.exception and not at.error
    assert at.header[0].value == f"杭州顺达汽车 · #{world['merchant']}"


@pytest.mark.parametrize("hostile", ["abc", "-5", "1 OR 1=1", "<script>alert(1)</script>",
                                     "9" * 30, "0"])
@pytest.mark.parametrize("page, param, who, kind", [
    ("pages/ops_cert_case.py", "case", "ops", "认证案件"),
    ("pages/merchant_profile.py", "id", "bd", "商户"),
    ("pages/risk_card.py", "merchant", "risk", "评级卡"),
])
def test_a_hostile_id_is_refused_in_the_catalogues_words(world, page, param, who, kind,
                                                          hostile):
    at = opened(world[who], page, {param: hostile})
    assert not at.exception
    assert [e.value for e in at.error] == [f"链接中的{kind}编号无效，已忽略。请检查链接是否完整。"]
    assert hostile not in " ".join(m.value for m in at.markdown)


def test_home_tiles_open_their_lists_filtered(world, make_actor):
    admin = make_actor("admin", "ops")
    at = app_as(admin)
    assert not at.exception
    targets = [(p.proto.page, dict(p.proto.query_string and [
        kv.split("=") for kv in p.proto.query_string.split("&")] or []))
        for p in at.get("page_link")]
    assert len(targets) == len(at.metric)   # every tile of an ops + admin person has a list
    assert [t[1] for t in targets] == [
        {"status": "pending", "assignee": "none"}, {"status": "in_review", "assignee": "me"},
        {"sla": "late"}, {"status": "pending", "assignee": "none"},
        {"status": "in_review", "assignee": "me"},
        {"status": "active"}, {"status": "locked"}, {"runs": "failed_24h"}]


def test_every_risk_tile_opens_its_list_and_order_loans_count_the_loan_queue(world, engine):
    from tests import finance_rows as fr
    from console.finance import loans
    import sqlalchemy as sa

    # Three applications, through the services: one left applied, one approved (to pay
    # out), one rejected (closed).
    w = fr.world(engine)
    risk = world["risk"]
    with engine.begin() as conn:
        for n in range(3):
            loans.submit(conn=conn, merchant_id=w["buyer"],
                         order_id=fr.new_order(engine, w, amount=100_000 + n),
                         principal=50_000, term_days=30, certificate_no=fr.certificate())
    for decide in ("approve", "reject"):
        with engine.begin() as conn:
            loan_id = loans.next_case(conn=conn, actor=risk)
            version = conn.execute(sa.text("SELECT version FROM fin.loans WHERE id = :i"),
                                   {"i": loan_id}).scalar_one()
            if decide == "approve":
                loans.approve(conn=conn, actor=risk, loan_id=loan_id, version=version,
                              note="核对无误")
            else:
                loans.reject(conn=conn, actor=risk, loan_id=loan_id, version=version,
                             reason="订单金额与合格证不符")
    assert sorted(r[0] for r in engine.connect().execute(sa.text(
        "SELECT status FROM fin.loans"))) == ["applied", "approved", "rejected"]
    at = app_as(world["risk"])
    tiles = {m.label: m.value for m in at.metric}
    assert tiles["在办订单贷"] == "2"
    assert [p.proto.page for p in at.get("page_link")] == [
        "disputes", "loan-queue", "credit-overrides", "credit-overrides"]


def test_the_staff_list_opens_filtered_to_locked_accounts(engine, make_actor):
    import sqlalchemy as sa

    admin = make_actor("admin")
    locked = make_actor("ops", username="locked.one")
    make_actor("bd", username="free.one")
    with engine.begin() as conn:
        conn.execute(sa.text("UPDATE ops.staff SET locked_until = now() + interval '1 hour' "
                             "WHERE id = :id"), {"id": locked.id})
    at = opened(admin, "pages/admin_staff.py", {"status": "locked"})
    assert not at.exception and not at.error
    assert at.dataframe[0].value["用户名"].tolist() == ["locked.one"]
    at = opened(admin, "pages/admin_staff.py", {"status": "everyone'--"})
    assert [e.value for e in at.error] == ["链接中的筛选条件无效，已忽略，显示全部。"]
    assert len(at.dataframe[0].value) == 3


def test_the_override_inbox_opens_on_the_side_a_tile_names(engine, make_actor, tmp_path):
    from datetime import timedelta

    from console.clock import today
    from console.credit import engine as credit_engine
    from console.services import credit
    from tests.test_credit_support import hand_card, merchant

    good = merchant(engine, name="好车商", cert_level="enterprise", disputes_lost=0, avg_stars=4.6)
    weak = merchant(engine, name="弱车商", cert_level="none", disputes_lost=1, avg_stars=4.0)
    with engine.begin() as conn:
        credit_engine.score_all(conn, hand_card(tmp_path))
    alice, bob = make_actor("risk"), make_actor("risk")
    for who, merchant_id in ((alice, weak), (bob, good)):
        with engine.begin() as conn:
            credit.propose_override(conn=conn, actor=who, merchant_id=merchant_id, new_grade="A",
                                    reason_code="guarantee", reason="集团担保",
                                    expires_on=today() + timedelta(days=30))

    def cards(view):
        at = opened(alice, "pages/risk_overrides.py", {"view": view} if view else {})
        assert not at.exception
        return [m.value.split("**")[1] for m in at.markdown if m.value.startswith("**")]

    assert cards("mine") == ["弱车商"]
    assert cards("to_approve") == ["好车商"]
    assert sorted(cards(None)) == ["好车商", "弱车商"]
