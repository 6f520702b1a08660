"""The demo's document images (console.demo.documents): an ID card or a business licence per
case, carrying the submitted fields, with planted mismatches; stored in
app.certification_images and shown on the case page to the roles that may read them."""
from __future__ import annotations

import io
from datetime import date, datetime, timezone

import pytest
from PIL import Image

from console import db
from console.checks import make_id_number, make_uscc
from console.demo import documents as docs
from console.services import certification as cert

from tests import trust_rows as tr

NOW = datetime(2026, 11, 19, 10, 0, tzinfo=timezone.utc)


def personal(i: int, number: str | None = None) -> dict:
    return {"id": i, "kind": "personal", "real_name": "王秀英",
            "id_number": number or make_id_number("330106", date(1988, 6, 3), i % 997),
            "company_name": None, "uscc": None, "legal_rep": None,
            "province": "浙江省", "city": "杭州市", "submitted_at": NOW}


def enterprise(i: int) -> dict:
    return {"id": i, "kind": "enterprise", "real_name": None, "id_number": None,
            "company_name": "杭州顺达汽车销售服务有限公司", "uscc": make_uscc("330100", f"MA{i:07d}"),
            "legal_rep": "张伟", "province": "浙江省", "city": "杭州市", "submitted_at": NOW}


def test_the_card_carries_the_submitted_fields_except_a_planted_digit_in_about_5_percent():
    planted = 0
    for i in range(1, 2001):
        case = personal(i)
        card, wrong = docs.planned_id_card(case, seed=7)
        assert (card.name, card.born) == ("王秀英", date(1988, 6, 3))
        assert card.sex == ("男" if int(case["id_number"][16]) % 2 else "女")
        assert card.address.startswith("浙江省杭州市")
        differing = [k for k, (a, b) in enumerate(zip(card.id_number, case["id_number"])) if a != b]
        if wrong:
            planted += 1
            assert len(differing) == 1 and differing[0] < 17 and not 6 <= differing[0] < 14
        else:
            assert differing == []
    assert 60 <= planted <= 140   # 5 % of 2,000 is 100


def test_the_licence_carries_the_submitted_fields_except_a_planted_company_name():
    planted = 0
    for i in range(1, 1001):
        case = enterprise(i)
        lic, wrong = docs.planned_licence(case, seed=7)
        assert (lic.uscc, lic.legal_rep) == (case["uscc"], "张伟")
        assert lic.established < NOW.date()
        if wrong:
            planted += 1
            assert lic.company_name != case["company_name"]
        else:
            assert lic.company_name == case["company_name"]
    assert 25 <= planted <= 75


def test_images_are_jpegs_of_the_declared_size_and_the_same_every_time():
    for case, code, size in ((personal(3), "id_front", docs.ID_SIZE),
                             (enterprise(4), "business_licence", docs.LICENCE_SIZE)):
        got_code, jpeg, got_size, _ = docs.image_for(case, seed=7)
        assert (got_code, got_size) == (code, size)
        img = Image.open(io.BytesIO(jpeg))
        assert (img.format, img.size) == ("JPEG", size)
        assert 10_000 < len(jpeg) < 400_000
        assert docs.image_for(case, seed=7)[1] == jpeg
        assert docs.image_for(case, seed=8)[1] != jpeg or case["kind"] == "enterprise"


def test_without_a_cjk_font_nothing_illegible_is_seeded(engine, monkeypatch):
    c = tr.city(engine)
    tr.cert(engine, merchant_id=tr.merchant(engine, city_id=c))
    monkeypatch.setattr(docs, "FONT_CANDIDATES", (("/nonexistent/font.ttc", 0),))
    assert docs.cjk_font_path() is None
    assert docs.seed_images(engine) == 0
    assert tr.value(engine, "SELECT count(*) FROM app.certification_images") == 0


@pytest.mark.skipif(docs.cjk_font_path() is None, reason="needs fonts-noto-cjk")
def test_seeded_images_reach_the_case_page_for_ops_and_not_for_managers(engine, make_actor):
    c = tr.city(engine)
    m = tr.merchant(engine, city_id=c, name="顺达汽车")
    person = tr.cert(engine, merchant_id=m)
    company = tr.cert(engine, merchant_id=m, kind="enterprise")
    decided_recently = tr.cert(engine, merchant_id=m, status="approved", age_hours=24 * 3)
    tr.cert(engine, merchant_id=m, status="approved", age_hours=24 * 60)  # long decided: none
    assert docs.seed_images(engine) == 3          # open cases and recent ones
    assert docs.seed_images(engine) == 0          # once each
    stored = tr.rows(engine, """SELECT certification_id, doc_code, content_type, width, height
                                FROM app.certification_images ORDER BY certification_id""")
    assert stored == [
        {"certification_id": person, "doc_code": "id_front", "content_type": "image/jpeg",
         "width": 856, "height": 540},
        {"certification_id": company, "doc_code": "business_licence",
         "content_type": "image/jpeg", "width": 1200, "height": 850},
        {"certification_id": decided_recently, "doc_code": "id_front",
         "content_type": "image/jpeg", "width": 856, "height": 540}]
    ops, manager = make_actor("ops"), make_actor("manager")
    with db.connection() as conn:
        seen = cert.get_case(conn=conn, actor=ops, case_id=company)
        masked = cert.get_case(conn=conn, actor=manager, case_id=company)
    assert [im.doc_code for im in seen.images] == ["business_licence"]
    assert Image.open(io.BytesIO(seen.images[0].image)).size == (1200, 850)
    assert (masked.images, masked.case["images_withheld"]) == ([], True)


@pytest.mark.skipif(docs.cjk_font_path() is None, reason="needs fonts-noto-cjk")
def test_the_demo_seeds_an_image_for_every_open_case(demo_engine):
    missing = tr.value(demo_engine, """
        SELECT count(*) FROM app.certifications c
        WHERE c.status IN ('pending', 'in_review')
          AND NOT EXISTS (SELECT 1 FROM app.certification_images i
                          WHERE i.certification_id = c.id)""")
    kinds = tr.rows(demo_engine, """
        SELECT c.kind, i.doc_code, count(*) AS n FROM app.certification_images i
        JOIN app.certifications c ON c.id = i.certification_id
        GROUP BY 1, 2 ORDER BY 1""")
    assert missing == 0
    assert [(k["kind"], k["doc_code"]) for k in kinds] == [
        ("enterprise", "business_licence"), ("personal", "id_front")]
    assert all(0 < k["n"] <= docs.MAX_CASES for k in kinds)


def test_the_console_reads_the_images_and_cannot_change_them(engine, console_engine):
    import sqlalchemy as sa
    from sqlalchemy.exc import ProgrammingError
    c = tr.city(engine)
    case = tr.cert(engine, merchant_id=tr.merchant(engine, city_id=c))
    with engine.begin() as conn:
        conn.execute(sa.text("""INSERT INTO app.certification_images (certification_id, doc_code,
                                    content_type, image, width, height, uploaded_at)
                                VALUES (:c, 'id_front', 'image/jpeg', '\\xffd8', 1, 1, now())"""),
                     {"c": case})
    with console_engine.connect() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM app.certification_images")).scalar() == 1
    for statement in ("UPDATE app.certification_images SET width = 2",
                      "DELETE FROM app.certification_images",
                      "INSERT INTO app.certification_images (certification_id, doc_code, "
                      "content_type, image, width, height, uploaded_at) SELECT certification_id, "
                      "'id_back', content_type, image, 1, 1, now() FROM app.certification_images"):
        with pytest.raises(ProgrammingError, match="permission denied"), \
                console_engine.begin() as conn:
            conn.execute(sa.text(statement))
    assert tr.value(engine, "SELECT width FROM app.certification_images") == 1
