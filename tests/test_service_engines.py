"""One engine per purpose (issue 18): pages with the statement timeout and a pool sized from
settings, jobs as dh_jobs without the pages' timeout but with a lock timeout, migrations as the
owner with a lock timeout. Checked on the server: what each engine's session says it is."""
from __future__ import annotations

import threading
import time

import pytest
import sqlalchemy as sa

from console import db
from console.migrate import MigrationError, migrate

SETTINGS = dict(CONSOLE_STATEMENT_TIMEOUT_MS=12345, CONSOLE_POOL_SIZE=7, CONSOLE_MAX_OVERFLOW=3,
                CONSOLE_JOBS_LOCK_TIMEOUT_MS=45000, CONSOLE_MIGRATE_LOCK_TIMEOUT_MS=800)


@pytest.fixture
def role_engines(engine, settings_env, monkeypatch):
    """Each role's engine as a deployment builds it: from the settings, with the migration
    URL derived from DATABASE_URL (so it signs in as dh_owner)."""
    monkeypatch.delenv("MIGRATE_DATABASE_URL")
    settings_env(**SETTINGS)
    db.forget_engines()
    engines = {role: db.get_engine(role=role) for role in db.ROLE_USERS}
    yield engines
    for eng in engines.values():
        eng.dispose()
    db.forget_engines()


def _session(eng) -> tuple[str, str, str]:
    with eng.connect() as conn:
        return tuple(conn.execute(sa.text(
            "SELECT current_user, current_setting('statement_timeout'), "
            "current_setting('lock_timeout')")).one())


def test_each_engine_has_its_role_and_limits(role_engines):
    assert {role: _session(eng) for role, eng in role_engines.items()} == {
        "console": ("dh_console", "12345ms", "0"),
        "readonly": ("dh_readonly", "12345ms", "0"),
        "jobs": ("dh_jobs", "0", "45s"),
        "owner": ("dh_owner", "0", "800ms"),
    }
    with role_engines["console"].connect() as conn:
        assert conn.execute(sa.text("SHOW statement_timeout")).scalar() == "12345ms"
    with role_engines["jobs"].connect() as conn:
        assert conn.execute(sa.text("SHOW lock_timeout")).scalar() == "45s"
    ui = role_engines["console"].pool
    assert (ui.size(), ui._max_overflow) == (7, 3)


def test_the_default_limits(engine, monkeypatch):
    monkeypatch.delenv("MIGRATE_DATABASE_URL")
    for name in SETTINGS:
        monkeypatch.delenv(name, raising=False)
    db.get_settings.cache_clear()
    db.forget_engines()
    try:
        engines = {role: db.get_engine(role=role) for role in ("console", "jobs", "owner")}
        assert {r: _session(e)[1:] for r, e in engines.items()} == {
            "console": ("30s", "0"), "jobs": ("0", "1min"), "owner": ("0", "10s")}
        assert (engines["console"].pool.size(), engines["console"].pool._max_overflow) == (5, 10)
    finally:
        for eng in engines.values():
            eng.dispose()
        db.forget_engines()


def test_a_migration_behind_a_staff_transaction_gives_up_after_the_lock_timeout(
        engine, role_engines, tmp_path):
    (tmp_path / "998_add_a_column.sql").write_text(
        "ALTER TABLE app.merchants ADD COLUMN nickname text;", encoding="utf-8")
    with engine.connect() as staff:  # a page's open transaction that read the table
        staff.execute(sa.text("SELECT count(*) FROM app.merchants"))
        started = time.monotonic()
        with pytest.raises(MigrationError, match="lock timeout"):
            migrate(engine=role_engines["owner"], directory=tmp_path, grants=None)
        waited = time.monotonic() - started
        staff.rollback()
    assert 0.7 < waited < 5
    with engine.connect() as conn:
        assert conn.execute(sa.text(
            "SELECT count(*) FROM public.schema_migrations WHERE version = 998")).scalar() == 0
    # Once the transaction ended, the same migration goes through as the owner.
    assert [m.version for m in migrate(engine=role_engines["owner"], directory=tmp_path,
                                       grants=None)] == [998]
    with engine.connect() as conn:
        assert conn.execute(sa.text(
            """SELECT tableowner FROM pg_tables
               WHERE schemaname = 'app' AND tablename = 'merchants'""")).scalar() == "dh_owner"


def test_a_second_migrator_waits_for_the_first_beyond_the_lock_timeout(engine, role_engines):
    """Two console processes started at once both migrate: the second waits on the migrators'
    advisory lock for as long as the first takes, not just the migrations' lock timeout."""
    from console.migrate import _LOCK_KEY

    holder = engine.connect()
    holder.execute(sa.text("SELECT pg_advisory_lock(:k)"), {"k": _LOCK_KEY})
    holder.commit()
    released = threading.Timer(2.0, lambda: (
        holder.execute(sa.text("SELECT pg_advisory_unlock(:k)"), {"k": _LOCK_KEY}),
        holder.commit()))
    released.start()
    started = time.monotonic()
    try:
        assert migrate(engine=role_engines["owner"]) == []
        waited = time.monotonic() - started
    finally:
        released.join()
        holder.close()
    assert waited >= 1.9
    with role_engines["owner"].connect() as conn:  # the pooled session keeps its own limit
        assert conn.execute(sa.text("SHOW lock_timeout")).scalar() == "800ms"


def test_the_suites_jobs_engine_is_a_jobs_engine(jobs_engine, console_engine):
    """Every test that runs a job runs it as production does: dh_jobs, no statement timeout."""
    assert _session(jobs_engine) == ("dh_jobs", "0", "1min")
    assert _session(console_engine) == ("dh_console", "30s", "0")
