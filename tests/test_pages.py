"""Every page renders without exception for every role that may open it (AppTest),
and a page script run by someone without the role shows a refusal, not data."""
import pytest
from console.roles import ROLES
from console.ui.nav import PAGES
from tests.apptest import app_as, page_script_as

CASES = [(spec.path, role) for spec in PAGES for role in sorted(spec.roles)]
REFUSALS = [(spec.path, role) for spec in PAGES for role in ROLES if role not in spec.roles]


def test_signed_out_visitor_sees_the_login_form(engine):
    at = app_as(None)
    assert not at.exception
    assert [b.label for b in at.button] == ["登录"]
    assert at.title[0].value == "车商通运营后台"


def test_login_form_signs_in_and_shows_the_home(engine, make_actor):
    from tests.conftest import TEST_PASSWORD
    make_actor("ops", username="opsy")
    at = app_as(None)
    at.text_input(key="login_username").input("opsy")
    at.text_input(key="login_password").input(TEST_PASSWORD)
    at.button[0].click().run()
    assert not at.exception
    assert at.title[0].value == "OPSY，你好"


def test_wrong_password_shows_a_message_and_stays_signed_out(engine, make_actor):
    make_actor("ops", username="opsy")
    at = app_as(None)
    at.text_input(key="login_username").input("opsy")
    at.text_input(key="login_password").input("wrong-password")
    at.button[0].click().run()
    assert [e.value for e in at.error] == ["用户名或密码错误。"]
    assert "staff_id" not in at.session_state


@pytest.mark.parametrize("path, role", CASES)
def test_page_renders_for_role(engine, make_actor, path, role):
    for lang in ("zh", "en"):
        at = app_as(make_actor(role), lang=lang, page=path)
        assert not at.exception, f"{path} as {role} ({lang}): {at.exception}"
        assert not at.error, [e.value for e in at.error]


@pytest.mark.parametrize("path, role", REFUSALS)
def test_page_script_refuses_role_without_access(engine, make_actor, path, role):
    at = page_script_as(make_actor(role), path)
    assert not at.exception
    assert any("无权访问" in e.value for e in at.error), path


def test_english_switch_changes_the_shell(engine, make_actor):
    at = app_as(make_actor("manager"), lang="en")
    assert at.title[0].value.startswith("Hello, ")
    assert [m.label for m in at.metric][:1] == ["Matchable posts"]
