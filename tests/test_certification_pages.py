"""AppTest for the trust pages: they render, the buttons work, the catalogue covers them."""
from __future__ import annotations

import pytest
import sqlalchemy as sa

from console import db
from console.i18n import has_key
from console.services import listing_review as lr
from console.services import prechecks
from console.services.certification import KINDS, MERCHANT_TYPES, SORTS, STATUSES
from console.services.listing_review import KINDS as FLAG_KINDS, STATUSES as FLAG_STATUSES

from tests import trust_rows as tr
from tests.apptest import app_as


@pytest.fixture
def seeded(engine):
    """Two open personal cases (one with a bad ID number) and a listing with a bad VIN."""
    c = tr.city(engine)
    m1 = tr.merchant(engine, city_id=c, name="杭州顺达汽车")
    m2 = tr.merchant(engine, city_id=c, name="丽水车行")
    old = tr.cert(engine, merchant_id=m1, age_hours=50, id_number="110105194912310021")
    new = tr.cert(engine, merchant_id=m2, age_hours=2)
    tr.listing(engine, merchant_id=m2, trim_id=tr.trim(engine), city_id=c,
               vin="1M8GDM9A0KP042788")
    with db.transaction() as conn:
        lr.raise_listing_flags(conn=conn, price_gap=50)
    return {"old": old, "new": new}


def texts(at) -> str:
    parts = [e.value for e in at.markdown] + [e.value for e in at.caption] + \
            [e.value for e in at.title] + [e.value for e in at.subheader] + \
            [e.value for e in at.info] + [e.value for e in at.success]
    return "\n".join(str(p) for p in parts)


def test_queue_page_lists_cases_and_next_case_opens_the_oldest(engine, make_actor, seeded):
    ops = make_actor("ops")
    at = app_as(ops, page="pages/ops_cert_queue.py")
    assert not at.exception
    assert at.title[0].value == "认证审核队列"
    table = at.dataframe[0].value
    assert list(table["编号"]) == [seeded["old"], seeded["new"]]
    assert "身份证号校验" in table.iloc[0]["预检未通过"]
    at.button(key="cert_next_case").click().run()
    assert not at.exception
    assert at.title[0].value == f"认证案件 #{seeded['old']}"
    assert tr.value(engine, "SELECT assignee_id FROM app.certifications WHERE id = :id",
                    id=seeded["old"]) == ops.id


def test_case_page_approve_button_decides_and_returns_to_the_queue(engine, make_actor, seeded):
    ops = make_actor("ops")
    with db.transaction() as conn:
        conn.execute(sa.text("UPDATE app.certifications SET assignee_id = :me, status = 'in_review' "
                             "WHERE id = :id"), {"me": ops.id, "id": seeded["new"]})
    at = app_as(ops, page="pages/ops_queue_metrics.py")  # any page, to set the session
    at.session_state["cert_case_id"] = seeded["new"]
    at.switch_page("pages/ops_cert_case.py").run()
    assert not at.exception
    assert "校验位错误" not in texts(at)  # the good case's badges pass
    at.button(key="case_approve").click().run()
    assert not at.exception
    assert at.title[0].value == "认证审核队列"
    assert tr.value(engine, "SELECT status FROM app.certifications WHERE id = :id",
                    id=seeded["new"]) == "approved"
    assert seeded["new"] not in list(at.dataframe[0].value["编号"])


def test_case_page_shows_precheck_failure_and_refuses_a_case_not_held(engine, make_actor,
                                                                      seeded):
    ops = make_actor("ops")
    at = app_as(ops, page="pages/ops_cert_queue.py")
    at.session_state["cert_case_id"] = seeded["old"]
    at.switch_page("pages/ops_cert_case.py").run()
    assert not at.exception
    page = texts(at)
    assert "校验位错误" in page
    assert "case_approve" not in [b.key for b in at.button]  # not mine yet: no decision buttons
    assert "case_assign_me" in [b.key for b in at.button]


def test_listing_review_page_takes_and_clears_a_flag(engine, make_actor, seeded):
    ops = make_actor("ops")
    at = app_as(ops, page="pages/ops_listing_review.py")
    assert not at.exception
    assert at.title[0].value == "车源真实性审核"
    at.button(key="flag_next").click().run()
    assert not at.exception
    assert at.subheader[0].value == "预警 #1：车架号校验失败"
    at.radio(key="flag_decision").set_value("clear").run()
    at.selectbox(key="flag_reason_clear").set_value("vin_verified")
    at.button(key="flag_decide").click().run()
    assert not at.exception
    assert tr.rows(engine, "SELECT status, reason_code FROM ops.listing_flags") == \
        [{"status": "cleared", "reason_code": "vin_verified"}]
    assert tr.value(engine, "SELECT status FROM app.listings") == "live"
    assert "预警 #1 已排除。" in texts(at)


def test_listing_review_page_in_english(engine, make_actor, seeded):
    at = app_as(make_actor("ops"), page="pages/ops_listing_review.py", lang="en")
    assert not at.exception
    assert at.title[0].value == "Listing authenticity review"


def test_metrics_page_renders_for_a_manager(engine, make_actor, seeded):
    at = app_as(make_actor("manager"), page="pages/ops_queue_metrics.py")
    assert not at.exception
    assert at.title[0].value == "审核队列指标"
    assert [m.value for m in at.metric][:2] == ["2", "2"]


def test_ops_pages_refuse_a_bd_user(engine, make_actor, seeded):
    from tests.apptest import page_script_as
    at = page_script_as(make_actor("bd"), "pages/ops_cert_queue.py")
    assert not at.exception
    assert "无权访问" in at.error[0].value


def test_every_label_the_trust_pages_build_is_in_the_catalogue(engine):
    with engine.connect() as conn:
        reasons = [r[0] for r in conn.execute(sa.text("SELECT DISTINCT code FROM ops.review_reasons"))]
        docs = [r[0] for r in conn.execute(sa.text("SELECT code FROM ops.cert_documents"))]
    keys = ([f"trust.reason.{c}" for c in reasons] + [f"trust.doc.{d}" for d in docs]
            + [f"trust.check.{c}" for c in prechecks.ALL_CHECKS + ("none",)]
            + [f"trust.flag_kind.{k}" for k in FLAG_KINDS]
            + [f"trust.flag_status.{s}" for s in FLAG_STATUSES]
            + [f"trust.sort.{s}" for s in list(SORTS) + list(lr.SORTS)]
            + [f"enum.cert_status.{s}" for s in STATUSES] + [f"enum.cert_kind.{k}" for k in KINDS]
            + [f"enum.merchant_type.{m}" for m in MERCHANT_TYPES]
            + [f"trust.action.{a}" for a in ("take_next", "assign", "unassign", "auto_assign",
                                             "snooze", "approved", "rejected", "needs_info",
                                             "confirmed", "cleared")]
            + [f"trust.detail.{d}" for d in ("format", "check_digit", "check_char", "birth_date",
                                             "name_differs", "no_personal_cert", "merchant")])
    assert [k for k in keys if not has_key(k)] == []
