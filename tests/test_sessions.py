"""Sign-in that lasts (issue 14, migration 070): a remembered session per browser, resumed
after a refresh, a reconnect or a restart until idle expiry or sign-out; the admin's list
of a person's sessions and ending them; the epoch mechanism (migration 062) still ends
them all."""
from __future__ import annotations

import hashlib
import threading
from dataclasses import replace
from datetime import timedelta

import pytest
import sqlalchemy as sa

from console import clock, sessions
from console.auth import authenticate, change_own_password
from console.errors import ConsoleError, NotFound, PermissionDenied
from console.services import staff
from streamlit.testing.v1 import AppTest

from tests.apptest import APP, app_as
from tests.conftest import TEST_PASSWORD


def open_for(console_engine, actor, ip="10.1.2.3", ua="Mozilla/5.0 (X11) Chrome/140"):
    return sessions.open_session(engine=console_engine, actor=actor, ip=ip, user_agent=ua)


def audit_actions(engine, staff_id):
    with engine.connect() as conn:
        return conn.execute(sa.text(
            """SELECT action FROM ops.audit_log WHERE entity_type = 'staff' AND entity_id = :id
               ORDER BY id"""), {"id": str(staff_id)}).scalars().all()


def refusal_key(fn, **kwargs):
    with pytest.raises(PermissionDenied) as err:
        fn(**kwargs)
    return err.value.key


def test_only_the_tokens_hash_is_stored_and_it_resumes_the_person(engine, console_engine,
                                                                   make_actor):
    person = make_actor("ops", "bd")
    token, session_id = open_for(console_engine, person)
    assert sessions.is_token(token)
    with engine.connect() as conn:
        row = conn.execute(sa.text(
            """SELECT staff_id, token_hash, ip, user_agent, ended_at FROM ops.staff_sessions
               WHERE id = :id"""), {"id": session_id}).one()
        stored_anywhere = conn.execute(sa.text(
            "SELECT count(*) FROM ops.staff_sessions WHERE token_hash = :t OR ip = :t"),
            {"t": token}).scalar()
    assert row == (person.id, hashlib.sha256(token.encode()).hexdigest(), "10.1.2.3",
                   "Mozilla/5.0 (X11) Chrome/140", None)
    assert stored_anywhere == 0
    resumed = sessions.resume(engine=console_engine, token=token)
    assert (resumed.actor.id, resumed.actor.roles, resumed.session_id) == (
        person.id, frozenset({"ops", "bd"}), session_id)
    assert audit_actions(engine, person.id) == ["staff.sign_in"]


@pytest.mark.parametrize("token", ["", "short", "x" * 43 + "'", "a" * 42, "a" * 44, None, 123,
                                   "'; DROP TABLE ops.staff_sessions; --" + "a" * 7])
def test_a_malformed_or_unknown_token_opens_nothing(console_engine, token):
    assert refusal_key(sessions.resume, engine=console_engine, token=token) == "error.not_signed_in"
    assert refusal_key(sessions.resume, engine=console_engine,
                       token="A" * 43) == "error.not_signed_in"


def test_sign_out_ends_the_token_everywhere_and_is_audited_once(engine, console_engine,
                                                               make_actor):
    person = make_actor("ops")
    token, session_id = open_for(console_engine, person)
    assert sessions.sign_out(engine=console_engine, session_id=session_id, staff_id=person.id)
    assert not sessions.sign_out(engine=console_engine, session_id=session_id,
                                 staff_id=person.id)
    # A second tab on the same token, and a reload: both refused.
    assert refusal_key(sessions.still_open, engine=console_engine,
                       session_id=session_id) == "session.signed_out"
    assert refusal_key(sessions.resume, engine=console_engine,
                       token=token) == "session.signed_out"
    assert audit_actions(engine, person.id) == ["staff.sign_in", "staff.sign_out"]


def test_someone_elses_session_cannot_be_signed_out_by_id(console_engine, make_actor):
    a, b = make_actor("ops"), make_actor("ops")
    token, session_id = open_for(console_engine, a)
    assert not sessions.sign_out(engine=console_engine, session_id=session_id, staff_id=b.id)
    assert sessions.resume(engine=console_engine, token=token).actor.id == a.id


def test_two_tabs_signing_out_at_once_end_it_once(engine, console_engine, make_actor):
    person = make_actor("bd")
    _, session_id = open_for(console_engine, person)
    barrier, results = threading.Barrier(4), []

    def tab():
        barrier.wait()
        results.append(sessions.sign_out(engine=console_engine, session_id=session_id,
                                         staff_id=person.id))

    threads = [threading.Thread(target=tab) for _ in range(4)]
    for th in threads:
        th.start()
    for th in threads:
        th.join(60)
    assert sorted(results) == [False, False, False, True]
    assert audit_actions(engine, person.id) == ["staff.sign_in", "staff.sign_out"]


def test_idle_expiry_refuses_and_ends_the_session(engine, console_engine, make_actor,
                                                  settings_env):
    settings_env(CONSOLE_SESSION_IDLE_MINUTES=30)
    person = make_actor("risk")
    token, session_id = open_for(console_engine, person)
    later = clock.now() + timedelta(minutes=29)
    sessions.still_open(engine=console_engine, session_id=session_id, now=later)  # holds, seen
    # Seen at +29 min: +58 min is 29 minutes idle, still open; +90 is 61 minutes idle.
    assert sessions.resume(engine=console_engine, token=token,
                           now=later + timedelta(minutes=29)).session_id == session_id
    assert refusal_key(sessions.resume, engine=console_engine, token=token,
                       now=later + timedelta(minutes=90)) == "login.expired"
    with engine.connect() as conn:
        assert conn.execute(sa.text(
            "SELECT ended_reason FROM ops.staff_sessions WHERE id = :id"),
            {"id": session_id}).scalar() == "idle"
    # Expired stays expired, whatever the clock says next.
    assert refusal_key(sessions.resume, engine=console_engine, token=token) == "login.expired"


@pytest.mark.parametrize("how, key", [
    ("end_sessions", "error.session_ended"),
    ("disable", "auth.disabled"),
    ("force_reset", "error.session_ended"),
])
def test_what_ends_every_session_also_refuses_the_remembered_ones(
        console_engine, make_actor, how, key):
    admin, person = make_actor("admin"), make_actor("ops")
    token, _ = open_for(console_engine, person)
    with console_engine.begin() as conn:
        if how == "end_sessions":
            staff.end_sessions(conn=conn, actor=admin, staff_id=person.id, reason="lost laptop")
        elif how == "disable":
            staff.set_active(conn=conn, actor=admin, staff_id=person.id, active=False,
                             reason="left the company")
        else:
            staff.force_password_reset(conn=conn, actor=admin, staff_id=person.id,
                                       reason="shared on a chat group")
    assert refusal_key(sessions.resume, engine=console_engine, token=token) == key


def test_a_lockout_refuses_the_remembered_session(console_engine, make_actor, settings_env):
    settings_env(CONSOLE_MAX_FAILED_LOGINS=2)
    person = make_actor("ops")
    token, _ = open_for(console_engine, person)
    for _ in range(2):
        with pytest.raises(ConsoleError):
            authenticate(engine=console_engine, username=person.username, password="wrong one")
    assert refusal_key(sessions.resume, engine=console_engine, token=token) == "auth.locked"


def test_the_admin_lists_a_persons_sessions_and_ends_one(engine, console_engine, make_actor):
    admin, person = make_actor("admin"), make_actor("bd")
    laptop, laptop_id = open_for(console_engine, person, ip="10.0.0.7", ua="Firefox/140")
    phone, phone_id = open_for(console_engine, person, ip="10.0.0.8", ua="Safari/18")
    _, left_id = open_for(console_engine, person, ip="10.0.0.9", ua="Edge/140")
    sessions.sign_out(engine=console_engine, session_id=left_id, staff_id=person.id)
    with console_engine.begin() as conn:
        staff.end_session(conn=conn, actor=admin, staff_id=person.id, session_id=laptop_id,
                          reason="laptop stolen")
    with console_engine.connect() as conn:
        listed = staff.list_sessions(conn=conn, actor=admin, staff_id=person.id)
    assert listed[["id", "ip", "user_agent", "state"]].values.tolist() == [
        [left_id, "10.0.0.9", "Edge/140", "sign_out"],
        [phone_id, "10.0.0.8", "Safari/18", "open"],
        [laptop_id, "10.0.0.7", "Firefox/140", "admin"],
    ]
    assert refusal_key(sessions.resume, engine=console_engine,
                       token=laptop) == "error.session_ended"
    assert sessions.resume(engine=console_engine, token=phone).session_id == phone_id
    with engine.connect() as conn:
        audit = conn.execute(sa.text(
            """SELECT actor_id, action, after ->> 'session_id', reason FROM ops.audit_log
               WHERE action = 'staff.end_session'""")).one()
    assert tuple(audit) == (admin.id, "staff.end_session", str(laptop_id), "laptop stolen")
    # Ending it again, or a session of someone else, is refused and writes nothing.
    other = make_actor("ops")
    with console_engine.begin() as conn, pytest.raises(ConsoleError) as again:
        staff.end_session(conn=conn, actor=admin, staff_id=person.id, session_id=laptop_id,
                          reason="twice")
    assert again.value.key == "error.already_in_state"
    with console_engine.begin() as conn, pytest.raises(NotFound):
        staff.end_session(conn=conn, actor=admin, staff_id=other.id, session_id=phone_id,
                          reason="wrong person")
    assert sessions.resume(engine=console_engine, token=phone).session_id == phone_id


def test_ending_all_sessions_marks_each_open_one_and_shows_revoked_for_a_disable(
        console_engine, make_actor):
    admin, person = make_actor("admin"), make_actor("ops")
    open_for(console_engine, person)
    open_for(console_engine, person)
    with console_engine.begin() as conn:
        assert staff.end_sessions(conn=conn, actor=admin, staff_id=person.id,
                                  reason="policy") == 2
    open_for(console_engine, replace(person, session_epoch=1))
    with console_engine.begin() as conn:
        staff.set_active(conn=conn, actor=admin, staff_id=person.id, active=False, reason="left")
    with console_engine.connect() as conn:
        states = staff.list_sessions(conn=conn, actor=admin, staff_id=person.id)["state"].tolist()
    assert states == ["revoked", "admin", "admin"]


def test_only_an_admin_lists_sessions(console_engine, make_actor):
    person = make_actor("manager")
    with console_engine.connect() as conn, pytest.raises(PermissionDenied):
        staff.list_sessions(conn=conn, actor=person, staff_id=person.id)


def test_a_password_change_keeps_this_session_and_ends_the_others(console_engine, make_actor):
    admin, person = make_actor("admin"), make_actor("ops")
    with console_engine.begin() as conn:
        staff.force_password_reset(conn=conn, actor=admin, staff_id=person.id, reason="reset")
    signed_in = authenticate(engine=console_engine, username=person.username,
                             password=TEST_PASSWORD)
    here, here_id = open_for(console_engine, signed_in)
    there, _ = open_for(console_engine, signed_in)
    changed = change_own_password(engine=console_engine, actor=signed_in,
                                  new_password="copper-kettle-58", repeated="copper-kettle-58",
                                  session_id=here_id)
    resumed = sessions.resume(engine=console_engine, token=here)
    assert (resumed.session_id, resumed.actor.session_epoch) == (here_id, changed.session_epoch)
    assert refusal_key(sessions.resume, engine=console_engine,
                       token=there) == "error.session_ended"


def test_signing_in_again_in_the_same_browser_supersedes_its_old_token(console_engine,
                                                                        make_actor):
    person = make_actor("ops")
    old, _ = open_for(console_engine, person)
    new, new_id = sessions.open_session(engine=console_engine, actor=person, replaces=old)
    assert refusal_key(sessions.resume, engine=console_engine, token=old) == "session.signed_out"
    assert sessions.resume(engine=console_engine, token=new).session_id == new_id


def tab_on(session_id, actor):
    """A console tab signed in on the remembered session ``session_id``, run once."""
    at = AppTest.from_file(APP, default_timeout=60)
    at.session_state["staff_id"] = actor.id
    at.session_state["session_epoch"] = actor.session_epoch
    at.session_state["session_id"] = session_id
    at.session_state["lang"] = "zh"
    return at.run()


def test_a_tab_is_signed_out_at_its_next_step_when_its_session_ends(console_engine,
                                                                     make_actor):
    admin, person = make_actor("admin"), make_actor("ops")
    token, session_id = open_for(console_engine, person)
    assert tab_on(session_id, person).title[0].value == f"{person.display_name}，你好"
    with console_engine.begin() as conn:
        staff.end_session(conn=conn, actor=admin, staff_id=person.id, session_id=session_id,
                          reason="lost phone")
    at = tab_on(session_id, person)
    assert "staff_id" not in at.session_state
    assert [w.value for w in at.warning] == [
        "你的登录已失效（管理员结束了会话、重置了密码，或账号曾被锁定），请重新登录。"]
    assert [ti.label for ti in at.text_input] == ["用户名", "密码"]   # the sign-in form


def test_a_tab_signed_out_in_another_tab_says_so(console_engine, make_actor):
    person = make_actor("bd")
    _, session_id = open_for(console_engine, person)
    sessions.sign_out(engine=console_engine, session_id=session_id, staff_id=person.id)
    at = tab_on(session_id, person)
    assert [w.value for w in at.warning] == ["你已退出登录（可能是在另一个窗口中退出的），请重新登录。"]
    assert [ti.label for ti in at.text_input] == ["用户名", "密码"]


def test_the_admin_page_lists_the_sessions_and_ends_one(engine, console_engine, make_actor):
    admin, person = make_actor("admin"), make_actor("bd", username="carol")
    _, session_id = open_for(console_engine, person, ip="10.9.8.7", ua="Chrome/140")
    at = app_as(admin, page="pages/admin_staff.py")
    at.selectbox(key="staff_pick").select(person.id).run()
    table = at.dataframe[1].value
    assert table[["会话", "IP 地址", "浏览器", "状态"]].values.tolist() == [
        [session_id, "10.9.8.7", "Chrome/140", "在线"]]
    at.selectbox(key="session_to_end").select(session_id)
    at.text_input(key="session_end_reason").input("phone lost on the metro")
    at.button(key="session_end").click().run()
    assert [s.value for s in at.success] == [f"已结束会话 {session_id}。"]
    table = at.dataframe[1].value
    assert table["状态"].tolist() == ["管理员已结束"]
    with engine.connect() as conn:
        assert conn.execute(sa.text(
            "SELECT reason FROM ops.audit_log WHERE action = 'staff.end_session'")).scalar() == \
            "phone lost on the metro"


def test_the_sign_in_form_opens_a_remembered_session_and_sign_out_ends_it(engine,
                                                                          make_actor):
    # AppTest runs the app as served (tests/apptest.py serve_as_launched).
    person = make_actor("bd", username="dora")
    at = AppTest.from_file(APP, default_timeout=60)
    at.session_state["lang"] = "zh"
    at.run()
    at.text_input(key="login_username").input("dora")
    at.text_input(key="login_password").input(TEST_PASSWORD)
    at.button[0].click().run()
    assert not at.exception
    session_id = at.session_state["session_id"]
    with engine.connect() as conn:
        row = conn.execute(sa.text(
            "SELECT staff_id, ended_at FROM ops.staff_sessions WHERE id = :id"),
            {"id": session_id}).one()
    assert tuple(row) == (person.id, None)
    assert sessions.is_token(at.session_state["_session_cookie_token"])   # for the cookie
    next(b for b in at.sidebar.button if b.label == "退出登录").click().run()
    assert "staff_id" not in at.session_state
    assert "_session_cookie_token" not in at.session_state
    with engine.connect() as conn:
        assert conn.execute(sa.text(
            "SELECT ended_reason, ended_by FROM ops.staff_sessions WHERE id = :id"),
            {"id": session_id}).one() == ("sign_out", person.id)
    assert audit_actions(engine, person.id) == ["staff.sign_in", "staff.sign_out"]
