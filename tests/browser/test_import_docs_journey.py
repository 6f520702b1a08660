"""Real browser (issue 21): an ops person opens the import-document queue, sees a parallel
import's three waiting documents there, opens the listing's documents, reads it as
"documents missing" (缺单证) with the three kinds named, approves each with a reason, and sees
the listing read complete (单证齐全) without "documents missing"; the decisions are in the
database and the audit log."""
from datetime import date

import sqlalchemy as sa
from playwright.sync_api import expect

from console.i18n import translate
from tests import trust_rows as rows
from tests.browser.live import browser_page, choose_option, sign_in, wait_idle
from tests.conftest import TEST_PASSWORD

WAITING = ("inspection", "env_disclosure", "conformity")


def zh(key: str, **params) -> str:
    return translate(key, "zh", **params)


def kind(code: str) -> str:
    return zh(f"imports.docs.kind.{code}")


def switch_language(page, name: str) -> None:
    page.locator("[data-testid='stSidebar']").get_by_text(name, exact=True).click()
    page.get_by_role("button", name="Sign out" if name == "English" else "退出登录").wait_for()
    wait_idle(page)


def world(engine, reviewer: int) -> int:
    """A US-market import at Tianjin, a future arrival: its customs declaration approved,
    the three other documents uploaded and waiting."""
    city = rows.city(engine, name="天津市")
    seller = rows.merchant(engine, city_id=city, name="津港平行进口车行",
                           merchant_type="parallel_import")
    listing = rows.listing(engine, merchant_id=seller, trim_id=rows.trim(engine, guide=880_000),
                           city_id=city)
    with engine.begin() as conn:
        conn.execute(sa.text("UPDATE app.listings SET is_parallel_import = true WHERE id = :l"),
                     {"l": listing})
        conn.execute(sa.text("""
            INSERT INTO app.listing_imports (listing_id, market_version, port, availability,
                                             expected_arrival)
            VALUES (:l, 'us', 'tianjin', 'future', :d)"""), {"l": listing, "d": date(2027, 2, 1)})
        conn.execute(sa.text("""
            INSERT INTO app.import_documents (listing_id, doc_kind, doc_ref, uploaded_at, status,
                                              decided_by, decided_at, decision_reason)
            VALUES (:l, 'customs', '020220261234567890', now() - interval '2 days', 'approved',
                    :r, now() - interval '1 day', '关单号与车架号一致')"""),
                     {"l": listing, "r": reviewer})
        for hours, code in enumerate(WAITING, start=5):
            conn.execute(sa.text("""
                INSERT INTO app.import_documents (listing_id, doc_kind, doc_ref, uploaded_at)
                VALUES (:l, :k, :ref, now() - make_interval(hours => :h))"""),
                         {"l": listing, "k": code, "ref": f"REF-{code}", "h": hours})
    return listing


def test_ops_approves_the_waiting_documents_and_the_listing_loses_documents_missing(
        live_console, engine, make_actor):
    ops = make_actor("ops")
    listing = world(engine, make_actor("ops").id)
    missing = zh("imports.listing.docs_missing",
                 kinds="、".join(zh(f"imports.listing.doc.{k}") for k in WAITING))

    with browser_page() as page:
        sign_in(page, live_console, ops.username, TEST_PASSWORD)
        page.goto(f"{live_console}/import-docs")
        page.get_by_role("heading", name=zh("imports.docs.title")).wait_for(timeout=30_000)
        wait_idle(page)
        page.get_by_text(zh("imports.docs.caption", hours=24, cap=10)).wait_for()
        # A filter chosen, then English: the choice stays, in English (it kept its Chinese
        # label, and the view radio lost its choice)
        choose_option(page, page.locator(".st-key-idq_kinds"), kind("inspection"))
        page.locator(".st-key-idq_view").get_by_text(zh("imports.docs.view.unassigned")).click()
        wait_idle(page)
        switch_language(page, "English")
        kinds = page.locator(".st-key-idq_kinds")
        expect(kinds).to_contain_text(translate("imports.docs.kind.inspection", "en"))
        expect(kinds).not_to_contain_text(kind("inspection"))
        expect(page.locator(".st-key-idq_view input[type='radio']:checked")).to_have_count(1)
        expect(page.locator(".st-key-idq_view label").filter(
            has=page.locator("input:checked"))).to_have_text(
            translate("imports.docs.view.unassigned", "en"))
        switch_language(page, "中文")

        page.goto(f"{live_console}/import-docs?listing={listing}")
        heading = zh("imports.docs.case.heading", id=listing, vehicle="")
        page.get_by_role("heading", name=heading.strip(), exact=False).wait_for(timeout=30_000)
        wait_idle(page)
        page.get_by_text(missing).wait_for()
        page.get_by_text(zh("imports.listing.arrival", day="2027-02-01")).wait_for()

        for code in WAITING:
            label = zh("imports.docs.reason_for", kind=kind(code))
            form = page.locator("[data-testid='stForm']").filter(has=page.get_by_label(label))
            # Until the rerun after the last approval ends, its forms may stand beside the
            # previous run's (seen in a clean-clone run): wait for the one form.
            expect(form.get_by_label(label)).to_have_count(1, timeout=30_000)
            form.get_by_label(label).fill(f"{kind(code)}与车辆核对一致")
            form.get_by_role("button", name=zh("imports.docs.approve")).click()
            page.get_by_text(zh("imports.docs.approved", kind=kind(code))).wait_for(
                timeout=30_000)
            wait_idle(page)

        page.get_by_text(zh("imports.docs.now_complete", id=listing)).wait_for()
        page.get_by_text(zh("imports.listing.docs_complete"), exact=True).wait_for()
        assert page.get_by_text(zh("imports.listing.docs_missing", kinds="")).count() == 0
        page.screenshot(path="/tmp/import_docs_journey_done.png", full_page=True)

    assert rows.rows(engine, """
        SELECT doc_kind, status, decided_by = :me AS mine, decision_reason
        FROM app.import_documents WHERE listing_id = :l AND doc_kind <> 'customs'
        ORDER BY uploaded_at DESC""", l=listing, me=ops.id) == [
        {"doc_kind": code, "status": "approved", "mine": True,
         "decision_reason": f"{kind(code)}与车辆核对一致"} for code in WAITING]
    assert rows.value(engine, """
        SELECT string_agg(action || ':' || (after->>'documents_complete'), ' ' ORDER BY id)
        FROM ops.audit_log WHERE actor_id = :me""", me=ops.id) == (
        "import_doc.approve:false import_doc.approve:false import_doc.approve:true")
