"""The audit log in words (issue #14): names, actions and changed fields in both languages,
filters, paging, an audited and neutralised export, every action code with a label, and the
chain verified on request instead of on every load."""
from __future__ import annotations

import csv
import io
import re
from datetime import date, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa

from console import clock, db
from console.errors import InvalidInput, PermissionDenied
from console.i18n import has_key
from console.services import audit_log, staff
from console.services.audit_log import AuditFilters
from console.settings import PROJECT_ROOT
from tests.apptest import page_script_as

# ---------------------------------------------------------------- every code has words
# Action codes built at run time, and what they expand to. A new f-string or indirection
# in a write_audit/audited_csv call fails the test until it is listed here (and labelled).
QUEUE_ACTIONS = ("take_next", "assign", "unassign", "snooze", "auto_assign", "note")
DYNAMIC = {
    'f"{q.entity_type}.take_next"': [f"{q}.take_next" for q in ("certification", "listing_flag")],
    'f"{q.entity_type}.assign"': [f"{q}.assign" for q in ("certification", "listing_flag")],
    'f"{q.entity_type}.unassign"': [f"{q}.unassign" for q in ("certification", "listing_flag")],
    'f"{q.entity_type}.snooze"': [f"{q}.snooze" for q in ("certification", "listing_flag")],
    'f"{q.entity_type}.auto_assign"': [f"{q}.auto_assign" for q in ("certification", "listing_flag")],
    'f"{q.entity_type}.note"': [f"{q}.note" for q in ("certification", "listing_flag")],
    'f"certification.{status}"': ["certification.approved", "certification.rejected",
                                  "certification.needs_info"],
    'f"listing_flag.{status}"': ["listing_flag.confirmed", "listing_flag.cleared"],
    # passed through: the caller's own literal is collected where it is written
    "action": [], 'row["action"]': [], 'action or f"{export}.export"': [],
}
SOURCES = [p for d in ("console", "etl", "pages") for p in (PROJECT_ROOT / d).rglob("*.py")]
_ACTION_ARG = re.compile(r"\baction=([^,\n]+?)(?=,\s*(?:entity_type|entity_id|\n)|\)|,\s*$)", re.M)
_LITERAL = re.compile(r'(?<![f\w])"([a-z_]+(?:\.[a-z_]+)+)"')
_SQL_ACTION = re.compile(r"INSERT INTO ops\.audit_log[^;]*?SELECT[^;]*?'([a-z_]+(?:\.[a-z_]+)+)'", re.S)
_EXPORT_CALL = re.compile(r"audited_csv\((.*?)\)\n", re.S)


def written_action_codes() -> set[str]:
    codes: set[str] = set()
    for path in SOURCES:
        text = path.read_text(encoding="utf-8")
        if "write_audit(" not in text and "audited_csv(" not in text and "ops.audit_log" not in text:
            continue
        if path.name in ("audit.py", "exports.py") and path.parent.name == "console":
            continue   # the writers themselves
        for match in _ACTION_ARG.finditer(text):
            expr = match.group(1).strip()
            if expr in ('"store_true"', '"append"') or path.parent.name == "pages":
                continue   # argparse, not an audit row
            literals = _LITERAL.findall(expr)
            if expr in DYNAMIC:
                codes.update(DYNAMIC[expr])
            elif literals and "{" not in expr:
                codes.update(literals)
            else:
                raise AssertionError(f"{path}: action={expr}: list its codes in DYNAMIC")
        for call in _EXPORT_CALL.findall(text):
            if "action=" not in call and "export=" in call:
                codes.add(re.search(r'export="([a-z_]+)"', call).group(1) + ".export")
        codes.update(_SQL_ACTION.findall(text))
    return codes


def test_the_scan_finds_the_codes_it_should():
    codes = written_action_codes()
    # one of each way a code is written: literal, conditional, queue f-string, decision
    # f-string, export default, SQL
    assert {"match.move", "staff.enable", "staff.disable", "certification.take_next",
            "listing_flag.cleared", "credit_ratings.export", "lead.auto_return",
            "audit.verify", "audit.export"} <= codes
    assert len(codes) >= 55


def test_every_action_code_written_in_the_source_has_words_in_both_languages():
    missing = sorted(c for c in written_action_codes() if not has_key(f"audit.action.{c}"))
    assert missing == [], f"label these in console/i18n/catalogue/audit.toml: {missing}"


def test_an_unknown_code_shows_as_itself():
    assert audit_log.action_label("made.up", "zh") == "made.up"
    assert audit_log.action_label("match.move", "zh") == "移动交易卡片"
    assert audit_log.action_label("match.move", "en") == "Deal card moved"
    assert audit_log.field_label("made_up", "en") == "made_up"


def test_changed_fields_read_as_words():
    names = {7: "王芳"}
    zh = audit_log.changes_text(
        {"assignee_id": None, "status": "in_review"},
        {"assignee_id": 7, "status": "approved", "expires_at": "2027-03-01T00:00:00+08:00",
         "superseded": [3, 4], "is_active": False, "roles": ["bd", "manager"],
         "next_action_at": "2026-12-04T07:03:27+00:00"}, lang="zh", staff=names)
    assert zh == ("处理人：— → 王芳；状态：审核中 → 已通过；有效至：2027-02-28；"
                  "取代的调整：#3, #4；启用：否；角色：BD、管理层；下一步时间：2026-12-04 15:03")
    en = audit_log.changes_text({"stage": "contacted"}, {"stage": "lost", "lost_note": "price"},
                                lang="en", staff=names)
    assert en == "Stage: Contacted → Lost; Lost note: price"
    assert "{" not in zh and "None" not in zh and "+08:00" not in zh


# ---------------------------------------------------------------- the log, filtered
@pytest.fixture
def logged(engine, make_actor):
    """Two admins' staff decisions: creations, a role change with its reason, a disable."""
    admin = make_actor("admin", username="audit.admin")
    other = make_actor("admin", username="other.admin")
    with db.transaction() as conn:
        a = staff.create_staff(conn=conn, actor=admin, username="li.na", display_name="李娜",
                               password="Quartz-Lantern-8841", roles=["bd"])
        b = staff.create_staff(conn=conn, actor=admin, username="zhao.lei",
                               display_name="=HYPERLINK(\"x\")", password="Quartz-Lantern-8842",
                               roles=["ops"])
    with db.transaction() as conn:
        staff.set_roles(conn=conn, actor=admin, staff_id=a, roles=["bd", "manager"],
                        reason="升任组长")
    with db.transaction() as conn:
        staff.set_active(conn=conn, actor=other, staff_id=b, active=False, reason="已离职")
    return {"admin": admin, "other": other, "a": a, "b": b}


def search(actor, filters=AuditFilters(), **kw):
    with db.connection() as conn:
        return audit_log.search_audit(conn=conn, actor=actor, filters=filters, **kw)


def count(actor, filters=AuditFilters()):
    with db.connection() as conn:
        return audit_log.count_audit(conn=conn, actor=actor, filters=filters)


def test_rows_carry_names_actions_changes_and_the_note_in_both_languages(logged):
    rows = search(logged["admin"], lang="zh")
    assert rows[["actor", "action", "record", "changes", "reason"]].values.tolist() == [
        ["OTHER.ADMIN", "停用账号", f'员工账号 #{logged["b"]} =HYPERLINK("x")', "启用：是 → 否", "已离职"],
        ["AUDIT.ADMIN", "修改角色", f"员工账号 #{logged['a']} 李娜", "角色：BD → BD、管理层", "升任组长"],
        ["AUDIT.ADMIN", "新建员工账号", f'员工账号 #{logged["b"]} =HYPERLINK("x")',
         '角色：运营；用户名：zhao.lei；姓名：=HYPERLINK("x")', "—"],
        ["AUDIT.ADMIN", "新建员工账号", f"员工账号 #{logged['a']} 李娜",
         "角色：BD；用户名：li.na；姓名：李娜", "—"],
    ]
    assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d", rows["at"][0])
    en = search(logged["admin"], lang="en")
    assert en[["action", "record", "changes"]].values.tolist()[:2] == [
        ["Account disabled", f'Staff account #{logged["b"]} =HYPERLINK("x")', "Active: yes → no"],
        ["Roles changed", f"Staff account #{logged['a']} 李娜", "Roles: BD → BD, Manager"]]


def test_filters_by_person_action_record_and_days(logged):
    admin, other = logged["admin"], logged["other"]
    assert search(admin, AuditFilters(actor_id=other.id))["action"].tolist() == ["停用账号"]
    assert count(admin, AuditFilters(actor_id=admin.id)) == 3
    assert search(admin, AuditFilters(action="staff.create"))["record"].tolist() == [
        f'员工账号 #{logged["b"]} =HYPERLINK("x")', f"员工账号 #{logged['a']} 李娜"]
    by_record = AuditFilters(entity_type="staff", entity_id=f"#{logged['a']}")
    assert search(admin, by_record)["action"].tolist() == ["修改角色", "新建员工账号"]
    today = clock.today()
    assert count(admin, AuditFilters(date_from=today, date_to=today)) == 4
    assert count(admin, AuditFilters(date_to=today - timedelta(days=1))) == 0
    assert count(admin, AuditFilters(date_from=today + timedelta(days=1))) == 0
    with pytest.raises(InvalidInput) as err:
        count(admin, AuditFilters(date_from=today, date_to=today - timedelta(days=1)))
    assert err.value.key == "audit.error.date_order"


def test_pages_follow_each_other_without_overlap(logged):
    first = search(logged["admin"], offset=0, limit=3)["id"].tolist()
    second = search(logged["admin"], offset=3, limit=3)["id"].tolist()
    assert len(first) == 3 and len(second) == 1 and not set(first) & set(second)
    assert first + second == sorted(first + second, reverse=True)


def test_the_export_is_worded_neutralised_and_audited(logged, engine):
    admin = logged["admin"]
    with db.transaction() as conn:
        data = audit_log.export_audit(conn=conn, actor=admin,
                                      filters=AuditFilters(action="staff.create"), lang="zh")
    text = data.decode("utf-8-sig")
    lines = list(csv.reader(io.StringIO(text)))
    assert lines[0] == ["# 导出人=AUDIT.ADMIN", "行数=2"]
    assert lines[1] == ["# filters", "action=staff.create"]
    assert lines[2] == ["编号", "时间", "操作人", "操作", "记录", "变更内容", "说明"]
    assert [r[3] for r in lines[3:]] == ["新建员工账号", "新建员工账号"]
    # (jsonb keeps its keys shortest first)
    assert lines[3][5] == '角色：运营；用户名：zhao.lei；姓名：=HYPERLINK("x")'
    with engine.connect() as conn:
        row = conn.execute(sa.text(
            """SELECT actor_id, action, entity_type, after FROM ops.audit_log
               ORDER BY id DESC LIMIT 1""")).one()
    assert row == (admin.id, "audit.export", "audit_log",
                   {"filters": {"action": "staff.create"}, "rows": 2})
    assert search(admin, lang="en")["action"][0] == "Audit log exported"


def test_a_cell_that_starts_like_a_formula_is_neutralised_in_the_export(engine, make_actor):
    admin = make_actor("admin")
    with db.transaction() as conn:
        staff.create_staff(conn=conn, actor=admin, username="eq.one", display_name="@SUM(1)",
                           password="Quartz-Lantern-8843", roles=["bd"])
    with db.transaction() as conn:   # the note a spreadsheet would evaluate
        staff.set_active(conn=conn, actor=admin,
                         staff_id=conn.execute(sa.text("SELECT id FROM ops.staff WHERE username='eq.one'")).scalar_one(),
                         active=False, reason="=1+1")
    with db.transaction() as conn:
        data = audit_log.export_audit(conn=conn, actor=admin, filters=AuditFilters(), lang="en")
    lines = list(csv.reader(io.StringIO(data.decode("utf-8-sig"))))
    assert lines[3][6] == "'=1+1"


def test_only_admins_and_managers_read_the_log(logged, make_actor):
    for role in ("ops", "bd", "risk"):
        with pytest.raises(PermissionDenied):
            search(make_actor(role))
    assert len(search(make_actor("manager"))) == 4


# ---------------------------------------------------------------- the chain, on request
def test_a_verification_is_run_on_request_and_remembered(logged, engine):
    admin = logged["admin"]
    with db.connection() as conn:
        assert audit_log.last_verification(conn=conn, actor=admin) is None
    with db.transaction() as conn:
        report = audit_log.verify_now(conn=conn, actor=admin)
    assert (report.intact, report.rows) == (True, 4)
    with db.connection() as conn:
        last = audit_log.last_verification(conn=conn, actor=admin)
    assert (last.report.intact, last.report.rows, last.by) == (True, 4, "AUDIT.ADMIN")
    assert last.report.head_hash == report.head_hash
    with engine.begin() as conn:   # a superuser edits a row
        conn.execute(sa.text("SET LOCAL session_replication_role = replica"))
        conn.execute(sa.text("UPDATE ops.audit_log SET reason = 'x' WHERE reason = '升任组长'"))
    with db.transaction() as conn:
        audit_log.verify_now(conn=conn, actor=admin)
    with db.connection() as conn:
        last = audit_log.last_verification(conn=conn, actor=admin)
    assert last.report.broken.kind == "edited" and last.report.broken.chain_seq == 3


def test_the_page_shows_words_and_verifies_only_on_the_button(logged, make_actor):
    manager = make_actor("manager")
    at = page_script_as(manager, "pages/admin_audit.py", lang="en")
    assert not at.exception and not at.error
    assert at.info[0].value.startswith("The chain has not been verified yet.")
    table = at.dataframe[0].value
    assert list(table.columns) == ["No.", "Time", "By", "Action", "Record", "Changes", "Note"]
    assert table["Action"].tolist() == ["Account disabled", "Roles changed",
                                        "Staff account created", "Staff account created"]
    at.button(key="audit_verify").click().run()
    assert at.success[0].value.startswith("Audit chain intact: 4 rows, verified at ")
    assert "+08:00" not in at.success[0].value
    # the verification is remembered: a new load shows it without recomputing
    at = page_script_as(manager, "pages/admin_audit.py", lang="zh")
    assert at.success[0].value.startswith("审计链完整：共 4 条记录")
    assert at.caption[0].value.startswith("上次校验由 MANAGER")
    assert at.dataframe[0].value["操作"].tolist()[0] == "校验审计链"


def test_the_page_filters_by_person(logged, make_actor):
    manager = make_actor("manager")
    at = page_script_as(manager, "pages/admin_audit.py", lang="zh")
    at.selectbox[0].select(logged["other"].id)
    at.button[1].click().run()   # 筛选 (the form's submit)
    assert not at.exception and not at.error
    table = at.dataframe[0].value
    assert table[["操作人", "操作", "说明"]].values.tolist() == [["OTHER.ADMIN", "停用账号", "已离职"]]


def test_a_merchant_record_carries_its_name_and_the_status_in_words(engine, make_actor):
    from console.services import merchants
    from tests import trust_rows
    m = trust_rows.merchant(engine, city_id=trust_rows.city(engine), name="京四汽车")
    ops, manager = make_actor("ops"), make_actor("manager")
    with db.transaction() as conn:
        merchants.suspend_merchant(conn=conn, actor=ops, merchant_id=m, reason_code="other",
                                   note="多次虚假报价", expected_version=1)
    [row] = search(manager, AuditFilters(entity_type="merchant", entity_id=str(m))).to_dict("records")
    assert (row["actor"], row["action"], row["record"], row["changes"], row["reason"]) == (
        "OPS1", "暂停商户", f"商户 #{m} 京四汽车", "状态：正常 → 已暂停", "other: 多次虚假报价")


def test_forged_filters_are_refused_with_the_catalogues_words(logged):
    for forged, key in ((AuditFilters(date_from=date(1990, 1, 1)), "input.date"),
                        (AuditFilters(entity_id="x" * 200), "input.text"),
                        (AuditFilters(actor_id=0), "input.id")):
        with pytest.raises(InvalidInput) as err:
            search(logged["admin"], forged)
        assert err.value.key == key
        assert has_key(err.value.key)
