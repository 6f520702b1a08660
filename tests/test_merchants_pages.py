"""AppTest of the directory, profile and vehicle-library pages on hand-built rows."""
from __future__ import annotations

import sqlalchemy as sa

from tests.apptest import app_as
from tests.test_merchants import PHONE_1, _rate, world  # noqa: F401  (fixture)
from tests.test_vehicle_library import MIXED, library  # noqa: F401  (fixture)

DIRECTORY = "pages/merchant_directory.py"
PROFILE = "pages/merchant_profile.py"
LIBRARY = "pages/vehicle_library.py"


def _widget(items, label):
    [found] = [w for w in items if w.label == label]
    return found


def test_directory_lists_filters_and_masks(world, engine):
    at = app_as(world["staff"]["bd1"], page=DIRECTORY)
    assert not at.exception and not at.error
    table = at.dataframe[0].value
    assert len(table) == 6
    assert PHONE_1 in set(table["手机号"])
    _widget(at.text_input, "车商/企业名称").input("东方")
    _widget(at.button, "搜索").click().run()
    assert not at.exception
    assert at.dataframe[0].value["车商名称"].tolist() == ["东方汽车贸易"]
    assert any("共 1 条" in c.value for c in at.caption)


def test_directory_for_a_manager_has_no_phone_search_and_masked_numbers(world, engine):
    at = app_as(world["staff"]["boss"], page=DIRECTORY, lang="en")
    assert not at.exception and not at.error
    assert "Phone (full number)" not in [w.label for w in at.text_input]
    phones = set(at.dataframe[0].value["Phone"])
    assert "138****0001" in phones and PHONE_1 not in phones


def test_directory_export_is_prepared_and_audited(world, engine):
    at = app_as(world["staff"]["risker"], page=DIRECTORY)
    _widget(at.button, "按当前筛选生成导出").click().run()
    assert not at.exception and not at.error
    with engine.connect() as c:
        assert c.execute(sa.text("SELECT count(*) FROM ops.audit_log "
                                 "WHERE action = 'merchant.export'")).scalar() == 1


def _profile(actor, merchant_id, lang="zh"):
    from streamlit.testing.v1 import AppTest
    from tests.apptest import APP
    at = AppTest.from_file(APP, default_timeout=60)
    at.session_state["staff_id"] = actor.id
    at.session_state["lang"] = lang
    at.session_state["profile_merchant_id"] = merchant_id
    at.run()
    return at.switch_page(PROFILE).run()


def test_profile_renders_every_section(world, engine):
    for who in ("bd1", "ops1", "risker", "boss"):
        for lang in ("zh", "en"):
            at = _profile(world["staff"][who], world["m1"], lang)
            assert not at.exception, (who, lang, at.exception)
            assert not at.error, (who, [e.value for e in at.error])
            assert at.header[0].value == "东方汽车贸易"


def test_profile_shows_the_credit_grade_and_its_reasons(world, engine):
    _rate(engine, {world["m1"]: ("A", 642, ["disputes_lost"])})
    at = _profile(world["staff"]["risker"], world["m1"], "en")
    assert not at.exception and not at.error
    metrics = {m.label: m.value for m in at.metric}
    assert (metrics["Credit grade"], metrics["Score"]) == ("A", "642")
    assert any("- Disputes lost" in m.value for m in at.markdown)


def test_ops_suspends_from_the_profile(world, engine):
    at = _profile(world["staff"]["ops1"], world["m1"])
    _widget(at.text_input, "说明").input("虚假车源")
    _widget(at.button, "暂停车商").click().run()
    assert not at.exception and not at.error
    with engine.connect() as c:
        assert c.execute(sa.text("SELECT status FROM app.merchants WHERE id = :id"),
                         {"id": world["m1"]}).scalar() == "suspended"
    assert [s.value for s in at.success] == ["已完成。"]
    assert any("不参与撮合" in w.value for w in at.warning)


def test_manager_without_a_reason_is_refused_on_the_profile(world, engine):
    at = _profile(world["staff"]["boss"], world["m1"])
    _widget(at.button, "变更 BD 归属").click().run()
    assert [e.value for e in at.error] == ["必须填写原因。"]


def test_bd_logs_a_contact_on_the_profile(world, engine):
    at = _profile(world["staff"]["bd1"], world["m3"])
    _widget(at.text_area, "跟进内容").input("电话沟通，下周到店")
    _widget(at.button, "保存").click().run()
    assert not at.exception and not at.error
    with engine.connect() as c:
        assert c.execute(sa.text("SELECT body FROM ops.contact_log")).scalar() == "电话沟通，下周到店"


def test_vehicle_library_browse_and_import(library, engine):
    at = app_as(library["ops"], page=LIBRARY)
    assert not at.exception and not at.error
    assert "暂无数据" in [c.value for c in at.main.caption]  # 比亚迪 comes first: its series has no trims
    with engine.connect() as c:
        toyota = c.execute(sa.text("SELECT id FROM app.brands WHERE name = '丰田'")).scalar()
    _widget(at.selectbox, "品牌").set_value(toyota).run()  # 丰田 → its first series, 凯美瑞
    assert at.dataframe[0].value["车型"].tolist() == ["2024款 2.0E 精英版", "2024款 2.5G 豪华版"]
    at.file_uploader[0].set_value(("mixed.csv", MIXED, "text/csv")).run()
    assert not at.exception and not at.error
    metrics = {m.label: m.value for m in at.metric}
    assert metrics == {"将新增": "2", "将变更": "2", "错误行": "15", "无变化": "1"}
    with engine.connect() as c:
        assert c.execute(sa.text("SELECT count(*) FROM app.trims")).scalar() == 3
    _widget(at.button, "确认导入 4 条有效变更").click().run()
    assert not at.exception and not at.error
    assert [s.value for s in at.success] == ["已导入：新增 2 个车型，变更 2 个车型。"]
    with engine.connect() as c:
        assert c.execute(sa.text("SELECT count(*) FROM app.trims")).scalar() == 5


def test_vehicle_library_import_is_not_offered_to_bd(library, engine):
    at = app_as(library["bd"], page=LIBRARY)
    assert not at.exception and not at.error
    assert len(at.file_uploader) == 0
