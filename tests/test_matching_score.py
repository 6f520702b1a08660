"""The match score of issue 16 on hand-built cases: delivered cost in yuan, flagged and
committed stock kept out, past-due requests, freshness from the last stock confirmation, a
discount far beyond the usual one, and every refresh trigger ending where a full recompute
does."""
from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

import pytest
import sqlalchemy as sa

from console import clock
from console.services import listing_review, matching, stock
from tests.test_matching_support import AS_OF, build_world


@pytest.fixture
def world(engine):
    return build_world(engine)


def q(engine, sql: str, **params):
    with engine.begin() as conn:
        result = conn.execute(sa.text(sql), params)
        return result.all() if result.returns_rows else []


def suggested(engine, request_id: int) -> list[int]:
    return [r[0] for r in q(engine, """SELECT listing_id FROM ops.match_suggestions
                                       WHERE request_id = :r ORDER BY rank""", r=request_id)]


def components(engine, request_id: int) -> dict[int, dict]:
    return {r[0]: r[1] for r in q(engine, """SELECT listing_id, components FROM ops.match_suggestions
                                             WHERE request_id = :r""", r=request_id)}


def table(engine) -> list[tuple]:
    return [tuple(r) for r in q(engine, """SELECT request_id, listing_id, rank, score, components
                                           FROM ops.match_suggestions ORDER BY 1, 3""")]


def full(engine, as_of=AS_OF, k: int = 5):
    with engine.begin() as conn:
        return matching.rematch_full(conn=conn, top_k=k, as_of=as_of)


def changed(engine, as_of, k: int = 5):
    with engine.begin() as conn:
        return matching.rematch_changed(conn=conn, top_k=k, as_of=as_of)


def assert_equals_full(engine, as_of, k: int = 5) -> list[tuple]:
    incremental = table(engine)
    full(engine, as_of, k)
    assert table(engine) == incremental
    return incremental


# ------------------------------------------------------------------ delivered cost

def test_cheaper_but_farther_wins_when_the_saving_exceeds_the_freight(engine, world):
    # Request 4835 of the audit: 3 cars; ¥266,200 at 469 km against ¥256,600 at 936 km. Both
    # are 下20点 or more, at or below the maximum: the previous score saturated price on both
    # and ranked the nearer first. The cheaper saves ¥9,600 a car for ~¥880 more freight.
    world.city_west_of("近城", "上海", km=469)
    world.city_west_of("远城", "上海", km=936)
    buyer, s1, s2 = world.merchant(), world.merchant(), world.merchant()
    near = world.listing(merchant_id=s1, price=266_200, guide_price=340_000, city="近城",
                         quantity=3, published_days_ago=1)
    far = world.listing(merchant_id=s2, price=256_600, guide_price=340_000, city="远城",
                        quantity=3, published_days_ago=1)
    req = world.request(merchant_id=buyer, quantity=3, max_price=300_000, city="上海")
    full(engine)
    assert suggested(engine, req) == [far, near]
    comp = components(engine, req)
    rate = 1.5 * 1.25                                  # ¥/car-km x road km per great-circle km
    assert comp[near]["km"] == pytest.approx(469, abs=0.1)
    assert comp[far]["freight"] == pytest.approx(936 * rate, abs=1)        # ¥1,755 a car
    assert comp[near]["freight"] == pytest.approx(469 * rate, abs=1)       # ¥879 a car
    assert comp[far]["delivered"] == pytest.approx(256_600 + 936 * rate, abs=1)
    assert comp[far]["saving"] == pytest.approx(300_000 - 256_600 - 936 * rate, abs=1)
    # the difference in points is the difference in delivered cost, as % of the maximum
    gap = (comp[near]["delivered"] - comp[far]["delivered"]) / 300_000 * 100
    assert comp[far]["cost"] - comp[near]["cost"] == pytest.approx(gap, abs=0.01)
    assert matching.reason_text(comp[far], lang="zh") == \
        "比最高价低 ¥41,600（含运费约 ¥1,800）· 卖家未评级 · 1 天前确认有车"


def test_savings_count_without_a_cap(engine, world):
    # 10% and 20% under the maximum: the previous score gave both the full price points.
    buyer, seller = world.merchant(), world.merchant()
    ten = world.listing(merchant_id=seller, price=171_000)
    twenty = world.listing(merchant_id=seller, price=152_000)
    req = world.request(merchant_id=buyer, max_price=190_000)
    full(engine)
    comp = components(engine, req)
    assert suggested(engine, req) == [twenty, ten]
    assert comp[ten]["cost"] == 10.0 and comp[twenty]["cost"] == 20.0     # same city: no freight


def test_a_lot_that_fills_a_large_carrier_pays_the_lower_rate(engine, world):
    world.city_west_of("西城", "上海", km=500)
    buyer, seller = world.merchant(), world.merchant()
    listing = world.listing(merchant_id=seller, quantity=10, city="西城")
    small = world.request(merchant_id=buyer, quantity=3)
    large = world.request(merchant_id=buyer, quantity=8)
    full(engine)
    assert components(engine, small)[listing]["freight"] == pytest.approx(500 * 1.5 * 1.25, abs=1)
    assert components(engine, large)[listing]["freight"] == pytest.approx(500 * 1.0 * 1.25, abs=1)


# ------------------------------------------------------------------ what is kept out

def flag(engine, listing_id: int, status: str = "pending", kind: str = "reported_fake") -> int:
    return q(engine, """INSERT INTO ops.listing_flags (listing_id, merchant_id, kind, status)
                        SELECT id, merchant_id, :k, :s FROM app.listings WHERE id = :l
                        RETURNING id""", l=listing_id, k=kind, s=status)[0][0]


def decide(engine, flag_id: int, status: str) -> None:
    q(engine, """UPDATE ops.listing_flags SET status = :s, decided_at = now(),
                 reason_code = 'report_unfounded' WHERE id = :id""", id=flag_id, s=status)


@pytest.mark.parametrize("status, kept_out", [
    ("pending", True), ("in_review", True), ("cleared", False), ("superseded", False)])
def test_a_listing_with_an_open_flag_is_not_suggested(engine, world, status, kept_out):
    buyer, seller = world.merchant(), world.merchant()
    flagged = world.listing(merchant_id=seller, price=150_000)    # the best of the two
    other = world.listing(merchant_id=seller, price=180_000)
    if status == "in_review":
        q(engine, "INSERT INTO ops.staff (username, display_name, password_hash, roles) "
                  "VALUES ('rev', 'rev', 'x', '{ops}')")
        fid = flag(engine, flagged)
        q(engine, """UPDATE ops.listing_flags SET status = 'in_review',
                     assignee_id = (SELECT id FROM ops.staff WHERE username = 'rev') WHERE id = :i""",
          i=fid)
    elif status == "pending":
        flag(engine, flagged)
    else:
        decide(engine, flag(engine, flagged), status)
    req = world.request(merchant_id=buyer)
    full(engine)
    assert suggested(engine, req) == ([other] if kept_out else [flagged, other])


def test_stock_held_by_open_orders_is_not_available(engine, world):
    buyer, other_buyer, seller = world.merchant(), world.merchant(), world.merchant()
    listing = world.listing(merchant_id=seller, quantity=3)
    world.order(listing_id=listing, buyer_id=other_buyer, quantity=1, status="created")
    world.order(listing_id=listing, buyer_id=other_buyer, quantity=1, status="deposit_paid")
    for done in ("completed", "cancelled"):                       # these hold nothing
        world.order(listing_id=listing, buyer_id=other_buyer, quantity=2, status=done)
    wants_two = world.request(merchant_id=buyer, quantity=2)
    wants_one = world.request(merchant_id=buyer, quantity=1)
    full(engine)
    assert suggested(engine, wants_two) == []
    assert suggested(engine, wants_one) == [listing]
    assert components(engine, wants_one)[listing]["available"] == 1


def test_a_request_past_its_needed_by_day_gets_no_suggestions(engine, world):
    buyer, seller = world.merchant(), world.merchant()
    world.listing(merchant_id=seller, available_from=date(2026, 2, 1))
    as_of_day = AS_OF.astimezone(clock.business_tz()).date()       # 2026-03-10 in Shanghai
    past = world.request(merchant_id=buyer, needed_by=as_of_day - timedelta(days=1))
    today = world.request(merchant_id=buyer, needed_by=as_of_day)
    full(engine)
    assert suggested(engine, past) == [] and len(suggested(engine, today)) == 1
    # a day later the stored list of the second one goes too, without any write to it
    with engine.begin() as conn:
        assert matching.drop_past_due(conn=conn, as_of=AS_OF + timedelta(days=1)) == 1
    assert suggested(engine, today) == []


# ------------------------------------------------------------------ freshness

def test_freshness_halves_every_week_from_the_last_confirmation_and_never_reaches_zero(engine, world):
    buyer, seller = world.merchant(), world.merchant()
    ages = {0: 2.0, 7: 1.0, 14: 0.5, 70: round(2 * 0.5 ** 10, 3)}
    listings = {days: world.listing(merchant_id=seller, published_days_ago=days) for days in ages}
    req = world.request(merchant_id=buyer)
    full(engine)
    comp = components(engine, req)
    assert {d: comp[listings[d]]["freshness"] for d in ages} == ages
    assert comp[listings[70]]["freshness"] > 0
    # the seller of the 70-day-old listing confirms it today: it is as fresh as a new one
    with engine.begin() as conn:
        conn.execute(sa.text("UPDATE app.listings SET stock_confirmed_at = :t WHERE id = :l"),
                     {"t": AS_OF, "l": listings[70]})
    full(engine)
    assert components(engine, req)[listings[70]]["freshness"] == 2.0
    assert components(engine, req)[listings[70]]["confirmed_days"] == 0


# ------------------------------------------------------------------ far beyond the usual discount

def test_a_discount_far_beyond_the_usual_lowers_the_score_and_never_raises_it(engine, world):
    # The series' usual discount is 下10点; the scan flags beyond 下18点 (gap 8).
    q(engine, """INSERT INTO ops.series_norms (series_id, usual_points, basis, listings)
                 VALUES (:s, 10, 'series', 50)""", s=world.series_id)
    buyer, seller = world.merchant(), world.merchant()
    points = (10, 17, 18, 19, 30)
    listing = {p: world.listing(merchant_id=seller, price=200_000 * (1 - p / 100)) for p in points}
    req = world.request(merchant_id=buyer, max_price=190_000)
    full(engine, k=10)
    comp = components(engine, req)
    score = {p: round(sum(comp[listing[p]][c] for c in matching.COMPONENTS), 3) for p in points}
    assert score[18] > score[17] > score[10]          # within the line: cheaper is better
    assert comp[listing[19]]["norm"] == -1.0 and comp[listing[30]]["norm"] == -12.0
    # beyond it: priced as if at the usual 下10点, minus a point per point beyond the line
    assert score[19] == pytest.approx(score[10] - 1, abs=0.002)
    assert score[30] == pytest.approx(score[10] - 12, abs=0.002)
    assert suggested(engine, req) == [listing[p] for p in (18, 17, 10, 19, 30)]
    assert "优惠超出同系常见水平 1.0 点，需核实" in matching.reason_text(comp[listing[19]], lang="zh")


# ------------------------------------------------------------------ refresh triggers

def _market(world):
    buyers = [world.merchant(city=c) for c in ("上海", "成都")]
    sellers = [world.merchant(city=c) for c in ("上海", "成都", "杭州")]
    listings = [world.listing(merchant_id=sellers[i % 3], price=165_000 + 2_000 * i,
                              city=("上海", "成都", "杭州")[i % 3], quantity=1 + i % 3)
                for i in range(9)]
    requests = [world.request(merchant_id=buyers[0], trim_id=None, max_price=200_000),
                world.request(merchant_id=buyers[1], max_price=190_000)]
    return sellers, listings, requests


def now() -> datetime:
    return datetime.now(timezone.utc)


def test_a_flag_raised_and_cleared_each_rematch_what_they_affect(engine, world):
    _, listings, requests = _market(world)
    t = now()
    changed(engine, t)                                   # first run: full, watermark set
    top = suggested(engine, requests[0])[0]
    fid = flag(engine, top)                              # the scan raises a flag on it
    changed(engine, t)
    assert top not in [r[1] for r in table(engine)]
    assert_equals_full(engine, t)
    decide(engine, fid, "cleared")                       # ops clear it
    changed(engine, t)
    assert suggested(engine, requests[0])[0] == top
    assert_equals_full(engine, t)
    assert q(engine, "SELECT count(*) FROM ops.match_refresh_queue")[0][0] == 0


def test_an_order_taking_the_stock_rematches_its_listing(engine, world):
    _, listings, requests = _market(world)
    t = now()
    changed(engine, t)
    top = suggested(engine, requests[1])[0]
    qty = q(engine, "SELECT quantity FROM app.listings WHERE id = :l", l=top)[0][0]
    world.order(listing_id=top, buyer_id=world.merchant(), quantity=qty, status="deposit_paid")
    changed(engine, t)
    assert top not in [r[1] for r in table(engine)]
    assert_equals_full(engine, t)


def test_a_series_usual_discount_that_moves_rematches_its_requests(engine, world):
    _, listings, requests = _market(world)
    t = now()
    with engine.begin() as conn:
        listing_review.raise_listing_flags(conn=conn)
    changed(engine, t)
    before = q(engine, "SELECT usual_points FROM ops.series_norms WHERE series_id = :s",
               s=world.series_id)[0][0]
    # the market moves: many cars of the series sold far cheaper
    seller = world.merchant()
    for _ in range(12):
        world.listing(merchant_id=seller, price=120_000, status="sold")
    with engine.begin() as conn:                         # the authenticity scan refreshes them
        listing_review.raise_listing_flags(conn=conn)
    changed(engine, t)
    after = q(engine, "SELECT usual_points FROM ops.series_norms WHERE series_id = :s",
              s=world.series_id)[0][0]
    assert after > before
    assert_equals_full(engine, t)


def test_a_bd_stock_confirmation_rescores_at_once(engine, world, make_actor):
    _, listings, requests = _market(world)
    t = now()
    changed(engine, t)
    bd = make_actor("bd")
    listing = suggested(engine, requests[1])[-1]
    match_id = q(engine, """INSERT INTO ops.matches (request_id, listing_id, source, owner_id)
                            VALUES (:r, :l, 'auto', :o) RETURNING id""",
                 r=requests[1], l=listing, o=bd.id)[0][0]
    with engine.begin() as conn:
        done = stock.record_stock_confirmation(conn=conn, actor=bd, match_id=match_id,
                                               note="电话确认，车在库")
    assert done.listing_id == listing
    comp = components(engine, requests[1])[listing]
    assert comp["confirmed_days"] == 0 and comp["freshness"] == 2.0
    row = q(engine, """SELECT source, staff_id, note FROM ops.stock_confirmations
                       WHERE listing_id = :l""", l=listing)
    assert [tuple(r) for r in row] == [("bd", bd.id, "电话确认，车在库")]
    audit = q(engine, """SELECT action, entity_id, reason FROM ops.audit_log
                         WHERE action = 'stock.confirm'""")
    assert [tuple(r) for r in audit] == [("stock.confirm", str(match_id), "电话确认，车在库")]
    # what an incremental path wrote is what a full recompute at the same moment writes
    as_of = q(engine, "SELECT max(computed_at) FROM ops.match_suggestions")[0][0]
    incremental = {(r[0], r[1]): r[2] for r in table(engine)}
    full(engine, as_of)
    assert {(r[0], r[1]): r[2] for r in table(engine)} == incremental


def test_someone_elses_card_cannot_record_a_confirmation(engine, world, make_actor):
    from console.errors import PermissionDenied
    _, listings, requests = _market(world)
    owner, other = make_actor("bd"), make_actor("bd")
    match_id = q(engine, """INSERT INTO ops.matches (request_id, listing_id, source, owner_id)
                            VALUES (:r, :l, 'auto', :o) RETURNING id""",
                 r=requests[1], l=listings[0], o=owner.id)[0][0]
    with pytest.raises(PermissionDenied), engine.begin() as conn:
        stock.record_stock_confirmation(conn=conn, actor=other, match_id=match_id)
    assert q(engine, "SELECT count(*) FROM ops.stock_confirmations")[0][0] == 0


def test_a_scoring_run_and_an_override_decision_each_rematch_the_sellers_listings(
        engine, world, make_actor, tmp_path):
    from console.clock import today
    from console.credit import engine as credit_engine
    from console.grades import GRADE_POINTS
    from console.services import credit
    from tests.test_credit_support import hand_card, merchant
    card = hand_card(tmp_path)
    good = merchant(engine, cert_level="enterprise", disputes_lost=0, avg_stars=4.6)
    weak = merchant(engine, cert_level="none", disputes_lost=1, avg_stars=4.0)
    buyer = world.merchant()
    listing = {m: world.listing(merchant_id=m, price=180_000) for m in (good, weak)}
    req = world.request(merchant_id=buyer)
    t = now()
    changed(engine, t)
    assert {c["grade"] for c in components(engine, req).values()} == {None}   # nobody rated yet

    with engine.begin() as conn:                       # a scoring run: no listing changes
        credit_engine.score_all(conn, card)
    grades = dict(q(engine, "SELECT merchant_id, effective_grade FROM ops.merchant_credit"))
    changed(engine, t)
    comp = components(engine, req)
    assert {m: comp[listing[m]]["grade"] for m in (good, weak)} == {m: grades[m] for m in (good, weak)}
    assert_equals_full(engine, t)

    alice, bob = make_actor("risk"), make_actor("risk")   # an override, proposed and approved
    ladder = list(GRADE_POINTS)                           # AAA .. C: one notch better
    at = ladder.index(grades[weak])
    new_grade = ladder[at - 1] if at > 0 else ladder[at + 1]
    with engine.begin() as conn:
        oid = credit.propose_override(conn=conn, actor=alice, merchant_id=weak,
                                      new_grade=new_grade, reason_code="guarantee",
                                      reason="担保函", expires_on=today() + timedelta(days=30))
    with engine.begin() as conn:
        credit.approve_override(conn=conn, actor=bob, override_id=oid)
    changed(engine, t)
    assert components(engine, req)[listing[weak]]["grade"] == new_grade
    assert_equals_full(engine, t)


def test_a_flag_committed_after_a_run_started_is_taken_by_the_next_run(engine, world):
    # The queue needs no watermark: a flag raised in a transaction still open while the
    # scheduled rematch runs is invisible to it and stays queued; the next run takes it.
    _, listings, requests = _market(world)
    t = now()
    changed(engine, t)
    top = suggested(engine, requests[0])[0]
    writer = engine.connect()
    tx = writer.begin()
    writer.execute(sa.text("""INSERT INTO ops.listing_flags (listing_id, merchant_id, kind)
                              SELECT id, merchant_id, 'reported_fake' FROM app.listings
                              WHERE id = :l"""), {"l": top})
    changed(engine, t)                                   # runs while the flag is uncommitted
    assert suggested(engine, requests[0])[0] == top
    tx.commit()
    writer.close()
    assert q(engine, "SELECT count(*) FROM ops.match_refresh_queue")[0][0] == 1
    changed(engine, t)
    assert top not in [r[1] for r in table(engine)]
    assert q(engine, "SELECT count(*) FROM ops.match_refresh_queue")[0][0] == 0
    assert_equals_full(engine, t)


def test_two_rematches_at_once_take_each_queued_cause_once_and_agree_with_a_full_run(engine, world):
    from tests.races import race
    _, listings, requests = _market(world)
    t = now()
    changed(engine, t)
    for listing in listings[:4]:
        flag(engine, listing)
    results = race(engine, [(matching.rematch_changed, {"top_k": 5, "as_of": t})] * 2)
    assert [r[0] for r in results] == ["ok", "ok"], results
    assert q(engine, "SELECT count(*) FROM ops.match_refresh_queue")[0][0] == 0
    assert not set(listings[:4]) & {r[1] for r in table(engine)}
    assert_equals_full(engine, t)


def test_a_seller_reconfirming_is_read_by_the_next_scheduled_run(engine, world):
    _, listings, requests = _market(world)
    t = now()
    changed(engine, t)
    listing = suggested(engine, requests[1])[-1]
    with engine.begin() as conn:
        stock.record_seller_confirmation(conn=conn, listing_id=listing)
    later = now()
    changed(engine, later)
    assert components(engine, requests[1])[listing]["confirmed_days"] == 0
    assert components(engine, requests[1])[listing]["freshness"] == 2.0
    assert [tuple(r) for r in q(engine, "SELECT source, staff_id FROM ops.stock_confirmations")] == \
        [("seller", None)]
