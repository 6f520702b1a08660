"""The rating card's merchant search (console/services/merchant_search.py, issue 13) finds
each page along the score index instead of sorting every merchant; the pages must be the
ones the old single statement (kept below as the reference) gave, for every filter, page and
both ways of finding a page (matches sorted, or the index walked)."""
from __future__ import annotations

import itertools

import pytest
import sqlalchemy as sa

from console import db
from console.boundary import like_contains
from console.credit import engine as credit_engine
from console.credit.scorecard import DEFAULT_CONFIG, load
from console.services import credit, merchant_search
from tests.test_credit_support import merchant

# The statement search_merchants ran before (one sort of every merchant by score).
_OLD_WHERE = r"""(:q = '' OR m.name ILIKE :pattern ESCAPE '\' OR m.id::text = :q)
               AND (CAST(:grade AS text) IS NULL
                    OR (c.effective_grade = :grade AND m.status <> ALL (CAST(:on_hold AS text[]))))"""


def _old(conn, *, text, grade, limit, offset):
    params = {"q": text, "pattern": like_contains(text), "grade": grade,
              "on_hold": list(credit.ON_HOLD)}
    total = db.scalar(conn, f"""SELECT count(*) FROM app.merchants m
                                LEFT JOIN ops.merchant_credit c ON c.merchant_id = m.id
                                WHERE {_OLD_WHERE}""", **params)
    page = db.fetch_df(conn, f"""
        SELECT m.id AS merchant_id, m.name, ci.name AS city, m.merchant_type, m.cert_level,
               m.status, c.score, c.grade, c.effective_grade, c.is_override,
               c.insufficient_history, c.loan_limit, c.vip_eligible
        FROM app.merchants m
        JOIN app.cities ci ON ci.id = m.city_id
        LEFT JOIN ops.merchant_credit c ON c.merchant_id = m.id
        WHERE {_OLD_WHERE}
        ORDER BY c.score DESC NULLS LAST, m.id
        LIMIT :limit OFFSET :offset""", limit=limit, offset=offset, **params)
    return page, int(total)


# name, score and grade (None: never scored), status
_WORLD = [
    ("甲车商", 700, "AAA", "active"),
    ("乙车商", 650, "AA", "active"),
    ("丙车商", 650, "AA", "suspended"),     # a tie on score, and on hold
    ("丁车商", 650, "A", "active"),          # a three-way tie
    ("戊车行", 600, "BBB", "active"),
    ("己车商50%", 580, "BB", "active"),      # % is a letter to look for
    ("庚车行", 580, "BB", "closed"),
    ("辛车商", 520, "B", "active"),
    ("壬车商", 480, "C", "active"),
    ("癸车行", 700, "AAA", "active"),        # ties the best, later id
    ("子车商", None, None, "active"),        # ungraded ones follow, by id
    ("丑车行", None, None, "active"),
    ("寅车商", None, None, "suspended"),
]


@pytest.fixture
def world(engine):
    ids = {name: merchant(engine, name=name) for name, *_ in _WORLD}
    with engine.begin() as conn:
        credit_engine.score_all(conn, load(DEFAULT_CONFIG))
        for name, score, grade, status in _WORLD:
            m = ids[name]
            conn.execute(sa.text("UPDATE app.merchants SET status = :s WHERE id = :m"),
                         {"s": status, "m": m})
            if grade is None:
                conn.execute(sa.text("DELETE FROM ops.merchant_grade_current WHERE merchant_id = :m"),
                             {"m": m})
            else:
                conn.execute(sa.text("""UPDATE ops.merchant_grade_current
                                        SET score = :score, grade = :grade WHERE merchant_id = :m"""),
                             {"score": score, "grade": grade, "m": m})
        # Other merchants of the template database, if any, stay in both answers alike.
    return ids


def test_the_first_page_is_best_score_first_then_id_then_the_ungraded(engine, make_actor, world):
    with engine.connect() as conn:
        page, total = credit.search_merchants(conn=conn, actor=make_actor("risk"), query="车",
                                              limit=50)
    expected = ["甲车商", "癸车行", "乙车商", "丙车商", "丁车商", "戊车行", "己车商50%", "庚车行",
                "辛车商", "壬车商", "子车商", "丑车行", "寅车商"]
    assert (page["name"].tolist(), total) == (expected, 13)
    # the held ones show their standing, not a grade
    held = page.set_index("name")
    assert held.loc["丙车商", ["effective_grade", "on_hold"]].tolist() == [None, "suspended"]


@pytest.mark.parametrize("sort_at_most", [0, 5_000])      # the index walked / matches sorted
def test_every_page_and_filter_is_the_old_statements_answer(engine, world, monkeypatch,
                                                            sort_at_most):
    monkeypatch.setattr(merchant_search, "SORT_AT_MOST", sort_at_most)
    texts = ["", "车", "车商", "车行", "50%", "%", "_", str(world["丁车商"]), str(world["丑车行"]),
             "无此车商"]
    grades = [None, "AAA", "AA", "A", "BB", "C", "NEW"]
    pages = [(50, 0), (3, 0), (3, 3), (4, 8), (2, 9), (5, 10), (3, 12), (10, 13), (1, 40)]
    checked = 0
    with engine.connect() as conn:
        for text, grade, (limit, offset) in itertools.product(texts, grades, pages):
            old_page, old_total = _old(conn, text=text, grade=grade, limit=limit, offset=offset)
            new_page, new_total = merchant_search.search(conn, text=text, grade=grade,
                                                         limit=limit, offset=offset,
                                                         on_hold=credit.ON_HOLD)
            case = (text, grade, limit, offset)
            assert new_total == old_total, case
            assert new_page["merchant_id"].tolist() == old_page["merchant_id"].tolist(), case
            assert new_page.equals(old_page) or (new_page.empty and old_page.empty), case
            checked += not old_page.empty
    assert checked >= 60          # many cases have rows to compare, not only empty pages alike


def test_a_page_across_the_last_graded_merchant(engine, world):
    """Graded matches end inside the page: the ungraded ones fill it, by id; a page wholly
    past them starts at the right ungraded one."""
    with engine.connect() as conn:
        across, total = merchant_search.search(conn, text="车", grade=None, limit=4, offset=8,
                                               on_hold=credit.ON_HOLD)
        past, _ = merchant_search.search(conn, text="车", grade=None, limit=2, offset=11,
                                         on_hold=credit.ON_HOLD)
    assert (across["name"].tolist(), total) == (["辛车商", "壬车商", "子车商", "丑车行"], 13)
    assert past["name"].tolist() == ["丑车行", "寅车商"]


# ---------------------------------------------------------------- the scoring run's queue
def test_a_scoring_runs_upsert_queues_fast_after_a_one_row_change_in_the_same_connection(engine):
    """Migration 088: the grade queue trigger (migration 081) joins a statement's old and new
    rows. Planned once per connection, a first call with one row (an override) kept a nested
    loop, and the next upsert of every merchant compared all rows with all rows (9-10
    minutes per scoring run at 50,000 merchants). Now each call plans for its rows: 12,000
    rows after a one-row change take well under a second; the quadratic plan took ~12 s."""
    import time
    merchant(engine, name="队列车商")
    with engine.begin() as conn:
        credit_engine.score_all(conn, load(DEFAULT_CONFIG))
        # 12,000 grade rows of made-up merchants: the credit lines' trigger (migration 099)
        # would refuse them (fin.credit_lines references app.merchants); this test is about
        # the grade queue's trigger alone.
        for trigger in ("credit_lines_evaluate_insert", "credit_lines_evaluate_update"):
            conn.execute(sa.text(f"ALTER TABLE ops.merchant_grade_current DISABLE TRIGGER {trigger}"))
        conn.execute(sa.text("""
            INSERT INTO ops.merchant_grade_current (merchant_id, run_id, scored_at, score, grade,
                insufficient_history, score_loan_limit, score_vip_eligible)
            SELECT 10000000 + g, c.run_id, c.scored_at, 500, 'BB', false, 0, false
            FROM generate_series(1, 12000) AS g, ops.merchant_grade_current c"""))
        conn.execute(sa.text("DELETE FROM ops.match_refresh_queue"))
    with engine.connect() as conn:
        conn.execute(sa.text("""UPDATE ops.merchant_grade_current SET grade = 'A'
                                WHERE merchant_id = 10000001"""))
        conn.commit()
        started = time.perf_counter()
        # every row written, the odd ones' grade moved (10000001 moves back to BB)
        conn.execute(sa.text("""UPDATE ops.merchant_grade_current
                                SET grade = CASE WHEN merchant_id % 2 = 1 THEN 'BB' ELSE 'B' END,
                                    score = score
                                WHERE merchant_id > 10000000"""))
        conn.commit()
        elapsed = time.perf_counter() - started
        queued = conn.execute(sa.text("""SELECT merchant_id, count(*) FROM ops.match_refresh_queue
                                         WHERE cause = 'grade' GROUP BY 1""")).all()
    counts = dict(queued)
    # the one-row change, then every even merchant (BB -> B) and 10000001 (A -> BB)
    assert counts[10000001] == 2
    assert sorted(m for m, n in counts.items() if n == 1) == list(range(10000002, 10012001, 2))
    assert len(counts) == 6001
    assert elapsed < 4.0, f"{elapsed:.1f} s"
