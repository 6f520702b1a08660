"""Car-source search: each filter, the sorts, server-side paging."""
from __future__ import annotations

import pytest

from console.errors import InvalidInput, PermissionDenied
from console.services.search import SearchFilters, search_listings
import sqlalchemy as sa

from tests.test_matching_support import AS_OF, build_world


@pytest.fixture
def market(engine):
    w = build_world(engine)
    sh, cd = w.merchant(city="上海"), w.merchant(city="成都", merchant_type="resource")
    ids = {
        "sh_white": w.listing(merchant_id=sh, price=180_000, color="白", city="上海", published_days_ago=1),
        "hz_black": w.listing(merchant_id=sh, price=170_000, color="黑", city="杭州", published_days_ago=5,
                              self_operated=True),
        "cd_red": w.listing(merchant_id=cd, price=190_000, color="红", city="成都", published_days_ago=2,
                            parallel=True),
        "urumqi": w.listing(merchant_id=cd, trim_id=w.trim_b, price=198_000, guide_price=220_000,
                            city="乌鲁木齐", published_days_ago=20),
    }
    w.listing(merchant_id=w.merchant(status="suspended"), price=100_000)   # never shown
    w.listing(merchant_id=sh, price=150_000, status="sold")                 # never shown
    with engine.begin() as conn:   # freshness is measured from now(): shift the ages to today
        conn.execute(sa.text("UPDATE app.listings SET published_at = published_at + (now() - :a)"),
                     {"a": AS_OF})
    return w, ids


def run(engine, actor, **kw):
    with engine.connect() as conn:
        page = search_listings(conn=conn, actor=actor, filters=SearchFilters(**kw), limit=kw.pop("_limit", 50))
    return page


def names(page, ids):
    back = {v: k for k, v in ids.items()}
    return [back[i] for i in page.rows["listing_id"]]


@pytest.mark.parametrize("filters, expected", [
    ({"sort": "price"}, ["hz_black", "sh_white", "cd_red", "urumqi"]),
    ({"sort": "freshness"}, ["sh_white", "cd_red", "hz_black", "urumqi"]),
    ({"sort": "discount"}, ["hz_black", "sh_white", "urumqi", "cd_red"]),   # 15, 10, 10, 5 points
    ({"points_min": 10, "sort": "price"}, ["hz_black", "sh_white", "urumqi"]),
    ({"points_min": 6, "points_max": 12, "sort": "price"}, ["sh_white", "urumqi"]),
    ({"guide_min": 210_000}, ["urumqi"]),
    ({"price_min": 175_000, "price_max": 190_000, "sort": "price"}, ["sh_white", "cd_red"]),
    ({"province": "浙江"}, ["hz_black"]),
    ({"tier": 2, "sort": "price"}, ["hz_black", "cd_red"]),
    ({"colors": ["白", "红"], "sort": "price"}, ["sh_white", "cd_red", "urumqi"]),
    ({"parallel_import": True}, ["cd_red"]),
    ({"self_operated": True}, ["hz_black"]),
    ({"fresh_days": 3, "sort": "price"}, ["sh_white", "cd_red"]),
    ({"merchant_types": ["resource"], "sort": "price"}, ["cd_red", "urumqi"]),
    ({"grades": ["AAA"], "sort": "price"}, []),          # nobody is rated (no credit run yet)
    ({"from_city_id": "成都", "sort": "distance"}, ["cd_red", "hz_black", "sh_white", "urumqi"]),
])
def test_filters_and_sorts(engine, make_actor, market, filters, expected):
    w, ids = market
    if "from_city_id" in filters:
        filters["from_city_id"] = w.city[filters["from_city_id"]]
    page = run(engine, make_actor("bd"), **filters)
    assert names(page, ids) == expected
    assert page.total == len(expected) and not page.total_capped


def test_series_and_trim_filters(engine, make_actor, market):
    w, ids = market
    bd = make_actor("bd")
    assert run(engine, bd, trim_id=w.trim_b).total == 1
    assert run(engine, bd, series_id=w.series_id).total == 4
    assert run(engine, bd, brand_id=w.brand_id).total == 4


def test_server_side_paging(engine, make_actor, market):
    _, ids = market
    bd = make_actor("bd")
    with engine.connect() as conn:
        second = search_listings(conn=conn, actor=bd, filters=SearchFilters(sort="price"),
                                 offset=2, limit=2)
    assert names(second, ids) == ["cd_red", "urumqi"] and second.total == 4


def test_distance_needs_a_city_and_ops_is_refused(engine, make_actor, market):
    with pytest.raises(InvalidInput):
        run(engine, make_actor("bd"), sort="distance")
    with pytest.raises(PermissionDenied):
        run(engine, make_actor("ops"))


@pytest.mark.parametrize("filters", [
    {"sort": "price"}, {"sort": "price_desc"}, {"sort": "discount"}, {"sort": "freshness"},
    {"sort": "distance", "from_city_id": "成都"},
    {"sort": "distance", "from_city_id": "上海", "province": "浙江"},
    {"sort": "price", "points_min": 6, "colors": ["白", "黑", "红"]},
    {"sort": "freshness", "from_city_id": "成都", "merchant_types": ["4s"]},
])
@pytest.mark.parametrize("offset, limit", [(0, 50), (1, 2), (0, 1)])
def test_a_broad_search_walks_the_sort_order_to_the_same_page(engine, make_actor, market,
                                                              monkeypatch, filters, offset,
                                                              limit):
    """Above COUNT_CAP matches the page comes from walking the sort order (city by city for
    distance) instead of sorting every match: the same rows in the same order."""
    from console.services import search
    w, ids = market
    with engine.begin() as conn:     # more than a page in one city: its cheapest come first
        seller = conn.execute(sa.text("SELECT merchant_id FROM app.listings WHERE id = :i"),
                              {"i": ids["cd_red"]}).scalar_one()
    for price in (195_000, 185_000, 189_000):
        w.listing(merchant_id=seller, price=price, color="黑", city="成都")
    if "from_city_id" in filters:
        filters = {**filters, "from_city_id": w.city[filters["from_city_id"]]}
    bd = make_actor("bd")

    def page():
        with engine.connect() as conn:
            return search_listings(conn=conn, actor=bd, filters=SearchFilters(**filters),
                                   offset=offset, limit=limit)
    narrow = page()
    monkeypatch.setattr(search, "COUNT_CAP", 0)    # every search is broad now
    broad = page()
    assert not narrow.total_capped and broad.total_capped
    assert len(narrow.rows) > 0 or offset > 0
    assert broad.rows.to_dict("records") == narrow.rows.to_dict("records")
