"""Reads from a replica (issue 18), when there is none or it cannot be reached: the
replica-marked reads stay on the primary, the badge shows nothing, and an unreachable
standby is one warning line in the log, not an error on the page."""
from __future__ import annotations

import json

import sqlalchemy as sa
from sqlalchemy.engine import make_url

from console import db
from console.services import replica
from console.services.trust_metrics import queue_metrics
from tests import trust_rows as tr


def _one_open_case(engine) -> None:
    city = tr.city(engine)
    tr.cert(engine, merchant_id=tr.merchant(engine, city_id=city), age_hours=2)


def test_without_a_replica_the_dashboards_read_the_primary(engine, make_actor):
    _one_open_case(engine)
    manager = make_actor("manager")
    assert db.replica_engine() is None
    with db.connection() as conn:
        assert queue_metrics(conn=conn, actor=manager).open_cases == 1
        assert replica.replica_status(conn=conn, actor=manager) is None


def test_an_unreachable_replica_falls_back_to_the_primary(engine, make_actor, settings_env,
                                                          monkeypatch, capsys):
    _one_open_case(engine)
    manager = make_actor("manager")
    gone = make_url(engine.url).set(database="no_such_replica", username="dh_console",
                                    password="s3cret-replica")
    settings_env(READ_DATABASE_URL=gone.render_as_string(hide_password=False))
    assert db.replica_engine() is not None
    with db.connection() as conn:
        assert queue_metrics(conn=conn, actor=manager).open_cases == 1
        assert replica.replica_status(conn=conn, actor=manager) is None
    err = capsys.readouterr().err
    lines = [json.loads(l) for l in err.splitlines() if l.startswith("{")]
    fallbacks = [l for l in lines if l["what"] == "db.replica_unavailable"]
    # Tried once: the second read within REPLICA_RETRY_AFTER_S went to the primary directly.
    assert [(l["level"], l["status"], l["error"], l["role"]) for l in fallbacks] == [
        ("warning", "fallback", "OperationalError", "dh_console")]
    assert "s3cret-replica" not in err
    monkeypatch.setattr(db, "_replica_down_until", 0.0)   # the retry time has come
    with db.connection() as conn:
        assert queue_metrics(conn=conn, actor=manager).open_cases == 1
    err = capsys.readouterr().err
    assert err.count('"what": "db.replica_unavailable"') == 1


def test_a_replica_that_is_a_primary_is_read_and_says_no_lag(engine, make_actor, settings_env):
    """READ_DATABASE_URL at a server that is no standby (a mistake, or a promoted one): the
    reads go there and the badge says nothing, rather than a lag it cannot measure."""
    _one_open_case(engine)
    manager = make_actor("manager")
    settings_env(READ_DATABASE_URL=make_url(engine.url).set(username="dh_console")
                 .render_as_string(hide_password=False))
    with db.connection() as conn:
        assert queue_metrics(conn=conn, actor=manager).open_cases == 1
        assert replica.replica_status(conn=conn, actor=manager) is None
    with db.replica_engine().connect() as conn:
        assert conn.execute(sa.text("SELECT current_user")).scalar() == "dh_console"


def test_a_written_connection_is_marked_until_its_transaction_ends(console_engine, make_actor):
    """What keeps a caller's reads on its own connection after it wrote: the mark lasts as
    long as the transaction, through a commit, a rollback or the pool taking it back."""
    _ = make_actor("ops")
    for end in ("commit", "rollback", "close"):
        conn = console_engine.connect()
        conn.execute(sa.text("SELECT count(*) FROM ops.staff"))
        assert not db.has_written(conn)
        conn.execute(sa.text("UPDATE ops.staff SET display_name = display_name"))
        assert db.has_written(conn)
        if end == "close":
            raw = conn.connection.dbapi_connection
            conn.close()
            with console_engine.connect() as again:   # the same pooled connection, unmarked
                assert again.connection.dbapi_connection is raw
                assert not db.has_written(again)
        else:
            getattr(conn, end)()
            assert not db.has_written(conn)
            conn.close()
