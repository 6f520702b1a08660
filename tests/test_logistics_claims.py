"""Claims and ratings of the logistics desk (console/logistics/claims.py, ratings.py) on real
PostgreSQL as dh_console: the cover cap, the life of a claim with its audit and timeline rows,
stale forms, every refusal changing nothing, a settled claim counting against the carrier's
score, one rating per delivery; 20 threads settling one claim and rating one delivery."""
from __future__ import annotations

from decimal import Decimal as D

import pytest
import sqlalchemy as sa

from console import db
from console.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from console.logistics import claims, ratings, scores
from tests import lgx_rows as lx
from tests.races import race, wide_engine


@pytest.fixture
def w(engine):
    w = lx.world(engine)
    w["carrier"] = lx.carrier(engine, cover_per_car=50_000)
    # two cars: the cover is 2 × 50,000 = 100,000
    w["request"] = lx.request(engine, w, carrier_id=w["carrier"], cars=2)
    return w


@pytest.fixture
def people(make_actor):
    return {"ops": make_actor("ops"), "ops2": make_actor("ops"), "bd": make_actor("bd"),
            "manager": make_actor("manager")}


def run(fn, **kw):
    with db.transaction() as conn:
        return fn(conn=conn, **kw)


def one(engine, sql, **params):
    with engine.connect() as conn:
        return conn.execute(sa.text(sql), params).mappings().one()


def state(engine) -> dict:
    """What a refused call must leave as it was."""
    with engine.connect() as conn:
        return dict(conn.execute(sa.text("""
            SELECT (SELECT count(*) FROM lgx.claims) AS claims,
                   (SELECT count(*) FROM lgx.ratings) AS ratings,
                   (SELECT count(*) FROM lgx.request_events) AS events,
                   (SELECT count(*) FROM ops.audit_log) AS audit,
                   (SELECT string_agg(concat_ws('/', id, status, version, settled_amount,
                                                carrier_response), ';' ORDER BY id)
                    FROM lgx.claims) AS claims_state""")).mappings().one())


def file(w, people, **kw):
    args = {"request_id": w["request"], "kind": "damage", "amount": D("30000"),
            "evidence_ref": "IMG_0412.jpg", "description": "左前门凹陷"} | kw
    return run(claims.file_claim, actor=people["ops"], **args)


# ---------------------------------------------------------------- filing
def test_a_claim_is_filed_with_its_cover_audited_and_on_the_timeline(engine, w, people):
    claim_id = file(w, people, amount=D("30000.004"))
    row = one(engine, "SELECT * FROM lgx.claims WHERE id = :id", id=claim_id)
    assert (row["request_id"], row["carrier_id"], row["kind"], row["amount"], row["cover"],
            row["status"], row["evidence_ref"], row["description"], row["filed_by"],
            row["version"]) == (w["request"], w["carrier"], "damage", D("30000.00"),
                                D("100000.00"), "open", "IMG_0412.jpg", "左前门凹陷",
                                people["ops"].id, 1)
    ev = one(engine, "SELECT * FROM lgx.request_events WHERE request_id = :r", r=w["request"])
    assert (ev["kind"], ev["from_status"], ev["to_status"], ev["note"], ev["actor_id"]) == (
        "claim", None, "open", "左前门凹陷", people["ops"].id)
    audit = one(engine, "SELECT * FROM ops.audit_log WHERE entity_type = 'lgx_claim'")
    assert (audit["action"], audit["entity_id"], audit["actor_id"]) == (
        "lgx_claim.file", str(claim_id), people["ops"].id)
    assert audit["after"]["cover"] == "100000.00" and audit["after"]["amount"] == "30000.00"


def test_a_claim_at_the_cover_is_filed_and_one_fen_above_is_refused(engine, w, people):
    before = state(engine)
    with pytest.raises(InvalidInput) as err:
        file(w, people, amount=D("100000.01"))
    assert err.value.key == "logistics.claims.error.above_cover"
    assert err.value.params == {"amount": "¥100,000.01", "cover": "¥100,000.00", "cars": 2}
    assert state(engine) == before
    assert file(w, people, amount=D("100000.00"))


@pytest.mark.parametrize("kw, key", [
    ({"kind": "theft"}, "logistics.claims.error.kind"),
    ({"amount": D("0")}, "logistics.claims.error.amount_not_positive"),
    ({"evidence_ref": "   "}, "logistics.claims.error.evidence_required"),
    ({"description": ""}, "logistics.claims.error.description_required"),
    ({"request_id": 987654}, "logistics.claims.error.request_not_found"),
])
def test_bad_claims_are_refused_and_change_nothing(engine, w, people, kw, key):
    before = state(engine)
    with pytest.raises((InvalidInput, NotFound)) as err:
        file(w, people, **kw)
    assert err.value.key == key
    assert state(engine) == before


def test_no_claim_without_a_carrier_nor_two_open_of_one_kind(engine, w, people):
    awaiting = lx.request(engine, w, status="awaiting_quote")
    with pytest.raises(Conflict) as err:
        file(w, people, request_id=awaiting)
    assert err.value.key == "logistics.claims.error.no_carrier"
    file(w, people)
    before = state(engine)
    with pytest.raises(Conflict) as err:
        file(w, people, amount=D("100"))
    assert err.value.key == "logistics.claims.error.open_claim_exists"
    assert state(engine) == before
    assert file(w, people, kind="delay", amount=D("500"))      # another kind may be open


def test_only_ops_files_and_decides_claims(w, people):
    for who in ("bd", "manager"):
        with pytest.raises(PermissionDenied):
            run(claims.file_claim, actor=people[who], request_id=w["request"], kind="damage",
                amount=D("1"), evidence_ref="x", description="y")


# ---------------------------------------------------------------- deciding
def test_response_then_settlement_capped_at_the_amount_and_final(engine, w, people):
    claim_id = file(w, people, amount=D("30000"))
    got = run(claims.record_response, actor=people["ops"], claim_id=claim_id, version=1,
              carrier_response="承运商认可，愿赔 2 万")
    assert (got.status, got.version) == ("responded", 2)
    before = state(engine)
    with pytest.raises(InvalidInput) as err:
        run(claims.settle, actor=people["ops"], claim_id=claim_id, version=2,
            settled_amount=D("30000.01"))
    assert (err.value.key, err.value.params) == ("logistics.claims.error.above_claim",
                                                 {"settled": "¥30,000.01", "cap": "¥30,000.00"})
    with pytest.raises(InvalidInput):
        run(claims.settle, actor=people["ops"], claim_id=claim_id, version=2,
            settled_amount=D("0"))
    assert state(engine) == before
    got = run(claims.settle, actor=people["ops2"], claim_id=claim_id, version=2,
              settled_amount=D("20000"), note="按承运商答复赔付")
    assert (got.status, got.version) == ("settled", 3)
    row = one(engine, "SELECT * FROM lgx.claims WHERE id = :id", id=claim_id)
    assert (row["status"], row["settled_amount"], row["carrier_response"], row["decided_by"]) == (
        "settled", D("20000.00"), "承运商认可，愿赔 2 万", people["ops2"].id)
    assert row["decided_at"] is not None
    with engine.connect() as conn:
        timeline = conn.execute(sa.text("""SELECT from_status, to_status, note
                                           FROM lgx.request_events WHERE kind = 'claim'
                                           ORDER BY id""")).all()
        actions = conn.execute(sa.text("""SELECT action FROM ops.audit_log
                                          WHERE entity_type = 'lgx_claim' ORDER BY id""")).scalars().all()
    assert [tuple(t) for t in timeline] == [
        (None, "open", "左前门凹陷"), ("open", "responded", "承运商认可，愿赔 2 万"),
        ("responded", "settled", "按承运商答复赔付")]
    assert actions == ["lgx_claim.file", "lgx_claim.respond", "lgx_claim.settle"]
    # closed: neither rejected nor settled again, even with the form's current version
    for fn, kw in ((claims.reject, {"reason": "x"}), (claims.settle, {"settled_amount": D("1")})):
        with pytest.raises(Conflict) as err:
            run(fn, actor=people["ops"], claim_id=claim_id, version=3, **kw)
        assert err.value.key == "logistics.claims.error.decided"


def test_a_stale_form_is_refused_and_changes_nothing(engine, w, people):
    claim_id = file(w, people)
    run(claims.record_response, actor=people["ops"], claim_id=claim_id, version=1,
        carrier_response="不认可")
    before = state(engine)
    for fn, kw in ((claims.settle, {"settled_amount": D("100")}),
                   (claims.reject, {"reason": "证据不足"}),
                   (claims.record_response, {"carrier_response": "再议"})):
        with pytest.raises(Conflict) as err:
            run(fn, actor=people["ops"], claim_id=claim_id, version=1, **kw)
        assert err.value.key == "error.stale"
    assert state(engine) == before


def test_a_rejection_needs_a_reason_and_does_not_count_against_the_carrier(engine, w, people):
    claim_id = file(w, people)
    with pytest.raises(InvalidInput) as err:
        run(claims.reject, actor=people["ops"], claim_id=claim_id, version=1, reason=" ")
    assert err.value.key == "logistics.claims.error.reason_required"
    run(claims.reject, actor=people["ops"], claim_id=claim_id, version=1, reason="证据不足")
    with engine.connect() as conn:
        s = scores.carrier_scores(conn, carrier_ids=[w["carrier"]])[w["carrier"]]
    assert (s.damaged, s.score) == (0, D("100.0"))


def test_a_settled_damage_claim_lowers_the_carriers_score(engine, w, people):
    lx.request(engine, w, carrier_id=w["carrier"])          # a second delivery, no claim
    claim_id = file(w, people)
    run(claims.settle, actor=people["ops"], claim_id=claim_id, version=1,
        settled_amount=D("12000"))
    with engine.connect() as conn:
        s = scores.carrier_scores(conn, carrier_ids=[w["carrier"]])[w["carrier"]]
    # 2 delivered on time, 1 damaged: (40 × 1 + 30 × 0.5) / 70 × 100 = 55 / 70 × 100 = 78.57…
    assert (s.delivered, s.damaged, s.damage_rate, s.score) == (2, 1, D("0.5000"), D("78.6"))


def test_twenty_settlements_of_one_claim_at_once_settle_it_once(engine, fresh_db, w, people):
    claim_id = file(w, people)
    with wide_engine(fresh_db, 20) as wide:
        results = race(wide, [(claims.settle, {
            "actor": people["ops" if i % 2 else "ops2"], "claim_id": claim_id, "version": 1,
            "settled_amount": D(1000 + i)}) for i in range(20)])
    assert [r for r in results if r[0] == "crash"] == []
    ok = [r[1] for r in results if r[0] == "ok"]
    assert len(ok) == 1
    assert {r[1] for r in results if r[0] == "refused"} == {("Conflict", "error.stale")}
    row = one(engine, "SELECT status, settled_amount, version FROM lgx.claims WHERE id = :id",
              id=claim_id)
    winner = results.index(next(r for r in results if r[0] == "ok"))
    assert (row["status"], row["settled_amount"], row["version"]) == (
        "settled", D(1000 + winner), 2)
    with engine.connect() as conn:
        assert conn.execute(sa.text("""SELECT count(*) FROM ops.audit_log
                                       WHERE action = 'lgx_claim.settle'""")).scalar() == 1
        assert conn.execute(sa.text("""SELECT count(*) FROM lgx.request_events
                                       WHERE kind = 'claim' AND to_status = 'settled'""")
                            ).scalar() == 1


def test_twenty_filings_of_one_kind_at_once_open_one_claim(engine, fresh_db, w, people):
    with wide_engine(fresh_db, 20) as wide:
        results = race(wide, [(claims.file_claim, {
            "actor": people["ops"], "request_id": w["request"], "kind": "damage",
            "amount": D("500"), "evidence_ref": f"IMG_{i}", "description": "划痕"})
            for i in range(20)])
    assert [r for r in results if r[0] == "crash"] == []
    assert len([r for r in results if r[0] == "ok"]) == 1
    assert {r[1] for r in results if r[0] == "refused"} == {
        ("Conflict", "logistics.claims.error.open_claim_exists")}
    assert state(engine)["claims"] == 1


# ---------------------------------------------------------------- the panel
def test_the_panel_for_ops_and_for_a_manager(engine, w, people):
    claim_id = file(w, people)
    with db.transaction() as conn:
        ratings.rate(conn=conn, merchant_id=w["merchant"], request_id=w["request"], stars=4,
                     comment="准时")
    p = run(claims.panel, actor=people["ops"], request_id=w["request"])
    assert (p.status, p.carrier_id, p.cover, p.can_file) == (
        "delivered", w["carrier"], D("100000.00"), True)
    assert p.claims["id"].tolist() == [claim_id]
    assert (p.rating["stars"], p.rating["comment"], p.rating["recorded_by"]) == (4, "准时", None)
    # 1 delivered on time, no settled claim, 4 stars: (40 + 30 + 15 + 15 × 0.75) = 96.25 → 96.3
    assert p.score.score == D("96.3")
    m = run(claims.panel, actor=people["manager"], request_id=w["request"])
    assert m.can_file is False
    with pytest.raises(PermissionDenied):
        run(claims.panel, actor=people["bd"], request_id=w["request"])
    awaiting = run(claims.panel, actor=people["ops"],
                   request_id=lx.request(engine, w, status="quoted"))
    assert (awaiting.carrier_id, awaiting.cover, awaiting.can_file, awaiting.score) == (
        None, None, False, None)


# ---------------------------------------------------------------- ratings
def rate(w, **kw):
    args = {"merchant_id": w["merchant"], "request_id": w["request"], "stars": 5} | kw
    with db.transaction() as conn:
        return ratings.rate(conn=conn, **args)


def test_the_merchant_rates_a_delivery_once(engine, w):
    rate(w, stars=2, complaint=True, comment=" 晚到两天 ")
    row = one(engine, "SELECT * FROM lgx.ratings WHERE request_id = :r", r=w["request"])
    assert (row["merchant_id"], row["carrier_id"], row["stars"], row["complaint"],
            row["comment"], row["recorded_by"]) == (w["merchant"], w["carrier"], 2, True,
                                                    "晚到两天", None)
    ev = one(engine, "SELECT * FROM lgx.request_events WHERE kind = 'rating'")
    assert (ev["note"], ev["actor_id"]) == ("★★☆☆☆ 晚到两天", None)
    audit = one(engine, "SELECT * FROM ops.audit_log WHERE entity_type = 'lgx_rating'")
    assert (audit["action"], audit["actor_id"], audit["entity_id"]) == (
        "lgx_rating.record", None, str(w["request"]))
    before = state(engine)
    with pytest.raises(Conflict) as err:
        rate(w, stars=5)
    assert err.value.key == "logistics.ratings.error.already_rated"
    assert state(engine) == before


def test_bad_ratings_are_refused_and_change_nothing(engine, w, people):
    other = lx.world(engine)["merchant"]
    in_transit = lx.request(engine, w, carrier_id=w["carrier"], status="in_transit")
    before = state(engine)
    for kw, err_type, key in (
            ({"stars": 0}, InvalidInput, "logistics.ratings.error.stars"),
            ({"stars": 6}, InvalidInput, "logistics.ratings.error.stars"),
            ({"stars": True}, InvalidInput, "logistics.ratings.error.stars"),
            ({"merchant_id": other}, NotFound, "logistics.claims.error.request_not_found"),
            ({"request_id": in_transit}, Conflict, "logistics.ratings.error.not_delivered")):
        with pytest.raises(err_type) as err:
            rate(w, **kw)
        assert err.value.key == key, kw
    with pytest.raises(InvalidInput) as err:
        run(ratings.record_rating, actor=people["ops"], request_id=w["request"], stars=9)
    assert err.value.key == "logistics.ratings.error.stars"
    with pytest.raises(PermissionDenied):
        run(ratings.record_rating, actor=people["bd"], request_id=w["request"], stars=5)
    assert state(engine) == before


def test_ops_enters_a_rating_given_by_phone_and_the_score_moves(engine, w, people):
    with engine.connect() as conn:
        assert scores.carrier_scores(conn, carrier_ids=[w["carrier"]])[w["carrier"]].score == D(
            "100.0")
    run(ratings.record_rating, actor=people["ops"], request_id=w["request"], stars=1,
        complaint=True, comment="车辆有划痕且态度差")
    row = one(engine, "SELECT stars, complaint, recorded_by FROM lgx.ratings")
    assert (row["stars"], row["complaint"], row["recorded_by"]) == (1, True, people["ops"].id)
    with engine.connect() as conn:
        s = scores.carrier_scores(conn, carrier_ids=[w["carrier"]])[w["carrier"]]
    # 40 × 1 + 30 × 1 + 15 × (1 − 1) + 15 × 0 = 70
    assert (s.complaint_rate, s.avg_rating, s.score) == (D("1.0000"), D("1.00"), D("70.0"))


def test_twenty_ratings_of_one_delivery_at_once_are_one(engine, fresh_db, w, people):
    with wide_engine(fresh_db, 20) as wide:
        results = race(wide, [(ratings.rate, {"merchant_id": w["merchant"],
                                              "request_id": w["request"], "stars": 1 + i % 5})
                              for i in range(10)] +
                       [(ratings.record_rating, {"actor": people["ops"],
                                                 "request_id": w["request"], "stars": 3})
                        for _ in range(10)])
    assert [r for r in results if r[0] == "crash"] == []
    assert len([r for r in results if r[0] == "ok"]) == 1
    assert {r[1] for r in results if r[0] == "refused"} == {
        ("Conflict", "logistics.ratings.error.already_rated")}
    assert state(engine)["ratings"] == 1
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM lgx.request_events WHERE kind = 'rating'")
                            ).scalar() == 1


# ---------------------------------------------------------------- the request page's panel
TRANSPORT_PAGE = "pages/ops_transport.py"


def opened(actor, rid, lang="zh"):
    from streamlit.testing.v1 import AppTest

    from tests.apptest import APP
    at = AppTest.from_file(APP, default_timeout=60)
    at.session_state["staff_id"] = actor.id
    at.session_state["lang"] = lang
    at.query_params.update({"request": str(rid)})
    at.run()
    return at.switch_page(TRANSPORT_PAGE).run()


def claims_table(at, column):
    return next(d.value for d in at.dataframe if column in d.value.columns)


def _button(at, label):
    return next(b for b in at.button if b.label == label)


def test_the_desk_files_settles_and_rates_on_the_request_page(engine, w, people):
    at = opened(people["ops"], w["request"])
    assert not at.exception and not at.error
    texts = "\n".join(c.value for c in at.caption)
    # a carrier without history but this one delivery, on time: 40 + 30 over 70 → 100
    assert "评分 100.0（满分 100）· 准时率 100.0%" in texts
    assert "该运输需求没有理赔。" in texts and "商户尚未评价。" in texts
    next(n for n in at.number_input if n.label.startswith("理赔金额")).set_value(100_000.01)
    next(i for i in at.text_input if i.label.startswith("证据")).input("IMG_7.jpg")
    next(a for a in at.text_area if a.label == "说明").input("后备箱凹陷")
    _button(at, "提交理赔").click().run()
    assert [e.value for e in at.error] == [
        "理赔金额 ¥100,000.01 超出保额 ¥100,000.00（承运商每车保额 × 2 台车）。未做任何更改。"]
    assert state(engine)["claims"] == 0
    next(n for n in at.number_input if n.label.startswith("理赔金额")).set_value(8_000.0)
    _button(at, "提交理赔").click().run()
    assert not at.exception and not at.error
    claim_id = one(engine, "SELECT id FROM lgx.claims")["id"]
    assert [s.value for s in at.success] == [f"已提交理赔 #{claim_id}。"]
    table = claims_table(at, "理赔金额")
    assert table.iloc[0][["类型", "状态", "理赔金额", "保额", "赔付金额"]].tolist() == [
        "货损", "待处理", "¥8,000.00", "¥100,000.00", "—"]
    # settle 6,000 of it
    next(n for n in at.number_input if n.label.startswith("赔付金额")).set_value(6_000.0)
    _button(at, "确认赔付").click().run()
    assert not at.exception and not at.error
    assert [s.value for s in at.success] == [f"理赔 #{claim_id} 已赔付 ¥6,000.00。"]
    row = one(engine, "SELECT status, settled_amount FROM lgx.claims")
    assert (row["status"], row["settled_amount"]) == ("settled", D("6000.00"))
    # the request's timeline says what became of the claim
    cells = {str(v) for d in at.dataframe for v in d.value.to_numpy().ravel()}
    assert {"— → 待处理", "待处理 → 已赔付"} <= cells
    texts = "\n".join(c.value for c in at.caption)
    # the settled damage claim counts: (40 × 1 + 30 × 0) / 70 → 57.1
    assert "评分 57.1（满分 100）· 准时率 100.0% · 货损率 100.0%" in texts
    # the merchant's rating, given by phone
    at.select_slider[0].set_value(2)
    at.checkbox[0].check()
    _button(at, "保存评价").click().run()
    assert not at.exception and not at.error
    assert one(engine, "SELECT stars, complaint FROM lgx.ratings")["stars"] == 2
    assert any("商户评价：★★☆☆☆ （投诉）" in m.value for m in at.markdown)


def test_a_manager_reads_the_panel_without_forms(engine, w, people):
    file(w, people)
    at = opened(people["manager"], w["request"], lang="en")
    assert not at.exception and not at.error
    assert claims_table(at, "Amount claimed").iloc[0]["Status"] == "Open"
    labels = {b.label for b in at.button}
    assert not labels & {"File the claim", "Settle", "Reject", "Save the rating"}
