"""Every AppTest runs the console as it is served (tests/apptest.py serve_as_launched): a
second run of the same AppTest still runs app.py with its navigation and sidebar, not a
page file bare, as Streamlit's legacy pages/ folder mode would."""
from __future__ import annotations

from streamlit.runtime.pages_manager import PagesManager
from streamlit.testing.v1 import AppTest

from tests.apptest import APP


def test_a_second_run_still_runs_the_app_with_its_sidebar(engine, make_actor):
    person = make_actor("bd")
    at = AppTest.from_file(APP, default_timeout=60)   # no helper: the default holds anyway
    at.session_state["staff_id"] = person.id
    at.session_state["lang"] = "zh"
    at.run()
    at.run()
    assert not at.exception
    assert [b.label for b in at.sidebar.button] == ["退出登录"]
    assert at.title[0].value == f"{person.display_name}，你好"
    assert PagesManager.uses_pages_directory is False


def test_scripts_run_with_the_served_runner_options_so_magic_writes_nothing():
    # streamlit_config.toml turns magic off for the served console; AppTest must too, or a
    # bare expression would show here that staff never see (and every page would be parsed
    # by ast.parse, which is not thread-safe on CPython 3.11).
    at = AppTest.from_string("import streamlit as st\n'magic would show this'\nst.text('drawn')")
    at.run()
    assert not at.exception
    assert [t.value for t in at.text] == ["drawn"]
    assert [m.value for m in at.markdown] == []
