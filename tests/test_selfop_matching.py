"""Self-operated stock in matching (issue 21): a self-operated car is matched like any listing
and marked 自营; the match policy's aged-stock boost, off by default, is its own score
component, hand-computed here; a manager's change is audited, refused when bad or stale, and
the next scheduled rematch rescores the self-operated listings to what a full recompute gives.

The rule (console/match_policy.py AgedStockBoost): points x min(max(days - after, 0) / full, 1)
for a self-operated listing whose car is in inv.stock_cars and not sold; 0 for any other.
"""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pandas as pd
import pytest
import sqlalchemy as sa

from console.errors import Conflict, InvalidInput, PermissionDenied
from console.match_policy import AgedStockBoost
from console.services import aged_stock_boost, leads, matching
from tests.apptest import app_as
from tests.races import race, wide_engine
from console import clock
from tests.test_matching_support import build_world

RULE = dict(points=3, after_days=60, full_days=30)


def q(engine, sql: str, **params):
    with engine.begin() as conn:
        result = conn.execute(sa.text(sql), params)
        return result.mappings().all() if result.returns_rows else []


def components(engine, request_id: int) -> dict[int, dict]:
    return {r["listing_id"]: r["components"] for r in q(
        engine, "SELECT listing_id, components FROM ops.match_suggestions WHERE request_id = :r",
        r=request_id)}


def table(engine) -> list[tuple]:
    return [tuple(r.values()) for r in q(engine, """
        SELECT request_id, listing_id, rank, score, components FROM ops.match_suggestions
        ORDER BY 1, 3""")]


# Runs at the real clock: the stock's days count to today's Shanghai day, and the incremental
# run's watermark (the run's clock) lies after the rows the fixture wrote.
def full(engine):
    with engine.begin() as conn:
        matching.rematch_full(conn=conn, top_k=10, as_of=datetime.now(timezone.utc))


def changed(engine):
    with engine.begin() as conn:
        matching.rematch_changed(conn=conn, top_k=10, as_of=datetime.now(timezone.utc))


def set_boost(engine, actor, *, version: int = 1, reason: str = "九十天以上的自营车积压", **rule):
    with engine.begin() as conn:
        return aged_stock_boost.set_aged_stock_boost(conn=conn, actor=actor, version=version,
                                                     reason=reason, **(rule or RULE))


def policy_row(engine) -> dict:
    return dict(q(engine, """SELECT aged_points, aged_after_days, aged_full_days, version,
                                    updated_by FROM ops.match_policy""")[0])


@pytest.fixture
def world(engine):
    """One request, and listings of the same trim and price from different sellers in the
    same city: self-operated cars 45, 75, 120 and 200 days in stock, an ordinary listing, and
    an ordinary listing wrongly holding a stock car of 200 days (it never gets the boost).
    Sixteen live listings of another series besides, so that a changed stock car's listing is
    fewer than a quarter of the live listings: the scheduled run rescores it incrementally
    rather than all at once (matching.FULL_REMATCH_SHARE)."""
    w = build_world(engine)
    today = clock.today()
    buyer = w.merchant(name="买家车行")
    warehouse = q(engine, """INSERT INTO inv.warehouses (name, city_id, address)
                             VALUES ('上海一号仓', :c, '嘉定区安亭镇') RETURNING id""",
                  c=w.city["上海"])[0]["id"]

    def car(listing_id: int, days: int) -> None:
        q(engine, """INSERT INTO inv.stock_cars (listing_id, trim_id, exterior_color, warehouse_id,
                         purchase_cost, purchase_date, asking_price, floor_price)
                     VALUES (:l, :t, '白', :w, 170000, :d, 180000, 175000)""",
          l=listing_id, t=w.trim_a, w=warehouse, d=today - timedelta(days=days))

    ids = {}
    for name, days, own in (("d45", 45, True), ("d75", 75, True), ("d120", 120, True),
                            ("d200", 200, True), ("plain", None, False), ("wrong", 200, False)):
        seller = w.merchant(name=f"卖家{name}")
        ids[name] = w.listing(merchant_id=seller, self_operated=own)
        if days is not None:
            car(ids[name], days)
    other = w.merchant(name="别的车商")
    for _ in range(16):
        w.listing(merchant_id=other, trim_id=w.other_series_trim, guide_price=300_000,
                  price=280_000)
    ids["request"] = w.request(merchant_id=buyer)
    ids["buyer"] = buyer
    ids["today"] = today
    return ids


# ------------------------------------------------------------------ the rule by hand

@pytest.mark.parametrize("days, expected", [
    (0, 0.0), (60, 0.0),          # up to the threshold: nothing
    (61, 0.1),                    # 3 x 1/30
    (75, 1.5),                    # 3 x 15/30
    (89, 2.9), (90, 3.0),         # the cap, reached 30 days after the threshold
    (200, 3.0),                   # capped
])
def test_the_aged_points_for_given_ages(days, expected):
    assert AgedStockBoost(**RULE).points_at(days, self_operated=True) == expected


def test_the_boost_is_zero_by_default_and_for_a_car_that_is_not_self_operated():
    assert AgedStockBoost().points == 0
    assert AgedStockBoost().points_at(500, self_operated=True) == 0
    assert AgedStockBoost(**RULE).points_at(200, self_operated=False) == 0
    assert AgedStockBoost(**RULE).points_at(None, self_operated=True) == 0
    # a thousandth of a point, rounded half up as the scoring SQL's round() does
    assert AgedStockBoost(points=0.01, after_days=0, full_days=20).points_at(1, self_operated=True) \
        == 0.001


# ------------------------------------------------------------------ in the suggestions

def test_off_by_default_a_self_operated_car_is_matched_and_marked_without_points(engine, world):
    assert policy_row(engine) == {"aged_points": 0, "aged_after_days": 60, "aged_full_days": 30,
                                  "version": 1, "updated_by": None}
    full(engine)
    comp = components(engine, world["request"])
    assert set(comp) == {world[k] for k in ("d45", "d75", "d120", "d200", "plain", "wrong")}
    assert {k: (comp[world[k]]["self_operated"], comp[world[k]]["stock_days"], comp[world[k]]["aged"])
            for k in ("d75", "d200", "plain", "wrong")} == {
        "d75": (True, 75, 0.0), "d200": (True, 200, 0.0),
        "plain": (False, None, 0.0), "wrong": (False, None, 0.0)}
    # Every seller alike (unrated, no history, same city and price): the same score for all.
    assert len({float(r["score"]) for r in q(engine, "SELECT score FROM ops.match_suggestions")}) == 1
    zh = matching.reason_text(comp[world["d75"]], lang="zh")
    assert zh.endswith(" · 自营") and "库龄" not in zh
    assert matching.reason_text(comp[world["d75"]], lang="en").endswith(" · Self-operated")
    assert "自营" not in matching.reason_text(comp[world["plain"]], lang="zh")


def test_a_manager_sets_the_boost_and_the_next_rematch_scores_it(engine, world, make_actor):
    changed(engine)                      # the first run: full, and the watermark
    before = {r["listing_id"]: float(r["score"]) for r in q(
        engine, "SELECT listing_id, score FROM ops.match_suggestions")}
    manager = make_actor("manager", username="zhang.jl")
    since = datetime.now(timezone.utc)
    setting = set_boost(engine, manager)
    assert (setting.boost, setting.version, setting.updated_by) == (AgedStockBoost(**RULE), 2,
                                                                    "ZHANG.JL")
    with engine.connect() as conn:       # the scheduled run sees the policy's change
        assert matching.aged_policy_changed(conn, since=since)
        assert matching.stock_changed_listings(conn, since=since) == set()
    changed(engine)                      # ... and recomputes every suggestion
    comp = components(engine, world["request"])
    aged = {k: comp[world[k]]["aged"] for k in ("d45", "d75", "d120", "d200", "plain", "wrong")}
    assert aged == {"d45": 0.0, "d75": 1.5, "d120": 3.0, "d200": 3.0, "plain": 0.0, "wrong": 0.0}
    after = {r["listing_id"]: float(r["score"]) for r in q(
        engine, "SELECT listing_id, score FROM ops.match_suggestions")}
    assert {k: round(after[world[k]] - before[world[k]], 3) for k in aged} == aged
    # the parts still add up to the score, the aged part among them
    for row in q(engine, "SELECT score, components FROM ops.match_suggestions"):
        assert float(row["score"]) == pytest.approx(
            sum(row["components"][c] for c in matching.COMPONENTS), abs=1e-9)
    # ranked: the capped cars first (ties by listing id), then the 75-day one
    ranked = [r["listing_id"] for r in q(engine, """SELECT listing_id FROM ops.match_suggestions
                                                    WHERE request_id = :r ORDER BY rank""",
                                         r=world["request"])]
    assert ranked[:3] == [world["d120"], world["d200"], world["d75"]]
    # its own line in the breakdown, and in words
    frame = matching.explode_components(pd.DataFrame(q(engine, """
        SELECT listing_id, components FROM ops.match_suggestions ORDER BY listing_id""")))
    assert dict(zip(frame["listing_id"], frame["pts_aged"]))[world["d75"]] == 1.5
    assert dict(zip(frame["listing_id"], frame["stock_days"]))[world["d75"]] == 75
    assert matching.reason_text(comp[world["d75"]], lang="zh").endswith(" · 自营 · 库龄 75 天 +1.5 分")
    assert matching.reason_text(comp[world["d75"]], lang="en").endswith(
        " · Self-operated · 75 days in stock: +1.5 pts")
    assert matching.reason_text(comp[world["d45"]], lang="zh").endswith(" · 自营")
    # the incremental run ends where a full recompute does
    incremental = table(engine)
    full(engine)
    assert table(engine) == incremental


def test_turning_it_off_again_takes_the_points_back(engine, world, make_actor):
    manager = make_actor("manager")
    changed(engine)
    set_boost(engine, manager)
    changed(engine)
    set_boost(engine, manager, version=2, reason="库存已消化", points=0, after_days=60, full_days=30)
    changed(engine)
    assert {c["aged"] for c in components(engine, world["request"]).values()} == {0.0}


def test_a_stock_car_bought_on_another_day_is_rescored_by_the_next_run(engine, world, make_actor):
    set_boost(engine, make_actor("manager"))
    changed(engine)
    assert components(engine, world["request"])[world["d45"]]["aged"] == 0.0
    # The stock desk corrects the purchase date: 45 -> 80 days in stock (the owner writing
    # here keeps an updated_at it does not move: moved by hand, as the console's role gets it).
    since = datetime.now(timezone.utc)
    q(engine, """UPDATE inv.stock_cars SET purchase_date = :d, updated_at = clock_timestamp()
                 WHERE listing_id = :l""", d=world["today"] - timedelta(days=80), l=world["d45"])
    with engine.connect() as conn:
        assert matching.stock_changed_listings(conn, since=since) == {world["d45"]}
        assert not matching.aged_policy_changed(conn, since=since)
    changed(engine)
    comp = components(engine, world["request"])[world["d45"]]
    assert (comp["stock_days"], comp["aged"]) == (80, 2.0)          # 3 x 20/30
    incremental = table(engine)
    full(engine)
    assert table(engine) == incremental


def test_a_sold_car_gets_no_boost(engine, world, make_actor):
    set_boost(engine, make_actor("manager"))
    buyer = world["buyer"]
    q(engine, """UPDATE inv.stock_cars SET status = 'sold', sold_to = :b, sold_at = now(),
                        sold_price = 180000, holding_cost = 1000, realised_margin = 9000
                 WHERE listing_id = :l""", b=buyer, l=world["d200"])
    full(engine)
    comp = components(engine, world["request"])[world["d200"]]
    assert (comp["self_operated"], comp["stock_days"], comp["aged"]) == (True, None, 0.0)


# ------------------------------------------------------------------ the change itself

def test_a_change_writes_one_audit_row_with_before_and_after(engine, world, make_actor):
    manager = make_actor("manager")
    set_boost(engine, manager)
    [row] = q(engine, """SELECT actor_id, action, entity_type, entity_id, before, after, reason
                         FROM ops.audit_log WHERE action = 'match_policy.aged_stock'""")
    assert dict(row) == {
        "actor_id": manager.id, "action": "match_policy.aged_stock", "entity_type": "match_policy",
        "entity_id": "1", "reason": "九十天以上的自营车积压",
        "before": {"aged_points": "0.00", "aged_after_days": 60, "aged_full_days": 30},
        "after": {"aged_points": "3.00", "aged_after_days": 60, "aged_full_days": 30}}
    from console.services.audit_log import changes_text
    assert changes_text(row["before"], row["after"], lang="zh", staff={},
                        entity_type="match_policy").startswith("加分上限（分）")


BAD = [
    (dict(points=float("nan")), "selfop.error.points"),
    (dict(points=-1), "selfop.error.points"),
    (dict(points=10.5), "selfop.error.points"),
    (dict(points=1.234), "selfop.error.points"),
    (dict(points="３"), "selfop.error.points"),            # full-width digit, as text
    (dict(after_days=731), "selfop.error.after_days"),
    (dict(after_days=1.5), "selfop.error.after_days"),
    (dict(full_days=0), "selfop.error.full_days"),
    (dict(reason="   "), "selfop.error.reason_required"),
    (dict(reason="x" * 100_000), "input.reason"),
    (dict(reason="bad\x00byte"), "input.reason"),
]


@pytest.mark.parametrize("change, key", BAD)
def test_bad_input_is_refused_and_changes_nothing(engine, world, make_actor, change, key):
    manager = make_actor("manager")
    args = dict(RULE, reason="清库存", version=1) | change
    with pytest.raises(InvalidInput) as err, engine.begin() as conn:
        aged_stock_boost.set_aged_stock_boost(conn=conn, actor=manager, **args)
    assert err.value.key == key
    assert policy_row(engine)["version"] == 1
    assert q(engine, "SELECT count(*) AS n FROM ops.audit_log WHERE action LIKE 'match_policy%'"
             )[0]["n"] == 0


def test_a_stale_form_a_no_change_and_a_bd_are_refused(engine, world, make_actor):
    manager = make_actor("manager")
    set_boost(engine, manager)
    with pytest.raises(Conflict) as err:
        set_boost(engine, manager, version=1, points=5, after_days=60, full_days=30)
    assert err.value.key == "error.stale"
    with pytest.raises(InvalidInput) as err:
        set_boost(engine, manager, version=2, **RULE)
    assert err.value.key == "selfop.error.unchanged"
    with pytest.raises(PermissionDenied):
        set_boost(engine, make_actor("bd"), version=2, points=5, after_days=60, full_days=30)
    assert policy_row(engine)["aged_points"] == 3 and policy_row(engine)["version"] == 2


def test_ten_managers_saving_the_same_form_at_once_make_one_change(engine, fresh_db, make_actor):
    managers = [make_actor("manager") for _ in range(10)]
    with wide_engine(fresh_db, 10) as eng:
        results = race(eng, [(aged_stock_boost.set_aged_stock_boost,
                              {"actor": m, "points": 1 + i * 0.5, "after_days": 60,
                               "full_days": 30, "version": 1, "reason": "清库存"})
                             for i, m in enumerate(managers)])
    assert [r[0] for r in results].count("ok") == 1, results
    assert {r[1] for r in results if r[0] != "ok"} == {("Conflict", "error.stale")}
    assert policy_row(engine)["version"] == 2
    assert q(engine, "SELECT count(*) AS n FROM ops.audit_log WHERE action = 'match_policy.aged_stock'"
             )[0]["n"] == 1


# ------------------------------------------------------------------ the pages

def test_the_leads_page_explains_the_boost_and_a_manager_saves_it(engine, world, make_actor):
    manager = make_actor("manager")
    full(engine)
    with engine.begin() as conn:
        leads.take_lead(conn=conn, actor=manager, request_id=world["request"])
    at = app_as(manager, page="pages/bd_leads.py")
    assert not at.exception and not at.error, [e.value for e in at.error]
    captions = [c.value for c in at.caption]
    assert "库龄加分（仅平台自营车）：当前关闭（0 分）。" in captions        # the points help
    assert "当前关闭（0 分）。 尚未修改过（默认关闭）。" in captions         # the form
    at.number_input(key="aged_points").set_value(3.0)
    at.text_input(key="aged_reason").input("九十天以上的自营车积压")
    [save] = [b for b in at.button if b.label == "保存加分规则"]
    save.click().run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    assert policy_row(engine)["aged_points"] == 3
    rule_zh = "自营车库龄超过 60 天后开始加分，此后 30 天内线性增至 3 分封顶。"
    assert f"已保存。{rule_zh}" in [s.value for s in at.success]
    assert f"库龄加分（仅平台自营车）：{rule_zh}" in [c.value for c in at.caption]
    full(engine)    # the rescoring the next scheduled run does
    en = app_as(manager, page="pages/bd_leads.py", lang="en")
    assert not en.exception and not en.error
    assert ("Aged stock (the platform's own cars only): A self-operated car in stock more than "
            "60 days gets points, rising evenly to a cap of 3 over the next 30 days."
            ) in [c.value for c in en.caption]
    frame = en.dataframe[0].value
    assert {"Pts: aged stock", "Self-operated", "Days in stock"} <= set(frame.columns)
    reasons = dict(zip(frame["Listing"], frame["Why"]))
    assert reasons[world["d200"]].endswith(" · Self-operated · 200 days in stock: +3.0 pts")
    assert "Self-operated" not in reasons[world["plain"]]


def test_the_board_marks_a_self_operated_card(engine, world, make_actor):
    bd = make_actor("bd")
    full(engine)
    from console.services import deals
    with engine.begin() as conn:
        leads.take_lead(conn=conn, actor=bd, request_id=world["request"])
        deals.create_match(conn=conn, actor=bd, request_id=world["request"],
                           listing_id=world["d75"])
    at = app_as(bd, page="pages/bd_board.py")
    assert not at.exception and not at.error
    assert any(":violet-badge[自营]" in m.value for m in at.markdown)
