"""Every CSV export: formula cells neutralised (OWASP CSV injection), and one audit row each.

On the demo data every merchant is renamed to one of a formula-cell corpus (as a dealer could
name its company); the growth drop-offs, the merchant directory and the credit list are
exported as staff would, and no cell of any of them may start as a formula. Each export
writes exactly one audit row saying who exported what, with which filters, and how many rows.
"""
from __future__ import annotations

import csv
import io
from datetime import date
from decimal import Decimal

import pandas as pd
import pytest
import sqlalchemy as sa

import etl
from console import clock, db
from console.credit import engine as credit_engine
from console.credit.scorecard import DEFAULT_CONFIG, load
from console.exports import audited_csv, csv_bytes, neutralise
from console.services import credit, growth, merchants
from tests.conftest import TEST_PASSWORD_HASH

FORMULAS = ['=HYPERLINK("http://x")', "+1+1", "-2+3", "@SUM(A1)", "\t=1", "\r=1"]
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


# ---------------------------------------------------------------- the function itself
def test_text_cells_get_a_quote_numbers_stay_numbers():
    frame = pd.DataFrame({"name": FORMULAS + ["普通车行", "-5"],
                          "loan_limit": [Decimal("-5.00")] * 8,
                          "score": [-12] * 8})
    lines = csv_bytes(frame, preamble=[["# filters", "name==x"]]).decode("utf-8-sig")
    rows = list(csv.reader(io.StringIO(lines)))
    assert rows[0] == ["# filters", "name==x"]
    assert rows[1] == ["name", "loan_limit", "score"]
    assert [r[0] for r in rows[2:]] == ["'" + f for f in FORMULAS] + ["普通车行", "'-5"]
    # A negative number is a number: a spreadsheet shows it, it never evaluates it.
    assert {r[1] for r in rows[2:]} == {"-5.00"} and {r[2] for r in rows[2:]} == {"-12"}
    assert csv_bytes(frame).startswith(b"\xef\xbb\xbf")
    assert neutralise(None) is None and neutralise(3) == 3 and neutralise("a=b") == "a=b"


def test_the_audit_row_is_written_with_the_file(engine, make_actor):
    boss = make_actor("manager")
    frame = pd.DataFrame({"name": ["a", "b"]})
    with db.transaction() as conn:
        audited_csv(conn=conn, actor=boss, export="probe", filters={"day": date(2026, 3, 1)},
                    frame=frame)
    assert audit_rows(engine, "probe.export") == [
        {"actor_id": boss.id, "entity_id": "probe",
         "after": {"filters": {"day": "2026-03-01"}, "rows": 2}}]


# ---------------------------------------------------------------- every export, on the demo
def audit_rows(engine, action):
    with engine.connect() as conn:
        return [dict(r._mapping) for r in conn.execute(sa.text(
            """SELECT actor_id, entity_id, after FROM ops.audit_log WHERE action = :a
               ORDER BY id"""), {"a": action})]


@pytest.fixture
def planted(demo_engine):
    """Every demo merchant named after a formula; funnel marts and credit grades built."""
    with demo_engine.begin() as conn:
        conn.execute(sa.text("""UPDATE app.merchants SET name = (CAST(:names AS text[]))[id % 6 + 1],
                                                         contact_name = (CAST(:names AS text[]))[id % 6 + 1]"""),
                     {"names": FORMULAS})
    result = etl.run_job("funnel_facts", engine=demo_engine, full=True)
    assert result.status == "succeeded", result.error
    result = etl.run_job("merchant_features", engine=demo_engine, full=True)
    assert result.status == "succeeded", result.error
    with demo_engine.begin() as conn:
        credit_engine.score_all(conn, load(DEFAULT_CONFIG))
    return demo_engine


@pytest.fixture
def staff(planted):
    """An account with the given role on the demo database (make_actor works on `engine`)."""
    from console.roles import Actor

    def make(role: str) -> Actor:
        username = f"export.{role}"
        with planted.begin() as conn:
            staff_id = conn.execute(sa.text(
                """INSERT INTO ops.staff (username, display_name, password_hash, roles)
                   VALUES (:u, :u, :h, :r) RETURNING id"""),
                {"u": username, "h": TEST_PASSWORD_HASH,
                 "r": [role]}).scalar_one()
        return Actor(id=staff_id, username=username, display_name=username,
                     roles=frozenset({role}))
    return make


def cells(data: bytes) -> list[list[str]]:
    return list(csv.reader(io.StringIO(data.decode("utf-8-sig"))))


def assert_neutralised(rows: list[list[str]], column: str) -> int:
    """No cell starts as a formula; the named column holds the quoted corpus. Returns the
    number of data rows."""
    body = [r for r in rows if not r[0].startswith("#")]
    header, data = body[0], body[1:]
    starts = [(i, c) for i, r in enumerate(data) for c in r if c.startswith(FORMULA_START)]
    assert starts == []
    names = {r[header.index(column)] for r in data}
    assert names == {"'" + f for f in FORMULAS}
    return len(data)


def test_growth_drop_off_export_is_neutralised_and_audited(planted, staff):
    boss = staff("manager")
    filters = growth.GrowthFilters(start=date(2000, 1, 1), end=clock.today())
    with db.transaction() as conn:
        data = growth.drop_off_export(conn=conn, actor=boss, filters=filters,
                                      step="cert_submitted", window_days=None)
    n = assert_neutralised(cells(data), "商户名称")
    assert n > 6
    assert audit_rows(planted, "growth_drop_offs.export") == [{
        "actor_id": boss.id, "entity_id": "growth_drop_offs",
        "after": {"filters": {"start": "2000-01-01", "end": clock.today().isoformat(),
                              "tiers": [], "merchant_types": [], "step": "cert_submitted",
                              "window_days": None}, "rows": n}}]


def test_directory_export_is_neutralised_and_audited(planted, staff):
    risk = staff("risk")
    filters = merchants.DirectoryFilters(status="active")
    with db.transaction() as conn:
        data = merchants.export_directory(conn=conn, actor=risk, filters=filters, sort="name")
    rows = cells(data)
    n = assert_neutralised(rows, "name")
    assert {r[rows[2].index("contact_name")] for r in rows[3:]} == {"'" + f for f in FORMULAS}
    assert audit_rows(planted, "merchant.export") == [{
        "actor_id": risk.id, "entity_id": "directory",
        "after": {"filters": {"status": "active"}, "rows": n}}]
    with planted.connect() as conn:
        active = conn.execute(sa.text(
            "SELECT count(*) FROM app.merchants WHERE status = 'active'")).scalar()
    assert n == active


def test_credit_export_is_neutralised_and_audited(planted, staff):
    risk = staff("risk")
    with db.transaction() as conn:
        data = credit.export_csv(conn=conn, actor=risk, grade=None)
    rows = cells(data)
    assert rows[0] == ["# effective_grade=all"]
    n = assert_neutralised(rows, "name")
    with planted.connect() as conn:
        rated = conn.execute(sa.text("SELECT count(*) FROM ops.merchant_credit")).scalar()
    assert n == rated > 0
    assert audit_rows(planted, "credit_ratings.export") == [{
        "actor_id": risk.id, "entity_id": "credit_ratings",
        "after": {"filters": {"effective_grade": None}, "rows": n}}]


def test_a_refused_export_writes_no_audit_row(planted, staff):
    from console.errors import InvalidInput
    risk = staff("risk")
    with pytest.raises(InvalidInput), db.transaction() as conn:
        credit.export_csv(conn=conn, actor=risk, grade="Z")
    assert audit_rows(planted, "credit_ratings.export") == []


def test_no_page_builds_an_export_before_it_is_asked_for(planted, staff):
    """The credit page used to build its file on every run: now the button builds it on
    click, so merely showing the page writes no export audit row."""
    from tests.apptest import app_as
    at = app_as(staff("risk"), page="pages/risk_grades.py")
    assert not at.exception and not at.error
    with planted.connect() as conn:
        exports = conn.execute(sa.text(
            "SELECT count(*) FROM ops.audit_log WHERE action LIKE '%export'")).scalar()
    assert exports == 0


def test_every_download_in_the_pages_goes_through_the_exports_module():
    """A new to_csv in a service or page would skip the neutralising and the audit row."""
    from console.settings import PROJECT_ROOT
    offenders = []
    for folder in ("console/services", "pages"):
        for path in (PROJECT_ROOT / folder).glob("*.py"):
            text = path.read_text(encoding="utf-8")
            if ".to_csv(" in text or "csv.writer(" in text:
                offenders.append(path.name)
    assert offenders == []
