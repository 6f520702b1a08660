"""Real browser (issue 20): an ops person opens a transport request waiting for a quote, sees
the two carriers' estimates, confirms the day's car-carrier load that puts it on one large
truck with a request from a nearby city, moves it 已提车 → 运输中 → 已到达 → 已交车 with the
handover, and sees the carrier's score change when the merchant's rating (a complaint) is
entered and again when a damage claim is filed and settled.

Hand figures (tests/test_logistics_loads.py): road km 上海→成都 2,076, 苏州→成都 1,970.
Estimates for one car alone (small truck): 沪蓉快线 2,076 × 1.8 = 3,736.80, 川沪物流 2,076 ×
2.0 = 4,152.00. On 川沪物流's large truck: 2,076 × 1.2 = 2,491.20, the merchant pays × 1.08 =
2,690.50; the 苏州 request's 2 cars 1,970 × 1.5 × 2 = 5,910.00.
Score (console/logistics/scores.py): delivered on time, no claim, no rating: (40 + 30) / 70
→ 100.0; then 5 stars filed as a complaint: 40 + 30 + 15 × 0 + 15 × 1 = 85.0; then a settled
damage claim: 40 + 30 × 0 + 15 × 0 + 15 × 1 = 55.0.
"""
import re
from datetime import timedelta

from console import clock
from console.i18n import translate
from tests import lgx_quote_rows as qr
from tests import trust_rows as rows
from tests.browser.live import browser_page, choose_option, click_until, sign_in, wait_idle
from tests.conftest import TEST_PASSWORD

A_RATES = [("large", 2000, None, "1.2", "0"), ("large", 1000, 2000, "1.5", "0"),
           ("small", 2000, None, "2.0", "0"), ("small", 1000, 2000, "2.5", "0"),
           ("single", 2000, None, "4.0", "0")]


def zh(key: str, **params) -> str:
    return translate(key, "zh", **params)


def status(key: str) -> str:
    return zh(f"enum.lgx_status.{key}")


def world(engine) -> dict:
    c = qr.cities(engine, "上海", "苏州", "成都")
    a = qr.carrier(engine, name="川沪物流", lanes=[("上海市", "四川省"), ("江苏省", "四川省")],
                   rates=A_RATES)
    b = qr.carrier(engine, name="沪蓉快线", lanes=[("上海市", "四川省")],
                   rates=[("large", 2000, None, "1.3", "0"), ("small", 2000, None, "1.8", "0")],
                   truck_types=("large", "small"))
    merchant, trim = rows.merchant(engine, city_id=c["上海"]), rows.trim(engine)
    rows.listing(engine, merchant_id=merchant, trim_id=trim, city_id=c["上海"])

    def submit(frm: str, cars: int) -> int:
        return qr.submitted(engine, merchant_id=merchant, trim_id=trim, from_city_id=c[frm],
                            to_city_id=c["成都"], cars=cars, ready=clock.today(),
                            wanted_by=clock.today() + timedelta(days=10))

    return {"A": a, "B": b, "mine": submit("上海", 1), "other": submit("苏州", 2)}


def open_request(page, base: str, request_id: int, state: str) -> None:
    page.goto(f"{base}/transport?request={request_id}")
    page.get_by_role("heading", name=zh("lgx.page.heading", id=request_id,
                                        status=status(state))).wait_for(timeout=30_000)
    wait_idle(page)


def move(page, request_id: int, to: str) -> None:
    form = page.locator("[data-testid='stForm']").filter(
        has=page.get_by_role("button", name=zh("lgx.page.move")))
    choose_option(page, form.get_by_label(zh("lgx.page.move_to")), status(to))
    if to == "delivered":
        form.get_by_label(zh("lgx.page.receiver")).fill("张三")
        # a minute from now (Shanghai): after the pick-up, within the form's 10-minute slack;
        # the day field keeps today, so 23:59 at the latest
        now = clock.now().astimezone(clock.business_tz())
        at = min(now + timedelta(minutes=1), now.replace(hour=23, minute=59))
        field = form.get_by_role("group", name=zh("lgx.page.handover_time"))
        for segment, value in (("hour", at.strftime("%H")), ("minute", at.strftime("%M"))):
            field.locator(f"[data-type='{segment}']").click()
            page.keyboard.type(value)
        page.keyboard.press("Tab")
        form.get_by_label(zh("lgx.page.photo")).fill("PHOTO-J20-1")
    form.get_by_role("button", name=zh("lgx.page.move")).click()
    page.get_by_role("heading", name=zh("lgx.page.heading", id=request_id,
                                        status=status(to))).wait_for(timeout=30_000)
    wait_idle(page)


def score_text(score: str, on_time: str, complaints: str, stars: str, rated: str,
               damage: str = "0.0%") -> str:
    return zh("lgx.claims.score_line", carrier="川沪物流", score=score, on_time=on_time,
              damage=damage, complaints=complaints, stars=stars, delivered="1", rated=rated)


def pattern(key: str, **params) -> re.Pattern:
    """The catalogue text of ``key`` with its ``id`` any number."""
    before, _, after = zh(key, id="\0", **params).partition("\0")
    return re.compile(re.escape(before) + r"\d+" + re.escape(after))


def test_ops_books_a_request_on_a_load_delivers_it_and_the_rating_moves_the_score(
        live_console, engine, make_actor):
    w = world(engine)
    mine, other = w["mine"], w["other"]
    ops = make_actor("ops")

    with browser_page() as page:
        sign_in(page, live_console, ops.username, TEST_PASSWORD)
        open_request(page, live_console, mine, "awaiting_quote")
        page.get_by_role("heading", name=zh("lgx.quotes.title"), exact=True).wait_for()
        # both carriers' estimates, as the booking form offers them
        book = page.get_by_label(zh("lgx.quotes.book_pick"))
        choose_option(page, book, zh("lgx.quotes.option_estimate", carrier="沪蓉快线",
                                     truck=zh("enum.lgx_truck.small"), total="¥3,736.80"))
        book.click()
        page.get_by_role("option", name=zh("lgx.quotes.option_estimate", carrier="川沪物流",
                                           truck=zh("enum.lgx_truck.small"),
                                           total="¥4,152.00")).wait_for()
        page.keyboard.press("Escape")

        # the day's load: tomorrow, 川沪物流's large truck, 上海 → 成都 with the 苏州 request
        page.goto(f"{live_console}/loads")
        page.get_by_role("heading", name=zh("lgx.loads.proposals"), exact=True).wait_for(
            timeout=30_000)
        wait_idle(page)
        page.get_by_role("button", name=zh("lgx.loads.confirm")).click()
        page.get_by_text(pattern("lgx.loads.confirmed", cars=3)).wait_for(timeout=30_000)
        load_id = rows.value(engine, "SELECT load_id FROM lgx.requests WHERE id = :r", r=mine)
        page.get_by_text(zh("lgx.loads.confirmed", id=load_id, cars=3)).wait_for()
        wait_idle(page)

        open_request(page, live_console, mine, "ordered")
        for to in ("picked_up", "in_transit", "arrived", "delivered"):
            move(page, mine, to)
        page.get_by_text(score_text("100.0", "100.0%", "—", "—", "0")).wait_for()

        rate = page.get_by_text(zh("lgx.claims.rate"))
        rate.click()
        page.get_by_text(zh("lgx.claims.complaint")).click()
        page.get_by_role("button", name=zh("lgx.claims.rate_submit")).click()
        page.get_by_text(zh("lgx.claims.rated")).wait_for(timeout=30_000)
        wait_idle(page)
        page.get_by_text(score_text("85.0", "100.0%", "100.0%", "5.00", "1")).wait_for()

        # a damage claim of ¥3,000.00 (cover 1 car × ¥100,000), settled in full:
        # damage rate 1 → 40 + 30 × 0 + 15 × 0 + 15 × 1 = 55.0
        page.get_by_text(zh("lgx.claims.file", cover="¥100,000.00")).click()
        page.get_by_label(zh("lgx.claims.amount", cover="¥100,000.00")).fill("3000")
        page.get_by_label(zh("lgx.claims.evidence")).fill("PHOTO-DMG-1")
        page.get_by_label(zh("lgx.claims.description")).fill("车门划痕")
        page.get_by_role("button", name=zh("lgx.claims.file_submit")).click()
        page.get_by_text(pattern("lgx.claims.filed")).wait_for(timeout=30_000)
        wait_idle(page)
        # The claim's expander takes the place the filing form's open expander held; it may
        # open already, so it is clicked only while its settlement button is hidden.
        settle = page.get_by_role("button", name=zh("lgx.claims.settle_submit"))
        decide = page.get_by_text(pattern("lgx.claims.decide",
                                          kind=zh("enum.lgx_claim_kind.damage"),
                                          amount="¥3,000.00"))
        decide.wait_for()
        wait_idle(page)
        if not settle.is_visible():
            decide.click()
        click_until(page, settle, lambda: rows.value(
            engine, "SELECT status FROM lgx.claims WHERE request_id = :r", r=mine) == "settled")
        page.get_by_text(pattern("lgx.claims.settled", amount="¥3,000.00")).wait_for(
            timeout=30_000)
        wait_idle(page)
        page.get_by_text(score_text("55.0", "100.0%", "100.0%", "5.00", "1",
                                    damage="100.0%")).wait_for()
        page.screenshot(path="/tmp/logistics_journey_done.png", full_page=True)

    got = rows.value(engine, """
        SELECT status || '/' || carrier_id || '/' || load_id || '/' || cost_from_carrier || '/'
               || price_to_merchant || '/' || (delivered_at IS NOT NULL)
        FROM lgx.requests WHERE id = :r""", r=mine)
    assert got == f"delivered/{w['A']}/{load_id}/2491.20/2690.50/true"
    assert rows.value(engine, "SELECT status || '/' || cost_from_carrier FROM lgx.requests "
                              "WHERE id = :r", r=other) == "ordered/5910.00"
    assert rows.value(engine, "SELECT cars_booked || '/' || capacity || '/' || carrier_id "
                              "FROM lgx.loads WHERE id = :l", l=load_id) == f"3/8/{w['A']}"
    handover = rows.value(engine, """
        SELECT handover_receiver || '/' || handover_photo_ref || '/'
               || (handover_at = (SELECT delivered_at FROM lgx.requests WHERE id = :r))
        FROM lgx.request_events WHERE request_id = :r AND to_status = 'delivered'""", r=mine)
    assert handover == "张三/PHOTO-J20-1/true"
    events = rows.value(engine, """
        SELECT string_agg(kind || ':' || coalesce(from_status, '') || '>'
                          || coalesce(to_status, ''), ' ' ORDER BY id)
        FROM lgx.request_events WHERE request_id = :r""", r=mine)
    assert events == ("created:>awaiting_quote status:awaiting_quote>quoted "
                      "status:quoted>ordered booked:> "
                      "status:ordered>picked_up status:picked_up>in_transit "
                      "status:in_transit>arrived status:arrived>delivered rating:> claim:>open "
                      "claim:open>settled")
    audit = rows.value(engine, """
        SELECT string_agg(action, ' ' ORDER BY id) FROM ops.audit_log
        WHERE actor_id = :a AND action LIKE 'lgx%'""", a=ops.id)
    assert audit == ("lgx.load.confirm lgx.load.book lgx.load.book lgx.request.move "
                     "lgx.request.move lgx.request.move lgx.request.move lgx_rating.record "
                     "lgx_claim.file lgx_claim.settle")
    assert rows.value(engine, "SELECT kind || '/' || status || '/' || settled_amount || '/' "
                              "|| carrier_id FROM lgx.claims WHERE request_id = :r",
                      r=mine) == f"damage/settled/3000.00/{w['A']}"
    assert rows.value(engine, "SELECT stars || '/' || complaint FROM lgx.ratings "
                              "WHERE request_id = :r", r=mine) == "5/true"
