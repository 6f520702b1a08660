"""A parallel import's details (console/imports/details.py) on real PostgreSQL: read with the
VIN reading of its market version, its documents and its price reference; corrected by ops,
version-checked and audited; every bad input refused with a clear message and nothing
changed; twenty corrections of one form at once change it once."""
from __future__ import annotations

from datetime import date, datetime, timedelta
from decimal import Decimal as D

import pytest
import sqlalchemy as sa

from console import clock, db
from console.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from console.i18n import translate
from console.imports import details
from tests import trust_rows as tr
from tests.races import race, wide_engine

# A Gulf-spec Sequoia from the Indiana plant: WMI 5TD, and 'K' in position 9, which is no
# check digit. By hand (ISO 3779 values x weights, position 9 weighs 0):
# 5x8 + T(3)x7 + D(4)x6 + B(2)x5 + Y(8)x4 + 5x3 + G(7)x2 + 1x10 + S(2)x9 + S(2)x8 + 1x7
# + 2x6 + 3x5 + 4x4 + 5x3 + 6x2 = 277 = 25 x 11 + 2: a US version would carry '2'.
GULF_SEQUOIA = "5TDBY5G1KSS123456"
TODAY = date(2026, 11, 20)


@pytest.fixture
def fixed_today(monkeypatch):
    """Today is 2026-11-20 in Shanghai, for the dates the tests write out."""
    monkeypatch.setattr(clock, "now", lambda: datetime(2026, 11, 20, 10, 0,
                                                       tzinfo=clock.business_tz()))


def run(fn, **kwargs):
    with db.transaction() as conn:
        return fn(conn=conn, **kwargs)


@pytest.fixture
def w(engine):
    city = tr.city(engine)
    trim = tr.trim(engine, guide=1_200_000)
    seller = tr.merchant(engine, city_id=city, name="津港平行进口")
    listing = tr.listing(engine, merchant_id=seller, trim_id=trim, city_id=city,
                         price=1_150_000, guide=1_200_000, vin=GULF_SEQUOIA)
    domestic = tr.listing(engine, merchant_id=seller, trim_id=trim, city_id=city)
    with engine.begin() as conn:
        conn.execute(sa.text("UPDATE app.listings SET is_parallel_import = true WHERE id = :id"),
                     {"id": listing})
        conn.execute(sa.text("""INSERT INTO app.listing_imports (listing_id, market_version, port,
                                                                 availability)
                                VALUES (:id, 'middle_east', 'tianjin', 'in_stock')"""),
                     {"id": listing})
    return {"city": city, "trim": trim, "seller": seller, "listing": listing,
            "domestic": domestic}


def stored(engine, listing_id):
    with engine.connect() as conn:
        row = conn.execute(sa.text("""
            SELECT market_version, port, availability, expected_arrival, version
            FROM app.listing_imports WHERE listing_id = :id"""), {"id": listing_id}).one_or_none()
        audits = conn.execute(sa.text("""SELECT count(*) FROM ops.audit_log
                                         WHERE action = 'listing_import.correct'""")).scalar()
    return (tuple(row) if row else None), audits


def correct(actor, w, **change):
    form = {"listing_id": w["listing"], "version": 1, "market_version": "middle_east",
            "port": "tianjin", "availability": "in_stock", "expected_arrival": None,
            "reason": "商户来电更正"}
    return run(details.correct_import_details, actor=actor, **{**form, **change})


def test_ops_read_an_import_with_its_vin_documents_and_reference(engine, make_actor, w):
    ops = make_actor("ops")
    got = run(details.get_import_details, actor=ops, listing_id=w["listing"])
    assert (got.market_version, got.port, got.availability, got.expected_arrival,
            got.version) == ("middle_east", "tianjin", "in_stock", None, 1)
    # A Middle-East version: position 9 is not a check digit, so not 'malformed'.
    assert got.vin_reason == "not_checkable"
    assert got.docs_missing is True
    assert got.missing_documents == ("customs", "inspection", "env_disclosure", "conformity")
    # Nothing else of its trim and version: no reference, and it says so with the count.
    assert (got.reference.median, got.reference.count, got.reference.reason) == (None, 0, "too_few")
    assert got.price == D("1150000.00")


def test_a_domestic_listing_has_no_import_details(make_actor, w):
    with pytest.raises(InvalidInput) as err:
        run(details.get_import_details, actor=make_actor("ops"), listing_id=w["domestic"])
    assert err.value.key == "imports.listing.error.not_import"
    with pytest.raises(NotFound):
        run(details.get_import_details, actor=make_actor("ops"), listing_id=99_999_999)


def test_ops_correct_the_details_with_a_reason_and_the_audit_says_what_changed(
        engine, make_actor, w, fixed_today):
    ops = make_actor("ops")
    arrival = TODAY + timedelta(days=30)
    assert correct(ops, w, port="shanghai", availability="future",
                   expected_arrival=arrival) == 2
    assert stored(engine, w["listing"]) == (("middle_east", "shanghai", "future", arrival, 2), 1)
    with engine.connect() as conn:
        row = conn.execute(sa.text("""SELECT actor_id, entity_type, entity_id, before, after, reason
                                      FROM ops.audit_log
                                      WHERE action = 'listing_import.correct'""")).one()
    assert tuple(row) == (ops.id, "listing_import", str(w["listing"]),
                          {"port": "tianjin", "availability": "in_stock",
                           "expected_arrival": None},
                          {"port": "shanghai", "availability": "future",
                           "expected_arrival": "2026-12-20", "version": 2},
                          "商户来电更正")
    # Back in stock: the arrival date goes with the future, whatever the form still holds.
    assert correct(ops, w, version=2, port="shanghai", availability="in_stock",
                   expected_arrival=arrival) == 3
    assert stored(engine, w["listing"])[0] == ("middle_east", "shanghai", "in_stock", None, 3)


@pytest.mark.parametrize("change, key", [
    ({"market_version": "japan"}, "imports.listing.error.unknown_market"),
    ({"market_version": "MIDDLE_EAST"}, "imports.listing.error.unknown_market"),
    ({"port": "xiamen"}, "imports.listing.error.unknown_port"),
    ({"availability": "soon"}, "imports.listing.error.unknown_availability"),
    ({"availability": "future"}, "imports.listing.error.future_needs_date"),
    ({"availability": "future", "expected_arrival": date(2026, 11, 19)},
     "imports.listing.error.arrival_in_past"),
    ({"port": "dalian", "reason": "   "}, "imports.listing.error.reason_required"),
    ({}, "imports.listing.error.no_change"),
    ({"version": -1}, "imports.listing.error.bad_form_value"),
    # hostile values stop at the boundary (console/boundary.py), before the body runs
    ({"listing_id": 0}, "input.id"),
    ({"port": "dalian", "reason": "更正\x00"}, "input.reason"),
    ({"port": "dalian", "reason": "更" * 100_000}, "input.reason"),
    ({"market_version": "us\x00"}, "input.text"),
    ({"version": float("nan")}, "input.type"),
    ({"availability": "future", "expected_arrival": "2026-12-01"}, "input.date"),
])
def test_bad_input_is_refused_with_a_clear_message_and_nothing_changes(engine, make_actor, w,
                                                                       change, key):
    with pytest.raises(InvalidInput) as err:
        correct(make_actor("ops"), w, **change)
    assert err.value.key == key
    for lang in ("zh", "en"):
        assert translate(key, lang, **err.value.params) != key
    assert stored(engine, w["listing"]) == (("middle_east", "tianjin", "in_stock", None, 1), 0)


def test_an_arrival_in_the_past_reads_with_both_dates(make_actor, w, fixed_today):
    with pytest.raises(InvalidInput) as err:
        correct(make_actor("ops"), w, availability="future", expected_arrival=date(2026, 11, 1))
    assert translate(err.value.key, "en", **err.value.params) == (
        "The expected arrival 2026-11-01 is before today (2026-11-20). Nothing was changed.")


def test_an_arrival_that_has_passed_since_it_was_entered_may_stay(engine, make_actor, w):
    """The car is late: nobody was wrong, and ops may still correct its port."""
    with engine.begin() as conn:
        conn.execute(sa.text("""UPDATE app.listing_imports
                                SET availability = 'future', expected_arrival = '2026-11-10'
                                WHERE listing_id = :id"""), {"id": w["listing"]})
    ops = make_actor("ops")
    assert correct(ops, w, port="qingdao", availability="future",
                   expected_arrival=date(2026, 11, 10)) == 2
    assert stored(engine, w["listing"]) == (
        ("middle_east", "qingdao", "future", date(2026, 11, 10), 2), 1)
    # ... but moving it to another past day is refused.
    with pytest.raises(InvalidInput):
        correct(ops, w, version=2, port="qingdao", availability="future",
                expected_arrival=date(2026, 11, 12))


def test_a_stale_form_is_refused_and_a_domestic_listing_cannot_get_details(engine, make_actor, w):
    ops = make_actor("ops")
    correct(ops, w, port="shenzhen")
    with pytest.raises(Conflict) as err:
        correct(ops, w, port="guangzhou")            # the form still says version 1
    assert err.value.key == "imports.listing.error.stale"
    with pytest.raises(InvalidInput) as err:
        correct(ops, w, listing_id=w["domestic"], version=0)
    assert err.value.key == "imports.listing.error.not_import"
    assert stored(engine, w["listing"]) == (("middle_east", "shenzhen", "in_stock", None, 2), 1)
    assert stored(engine, w["domestic"])[0] is None


def test_ops_record_the_details_the_dealer_never_gave_at_version_zero(engine, make_actor, w):
    with engine.begin() as conn:
        conn.execute(sa.text("DELETE FROM app.listing_imports"))
    ops = make_actor("ops")
    assert run(details.get_import_details, actor=ops, listing_id=w["listing"]).version == 0
    assert correct(ops, w, version=0, market_version="us", port="tianjin") == 1
    assert stored(engine, w["listing"]) == (("us", "tianjin", "in_stock", None, 1), 1)
    with pytest.raises(Conflict):
        correct(ops, w, version=0, market_version="canada")


def test_only_ops_correct_and_bd_does_not_read_here(make_actor, w):
    with pytest.raises(PermissionDenied):
        correct(make_actor("bd"), w, port="dalian")
    with pytest.raises(PermissionDenied):
        run(details.get_import_details, actor=make_actor("bd"), listing_id=w["listing"])
    assert run(details.get_import_details, actor=make_actor("manager"),
               listing_id=w["listing"]).port == "tianjin"


def test_twenty_corrections_of_one_form_at_once_change_it_once(engine, fresh_db, make_actor, w):
    people = [make_actor("ops") for _ in range(4)]
    ports = details.PORTS[1:]
    with wide_engine(fresh_db, 20) as wide:
        results = race(wide, [(details.correct_import_details, {
            "actor": people[i % 4], "listing_id": w["listing"], "version": 1,
            "market_version": "middle_east", "port": ports[i % len(ports)],
            "availability": "in_stock", "reason": f"更正 {i}"}) for i in range(20)])
    assert [r for r in results if r[0] == "crash"] == []
    assert [r[1] for r in results if r[0] == "ok"] == [2]
    assert {r[1] for r in results if r[0] == "refused"} == {
        ("Conflict", "imports.listing.error.stale")}
    winner = results.index(("ok", 2))
    assert stored(engine, w["listing"]) == (
        ("middle_east", ports[winner % len(ports)], "in_stock", None, 2), 1)


def test_the_scan_reads_an_imports_vin_by_its_version_and_still_catches_a_copy(engine, w):
    """The Gulf Sequoia's 'K' in position 9 is no fault for a Middle-East version; the same
    VIN as a US version is malformed; the VIN listed again by another dealer is a copy."""
    from console.services import listing_review as lr
    from tests import import_rows as ir
    other = tr.merchant(engine, city_id=w["city"], name="沪上平行进口")
    us_copy = ir.imported(engine, merchant_id=other, trim_id=w["trim"], city_id=w["city"],
                          price=1_160_000, market="us", vin=GULF_SEQUOIA.lower(), age_days=0.5)
    with db.transaction() as conn:
        raised = lr.raise_listing_flags(conn=conn, price_gap=50)
    assert (raised["vin_malformed"], raised["vin_duplicate"]) == (1, 1)
    assert {(r["listing_id"], r["kind"]) for r in tr.rows(
        engine, "SELECT listing_id, kind FROM ops.listing_flags")} == {
        (us_copy, "vin_malformed"), (us_copy, "vin_duplicate")}


def test_ops_correct_an_import_from_the_listing_review_page(engine, make_actor, w):
    from tests.apptest import app_as
    ops = make_actor("ops")
    with engine.begin() as conn:
        flag_id = conn.execute(sa.text("""
            INSERT INTO ops.listing_flags (listing_id, merchant_id, kind, detail)
            VALUES (:l, :m, 'reported_fake', '{"reports": 1, "reporters": 1}')
            RETURNING id"""), {"l": w["listing"], "m": w["seller"]}).scalar_one()
    at = app_as(ops, page="pages/ops_listing_review.py")
    at.session_state["flag_id"] = flag_id
    at.run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    text = "\n".join(m.value for m in at.markdown)
    assert "平行进口信息" in text and "中东版" in text and "天津港" in text
    assert "无法校验" in text             # the Gulf VIN: not checkable, never 'malformed'
    assert "暂无：近 90 天同车型同版本只有 0 个价格，至少需要 3 个" in text
    at.selectbox(key="flag_import_port").set_value("dalian")
    at.text_input(key="flag_import_reason").input("口岸录错")
    next(b for b in at.button if b.label == "保存更正").click().run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    assert stored(engine, w["listing"]) == (("middle_east", "dalian", "in_stock", None, 2), 1)
