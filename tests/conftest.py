"""Test databases on real PostgreSQL.

TEST_DATABASE_URL names a server (any database on it; the tests create their own).
Without it an embedded pgserver runs in `.pgdata-test`. Migrations build a template
database once per session; each test that asks for `engine` gets a fresh copy of it
(CREATE DATABASE … TEMPLATE), so tests never see each other's rows.
"""
from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine, make_url

from console import db
from console.auth import hash_password
from console.migrate import migrate
from console.roles import Actor
from console.settings import PROJECT_ROOT

TEST_PASSWORD = "correct-horse-battery"


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


@pytest.fixture(scope="session")
def admin_engine(server_url) -> Iterator[Engine]:
    engine = _admin_engine(server_url)
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


@pytest.fixture
def engine(fresh_db, monkeypatch) -> Iterator[Engine]:
    """The console's engine, pointed at this test's own database."""
    eng = db.make_engine(fresh_db)
    db.set_default_engine(eng)
    monkeypatch.setenv("DATABASE_URL", fresh_db)
    yield eng
    eng.dispose()
    db._engines.pop("default", None)


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
                {"u": username, "d": username.upper(), "h": hash_password(TEST_PASSWORD),
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
    """The console's engine on a fresh copy of the seeded small demo database."""
    name = f"t_{uuid.uuid4().hex[:12]}"
    _create_database(admin_engine, name, template=demo_template)
    url = make_url(server_url).set(database=name).render_as_string(hide_password=False)
    eng = db.make_engine(url)
    db.set_default_engine(eng)
    monkeypatch.setenv("DATABASE_URL", url)
    yield eng
    eng.dispose()
    db._engines.pop("default", None)
    _drop_database(admin_engine, name)
