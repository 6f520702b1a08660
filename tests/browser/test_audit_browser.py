"""Real browser: an admin opens the audit log, filters it by one person and reads that
person's decision in words, with its note; then verifies the chain on the button."""
from console import db
from console.services import staff
from tests.browser.live import browser_page, choose_option, open_page, sign_in, wait_idle
from tests.conftest import TEST_PASSWORD

SHOT = "/tmp/audit_filtered.png"


def test_the_audit_page_filters_by_person(live_console, engine, make_actor):
    admin = make_actor("admin", username="audit.admin")
    other = make_actor("admin", username="other.admin")
    with db.transaction() as conn:
        new_id = staff.create_staff(conn=conn, actor=admin, username="li.na", display_name="李娜",
                                    password="Quartz-Lantern-8841", roles=["bd"])
    with db.transaction() as conn:
        staff.set_active(conn=conn, actor=other, staff_id=new_id, active=False, reason="已离职")
    with browser_page(height=1200) as page:
        sign_in(page, live_console, admin.username, TEST_PASSWORD)
        open_page(page, "审计日志", page.get_by_role("heading", name="审计日志"))
        page.get_by_text("审计链尚未校验过").wait_for()
        grid = page.locator("[data-testid='stDataFrame']").first
        grid.wait_for()
        page.get_by_text("新建员工账号").first.wait_for(state="attached")
        choose_option(page, page.get_by_label("操作人").first, "OTHER.ADMIN")   # person filter
        page.get_by_role("button", name="筛选", exact=True).click()
        wait_idle(page)
        page.get_by_text("共 1 条").wait_for()
        page.wait_for_timeout(500)
        page.screenshot(path=SHOT)
        # The row's whole content, wrapped, below the table: a click on its row marker (the
        # grid's first column; header and rows 35 px high on a canvas).
        page.get_by_text("点选一行，在下方查看完整的变更内容与说明").wait_for()
        grid = page.locator("[data-testid='stDataFrame']").first
        box = grid.bounding_box()
        page.mouse.click(box["x"] + 16, box["y"] + 35 + 17)
        wait_idle(page)
        detail = page.locator("[data-testid='stTable']").first
        detail.wait_for()
        assert "已离职" in detail.inner_text() and "停用账号" in detail.inner_text()
        # st.dataframe draws on a canvas: read the filtered rows through the audited export
        page.get_by_role("button", name="导出当前筛选结果").click()
        with page.expect_download() as download:
            page.get_by_role("button", name="导出 CSV").click()
        text = open(download.value.path(), encoding="utf-8-sig").read()
        rows = [line for line in text.splitlines()[3:] if line]
        assert len(rows) == 1
        assert "OTHER.ADMIN,停用账号" in rows[0] and rows[0].endswith("已离职")
        page.get_by_role("button", name="立即校验审计链").click()
        page.get_by_text("审计链完整").wait_for()
