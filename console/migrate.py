"""Forward-only migrations from ``sql/migrations/NNN_name.sql``.

Each file runs in its own transaction (PostgreSQL DDL is transactional), so a failing
migration leaves the schema as it was. Applied versions are recorded with a checksum;
applying twice is a no-op. An advisory lock keeps two migrators from racing.

Once migration 060 has created the roles, each migration runs as ``dh_owner`` (SET ROLE),
so whatever it creates belongs to the owner and not to the superuser or person who ran
it. After every run, ``sql/grants.sql`` sets the privileges of the login roles afresh.
"""
from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from console.settings import PROJECT_ROOT

MIGRATION_DIR = PROJECT_ROOT / "sql" / "migrations"
GRANTS_FILE = PROJECT_ROOT / "sql" / "grants.sql"
OWNER_ROLE = "dh_owner"
_NAME = re.compile(r"^(\d{3})_([a-z0-9_]+)\.sql$")
_LOCK_KEY = 7_310_001  # arbitrary constant shared by every migrator


class MigrationError(RuntimeError):
    pass


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    path: Path

    @property
    def sql(self) -> str:
        return self.path.read_text(encoding="utf-8")

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.sql.encode()).hexdigest()


def discover(directory: Path = MIGRATION_DIR) -> list[Migration]:
    found = []
    for path in sorted(directory.glob("*.sql")):
        m = _NAME.match(path.name)
        if not m:
            raise MigrationError(f"bad migration file name: {path.name}")
        found.append(Migration(int(m.group(1)), m.group(2), path))
    versions = [m.version for m in found]
    if len(versions) != len(set(versions)):
        raise MigrationError("two migrations share a version number")
    return found


def _ensure_table(conn: sa.Connection) -> None:
    # Checked first: dh_owner, which migrates once the roles exist, owns the table but may
    # not create in public, and CREATE TABLE IF NOT EXISTS asks for that right all the same.
    if conn.execute(sa.text("SELECT to_regclass('public.schema_migrations')")).scalar():
        return
    conn.execute(sa.text(
        """CREATE TABLE IF NOT EXISTS public.schema_migrations (
               version    integer PRIMARY KEY,
               name       text NOT NULL,
               checksum   text NOT NULL,
               applied_at timestamptz NOT NULL DEFAULT now())"""))


def applied_versions(conn: sa.Connection) -> dict[int, str]:
    _ensure_table(conn)
    rows = conn.execute(sa.text("SELECT version, checksum FROM public.schema_migrations"))
    return {r.version: r.checksum for r in rows}


def migrate(*, engine: Engine, directory: Path = MIGRATION_DIR,
            grants: Path | None = GRANTS_FILE) -> list[Migration]:
    """Apply pending migrations in order, then the grants; return the migrations applied now.

    ``engine`` connects as a superuser or as a member of dh_owner (MIGRATE_DATABASE_URL).
    """
    applied_now: list[Migration] = []
    with engine.connect() as lock_conn:
        # A second migrator waits for the first however long it takes; the migration engine's
        # lock_timeout (console/db.py) is for the migrations' own table locks, not this one.
        lock_conn.execute(sa.text("SET lock_timeout = 0"))
        lock_conn.execute(sa.text("SELECT pg_advisory_lock(:k)"), {"k": _LOCK_KEY})
        try:
            with engine.begin() as conn:
                done = applied_versions(conn)
            for mig in discover(directory):
                if mig.version in done:
                    if done[mig.version] != mig.checksum:
                        raise MigrationError(
                            f"migration {mig.path.name} changed after it was applied; "
                            "add a new migration instead")
                    continue
                try:
                    _apply(engine, mig)
                except Exception as exc:  # the transaction rolled back: schema unchanged
                    raise MigrationError(f"{mig.path.name} failed, nothing applied: {exc}") from exc
                applied_now.append(mig)
            if grants is not None:
                apply_grants(engine, grants)
        finally:
            lock_conn.execute(sa.text("SELECT pg_advisory_unlock(:k)"), {"k": _LOCK_KEY})
            lock_conn.execute(sa.text("RESET lock_timeout"))
            lock_conn.commit()
    return applied_now


def _as_owner(conn: sa.Connection) -> bool:
    """SET LOCAL ROLE dh_owner once migration 060 has run on this database (dh_owner owns
    the schemas) and the connected user may become it. Before that, the connected user (a
    superuser) creates the objects and 060 hands them to dh_owner."""
    can = conn.execute(sa.text(
        """SELECT CASE WHEN r.oid IS NULL THEN false
                       ELSE n.nspowner = r.oid AND pg_has_role(session_user, r.oid, 'MEMBER') END
           FROM pg_namespace n LEFT JOIN pg_roles r ON r.rolname = :r
           WHERE n.nspname = 'ops'"""), {"r": OWNER_ROLE}).scalar()
    if can:
        conn.exec_driver_sql(f"SET LOCAL ROLE {OWNER_ROLE}")
    return bool(can)


def _run_script(conn: sa.Connection, sql: str) -> None:
    # Raw DBAPI cursor: the file is many statements and may hold '%'.
    with conn.connection.cursor() as cur:
        cur.execute(sql)


def _apply(engine: Engine, mig: Migration) -> None:
    with engine.begin() as conn:
        _as_owner(conn)
        _run_script(conn, mig.sql)
        conn.execute(sa.text(
            "INSERT INTO public.schema_migrations (version, name, checksum) "
            "VALUES (:v, :n, :c)"), {"v": mig.version, "n": mig.name, "c": mig.checksum})


def apply_grants(engine: Engine, path: Path = GRANTS_FILE) -> None:
    """The login roles' privileges, afresh and in one transaction (idempotent).

    Run as the connected user, not SET ROLE dh_owner: a superuser's GRANT on the owner's
    objects is recorded as the owner's, and only a superuser may also revoke CREATE on the
    public schema and grant the jobs pg_read_all_stats (the file warns when it cannot)."""
    with engine.begin() as conn:
        if not conn.execute(sa.text("SELECT EXISTS (SELECT FROM pg_roles WHERE rolname = :r)"),
                            {"r": OWNER_ROLE}).scalar():
            return  # no roles yet: a database migrated only up to before 060
        _run_script(conn, path.read_text(encoding="utf-8"))
