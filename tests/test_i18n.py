"""One catalogue, Chinese and English complete, and every key used in code exists."""
import re
from pathlib import Path

from console.i18n import catalogue, translate
from console.settings import PROJECT_ROOT

# t("key") / translate("key") / ConsoleError("key") / *Error("key") / enum_label / *_key="key"
KEY_USE = re.compile(
    r"""(?:\bt|translate|Error|Denied|NotFound|Input|Conflict)\(\s*["']([a-z_]+\.[a-z0-9_.]*[a-z0-9_])["']""")


def code_files():
    for folder in ("console", "pages", "etl"):
        yield from (PROJECT_ROOT / folder).rglob("*.py")
    yield PROJECT_ROOT / "app.py"


def test_every_entry_has_both_languages_and_no_empty_text():
    for key, texts in catalogue().items():
        assert texts["zh"].strip() and texts["en"].strip(), key


def test_chinese_is_the_default_and_english_is_complete():
    assert translate("login.submit") == "登录"
    assert translate("login.submit", "en") == "Sign in"
    assert translate("common.page", "en", page=2, pages=5, total=99) == "Page 2 of 5, 99 rows"


def test_placeholders_match_between_languages():
    fields = re.compile(r"{(\w+)}")
    for key, texts in catalogue().items():
        assert set(fields.findall(texts["zh"])) == set(fields.findall(texts["en"])), key


def test_every_key_used_in_code_is_in_the_catalogue():
    known = catalogue()
    missing = set()
    for path in code_files():
        for key in KEY_USE.findall(path.read_text(encoding="utf-8")):
            if key not in known:
                missing.add(f"{Path(path).relative_to(PROJECT_ROOT)}: {key}")
    assert not missing, sorted(missing)


def test_pages_hold_no_chinese_text_of_their_own():
    """User-facing text lives in the catalogue, so the English switch is complete."""
    han = re.compile(r"[\u4e00-\u9fff]")
    offenders = []
    for path in [*(PROJECT_ROOT / "pages").glob("*.py"), PROJECT_ROOT / "app.py",
                 *(PROJECT_ROOT / "console" / "ui").glob("*.py")]:
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            code = line.split("#", 1)[0]
            if han.search(code) and not code.strip().startswith(('"""', "'''")):
                offenders.append(f"{path.relative_to(PROJECT_ROOT)}:{number}: {line.strip()}")
    assert offenders == []


def test_streamlit_placeholders_come_from_the_catalogue():
    from streamlit.testing.v1 import AppTest

    script = """
import pandas as pd
import streamlit as st
from console.ui import localise_widget_placeholders
localise_widget_placeholders()
st.dataframe(pd.DataFrame({"median_hours": [None, 24.8]}))
st.selectbox("step", ["a", "b"], index=None)
st.multiselect("tiers", [1, 2])
"""
    at = AppTest.from_string(script).run()
    # Streamlit's own texts are English ("None", "Choose an option") in a Chinese console.
    assert at.dataframe[0].proto.placeholder == "—"
    assert at.selectbox[0].placeholder == "请选择"
    assert at.multiselect[0].placeholder == translate("common.choose_options")
