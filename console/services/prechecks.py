"""Automatic pre-checks of certification submissions, run before a human looks at a case.

Checks (hard ones flag the case; nothing is ever auto-rejected):
- id_number (hard): format, birth date, check digit, GB 11643-1999 (console.checks);
- uscc (hard): format and check character, GB 32100-2015 (console.checks);
- id_duplicate / uscc_duplicate (hard): the same number already certified for another merchant;
- phone_shared (hard): the merchant's phone is registered to another merchant too;
- company_name (soft): the licence's company name against the merchant's name;
- legal_rep (soft): the legal representative against the merchant's personal certification.

Numbers are checked as read (console.checks.normalise_code: spaces dropped, full-width made
ASCII, upper case), and the duplicate checks compare them as read. When reading changed
what was typed, a passing id_number / uscc badge carries the detail 'normalised', so the
reviewer knows the stored text is not exactly the number checked.

Everything a check needs comes from one set-based query; the check-character algorithms
run in Python because console.checks is their single implementation.

Command: ``python -m console.services.prechecks`` checks every open case without results.
"""
from __future__ import annotations

import re
import sys
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date
from difflib import SequenceMatcher
from typing import Any

import pandas as pd
from sqlalchemy.engine import Connection

from console import db
from console.checks import id_number_problem, uscc_problem, was_normalised

HARD_CHECKS = ("id_number", "uscc", "id_duplicate", "uscc_duplicate", "phone_shared")
SOFT_CHECKS = ("company_name", "legal_rep")
ALL_CHECKS = HARD_CHECKS + SOFT_CHECKS

# Words that say what kind of company it is rather than which one; dropped before comparing
# "上海某某汽车销售服务有限公司" with the merchant's shop name "某某汽车".
_COMPANY_NOISE = ("股份有限公司", "有限责任公司", "有限公司", "分公司", "公司", "集团",
                  "汽车销售服务", "汽车销售", "汽车贸易", "汽车服务", "商贸", "贸易", "销售",
                  "服务", "汽车", "车行", "车业", "4S店", "4s店")
_PUNCT = re.compile(r"[\s()（）·.,，、\-_]+")
NAME_SIMILARITY_MIN = 0.6


@dataclass(frozen=True)
class CheckResult:
    code: str
    outcome: str          # pass | fail | skip
    detail: str | None = None

    @property
    def is_hard(self) -> bool:
        return self.code in HARD_CHECKS


def normalise_company(name: str | None, *, city_names: Iterable[str] = ()) -> str:
    text = _PUNCT.sub("", name or "")
    for city in city_names:
        if city and text.startswith(city):
            text = text[len(city):]
    for noise in _COMPANY_NOISE:
        text = text.replace(noise, "")
    return text


def company_name_matches(company: str | None, merchant: str | None,
                         *, city_names: Iterable[str] = ()) -> bool:
    """Whether the licence's company plausibly is the merchant (containment or similarity)."""
    a = normalise_company(company, city_names=city_names)
    b = normalise_company(merchant, city_names=city_names)
    if not a or not b:
        return False
    if a in b or b in a:
        return True
    return SequenceMatcher(None, a, b).ratio() >= NAME_SIMILARITY_MIN


def evaluate(case: Mapping[str, Any], *, today: date | None = None) -> list[CheckResult]:
    """All checks of one submission, from the facts ``_FACTS_SQL`` gathered for it."""
    personal = case["kind"] == "personal"
    out: list[CheckResult] = []
    if personal:
        problem = id_number_problem(case["id_number"], today=today)
        out.append(_code_check("id_number", problem, case["id_number"]))
        out.append(CheckResult("uscc", "skip"))
        out.append(_duplicate("id_duplicate", case["id_dup_merchant"]))
        out.append(CheckResult("uscc_duplicate", "skip"))
        out.append(CheckResult("company_name", "skip"))
        out.append(CheckResult("legal_rep", "skip"))
    else:
        problem = uscc_problem(case["uscc"])
        out.append(CheckResult("id_number", "skip"))
        out.append(_code_check("uscc", problem, case["uscc"]))
        out.append(CheckResult("id_duplicate", "skip"))
        out.append(_duplicate("uscc_duplicate", case["uscc_dup_merchant"]))
        cities = (case["city_name"], case["city_short"])
        matches = company_name_matches(case["company_name"], case["merchant_name"],
                                       city_names=cities)
        out.append(CheckResult("company_name", "pass" if matches else "fail",
                               None if matches else "name_differs"))
        out.append(_legal_rep(case["legal_rep"], case["personal_name"]))
    out.append(_duplicate("phone_shared", case["phone_dup_merchant"]))
    return out


def _code_check(code: str, problem: str | None, typed: Any) -> CheckResult:
    """A failure says why; a pass says 'normalised' when the number was read differently
    from how it was typed."""
    if problem:
        return CheckResult(code, "fail", problem)
    return CheckResult(code, "pass", "normalised" if was_normalised(typed) else None)


def _duplicate(code: str, other_merchant: Any) -> CheckResult:
    if other_merchant is None:
        return CheckResult(code, "pass")
    return CheckResult(code, "fail", f"merchant:{other_merchant}")


def _legal_rep(legal_rep: str | None, personal_name: str | None) -> CheckResult:
    if not personal_name:
        return CheckResult("legal_rep", "skip", "no_personal_cert")
    same = _PUNCT.sub("", legal_rep or "") == _PUNCT.sub("", personal_name)
    return CheckResult("legal_rep", "pass" if same else "fail", None if same else "name_differs")


# Facts for each case: the merchant, the personal name on file, and the lowest id of another
# merchant holding the same approved ID / USCC (as read: app.normalise_code, indexed) or the
# same phone. `min(merchant_id + 0)`: on a plain min() the planner walks the whole merchant_id
# index filtering every row through the normalisation (103 s for 200 cases on the large bench
# database) instead of looking the number up in its expression index (54 ms).
_FACTS_SQL = """
SELECT c.id, c.kind, c.id_number, c.uscc, c.company_name, c.legal_rep,
       m.name AS merchant_name, ci.name AS city_name, ci.short_name AS city_short,
       (SELECT p.real_name FROM app.certifications p
        WHERE p.merchant_id = c.merchant_id AND p.kind = 'personal' AND p.status <> 'rejected'
        ORDER BY (p.status = 'approved') DESC, p.submitted_at DESC LIMIT 1) AS personal_name,
       (SELECT min(o.merchant_id + 0) FROM app.certifications o
        WHERE c.kind = 'personal' AND o.status = 'approved' AND o.id_number IS NOT NULL
          AND app.normalise_code(o.id_number) = app.normalise_code(c.id_number)
          AND o.merchant_id <> c.merchant_id) AS id_dup_merchant,
       (SELECT min(o.merchant_id + 0) FROM app.certifications o
        WHERE c.kind = 'enterprise' AND o.status = 'approved' AND o.uscc IS NOT NULL
          AND app.normalise_code(o.uscc) = app.normalise_code(c.uscc)
          AND o.merchant_id <> c.merchant_id) AS uscc_dup_merchant,
       (SELECT min(o.id) FROM app.merchants o
        WHERE o.phone = m.phone AND o.id <> m.id) AS phone_dup_merchant
FROM app.certifications c
JOIN app.merchants m ON m.id = c.merchant_id
JOIN app.cities ci ON ci.id = m.city_id
WHERE c.id = ANY (:ids)
"""


def open_cases_to_check(conn: Connection, *, refresh: bool) -> list[int]:
    """Open cases without results (or all open cases when ``refresh``)."""
    missing = "" if refresh else """AND NOT EXISTS (SELECT 1 FROM ops.cert_prechecks p
                                                    WHERE p.certification_id = c.id)"""
    return [r["id"] for r in db.fetch_all(conn, f"""
        SELECT c.id FROM app.certifications c
        WHERE c.status IN ('pending','in_review') {missing}""")]


def run_prechecks(*, conn: Connection, certification_ids: list[int] | None = None,
                  refresh: bool = False, today: date | None = None,
                  batch: int = 2000) -> int:
    """Check the given cases (default: open cases not yet checked) and store the results.

    A system job, not a staff action: it decides nothing, so it writes no audit row.
    Returns the number of cases checked.
    """
    ids = certification_ids if certification_ids is not None else \
        open_cases_to_check(conn, refresh=refresh)
    for start in range(0, len(ids), batch):
        chunk = ids[start:start + batch]
        facts = db.fetch_all(conn, _FACTS_SQL, ids=chunk)
        store(conn, {f["id"]: evaluate(f, today=today) for f in facts})
    return len(ids)


def store(conn: Connection, results: dict[int, list[CheckResult]]) -> None:
    rows = [(cid, r.code, r.outcome, r.is_hard, r.detail)
            for cid, checks in results.items() for r in checks]
    if not rows:
        return
    ids, codes, outcomes, hards, details = (list(col) for col in zip(*rows))
    db.execute(conn, """
        INSERT INTO ops.cert_prechecks (certification_id, check_code, outcome, is_hard, detail)
        SELECT * FROM unnest(CAST(:ids AS bigint[]), CAST(:codes AS text[]),
                             CAST(:outcomes AS text[]), CAST(:hards AS boolean[]),
                             CAST(:details AS text[]))
        ON CONFLICT (certification_id, check_code) DO UPDATE
        SET outcome = EXCLUDED.outcome, is_hard = EXCLUDED.is_hard,
            detail = EXCLUDED.detail, checked_at = now()""",
               ids=ids, codes=codes, outcomes=outcomes, hards=hards, details=details)


def results_for(conn: Connection, certification_id: int) -> pd.DataFrame:
    """The stored badges of one case: check_code, outcome, is_hard, detail, checked_at."""
    df = db.fetch_df(conn, """
        SELECT check_code, outcome, is_hard, detail, checked_at FROM ops.cert_prechecks
        WHERE certification_id = :id
        ORDER BY is_hard DESC, array_position(CAST(:order AS text[]), check_code)""",
                     id=certification_id, order=list(ALL_CHECKS))
    # pandas turns an all-None column into NaN; keep "no detail" as None.
    df["detail"] = df["detail"].astype(object).where(df["detail"].notna(), None)
    return df


# ------------------------------------------------------------------ how a reviewer reads them
# Each check is a question whose answer a reviewer wants to be "✓": for a duplicate check
# the good answer is "no" (身份证号是否已被其他商户认证？ 否 ✓), for a code or name check "yes".
# The question and answer are catalogue keys (ops.precheck.q.<code>, ops.answer.*), so the
# badge never reads as a failure followed by "passed".
_GOOD_ANSWER = {"id_number": "yes", "uscc": "yes", "company_name": "yes", "legal_rep": "yes",
                "id_duplicate": "no", "uscc_duplicate": "no", "phone_shared": "no"}
MARKS = {"ok": "✓", "bad": "✗", "warn": "⚠", "na": "—"}


@dataclass(frozen=True)
class PrecheckLine:
    """One pre-check as the case page shows it."""

    code: str
    question_key: str            # ops.precheck.q.<code>
    answer_key: str              # ops.answer.yes | ops.answer.no | ops.answer.na
    tone: str                    # ok | bad (a hard check failed) | warn (a soft one) | na
    detail_key: str | None = None
    detail_params: dict[str, Any] | None = None
    conflict_merchant_id: int | None = None

    @property
    def mark(self) -> str:
        return MARKS[self.tone]


def present(code: str, outcome: str, detail: str | None, *, is_hard: bool) -> PrecheckLine:
    """A stored check result as a question with a clear answer (pure)."""
    detail = detail if isinstance(detail, str) and detail else None  # NaN from pandas: none
    good = _GOOD_ANSWER[code]
    question = f"ops.precheck.q.{code}"
    if outcome == "skip":
        return PrecheckLine(code, question, "ops.answer.na", "na",
                            f"trust.detail.{detail}" if detail else None)
    if outcome == "pass":
        answer, tone = good, "ok"
    else:
        answer, tone = ("no" if good == "yes" else "yes"), ("bad" if is_hard else "warn")
    conflict = None
    detail_key, params = None, None
    if detail and detail.startswith("merchant:"):
        conflict = int(detail.split(":", 1)[1])
        detail_key, params = "ops.precheck.conflict", {"id": conflict}
    elif detail:
        detail_key = f"trust.detail.{detail}"
    return PrecheckLine(code, question, f"ops.answer.{answer}", tone, detail_key, params, conflict)


def present_all(results: pd.DataFrame) -> list[PrecheckLine]:
    """The case's stored results (``results_for``) as questions, hard checks first; checks
    that do not apply to the case's kind and say nothing more are left out."""
    lines = [present(r.check_code, r.outcome, r.detail, is_hard=bool(r.is_hard))
             for r in results.itertuples()]
    return [ln for ln in lines if not (ln.tone == "na" and ln.detail_key is None)]


def main(argv: list[str]) -> int:
    from console import job_runs
    refresh = "--refresh" in argv
    with job_runs.recorded("prechecks"):       # the run log health reads, as the step's
        with db.transaction(role="jobs") as conn:  # a scheduled job: the jobs' role
            n = run_prechecks(conn=conn, refresh=refresh)
    print(f"prechecks: {n} cases checked")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
