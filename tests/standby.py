"""Real streaming standbys for tests of what reads from a replica (issue 18). pgserver ships
pg_basebackup and the WAL receiver: a standby is a base backup of a primary (-R writes its
primary_conninfo and standby.signal), started on a Unix socket of its own, stopped and deleted
when the block ends.

``primary_with_standby`` starts a small primary of its own (a fresh cluster with one migrated
database) and its standby: seconds, where a base backup of the whole test server copies every
database the suite holds at that moment (30 s and more for a few hundred MB under load).
``standby_of`` makes a standby of any local server, the test server included.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import URL, make_url

def _bin(name: str) -> str:
    import pgserver._commands as commands
    return str(commands.POSTGRES_BIN_PATH / name)


def _system_user() -> str | None:
    """pgserver runs its servers as 'pgserver' when started by root (PostgreSQL refuses root)."""
    return "pgserver" if os.geteuid() == 0 else None


def _run(args: list[str], **kwargs) -> None:
    user = _system_user()
    subprocess.run(args, check=True, capture_output=True, text=True, timeout=300,
                   **({"user": user} if user else {}), **kwargs)


@contextmanager
def standby_of(server_url: str) -> Iterator[URL]:
    """Yields the standby's URL (the server's superuser, database ``postgres``); take
    ``.set(database=…, username=…)`` for a role on a test's database."""
    primary = make_url(server_url)
    socket_dir = primary.query.get("host")
    if not socket_dir or not str(socket_dir).startswith("/"):
        pytest.skip("a standby needs the embedded test server (a local socket)")
    root = Path(tempfile.mkdtemp(prefix="standby_", dir="/tmp"))
    data = root / "data"
    user = _system_user()
    if user:
        shutil.chown(root, user=user)
    root.chmod(0o700)
    started = False
    try:
        _run([_bin("pg_basebackup"), "-D", str(data), "-R", "-X", "stream", "--checkpoint=fast",
              "-h", str(socket_dir), "-p", str(primary.port or 5432), "-U", primary.username])
        # Its own socket in its own folder; the primary's settings otherwise.
        _run([_bin("pg_ctl"), "-D", str(data), "-w", "-t", "60", "-l", str(root / "log"),
              "-o", f'-h "" -k {root} -p {primary.port or 5432}', "start"])
        started = True
        url = primary.set(query={"host": str(root)}, database="postgres")
        engine = sa.create_engine(url)
        try:
            deadline = time.monotonic() + 60
            while True:
                try:
                    with engine.connect() as conn:
                        if conn.execute(sa.text("SELECT pg_is_in_recovery()")).scalar():
                            break
                except sa.exc.OperationalError:
                    pass
                if time.monotonic() > deadline:
                    raise RuntimeError("the standby did not accept connections in 60 s")
                time.sleep(0.5)
        finally:
            engine.dispose()
        yield url
    finally:
        if started:
            try:
                _run([_bin("pg_ctl"), "-D", str(data), "-m", "immediate", "-w", "stop"])
            except subprocess.CalledProcessError:
                pass
        shutil.rmtree(root, ignore_errors=True)


def wait_for_replay(primary: sa.Engine, standby: sa.Engine, timeout: float = 30) -> None:
    """Until the standby has replayed everything the primary had written when called."""
    with primary.connect() as conn:
        target = conn.execute(sa.text("SELECT pg_current_wal_lsn()")).scalar()
    deadline = time.monotonic() + timeout
    while True:
        with standby.connect() as conn:
            if conn.execute(sa.text("SELECT pg_last_wal_replay_lsn() >= CAST(:t AS pg_lsn)"),
                            {"t": target}).scalar():
                return
        if time.monotonic() > deadline:
            raise RuntimeError(f"the standby did not replay up to {target} in {timeout} s")
        time.sleep(0.1)


@contextmanager
def primary_with_standby(database: str = "dealerhub") -> Iterator[tuple[URL, URL]]:
    """A fresh primary with ``database`` migrated (roles, grants) and a streaming standby of
    it; yields both URLs as the primary's superuser on ``database``."""
    import pgserver

    from console.migrate import migrate

    root = Path(tempfile.mkdtemp(prefix="primary_", dir="/tmp"))
    try:
        with pgserver.get_server(root / "data", cleanup_mode="delete") as server:
            base = make_url(server.get_uri().replace("postgresql://", "postgresql+psycopg2://", 1))
            admin = sa.create_engine(base, isolation_level="AUTOCOMMIT")
            try:
                with admin.connect() as conn:
                    conn.exec_driver_sql(f'CREATE DATABASE "{database}"')
            finally:
                admin.dispose()
            primary = base.set(database=database)
            owner = sa.create_engine(primary)
            try:
                migrate(engine=owner)
            finally:
                owner.dispose()
            with standby_of(primary.render_as_string(hide_password=False)) as standby:
                yield primary, standby.set(database=database)
    finally:
        shutil.rmtree(root, ignore_errors=True)
