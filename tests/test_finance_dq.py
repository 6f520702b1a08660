"""The ETL's data-quality checks on the finance tables (etl/finance_checks.py): they pass on the
demo, and a row broken by hand fails the check that names it, on the data-quality page too."""
from __future__ import annotations

from decimal import Decimal

import sqlalchemy as sa

from console.roles import Actor
from etl import check_contracts, finance_checks, run_all
from tests.apptest import page_script_as


def q(engine, sql: str, **params):
    with engine.connect() as conn:
        return [tuple(r) for r in conn.execute(sa.text(sql), params)]


def verdicts(engine) -> dict[str, tuple[bool, list]]:
    """Each finance check's latest verdict: (passed, the ids of its broken rows)."""
    rows = q(engine, """
        SELECT v.expectation, v.success, v.details -> 'rows'
        FROM etl.validation_results v
        WHERE v.suite LIKE 'source:fin.%'
          AND v.run_id = (SELECT max(x.run_id) FROM etl.validation_results x
                          WHERE x.suite = v.suite)""")
    return {name: (ok, [r.get("loan_id", r.get("merchant_id")) for r in broken or []])
            for name, ok, broken in rows}


def demo_staff(engine, username: str) -> Actor:
    """A demo account (the staff the seed wrote), for a page run."""
    row = q(engine, """SELECT id, username, display_name, roles FROM ops.staff
                       WHERE username = :u""", u=username)[0]
    return Actor(id=row[0], username=row[1], display_name=row[2], roles=frozenset(row[3]))


CHECKS = {"loans.paid_equals_repayments", "loans.balance_invariant",
          "credit_lines.committed_equals_live_principal"}


def test_the_checks_pass_on_the_demo(demo_engine, jobs_engine):
    assert q(demo_engine, "SELECT count(*) > 50 FROM fin.loans")[0][0]
    failed = check_contracts(engine=jobs_engine, names=["bd_performance"])
    assert "loans.balance_invariant" not in failed["bd_performance"]
    assert verdicts(demo_engine) == {name: (True, []) for name in CHECKS}


def test_a_payment_written_without_its_repayment_fails_naming_the_loan(demo_engine,
                                                                        jobs_engine):
    loan_id, merchant_id = q(demo_engine, """
        SELECT id, merchant_id FROM fin.loans
        WHERE status = 'disbursed' AND principal - principal_paid > 100
        ORDER BY id LIMIT 1""")[0]
    with demo_engine.begin() as conn:   # by hand, as the superuser: no repayment behind it
        conn.execute(sa.text("UPDATE fin.loans SET principal_paid = principal_paid + 100 "
                             "WHERE id = :id"), {"id": loan_id})
    failed = check_contracts(engine=jobs_engine, names=["bd_performance"])
    assert set(failed["bd_performance"]) >= CHECKS
    assert verdicts(demo_engine) == {
        "loans.paid_equals_repayments": (False, [loan_id]),
        "loans.balance_invariant": (False, [loan_id]),
        # the line still holds the 100 yuan the loan claims repaid
        "credit_lines.committed_equals_live_principal": (False, [merchant_id]),
    }


def test_a_line_committed_by_hand_fails_naming_the_merchant_and_shows_on_the_page(
        demo_engine, jobs_engine):
    merchant_id, committed = q(demo_engine, """
        SELECT merchant_id, committed FROM fin.credit_lines
        WHERE committed > 0 ORDER BY merchant_id LIMIT 1""")[0]
    with demo_engine.begin() as conn:
        conn.execute(sa.text("UPDATE fin.credit_lines SET committed = committed + 0.01 "
                             "WHERE merchant_id = :m"), {"m": merchant_id})
    check_contracts(engine=jobs_engine, names=["bd_performance"])
    assert verdicts(demo_engine) == {
        "loans.paid_equals_repayments": (True, []),
        "loans.balance_invariant": (True, []),
        "credit_lines.committed_equals_live_principal": (False, [merchant_id])}
    at = page_script_as(demo_staff(demo_engine, "manager1"), "pages/admin_data_quality.py",
                        lang="en")
    assert not at.exception
    expanders = [e.label for e in at.expander if "source:fin.credit_lines" in e.label]
    assert expanders and expanders[0].startswith("⚠️")
    shown = [df.value for df in at.dataframe if "Broken rows" in df.value.columns]
    broken = [v for df in shown for v in df["Broken rows"] if isinstance(v, str)]
    assert [v for v in broken if v != "—"] == [
        f'[{{"committed": "{committed + Decimal("0.01")}", "merchant_id": {merchant_id}, '
        f'"live_principal": "{committed}"}}]']


def test_a_broken_loan_shows_its_id_on_the_page(demo_engine, jobs_engine):
    loan_id = q(demo_engine, """SELECT id FROM fin.loans WHERE status = 'disbursed'
                                AND interest_paid > 0 ORDER BY id LIMIT 1""")[0][0]
    with demo_engine.begin() as conn:
        conn.execute(sa.text("UPDATE fin.loan_repayments SET to_interest = to_interest - 0.01, "
                             "to_principal = to_principal + 0.01 WHERE id = (SELECT min(id) "
                             "FROM fin.loan_repayments WHERE loan_id = :l AND to_interest > 0)"),
                     {"l": loan_id})
    # an ETL session (the scheduled etl step's run_all) checks the finance tables after its jobs
    results = run_all(engine=jobs_engine, names=["bd_performance"])
    assert [r.status for r in results] == ["succeeded"]
    assert verdicts(demo_engine)["loans.paid_equals_repayments"] == (False, [loan_id])
    assert q(demo_engine, """SELECT DISTINCT run_id FROM etl.validation_results
                             WHERE suite LIKE 'source:fin.%'""") == [(results[0].run_id,)]
    at = page_script_as(demo_staff(demo_engine, "manager1"), "pages/admin_data_quality.py",
                        lang="zh")
    assert not at.exception
    shown = [df.value for df in at.dataframe if "问题记录" in df.value.columns]
    broken = [v for df in shown for v in df["问题记录"] if isinstance(v, str)]
    assert any(f'"loan_id": {loan_id}' in v for v in broken)


def test_a_session_with_nothing_new_does_not_validate_again(demo_engine, jobs_engine):
    check_contracts(engine=jobs_engine, names=["bd_performance"])
    count = q(demo_engine, "SELECT count(*) FROM etl.validation_results")[0][0]
    run_id = q(demo_engine, "SELECT max(id) FROM etl.runs")[0][0]
    assert finance_checks.changed(jobs_engine) is False
    assert finance_checks.validate(jobs_engine, job="bd_performance", run_id=run_id) == []
    assert q(demo_engine, "SELECT count(*) FROM etl.validation_results")[0][0] == count
    with demo_engine.begin() as conn:   # a loan moves: the next session checks again
        conn.execute(sa.text("UPDATE fin.loans SET version = version + 1, "
                             "updated_at = clock_timestamp() WHERE id = 1"))
    assert finance_checks.changed(jobs_engine) is True
    assert finance_checks.validate(jobs_engine, job="bd_performance", run_id=run_id) == []
    assert q(demo_engine, "SELECT count(*) FROM etl.validation_results")[0][0] == count + 3
