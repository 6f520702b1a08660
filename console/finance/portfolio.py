"""The loan portfolio (issue 19), for risk staff and managers: read from the portfolio mart
(console/finance/portfolio_mart.py rebuilds it; the definitions are in
sql/migrations/100_loan_portfolio_mart.sql), never from the loans themselves, so every
service here is read-only and reads the replica when one is configured.

* Outstanding, income and loss by grade (the grade a loan was granted at). Income = interest
  received (repayments to interest on or before the mart's day) beside interest accrued by
  the nightly run; loss = outstanding principal of the loans in default (DPD > 90) at the
  mart's day: nothing is written off, the whole principal of a loan in default is at risk.
* Expected loss by grade = LGD × (PD × performing exposure + 1 × exposure in default): PD is
  the active scorecard version's calibrated PD of the grade (its stored copy of
  console/credit/scorecard_*.toml ``[calibration] pd``, read as the credit engine reads it); a loan already in default
  has a PD of 1 (Basel's convention); exposure = outstanding principal; LGD from settings
  (``loan_lgd``, CONSOLE_LOAN_LGD, 0.45: Basel's foundation-IRB LGD for senior unsecured
  claims, kept although the certificate of conformity secures the car, because holding the
  paper is not a charge on a car already sold on).
* Vintage curves, roll rates between DPD buckets month to month (a loan repaid is 'closed',
  the exit), and concentration by borrower, its city and the car's brand (top N with their
  share of outstanding, and the Herfindahl-Hirschman index over all of them).
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import pandas as pd
from sqlalchemy.engine import Connection

from console import db
from console.credit.scorecard import DEFAULT_CONFIG, GRADES, check_file
from console.freshness import BuildFreshness, build_freshness
from console.roles import Actor, requires
from console.settings import get_settings

READERS = ("risk", "manager")
STATES = ("current", "dpd_1_30", "dpd_31_60", "dpd_61_90", "dpd_90p")
EXITS = (*STATES, "closed")
DIMENSIONS = ("merchant", "city", "brand")
STEP = "loan_portfolio"          # the jobs' step that rebuilds the mart
STALE_HOURS = 36                 # a mart older than this reads as stale (the jobs run hourly or more)


Freshness = BuildFreshness      # the badge (console/freshness.py)


@requires(*READERS, replica=True)
def freshness(*, conn: Connection, actor: Actor) -> Freshness:
    """The portfolio mart's badge; its step stamps a build found current (checked)."""
    return build_freshness(conn, builds_table="mart.loan_portfolio_builds", step=STEP,
                           stale_hours=STALE_HOURS, checked=True)


@requires(*READERS, replica=True)
def totals(*, conn: Connection, actor: Actor) -> dict:
    """The portfolio at the mart's day: open loans, outstanding, loss, interest, EL."""
    row = db.fetch_one(conn, """
        SELECT (SELECT as_of FROM mart.loan_portfolio_builds
                ORDER BY id DESC LIMIT 1) AS as_of,
               coalesce(sum(loans_open), 0) AS loans_open,
               coalesce(sum(outstanding), 0) AS outstanding,
               coalesce(sum(defaulted_loans), 0) AS defaulted_loans,
               coalesce(sum(loss), 0) AS loss,
               coalesce(sum(interest_received), 0) AS interest_received,
               coalesce(sum(principal_disbursed), 0) AS principal_disbursed
        FROM mart.loan_grade_summary""")
    out = {k: (float(v) if k not in ("as_of", "loans_open", "defaulted_loans") else v)
           for k, v in row.items()}
    out["loans_open"] = int(out["loans_open"])
    out["defaulted_loans"] = int(out["defaulted_loans"])
    return out


def grade_pd(conn: Connection) -> tuple[str, dict[str, float]]:
    """The active scorecard version and its calibrated PD per grade, as the credit engine
    reads it (the stored configuration of the version with status 'active',
    console/credit/engine.py ``active_version``); the scorecard file the jobs register
    (DEFAULT_CONFIG) only when no version is active or its stored copy does not parse. A card
    without ``[calibration]`` gives no PD per grade (the scaling's PD is per score, not per
    grade): the page shows none rather than a made-up one."""
    from console.credit.engine import active_version
    from console.credit.scorecard import ScorecardError
    try:
        found = active_version(conn)
    except ScorecardError:
        found = None
    card = found[1] if found is not None else check_file(DEFAULT_CONFIG)
    return card.version, dict(card.grade_pd or {})


@requires(*READERS, replica=True)
def by_grade(*, conn: Connection, actor: Actor) -> pd.DataFrame:
    """Per grade, best first: disbursed, open, outstanding, performing, in default, loss,
    interest received and accrued, PD, LGD and expected loss (yuan)."""
    df = db.fetch_df(conn, """
        SELECT grade, loans_disbursed, principal_disbursed, loans_open, outstanding,
               performing, defaulted_loans, loss, interest_received, interest_accrued
        FROM mart.loan_grade_summary ORDER BY ops.credit_grade_rank(grade)""")
    for col in ("principal_disbursed", "outstanding", "performing", "loss",
                "interest_received", "interest_accrued"):
        df[col] = df[col].astype(float)
    version, pds = grade_pd(conn)
    lgd = float(get_settings().loan_lgd)
    df["pd"] = df["grade"].map(pds).astype(float)
    df["pd_version"] = version
    df["lgd"] = lgd
    df["expected_loss"] = lgd * (df["pd"] * df["performing"] + (df["outstanding"] - df["performing"]))
    return df


@requires(*READERS, replica=True)
def vintages(*, conn: Connection, actor: Actor) -> pd.DataFrame:
    """One row per origination month and months on book: loans, defaulted, cumulative rate."""
    df = db.fetch_df(conn, """
        SELECT origination_month, mob, loans, principal, defaulted_loans, default_rate
        FROM mart.loan_vintages ORDER BY origination_month, mob""")
    df["default_rate"] = df["default_rate"].astype(float)
    df["principal"] = df["principal"].astype(float)
    return df


@requires(*READERS, replica=True)
def roll_months(*, conn: Connection, actor: Actor) -> list[date]:
    """The months a roll-rate matrix exists for, newest first (the month rolled into)."""
    return list(db.fetch_df(conn, "SELECT DISTINCT month FROM mart.loan_roll_rates "
                                  "ORDER BY month DESC")["month"])


@dataclass(frozen=True)
class RollMatrix:
    months: list[date]        # every month with a matrix, newest first
    month: date | None        # the one shown (None: no matrix yet)
    shares: pd.DataFrame      # from bucket (rows) -> state (columns): share of the row's balance
    counts: pd.DataFrame      # the same in loans (0 where none)
    balances: pd.DataFrame    # the same in yuan outstanding at the end of the month before
    loan_shares: pd.DataFrame  # share of the row's loans, beside the balance's


@requires(*READERS, replica=True)
def roll_rates(*, conn: Connection, actor: Actor, month: date | None = None) -> RollMatrix:
    """The matrix from the bucket at the end of the month before ``month`` (rows) to the
    state at ``month``'s end (columns, 'closed' = repaid): a roll rate is the share of the
    row's balance (outstanding principal at the end of the month before) that moved to the
    column, as BRIEF.md section 6 defines it, so one large loan rolling weighs more than a
    small one; the share of its loans is kept beside it. NaN for a bucket nobody was in.
    ``month`` None or without a matrix: the newest."""
    df = db.fetch_df(conn, """
        WITH months AS (SELECT DISTINCT month FROM mart.loan_roll_rates),
             shown AS (SELECT coalesce((SELECT month FROM months WHERE month = :month),
                                       (SELECT max(month) FROM months)) AS month)
        SELECT (SELECT array_agg(month ORDER BY month DESC) FROM months) AS months,
               s.month AS shown, r.from_state, r.to_state, r.loans,
               r.outstanding::float AS outstanding
        FROM shown s LEFT JOIN mart.loan_roll_rates r ON r.month = s.month""", month=month)
    months = list(df["months"].iloc[0] or []) if len(df) else []
    shown = df["shown"].iloc[0] if len(df) and months else None
    rows = df.dropna(subset=["from_state"])

    def matrix(values: str) -> pd.DataFrame:
        return (rows.pivot_table(index="from_state", columns="to_state", values=values,
                                 aggfunc="sum")
                .reindex(index=list(STATES), columns=list(EXITS)).astype(float))

    def row_shares(cells: pd.DataFrame) -> pd.DataFrame:
        return cells.fillna(0).div(cells.sum(axis=1, min_count=1), axis=0).astype(float)

    counts, balances = matrix("loans"), matrix("outstanding")
    return RollMatrix(months=months, month=shown, shares=row_shares(balances),
                      counts=counts.fillna(0).astype(int), balances=balances.fillna(0.0),
                      loan_shares=row_shares(counts))


@dataclass(frozen=True)
class Concentration:
    rows: pd.DataFrame        # name, loans, outstanding, share (of all open outstanding)
    total: float
    holders: int              # how many merchants / cities / brands hold any
    hhi: float                # Σ share² over all of them (0–1)


@requires(*READERS, replica=True)
def concentration(*, conn: Connection, actor: Actor, limit: int = 10
                  ) -> dict[str, Concentration]:
    """Per dimension (borrower, city, brand): the ``limit`` largest holders of open
    outstanding principal, their share, and the HHI over all holders. One query."""
    df = db.fetch_df(conn, """
        SELECT dimension, key_id, name, loans, outstanding::float AS outstanding,
               total, holders, sq, rank
        FROM (SELECT c.*, sum(outstanding) OVER w::float AS total,
                     count(*) OVER w AS holders, sum(outstanding ^ 2) OVER w::float AS sq,
                     row_number() OVER (PARTITION BY dimension
                                        ORDER BY outstanding DESC, key_id) AS rank
              FROM mart.loan_concentration c
              WINDOW w AS (PARTITION BY dimension)) x
        WHERE rank <= :limit ORDER BY dimension, rank""", limit=limit)
    out = {}
    for dimension in DIMENSIONS:
        part = df[df["dimension"] == dimension]
        total = float(part["total"].iloc[0]) if len(part) else 0.0
        rows = part[["key_id", "name", "loans", "outstanding"]].reset_index(drop=True)
        rows["share"] = rows["outstanding"] / total if total else 0.0
        out[dimension] = Concentration(
            rows=rows, total=total, holders=int(part["holders"].iloc[0]) if len(part) else 0,
            hhi=float(part["sq"].iloc[0]) / total ** 2 if total else 0.0)
    return out


__all__ = ["GRADES", "Concentration", "Freshness", "RollMatrix", "by_grade", "concentration",
           "freshness", "roll_months", "roll_rates", "totals", "vintages"]
