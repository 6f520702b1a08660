"""Backups (issue 18): pg_dump as the owner, pg_restore into an empty database as a superuser,
round trip on real PostgreSQL with pgserver's own binaries. Every row comes back, the audit
log's hash chain verifies with the same head and the same times, owners and privileges are
kept."""
from __future__ import annotations

import subprocess
import uuid

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import make_url

from console import db
from console.audit import verify_chain, write_audit


def _tool(name: str) -> str:
    import pgserver._commands as commands
    return str(commands.POSTGRES_BIN_PATH / name)


def _libpq(url) -> list[str]:
    """Connection options for the command-line tools (socket folder, port, user, database)."""
    url = make_url(url)
    host = url.query.get("host") or url.host
    args = ["-h", str(host), "-U", url.username, "-d", url.database]
    return args + (["-p", str(url.port)] if url.port else [])


def _counts(engine) -> dict[str, int]:
    with engine.connect() as conn:
        tables = conn.execute(sa.text(
            """SELECT format('%I.%I', schemaname, tablename) FROM pg_tables
               WHERE schemaname IN ('app', 'ops', 'mart', 'etl', 'fin', 'public') ORDER BY 1""")).scalars().all()
        return {t: conn.execute(sa.text(f"SELECT count(*) FROM {t}")).scalar_one() for t in tables}


def _facts(engine) -> dict:
    with engine.connect() as conn:
        chain = verify_chain(conn)
        owners = conn.execute(sa.text(
            """SELECT DISTINCT pg_get_userbyid(c.relowner) FROM pg_class c
               JOIN pg_namespace n ON n.oid = c.relnamespace
               WHERE n.nspname IN ('app', 'ops', 'mart', 'etl', 'fin')""")).scalars().all()
        grants = conn.execute(sa.text(
            """SELECT has_table_privilege('dh_console', 'ops.audit_log', 'INSERT'),
                      has_table_privilege('dh_console', 'ops.audit_log', 'UPDATE'),
                      has_table_privilege('dh_jobs', 'ops.staff', 'SELECT'),
                      has_table_privilege('dh_readonly', 'mart.daily_kpis', 'SELECT')""")).one()
        audit = conn.execute(sa.text(
            "SELECT id, at, row_hash FROM ops.audit_log ORDER BY id")).all()
    return {"intact": chain.intact, "rows": chain.rows, "head": chain.head_hash,
            "owners": sorted(owners), "grants": tuple(grants), "audit": audit}


@pytest.fixture
def empty_database(server_url, admin_engine):
    name = f"restore_{uuid.uuid4().hex[:10]}"
    with admin_engine.connect() as conn:
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    url = make_url(server_url).set(database=name)
    yield url
    with admin_engine.connect() as conn:
        conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def test_a_dump_restores_every_row_and_the_same_audit_chain(demo_engine, console_engine,
                                                             empty_database, tmp_path):
    with console_engine.begin() as conn:   # a staff decision after the seed, in the chain
        write_audit(conn=conn, actor_id=None, action="test.backup", entity_type="x",
                    entity_id=1, reason="before the backup")
    before, facts_before = _counts(demo_engine), _facts(demo_engine)
    assert facts_before["intact"] and facts_before["rows"] >= 1

    dump = tmp_path / "dealerhub.dump"
    owner_url = make_url(demo_engine.url).set(username="dh_owner")  # the owner reads it all
    subprocess.run([_tool("pg_dump"), "-Fc", "-f", str(dump), *_libpq(owner_url)],
                   check=True, capture_output=True, timeout=300)
    # As a superuser (it creates schemas owned by dh_owner), in one transaction: a failed
    # restore leaves an empty database. Triggers are made after the data is loaded, so the
    # audit chain's trigger does not relink the restored rows.
    subprocess.run([_tool("pg_restore"), "--exit-on-error", "--single-transaction",
                    *_libpq(empty_database), str(dump)],
                   check=True, capture_output=True, timeout=600)

    restored = db.make_engine(empty_database.render_as_string(hide_password=False))
    try:
        assert _counts(restored) == before
        facts_after = _facts(restored)
        assert facts_after == facts_before
        assert facts_after["owners"] == ["dh_owner"]
        assert facts_after["grants"] == (True, False, False, True)
    finally:
        restored.dispose()
