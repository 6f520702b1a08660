"""Test databases on real PostgreSQL.

TEST_DATABASE_URL names a server (any database on it; the tests create their own).
Without it an embedded pgserver runs in `.pgdata-test`. Migrations build a template
database once per session; each test that asks for `engine` gets a fresh copy of it
(CREATE DATABASE … TEMPLATE), so tests never see each other's rows.

Database roles (migration 060): `engine` and `demo_engine` connect as the server's
superuser, which the tests use to insert fixture rows and run jobs. The console itself, on
the same database, connects as dh_console (`db.get_engine()`, `console_engine`) and the
jobs' engine as dh_jobs (`db.get_engine(role="jobs")`, `jobs_engine`). And whichever
connection a test hands a gated service, the service runs as dh_console
(`services_run_as_console`): every service call of the suite has the console's privileges
only, so a missing grant fails the service's own tests.
"""
from __future__ import annotations

import functools
import importlib
import os
import pkgutil
import sys
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
import sqlalchemy as sa
from argon2 import PasswordHasher
from sqlalchemy.engine import Connection, Engine, make_url

import console.services
from console import db
from console.migrate import migrate
from console.roles import PROTECTED, Actor
from console.settings import PROJECT_ROOT, get_settings
import tests.apptest  # noqa: F401,E402  every AppTest runs the app as served (serve_as_launched)

TEST_PASSWORD = "correct-horse-battery"
# The staff the tests make sign in with TEST_PASSWORD against this hash: argon2id like the
# console's own (console/auth.py verifies it by the parameters the hash carries), at the
# lowest cost instead of the console's 64 MiB and three passes, 0.25 s a hash here. Hashed
# once: the suite makes thousands of staff and signs in hundreds of times. The console's own
# hashing (console.auth.hash_password, its parameters) is tested in tests/test_auth.py.
TEST_PASSWORD_HASH = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1).hash(TEST_PASSWORD)


def _server_url() -> str:
    url = os.environ.get("TEST_DATABASE_URL")
    if url:
        return url.replace("postgresql://", "postgresql+psycopg2://", 1)
    return db.embedded_url(PROJECT_ROOT / ".pgdata-test")


def _admin_engine(server_url: str) -> Engine:
    return sa.create_engine(make_url(server_url).set(database="postgres"),
                            isolation_level="AUTOCOMMIT")


def _create_database(admin: Engine, name: str, template: str | None = None) -> None:
    with admin.connect() as conn:
        tpl = f' TEMPLATE "{template}"' if template else ""
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"{tpl}')


def _drop_database(admin: Engine, name: str) -> None:
    with admin.connect() as conn:
        conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="session")
def server_url() -> str:
    return _server_url()


# The embedded test cluster (.pgdata-test) holds nothing worth a crash: its databases are
# copies made and dropped per test. Without fsync and full-page writes a copy of the migrated
# template (CREATE DATABASE … TEMPLATE, thousands per run) writes to the page cache instead
# of waiting on the disk. A server named by TEST_DATABASE_URL is left as its owner set it.
_THROWAWAY_CLUSTER = ("ALTER SYSTEM SET fsync = off", "ALTER SYSTEM SET full_page_writes = off",
                      "ALTER SYSTEM SET synchronous_commit = off", "SELECT pg_reload_conf()")


@pytest.fixture(scope="session")
def admin_engine(server_url) -> Iterator[Engine]:
    engine = _admin_engine(server_url)
    if not os.environ.get("TEST_DATABASE_URL"):
        with engine.connect() as conn:
            for statement in _THROWAWAY_CLUSTER:
                conn.exec_driver_sql(statement)
    yield engine
    engine.dispose()


@pytest.fixture(scope="session")
def template_db(server_url, admin_engine) -> Iterator[str]:
    """A migrated, empty database that each test copies."""
    name = f"tpl_{uuid.uuid4().hex[:10]}"
    _create_database(admin_engine, name)
    engine = sa.create_engine(make_url(server_url).set(database=name))
    migrate(engine=engine)
    engine.dispose()
    yield name
    _drop_database(admin_engine, name)


@pytest.fixture
def fresh_db(server_url, admin_engine, template_db) -> Iterator[str]:
    """URL of a new database copied from the migrated template."""
    name = f"t_{uuid.uuid4().hex[:12]}"
    _create_database(admin_engine, name, template=template_db)
    yield make_url(server_url).set(database=name).render_as_string(hide_password=False)
    _drop_database(admin_engine, name)


def _superuser_engine(url: str) -> Engine:
    eng = db.make_engine(url)

    @sa.event.listens_for(eng, "checkin")
    def _back_to_superuser(dbapi_conn, _record):
        # A service that failed inside `services_run_as_console` may leave its connection as
        # dh_console; the pool must hand out the superuser again.
        try:
            with dbapi_conn.cursor() as cur:
                cur.execute("RESET ROLE")
            dbapi_conn.commit()
        except Exception:  # a broken connection is discarded by the pool anyway
            pass

    return eng


@contextmanager
def _console_roles(url: str, monkeypatch) -> Iterator[None]:
    """Point the console (dh_console) and the jobs (dh_jobs) at the database ``url``."""
    console = db.make_engine(db.with_user(url, db.ROLE_USERS["console"]))
    jobs = db.make_engine(db.with_user(url, db.ROLE_USERS["jobs"]), purpose="jobs")
    db.set_default_engine(console)
    db.set_default_engine(jobs, role="jobs")
    monkeypatch.setenv("DATABASE_URL", db.with_user(url, db.ROLE_USERS["console"]))
    monkeypatch.setenv("JOBS_DATABASE_URL", db.with_user(url, db.ROLE_USERS["jobs"]))
    monkeypatch.setenv("READONLY_DATABASE_URL", db.with_user(url, db.ROLE_USERS["readonly"]))
    monkeypatch.setenv("MIGRATE_DATABASE_URL", url)
    get_settings.cache_clear()   # db.role_url() reads these through the settings
    try:
        yield
    finally:
        console.dispose()
        jobs.dispose()
        db.forget_engines()
        get_settings.cache_clear()


@pytest.fixture
def engine(fresh_db, monkeypatch) -> Iterator[Engine]:
    """The superuser's engine on this test's own database (the console: dh_console on it)."""
    eng = _superuser_engine(fresh_db)
    with _console_roles(fresh_db, monkeypatch):
        yield eng
        eng.dispose()


def _test_database_engine(request) -> Engine:
    """The database of this test: the demo copy when the test asks for it, else its own."""
    name = "demo_engine" if "demo_engine" in request.fixturenames else "engine"
    return request.getfixturevalue(name)


@pytest.fixture
def console_engine(request) -> Engine:
    """dh_console on the test's database (`engine` or `demo_engine`): what the console uses."""
    _test_database_engine(request)
    return db.get_engine()


@pytest.fixture
def jobs_engine(request) -> Engine:
    """dh_jobs on the test's database (`engine` or `demo_engine`): what the jobs use."""
    _test_database_engine(request)
    return db.get_engine(role="jobs")


@functools.cache
def _gated_services() -> list[tuple[object, str]]:
    """(module, name) of every gated service function (console.roles.PROTECTED)."""
    for info in pkgutil.walk_packages(console.services.__path__, "console.services."):
        if not info.name.endswith("__main__"):
            importlib.import_module(info.name)
    found = []
    for qualname in PROTECTED:
        module_name, _, name = qualname.rpartition(".")
        module = sys.modules.get(module_name)
        if module is not None and hasattr(getattr(module, name, None), "allowed_roles"):
            found.append((module, name))
    return found


def _as_console(fn):
    """Run ``fn`` as dh_console on the connection it is handed (SET ROLE: the superuser's
    session may take the role and give it back), once, however deeply services nest."""
    @functools.wraps(fn)
    def call(*args, **kwargs):
        conn = kwargs.get("conn")
        if (not isinstance(conn, Connection) or conn.info.get("as_console")
                or conn.engine.url.username == db.ROLE_USERS["console"]):
            return fn(*args, **kwargs)
        conn.exec_driver_sql(f"SET ROLE {db.ROLE_USERS['console']}")
        conn.info["as_console"] = True
        try:
            return fn(*args, **kwargs)
        finally:
            conn.info.pop("as_console", None)
            try:
                conn.exec_driver_sql("RESET ROLE")
            except sa.exc.DBAPIError:
                pass  # the transaction failed: its rollback undoes the SET ROLE
    return call


@pytest.fixture(autouse=True)
def services_run_as_console(monkeypatch) -> None:
    for module, name in _gated_services():
        monkeypatch.setattr(module, name, _as_console(getattr(module, name)))


@pytest.fixture
def settings_env() -> Iterator:
    """Configure the console as a deployment does: ``settings_env(CONSOLE_LEAD_CAP=4)`` sets
    the environment and has the settings read again. The gated services take no limits or
    clocks from their callers, so this is how a test chooses them. The environment and the
    settings are restored after the test (here, not by monkeypatch: nothing may read the
    settings in between and keep the test's values)."""
    saved: dict[str, str | None] = {}

    def _set(**env: object) -> None:
        for name, value in env.items():
            saved.setdefault(name, os.environ.get(name))
            os.environ[name] = str(value)
        get_settings.cache_clear()

    yield _set
    for name, value in saved.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value
    get_settings.cache_clear()


@pytest.fixture
def make_actor(engine):
    """Create a staff account with the given roles; returns its Actor."""
    counter = iter(range(1, 10_000))

    def _make(*roles: str, username: str | None = None) -> Actor:
        username = username or f"{'_'.join(roles) or 'none'}{next(counter)}"
        with engine.begin() as conn:
            staff_id = conn.execute(sa.text(
                """INSERT INTO ops.staff (username, display_name, password_hash, roles)
                   VALUES (:u, :d, :h, :r) RETURNING id"""),
                {"u": username, "d": username.upper(), "h": TEST_PASSWORD_HASH,
                 "r": list(roles)}).scalar_one()
        return Actor(id=staff_id, username=username, display_name=username.upper(),
                     roles=frozenset(roles))

    return _make


DEMO_SEED = 11


@pytest.fixture(scope="session")
def demo_template(server_url, admin_engine, template_db) -> Iterator[str]:
    """A migrated database seeded once per session with the small demo data."""
    from console.demo import seed

    name = f"demo_{uuid.uuid4().hex[:10]}"
    _create_database(admin_engine, name, template=template_db)
    engine = db.make_engine(make_url(server_url).set(database=name).render_as_string(hide_password=False))
    seed(engine=engine, scale="small", seed=DEMO_SEED)
    engine.dispose()
    yield name
    _drop_database(admin_engine, name)


@pytest.fixture
def demo_engine(server_url, admin_engine, demo_template, monkeypatch) -> Iterator[Engine]:
    """The superuser's engine on a fresh copy of the seeded small demo database (the
    console: dh_console on it)."""
    name = f"t_{uuid.uuid4().hex[:12]}"
    _create_database(admin_engine, name, template=demo_template)
    url = make_url(server_url).set(database=name).render_as_string(hide_password=False)
    eng = _superuser_engine(url)
    with _console_roles(url, monkeypatch):
        yield eng
        eng.dispose()
    _drop_database(admin_engine, name)
