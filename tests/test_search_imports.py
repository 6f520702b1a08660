"""Car search's parallel-import filters (market version, port, in stock or future), alone and
combined with the others, and the import columns each row shows BD: version, port,
availability and arrival, "documents missing" (console/imports/status.py) and the price
reference with its count."""
from __future__ import annotations

from datetime import timedelta

import pytest

from console import clock
from console.errors import InvalidInput
from console.services.search import SearchFilters, search_listings
from tests import import_rows as ir
from tests import trust_rows as tr

IN_20, IN_40 = clock.today() + timedelta(days=20), clock.today() + timedelta(days=40)


@pytest.fixture
def market(engine):
    city = tr.city(engine)
    trim, domestic_trim = tr.trim(engine, guide=1_200_000), tr.trim(engine, guide=300_000)
    importer = tr.merchant(engine, city_id=city, merchant_type="parallel_import")
    dealer = tr.merchant(engine, city_id=city)

    def imp(price, **kw):
        return ir.imported(engine, merchant_id=importer, trim_id=trim, city_id=city,
                           price=price, **kw)

    ids = {"A": imp(1_150_000),
           "B": imp(1_180_000, port="shanghai", availability="future", arrival=IN_20),
           "C": imp(1_300_000, market="us", availability="future", arrival=IN_40),
           "E": imp(1_250_000, market="canada", port="dalian"),
           "N": imp(1_100_000, market=None),
           "X": tr.listing(engine, merchant_id=dealer, trim_id=domestic_trim, city_id=city,
                           price=280_000, guide=300_000)}
    return {"ids": ids, "trim": trim}


def search(engine, actor, **kw):
    with engine.connect() as conn:
        return search_listings(conn=conn, actor=actor, filters=SearchFilters(**kw), limit=50)


def plain(value):
    """A cell as the page reads it: pandas' NaN in a column of text is no value (None)."""
    return None if isinstance(value, float) and value != value else value


def found(page, ids):
    back = {v: k for k, v in ids.items()}
    return [back[int(i)] for i in page.rows["listing_id"]]


@pytest.mark.parametrize("filters, expected", [
    ({}, ["X", "N", "A", "B", "E", "C"]),
    ({"market_versions": ("middle_east",)}, ["A", "B"]),
    ({"market_versions": ("us", "canada")}, ["E", "C"]),
    ({"ports": ("tianjin",)}, ["A", "C"]),
    ({"availability": "future"}, ["B", "C"]),
    ({"availability": "in_stock"}, ["A", "E"]),
    ({"market_versions": ("middle_east", "us"), "availability": "future"}, ["B", "C"]),
    ({"ports": ("tianjin", "dalian"), "price_max": 1_260_000}, ["A", "E"]),
    ({"ports": ("tianjin",), "market_versions": ("canada",)}, []),
    ({"market_versions": ("us",), "parallel_import": False}, []),
    ({"market_versions": ("middle_east",), "parallel_import": True, "points_min": 1}, ["A", "B"]),
    ({"availability": "in_stock", "merchant_types": ("parallel_import",),
      "fresh_days": 7}, ["A", "E"]),
])
def test_import_filters_alone_and_combined(engine, make_actor, market, filters, expected):
    page = search(engine, make_actor("bd"), sort="price", **filters)
    assert found(page, market["ids"]) == expected
    assert page.total == len(expected)


def test_trim_and_import_filters_together(engine, make_actor, market):
    page = search(engine, make_actor("bd"), trim_id=market["trim"], availability="in_stock",
                  sort="price_desc")
    assert found(page, market["ids"]) == ["E", "A"]


def test_each_import_row_shows_version_port_arrival_documents_and_reference(
        engine, make_actor, market, settings_env):
    ops = make_actor("ops")
    ids = market["ids"]
    ir.approve_documents(engine, listing_id=ids["B"], staff_id=ops.id)
    ir.approve_documents(engine, listing_id=ids["A"], staff_id=ops.id,
                         kinds=("customs", "inspection", "env_disclosure"))   # no conformity
    page = search(engine, make_actor("bd"), sort="price")
    rows = {found(page, ids)[i]: r for i, r in enumerate(page.rows.to_dict("records"))}
    shown = {k: tuple(plain(r[c]) for c in ("market_version", "port", "availability",
                                              "expected_arrival", "docs_missing"))
             for k, r in rows.items()}
    assert shown["A"] == ("middle_east", "tianjin", "in_stock", None, True)
    assert shown["B"] == ("middle_east", "shanghai", "future", IN_20, False)
    assert shown["C"] == ("us", "tianjin", "future", IN_40, True)
    assert shown["N"][:4] == (None, None, None, None) and shown["N"][4] is True
    assert shown["X"][:4] == (None, None, None, None) and shown["X"][4] is None  # domestic
    # A's reference rests on B alone (1 price; three are needed): none, with the count.
    assert (plain(rows["A"]["import_reference"]), rows["A"]["import_reference_count"]) == (None, 1)
    settings_env(CONSOLE_IMPORT_PRICE_MIN_COUNT=1)
    page = search(engine, make_actor("bd"), market_versions=("middle_east",), sort="price")
    assert [float(v) for v in page.rows["import_reference"]] == [1_180_000, 1_150_000]


@pytest.mark.parametrize("filters", [{"market_versions": ("japan",)}, {"ports": ("xiamen",)},
                                     {"availability": "soon"},
                                     {"market_versions": ("middle_east", "MIDDLE_EAST")}])
def test_a_forged_import_filter_is_refused(engine, make_actor, market, filters):
    with pytest.raises(InvalidInput) as err:
        search(engine, make_actor("bd"), **filters)
    assert err.value.key == "imports.search.error.unknown_choice"


@pytest.mark.parametrize("lang, cols, values", [
    ("zh", ("版本", "口岸", "现车/期货", "单证", "参考价（万元）"),
     [("中东版", "天津港", "现车", "缺单证"),
      ("中东版", "上海港", f"期货，预计 {IN_20.isoformat()} 到港", "缺单证")]),
])
def test_the_search_page_filters_imports_and_shows_their_columns(engine, make_actor, market,
                                                                 lang, cols, values):
    """In Chinese: AppTest formats a widget's value outside the page's run, where the
    language is the default (an English run's filters cannot be set from a test)."""
    from tests.apptest import app_as
    at = app_as(make_actor("bd"), lang=lang, page="pages/bd_search.py")
    at.multiselect(key="s_markets").set_value(["middle_east"]).run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    table = at.dataframe[0].value
    assert set(cols) <= set(table.columns), list(table.columns)
    assert sorted(tuple(r) for r in table[list(cols[:4])].itertuples(index=False)) == sorted(values)


def test_the_import_columns_read_in_english(monkeypatch):
    import pandas as pd

    from console.ui import import_details as import_ui
    monkeypatch.setattr(import_ui, "lang", lambda: "en")
    monkeypatch.setattr(import_ui, "t", lambda key, **kw: __import__(
        "console.i18n", fromlist=["translate"]).translate(key, "en", **kw))
    rows = pd.DataFrame([
        {"is_parallel_import": True, "market_version": "middle_east", "port": "shanghai",
         "availability": "future", "expected_arrival": IN_20, "docs_missing": True,
         "import_reference": None, "import_reference_count": 1},
        {"is_parallel_import": False, "market_version": None, "port": None,
         "availability": None, "expected_arrival": None, "docs_missing": None,
         "import_reference": None, "import_reference_count": None}])
    shown = import_ui.search_columns(rows)
    assert [[plain(v) for v in r]
            for r in shown[["market_version", "port", "arrival", "docs"]].values.tolist()] == [
        ["Middle East", "Shanghai", f"Future, arriving {IN_20.isoformat()}", "Documents missing"],
        [None, None, None, None]]
