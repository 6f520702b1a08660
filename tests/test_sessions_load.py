"""The sessions load test's driver (bench/_streamlit_client.py) and sticky proxy
(bench/_sticky_proxy.py) against real console processes (not timed: bench/sessions_load.py
times them).

- a person signs in through the sign-in form over Streamlit's websocket protocol, as a
  browser does, gets the cookie's token, and a page renders for them;
- an ops person's round of the load makes a real decision: the flag it took is cleared in
  the database, by them, audited;
- two processes behind the sticky proxy: the reconnect with the cookie lands on the other
  process and the person is still signed in, on the same server-side session; with that
  process stopped, the next reconnect goes back to the first one, still signed in.
"""
import asyncio
import contextlib

import sqlalchemy as sa

from bench import sessions_load
from bench._sticky_proxy import StickyProxy
from bench._streamlit_client import Session
from console import db, sessions
from console.services import listing_review as lr
from tests import trust_rows as tr
from tests.browser.live import console_server
from tests.conftest import TEST_PASSWORD


def _backend(url: str) -> tuple[str, int]:
    host, port = url.split("//")[1].rsplit(":", 1)
    return host, int(port)


def _open_sessions(engine, staff_id: int) -> int:
    with engine.connect() as conn:
        return conn.execute(sa.text("""SELECT count(*) FROM ops.staff_sessions
                                       WHERE staff_id = :s AND ended_at IS NULL"""),
                            {"s": staff_id}).scalar()


def test_the_driver_signs_in_through_the_form_and_renders_a_page(fresh_db, engine, make_actor):
    person = make_actor("ops")

    async def visit(url: str):
        async with Session(url) as tab:
            form = await tab.open("home")
            signed_in = await tab.sign_in(person.username, TEST_PASSWORD)
            queue = await tab.open("cert-queue")
            return form, signed_in, queue, tab.token

    with console_server(fresh_db) as url:
        form, signed_in, queue, token = asyncio.run(visit(url))
    assert form.headings == ["车商通运营后台", "员工登录"]
    assert form.widget("login_username") is not None
    assert f"{person.display_name}，你好" in signed_in.headings
    assert signed_in.errors == []
    assert token is not None and len(token) == 43
    assert queue.headings[0] == "认证审核队列"
    assert queue.widget("cert_next_case") is not None
    assert queue.errors == []
    assert _open_sessions(engine, person.id) == 1


def test_a_reconnect_through_the_sticky_proxy_stays_signed_in_on_either_process(
        fresh_db, engine, make_actor):
    person = make_actor("ops")
    greeting = f"{person.display_name}，你好"
    with contextlib.ExitStack() as first_stack, contextlib.ExitStack() as second_stack:
        first = first_stack.enter_context(console_server(fresh_db))
        second = second_stack.enter_context(console_server(fresh_db))
        proxy = first_stack.enter_context(
            StickyProxy([_backend(first), _backend(second)], down_seconds=60).running())

        async def sign_in_then_reconnect():
            tab = Session(proxy.url)
            await tab.connect()
            try:
                await tab.open("home")
                await tab.sign_in(person.username, TEST_PASSWORD)
                await tab.reconnect()          # a reload: the cookie now goes with it
                again = await tab.open("home")
                return tab.token, again
            finally:
                await tab.close()

        token, again = asyncio.run(sign_in_then_reconnect())
        # Signed in without a cookie: by address, on the first process; the reload carries
        # the cookie, a key the proxy has not seen: the process holding fewer, the second.
        assert proxy.bound == {"ip:127.0.0.1": 0, f"cookie:{token}": 1}
        assert greeting in again.headings
        assert again.widget("login_username") is None

        second_stack.close()                  # that process stops (a deploy, a crash)

        async def reconnect_again():
            async with Session(proxy.url, token=token) as tab:
                return await tab.open("cert-queue")

        queue = asyncio.run(reconnect_again())
        assert proxy.bound[f"cookie:{token}"] == 0
        assert queue.headings[0] == "认证审核队列"
        assert queue.widget("login_username") is None
        assert queue.errors == []
    # One sign-in, one server-side session, resumed on both processes.
    assert _open_sessions(engine, person.id) == 1


def test_an_ops_round_of_the_load_decides_a_flag_for_real(fresh_db, engine, make_actor):
    person = make_actor("ops")
    city = tr.city(engine)
    merchant = tr.merchant(engine, city_id=city)
    tr.listing(engine, merchant_id=merchant, trim_id=tr.trim(engine), city_id=city,
               vin="1M8GDM9A0KP042788")       # a check digit that does not add up
    with db.transaction() as conn:
        assert lr.raise_listing_flags(conn=conn, price_gap=50)["vin_malformed"] == 1
    token, _ = sessions.open_session(engine=engine, actor=person)   # as the load signs in
    tally = sessions_load.Tally()

    async def no_thinking() -> None:
        return None

    async def one_round(url: str) -> None:
        async with Session(url, token=token) as tab:
            await sessions_load._ops_round(tab, tally, no_thinking)

    with console_server(fresh_db) as url:
        asyncio.run(one_round(url))
    assert [(s.step, s.error) for s in tally.samples] == [
        ("cert_queue", None), ("listing_review", None), ("flag_take", None),
        ("flag_choose", None), ("flag_reason", None), ("flag_decide", None)]
    assert tally.decisions == 1 and tally.queue_empty == 0
    flag = tr.rows(engine, "SELECT status, decided_by, reason_code FROM ops.listing_flags")
    assert len(flag) == 1 and flag[0]["status"] == "cleared" \
        and flag[0]["decided_by"] == person.id and flag[0]["reason_code"] is not None
    assert tr.value(engine, """SELECT count(*) FROM ops.audit_log
                               WHERE action = 'listing_flag.cleared' AND actor_id = :a""",
                    a=person.id) == 1


def test_percentile_is_linear_between_the_closest_ranks():
    values = [100.0, 400.0, 200.0, 300.0, 1000.0]
    assert sessions_load.percentile(values, 50) == 300.0
    assert round(sessions_load.percentile(values, 95), 9) == 880.0   # 400 + 0.8 * 600
    assert sessions_load.percentile([7.0], 95) == 7.0
