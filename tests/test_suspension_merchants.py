"""The merchant directory and profile services withhold a suspended merchant's grade, VIP
level and loan limit themselves (issue 14), so no page can show them by forgetting to mask."""
from __future__ import annotations

import csv
import io

import pandas as pd
import sqlalchemy as sa

from console import db
from console.services import merchants
from console.services.merchants import DirectoryFilters
from tests.test_suspension import rated  # noqa: F401  (the fixture: two AAA merchants, one suspended)


def _values(row) -> list:
    return [None if pd.isna(v) else v for v in row.tolist()]


def _directory(actor, **filters):
    with db.connection() as conn:
        return merchants.search_directory(conn=conn, actor=actor,
                                          filters=DirectoryFilters(**filters), limit=100)


def test_the_profile_service_returns_the_suspended_state_not_the_grade(engine, make_actor,
                                                                       rated):  # noqa: F811
    risk = make_actor("risk")
    with db.connection() as conn:
        held = merchants.merchant_profile(conn=conn, actor=risk, merchant_id=rated["suspended"])
        top = merchants.merchant_profile(conn=conn, actor=risk, merchant_id=rated["top"])
    c = held.credit
    assert (c.rated, c.on_hold, c.grade, c.held_grade) == (True, "suspended", None, "AAA")
    assert (c.details["grade"], c.details["loan_limit"], c.details["vip_eligible"]) == (
        None, None, None)
    c = top.credit
    assert (c.on_hold, c.grade, c.held_grade, c.details["vip_eligible"]) == (None, "AAA", None, True)
    assert float(c.details["loan_limit"]) == 5_000_000


def test_the_directory_service_withholds_grade_and_vip_of_a_merchant_on_hold(engine, make_actor,
                                                                             rated):  # noqa: F811
    bd = make_actor("bd")
    with engine.begin() as conn:   # both gold members in force (fin.vip_memberships)
        conn.execute(sa.text("""
            INSERT INTO fin.vip_memberships (merchant_id, tier, starts_on, expires_on, list_fee,
                                             fee_paid, payment_ref, enrolled_by)
            SELECT id, 'gold', CURRENT_DATE - 10, CURRENT_DATE + 300, 30000, 30000,
                   'PAY-' || id, :bd
            FROM app.merchants"""), {"bd": bd.id})
    rows = _directory(bd, name="车商").rows.set_index("name")
    assert _values(rows.loc["暂停车商", ["credit_grade", "vip_tier", "on_hold"]]) == [
        None, None, "suspended"]
    assert _values(rows.loc["顶级车商", ["credit_grade", "vip_tier", "on_hold"]]) == [
        "AAA", "gold", None]
    # A grade filter finds only merchants whose grade holds.
    assert _directory(bd, credit_grade="AAA").rows["name"].tolist() == ["顶级车商"]
    # Closed merchants likewise.
    with engine.begin() as conn:
        conn.execute(sa.text("UPDATE app.merchants SET status = 'closed' WHERE id = :m"),
                     {"m": rated["top"]})
    assert _directory(bd, credit_grade="AAA").rows.empty
    assert _values(_directory(bd, name="顶级").rows.iloc[0][["credit_grade", "on_hold"]]) == [
        None, "closed"]


def test_the_directory_export_carries_the_withheld_terms(engine, make_actor, rated):  # noqa: F811
    with db.transaction() as conn:
        data = merchants.export_directory(conn=conn, actor=make_actor("risk"),
                                          filters=DirectoryFilters(name="车商"))
    lines = [r for r in csv.reader(io.StringIO(data.decode("utf-8-sig"))) if not r[0].startswith("#")]
    header, body = lines[0], lines[1:]
    by_name = {r[header.index("name")]: r for r in body}
    pick = [header.index(c) for c in ("credit_grade", "on_hold")]
    assert [by_name["暂停车商"][i] for i in pick] == ["", "suspended"]
    assert [by_name["顶级车商"][i] for i in pick] == ["AAA", ""]
