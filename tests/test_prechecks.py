"""Pre-checks of certification submissions: badges, duplicates, name comparisons."""
from __future__ import annotations

import pytest

from console import db
from console.services import prechecks
from console.services.prechecks import company_name_matches

from tests import trust_rows as tr


def badges(engine, case_id: int) -> dict[str, tuple[str, str | None]]:
    return {r["check_code"]: (r["outcome"], r["detail"]) for r in tr.rows(
        engine, "SELECT check_code, outcome, detail FROM ops.cert_prechecks "
                "WHERE certification_id = :id", id=case_id)}


def check_all(engine, **kw) -> int:
    with db.transaction() as conn:
        return prechecks.run_prechecks(conn=conn, **kw)


@pytest.fixture
def hz(engine):
    return tr.city(engine, name="杭州市", tier=2)


def test_valid_personal_submission_passes_every_check(engine, hz):
    m = tr.merchant(engine, city_id=hz)
    case = tr.cert(engine, merchant_id=m, id_number="11010519491231002X")
    assert check_all(engine) == 1
    assert badges(engine, case) == {
        "id_number": ("pass", None), "uscc": ("skip", None), "id_duplicate": ("pass", None),
        "uscc_duplicate": ("skip", None), "company_name": ("skip", None),
        "legal_rep": ("skip", None), "phone_shared": ("pass", None)}


@pytest.mark.parametrize("id_number, detail", [
    ("11010519491231002X\n", "format"),        # a trailing newline used to pass
    ("１１０１０５１９４９１２３１００２Ｘ\n", "format"),
    ("110105194912310021", "check_digit"),
    ("110105194913310028", "birth_date"),
])
def test_bad_id_number_fails_with_its_reason(engine, hz, id_number, detail):
    case = tr.cert(engine, merchant_id=tr.merchant(engine, city_id=hz), id_number=id_number)
    check_all(engine)
    assert badges(engine, case)["id_number"] == ("fail", detail)


def test_bad_uscc_fails_and_flag_never_decides(engine, hz):
    m = tr.merchant(engine, city_id=hz, name="杭州顺达汽车")
    case = tr.cert(engine, merchant_id=m, kind="enterprise", uscc="91350100M000100Y44",
                   company_name="杭州顺达汽车销售服务有限公司")
    check_all(engine)
    got = badges(engine, case)
    assert got["uscc"] == ("fail", "check_char")
    assert got["company_name"] == ("pass", None)
    assert tr.value(engine, "SELECT status FROM app.certifications WHERE id = :id",
                    id=case) == "pending"


def test_id_and_uscc_certified_for_another_merchant_are_duplicates(engine, hz):
    owner = tr.merchant(engine, city_id=hz)
    copier = tr.merchant(engine, city_id=hz)
    same_merchant_again = owner
    number, code = tr.valid_id(), tr.valid_uscc()
    tr.cert(engine, merchant_id=owner, id_number=number, status="approved")
    tr.cert(engine, merchant_id=owner, kind="enterprise", uscc=code, status="approved")
    dup_id = tr.cert(engine, merchant_id=copier, id_number=number)
    dup_uscc = tr.cert(engine, merchant_id=copier, kind="enterprise", uscc=code)
    own_renewal = tr.cert(engine, merchant_id=same_merchant_again, id_number=number)
    check_all(engine)
    assert badges(engine, dup_id)["id_duplicate"] == ("fail", f"merchant:{owner}")
    assert badges(engine, dup_uscc)["uscc_duplicate"] == ("fail", f"merchant:{owner}")
    assert badges(engine, own_renewal)["id_duplicate"] == ("pass", None)


def test_a_number_only_pending_elsewhere_is_not_a_duplicate(engine, hz):
    number = tr.valid_id()
    tr.cert(engine, merchant_id=tr.merchant(engine, city_id=hz), id_number=number)
    other = tr.cert(engine, merchant_id=tr.merchant(engine, city_id=hz), id_number=number)
    tr.cert(engine, merchant_id=tr.merchant(engine, city_id=hz), id_number=number,
            status="rejected")
    check_all(engine)
    assert badges(engine, other)["id_duplicate"] == ("pass", None)


def test_phone_used_by_another_merchant(engine, hz):
    first = tr.merchant(engine, city_id=hz, phone="13800001111")
    second = tr.merchant(engine, city_id=hz, phone="13800001111")
    case = tr.cert(engine, merchant_id=second)
    check_all(engine)
    assert badges(engine, case)["phone_shared"] == ("fail", f"merchant:{first}")


def test_legal_rep_is_compared_with_the_personal_certification(engine, hz):
    m = tr.merchant(engine, city_id=hz, name="远航汽车")
    tr.cert(engine, merchant_id=m, real_name="李娜", status="approved")
    same = tr.cert(engine, merchant_id=m, kind="enterprise", legal_rep="李娜",
                   company_name="杭州远航汽车贸易有限公司")
    differs = tr.cert(engine, merchant_id=m, kind="enterprise", legal_rep="王强",
                      company_name="杭州远航汽车贸易有限公司")
    lone = tr.cert(engine, merchant_id=tr.merchant(engine, city_id=hz), kind="enterprise")
    check_all(engine)
    assert badges(engine, same)["legal_rep"] == ("pass", None)
    assert badges(engine, differs)["legal_rep"] == ("fail", "name_differs")
    assert badges(engine, lone)["legal_rep"] == ("skip", "no_personal_cert")


@pytest.mark.parametrize("company, merchant, expected", [
    ("杭州顺达汽车销售服务有限公司", "顺达汽车", True),
    ("杭州顺达汽车销售服务有限公司", "杭州顺达4S店", True),
    ("浙江宏图商贸有限公司", "宏图车行", True),
    ("上海明远汽车贸易有限公司", "顺达汽车", False),
    ("", "顺达汽车", False),
])
def test_company_name_comparison(company, merchant, expected):
    assert company_name_matches(company, merchant, city_names=("杭州市", "杭州")) is expected


def test_run_is_idempotent_and_refresh_recomputes(engine, hz):
    owner, copier = tr.merchant(engine, city_id=hz), tr.merchant(engine, city_id=hz)
    number = tr.valid_id()
    case = tr.cert(engine, merchant_id=copier, id_number=number)
    assert check_all(engine) == 1
    assert check_all(engine) == 0          # nothing new to check
    tr.cert(engine, merchant_id=owner, id_number=number, status="approved")
    assert badges(engine, case)["id_duplicate"] == ("pass", None)
    assert check_all(engine, refresh=True) == 1
    assert badges(engine, case)["id_duplicate"] == ("fail", f"merchant:{owner}")


@pytest.mark.parametrize("typed", ["11010519491231002x", "110105 19491231 002X",
                                   "１１０１０５１９４９１２３１００２Ｘ"])
def test_a_number_typed_loosely_passes_as_read_and_says_so(engine, hz, typed):
    case = tr.cert(engine, merchant_id=tr.merchant(engine, city_id=hz), id_number=typed)
    check_all(engine)
    assert badges(engine, case)["id_number"] == ("pass", "normalised")
    # Stored as submitted: the reviewer sees what the merchant typed.
    assert tr.value(engine, "SELECT id_number FROM app.certifications WHERE id = :id",
                    id=case) == typed


def test_a_full_width_id_is_caught_by_the_duplicate_check(engine, hz):
    owner, copier, third = (tr.merchant(engine, city_id=hz) for _ in range(3))
    tr.cert(engine, merchant_id=owner, id_number="11010519491231002X", status="approved")
    wide = tr.cert(engine, merchant_id=copier, id_number="１１０１０５１９４９１２３１００２Ｘ")
    spaced = tr.cert(engine, merchant_id=third, id_number="110105 19491231 002x")
    check_all(engine)
    assert badges(engine, wide)["id_duplicate"] == ("fail", f"merchant:{owner}")
    assert badges(engine, spaced)["id_duplicate"] == ("fail", f"merchant:{owner}")


def test_an_approved_full_width_uscc_is_found_from_its_ascii_spelling(engine, hz):
    owner, copier = tr.merchant(engine, city_id=hz), tr.merchant(engine, city_id=hz)
    tr.cert(engine, merchant_id=owner, kind="enterprise", uscc="９１３５０１００Ｍ０００１００Ｙ４３",
            status="approved")
    case = tr.cert(engine, merchant_id=copier, kind="enterprise", uscc="91350100M000100Y43")
    check_all(engine)
    assert badges(engine, case)["uscc_duplicate"] == ("fail", f"merchant:{owner}")


def test_a_full_width_uscc_is_read_and_the_job_checks_every_case(engine, hz):
    """A full-width digit used to raise ValueError inside the check, aborting the whole run
    (and every later run) before any case got its badges."""
    m = tr.merchant(engine, city_id=hz, name="杭州顺达汽车")
    cases = [tr.cert(engine, merchant_id=m, kind="enterprise", uscc=code,
                     company_name="杭州顺达汽车销售服务有限公司")
             for code in ("9135010０M000100Y43", "9135010０M000100Y44", "91350100M000100Y43")]
    personal = tr.cert(engine, merchant_id=tr.merchant(engine, city_id=hz))
    assert check_all(engine) == 4
    assert [badges(engine, c)["uscc"] for c in cases] == [
        ("pass", "normalised"), ("fail", "check_char"), ("pass", None)]
    assert badges(engine, personal)["id_number"] == ("pass", None)


# ---------------------------------------------------------------- how the case page words them
@pytest.mark.parametrize("code, outcome, detail, hard, expected", [
    ("id_duplicate", "pass", None, True, ("否", "✓", "ok")),
    ("id_duplicate", "fail", "merchant:42", True, ("是", "✗", "bad")),
    ("uscc_duplicate", "pass", None, True, ("否", "✓", "ok")),
    ("phone_shared", "fail", "merchant:7", True, ("是", "✗", "bad")),
    ("id_number", "pass", None, True, ("是", "✓", "ok")),
    ("id_number", "fail", "check_digit", True, ("否", "✗", "bad")),
    ("uscc", "fail", "format", True, ("否", "✗", "bad")),
    ("company_name", "fail", "name_differs", False, ("否", "⚠", "warn")),
    ("legal_rep", "pass", None, False, ("是", "✓", "ok")),
    ("legal_rep", "skip", "no_personal_cert", False, ("不适用", "—", "na")),
])
def test_a_precheck_is_a_question_whose_answer_says_whether_it_is_as_expected(
        code, outcome, detail, hard, expected):
    from console.i18n import translate
    line = prechecks.present(code, outcome, detail, is_hard=hard)
    assert (translate(line.answer_key, "zh"), line.mark, line.tone) == expected
    assert translate(line.question_key, "zh").endswith("？")
    assert translate(line.question_key, "en").endswith("?")


def test_the_duplicate_question_reads_as_the_issue_asks():
    from console.i18n import translate
    line = prechecks.present("id_duplicate", "pass", None, is_hard=True)
    assert f"{translate(line.question_key, 'zh')} {translate(line.answer_key, 'zh')} {line.mark}" \
        == "身份证号是否已被其他商户认证？ 否 ✓"
    failed = prechecks.present("id_duplicate", "fail", "merchant:42", is_hard=True)
    assert f"{translate(failed.question_key, 'en')} {translate(failed.answer_key, 'en')} " \
           f"{failed.mark}" == "Is the ID number already certified for another merchant? Yes ✗"
    assert failed.conflict_merchant_id == 42
    code = prechecks.present("id_number", "fail", "check_digit", is_hard=True)
    assert (code.detail_key, code.conflict_merchant_id) == ("trust.detail.check_digit", None)


def test_checks_that_do_not_apply_and_say_nothing_are_left_out():
    import pandas as pd
    results = pd.DataFrame([
        {"check_code": "id_number", "outcome": "pass", "is_hard": True, "detail": None},
        {"check_code": "uscc", "outcome": "skip", "is_hard": True, "detail": None},
        {"check_code": "legal_rep", "outcome": "skip", "is_hard": False,
         "detail": "no_personal_cert"}])
    assert [ln.code for ln in prechecks.present_all(results)] == ["id_number", "legal_rep"]
