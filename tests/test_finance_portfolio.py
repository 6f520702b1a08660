"""The loan portfolio mart and its services (issue 19): month-end snapshots rebuilt from the raw
history, vintages, roll rates, grades, concentration and expected loss, hand-computed on the
small portfolio of tests/portfolio_rows.py; the mart equals independent SQL over fin.loans and
fin.loan_repayments for every month; a rebuild is idempotent; the jobs' step runs it as
dh_jobs under its lock."""
from __future__ import annotations

import json
from datetime import date
from decimal import Decimal as D

import pytest
import sqlalchemy as sa

from console import fmt
from console.credit.scorecard import CHALLENGER_CONFIG, CONFIG_DIR, DEFAULT_CONFIG, load
from console.errors import InvalidInput, PermissionDenied
from console.finance import portfolio, portfolio_mart
from tests import portfolio_rows as pr

M = {n: date(2025, n, 1) for n in range(1, 7)}


@pytest.fixture
def risk(make_actor):
    return make_actor("risk")


@pytest.fixture
def book(engine, risk):
    ids = pr.build(engine, risk.id)
    with engine.begin() as conn:
        portfolio_mart.rebuild(conn, as_of=pr.AS_OF)
    return ids


def _snapshots(engine, ids):
    names = {v: k for k, v in ids["loans"].items()}
    with engine.connect() as conn:
        got = conn.execute(sa.text("""SELECT month, loan_id, outstanding, dpd, state, defaulted
                                      FROM mart.loan_month_end ORDER BY month, loan_id""")).all()
    return {(r.month.month, names[r.loan_id]): (int(r.outstanding), r.dpd, r.state, r.defaulted)
            for r in got}


def test_month_end_snapshots_follow_the_hand_computed_history(engine, book):
    snap = _snapshots(engine, book)
    assert snap == {
        (1, "L1"): (100_000, 0, "current", False),
        (1, "L2"): (200_000, 0, "current", False),
        (1, "L3"): (100_000, 0, "current", False),
        (2, "L1"): (0, 0, "closed", False),             # repaid 02-05: its exit row
        (2, "L2"): (200_000, 0, "current", False),
        (2, "L3"): (100_000, 24, "dpd_1_30", False),    # due 02-04
        (2, "L4"): (50_000, 0, "current", False),
        (2, "L5"): (80_000, 0, "current", False),
        (2, "L6"): (60_000, 0, "current", False),
        (2, "L7"): (40_000, 0, "current", False),
        (3, "L2"): (150_000, 10, "dpd_1_30", False),    # 50,000 back on 03-10, due 03-21
        (3, "L3"): (100_000, 55, "dpd_31_60", False),
        (3, "L4"): (50_000, 14, "dpd_1_30", False),     # paid 03-31 16:30 UTC = 04-01 Shanghai
        (3, "L5"): (80_000, 26, "dpd_1_30", False),
        (3, "L6"): (60_000, 0, "current", False),
        (3, "L7"): (0, 0, "closed", False),
        (4, "L2"): (150_000, 40, "dpd_31_60", False),
        (4, "L3"): (100_000, 85, "dpd_61_90", False),
        (4, "L4"): (0, 0, "closed", False),
        (4, "L5"): (80_000, 56, "dpd_31_60", False),
        (4, "L6"): (60_000, 0, "current", False),
        (5, "L2"): (150_000, 71, "dpd_61_90", False),
        (5, "L3"): (100_000, 116, "dpd_90p", True),     # default day 05-06
        (5, "L5"): (80_000, 87, "dpd_61_90", False),
        (5, "L6"): (30_000, 20, "dpd_1_30", False),     # due 05-11, half back on 05-20
        (6, "L2"): (150_000, 86, "dpd_61_90", False),   # the 06-16 repayment is after AS_OF
        (6, "L3"): (100_000, 131, "dpd_90p", True),
        (6, "L5"): (80_000, 102, "dpd_90p", True),      # default day 06-04
        (6, "L6"): (0, 0, "closed", False),
    }
    with engine.connect() as conn:
        as_of = dict(conn.execute(sa.text(
            "SELECT DISTINCT month, as_of FROM mart.loan_month_end")).all())
    assert as_of[M[2]] == date(2025, 2, 28) and as_of[M[6]] == pr.AS_OF


def test_vintage_curves_are_the_hand_computed_cumulative_default_rates(engine, book):
    with engine.connect() as conn:
        got = conn.execute(sa.text("""SELECT origination_month, mob, loans, principal,
                                             defaulted_loans, default_rate
                                      FROM mart.loan_vintages
                                      ORDER BY 1, 2""")).all()
    assert [(r.origination_month.month, r.mob, r.loans, int(r.principal), r.defaulted_loans,
             r.default_rate) for r in got] == [
        (1, 0, 3, 400_000, 0, D("0.0000")), (1, 1, 3, 400_000, 0, D("0.0000")),
        (1, 2, 3, 400_000, 0, D("0.0000")), (1, 3, 3, 400_000, 0, D("0.0000")),
        (1, 4, 3, 400_000, 1, D("0.3333")), (1, 5, 3, 400_000, 1, D("0.3333")),
        (2, 0, 4, 230_000, 0, D("0.0000")), (2, 1, 4, 230_000, 0, D("0.0000")),
        (2, 2, 4, 230_000, 0, D("0.0000")), (2, 3, 4, 230_000, 0, D("0.0000")),
        (2, 4, 4, 230_000, 1, D("0.2500")),
    ]


def test_roll_rates_are_the_hand_computed_matrix_cells(engine, book):
    with engine.connect() as conn:
        got = conn.execute(sa.text("""SELECT month, from_state, to_state, loans, outstanding
                                      FROM mart.loan_roll_rates""")).all()
    cells = {(r.month.month, r.from_state, r.to_state): (r.loans, int(r.outstanding)) for r in got}
    assert cells == {
        (2, "current", "current"): (1, 200_000),
        (2, "current", "dpd_1_30"): (1, 100_000),
        (2, "current", "closed"): (1, 100_000),
        (3, "current", "dpd_1_30"): (3, 330_000),
        (3, "current", "current"): (1, 60_000),
        (3, "current", "closed"): (1, 40_000),
        (3, "dpd_1_30", "dpd_31_60"): (1, 100_000),
        (4, "dpd_1_30", "dpd_31_60"): (2, 230_000),
        (4, "dpd_1_30", "closed"): (1, 50_000),
        (4, "dpd_31_60", "dpd_61_90"): (1, 100_000),
        (4, "current", "current"): (1, 60_000),
        (5, "dpd_31_60", "dpd_61_90"): (2, 230_000),
        (5, "dpd_61_90", "dpd_90p"): (1, 100_000),
        (5, "current", "dpd_1_30"): (1, 60_000),
        (6, "dpd_61_90", "dpd_61_90"): (1, 150_000),
        (6, "dpd_61_90", "dpd_90p"): (1, 80_000),
        (6, "dpd_90p", "dpd_90p"): (1, 100_000),
        (6, "dpd_1_30", "closed"): (1, 30_000),
    }


def test_grades_loss_and_concentration(engine, book):
    with engine.connect() as conn:
        grades = {r.grade: tuple(r)[1:] for r in conn.execute(sa.text("""
            SELECT grade, loans_disbursed, principal_disbursed, loans_open, outstanding,
                   performing, defaulted_loans, loss, interest_received, interest_accrued
            FROM mart.loan_grade_summary"""))}
        conc = {(r.dimension, r.key_id): (r.name, r.loans, int(r.outstanding))
                for r in conn.execute(sa.text("SELECT * FROM mart.loan_concentration"))}
    assert grades == {
        # L1, L2, L7; interest received by AS_OF: 1,200 + 2,000 + 400 (L2's 06-16 one later)
        "A": (3, D("340000.00"), 1, D("150000.00"), D("150000.00"), 0, D("0.00"),
              D("3600.00"), D("10600.00")),
        "BB": (1, D("100000.00"), 1, D("100000.00"), D("0.00"), 1, D("100000.00"),
               D("0.00"), D("8000.00")),
        "B": (2, D("130000.00"), 1, D("80000.00"), D("0.00"), 1, D("80000.00"),
              D("1000.00"), D("6000.00")),
        "C": (1, D("60000.00"), 0, D("0.00"), D("0.00"), 0, D("0.00"), D("2500.00"),
              D("2500.00")),
    }
    b1, b2 = book["b1"], book["b2"]
    assert conc == {
        ("merchant", b1["buyer"]): ("车商b1", 2, 250_000),
        ("merchant", b2["buyer"]): ("车商b2", 1, 80_000),
        ("city", b1["city"]): ("杭州市", 2, 250_000),
        ("city", b2["city"]): ("苏州市", 1, 80_000),
        ("brand", b1["brand"]): (conc[("brand", b1["brand"])][0], 2, 250_000),
        ("brand", b2["brand"]): (conc[("brand", b2["brand"])][0], 1, 80_000),
    }


def test_roll_rates_are_shares_of_the_balance_not_of_the_loans(engine, book, risk,
                                                                console_engine):
    """BRIEF.md section 6: a roll rate is the share of balances moving. March, from current
    at the end of February: L2, L4 and L5 (200,000 + 50,000 + 80,000) to 1-30, L6 (60,000)
    stays, L7 (40,000) is repaid: 330/430, 60/430, 40/430 of the balance, 3/5, 1/5, 1/5 of
    the loans."""
    with console_engine.connect() as conn:
        march = portfolio.roll_rates(conn=conn, actor=risk, month=M[3])
    assert march.month == M[3]
    assert march.balances.loc["current"].tolist() == [60_000, 330_000, 0, 0, 0, 40_000]
    assert march.counts.loc["current"].tolist() == [1, 3, 0, 0, 0, 1]
    assert march.shares.loc["current"].tolist() == pytest.approx(
        [60 / 430, 330 / 430, 0, 0, 0, 40 / 430])
    assert march.loan_shares.loc["current"].tolist() == pytest.approx([0.2, 0.6, 0, 0, 0, 0.2])
    # L3's 100,000 in 1-30 at the end of February, 31-60 at the end of March: all of it
    assert march.shares.loc["dpd_1_30", "dpd_31_60"] == 1.0
    assert march.shares.loc["dpd_31_60"].isna().all()          # nobody in 31-60 in February
    assert march.balances.loc["dpd_31_60"].tolist() == [0] * 6


# Independent of the mart's SQL: each month's snapshot day, and per loan a correlated sum of
# its repayments received by then; DPD and default straight from the definitions.
INDEPENDENT = """
WITH months AS (
    SELECT m::date AS month,
           least((m + interval '1 month' - interval '1 day')::date, CAST(:as_of AS date)) AS day
    FROM generate_series(DATE '2024-12-01', CAST(:as_of AS date), interval '1 month') m
), x AS (
    SELECT mo.month, mo.day, l.id AS loan_id, l.due_date,
           l.principal - coalesce((SELECT sum(r.to_principal) FROM fin.loan_repayments r
                                   WHERE r.loan_id = l.id
                                     AND (r.received_at AT TIME ZONE 'Asia/Shanghai')::date
                                         <= mo.day), 0) AS outstanding,
           (SELECT min((r.received_at AT TIME ZONE 'Asia/Shanghai')::date)
            FROM fin.loan_repayments r
            WHERE r.loan_id = l.id
              AND (SELECT sum(r2.to_principal) FROM fin.loan_repayments r2
                   WHERE r2.loan_id = l.id AND (r2.received_at, r2.id) <= (r.received_at, r.id))
                  = l.principal) AS closed_day
    FROM fin.loans l JOIN months mo
      ON (l.disbursed_at AT TIME ZONE 'Asia/Shanghai')::date <= mo.day
    WHERE l.disbursed_at IS NOT NULL
)
SELECT month, loan_id, outstanding,
       CASE WHEN outstanding > 0 AND day > due_date THEN day - due_date ELSE 0 END AS dpd,
       (day >= due_date + 91 AND (closed_day IS NULL OR closed_day > due_date + 91)) AS defaulted
FROM x
WHERE closed_day IS NULL OR month <= date_trunc('month', closed_day)::date
ORDER BY month, loan_id
"""


def test_the_mart_equals_independent_sql_over_the_raw_tables_for_every_month(engine, book):
    with engine.connect() as conn:
        expected = [tuple(r) for r in conn.execute(sa.text(INDEPENDENT), {"as_of": pr.AS_OF})]
        got = [tuple(r) for r in conn.execute(sa.text(
            "SELECT month, loan_id, outstanding, dpd, defaulted FROM mart.loan_month_end "
            "ORDER BY month, loan_id"))]
        vintages = conn.execute(sa.text("""
            SELECT origination_month, mob, loans, defaulted_loans FROM mart.loan_vintages
            ORDER BY 1, 2""")).all()
    assert len(got) == 29 and got == expected
    # Every vintage point from the snapshots: loans of the cohort that are in default at
    # or before the month (a closed loan keeps its default), over the cohort's size.
    by_loan = {}
    for month, loan, _out, _dpd, defaulted in expected:
        by_loan.setdefault(loan, []).append((month, defaulted))
    with engine.connect() as conn:
        origin = dict(conn.execute(sa.text("""
            SELECT id, date_trunc('month', (disbursed_at AT TIME ZONE 'Asia/Shanghai'))::date
            FROM fin.loans WHERE disbursed_at IS NOT NULL""")).all())
    for cohort, mob, loans, defaulted in vintages:
        members = [lid for lid, o in origin.items() if o == cohort]
        month = date(cohort.year + (cohort.month - 1 + mob) // 12, (cohort.month - 1 + mob) % 12 + 1, 1)
        assert loans == len(members)
        assert defaulted == sum(any(d for m, d in by_loan[lid] if m <= month) for lid in members)


def test_a_rebuild_is_idempotent_and_replaces_the_mart(engine, book):
    tables = ("loan_month_end", "loan_vintages", "loan_roll_rates", "loan_grade_summary",
              "loan_concentration")

    def dump():
        with engine.connect() as conn:
            return {t: sorted(map(tuple, conn.execute(sa.text(f"SELECT * FROM mart.{t}"))))
                    for t in tables}

    first = dump()
    with engine.begin() as conn:
        result = portfolio_mart.rebuild(conn, as_of=pr.AS_OF)
    assert (result.loans, result.snapshot_rows) == (7, 29)
    assert dump() == first
    with engine.connect() as conn:
        assert conn.execute(sa.text(
            "SELECT count(*), min(as_of), max(loans) FROM mart.loan_portfolio_builds")).one() \
            == (2, pr.AS_OF, 7)
    # A month earlier: June's rows and roll into June are gone, May is as of its last day.
    with engine.begin() as conn:
        portfolio_mart.rebuild(conn, as_of=date(2025, 5, 31))
    again = dump()
    assert [r for r in first["loan_month_end"] if r[0] < M[6]] == again["loan_month_end"]


def test_rebuilds_at_once_wait_for_each_other_and_leave_one_mart(engine, book):
    from tests.races import at_once

    def rebuild():
        with engine.begin() as conn:
            return portfolio_mart.rebuild(conn, as_of=pr.AS_OF).snapshot_rows

    with engine.connect() as conn:
        before = sorted(map(tuple, conn.execute(sa.text("SELECT * FROM mart.loan_month_end"))))
    assert at_once([rebuild] * 4) == [29] * 4          # none fails on the other's rows
    with engine.connect() as conn:
        after = sorted(map(tuple, conn.execute(sa.text("SELECT * FROM mart.loan_month_end"))))
        assert conn.execute(sa.text("SELECT count(*) FROM mart.loan_portfolio_builds")).scalar() == 5
    assert after == before


def test_the_services_read_the_mart_with_pd_times_exposure_times_lgd(engine, book, risk,
                                                                     console_engine, settings_env):
    settings_env(CONSOLE_LOAN_LGD="0.45")
    pd_ = load(CHALLENGER_CONFIG).grade_pd
    with console_engine.connect() as conn:
        grades = portfolio.by_grade(conn=conn, actor=risk).set_index("grade")
        totals = portfolio.totals(conn=conn, actor=risk)
        roll = portfolio.roll_rates(conn=conn, actor=risk, month=M[6])
        newest = portfolio.roll_rates(conn=conn, actor=risk)
        may = portfolio.roll_rates(conn=conn, actor=risk, month=M[5]).counts
        months = portfolio.roll_months(conn=conn, actor=risk)
        top = portfolio.concentration(conn=conn, actor=risk)["city"]
        curves = portfolio.vintages(conn=conn, actor=risk)
    assert list(grades.index) == ["A", "BB", "B", "C"]          # best grade first
    assert grades.loc["A", "pd"] == pd_["A"] != load(DEFAULT_CONFIG).grade_pd["A"]  # active: c1
    assert grades["pd_version"].unique().tolist() == ["c1"]
    # EL = LGD x (PD x performing + 1 x in default): a loan in default has PD 1
    assert grades.loc["A", "expected_loss"] == pytest.approx(0.45 * pd_["A"] * 150_000)
    assert grades.loc["BB", "expected_loss"] == pytest.approx(0.45 * 100_000)
    assert grades.loc["B", "expected_loss"] == pytest.approx(0.45 * 80_000)
    assert grades.loc["C", "expected_loss"] == 0
    assert totals["outstanding"] == 330_000 and totals["loss"] == 180_000
    assert totals["loans_open"] == 3 and totals["as_of"] == pr.AS_OF
    assert months == roll.months == [M[6], M[5], M[4], M[3], M[2]]
    assert newest.month == roll.month == M[6] and newest.shares.equals(roll.shares)
    matrix = roll.shares
    assert may.loc["dpd_31_60", "dpd_61_90"] == 2 and may.loc["dpd_61_90", "dpd_90p"] == 1
    assert int(may.to_numpy().sum()) == 4
    # June, from 61-90: L2 (150,000) stays, L5 (80,000) rolls to 90+: one loan each, but
    # 150/230 and 80/230 of the balance; a row's shares add to 1
    assert roll.loan_shares.loc["dpd_61_90", "dpd_61_90"] == 0.5
    assert roll.loan_shares.loc["dpd_61_90", "dpd_90p"] == 0.5
    assert matrix.loc["dpd_61_90", "dpd_61_90"] == pytest.approx(150_000 / 230_000)
    assert matrix.loc["dpd_61_90", "dpd_90p"] == pytest.approx(80_000 / 230_000)
    assert roll.balances.loc["dpd_61_90"].tolist() == [0, 0, 0, 150_000, 80_000, 0]
    assert matrix.loc["dpd_1_30", "closed"] == 1.0
    assert list(matrix.index) == ["current", "dpd_1_30", "dpd_31_60", "dpd_61_90", "dpd_90p"]
    assert list(matrix.columns) == ["current", "dpd_1_30", "dpd_31_60", "dpd_61_90", "dpd_90p",
                                    "closed"]
    assert matrix.loc["current"].isna().all()                    # nobody current in May
    assert top.rows["name"].tolist() == ["杭州市", "苏州市"]
    assert top.rows["share"].tolist() == pytest.approx([250 / 330, 80 / 330])
    assert top.hhi == pytest.approx((250 / 330) ** 2 + (80 / 330) ** 2)
    assert curves[curves.origination_month == M[2]]["default_rate"].tolist() == \
        [0.0, 0.0, 0.0, 0.0, 0.25]


def test_the_services_are_for_risk_and_managers_only(engine, book, make_actor, console_engine):
    bd = make_actor("bd")
    manager = make_actor("manager")
    with console_engine.connect() as conn:
        with pytest.raises(PermissionDenied):
            portfolio.totals(conn=conn, actor=bd)
        assert portfolio.totals(conn=conn, actor=manager)["outstanding"] == 330_000
        with pytest.raises(InvalidInput):
            portfolio.concentration(conn=conn, actor=manager, limit=0)
        with pytest.raises(InvalidInput):
            portfolio.roll_rates(conn=conn, actor=manager, month="2025-06")


# ---------------------------------------------------------------- the page
PAGE = "pages/risk_portfolio.py"


def _opened(actor, lang):
    from streamlit.testing.v1 import AppTest

    from tests.apptest import APP
    at = AppTest.from_file(APP, default_timeout=60)
    at.session_state["staff_id"] = actor.id
    at.session_state["lang"] = lang
    at.run()
    return at.switch_page(PAGE).run()


def _texts(at) -> str:
    return "\n".join([m.value for m in at.markdown] + [c.value for c in at.caption]
                     + [str(m.label) + " " + str(m.value) for m in at.metric]
                     + [s.value for s in at.subheader])


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_the_page_shows_the_exact_figures(engine, book, make_actor, settings_env, lang):
    settings_env(CONSOLE_LOAN_LGD="0.45")
    pd_a = load(CHALLENGER_CONFIG).grade_pd["A"]
    at = _opened(make_actor("manager"), lang)
    assert not at.exception and not at.error
    text = _texts(at)
    assert "{" not in text
    unit = "万元" if lang == "zh" else "10k CNY"
    metrics = {m.label: m.value for m in at.metric}
    zh = lang == "zh"
    assert metrics["在贷笔数" if zh else "Open loans"] == "3"
    assert metrics[f"{'在贷本金余额' if zh else 'Outstanding'} ({unit})"] == "33.00"
    assert metrics[f"{'违约损失敞口' if zh else 'Loss in default'} ({unit})"] == "18.00"
    assert metrics[f"{'已收利息' if zh else 'Interest received'} ({unit})"] == "0.71"  # 7,100
    el = 0.45 * (pd_a * 150_000 + 180_000)
    assert metrics[f"{'预期损失' if zh else 'Expected loss'} ({unit})"] == f"{el / 10_000:,.2f}"
    # as of the mart's day; built long after it, so honestly stale
    assert ("数据截至 2025-06-15" if zh else "as of 2025-06-15") in text
    assert ("数据已过时" if zh else "Stale") in text
    grades = at.dataframe[0].value
    assert grades.iloc[:, 0].tolist() == ["A", "BB", "B", "C"]
    pd_bb = fmt.percent(load(CHALLENGER_CONFIG).grade_pd["BB"])
    # BB: one loan of 10 万元 in default, 8,000 accrued, nothing received; EL = 45% x 10 万元
    assert grades.iloc[1].tolist() == ["BB", "1", "10.00", "0.00", "0.80", "1", "10.00", pd_bb,
                                       "45.0%", "4.50"]
    roll = at.dataframe[1].value          # June, from each bucket at the end of May
    assert list(roll.columns)[1:3] == (["笔数", "上月末余额 (万元)"] if zh
                                       else ["Loans", "Balance then (10k CNY)"])
    # by balance: L2's 15 万元 stays in 61-90 (15/23), L5's 8 万元 rolls to 90+ (8/23)
    assert roll.iloc[3].tolist() == ["逾期 61–90 天" if zh else "61–90 DPD", "2", "23.00", "0.0%",
                                     "0.0%", "0.0%", "65.2%", "34.8%", "0.0%"]
    assert roll.iloc[1].tolist()[-1] == "100.0%"                   # 1-30 in May: all closed
    assert roll.iloc[0].tolist()[1:] == ["0", "0.00", "—", "—", "—", "—", "—", "—"]
    merchants = at.dataframe[2].value
    assert merchants.iloc[0].tolist() == ["车商b1", "2", "25.00", "75.8%"]
    assert merchants.iloc[1].tolist() == ["车商b2", "1", "8.00", "24.2%"]
    cities = at.dataframe[3].value
    assert cities.iloc[:, 0].tolist() == ["杭州市", "苏州市"]
    # another month: May, from the end of April
    at.selectbox(key="pf_roll_month").set_value(M[5]).run()
    roll = at.dataframe[1].value
    assert roll.iloc[2].tolist() == ["逾期 31–60 天" if zh else "31–60 DPD", "2", "23.00",
                                     "0.0%", "0.0%", "0.0%", "100.0%", "0.0%", "0.0%"]
    assert roll.iloc[0].tolist()[1:5] == ["1", "6.00", "0.0%", "100.0%"]   # L6: current -> 1-30


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_without_a_calibrated_pd_the_expected_loss_is_unknown_not_zero(engine, book, make_actor,
                                                                     lang):
    """The released v1 card has no [calibration]: with it active no grade has a PD, so no
    expected loss, and the total card says so rather than 0.00 (the sum of none)."""
    with engine.begin() as conn:
        conn.execute(sa.text("""UPDATE ops.credit_scorecard_versions
                                SET config = CAST(:raw AS jsonb) WHERE status = 'active'"""),
                     {"raw": json.dumps(load(CONFIG_DIR / "scorecard_v1.toml").raw,
                                        ensure_ascii=False)})
    at = _opened(make_actor("risk"), lang)
    assert not at.exception and not at.error
    zh = lang == "zh"
    unit = "万元" if zh else "10k CNY"
    metrics = {m.label: m.value for m in at.metric}
    assert metrics[f"{'预期损失' if zh else 'Expected loss'} ({unit})"] == "—"
    assert metrics[f"{'违约损失敞口' if zh else 'Loss in default'} ({unit})"] == "18.00"
    grades = at.dataframe[0].value
    assert grades.iloc[:, -1].tolist() == ["—"] * 4          # PD and EL of A, BB, B, C
    assert grades.iloc[:, -3].tolist() == ["—"] * 4
    note = ("当前生效评分卡 v1 未校准等级 A / BB / B / C 的违约概率 PD" if zh
            else "The active scorecard, v1, has no calibrated PD for A / BB / B / C")
    assert any(note in c.value for c in at.caption), [c.value for c in at.caption]


def test_the_page_is_for_risk_and_managers(engine, book, make_actor):
    at = _opened(make_actor("risk"), "en")
    assert not at.exception and not at.error
    from console.ui.nav import PAGES
    spec = next(p for p in PAGES if p.path == PAGE)
    assert spec.roles == {"risk", "manager"} and spec.url_path == "loan-portfolio"


def test_the_jobs_step_rebuilds_the_mart_as_dh_jobs_under_its_lock(engine, book, jobs_engine,
                                                                  risk, console_engine):
    from console import clock, jobs
    step = dict(jobs.steps(full=False))["loan_portfolio"]
    with jobs.job_lock(jobs_engine, "loan_portfolio") as got:      # another run holds it
        assert got
        skipped = jobs.run_step("loan_portfolio", step, engine=jobs_engine)
    assert skipped.skipped
    result = jobs.run_step("loan_portfolio", step, engine=jobs_engine)
    assert result.ok, result.detail
    with engine.connect() as conn:
        # as of today: the seven loans, every month from January 2025 to this one
        assert conn.execute(sa.text("""SELECT loans, as_of FROM mart.loan_portfolio_builds
                                       ORDER BY id DESC LIMIT 1""")).one() == (7, clock.today())
    with console_engine.connect() as conn:
        fresh = portfolio.freshness(conn=conn, actor=risk)
    assert (fresh.state, fresh.as_of, fresh.last_run_status) == ("ok", clock.today(), "succeeded")
    # a later run that failed: the badge says so, over the older mart
    from console import job_runs
    job_runs.record(jobs_engine, "loan_portfolio", seconds=1.0, ok=False, error="OperationalError")
    with console_engine.connect() as conn:
        assert portfolio.freshness(conn=conn, actor=risk).state == "failed"


def test_a_mart_as_of_a_past_day_reads_stale_and_none_before_any_build(engine, risk,
                                                                       console_engine, book):
    with console_engine.connect() as conn:
        fresh = portfolio.freshness(conn=conn, actor=risk)
    assert (fresh.state, fresh.as_of) == ("stale", pr.AS_OF)     # built now, as of 2025
    with engine.begin() as conn:
        conn.execute(sa.text("TRUNCATE mart.loan_portfolio_builds"))
    with console_engine.connect() as conn:
        assert portfolio.freshness(conn=conn, actor=risk).state == "none"

