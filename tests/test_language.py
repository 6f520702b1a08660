"""Both languages complete (issue #14): no Chinese left in the English texts, no Streamlit
range check on a number input (its errors are English whatever the language: the project's
own boundary refuses out-of-range values with a catalogue message instead)."""
from __future__ import annotations

import ast
import re

import pytest

from console import db
from console.errors import InvalidInput
from console.i18n import catalogue, translate
from console.services import merchants
from console.services.merchants import DirectoryFilters
from console.settings import PROJECT_ROOT
from tests.apptest import app_as
from tests.test_merchants import world  # noqa: F401  (fixture)

PAGES = sorted((PROJECT_ROOT / "pages").glob("*.py"))
RANGE_KWARGS = {"min_value", "max_value"}
# Range-checked number inputs still in pages owned by other work in progress (issue #14):
# fix one and remove it here, or the test fails (the list only shrinks).
KNOWN = {("merchant_profile.py", 1), ("ops_cert_case.py", 1)}
CJK = re.compile(r"[\u3000-\u303f\u4e00-\u9fff\uff00-\uffef]")
ENGLISH_MAY_SHOW_CHINESE = {"lang.label", "lang.zh"}   # the language switch names 中文


def range_checked_number_inputs(path) -> int:
    """number_input calls of ``path`` with a min_value or max_value."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    return sum(1 for node in ast.walk(tree)
               if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
               and node.func.attr == "number_input"
               and RANGE_KWARGS & {k.arg for k in node.keywords})


def test_no_page_lets_streamlit_range_check_a_number():
    found = {(p.name, n) for p in PAGES if (n := range_checked_number_inputs(p))}
    assert found - KNOWN == set(), "use the service's validation (console/boundary.py) instead"
    assert KNOWN - found == set(), "fixed: remove it from KNOWN"


def test_the_scan_sees_a_range_checked_input(tmp_path):
    page = tmp_path / "p.py"
    page.write_text("x = c4.number_input('a', min_value=0)\ny = st.number_input('b', value=1)\n")
    assert range_checked_number_inputs(page) == 1


def test_english_texts_hold_no_chinese():
    leftovers = {k: v["en"] for k, v in catalogue().items()
                 if CJK.search(v["en"]) and k not in ENGLISH_MAY_SHOW_CHINESE}
    assert leftovers == {}
    assert translate("matching.f.points", "en") == "Points below guide price"


def test_no_english_unit_plural_after_a_count():
    # "1 units": a count placeholder followed by a plural noun reads wrong for one
    plural = re.compile(r"\{(qty|n|count)\} (units|cars|items)\b")
    assert {k: v["en"] for k, v in catalogue().items() if plural.search(v["en"])} == {}


def test_an_out_of_range_day_count_is_refused_in_the_readers_language(world):
    at = app_as(world["staff"]["ops1"], lang="zh", page="pages/merchant_directory.py")
    days = next(n for n in at.number_input)
    days.set_value(-7)
    next(b for b in at.button if b.label == "搜索").click().run()
    assert not at.exception
    assert [e.value for e in at.error] == ["天数须为 0 到 3,660 之间的整数。"]
    # the same refusal, in English (AppTest evaluates a radio's labels outside the session's
    # language, so the English page is not driven here)
    with db.connection() as conn, pytest.raises(InvalidInput) as err:
        merchants.count_directory(conn=conn, actor=world["staff"]["ops1"],
                                  filters=DirectoryFilters(active_within_days=-7))
    assert translate(err.value.key, "en", **err.value.params) == (
        "The number of days must be a whole number from 0 to 3,660.")
