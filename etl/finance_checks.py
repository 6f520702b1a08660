"""Data-quality checks on the dealer-finance source tables (issue 19): the loans' money adds up.

The database's CHECKs hold each row's parts in range (migration 096); what they cannot see is a
row against the rows that made it. So, as the marts' contracts do (etl/contracts.py: one
great-expectations suite per table, invariants as ``UnexpectedRowsExpectation`` queries):

* ``loans.paid_equals_repayments``: a loan's principal_paid and interest_paid are the sums of
  its repayments' to_principal and to_interest (a hand edit of either, a repayment lost);
* ``loans.balance_invariant``: a loan's balance = principal + interest accrued − principal
  paid − interest paid equals principal + interest accrued − what its repayments brought in,
  is never negative, is zero on a repaid loan and above zero on a disbursed one;
* ``credit_lines.committed_equals_live_principal``: a line's committed amount is exactly the
  principal outstanding of its live loans (disbursed: principal − principal paid) plus the
  principal of its applications in flight (applied, approved).

Every ETL session (``etl.run_all``, the CLI and the scheduled etl step) validates them once
after its jobs when a finance table changed since the last validation, and
``python -m etl check`` always, with the contracts. The results go to
``etl.validation_results`` under the suites ``source:fin.loans`` and
``source:fin.credit_lines``, recorded under the session's last run (no run of their own: the
run log counts the jobs), with the first rows breaking a check (their loan or merchant ids)
in ``details.rows``: the data-quality page lists the suites and shows those ids. A failed
check fails nothing: the money is what the ledger says, and the page says it does not add up.
"""
from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from etl import checks as ck
from etl.contracts import _with_examples, record_results
from etl.validate import GeResult, validate_relation

SUITE_PREFIX = "source:"

_REPAID = """(SELECT r.loan_id, sum(r.amount) AS amount, sum(r.to_principal) AS to_principal,
                     sum(r.to_interest) AS to_interest
              FROM fin.loan_repayments r GROUP BY r.loan_id)"""

CHECKS: dict[str, tuple[ck.Check, ...]] = {
    "fin.loans": (
        ck.rows_violating("fin.loans", "paid_equals_repayments", f"""
            SELECT subselect.id AS loan_id, subselect.principal_paid, subselect.interest_paid,
                   coalesce(r.to_principal, 0) AS repaid_principal,
                   coalesce(r.to_interest, 0) AS repaid_interest
            FROM {{batch}} AS subselect LEFT JOIN {_REPAID} r ON r.loan_id = subselect.id
            WHERE subselect.principal_paid <> coalesce(r.to_principal, 0)
               OR subselect.interest_paid <> coalesce(r.to_interest, 0)"""),
        ck.rows_violating("fin.loans", "balance_invariant", f"""
            SELECT subselect.id AS loan_id, subselect.status,
                   subselect.principal + subselect.interest_accrued - subselect.principal_paid
                       - subselect.interest_paid AS balance,
                   subselect.principal + subselect.interest_accrued - coalesce(r.amount, 0)
                       AS balance_by_repayments
            FROM {{batch}} AS subselect LEFT JOIN {_REPAID} r ON r.loan_id = subselect.id
            WHERE subselect.principal + subselect.interest_accrued - subselect.principal_paid
                      - subselect.interest_paid
                  <> subselect.principal + subselect.interest_accrued - coalesce(r.amount, 0)
               OR subselect.principal + subselect.interest_accrued - subselect.principal_paid
                      - subselect.interest_paid < 0
               OR (subselect.status = 'repaid'
                   AND subselect.principal + subselect.interest_accrued
                       - subselect.principal_paid - subselect.interest_paid <> 0)
               OR (subselect.status = 'disbursed'
                   AND subselect.principal + subselect.interest_accrued
                       - subselect.principal_paid - subselect.interest_paid <= 0)"""),
    ),
    "fin.credit_lines": (
        ck.rows_violating("fin.credit_lines", "committed_equals_live_principal", """
            SELECT subselect.merchant_id, subselect.committed,
                   coalesce(l.live, 0) AS live_principal
            FROM {batch} AS subselect
            LEFT JOIN (SELECT f.merchant_id,
                              sum(CASE WHEN f.status = 'disbursed'
                                       THEN f.principal - f.principal_paid
                                       ELSE f.principal END) AS live
                       FROM fin.loans f WHERE f.status IN ('applied','approved','disbursed')
                       GROUP BY f.merchant_id) l ON l.merchant_id = subselect.merchant_id
            WHERE subselect.committed <> coalesce(l.live, 0)"""),
    ),
}


def suite(table: str) -> str:
    return SUITE_PREFIX + table


def results(engine: Engine) -> dict[str, list[GeResult]]:
    """Each table's check results, with the first broken rows of a failed one."""
    out: dict[str, list[GeResult]] = {}
    for table, checks in CHECKS.items():
        try:
            found = validate_relation(engine=engine, relation=table, checks=list(checks),
                                      previous_counts={})
        except Exception as exc:  # noqa: BLE001 - recorded as a failed check, not raised
            found = [GeResult(f"{table.split('.', 1)[1]}.checks_evaluated", "check_error",
                              False, None, None,
                              {"exception": f"{type(exc).__name__}: {exc}"[:500]})]
        queries = {c.name: c.params["query"] for c in checks}
        out[table] = [_with_examples(engine, table, r, queries[r.check])
                      if not r.success and r.check in queries and "exception" not in r.details
                      else r for r in found]
    return out


_CHANGED = """
    SELECT v.last IS NULL OR v.last < now() - interval '1 day'
           OR greatest((SELECT max(updated_at) FROM fin.loans),
                       (SELECT max(updated_at) FROM fin.credit_lines),
                       (SELECT max(recorded_at) FROM fin.loan_repayments)) >= v.last
    FROM (SELECT max(validated_at) AS last FROM etl.validation_results
          WHERE suite = ANY (CAST(:suites AS text[]))) v"""


def changed(engine: Engine) -> bool:
    """Whether a finance table changed since the last validation (or none was made, or it is
    a day old): a session that finds nothing new does not validate again, as a load that
    wrote nothing. The day: the tables' owner may write a row keeping its updated_at
    (migration 064), and a hand edit is still found within a day."""
    with engine.connect() as conn:
        return bool(conn.execute(sa.text(_CHANGED),
                                 {"suites": [suite(t) for t in CHECKS]}).scalar_one())


def validate(engine: Engine, *, job: str, run_id: int, force: bool = False) -> list[str]:
    """Validate the finance tables and record the results under ``run_id``, when they changed
    since the last validation (or ``force``); the names of the failed checks."""
    failed: list[str] = []
    if not force and not changed(engine):
        return failed
    for table, found in results(engine).items():
        with engine.begin() as conn:
            record_results(conn, run_id=run_id, job=job, suite=suite(table), table=table,
                           results=found)
        failed += [r.check for r in found if not r.success]
    return failed
