"""The demo's credit override history (console/demo/override_history.py): what the risk desk
sees on the overrides page, in the approval queue, on a rating card and in the outcomes.

Read on copies of one small demo seeded here with today's anchor, as `make run` seeds it
(the session's demo template keeps the fixed anchor of 2026-11-20, whose overrides run out
one by one as the real clock passes their expiry): weekly runs and overrides before the
anchor, and four proposals made at the seed's moment through the service.
"""
from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import datetime, time, timedelta

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine, make_url

from console import audit, db
from console.demo import credit_history, seed
from console.demo import model as M
from console.demo import override_history as H
from console.grades import GRADES
from console.roles import Actor
from console.services import credit
from console.settings import get_settings
from tests.conftest import (DEMO_SEED, _console_roles, _create_database, _drop_database,
                            _superuser_engine)

ANCHOR = M.today_anchor()


@pytest.fixture(scope="module")
def desk_template(server_url, admin_engine, template_db) -> Iterator[str]:
    name = f"desk_{uuid.uuid4().hex[:10]}"
    _create_database(admin_engine, name, template=template_db)
    eng = db.make_engine(make_url(server_url).set(database=name).render_as_string(hide_password=False))
    seed(engine=eng, scale="small", seed=DEMO_SEED, anchor=ANCHOR)
    eng.dispose()
    yield name
    _drop_database(admin_engine, name)


@pytest.fixture
def desk(server_url, admin_engine, desk_template, monkeypatch) -> Iterator[Engine]:
    """A copy of the today-anchored small demo (the console: dh_console on it)."""
    name = f"t_{uuid.uuid4().hex[:12]}"
    _create_database(admin_engine, name, template=desk_template)
    url = make_url(server_url).set(database=name).render_as_string(hide_password=False)
    eng = _superuser_engine(url)
    with _console_roles(url, monkeypatch):
        yield eng
        eng.dispose()
    _drop_database(admin_engine, name)


def rows(engine, sql: str, **params) -> list[dict]:
    with engine.connect() as conn:
        return [dict(r) for r in conn.execute(sa.text(sql), params).mappings()]


def staff(engine, username: str) -> Actor:
    row = rows(engine, """SELECT id, username, display_name, roles, session_epoch
                          FROM ops.staff WHERE username = :u""", u=username)[0]
    return Actor(id=row["id"], username=row["username"], display_name=row["display_name"],
                 roles=frozenset(row["roles"]), session_epoch=row["session_epoch"])


def call(engine, fn, actor, **kwargs):
    with engine.begin() as conn:
        return fn(conn=conn, actor=actor, **kwargs)


def test_the_approval_queue_holds_todays_four_proposals_each_for_another_officer(desk):
    inbox = {name: call(desk, credit.override_inbox, staff(desk, name))
             for name in ("risk1", "risk2", "lead1")}
    queue = inbox["risk1"]
    assert len(queue) == H.PENDING == 4
    # The same four for everyone; risk1 proposed two of them and may decide the other two.
    assert sorted(queue["id"]) == sorted(inbox["risk2"]["id"]) == sorted(inbox["lead1"]["id"])
    assert queue["proposed_by"].tolist() == ["周静", "徐鹏", "朱海峰", "周静"]
    assert [int(inbox[n]["mine"].sum()) for n in ("risk1", "risk2", "lead1")] == [2, 1, 1]
    assert queue["reason_code"].tolist() == ["guarantee", "adverse_news", "new_information",
                                             "collateral"]
    # Each is a move of one notch from the merchant's effective grade, expiring ahead.
    for r in queue.itertuples():
        assert abs(GRADES.index(r.new_grade) - GRADES.index(r.from_grade)) == 1
    assert (queue["expires_at"] > datetime.now(tz=M.SHANGHAI) + timedelta(days=80)).all()
    # Every proposal, decision and sweep of the history is in the audit log; no other
    # proposal is open.
    open_rows = rows(desk, "SELECT count(*) AS n FROM ops.credit_overrides "
                                  "WHERE status = 'proposed'")
    assert open_rows == [{"n": 4}]


def test_every_decision_is_a_second_persons_and_senior_limits_a_managers(desk):
    decided = rows(desk, """
        SELECT o.status, o.proposed_by, o.approved_by, o.rejected_by, o.approved_limit,
               o.decision_note, a.roles AS approver_roles
        FROM ops.credit_overrides o LEFT JOIN ops.staff a ON a.id = o.approved_by
        WHERE o.decided_at IS NOT NULL""")
    approved = [r for r in decided if r["approved_by"] is not None]
    rejected = [r for r in decided if r["rejected_by"] is not None]
    assert len(approved) >= 8 and len(rejected) >= 2
    assert all(r["approved_by"] != r["proposed_by"] for r in approved)
    assert all(r["rejected_by"] != r["proposed_by"] for r in rejected)
    assert all(r["decision_note"] for r in rejected)          # a rejection says why
    senior = get_settings().credit_override_senior_limit_yuan
    assert all("manager" in r["approver_roles"] for r in approved
               if r["approved_limit"] is not None and r["approved_limit"] > senior)
    # Proposed by all three officers, reasons from the service's list only.
    people = rows(desk, """SELECT DISTINCT s.username FROM ops.credit_overrides o
                                  JOIN ops.staff s ON s.id = o.proposed_by ORDER BY 1""")
    assert [p["username"] for p in people] == ["lead1", "risk1", "risk2"]
    codes = {r["reason_code"] for r in rows(desk, "SELECT reason_code FROM ops.credit_overrides")}
    assert codes <= set(credit.OVERRIDE_REASONS) and len(codes) >= 4


def test_statuses_a_history_leaves_and_the_expired_ones_show_expired(desk):
    counts = {r["status"]: r["n"] for r in rows(desk, """
        SELECT status, count(*) AS n FROM ops.credit_overrides GROUP BY 1""")}
    assert {"proposed", "approved", "rejected", "expired", "superseded"} <= set(counts) \
        <= {"proposed", "approved", "rejected", "expired", "superseded", "revoked"}
    assert 20 <= sum(counts.values()) <= 60
    anchor = ANCHOR
    # The anchor's sweep marked everything past its expiry; nothing past it still counts.
    assert rows(desk, """
        SELECT count(*) FILTER (WHERE status = 'expired' AND expires_at > :a) AS late,
               count(*) FILTER (WHERE status IN ('approved', 'proposed') AND expires_at <= :a)
                   AS missed
        FROM ops.credit_overrides""", a=anchor) == [{"late": 0, "missed": 0}]
    # An expired override reads "expired" on its merchant's rating card, with who decided it.
    risk = staff(desk, "risk1")
    merchant, override_id = rows(desk, """
        SELECT merchant_id, id FROM ops.credit_overrides WHERE status = 'expired'
          AND approved_by IS NOT NULL ORDER BY id LIMIT 1""")[0].values()
    card = call(desk, credit.rating_card, risk, merchant_id=merchant)
    shown = card.overrides.set_index("id").loc[override_id]
    assert shown["status"] == "expired" and shown["decided_by"] in {"周静", "徐鹏", "朱海峰"}
    assert not card.current["is_override"] or card.current["override_id"] != override_id
    # Each expiry is the sweep's, audited as the system.
    expired = {r["id"] for r in rows(desk, "SELECT id FROM ops.credit_overrides "
                                                  "WHERE status = 'expired'")}
    swept = {int(r["entity_id"]) for r in rows(desk, """
        SELECT entity_id FROM ops.audit_log
        WHERE action = 'credit.override.expire' AND actor_id IS NULL""")}
    assert swept == expired


def test_current_grades_carry_exactly_the_active_approved_overrides(desk):
    # Independent of the trigger and the view: the latest approval per merchant that has
    # not expired, against what ops.merchant_grade_current holds.
    expected = rows(desk, """
        SELECT DISTINCT ON (merchant_id) merchant_id, id, new_grade, expires_at
        FROM ops.credit_overrides
        WHERE status = 'approved' AND expires_at > now()
        ORDER BY merchant_id, decided_at DESC""")
    held = rows(desk, """
        SELECT merchant_id, override_id AS id, override_grade AS new_grade,
               override_until AS expires_at
        FROM ops.merchant_grade_current WHERE override_id IS NOT NULL ORDER BY merchant_id""")
    assert held == expected and len(held) >= 3
    # One approved override per merchant at most: an approval superseded the one before.
    assert rows(desk, """SELECT count(*) AS n FROM (SELECT merchant_id FROM ops.credit_overrides
                                WHERE status = 'approved' GROUP BY 1 HAVING count(*) > 1) x""") \
        == [{"n": 0}]
    # The monitoring page's override figures count the same merchants, those whose override
    # still differs from their scored grade (a later score may have caught up with one).
    rate = call(desk, credit.override_rate, staff(desk, "manager1"))
    moved = rows(desk, """
        SELECT count(*) FILTER (WHERE ops.credit_grade_rank(o.new_grade)
                                      < ops.credit_grade_rank(s.grade)) AS up,
               count(*) FILTER (WHERE ops.credit_grade_rank(o.new_grade)
                                      > ops.credit_grade_rank(s.grade)) AS down
        FROM ops.credit_overrides o
        JOIN ops.credit_scores s ON s.merchant_id = o.merchant_id
                                AND s.run_id = (SELECT max(id) FROM ops.credit_runs)
        WHERE o.status = 'approved' AND o.expires_at > now() AND NOT s.insufficient_history""")[0]
    assert (rate.upgrades, rate.downgrades) == (moved["up"], moved["down"])
    assert rate.upgrades >= 1 and rate.downgrades >= 1


def test_weekly_runs_before_the_anchor_and_overrides_between_them(desk):
    runs = rows(desk, """SELECT r.id, r.finished_at, r.features_as_of, v.version
                                FROM ops.credit_runs r
                                JOIN ops.credit_scorecard_versions v ON v.id = r.version_id
                                ORDER BY r.id""")
    assert len(runs) == H.WEEKS
    days = [ANCHOR.date() - timedelta(days=1 + 7 * k) for k in reversed(range(H.WEEKS))]
    assert [r["features_as_of"] for r in runs] == days
    assert [r["finished_at"].astimezone(M.SHANGHAI).date() for r in runs] == days
    assert all(r["finished_at"].astimezone(M.SHANGHAI).time() < time(2, 1) for r in runs)
    assert {r["version"] for r in runs} == {"v1"}     # the promotion came after
    # Each historical override was proposed after the run it names and decided before the
    # next one, in office hours.
    history = rows(desk, """
        SELECT o.proposed_at, o.decided_at, r.finished_at,
               (SELECT min(n.finished_at) FROM ops.credit_runs n WHERE n.id > r.id) AS next_run
        FROM ops.credit_overrides o JOIN ops.credit_runs r ON r.id = o.run_id
        WHERE o.proposed_at < :a""", a=ANCHOR)
    assert len(history) >= 15
    for h in history:
        assert h["finished_at"] < h["proposed_at"]
        assert h["decided_at"] is None or h["proposed_at"] < h["decided_at"] < (h["next_run"] or ANCHOR)
        assert 9 <= h["proposed_at"].astimezone(M.SHANGHAI).hour < 18
    # The rating card's score history has the weekly points.
    merchant = rows(desk, "SELECT merchant_id FROM ops.credit_overrides ORDER BY id LIMIT 1")
    card = call(desk, credit.rating_card, staff(desk, "risk2"),
                merchant_id=merchant[0]["merchant_id"])
    assert len(card.history) >= 10 and not card.overrides.empty


def test_the_outcomes_have_overrides_that_did_better_and_worse_than_their_peers(desk):
    frame = call(desk, credit.override_outcomes, staff(desk, "manager1"))
    compared = frame[(frame["overridden"] > 0) & (frame["peers"] > 0)]
    assert (compared["overridden_rate"] > compared["peers_rate"]).any()
    assert (compared["overridden_rate"] < compared["peers_rate"]).any()
    approved = rows(desk, "SELECT count(*) AS n FROM ops.credit_overrides "
                                 "WHERE approved_by IS NOT NULL")[0]["n"]
    assert int(frame["overridden"].sum()) == approved


def test_the_audit_log_tells_the_same_history_and_the_chain_holds(desk):
    audited: dict[str, set[int]] = {}
    for r in rows(desk, """SELECT action, entity_id FROM ops.audit_log
                           WHERE entity_type = 'credit_override'"""):
        audited.setdefault(r["action"], set()).add(int(r["entity_id"]))
    table = rows(desk, "SELECT * FROM ops.credit_overrides")

    def ids(keep) -> set[int]:
        return {r["id"] for r in table if keep(r)}

    assert audited.pop("credit.override.propose") == ids(lambda r: True)
    assert audited.pop("credit.override.approve") == ids(lambda r: r["approved_by"])
    assert audited.pop("credit.override.reject") == ids(lambda r: r["rejected_by"])
    assert audited.pop("credit.override.expire") == ids(lambda r: r["status"] == "expired")
    assert audited.get("credit.override.revoke", set()) == ids(lambda r: r["status"] == "revoked")
    # re-examined after a run moved the merchant: kept (most) or revoked
    assert audited.pop("credit.override.keep") | audited.pop("credit.override.revoke", set()) \
        == ids(lambda r: r["reviewed_by"])
    assert audited == {}
    # The expiry the proposal's audit row names is the override's (no shifted copies).
    named = rows(desk, """
        SELECT count(*) AS n FROM ops.audit_log a JOIN ops.credit_overrides o
          ON a.entity_id = o.id::text AND a.action = 'credit.override.propose'
        WHERE (a.after->>'expires_on')::date + 1 <> (o.expires_at AT TIME ZONE 'Asia/Shanghai')::date""")
    assert named == [{"n": 0}]
    with desk.connect() as conn:
        assert audit.verify_chain(conn).intact
        assert credit_history.seeded_audit_only(conn)


def test_the_same_seed_gives_the_same_overrides(desk, fresh_db):
    sql = """SELECT o.id, o.merchant_id, o.run_id, o.from_grade, o.new_grade, o.reason_code,
                    o.reason, o.status, o.expires_at, p.username AS proposer,
                    a.username AS approver, j.username AS rejecter, o.decided_at,
                    o.decision_note, o.approved_limit, o.basis_grade, o.review_due_at,
                    CASE WHEN o.proposed_at < :a THEN o.proposed_at END AS historical_at
             FROM ops.credit_overrides o JOIN ops.staff p ON p.id = o.proposed_by
             LEFT JOIN ops.staff a ON a.id = o.approved_by
             LEFT JOIN ops.staff j ON j.id = o.rejected_by ORDER BY o.id"""
    engine = _superuser_engine(fresh_db)
    try:
        seed(engine=engine, scale="small", seed=DEMO_SEED, anchor=ANCHOR)
        again = rows(engine, sql, a=ANCHOR)
    finally:
        engine.dispose()
    assert again == rows(desk, sql, a=ANCHOR) and len(again) >= 20


def test_every_override_moves_at_most_the_allowed_notches_from_its_scored_grade(desk):
    # From the score of the run each override names, not from the row's own basis.
    moves = [r["notches"] for r in rows(desk, """
        SELECT abs(ops.credit_grade_rank(o.new_grade) - ops.credit_grade_rank(s.grade)) AS notches
        FROM ops.credit_overrides o
        JOIN ops.credit_scores s ON s.run_id = o.run_id AND s.merchant_id = o.merchant_id""")]
    allowed = get_settings().credit_override_max_notches
    assert max(moves) == allowed == 2 and min(moves) >= 1


def test_a_lower_senior_limit_and_one_notch_are_kept_by_the_history(fresh_db, settings_env):
    """The seed reads the governance settings as the console does: with a senior limit of
    50,000 yuan only the manager among the officers approves above it (a proposal of theirs
    above it goes back), and with one notch no override moves further."""
    settings_env(CONSOLE_CREDIT_OVERRIDE_SENIOR_LIMIT_YUAN=50_000,
                 CONSOLE_CREDIT_OVERRIDE_MAX_NOTCHES=1)
    engine = _superuser_engine(fresh_db)
    try:
        seed(engine=engine, scale="small", seed=DEMO_SEED, anchor=ANCHOR)
        decided = rows(engine, """
            SELECT o.approved_limit, o.decision_note, p.username AS proposer,
                   a.username AS approver, j.username AS rejecter,
                   abs(ops.credit_grade_rank(o.new_grade) - ops.credit_grade_rank(s.grade)) AS notches
            FROM ops.credit_overrides o
            JOIN ops.credit_scores s ON s.run_id = o.run_id AND s.merchant_id = o.merchant_id
            JOIN ops.staff p ON p.id = o.proposed_by
            LEFT JOIN ops.staff a ON a.id = o.approved_by
            LEFT JOIN ops.staff j ON j.id = o.rejected_by""")
    finally:
        engine.dispose()
    assert {r["notches"] for r in decided} == {1}
    above = [r for r in decided if r["approver"] and r["approved_limit"] > 50_000]
    below = [r for r in decided if r["approver"] and r["approved_limit"] <= 50_000]
    assert above and {r["approver"] for r in above} == {"lead1"}
    assert {r["approver"] for r in below} - {"lead1"}       # the others approve below it
    sent_back = [r for r in decided if r["decision_note"] == H.SENIOR_NOTE]
    assert all(r["proposer"] == "lead1" and r["rejecter"] != "lead1" for r in sent_back)
