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
    assert table.iloc[0]["预检未通过"] == "身份证号"   # short; the case page words it in full
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


# ---------------------------------------------------------------- issue 14: the ops pages
def opened(actor, page: str, query: dict[str, str] | None = None, lang: str = "zh"):
    """The console signed in as ``actor`` on ``page``, opened with ``query`` in the URL."""
    from streamlit.testing.v1 import AppTest

    from tests.apptest import APP
    at = AppTest.from_file(APP, default_timeout=60)
    at.session_state["staff_id"] = actor.id
    at.session_state["lang"] = lang
    at.query_params.update(query or {})
    at.run()
    return at.switch_page(page).run()


def test_a_flag_link_opens_the_flag_with_its_evidence_in_words(engine, make_actor, seeded):
    flag = tr.value(engine, "SELECT id FROM ops.listing_flags")
    at = opened(make_actor("ops"), "pages/ops_listing_review.py", {"flag": str(flag)})
    assert not at.exception and not at.error
    assert at.subheader[0].value == f"预警 #{flag}：车架号校验失败"
    page = texts(at)
    assert ("车架号 1M8GDM9A0KP042788 第 9 位校验位与按 GB 16735 计算的结果不符。" in page)
    assert "按现行规则读取，该车架号校验位仍然错误。" in page
    assert '"problem"' not in page and "{" not in page
    assert f"[#{flag}](/listing-review?flag={flag})" in page
    at = opened(make_actor("ops"), "pages/ops_listing_review.py", {"flag": str(flag)}, "en")
    assert "VIN 1M8GDM9A0KP042788 has a check digit (position 9) that does not match the one " \
           "GB 16735 computes." in texts(at)
    assert "**Price**: ¥180,000" in texts(at)  # an English colon, a yuan price


def test_no_decision_is_preselected_and_a_take_down_needs_a_note(engine, make_actor, seeded):
    ops = make_actor("ops")
    at = app_as(ops, page="pages/ops_listing_review.py")
    at.button(key="flag_next").click().run()
    assert at.radio(key="flag_decision").value is None
    at.button(key="flag_decide").click().run()
    assert not at.exception
    assert [e.value for e in at.error] == ["请先选择一个决定。"]
    at.radio(key="flag_decision").set_value("confirm").run()
    at.selectbox(key="flag_reason_confirm").set_value("vin_fake")
    at.button(key="flag_decide").click().run()
    assert [e.value for e in at.error] == ["确认违规并下架车源时必须填写说明。"]
    assert tr.value(engine, "SELECT status FROM ops.listing_flags") == "in_review"
    assert tr.value(engine, "SELECT status FROM app.listings") == "live"
    at.text_area(key="flag_note").set_value("车架号与行驶证不符")
    at.button(key="flag_decide").click().run()
    assert not at.exception and not at.error
    assert tr.value(engine, "SELECT status FROM app.listings") == "taken_down"
    assert tr.value(engine, "SELECT after->>'note' FROM ops.audit_log "
                            "WHERE action = 'listing_flag.confirmed'") == "车架号与行驶证不符"
    flag = tr.value(engine, "SELECT id FROM ops.listing_flags")
    at = opened(ops, "pages/ops_listing_review.py", {"flag": str(flag)})
    assert f"**{ops.display_name}** · 确认违规：车架号与行驶证不符" in texts(at)   # its timeline


def test_next_refuses_at_the_cap_and_says_how_many_are_held(engine, make_actor, seeded,
                                                            settings_env):
    settings_env(CONSOLE_REVIEW_CAP=1)
    ops = make_actor("ops")
    at = app_as(ops, page="pages/ops_cert_queue.py")
    at.button(key="cert_next_case").click().run()
    assert at.title[0].value == f"认证案件 #{seeded['old']}"
    at.switch_page("pages/ops_cert_queue.py").run()
    at.button(key="cert_next_case").click().run()
    assert [e.value for e in at.error] == [
        "你手上还有 1 项未完成的审核，已达到每人 1 项的上限。请先处理完手上的再领取新的。"]
    assert tr.value(engine, "SELECT count(*) FROM app.certifications WHERE assignee_id = :me",
                    me=ops.id) == 1


def test_decided_cases_show_their_decision_time_not_an_sla_badge(engine, make_actor, seeded):
    with engine.begin() as conn:   # decided three days after it was submitted, 50 h ago
        conn.execute(sa.text("""UPDATE app.certifications SET status = 'approved',
                                decided_at = timestamptz '2026-11-18 10:30+08'
                                WHERE id = :id"""), {"id": seeded["old"]})
    at = app_as(make_actor("ops"), page="pages/ops_cert_queue.py")
    at.multiselect(key="cq_statuses").set_value(["pending", "approved"]).run()
    table = at.dataframe[0].value.set_index("编号")
    assert table.loc[seeded["old"], "时效"] == "✔ 已于 2026-11-18 10:30 决定"
    assert table.loc[seeded["new"], "时效"] == "🟢 正常"
    at = opened(make_actor("ops"), "pages/ops_cert_case.py", {"case": str(seeded["old"])})
    badges = [b.proto.label for b in at.get("badge")] if at.get("badge") else []
    page = texts(at) + "\n".join(badges)
    assert "已于 2026-11-18 10:30 决定" in page and "超 48 小时" not in page


@pytest.fixture
def conflict(engine, seeded):
    """A third merchant's approved ID number submitted again by the second merchant."""
    c = tr.value(engine, "SELECT min(id) FROM app.cities")
    owner = tr.merchant(engine, city_id=c, name="宁波先到车行")
    number = tr.valid_id()
    tr.cert(engine, merchant_id=owner, status="approved", id_number=number)
    case = tr.cert(engine, merchant_id=tr.value(engine, "SELECT max(id) FROM app.merchants "
                                                        "WHERE name = '丽水车行'"),
                   id_number=number, age_hours=3)
    with db.transaction(role="jobs") as conn:
        prechecks.run_prechecks(conn=conn, certification_ids=[case])
    return {"case": case, "owner": owner}


def test_prechecks_read_as_questions_and_a_conflict_is_a_link(engine, make_actor, conflict):
    at = opened(make_actor("ops"), "pages/ops_cert_case.py", {"case": str(conflict["case"])})
    assert not at.exception
    page = texts(at)
    assert "身份证号是否已被其他商户认证？ :red[**是 ✗**]" in page
    assert "身份证号格式与校验位是否正确？ :green[**是 ✓**]" in page
    assert "手机号是否被其他商户使用？ :green[**否 ✓**]" in page
    assert f"冲突商户：[#{conflict['owner']} 宁波先到车行](/merchant?id={conflict['owner']})" in page
    assert "通过" not in "\n".join(m.value for m in at.markdown if "？" in m.value)
    at = opened(make_actor("ops"), "pages/ops_cert_case.py", {"case": str(conflict["case"])},
                "en")
    assert "Is the ID number already certified for another merchant? :red[**Yes ✗**]" in texts(at)
    assert "**Kind**: Personal" in texts(at)   # no full-width colon in English


def test_several_documents_are_requested_at_once_from_the_case_page(engine, make_actor, seeded):
    ops = make_actor("ops")
    with engine.begin() as conn:
        conn.execute(sa.text("UPDATE app.certifications SET assignee_id = :me, "
                             "status = 'in_review', version = 2 WHERE id = :id"),
                     {"me": ops.id, "id": seeded["new"]})
    at = opened(ops, "pages/ops_cert_case.py", {"case": str(seeded["new"])})
    at.multiselect(key="info_docs").set_value(["id_front", "id_in_hand"])
    at.selectbox(key="info_reason").set_value("document_unclear")
    at.text_area(key="info_note").set_value("照片模糊，请重新拍摄")
    at.button[[b.label for b in at.button].index("要求补充材料")].click().run()
    assert not at.exception
    assert tr.rows(engine, "SELECT status, requested_docs FROM app.certifications "
                           "WHERE id = :id", id=seeded["new"]) == [
        {"status": "needs_info", "requested_docs": ["id_front", "id_in_hand"]}]
    assert tr.value(engine, "SELECT reason FROM ops.audit_log "
                            "WHERE action = 'certification.needs_info'") == "照片模糊，请重新拍摄"


def test_the_case_page_shows_the_document_image_with_a_zoom(engine, make_actor, seeded):
    from console.demo import documents
    if documents.cjk_font_path() is None:
        pytest.skip("needs fonts-noto-cjk")
    documents.seed_images(engine)
    at = opened(make_actor("ops"), "pages/ops_cert_case.py", {"case": str(seeded["new"])})
    assert not at.exception
    assert at.select_slider(key=f"zoom_{seeded['new']}_id_front").value == 100
    html = [h.proto.body for h in at.get("html")]
    assert len(html) == 1 and 'src="data:image/jpeg;base64,/9j/' in html[0]
    assert "width:100%" in html[0]
    at.select_slider(key=f"zoom_{seeded['new']}_id_front").set_value(200).run()
    assert "width:200%" in at.get("html")[0].proto.body


def test_queue_metrics_show_rates_as_percentages(engine, make_actor, seeded):
    from console.services import certification as cert
    ops = make_actor("ops")
    for case_id in (seeded["old"], seeded["new"]):
        with db.transaction() as conn:
            cert.assign_case(conn=conn, actor=ops, case_id=case_id, version=1,
                             assignee_id=ops.id)
    with db.transaction() as conn:
        cert.decide(conn=conn, actor=ops, case_id=seeded["old"], version=2, decision="approve")
    with db.transaction() as conn:
        cert.decide(conn=conn, actor=ops, case_id=seeded["new"], version=2, decision="reject",
                    reason_code="other", note="x")
    at = app_as(make_actor("manager"), page="pages/ops_queue_metrics.py")
    assert not at.exception
    approval = at.get("plotly_chart")[1].proto.spec   # approval rate by failed pre-check
    assert '"text":["50.0%"]' in approval.replace(" ", "")
    assert '"tickformat":".0%"' in approval.replace(" ", "")


def test_an_approval_note_is_part_of_the_audit_row(engine, make_actor, seeded):
    ops = make_actor("ops")
    with engine.begin() as conn:
        conn.execute(sa.text("UPDATE app.certifications SET assignee_id = :me, "
                             "status = 'in_review', version = 2 WHERE id = :id"),
                     {"me": ops.id, "id": seeded["new"]})
    at = opened(ops, "pages/ops_cert_case.py", {"case": str(seeded["new"])})
    at.text_area(key="approve_note").set_value("电话核实本人")
    at.button(key="case_approve").click().run()
    assert not at.exception
    assert tr.rows(engine, "SELECT reason, after->>'note' AS note FROM ops.audit_log "
                           "WHERE action = 'certification.approved'") == [
        {"reason": "电话核实本人", "note": "电话核实本人"}]


def test_a_home_tile_link_opens_the_queue_already_filtered(engine, make_actor, seeded):
    ops = make_actor("ops")
    at = opened(ops, "pages/ops_cert_queue.py", {"sla": "late"})
    assert not at.exception and not at.error
    assert list(at.dataframe[0].value["编号"]) == [seeded["old"]]      # only the one over 48 h
    assert at.selectbox(key="cq_age").value == "over48"
    at.selectbox(key="cq_age").set_value("any").run()                # and the person may widen it
    assert list(at.dataframe[0].value["编号"]) == [seeded["old"], seeded["new"]]
    with engine.begin() as conn:
        conn.execute(sa.text("UPDATE app.certifications SET assignee_id = :me, "
                             "status = 'in_review' WHERE id = :id"),
                     {"me": ops.id, "id": seeded["new"]})
    at = opened(ops, "pages/ops_cert_queue.py", {"status": "in_review", "assignee": "me"})
    assert list(at.dataframe[0].value["编号"]) == [seeded["new"]]
    assert (at.radio(key="cq_view").value, at.multiselect(key="cq_statuses").value) == \
        ("me", ["in_review"])
    at = opened(ops, "pages/ops_listing_review.py", {"status": "pending", "assignee": "none"})
    assert not at.exception and not at.error
    assert list(at.dataframe[0].value["编号"]) == [1]
    assert at.radio(key="fq_view").value == "unassigned"
    at = opened(ops, "pages/ops_cert_queue.py", {"sla": "soon"})     # not a filter it knows
    assert [e.value for e in at.error] and not at.exception
