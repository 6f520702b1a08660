"""Reads from a replica (issue 18), against a real streaming standby (tests/standby.py:
pg_basebackup -R of a primary of the test's own, the WAL receiver): with READ_DATABASE_URL
set, a dashboard is served from the standby, while a decision and the queue read after it
stay on the primary; the badge says how far the standby lags, and marks it stale.

Replay is paused on the standby (pg_wal_replay_pause) to tell the two servers apart: what
the primary wrote since is on the primary only, so a figure that misses it came from the
standby, and one that has it from the primary.
"""
from __future__ import annotations

import os
import time
from collections.abc import Iterator

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import URL

from console import db
from console.roles import Actor
from console.services import certification as cert
from console.services import replica
from console.services.trust_metrics import queue_metrics
from console.settings import get_settings
from tests import trust_rows as tr
from tests.conftest import TEST_PASSWORD, TEST_PASSWORD_HASH
from tests.standby import primary_with_standby, wait_for_replay


class Servers:
    def __init__(self, primary: URL, standby: URL) -> None:
        self.primary_url, self.standby_url = primary, standby
        self.primary = sa.create_engine(primary)                       # superuser
        self.standby = sa.create_engine(standby, isolation_level="AUTOCOMMIT")

    def pause(self) -> None:
        with self.standby.connect() as conn:
            conn.execute(sa.text("SELECT pg_wal_replay_pause()"))

    def resume(self) -> None:
        with self.standby.connect() as conn:
            conn.execute(sa.text("SELECT pg_wal_replay_resume()"))
        wait_for_replay(self.primary, self.standby)

    def received_not_replayed(self) -> None:
        """Until the standby has received all the primary wrote (replay still paused)."""
        with self.primary.connect() as conn:
            written = conn.execute(sa.text("SELECT pg_current_wal_lsn()")).scalar()
        deadline = time.monotonic() + 30
        with self.standby.connect() as conn:
            while not conn.execute(sa.text(
                    "SELECT pg_last_wal_receive_lsn() >= CAST(:w AS pg_lsn)"), {"w": written}).scalar():
                assert time.monotonic() < deadline, "the standby received nothing"
                time.sleep(0.1)

    def staff(self, username: str, *roles: str) -> Actor:
        with self.primary.begin() as conn:
            staff_id = conn.execute(sa.text(
                """INSERT INTO ops.staff (username, display_name, password_hash, roles)
                   VALUES (:u, :u, :h, :r) RETURNING id"""),
                {"u": username, "h": TEST_PASSWORD_HASH, "r": list(roles)}).scalar_one()
        return Actor(id=staff_id, username=username, display_name=username,
                     roles=frozenset(roles))


ENV = ("DATABASE_URL", "JOBS_DATABASE_URL", "READ_DATABASE_URL", "MIGRATE_DATABASE_URL",
       "READONLY_DATABASE_URL", "CONSOLE_REPLICA_STALE_SECONDS")


@pytest.fixture(scope="module")
def servers() -> Iterator[Servers]:
    """One primary and its standby for the module; the console pointed at them: pages as
    dh_console on the primary, the replica-marked reads as dh_console on the standby."""
    saved = {name: os.environ.get(name) for name in ENV}
    with primary_with_standby() as (primary_url, standby_url):
        os.environ["DATABASE_URL"] = primary_url.set(username="dh_console").render_as_string(
            hide_password=False)
        os.environ["JOBS_DATABASE_URL"] = primary_url.set(username="dh_jobs").render_as_string(
            hide_password=False)
        os.environ["READ_DATABASE_URL"] = standby_url.set(username="dh_console").render_as_string(
            hide_password=False)
        os.environ["MIGRATE_DATABASE_URL"] = primary_url.render_as_string(hide_password=False)
        os.environ.pop("READONLY_DATABASE_URL", None)
        get_settings.cache_clear()
        db.forget_engines()
        found = Servers(primary_url, standby_url)
        try:
            yield found
        finally:
            found.primary.dispose()
            found.standby.dispose()
            for engine in list(db._engines.values()):
                engine.dispose()
            db.forget_engines()
            for name, value in saved.items():
                if value is None:
                    os.environ.pop(name, None)
                else:
                    os.environ[name] = value
            get_settings.cache_clear()


@pytest.fixture
def world(servers) -> dict:
    """Two open certification cases, one held by ``ops``; all replayed on the standby."""
    suffix = f"{time.monotonic_ns() % 10**9}"
    ops = servers.staff(f"ops_{suffix}", "ops")
    manager = servers.staff(f"mgr_{suffix}", "manager")
    city = tr.city(servers.primary, name=f"杭州市{suffix}")
    merchant = tr.merchant(servers.primary, city_id=city)
    held = tr.cert(servers.primary, merchant_id=merchant, age_hours=5)
    other = tr.cert(servers.primary, merchant_id=merchant, age_hours=3)
    with db.transaction() as conn:
        cert.assign_case(conn=conn, actor=ops, case_id=held, version=1, assignee_id=ops.id)
    wait_for_replay(servers.primary, servers.standby)
    yield {"ops": ops, "manager": manager, "held": held, "other": other}
    servers.resume()
    with servers.primary.begin() as conn:   # the next test starts with no open case
        conn.execute(sa.text("UPDATE app.certifications SET status = 'approved', "
                             "decided_at = now() WHERE status IN ('pending', 'in_review')"))
    wait_for_replay(servers.primary, servers.standby)


def _open_cases(actor: Actor) -> int:
    """The queue-metrics dashboard's open cases, as its page reads them."""
    with db.connection() as conn:
        return queue_metrics(conn=conn, actor=actor).open_cases


def test_a_dashboard_is_served_from_the_standby_and_a_decision_and_its_queue_from_the_primary(
        servers, world):
    ops, manager = world["ops"], world["manager"]
    assert _open_cases(manager) == 2
    servers.pause()
    # The decision, as the page's run_action makes it: one transaction on the primary.
    with db.transaction() as conn:
        decided = cert.decide(conn=conn, actor=ops, case_id=world["held"], version=2,
                              decision="approve")
    assert decided.status == "approved"
    # Its queue, read right after: on the primary, the case is gone from it at once.
    with db.connection() as conn:
        queue = cert.list_queue(conn=conn, actor=ops)
    assert list(queue.rows["id"]) == [world["other"]]
    servers.received_not_replayed()
    # The dashboard: from the standby, whose replay is paused before the decision.
    assert _open_cases(manager) == 2
    # ... and on the primary the same figure already counts it.
    with db.primary_reads(), db.connection() as conn:
        assert queue_metrics(conn=conn, actor=manager).open_cases == 1
    servers.resume()
    assert _open_cases(manager) == 1


def test_reads_inside_a_unit_of_work_or_after_a_write_stay_on_the_primary(servers, world):
    ops, manager = world["ops"], world["manager"]
    servers.pause()
    with db.transaction() as conn:
        cert.decide(conn=conn, actor=ops, case_id=world["held"], version=2, decision="approve")
        # The same transaction: it reads its own uncommitted decision.
        assert queue_metrics(conn=conn, actor=manager).open_cases == 1
    with db.get_engine().connect() as conn:   # a plain connection that has written
        conn.execute(sa.text("UPDATE app.certifications SET assignee_id = NULL WHERE id = :id"),
                     {"id": world["other"]})
        assert queue_metrics(conn=conn, actor=manager).unassigned == 1
        conn.rollback()
    assert _open_cases(manager) == 2     # a plain read: the standby, paused before it all


def test_the_badge_measures_the_standby_and_marks_it_stale(servers, world):
    manager = world["manager"]
    with db.connection() as conn:
        lag = replica.replica_status(conn=conn, actor=manager)
    assert lag is not None and lag.seconds is not None and lag.seconds < 30
    assert (lag.threshold_seconds, lag.stale) == (30, False)

    os.environ["CONSOLE_REPLICA_STALE_SECONDS"] = "1"
    get_settings.cache_clear()
    try:
        servers.pause()
        with db.transaction() as conn:
            cert.decide(conn=conn, actor=world["ops"], case_id=world["held"], version=2,
                        decision="approve")
        servers.received_not_replayed()
        time.sleep(1.5)
        with db.connection() as conn:
            lag = replica.replica_status(conn=conn, actor=manager)
        assert lag.seconds >= 1.5 and lag.stale
        with db.primary_reads(), db.connection() as conn:   # the primary: no replica lag
            assert replica.replica_status(conn=conn, actor=manager) is None
    finally:
        os.environ.pop("CONSOLE_REPLICA_STALE_SECONDS", None)
        get_settings.cache_clear()


def test_the_dashboard_page_shows_the_lag_and_marks_a_stale_standby(servers, world):
    """The queue-metrics page as a manager sees it: its figure from the standby, and the
    badge above it saying how far behind that is."""
    from tests.apptest import app_as
    manager = world["manager"]
    at = app_as(manager, page="pages/ops_queue_metrics.py")
    [badge] = [m.value for m in at.markdown if "只读副本" in m.value]
    assert badge.startswith(":blue-badge[:material/sync: 只读副本 · 延迟 ")
    assert [m.value for m in at.metric][0] == "2"

    os.environ["CONSOLE_REPLICA_STALE_SECONDS"] = "1"
    get_settings.cache_clear()
    try:
        servers.pause()
        with db.transaction() as conn:
            cert.decide(conn=conn, actor=world["ops"], case_id=world["held"], version=2,
                        decision="approve")
        servers.received_not_replayed()
        time.sleep(2.1)
        at.run()
        [badge] = [m.value for m in at.markdown if "只读副本" in m.value]
        assert badge.startswith(":orange-badge[:material/sync_problem: 只读副本滞后 ")
        assert "（超过 1 秒）：数字可能不是最新" in badge
        assert [m.value for m in at.metric][0] == "2"    # the standby's figure, paused
        servers.resume()
        at.run()
        assert [m.value for m in at.metric][0] == "1"
    finally:
        os.environ.pop("CONSOLE_REPLICA_STALE_SECONDS", None)
        get_settings.cache_clear()


def _standby_cancels_me(*, conn, actor) -> str:
    """A read the standby cancels as it would for a recovery conflict (SQLSTATE 40001, raised
    by the server itself); on the primary it answers where it ran."""
    conn.execute(sa.text("""
        DO $$ BEGIN
            IF pg_is_in_recovery() THEN
                RAISE EXCEPTION 'canceling statement due to conflict with recovery'
                      USING ERRCODE = '40001';
            END IF;
        END $$"""))
    return "standby" if conn.execute(sa.text("SELECT pg_is_in_recovery()")).scalar() else "primary"


def test_a_read_the_standby_cancels_is_read_again_on_the_primary(servers, world, capsys):
    import json

    from console import roles
    probe = roles.requires("manager", replica=True)(_standby_cancels_me)
    roles.PROTECTED.pop(f"{__name__}._standby_cancels_me")   # a probe, not a service
    with db.connection() as conn:
        assert probe(conn=conn, actor=world["manager"]) == "primary"
    lines = [json.loads(l) for l in capsys.readouterr().err.splitlines() if l.startswith("{")]
    assert [(l["what"], l["level"], l["status"], l["error"]) for l in lines
            if l["what"].startswith("db.")] == [
        ("db.replica_conflict", "warning", "read_on_primary", "SerializationFailure")]
    broken = roles.requires("manager", replica=True)(_broken_read)
    roles.PROTECTED.pop(f"{__name__}._broken_read")
    with db.connection() as conn:      # any other error of the standby is the page's error
        with pytest.raises(sa.exc.ProgrammingError):
            broken(conn=conn, actor=world["manager"])
    assert "db.replica_conflict" not in capsys.readouterr().err


def _broken_read(*, conn, actor) -> None:
    conn.execute(sa.text("SELECT no_such_column FROM ops.staff"))
