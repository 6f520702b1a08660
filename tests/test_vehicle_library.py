"""Vehicle library: browse, and the CSV import of trims and guide prices (preview, then
confirm all valid rows in one transaction), with guide-price history."""
from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest
import sqlalchemy as sa

from console.errors import Conflict, InvalidInput, PermissionDenied
from console.services import vehicle_library as svc

DATA = Path(__file__).parent / "data"
MIXED = (DATA / "vehicle_import_mixed.csv").read_bytes()


def _ins(conn, sql: str, **params) -> int:
    return conn.execute(sa.text(sql), params).scalar_one()


@pytest.fixture
def library(engine, make_actor):
    """丰田 (凯美瑞, 卡罗拉) and 比亚迪 (秦PLUS), three trims, one listing on a trim."""
    lib: dict = {"ops": make_actor("ops", username="ops_li"), "bd": make_actor("bd")}
    with engine.begin() as c:
        toyota = _ins(c, "INSERT INTO app.brands (name, initial) VALUES ('丰田', 'F') RETURNING id")
        byd = _ins(c, "INSERT INTO app.brands (name, initial) VALUES ('比亚迪', 'B') RETURNING id")

        def series(brand, name, lo, hi, energy):
            return _ins(c, """INSERT INTO app.series (brand_id, name, manufacturer, min_guide_price,
                                  max_guide_price, energy_type, origin)
                              VALUES (:b, :n, 'x', :lo, :hi, :e, 'domestic') RETURNING id""",
                        b=brand, n=name, lo=lo, hi=hi, e=energy)

        def trim(series_id, name, year, price):
            return _ins(c, """INSERT INTO app.trims (series_id, name, model_year, guide_price, energy_type)
                              VALUES (:s, :n, :y, :p, 'ice') RETURNING id""",
                        s=series_id, n=name, y=year, p=price)

        lib["camry"] = series(toyota, "凯美瑞", 150000, 250000, "ice")
        lib["corolla"] = series(toyota, "卡罗拉", 100000, 150000, "ice")
        lib["qin"] = series(byd, "秦PLUS", 100000, 150000, "phev")
        lib["t1"] = trim(lib["camry"], "2024款 2.0E 精英版", 2024, 179800)
        lib["t2"] = trim(lib["camry"], "2024款 2.5G 豪华版", 2024, 209800)
        lib["t3"] = trim(lib["corolla"], "2024款 1.2T 先锋版", 2024, 119800)
        city = _ins(c, """INSERT INTO app.cities (name, short_name, adcode, province, tier_level,
                              tier_name, longitude, latitude)
                          VALUES ('北京', '北京', '110000', '北京', 1, '一线', 116, 39) RETURNING id""")
        merchant = _ins(c, """INSERT INTO app.merchants (name, merchant_type, city_id, channel,
                                  registered_at, phone)
                              VALUES ('车商', '4s', :c, 'organic', now(), '13800000000') RETURNING id""",
                        c=city)
        lib["listing"] = _ins(c, """
            INSERT INTO app.listings (merchant_id, trim_id, exterior_color, interior_color, quantity,
                city_id, price, guide_price, available_from, published_at)
            VALUES (:m, :t, '白', '黑', 1, :c, 170000, 179800, current_date, now()) RETURNING id""",
            m=merchant, t=lib["t1"], c=city)
    return lib


def snapshot(engine) -> dict:
    """What an import could change, to compare before and after."""
    with engine.connect() as c:
        q = lambda sql: [tuple(r) for r in c.execute(sa.text(sql))]  # noqa: E731
        return {
            "trims": q("SELECT id, series_id, name, model_year, guide_price, energy_type "
                       "FROM app.trims ORDER BY id"),
            "history": q("SELECT trim_id, old_price, new_price FROM app.trim_price_history ORDER BY id"),
            "series": q("SELECT id, min_guide_price, max_guide_price FROM app.series ORDER BY id"),
            "audit": q("SELECT action FROM ops.audit_log ORDER BY id"),
        }


def preview(engine, actor, content=MIXED):
    with engine.connect() as conn:
        return svc.preview_import(conn=conn, actor=actor, content=content)


EXPECTED_ERRORS = [
    (6, "unknown_brand", "brand"),
    (7, "unknown_series", "series"),
    (8, "price_not_positive", "guide_price"),
    (9, "price_not_numeric", "guide_price"),
    (10, "price_not_positive", "guide_price"),
    (11, "duplicate_trim", "trim"),
    (12, "duplicate_trim", "trim"),
    (13, "missing_field", "series"),
    (14, "missing_field", "trim"),
    (15, "bad_model_year", "model_year"),
    (16, "bad_model_year", "model_year"),
    (17, "bad_energy_type", "energy_type"),
    (19, "price_not_numeric", "guide_price"),
    (20, "missing_field", "guide_price"),
    (20, "missing_field", "model_year"),
    (22, "bad_model_year", "model_year"),   # 2099: beyond next year's models; row 21 is blank
]


def test_preview_lists_adds_changes_and_errors_by_row_and_writes_nothing(library, engine):
    before = snapshot(engine)
    plan = preview(engine, library["ops"])
    assert snapshot(engine) == before
    assert [tuple(r) for r in plan.errors[["row", "code", "field"]].itertuples(index=False)] \
        == EXPECTED_ERRORS
    dup = plan.errors[plan.errors["row"] == 11]["value"].tolist()
    assert dup == ["2025款 2.5Q 旗舰版 (12)"]
    assert plan.to_add[["row", "trim", "model_year", "guide_price", "energy_type"]].values.tolist() == [
        [2, "2025款 2.0E 精英版", 2025, Decimal("171800.00"), "ice"],      # energy from its series
        [5, "2025款 DM-i 55km 领先型", 2025, Decimal("79800.00"), "phev"],
    ]
    assert plan.to_change[["row", "trim_id", "old_price", "guide_price"]].values.tolist() == [
        [3, library["t1"], Decimal("179800.00"), Decimal("169800.00")],
        [18, library["t3"], Decimal("119800.00"), Decimal("115800.00")],
    ]
    assert (plan.unchanged, plan.rows) == (1, 20)


def test_confirm_applies_valid_rows_keeps_listing_prices_and_records_history(library, engine):
    ops = library["ops"]
    plan = preview(engine, ops)
    with engine.begin() as conn:
        result = svc.confirm_import(conn=conn, actor=ops, content=MIXED, digest=plan.digest)
    assert (result.added, result.changed, result.price_changes) == (2, 2, 4)
    with engine.connect() as c:
        prices = dict(c.execute(sa.text("SELECT name, guide_price FROM app.trims")).all())
        history = c.execute(sa.text("""
            SELECT t.name, h.old_price, h.new_price, h.changed_by, h.source
            FROM app.trim_price_history h JOIN app.trims t ON t.id = h.trim_id
            ORDER BY t.name""")).all()
        listing_guide = c.execute(sa.text("SELECT guide_price FROM app.listings WHERE id = :id"),
                                  {"id": library["listing"]}).scalar()
        qin_range = c.execute(sa.text("SELECT min_guide_price, max_guide_price FROM app.series "
                                      "WHERE id = :id"), {"id": library["qin"]}).one()
        audit = c.execute(sa.text("SELECT actor_id, action, after FROM ops.audit_log")).one()
    assert prices == {
        "2024款 2.0E 精英版": Decimal("169800.00"), "2024款 2.5G 豪华版": Decimal("209800.00"),
        "2024款 1.2T 先锋版": Decimal("115800.00"), "2025款 2.0E 精英版": Decimal("171800.00"),
        "2025款 DM-i 55km 领先型": Decimal("79800.00")}
    assert [tuple(h) for h in history] == [
        ("2024款 1.2T 先锋版", Decimal("119800.00"), Decimal("115800.00"), ops.id, "import"),
        ("2024款 2.0E 精英版", Decimal("179800.00"), Decimal("169800.00"), ops.id, "import"),
        ("2025款 2.0E 精英版", None, Decimal("171800.00"), ops.id, "import"),
        ("2025款 DM-i 55km 领先型", None, Decimal("79800.00"), ops.id, "import"),
    ]
    # the listing keeps the guide price it was published against
    assert listing_guide == Decimal("179800.00")
    # the series' range now covers its new, cheaper trim
    assert tuple(qin_range) == (Decimal("79800.00"), Decimal("150000.00"))
    assert (audit.actor_id, audit.action) == (ops.id, "vehicle_library.import")
    assert {k: audit.after[k] for k in ("rows", "added", "changed", "skipped_errors", "unchanged")} \
        == {"rows": 20, "added": 2, "changed": 2, "skipped_errors": 15, "unchanged": 1}


def test_price_history_is_browsable_newest_first(library, engine):
    ops = library["ops"]
    first = ("brand,series,trim,model_year,guide_price\n"
             "丰田,卡罗拉,2024款 1.2T 先锋版,2024,115800\n").encode()
    second = first.replace(b"115800", b"112800")
    for content in (first, second):
        plan = preview(engine, ops, content)
        with engine.begin() as conn:
            svc.confirm_import(conn=conn, actor=ops, content=content, digest=plan.digest)
    with engine.connect() as conn:
        hist = svc.price_history(conn=conn, actor=library["bd"], trim_id=library["t3"])
    assert hist[["old_price", "new_price", "changed_by", "source"]].values.tolist() == [
        [Decimal("115800.00"), Decimal("112800.00"), "OPS_LI", "import"],
        [Decimal("119800.00"), Decimal("115800.00"), "OPS_LI", "import"],
    ]


def test_confirm_refuses_when_the_library_changed_since_the_preview(library, engine):
    ops = library["ops"]
    plan = preview(engine, ops)
    with engine.begin() as c:
        c.execute(sa.text("UPDATE app.trims SET guide_price = 175000 WHERE id = :id"),
                  {"id": library["t1"]})
    before = snapshot(engine)
    with engine.begin() as conn, pytest.raises(Conflict) as err:
        svc.confirm_import(conn=conn, actor=ops, content=MIXED, digest=plan.digest)
    assert err.value.key == "vehicle.import_stale"
    assert snapshot(engine) == before


def test_the_same_file_cannot_be_confirmed_twice(library, engine):
    ops = library["ops"]
    plan = preview(engine, ops)
    with engine.begin() as conn:
        svc.confirm_import(conn=conn, actor=ops, content=MIXED, digest=plan.digest)
    after_first = snapshot(engine)
    with engine.begin() as conn, pytest.raises(Conflict):
        svc.confirm_import(conn=conn, actor=ops, content=MIXED, digest=plan.digest)
    assert snapshot(engine) == after_first


def test_a_database_failure_midway_applies_nothing(library, engine):
    """The adds are written before the changes; a failure on the last write undoes them all."""
    with engine.begin() as c:
        c.execute(sa.text("""
            CREATE FUNCTION app.fail_on_115800() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN
                IF NEW.new_price = 115800 THEN RAISE EXCEPTION 'simulated disk failure'; END IF;
                RETURN NEW;
            END $$;
            CREATE TRIGGER fail_on_115800 BEFORE INSERT ON app.trim_price_history
                FOR EACH ROW EXECUTE FUNCTION app.fail_on_115800();"""))
    ops = library["ops"]
    plan = preview(engine, ops)
    before = snapshot(engine)
    with pytest.raises(sa.exc.DBAPIError, match="simulated disk failure"):
        with engine.begin() as conn:
            svc.confirm_import(conn=conn, actor=ops, content=MIXED, digest=plan.digest)
    assert snapshot(engine) == before


def test_a_file_with_only_errors_and_unchanged_rows_has_nothing_to_confirm(library, engine):
    content = ("brand,series,trim,model_year,guide_price\n"
               "丰田,凯美瑞,2024款 2.5G 豪华版,2024,209800\n"
               "宝马,3系,2025款 325Li,2025,349900\n").encode()
    plan = preview(engine, library["ops"], content)
    assert (len(plan.to_add), len(plan.to_change), plan.unchanged) == (0, 0, 1)
    assert plan.errors["code"].tolist() == ["unknown_brand"]
    with engine.begin() as conn, pytest.raises(InvalidInput) as err:
        svc.confirm_import(conn=conn, actor=library["ops"], content=content, digest=plan.digest)
    assert err.value.key == "vehicle.import_nothing"


def test_chinese_headers_and_gb18030_are_accepted(library, engine):
    plan = preview(engine, library["ops"], (DATA / "vehicle_import_gb18030.csv").read_bytes())
    assert plan.errors.empty
    assert plan.to_add[["row", "series", "trim", "guide_price"]].values.tolist() == [
        [2, "卡罗拉", "2025款 1.5L 新款", Decimal("109800.00")]]


@pytest.mark.parametrize("content, key", [
    (b"", "vehicle.import_empty"),
    ("brand,series,trim,model_year,guide_price\n".encode(), "vehicle.import_empty"),
    ("brand,series,trim,price\n丰田,凯美瑞,x,1\n".encode(), "vehicle.import_missing_columns"),
    (b"\xff\xfe\x00\x00\xc0", "vehicle.import_bad_encoding"),
])
def test_unreadable_files_are_refused(library, engine, content, key):
    with pytest.raises(InvalidInput) as err:
        preview(engine, library["ops"], content)
    assert err.value.key == key


def test_roles(library, engine, make_actor):
    bd = library["bd"]
    with engine.connect() as conn:
        brands = svc.list_brands(conn=conn, actor=bd)
        series = svc.list_series(conn=conn, actor=bd, brand_id=int(brands["id"].iloc[1]))
        trims = svc.list_trims(conn=conn, actor=bd, series_id=library["camry"])
        with pytest.raises(PermissionDenied):
            svc.preview_import(conn=conn, actor=bd, content=MIXED)
        svc.preview_import(conn=conn, actor=make_actor("admin"), content=MIXED)
    assert brands[["name", "series_count", "trim_count"]].values.tolist() == [
        ["比亚迪", 1, 0], ["丰田", 2, 3]]
    assert series["name"].tolist() == ["凯美瑞", "卡罗拉"]
    assert trims[["name", "guide_price"]].values.tolist() == [
        ["2024款 2.0E 精英版", Decimal("179800.00")], ["2024款 2.5G 豪华版", Decimal("209800.00")]]
    with engine.begin() as conn, pytest.raises(PermissionDenied):
        svc.confirm_import(conn=conn, actor=bd, content=MIXED, digest="x")


def test_every_error_code_and_column_shown_has_a_label(library, engine):
    from console.i18n import has_key
    plan = preview(engine, library["ops"])
    with engine.connect() as conn:
        trims = svc.list_trims(conn=conn, actor=library["ops"], series_id=library["camry"])
        hist = svc.price_history(conn=conn, actor=library["ops"], trim_id=library["t1"])
    keys = [f"vehicle.err.{c}" for c in {*plan.errors["code"], "price_too_high"}]
    keys += [f"vehicle.field.{f}" for f in svc.REQUIRED_COLUMNS + svc.OPTIONAL_COLUMNS]
    keys += [f"vehicle.errcol.{c}" for c in plan.errors.columns]
    keys += [f"vehicle.plan.{c}" for c in plan.to_add.columns.union(plan.to_change.columns)
             if c not in ("series_id", "trim_id")]
    keys += [f"vehicle.col.{c}" for c in trims.columns] + [f"vehicle.hist.{c}" for c in hist.columns]
    assert [k for k in keys if not has_key(k)] == []
