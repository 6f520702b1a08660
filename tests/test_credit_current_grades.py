"""The current-grade table (migration 066): after every event that changes a grade it holds
what ranking every run and override would say, and a decision racing a scoring run is kept."""
from __future__ import annotations

import threading
import time
from datetime import timedelta

import pytest
import sqlalchemy as sa

from console.clock import today
from console.credit import engine as credit_engine
from console.services import credit
from tests.test_credit_support import (age_override, hand_card, merchant, one, purchase, rows,
                                       set_features)

# The effective grade computed from scratch, as the view of migration 050 did: the latest
# succeeded run of the active version, an approved override that has not expired replacing
# the grade; the limit is the resulting grade's cap, at most 0.25 x trailing purchases
# (migration 083; the fixtures buy enough for the caps to bind), the starter limit for a NEW
# merchant (never more, override or not); VIP as the grade's band, never for NEW.
EXPECTED = """
WITH latest_run AS (
    SELECT r.id, r.version_id, r.finished_at, r.starter_limit FROM ops.credit_runs r
    JOIN ops.credit_scorecard_versions v ON v.id = r.version_id AND v.status = 'active'
    WHERE r.status = 'succeeded' ORDER BY r.id DESC LIMIT 1
), active_override AS (
    SELECT DISTINCT ON (merchant_id) merchant_id, id AS override_id, new_grade, expires_at
    FROM ops.credit_overrides WHERE status = 'approved' AND expires_at > now()
    ORDER BY merchant_id, decided_at DESC, id DESC
)
SELECT s.merchant_id, s.score, s.grade, coalesce(o.new_grade, s.grade) AS effective_grade,
       ops.credit_grade_rank(coalesce(o.new_grade, s.grade)) AS effective_grade_rank,
       o.override_id IS NOT NULL AS is_override, s.insufficient_history,
       r.finished_at AS scored_at, r.id AS run_id, o.override_id,
       o.expires_at AS override_expires_at,
       CASE WHEN s.insufficient_history THEN least(coalesce(b.loan_limit, r.starter_limit), r.starter_limit)
            ELSE b.loan_limit END::numeric(14,2) AS loan_limit,
       CASE WHEN s.insufficient_history THEN false
            ELSE b.vip_eligible END AS vip_eligible
FROM latest_run r
JOIN ops.credit_scorecard_versions v ON v.id = r.version_id
JOIN ops.credit_scores s ON s.run_id = r.id
LEFT JOIN active_override o ON o.merchant_id = s.merchant_id
LEFT JOIN ops.credit_grade_bands b ON b.version_id = r.version_id AND b.grade = coalesce(o.new_grade, s.grade)
ORDER BY s.merchant_id"""


def current(engine):
    return rows(engine, "SELECT * FROM ops.merchant_credit ORDER BY merchant_id")


def assert_current_is_expected(engine):
    expected = rows(engine, EXPECTED)
    assert expected, "the scenario should rate someone"
    assert current(engine) == expected


def table_row(engine, merchant_id):
    got = rows(engine, """SELECT run_id, grade, override_id, override_grade
                          FROM ops.merchant_grade_current WHERE merchant_id = :m""", m=merchant_id)
    return got[0] if got else None


def score(engine, card) -> int:
    with engine.begin() as conn:
        return credit_engine.score_all(conn, card)


def approve(engine, alice, bob, merchant_id, *, new_grade="BBB", days=30):
    with engine.begin() as conn:
        oid = credit.propose_override(conn=conn, actor=alice, merchant_id=merchant_id,
                                      new_grade=new_grade, reason_code="guarantee",
                                      reason="担保函", expires_on=today() + timedelta(days=days))
    with engine.begin() as conn:
        credit.approve_override(conn=conn, actor=bob, override_id=oid)
    return oid


@pytest.fixture
def world(engine, tmp_path):
    card = hand_card(tmp_path)
    ids = {"good": merchant(engine, cert_level="enterprise", disputes_lost=0, avg_stars=4.6),
           "weak": merchant(engine, cert_level="none", disputes_lost=1, avg_stars=4.0),
           "new": merchant(engine, cert_level="enterprise", months=1, deals_total=0)}
    purchase(engine, ids["good"], 40_000_000)     # 0.25 x 40M: every grade's cap binds
    purchase(engine, ids["weak"], 40_000_000)
    return card, ids


def test_every_grade_event_leaves_the_table_as_ranking_would(engine, make_actor, world):
    card, ids = world
    alice, bob = make_actor("risk"), make_actor("risk")
    assert current(engine) == []                                  # nothing scored yet

    first = score(engine, card)
    assert_current_is_expected(engine)
    assert table_row(engine, ids["weak"]) == {"run_id": first, "grade": "BB",
                                              "override_id": None, "override_grade": None}

    oid = approve(engine, alice, bob, ids["weak"], days=2)        # an approved override
    assert_current_is_expected(engine)
    assert current(engine)[1]["effective_grade"] == "BBB"
    new_override = approve(engine, alice, bob, ids["new"], new_grade="A")   # over too little history
    assert_current_is_expected(engine)

    age_override(engine, oid, days=3)                                      # its expiry has passed
    assert_current_is_expected(engine)
    assert table_row(engine, ids["weak"])["override_id"] is None   # the trigger cleared it

    set_features(engine, ids["good"], cert_level="enterprise", disputes_lost=2, avg_stars=4.6)
    second = score(engine, card)                                   # a second run, new figures
    assert_current_is_expected(engine)
    assert {r["run_id"] for r in current(engine)} == {second}
    assert table_row(engine, ids["new"])["override_id"] == new_override    # carried over

    one(engine, "DELETE FROM mart.merchant_features WHERE merchant_id = :m", m=ids["weak"])
    score(engine, card)                                            # dropped from the mart
    assert_current_is_expected(engine)
    assert table_row(engine, ids["weak"]) is None


def test_an_override_stops_counting_at_its_expiry_before_any_sweep(engine, make_actor, world):
    card, ids = world
    score(engine, card)
    oid = approve(engine, make_actor("risk"), make_actor("risk"), ids["weak"])
    # Expiring in a moment: the row is written now, while the override still holds ...
    one(engine, """UPDATE ops.credit_overrides
                   SET expires_at = clock_timestamp() + interval '1 second' WHERE id = :i""", i=oid)
    assert table_row(engine, ids["weak"])["override_id"] == oid
    time.sleep(1.2)
    # ... then the clock passes it with no write at all: the read compares with now().
    assert table_row(engine, ids["weak"])["override_id"] == oid
    assert current(engine)[1]["effective_grade"] == "BB"
    assert_current_is_expected(engine)
    with engine.begin() as conn:                                   # the sweep clears the row
        assert credit_engine.expire_due_overrides(conn) == 1
    assert table_row(engine, ids["weak"])["override_id"] is None
    assert_current_is_expected(engine)


def test_a_rejected_or_still_proposed_override_changes_nothing(engine, make_actor, world):
    card, ids = world
    score(engine, card)
    before = current(engine)
    alice, bob = make_actor("risk"), make_actor("risk")
    with engine.begin() as conn:
        oid = credit.propose_override(conn=conn, actor=alice, merchant_id=ids["weak"],
                                      new_grade="A", reason_code="guarantee", reason="担保",
                                      expires_on=today() + timedelta(days=5))
    assert current(engine) == before
    with engine.begin() as conn:
        credit.reject_override(conn=conn, actor=bob, override_id=oid, note="不足")
    assert current(engine) == before == rows(engine, EXPECTED)


def _wait_until_blocked(engine, *, timeout: float = 30) -> None:
    """Until some other session of this database waits for a lock."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if one(engine, """SELECT count(*) FROM pg_stat_activity
                          WHERE datname = current_database() AND wait_event_type = 'Lock'"""):
            return
        time.sleep(0.05)
    raise AssertionError("the second transaction never waited for the first")


def _in_thread(fn) -> tuple[threading.Thread, list]:
    errors: list = []

    def target():
        try:
            fn()
        except Exception as exc:  # noqa: BLE001 - the test asserts there was none
            errors.append(exc)
    th = threading.Thread(target=target)
    th.start()
    return th, errors


@pytest.mark.parametrize("first", ["scoring", "approval"])
def test_an_approval_racing_a_scoring_run_is_kept(engine, make_actor, world, first):
    """Whichever commits first, the table ends with the new run's score and the override."""
    card, ids = world
    score(engine, card)
    alice, bob = make_actor("risk"), make_actor("risk")
    with engine.begin() as conn:
        oid = credit.propose_override(conn=conn, actor=alice, merchant_id=ids["weak"],
                                      new_grade="BBB", reason_code="guarantee", reason="担保",
                                      expires_on=today() + timedelta(days=5))
    holder = engine.connect()
    tx = holder.begin()
    if first == "scoring":
        run_id = credit_engine.score_all(holder, card)
        th, errors = _in_thread(lambda: approve_only(engine, bob, oid))
    else:
        credit.approve_override(conn=holder, actor=bob, override_id=oid)
        box: list = []
        th, errors = _in_thread(lambda: box.append(score(engine, card)))
    _wait_until_blocked(engine)
    tx.commit()
    holder.close()
    th.join(timeout=60)
    assert not th.is_alive() and errors == []
    run_id = run_id if first == "scoring" else box[0]
    assert table_row(engine, ids["weak"]) == {"run_id": run_id, "grade": "BB",
                                              "override_id": oid, "override_grade": "BBB"}
    assert_current_is_expected(engine)


def approve_only(engine, actor, oid):
    with engine.begin() as conn:
        credit.approve_override(conn=conn, actor=actor, override_id=oid)
