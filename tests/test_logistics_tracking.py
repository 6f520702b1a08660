"""Tracking a transport request (issue 20) on real PostgreSQL as dh_console: the state machine
待报价 → 已报价 → 已下单 → 已提车 → 运输中 → 已到达 → 已交车 with 异常 and back and a
cancellation, each move audited and on the timeline in one transaction; illegal moves, a
delivery without its handover and a stale form refused, changing nothing; two staff moving
one request at once: exactly one move lands. The desk's queue: filters, SLA, take and next;
the request page's reads, scoped and masked."""
from __future__ import annotations

from datetime import timedelta
from decimal import Decimal as D

import pytest
import sqlalchemy as sa

from console import clock, db
from console.errors import Conflict, InvalidInput, NotFound
from console.logistics import requests as lr
from console.logistics import tracking as tr
from console.logistics.requests import CarLine
from tests import trust_rows as rows
from tests.races import race, wide_engine

TODAY = clock.today()


def insert(engine, sql, **params):
    with engine.begin() as conn:
        return conn.execute(sa.text(sql), params).scalar()


def run(fn, **kw):
    with db.transaction() as conn:
        return fn(conn=conn, **kw)


@pytest.fixture
def people(make_actor):
    return {"ops": make_actor("ops"), "ops2": make_actor("ops"), "bd": make_actor("bd"),
            "manager": make_actor("manager")}


@pytest.fixture
def w(engine):
    sh = rows.city(engine, name="上海市")
    cd = rows.city(engine, name="成都市")
    trim = rows.trim(engine)
    seller = rows.merchant(engine, city_id=sh, name="沪上车行")
    vins = [rows.good_vin() for _ in range(4)]
    listings = [rows.listing(engine, merchant_id=seller, trim_id=trim, city_id=sh, vin=v)
                for v in vins]
    carrier = insert(engine, """
        INSERT INTO lgx.carriers (name, contact_name, contact_phone, truck_types, cover_per_car)
        VALUES ('安达物流', '王师傅', '13912345678', ARRAY['large'], 500000) RETURNING id""")
    return {"sh": sh, "cd": cd, "trim": trim, "seller": seller, "vins": vins,
            "listings": listings, "carrier": carrier}


def new_request(w, i=0, **over) -> int:
    args = {"merchant_id": w["seller"], "from_city_id": w["sh"], "to_city_id": w["cd"],
            "ready_date": TODAY, "wanted_by": TODAY + timedelta(days=6),
            "declared_value": D("200000"), "cars": (CarLine(vin=w["vins"][i]),)}
    args.update(over)
    return run(lr.submit_request, **args).request_id


def quote(engine, w, request_id) -> int:
    return insert(engine, """
        INSERT INTO lgx.quotes (request_id, carrier_id, truck_type, kind, distance_km,
                                price_per_car, total, transit_days)
        VALUES (:r, :c, 'large', 'estimate', 2075, 2600, 2600, 6) RETURNING id""",
                  r=request_id, c=w["carrier"])


def book(engine, w, request_id) -> None:
    """What the quotes module's booking does: the request ordered with a carrier's quote."""
    q = quote(engine, w, request_id)
    insert(engine, """
        UPDATE lgx.requests SET status = 'ordered', carrier_id = :c, truck_type = 'large',
               quote_id = :q, cost_from_carrier = 2600, price_to_merchant = 2808,
               ordered_at = now(), version = version + 1
        WHERE id = :r RETURNING id""", c=w["carrier"], q=q, r=request_id)


def state(engine, request_id) -> dict:
    return rows.rows(engine, "SELECT * FROM lgx.requests WHERE id = :id", id=request_id)[0]


def counts(engine) -> tuple[int, int]:
    return (rows.value(engine, "SELECT count(*) FROM lgx.request_events"),
            rows.value(engine, "SELECT count(*) FROM ops.audit_log WHERE action LIKE 'lgx.%'"))


def move(people, request_id, version, to, who="ops", **kw):
    return run(tr.move, actor=people[who], request_id=request_id, version=version,
               to_status=to, **kw)


# ---------------------------------------------------------------- the rules
def test_the_legal_moves_from_each_state():
    assert tr.next_moves("awaiting_quote") == ("quoted", "cancelled")
    assert tr.next_moves("quoted") == ("cancelled",)
    assert tr.next_moves("ordered") == ("picked_up", "exception", "cancelled")
    assert tr.next_moves("picked_up") == ("in_transit", "exception")
    assert tr.next_moves("in_transit") == ("arrived", "exception")
    assert tr.next_moves("arrived") == ("delivered", "exception")
    assert tr.next_moves("delivered") == ()
    assert tr.next_moves("cancelled") == ()
    assert tr.next_moves("exception", "in_transit") == ("in_transit",)
    assert tr.next_moves("exception", "ordered") == ("ordered", "cancelled")


# ---------------------------------------------------------------- the whole way
def test_a_request_goes_all_the_way_to_delivered(engine, w, people):
    rid = new_request(w)
    with pytest.raises(Conflict) as err:
        move(people, rid, 1, "quoted")
    assert err.value.key == "lgx.error.no_quote"
    quote(engine, w, rid)
    v = move(people, rid, 1, "quoted").version
    assert v == 2
    with pytest.raises(Conflict) as err:
        move(people, rid, v, "ordered")
    assert err.value.key == "lgx.error.order_by_booking"
    book(engine, w, rid)
    v = 3
    v = move(people, rid, v, "picked_up", note="上海仓提车").version
    assert state(engine, rid)["picked_up_at"] is not None
    v = move(people, rid, v, "in_transit").version
    moved = move(people, rid, v, "exception", exception_kind="delay", note="高速封路")
    assert (moved.status, moved.version) == ("exception", 6)
    row = state(engine, rid)
    assert (row["status_before_exception"], row["exception_kind"]) == ("in_transit", "delay")
    v = move(people, rid, 6, "in_transit", note="已放行").version
    row = state(engine, rid)
    assert (row["status"], row["status_before_exception"], row["exception_kind"]) == (
        "in_transit", None, None)
    v = move(people, rid, v, "arrived").version
    insert(engine, """UPDATE lgx.requests SET picked_up_at = now() - interval '2 days'
                      WHERE id = :r RETURNING id""", r=rid)
    with pytest.raises(InvalidInput) as err:
        move(people, rid, v, "delivered", handover_receiver="李四", handover_photo_ref=" ")
    assert err.value.key == "lgx.error.handover_required"
    handed = clock.now().replace(microsecond=0) - timedelta(minutes=30)
    done = move(people, rid, v, "delivered", handover_receiver=" 李四 ", handover_at=handed,
                handover_photo_ref="IMG-20261205-001")
    assert (done.status, done.version) == ("delivered", 9)
    row = state(engine, rid)
    assert (row["status"], row["delivered_at"]) == ("delivered", handed)
    events = rows.rows(engine, """
        SELECT kind, from_status, to_status, note, handover_receiver, handover_photo_ref,
               actor_id IS NOT NULL AS by_staff
        FROM lgx.request_events WHERE request_id = :r ORDER BY id""", r=rid)
    assert [(e["kind"], e["from_status"], e["to_status"]) for e in events] == [
        ("created", None, "awaiting_quote"), ("status", "awaiting_quote", "quoted"),
        ("status", "ordered", "picked_up"), ("status", "picked_up", "in_transit"),
        ("status", "in_transit", "exception"), ("status", "exception", "in_transit"),
        ("status", "in_transit", "arrived"), ("status", "arrived", "delivered")]
    assert [e["note"] for e in events] == [None, None, "上海仓提车", None, "高速封路", "已放行",
                                           None, None]
    assert (events[-1]["handover_receiver"], events[-1]["handover_photo_ref"]) == (
        "李四", "IMG-20261205-001")
    audit = rows.rows(engine, """SELECT action, before->>'status' AS before,
                                        after->>'status' AS after, actor_id
                                 FROM ops.audit_log WHERE action = 'lgx.request.move'
                                 ORDER BY id""")
    assert [(a["before"], a["after"]) for a in audit] == [
        ("awaiting_quote", "quoted"), ("ordered", "picked_up"), ("picked_up", "in_transit"),
        ("in_transit", "exception"), ("exception", "in_transit"), ("in_transit", "arrived"),
        ("arrived", "delivered")]
    assert {a["actor_id"] for a in audit} == {people["ops"].id}
    # delivered is final
    with pytest.raises(Conflict) as err:
        move(people, rid, 9, "exception", exception_kind="damage", note="x")
    assert err.value.key == "lgx.error.illegal_move"


# ---------------------------------------------------------------- refusals change nothing
def refused(engine, people, rid, version, to, error, key, **kw):
    before = (counts(engine), state(engine, rid))
    with pytest.raises(error) as err:
        move(people, rid, version, to, **kw)
    assert err.value.key == key
    assert (counts(engine), state(engine, rid)) == before


def test_illegal_moves_are_refused(engine, w, people):
    rid = new_request(w)
    refused(engine, people, rid, 1, "picked_up", Conflict, "lgx.error.illegal_move")
    refused(engine, people, rid, 1, "delivered", Conflict, "lgx.error.illegal_move",
            handover_receiver="李四", handover_at=clock.now(), handover_photo_ref="P")
    refused(engine, people, rid, 1, "exception", Conflict, "lgx.error.illegal_move",
            exception_kind="delay", note="x")
    refused(engine, people, rid, 1, "teleported", InvalidInput, "lgx.error.bad_status")
    book(engine, w, rid)
    v = move(people, rid, 2, "picked_up").version
    refused(engine, people, rid, v, "cancelled", Conflict, "lgx.error.illegal_move", note="不要了")
    refused(engine, people, rid, v, "arrived", Conflict, "lgx.error.illegal_move")
    v = move(people, rid, v, "exception", exception_kind="damage", note="右前门刮伤").version
    # back only to the state it left
    refused(engine, people, rid, v, "in_transit", Conflict, "lgx.error.illegal_move")
    refused(engine, people, rid, v, "cancelled", Conflict, "lgx.error.illegal_move", note="x")


def test_an_exception_a_cancellation_and_a_delivery_need_their_words(engine, w, people):
    rid = new_request(w)
    refused(engine, people, rid, 1, "cancelled", InvalidInput, "lgx.error.reason_required",
            note="  ")
    book(engine, w, rid)
    refused(engine, people, rid, 2, "exception", InvalidInput, "lgx.error.exception_kind",
            note="晚了")
    refused(engine, people, rid, 2, "exception", InvalidInput, "lgx.error.note_required",
            exception_kind="delay")
    v = move(people, rid, 2, "picked_up").version
    v = move(people, rid, v, "in_transit").version
    v = move(people, rid, v, "arrived").version
    picked = state(engine, rid)["picked_up_at"]
    refused(engine, people, rid, v, "delivered", InvalidInput, "lgx.error.handover_required",
            handover_at=clock.now(), handover_photo_ref="P")
    refused(engine, people, rid, v, "delivered", InvalidInput, "lgx.error.handover_future",
            handover_receiver="李四", handover_at=clock.now() + timedelta(hours=2),
            handover_photo_ref="P")
    refused(engine, people, rid, v, "delivered", InvalidInput,
            "lgx.error.handover_before_pickup", handover_receiver="李四",
            handover_at=picked - timedelta(hours=1), handover_photo_ref="P")
    refused(engine, people, rid, v, "delivered", InvalidInput, "input.handover_receiver",
            handover_receiver="李\x00四", handover_at=clock.now(), handover_photo_ref="P")
    refused(engine, people, rid, v, "delivered", InvalidInput, "input.handover_photo_ref",
            handover_receiver="李四", handover_at=clock.now(), handover_photo_ref="P" * 100_000)


def test_a_request_on_a_load_is_not_cancelled(engine, w, people):
    rid = new_request(w)
    book(engine, w, rid)
    load = insert(engine, """
        INSERT INTO lgx.loads (carrier_id, truck_type, capacity, from_city_id, to_city_id,
                               depart_date, cars_booked, confirmed_by)
        VALUES (:c, 'large', 8, :f, :t, current_date + 1, 1, :by) RETURNING id""",
                  c=w["carrier"], f=w["sh"], t=w["cd"], by=people["ops"].id)
    insert(engine, "UPDATE lgx.requests SET load_id = :l WHERE id = :r RETURNING id",
           l=load, r=rid)
    refused(engine, people, rid, 2, "cancelled", Conflict, "lgx.error.unbook_first",
            note="商家取消")


def test_a_cancellation_is_final_and_says_why(engine, w, people):
    rid = new_request(w)
    moved = move(people, rid, 1, "cancelled", note="商家自提")
    assert (moved.status, moved.version) == ("cancelled", 2)
    assert rows.value(engine, """SELECT reason FROM ops.audit_log
                                 WHERE action = 'lgx.request.move'""") == "商家自提"
    refused(engine, people, rid, 2, "quoted", Conflict, "lgx.error.illegal_move")


def test_a_stale_form_is_refused(engine, w, people):
    rid = new_request(w)
    book(engine, w, rid)            # version 2 now: a page loaded at version 1 is stale
    refused(engine, people, rid, 1, "picked_up", Conflict, "error.stale")
    assert move(people, rid, 2, "picked_up").version == 3


def test_only_the_desk_moves_a_request(engine, w, people):
    rid = new_request(w)
    quote(engine, w, rid)
    for who in ("bd", "manager"):
        with pytest.raises(Exception) as err:
            move(people, rid, 1, "quoted", who=who)
        assert err.value.key == "error.role_required"
    assert state(engine, rid)["status"] == "awaiting_quote"


def test_a_note_goes_on_the_timeline_and_in_the_audit_log(engine, w, people):
    rid = new_request(w)
    run(tr.add_note, actor=people["ops"], request_id=rid, note="  商家要求周五前提车 ")
    assert rows.rows(engine, """SELECT kind, note, actor_id FROM lgx.request_events
                                WHERE request_id = :r ORDER BY id""", r=rid)[1:] == [
        {"kind": "note", "note": "商家要求周五前提车", "actor_id": people["ops"].id}]
    assert rows.value(engine, """SELECT after->>'note' FROM ops.audit_log
                                 WHERE action = 'lgx.request.note'""") == "商家要求周五前提车"
    before = counts(engine)
    with pytest.raises(InvalidInput) as err:
        run(tr.add_note, actor=people["ops"], request_id=rid, note=" \n ")
    assert err.value.key == "lgx.error.note_required"
    with pytest.raises(NotFound):
        run(tr.add_note, actor=people["ops"], request_id=rid + 1000, note="x")
    assert counts(engine) == before


# ---------------------------------------------------------------- concurrency
def test_two_staff_moving_one_request_at_once_land_exactly_one_move(engine, fresh_db, w,
                                                                    people):
    rid = new_request(w)
    book(engine, w, rid)
    v = move(people, rid, 2, "picked_up").version
    before = counts(engine)
    with wide_engine(fresh_db, 2) as wide:
        results = race(wide, [
            (tr.move, {"actor": people["ops"], "request_id": rid, "version": v,
                       "to_status": "in_transit"}),
            (tr.move, {"actor": people["ops2"], "request_id": rid, "version": v,
                       "to_status": "exception", "exception_kind": "delay",
                       "note": "司机未到"})])
    assert [r for r in results if r[0] == "crash"] == []
    ok = [r[1] for r in results if r[0] == "ok"]
    assert len(ok) == 1
    assert [r[1] for r in results if r[0] == "refused"] == [("Conflict", "error.stale")]
    row = state(engine, rid)
    assert (row["status"], row["version"]) == (ok[0].status, v + 1)
    assert counts(engine) == (before[0] + 1, before[1] + 1)


def test_twenty_people_pressing_next_take_twenty_different_requests(engine, fresh_db, w,
                                                                    make_actor):
    ids = [new_request(w, i % 4) for i in range(8)]
    desk = [make_actor("ops") for _ in range(20)]
    with wide_engine(fresh_db, 20) as wide:
        results = race(wide, [(tr.next_request, {"actor": a}) for a in desk])
    assert [r for r in results if r[0] != "ok"] == []
    taken = [r[1] for r in results if r[1] is not None]
    assert sorted(taken) == ids               # eight requests, each taken once
    assert rows.value(engine, """SELECT count(*) FROM lgx.requests
                                 WHERE assignee_id IS NOT NULL""") == 8
    assert rows.value(engine, "SELECT count(*) FROM lgx.request_events WHERE kind = 'assigned'") == 8


# ---------------------------------------------------------------- the queue
def test_the_queue_filters_orders_and_flags_the_sla(engine, w, people, settings_env):
    settings_env(CONSOLE_LOGISTICS_SLA_HOURS="4")
    gz = rows.city(engine, name="广州市")
    a = new_request(w, 0)
    b = new_request(w, 1, to_city_id=gz, ready_date=TODAY + timedelta(days=3),
                    wanted_by=TODAY + timedelta(days=9))
    c = new_request(w, 2)
    with engine.begin() as conn:
        for rid, hours in ((a, 5), (b, 3), (c, 1)):
            conn.execute(sa.text("""UPDATE lgx.requests
                                    SET created_at = now() - make_interval(hours => :h)
                                    WHERE id = :id"""), {"h": hours, "id": rid})
    book(engine, w, c)
    page = run(tr.list_queue, actor=people["ops"])
    assert page.total == 3
    assert page.rows["id"].tolist() == [a, b, c]
    assert page.rows["status"].tolist() == ["awaiting_quote", "awaiting_quote", "ordered"]
    assert page.rows["sla"].tolist() == ["late", "warn", None]
    assert page.rows["carrier"].tolist()[2] == "安达物流"
    only = run(tr.list_queue, actor=people["ops"],
               filters=tr.QueueFilters(statuses=("awaiting_quote",), to_city_id=gz))
    assert (only.total, only.rows["id"].tolist()) == (1, [b])
    later = run(tr.list_queue, actor=people["ops"],
                filters=tr.QueueFilters(ready_from=TODAY + timedelta(days=1)))
    assert later.rows["id"].tolist() == [b]
    run(tr.assign, actor=people["ops"], request_id=a, version=1, assignee_id=people["ops"].id)
    mine = run(tr.list_queue, actor=people["ops"], filters=tr.QueueFilters(view="mine"))
    assert mine.rows["id"].tolist() == [a]
    free = run(tr.list_queue, actor=people["ops"], filters=tr.QueueFilters(view="unassigned"))
    assert free.rows["id"].tolist() == [b, c]
    assert run(tr.queue_counts, actor=people["ops"]) == {
        "unassigned": 1, "mine": 1, "late": 1, "exceptions": 0}
    with pytest.raises(InvalidInput) as err:
        run(tr.list_queue, actor=people["ops"],
            filters=tr.QueueFilters(ready_from=TODAY, ready_to=TODAY - timedelta(days=1)))
    assert err.value.key == "lgx.error.bad_date_range"


def test_take_refuses_a_request_a_colleague_holds(engine, w, people):
    rid = new_request(w)
    v = run(tr.assign, actor=people["ops"], request_id=rid, version=1,
            assignee_id=people["ops"].id)
    assert v == 2
    with pytest.raises(Conflict) as err:
        run(tr.assign, actor=people["ops2"], request_id=rid, version=2,
            assignee_id=people["ops2"].id)
    assert err.value.key == "lgx.error.held_by_other"
    with pytest.raises(InvalidInput) as err:
        run(tr.assign, actor=people["ops"], request_id=rid, version=2,
            assignee_id=people["bd"].id)
    assert err.value.key == "lgx.error.bad_assignee"
    assert state(engine, rid)["assignee_id"] == people["ops"].id


# ---------------------------------------------------------------- one request, who reads it
def test_the_request_page_masks_the_carrier_phone_and_scopes_bd(engine, w, people):
    rid = new_request(w)
    book(engine, w, rid)
    desk = run(tr.get_request, actor=people["ops"], request_id=rid)
    assert (desk.request["carrier"], desk.request["carrier_phone"], desk.request["margin"]) == (
        "安达物流", "13912345678", D("208.00"))
    assert desk.moves == ("picked_up", "exception", "cancelled")
    assert desk.cars["vin"].tolist() == [w["vins"][0]]
    assert desk.timeline["kind"].tolist() == ["created"]
    boss = run(tr.get_request, actor=people["manager"], request_id=rid)
    assert boss.request["carrier_phone"] == "139****5678"
    # a BD person reads the requests of their own deals only
    with pytest.raises(NotFound):
        run(tr.get_request, actor=people["bd"], request_id=rid)
    assert run(tr.list_queue, actor=people["bd"]).total == 0


# ---------------------------------------------------------------- the pages
QUEUE_PAGE = "pages/ops_logistics_queue.py"
TRANSPORT_PAGE = "pages/ops_transport.py"


def opened(actor, page: str, query: dict[str, str] | None = None, lang: str = "zh"):
    from streamlit.testing.v1 import AppTest

    from tests.apptest import APP
    at = AppTest.from_file(APP, default_timeout=60)
    at.session_state["staff_id"] = actor.id
    at.session_state["lang"] = lang
    at.query_params.update(query or {})
    at.run()
    return at.switch_page(page).run()


def test_the_desk_takes_the_next_request_from_the_queue_page(engine, w, people):
    rid = new_request(w)
    at = opened(people["ops"], QUEUE_PAGE)
    assert not at.exception and not at.error
    assert [m.label for m in at.metric] == ["待报价·未领取", "我处理的", "报价超时", "异常中"]
    assert [m.value for m in at.metric] == ["1", "0", "0", "0"]
    table = at.dataframe[0].value
    assert list(table.columns) == ["编号", "时效", "状态", "商家", "线路", "可提车", "要求到达",
                                   "车辆数", "申报价值（万元）", "承运商", "处理人", "已等待"]
    assert table.iloc[0][["编号", "时效", "状态", "商家", "线路", "申报价值（万元）", "处理人"]
                          ].tolist() == [rid, "正常", "待报价", "沪上车行", "上海市 → 成都市",
                                         "20.00", "—"]
    next(b for b in at.button if b.label == "领取下一条").click().run()
    assert not at.exception
    assert state(engine, rid)["assignee_id"] == people["ops"].id


def test_the_request_page_moves_a_request_and_shows_its_timeline(engine, w, people):
    rid = new_request(w)
    book(engine, w, rid)
    at = opened(people["ops"], TRANSPORT_PAGE, {"request": str(rid)})
    assert not at.exception and not at.error
    assert at.subheader[0].value == f"运输需求 #{rid} · 已下单"
    assert at.markdown[1].value == (f"**线路** 上海市 → 成都市（浙江省 → 浙江省） · "
                                    f"**可提车** {TODAY} · **要求到达** {TODAY + timedelta(days=6)}")
    assert at.markdown[2].value == "**承运商** 安达物流 · 大板 · 联系人 王师傅（13912345678）"
    metrics = {m.label: m.value for m in at.metric}
    assert metrics == {"车辆数": "1", "申报价值（保险）": "¥200,000.00", "对商家报价": "¥2,808.00",
                       "承运成本": "¥2,600.00", "平台毛利": "¥208.00"}
    assert at.selectbox(key="lgx_move_to").options == ["已提车", "异常", "已取消"]
    at.selectbox(key="lgx_move_to").set_value("picked_up")
    at.text_area(key="lgx_move_note").input("上海仓提车")
    next(b for b in at.button if b.label == "确认变更").click().run()
    assert not at.exception and not at.error
    assert [s.value for s in at.success] == ["已变更为“已提车”。"]
    assert state(engine, rid)["status"] == "picked_up"
    timeline = at.dataframe[-1].value
    assert timeline[["类型", "变更", "说明"]].values.tolist() == [
        ["创建", "", ""], ["状态变更", "已下单 → 已提车", "上海仓提车"]]
    assert timeline["操作人"].tolist() == ["商家", "OPS1"]


def test_a_manager_reads_the_request_masked_and_cannot_move_it(engine, w, people):
    rid = new_request(w)
    book(engine, w, rid)
    at = opened(people["manager"], TRANSPORT_PAGE, {"request": str(rid)}, lang="en")
    assert not at.exception and not at.error
    assert at.subheader[0].value == f"Transport request #{rid} · Ordered"
    assert "contact 王师傅 (139****5678)" in at.markdown[2].value
    assert not any("13912345678" in m.value for m in at.markdown)
    assert [b.label for b in at.button if b.label in ("Move", "Take it")] == []


def test_a_hostile_request_number_is_refused_in_words(engine, people):
    at = opened(people["ops"], TRANSPORT_PAGE, {"request": "1 OR 1=1"})
    assert not at.exception
    assert [e.value for e in at.error] == ["链接中的运输需求编号无效，已忽略。请检查链接是否完整。"]


def test_a_bd_person_reads_the_requests_of_their_own_deals(engine, w, people):
    cd_buyer = rows.merchant(engine, city_id=w["cd"])
    request = insert(engine, """
        INSERT INTO app.requests (merchant_id, series_id, trim_id, quantity, city_id, max_price,
                                  needed_by, created_at)
        SELECT :b, t.series_id, t.id, 1, :c, 200000, current_date + 30, now()
        FROM app.trims t WHERE t.id = :t RETURNING id""", b=cd_buyer, t=w["trim"], c=w["cd"])
    match = insert(engine, """
        INSERT INTO ops.matches (request_id, listing_id, source, stage, owner_id, deal_value)
        VALUES (:r, :l, 'manual', 'deposit_paid', :o, 175000) RETURNING id""",
                   r=request, l=w["listings"][1], o=people["bd"].id)
    theirs = run(lr.create_from_deal, actor=people["bd"], match_id=match, ready_date=TODAY,
                 wanted_by=TODAY, declared_value="175000").request_id
    other = new_request(w, 2)
    page = run(tr.list_queue, actor=people["bd"])
    assert (page.total, page.rows["id"].tolist()) == (1, [theirs])
    assert run(tr.get_request, actor=people["bd"], request_id=theirs).request["match_id"] == match
    with pytest.raises(NotFound):
        run(tr.get_request, actor=people["bd"], request_id=other)
    assert run(tr.list_queue, actor=people["manager"]).total == 2
