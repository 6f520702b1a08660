"""Merchant directory and profile: filters and paging, masking by role, audited staff actions,
suspended merchants left out of matching. Every row here is built by hand."""
from __future__ import annotations

import csv
import io
import json
from datetime import timedelta

import pytest
import sqlalchemy as sa

from console.clock import today
from console.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from console.services import merchants as svc
from console.services.merchants import DirectoryFilters

PHONE_1 = "13800000001"


def _ins(conn, sql: str, **params) -> int:
    return conn.execute(sa.text(sql), params).scalar_one()


@pytest.fixture
def world(engine, make_actor):
    """Three cities, six named merchants with certifications, posts and deals, and staff."""
    staff = {name: make_actor(*roles, username=name) for name, roles in {
        "bd1": ("bd",), "bd2": ("bd",), "boss": ("manager",), "ops1": ("ops",),
        "risker": ("risk",), "root": ("admin",)}.items()}
    w: dict = {"staff": staff}
    with engine.begin() as c:
        def city(name, adcode, tier):
            return _ins(c, """
            INSERT INTO app.cities (name, short_name, adcode, province, tier_level, tier_name,
                                    longitude, latitude)
            VALUES (:n, :n, :a, '某省', :t, 'x', 116, 39) RETURNING id""", n=name, a=adcode, t=tier)
        w["bj"], w["sjz"], w["bd"] = city("北京", "110000", 1), city("石家庄", "130100", 3), \
            city("保定", "130600", 4)

        def merchant(name, mtype, city_id, owner, *, status="active", level="none",
                     active_days=None, phone):
            return _ins(c, """
                INSERT INTO app.merchants (name, merchant_type, city_id, channel, registered_at,
                                           status, cert_level, bd_owner_id, phone, last_active_at)
                VALUES (:n, :t, :c, 'organic', now() - interval '200 days', :s, :l, :o, :p,
                        now() - make_interval(days => :d))
                RETURNING id""", n=name, t=mtype, c=city_id, s=status, l=level, o=owner,
                p=phone, d=active_days)

        ids = {name: actor for name, actor in staff.items()}
        w["m1"] = merchant("东方汽车贸易", "4s", w["bj"], ids["bd1"].id, level="enterprise",
                           active_days=2, phone=PHONE_1)
        w["m2"] = merchant("京华二网车行", "secondary", w["bj"], ids["bd2"].id, level="personal",
                           active_days=20, phone="13800000002")
        w["m3"] = merchant("冀中资源", "resource", w["sjz"], ids["bd1"].id, phone="13800000003")
        w["m4"] = merchant("保定平行进口", "parallel_import", w["bd"], None, status="suspended",
                           active_days=100, phone="13800000004")
        w["m5"] = merchant("石家庄名车", "4s", w["sjz"], None, active_days=5, phone="13800000005")
        w["m6"] = merchant("北方车城", "secondary", w["bd"], ids["bd2"].id, active_days=60,
                           phone="13800000006")

        def cert(m, kind, status, days_ago, **f):
            decided = "now() - make_interval(days => :d)" if status in ("approved", "rejected") \
                else "NULL"
            return _ins(c, f"""
                INSERT INTO app.certifications (merchant_id, kind, status, real_name, id_number,
                    company_name, uscc, legal_rep, submitted_at, decided_at, reason_code)
                VALUES (:m, :k, :s, :rn, :idn, :cn, :u, :lr, now() - make_interval(days => :d),
                        {decided}, :rc) RETURNING id""",
                m=m, k=kind, s=status, d=days_ago, rn=f.get("real_name"), idn=f.get("id_number"),
                cn=f.get("company_name"), u=f.get("uscc"), lr=f.get("legal_rep"),
                rc="blurry" if status == "rejected" else None)

        cert(w["m1"], "enterprise", "rejected", 30, company_name="东方汽车贸易有限公司",
             uscc="91110000AAAAAAAAAA", legal_rep="张三")
        cert(w["m1"], "enterprise", "approved", 10, company_name="东方汽车贸易有限公司",
             uscc="91110000600037341L", legal_rep="张三")
        cert(w["m2"], "personal", "approved", 15, real_name="李四", id_number="11010519491231002X")
        cert(w["m3"], "personal", "pending", 1, real_name="王五", id_number="130102199001011234")
        cert(w["m5"], "enterprise", "needs_info", 3, company_name="河北京冀汽车销售有限公司",
             uscc="91130100MA0XXXXXX1", legal_rep="赵六")

        # vehicle library: one trim
        brand = _ins(c, "INSERT INTO app.brands (name, initial) VALUES ('丰田', 'F') RETURNING id")
        series = _ins(c, """INSERT INTO app.series (brand_id, name, manufacturer, min_guide_price,
                            max_guide_price, energy_type, origin)
                            VALUES (:b, '凯美瑞', '广汽丰田', 150000, 250000, 'ice', 'joint_venture')
                            RETURNING id""", b=brand)
        trim = _ins(c, """INSERT INTO app.trims (series_id, name, model_year, guide_price, energy_type)
                          VALUES (:s, '2025款 2.0E 精英版', 2025, 171800, 'ice') RETURNING id""",
                    s=series)

        def listing(m, status):
            return _ins(c, """
                INSERT INTO app.listings (merchant_id, trim_id, exterior_color, interior_color,
                    quantity, city_id, price, guide_price, available_from, status, published_at)
                VALUES (:m, :t, '白', '黑', 2, :c, 160000, 171800, current_date, :s, now())
                RETURNING id""", m=m, t=trim, c=w["bj"], s=status)

        def request(m, status):
            return _ins(c, """
                INSERT INTO app.requests (merchant_id, series_id, trim_id, quantity, city_id,
                    max_price, needed_by, status, created_at)
                VALUES (:m, :s, :t, 1, :c, 170000, current_date + 30, :st, now()) RETURNING id""",
                m=m, s=series, t=trim, c=w["sjz"], st=status)

        w["l1_live"] = listing(w["m1"], "live")
        w["l1_sold"] = listing(w["m1"], "sold")
        w["l2_live"] = listing(w["m2"], "live")
        w["l4_live"] = listing(w["m4"], "live")
        w["r3_open"] = request(w["m3"], "open")
        w["r3_closed"] = request(w["m3"], "closed")
        w["r1_open"] = request(w["m1"], "open")
        w["match"] = _ins(c, """INSERT INTO ops.matches (request_id, listing_id, source, stage, owner_id,
                                    deal_value) VALUES (:r, :l, 'manual', 'deposit_paid', :o, 160000)
                                RETURNING id""", r=w["r3_closed"], l=w["l1_sold"], o=ids["bd1"].id)
        w["order"] = _ins(c, """
            INSERT INTO app.orders (match_id, request_id, listing_id, buyer_id, seller_id, quantity,
                unit_price, amount, deposit_amount, status, escrow_state, created_at, deposit_paid_at)
            VALUES (:mt, :r, :l, :b, :s, 1, 160000, 160000, 5000, 'disputed', 'disputed',
                    now() - interval '3 days', now() - interval '2 days') RETURNING id""",
            mt=w["match"], r=w["r3_closed"], l=w["l1_sold"], b=w["m3"], s=w["m1"])
        _ins(c, """INSERT INTO app.reviews (reviewer_id, target_merchant_id, order_id, stars, body,
                       created_at) VALUES (:a, :b, :o, 2, '交车慢', now()) RETURNING id""",
             a=w["m3"], b=w["m1"], o=w["order"])
        _ins(c, """INSERT INTO app.reviews (reviewer_id, target_merchant_id, stars, created_at)
                   VALUES (:a, :b, 5, now()) RETURNING id""", a=w["m1"], b=w["m2"])
        _ins(c, """INSERT INTO app.disputes (order_id, raised_by, against_id, reason, created_at)
                   VALUES (:o, :a, :b, 'late_delivery', now()) RETURNING id""",
             o=w["order"], a=w["m3"], b=w["m1"])
        _ins(c, """INSERT INTO app.notification_outbox (merchant_id, template, status)
                   VALUES (:m, 'deposit_held', 'sent') RETURNING id""", m=w["m1"])
    return w


def ids_of(page) -> list[int]:
    return sorted(int(i) for i in page.rows["id"])


def search(engine, actor, **filters):
    with engine.connect() as conn:
        return svc.search_directory(conn=conn, actor=actor, filters=DirectoryFilters(**filters),
                                    limit=100)


# ---------------------------------------------------------------- filters
# (filters, expected merchants): one table, run against one hand-built world.
FILTER_CASES = [
    ({}, ["m1", "m2", "m3", "m4", "m5", "m6"]),
    ({"name": "车"}, ["m1", "m2", "m5", "m6"]),
    ({"name": "京冀"}, []),                          # company name of a non-approved cert: no
    ({"name": "有限公司"}, ["m1"]),                  # approved enterprise company name: yes
    ({"name": "%"}, []),                             # LIKE wildcards are literal text
    ({"uscc": "91110000600037341l"}, ["m1"]),        # case-insensitive, approved cert only
    ({"uscc": "91110000AAAAAAAAAA"}, []),            # the rejected cert's USCC does not count
    ({"city": "bj"}, ["m1", "m2"]),
    ({"tier_level": 4}, ["m4", "m6"]),
    ({"merchant_type": "4s"}, ["m1", "m5"]),
    ({"status": "suspended"}, ["m4"]),
    ({"cert_level": "enterprise"}, ["m1"]),
    ({"cert_status": "approved"}, ["m1", "m2"]),     # m1's latest case, not its rejected one
    ({"cert_status": "pending"}, ["m3"]),
    ({"cert_status": "needs_info"}, ["m5"]),
    ({"cert_status": "none"}, ["m4", "m6"]),
    ({"bd_owner": "bd1"}, ["m1", "m3"]),
    ({"no_bd_owner": True}, ["m4", "m5"]),
    ({"active_within_days": 7}, ["m1", "m5"]),
    ({"active_within_days": 30}, ["m1", "m2", "m5"]),
    ({"credit_grade": "A"}, []),                     # no ratings exist yet
    ({"credit_grade": "unrated"}, ["m1", "m2", "m3", "m4", "m5", "m6"]),
    ({"merchant_type": "4s", "tier_level": 3, "no_bd_owner": True}, ["m5"]),
]


def test_directory_filters(world, engine):
    """Every case of FILTER_CASES; a mismatch names the case (one database for all: faster)."""
    names = {world[k]: k for k in ("m1", "m2", "m3", "m4", "m5", "m6")}
    wrong = {}
    for filters, expected in FILTER_CASES:
        args = dict(filters)
        if "city" in args:
            args["city_id"] = world[args.pop("city")]
        if "bd_owner" in args:
            args["bd_owner_id"] = world["staff"][args.pop("bd_owner")].id
        page = search(engine, world["staff"]["bd1"], **args)
        got = sorted(names[i] for i in ids_of(page))
        if got != expected or page.total != len(expected):
            wrong[str(filters)] = (got, page.total)
    assert wrong == {}


def test_phone_search_matches_the_full_number_only(world, engine):
    bd = world["staff"]["bd1"]
    assert ids_of(search(engine, bd, phone="+86 138-0000-0001")) == [world["m1"]]
    with pytest.raises(InvalidInput) as err:
        search(engine, bd, phone="1380000")
    assert err.value.key == "directory.phone_full_only"


def test_phone_search_is_refused_for_roles_that_do_not_see_numbers(world, engine):
    with pytest.raises(PermissionDenied) as err:
        search(engine, world["staff"]["boss"], phone=PHONE_1)
    assert err.value.key == "directory.phone_search_refused"


def test_bad_filter_values_are_refused(world, engine):
    bd = world["staff"]["bd1"]
    with pytest.raises(InvalidInput):
        search(engine, bd, merchant_type="dealer")
    with pytest.raises(InvalidInput):
        search(engine, bd, uscc="123")
    with pytest.raises(InvalidInput):
        search(engine, bd, credit_grade="Z")


def test_paging_is_done_by_the_server_with_an_exact_total(world, engine):
    with engine.begin() as c:
        for i in range(23):
            c.execute(sa.text("""
                INSERT INTO app.merchants (name, merchant_type, city_id, channel, registered_at, phone)
                VALUES (:n, 'secondary', :c, 'ad', now() - make_interval(days => :i), :p)"""),
                {"n": f"批量车商{i:02d}", "c": world["bd"], "i": i, "p": f"1390000{i:04d}"})
    bd = world["staff"]["bd1"]
    seen = []
    with engine.connect() as conn:
        for offset, size in ((0, 10), (10, 10), (20, 3)):
            page = svc.search_directory(conn=conn, actor=bd, filters=DirectoryFilters(name="批量"),
                                        offset=offset, limit=10, sort="name")
            assert page.total == 23
            assert len(page.rows) == size
            seen += list(page.rows["name"])
        assert svc.count_directory(conn=conn, actor=bd, filters=DirectoryFilters(name="批量")) == 23
    assert seen == [f"批量车商{i:02d}" for i in range(23)]


def test_directory_roles(world, engine):
    for name in ("bd1", "boss", "ops1", "risker"):
        search(engine, world["staff"][name])
    with pytest.raises(PermissionDenied):
        search(engine, world["staff"]["root"])


# ---------------------------------------------------------------- masking
@pytest.mark.parametrize("who, phone", [
    ("bd1", PHONE_1), ("ops1", PHONE_1), ("risker", PHONE_1), ("boss", "138****0001")])
def test_directory_masks_phone_by_role(world, engine, who, phone):
    page = search(engine, world["staff"][who], name="东方")
    assert list(page.rows["phone"]) == [phone]


@pytest.mark.parametrize("who, phone, id_number", [
    ("ops1", "13800000002", "11010519491231002X"),
    ("risker", "13800000002", "11010519491231002X"),
    ("bd1", "13800000002", "110***********002X"),
    ("boss", "138****0002", "110***********002X"),
])
def test_profile_masks_phone_and_id_number_by_role(world, engine, who, phone, id_number):
    with engine.connect() as conn:
        prof = svc.merchant_profile(conn=conn, actor=world["staff"][who], merchant_id=world["m2"])
    assert prof.identity["phone"] == phone
    assert list(prof.certifications["id_number"]) == [id_number]


def test_export_is_masked_carries_filters_and_is_audited(world, engine):
    boss = world["staff"]["boss"]
    with engine.begin() as conn:
        data = svc.export_directory(conn=conn, actor=boss,
                                    filters=DirectoryFilters(city_id=world["bj"]), sort="name")
    text = data.decode("utf-8-sig")
    lines = list(csv.reader(io.StringIO(text)))
    assert lines[0][1:] == ["by=boss", "rows=2"]
    assert lines[1] == ["# filters", f"city_id={world['bj']}"]
    table = lines[2:]
    header = table[0]
    rows = [dict(zip(header, r)) for r in table[1:]]
    assert [r["name"] for r in rows] == ["东方汽车贸易", "京华二网车行"]
    assert [r["phone"] for r in rows] == ["138****0001", "138****0002"]
    with engine.connect() as conn:
        audit = conn.execute(sa.text("""SELECT actor_id, action, after FROM ops.audit_log
                                        WHERE action = 'merchant.export'""")).one()
    assert audit.actor_id == boss.id
    assert audit.after == {"filters": {"city_id": world["bj"]}, "rows": 2}


# ---------------------------------------------------------------- credit (tolerant)
def _rate(engine, grades: dict[int, tuple[str, int, list[str]]]) -> None:
    """One succeeded scoring run of the credit area (migration 050) with the given grades."""
    with engine.begin() as c:
        version = _ins(c, """INSERT INTO ops.credit_scorecard_versions (version, config_sha256,
                                 config, base_points, base_odds, pdo, ih_min_months, ih_min_deals,
                                 ih_grade, ih_loan_limit)
                             VALUES ('test', 'x', '{}', 600, 19, 50, 3, 1, 'BBB', 0) RETURNING id""")
        for grade in {g for g, _, _ in grades.values()}:
            c.execute(sa.text("""INSERT INTO ops.credit_grade_bands (version_id, grade, grade_rank,
                                     loan_limit, vip_eligible)
                                 VALUES (:v, :g, ops.credit_grade_rank(:g), 100000, false)"""),
                      {"v": version, "g": grade})
        run = _ins(c, """INSERT INTO ops.credit_runs (version_id, status, finished_at)
                         VALUES (:v, 'succeeded', now()) RETURNING id""", v=version)
        for merchant_id, (grade, score, reasons) in grades.items():
            c.execute(sa.text("""INSERT INTO ops.credit_scores (run_id, merchant_id, score,
                                     score_grade, grade, insufficient_history, factors, reasons)
                                 VALUES (:r, :m, :s, :g, :g, false, '{}', :reasons)"""),
                      {"r": run, "m": merchant_id, "s": score, "g": grade, "reasons": reasons})
        # A scoring run ends by writing the current grades (migration 066), as score_all does.
        c.execute(sa.text("SELECT ops.refresh_merchant_grades()"))


def test_credit_grades_show_once_rated_and_say_not_rated_until_then(world, engine):
    bd = world["staff"]["bd1"]
    with engine.connect() as conn:
        prof = svc.merchant_profile(conn=conn, actor=bd, merchant_id=world["m1"])
    assert (prof.credit.visible, prof.credit.rated, prof.credit.grade) == (True, False, None)
    assert ids_of(search(engine, bd, credit_grade="A")) == []
    _rate(engine, {world["m1"]: ("A", 642, ["disputes_lost", "avg_stars"]),
                   world["m2"]: ("BB", 580, [])})
    assert ids_of(search(engine, bd, credit_grade="A")) == [world["m1"]]
    assert ids_of(search(engine, bd, credit_grade="unrated")) == sorted(
        world[k] for k in ("m3", "m4", "m5", "m6"))
    assert list(search(engine, bd, name="东方").rows["credit_grade"]) == ["A"]
    with engine.connect() as conn:
        prof = svc.merchant_profile(conn=conn, actor=bd, merchant_id=world["m1"])
        unrated = svc.merchant_profile(conn=conn, actor=bd, merchant_id=world["m3"])
    assert (prof.credit.rated, prof.credit.grade, prof.credit.score) == (True, "A", 642)
    assert prof.credit.reasons == ["disputes_lost", "avg_stars"]
    assert prof.credit.details["is_override"] is False
    assert (unrated.credit.available, unrated.credit.rated) == (True, False)


def test_credit_is_not_shown_to_roles_that_do_not_read_grades(world, engine):
    _rate(engine, {world["m1"]: ("A", 642, [])})
    ops = world["staff"]["ops1"]
    assert list(search(engine, ops, name="东方").rows["credit_grade"]) == [None]
    with pytest.raises(PermissionDenied) as err:
        search(engine, ops, credit_grade="A")
    assert err.value.key == "directory.credit_not_for_role"
    with engine.connect() as conn:
        prof = svc.merchant_profile(conn=conn, actor=ops, merchant_id=world["m1"])
    assert (prof.credit.visible, prof.credit.grade) == (False, None)


def test_without_the_ratings_view_everyone_is_not_rated_yet(world, engine):
    with engine.begin() as c:
        c.execute(sa.text("DROP VIEW IF EXISTS ops.merchant_credit"))
    bd = world["staff"]["bd1"]
    assert ids_of(search(engine, bd, credit_grade="A")) == []
    assert search(engine, bd, credit_grade="unrated").total == 6
    with engine.connect() as conn:
        prof = svc.merchant_profile(conn=conn, actor=bd, merchant_id=world["m1"])
    assert (prof.credit.visible, prof.credit.available, prof.credit.rated) == (True, False, False)


# ---------------------------------------------------------------- profile
def test_profile_sections(world, engine):
    with engine.connect() as conn:
        m1 = svc.merchant_profile(conn=conn, actor=world["staff"]["bd1"], merchant_id=world["m1"])
        m3 = svc.merchant_profile(conn=conn, actor=world["staff"]["bd1"], merchant_id=world["m3"])
    assert m1.identity["bd_owner"] == "BD1"
    assert m1.identity["city"] == "北京"
    assert list(m1.certifications["status"]) == ["approved", "rejected"]
    assert list(m1.listings_live["id"]) == [world["l1_live"]]
    assert list(m1.listings_past["id"]) == [world["l1_sold"]]
    assert list(m1.listings_live["vehicle"]) == ["丰田 凯美瑞 2025款 2.0E 精英版"]
    assert list(m1.requests_live["id"]) == [world["r1_open"]]
    assert list(m3.requests_live["id"]) == [world["r3_open"]]
    assert list(m3.requests_past["id"]) == [world["r3_closed"]]
    # the one match and deal, seen from each side
    assert m1.matches[["side", "counterparty", "stage"]].values.tolist() == [
        ["seller", "冀中资源", "deposit_paid"]]
    assert m3.matches[["side", "counterparty"]].values.tolist() == [["buyer", "东方汽车贸易"]]
    assert m1.deals[["side", "status", "escrow_state"]].values.tolist() == [
        ["seller", "disputed", "disputed"]]
    assert float(m1.deals["deposit_amount"].iloc[0]) == 5000.0
    assert m1.reviews_received[["counterparty", "stars"]].values.tolist() == [["冀中资源", 2]]
    assert m1.reviews_given[["counterparty", "stars"]].values.tolist() == [["京华二网车行", 5]]
    assert m1.disputes[["side", "counterparty", "reason"]].values.tolist() == [
        ["against", "冀中资源", "late_delivery"]]
    assert m3.disputes["side"].tolist() == ["raised"]
    assert m1.notifications[["template", "status"]].values.tolist() == [["deposit_held", "sent"]]
    assert m1.contact_log.empty


def test_profile_of_unknown_merchant(world, engine):
    with engine.connect() as conn, pytest.raises(NotFound):
        svc.merchant_profile(conn=conn, actor=world["staff"]["bd1"], merchant_id=999_999)


# ---------------------------------------------------------------- contact log
def test_bd_logs_a_contact_with_next_follow_up(world, engine):
    bd = world["staff"]["bd1"]
    follow = today() + timedelta(days=3)
    with engine.begin() as conn:
        svc.add_contact(conn=conn, actor=bd, merchant_id=world["m3"], kind="visit",
                        body="  到店拜访，对方有20台凯美瑞  ", next_follow_up=follow)
    with engine.connect() as conn:
        prof = svc.merchant_profile(conn=conn, actor=bd, merchant_id=world["m3"])
        audit = conn.execute(sa.text("""SELECT action, entity_id, after FROM ops.audit_log""")).one()
    assert prof.contact_log[["staff", "kind", "body"]].values.tolist() == [
        ["BD1", "visit", "到店拜访，对方有20台凯美瑞"]]
    assert prof.contact_log["next_follow_up"].tolist() == [follow]
    assert (audit.action, audit.entity_id) == ("merchant.contact_logged", str(world["m3"]))
    assert audit.after["next_follow_up"] == follow.isoformat()


@pytest.mark.parametrize("kind, body, days, key", [
    ("sms", "x", 1, "directory.bad_contact_kind"),
    ("call", "   ", 1, "directory.contact_body_required"),
    ("call", "x" * 2001, 1, "directory.contact_body_too_long"),
    ("call", "ok", -1, "directory.follow_up_out_of_range"),
    ("call", "ok", 400, "directory.follow_up_out_of_range"),
])
def test_bad_contact_entries_are_refused(world, engine, kind, body, days, key):
    with engine.begin() as conn, pytest.raises(InvalidInput) as err:
        svc.add_contact(conn=conn, actor=world["staff"]["bd1"], merchant_id=world["m3"],
                        kind=kind, body=body, next_follow_up=today() + timedelta(days=days))
    assert err.value.key == key
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM ops.contact_log")).scalar() == 0


def test_contact_log_is_for_bd(world, engine):
    with engine.begin() as conn, pytest.raises(PermissionDenied):
        svc.add_contact(conn=conn, actor=world["staff"]["boss"], merchant_id=world["m3"],
                        kind="call", body="hi")


# ---------------------------------------------------------------- owner change
def _merchant(engine, mid):
    with engine.connect() as conn:
        return conn.execute(sa.text("SELECT status, bd_owner_id, version FROM app.merchants "
                                    "WHERE id = :id"), {"id": mid}).one()


def _audit_rows(engine, action):
    with engine.connect() as conn:
        return conn.execute(sa.text("""SELECT actor_id, entity_type, entity_id, before, after, reason
                                       FROM ops.audit_log WHERE action = :a ORDER BY id"""),
                            {"a": action}).all()


def test_manager_changes_owner_and_it_is_audited(world, engine):
    boss, bd1, bd2 = (world["staff"][k] for k in ("boss", "bd1", "bd2"))
    with engine.begin() as conn:
        svc.change_owner(conn=conn, actor=boss, merchant_id=world["m1"], new_owner_id=bd2.id,
                         reason="区域调整", expected_version=1)
    row = _merchant(engine, world["m1"])
    assert (row.bd_owner_id, row.version) == (bd2.id, 2)
    [audit] = _audit_rows(engine, "merchant.change_owner")
    assert audit.actor_id == boss.id
    assert (audit.entity_type, audit.entity_id) == ("merchant", str(world["m1"]))
    assert audit.before == {"bd_owner_id": bd1.id}
    assert audit.after == {"bd_owner_id": bd2.id}
    assert audit.reason == "区域调整"


@pytest.mark.parametrize("who, new_owner, reason, version, error, key", [
    ("bd1", "bd2", "x", 1, PermissionDenied, "error.role_required"),
    ("boss", "bd2", "  ", 1, InvalidInput, "error.reason_required"),
    ("boss", "ops1", "x", 1, InvalidInput, "directory.owner_not_bd"),
    ("boss", "bd1", "x", 1, InvalidInput, "directory.owner_unchanged"),
    ("boss", "bd2", "x", 7, Conflict, "error.stale"),
])
def test_owner_change_refusals_change_nothing(world, engine, who, new_owner, reason, version,
                                              error, key):
    with engine.begin() as conn, pytest.raises(error) as err:
        svc.change_owner(conn=conn, actor=world["staff"][who], merchant_id=world["m1"],
                         new_owner_id=world["staff"][new_owner].id, reason=reason,
                         expected_version=version)
    assert err.value.key == key
    assert _merchant(engine, world["m1"]).bd_owner_id == world["staff"]["bd1"].id
    assert _audit_rows(engine, "merchant.change_owner") == []


# ---------------------------------------------------------------- suspension
def _matchable(engine) -> list[int]:
    with engine.connect() as conn:
        return sorted(conn.execute(sa.text("SELECT id FROM app.matchable_listings")).scalars())


def _matchable_requests(engine) -> list[int]:
    with engine.connect() as conn:
        return sorted(conn.execute(sa.text("SELECT id FROM app.matchable_requests")).scalars())


def test_suspension_is_audited_and_leaves_the_merchant_out_of_matching(world, engine):
    op, risker = world["staff"]["ops1"], world["staff"]["risker"]
    # m4 is suspended from the start: its live listing is not matchable; sold ones never are.
    assert _matchable(engine) == sorted([world["l1_live"], world["l2_live"]])
    assert _matchable_requests(engine) == sorted([world["r1_open"], world["r3_open"]])
    with engine.begin() as conn:
        svc.suspend_merchant(conn=conn, actor=op, merchant_id=world["m1"],
                             reason_code="fake_listings", note="3 条虚假车源", expected_version=1)
    assert _merchant(engine, world["m1"]).status == "suspended"
    assert _matchable(engine) == [world["l2_live"]]
    assert _matchable_requests(engine) == [world["r3_open"]]
    # its listing itself is untouched
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT status FROM app.listings WHERE id = :id"),
                            {"id": world["l1_live"]}).scalar() == "live"
    [audit] = _audit_rows(engine, "merchant.suspend")
    assert (audit.actor_id, audit.before, audit.after) == (
        op.id, {"status": "active"}, {"status": "suspended"})
    assert audit.reason == "fake_listings: 3 条虚假车源"

    with engine.begin() as conn:
        svc.reinstate_merchant(conn=conn, actor=risker, merchant_id=world["m1"],
                               reason_code="issue_resolved", expected_version=2)
    assert _matchable(engine) == sorted([world["l1_live"], world["l2_live"]])
    [audit] = _audit_rows(engine, "merchant.reinstate")
    assert (audit.actor_id, audit.before, audit.after, audit.reason) == (
        risker.id, {"status": "suspended"}, {"status": "active"}, "issue_resolved")


@pytest.mark.parametrize("who, action, code, note, version, error, key", [
    ("bd1", "suspend", "fake_listings", "", 1, PermissionDenied, "error.role_required"),
    ("boss", "suspend", "fake_listings", "", 1, PermissionDenied, "error.role_required"),
    ("ops1", "suspend", "", "", 1, InvalidInput, "error.reason_required"),
    ("ops1", "suspend", "looks_odd", "", 1, InvalidInput, "directory.bad_reason"),
    ("ops1", "suspend", "other", " ", 1, InvalidInput, "directory.reason_note_required"),
    ("ops1", "suspend", "fake_listings", "", 0, Conflict, "error.stale"),
    ("ops1", "reinstate", "issue_resolved", "", 1, Conflict, "directory.status_not_suspended"),
    ("risker", "suspend", "issue_resolved", "", 1, InvalidInput, "directory.bad_reason"),
])
def test_status_refusals_change_nothing(world, engine, who, action, code, note, version, error, key):
    fn = svc.suspend_merchant if action == "suspend" else svc.reinstate_merchant
    with engine.begin() as conn, pytest.raises(error) as err:
        fn(conn=conn, actor=world["staff"][who], merchant_id=world["m1"], reason_code=code,
           note=note, expected_version=version)
    assert err.value.key == key
    assert _merchant(engine, world["m1"]).status == "active"
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM ops.audit_log")).scalar() == 0


def test_suspending_a_suspended_merchant_is_a_conflict(world, engine):
    with engine.begin() as conn, pytest.raises(Conflict) as err:
        svc.suspend_merchant(conn=conn, actor=world["staff"]["ops1"], merchant_id=world["m4"],
                             reason_code="fraud_suspected", expected_version=1)
    assert err.value.key == "directory.status_not_active"


def test_profile_shows_staff_history(world, engine):
    with engine.begin() as conn:
        svc.suspend_merchant(conn=conn, actor=world["staff"]["ops1"], merchant_id=world["m1"],
                             reason_code="fraud_suspected", expected_version=1)
    with engine.connect() as conn:
        prof = svc.merchant_profile(conn=conn, actor=world["staff"]["boss"], merchant_id=world["m1"])
    assert prof.identity["status"] == "suspended"
    assert prof.staff_history[["actor", "action", "reason"]].values.tolist() == [
        ["OPS1", "merchant.suspend", "fraud_suspected"]]
    assert json.loads(json.dumps(prof.staff_history["after"].iloc[0])) == {"status": "suspended"}


def test_follow_ups_due_are_the_latest_entry_per_merchant(world, engine):
    bd = world["staff"]["bd1"]
    now = today()
    with engine.begin() as conn:
        svc.add_contact(conn=conn, actor=bd, merchant_id=world["m3"], kind="call", body="a",
                        next_follow_up=now + timedelta(days=3))
        svc.add_contact(conn=conn, actor=bd, merchant_id=world["m2"], kind="call", body="b",
                        next_follow_up=now + timedelta(days=30))
        svc.add_contact(conn=conn, actor=world["staff"]["bd2"], merchant_id=world["m1"],
                        kind="visit", body="c", next_follow_up=now)
    with engine.connect() as conn:
        due = svc.follow_ups_due(conn=conn, actor=bd, within_days=7)
        assert due[["id", "next_follow_up"]].values.tolist() == [
            [world["m3"], now + timedelta(days=3)]]
        assert svc.follow_ups_due(conn=conn, actor=bd).empty      # nothing due today
    with engine.begin() as conn:   # a newer note without a date closes the follow-up
        svc.add_contact(conn=conn, actor=bd, merchant_id=world["m3"], kind="wechat", body="done")
    with engine.connect() as conn:
        assert svc.follow_ups_due(conn=conn, actor=bd, within_days=7).empty


def test_every_column_shown_has_a_label_in_both_languages(world, engine):
    """The pages label columns as '<prefix>.<column>': each must exist in the catalogue."""
    from console.i18n import has_key
    with engine.connect() as conn:
        prof = svc.merchant_profile(conn=conn, actor=world["staff"]["ops1"], merchant_id=world["m1"])
        page = search(engine, world["staff"]["ops1"])
    frames = {"directory.col": page.rows.drop(columns=["size_class"]),
              "profile.cert": prof.certifications, "profile.listing": prof.listings_live,
              "profile.request": prof.requests_live, "profile.match": prof.matches,
              "profile.deal": prof.deals, "profile.review": prof.reviews_given,
              "profile.dispute": prof.disputes, "profile.notification": prof.notifications,
              "profile.contact": prof.contact_log, "audit": prof.staff_history}
    missing = [f"{p}.{c}" for p, df in frames.items() for c in df.columns if not has_key(f"{p}.{c}")]
    assert missing == []
    codes = [f"directory.reason.{r}" for r in svc.SUSPEND_REASONS + svc.REINSTATE_REASONS]
    codes += [f"directory.sort.{s}" for s in svc.SORTS]
    codes += [f"enum.contact_kind.{k}" for k in svc.CONTACT_KINDS]
    assert [k for k in codes if not has_key(k)] == []


def test_home_counts_my_follow_ups_due_today(world, engine):
    from console.services.home import waiting_counts
    bd = world["staff"]["bd1"]
    with engine.begin() as conn:
        svc.add_contact(conn=conn, actor=bd, merchant_id=world["m3"], kind="call", body="a",
                        next_follow_up=today())
        svc.add_contact(conn=conn, actor=bd, merchant_id=world["m2"], kind="call", body="b",
                        next_follow_up=today() + timedelta(days=1))
    with engine.connect() as conn:
        counts = {c.label_key: c.value for c in waiting_counts(conn=conn, actor=bd)}
    assert counts["home.bd.follow_ups_due"] == 1


def test_profile_mixes_personal_and_enterprise_cases(world, engine):
    """Enterprise cases carry no ID number: the column mixes text and NULL."""
    with engine.begin() as c:
        c.execute(sa.text("""INSERT INTO app.certifications (merchant_id, kind, status, real_name,
                                 id_number, submitted_at)
                             VALUES (:m, 'personal', 'pending', '赵六', '130102199001011234',
                                     now())"""), {"m": world["m5"]})
    with engine.connect() as conn:
        prof = svc.merchant_profile(conn=conn, actor=world["staff"]["bd1"], merchant_id=world["m5"])
    assert prof.certifications[["kind", "id_number"]].values.tolist() == [
        ["personal", "130***********1234"], ["enterprise", None]]
