"""Each scoring run keeps its monitoring counts (migration 076), and the monitoring report read
from them says exactly what the score rows say, figure by figure."""
from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa

from console import demo
from console.credit import engine as credit_engine
from console.credit import metrics, pit
from console.credit.scorecard import DEFAULT_CONFIG, load
from console.services import credit
from etl import jobs as etl_jobs
from etl import runner as etl_runner
from tests.test_credit_support import one, rows


@pytest.fixture
def two_runs(engine):
    """The small demo world scored twice, with a third of the merchants' features moved in
    between (so the runs differ: grades migrate, bins shift)."""
    demo.seed(engine=engine, scale="small", seed=7)
    result = etl_runner.run_job(etl_jobs.JOBS["merchant_features"], engine=engine, full=True)
    assert result.status == "succeeded", result.error
    card = load(DEFAULT_CONFIG)
    with engine.begin() as conn:
        run_a = credit_engine.score_all(conn, card)
    with engine.begin() as conn:
        conn.execute(sa.text("""UPDATE mart.merchant_features
                                 SET deals_12m = deals_12m + 7, late_payments = late_payments + 2
                                 WHERE merchant_id % 3 = 0"""))
    with engine.begin() as conn:
        run_b = credit_engine.score_all(conn, card)
    return run_a, run_b


def _kept(engine, run_id: int) -> tuple[list, list, list]:
    return (rows(engine, """SELECT grade, merchants FROM ops.credit_run_grades
                            WHERE run_id = :r ORDER BY grade""", r=run_id),
            rows(engine, """SELECT factor, bin_no, merchants FROM ops.credit_run_bins
                            WHERE run_id = :r ORDER BY factor, bin_no""", r=run_id),
            rows(engine, """SELECT merchant_id, score, grade, insufficient_history
                            FROM ops.credit_run_merchants WHERE run_id = :r
                            ORDER BY merchant_id""", r=run_id))


def _counted(engine, run_id: int) -> tuple[list, list, list]:
    return (rows(engine, """SELECT grade, count(*) AS merchants FROM ops.credit_scores
                            WHERE run_id = :r GROUP BY grade ORDER BY grade""", r=run_id),
            rows(engine, """SELECT f.key AS factor, (f.value->>'bin')::int AS bin_no,
                                   count(*) AS merchants
                            FROM ops.credit_scores s CROSS JOIN LATERAL jsonb_each(s.factors) f
                            WHERE s.run_id = :r GROUP BY 1, 2 ORDER BY 1, 2""", r=run_id),
            rows(engine, """SELECT merchant_id, score, grade, insufficient_history
                            FROM ops.credit_scores WHERE run_id = :r
                            ORDER BY merchant_id""", r=run_id))


def test_a_run_keeps_the_counts_of_its_scores(engine, two_runs):
    for run_id in two_runs:
        kept = _kept(engine, run_id)
        assert kept == _counted(engine, run_id)
        assert sum(g["merchants"] for g in kept[0]) == len(kept[2]) > 100


def test_changed_and_removed_scores_move_the_counts(engine, two_runs):
    run_a, _ = two_runs
    with engine.begin() as conn:
        conn.execute(sa.text("""UPDATE ops.credit_scores SET grade = 'C', score = score - 1
                                 WHERE run_id = :r AND merchant_id % 5 = 0"""), {"r": run_a})
        conn.execute(sa.text("""DELETE FROM ops.credit_scores
                                 WHERE run_id = :r AND merchant_id % 7 = 0"""), {"r": run_a})
    assert _kept(engine, run_a) == _counted(engine, run_a)


def test_the_report_from_the_counts_equals_the_report_from_the_score_rows(engine, make_actor,
                                                                          two_runs):
    run_a, run_b = two_runs
    with engine.connect() as conn:
        report = credit.monitoring_report(conn=conn, actor=make_actor("risk", username="monitor_probe"))
    assert (report.run_a, report.run_b) == (run_a, run_b)
    # What the page computed before 076: one row per merchant and factor, read raw.
    scores = pd.DataFrame(rows(engine, """SELECT run_id, merchant_id, score, grade
                                          FROM ops.credit_scores WHERE run_id IN (:a, :b)""",
                               a=run_a, b=run_b))
    a, b = scores[scores["run_id"] == run_a], scores[scores["run_id"] == run_b]
    assert report.score_psi == pytest.approx(metrics.score_psi(a["score"], b["score"]), abs=1e-12)
    assert report.score_psi > 0
    matrix = metrics.migration_matrix(a.set_index("merchant_id")["grade"],
                                      b.set_index("merchant_id")["grade"])
    assert report.migration.equals(matrix.astype(int))
    assert int(np.trace(matrix.to_numpy())) < len(a)                  # some merchants moved
    bins = pd.DataFrame(rows(engine, """
        SELECT f.key AS factor, (f.value->>'bin')::int AS bin_no,
               count(*) FILTER (WHERE s.run_id = :a) AS before,
               count(*) FILTER (WHERE s.run_id = :b) AS after
        FROM ops.credit_scores s CROSS JOIN LATERAL jsonb_each(s.factors) AS f
        WHERE s.run_id IN (:a, :b) GROUP BY 1, 2 ORDER BY 1, 2""", a=run_a, b=run_b))
    expected = {f: metrics.psi(g["before"], g["after"]) for f, g in bins.groupby("factor")}
    got = dict(zip(report.factor_psi["factor"], report.factor_psi["psi"]))
    assert got == pytest.approx(expected, abs=1e-12)
    assert max(got.values()) > 0
    # Performance on point-in-time labels: as if run_b had finished at Shanghai midnight of a
    # day inside the demo's history, its label is the validation's for that day
    # (sql/queries/credit_features_as_of.sql: a bad event in the window after the date).
    day = date(2026, 9, 21)                 # the demo's anchor is fixed: 2026-11-20
    one(engine, """UPDATE ops.credit_runs
                   SET finished_at = CAST(:d AS date)::timestamp AT TIME ZONE 'Asia/Shanghai'
                   WHERE id = :r""", d=day, r=run_b)
    with engine.connect() as conn:
        report = credit.monitoring_report(conn=conn, actor=make_actor("risk", username="monitor_probe2"),
                                          run_a=run_a, run_b=run_b)
        labels = pit.features_as_of(conn, as_of=day, window_days=60).set_index("merchant_id")["bad"]
    population = b.set_index("merchant_id").join(
        pd.DataFrame(rows(engine, """SELECT merchant_id FROM ops.credit_scores
                                     WHERE run_id = :b AND NOT insufficient_history""", b=run_b))
        .set_index("merchant_id"), how="inner")
    population["bad"] = labels.reindex(population.index).fillna(0).astype(int)
    perf = report.performance
    assert (perf.outcomes, perf.bad) == (len(population), int(population["bad"].sum()))
    assert perf.bad >= 3, "the demo's history gives this run bad merchants after it"
    assert perf.ks == pytest.approx(metrics.ks(population["score"], population["bad"]), abs=1e-12)
    assert perf.auc == pytest.approx(metrics.roc_auc(population["score"], population["bad"]),
                                     abs=1e-12)
    assert perf.by_grade.equals(metrics.default_rate_by_grade(population["grade"],
                                                              population["bad"]))


def _moves_counted(engine, run_a: int, run_b: int) -> list:
    return rows(engine, """SELECT a.grade AS before, b.grade AS after, count(*) AS merchants
                           FROM ops.credit_scores a
                           JOIN ops.credit_scores b ON b.merchant_id = a.merchant_id
                           WHERE a.run_id = :a AND b.run_id = :b
                           GROUP BY 1, 2 ORDER BY 1, 2""", a=run_a, b=run_b)


def _moves_kept(engine, run_a: int, run_b: int) -> list:
    return rows(engine, """SELECT before, after, merchants FROM ops.credit_run_moves
                           WHERE from_run_id = :a AND run_id = :b ORDER BY 1, 2""",
                a=run_a, b=run_b)


def test_a_run_keeps_its_score_counts_and_grade_moves_and_rescoring_counts_them_again(engine, two_runs):
    run_a, run_b = two_runs
    for run_id in two_runs:
        assert rows(engine, """SELECT score, merchants FROM ops.credit_run_scores
                               WHERE run_id = :r ORDER BY score""", r=run_id) == rows(
            engine, """SELECT score, count(*) AS merchants FROM ops.credit_scores
                       WHERE run_id = :r GROUP BY score ORDER BY score""", r=run_id)
    moves = _moves_kept(engine, run_a, run_b)
    assert moves == _moves_counted(engine, run_a, run_b)
    # Grades moved between the runs (the fixture changed a third of the features).
    assert any(m["before"] != m["after"] for m in moves)
    # The first run of the version has nothing before it.
    assert rows(engine, "SELECT * FROM ops.credit_run_moves WHERE run_id = :a", a=run_a) == []
    # (one test, not two: the fixture seeds and scores a demo world, 13 s)
    with engine.begin() as conn:
        conn.execute(sa.text("""UPDATE ops.credit_scores SET grade = 'C'
                                 WHERE run_id = :r AND merchant_id % 4 = 0"""), {"r": run_b})
    assert _moves_kept(engine, run_a, run_b) == _moves_counted(engine, run_a, run_b)
    # A change to the earlier run drops the pair's kept moves; the report counts them itself.
    with engine.begin() as conn:
        conn.execute(sa.text("""DELETE FROM ops.credit_scores
                                 WHERE run_id = :r AND merchant_id % 7 = 0"""), {"r": run_a})
    assert _moves_kept(engine, run_a, run_b) == []
    with engine.connect() as conn:
        counted = credit._grade_moves(conn, run_a=run_a, run_b=run_b)
    expected = metrics.migration_counts(*zip(*[(m["before"], m["after"], m["merchants"])
                                                for m in _moves_counted(engine, run_a, run_b)]))
    pd.testing.assert_frame_equal(counted, expected)
