"""``python -m console.finance accrue``: the order loans' nightly accrual alone (interest up to
yesterday, days past due, buckets, defaults: console/finance/accrual.py), the work of the
jobs' step ``loan_accrual``, for a site that schedules it on its own (e.g. once at 00:30
Shanghai time). It runs as dh_jobs under the step's advisory lock (a run of `console jobs`
at work on it makes this one skip) and writes the jobs' run log under the step's name, so
`python -m console health` counts it."""
from __future__ import annotations

import sys


def main(argv: list[str]) -> int:
    if argv != ["accrue"]:
        print("usage: python -m console.finance accrue", file=sys.stderr)
        return 2
    from console import jobs
    from console.finance import accrual

    ran, result = jobs.run_alone("loan_accrual", accrual.run)
    if not ran:
        print("loan_accrual: skipped, another run holds its lock")
        return 0
    print(f"loan_accrual: {result}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
