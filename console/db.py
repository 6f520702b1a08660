"""The one database gateway: a lazily created engine, parameterised SQL, DataFrames out.

Without DATABASE_URL an embedded PostgreSQL (pgserver) is started in the project's
git-ignored data folder and reused across runs. Values never go into SQL text: every
statement here takes bound parameters, and no engine ever puts them into an error message
(``hide_parameters``): a failed statement's values may be a password hash or a phone number,
and Streamlit writes tracebacks to the server log.

Each part of the system connects as its own database role (migration 060, README
"Database roles"): the console as dh_console (``get_engine()``), the scheduled jobs as
dh_jobs (``get_engine(role="jobs")``), dashboards as dh_readonly, migrations as the owner;
and each engine has the limits of its purpose (``PURPOSES``: pages, jobs, migrations).

Reads from a replica (README "Reads from a replica"): with READ_DATABASE_URL set, a gated
service marked ``@requires(..., replica=True)`` (a dashboard or a read-only page) runs its
body on a connection of the streaming standby (``replica_reads``). Everything else stays on
the primary: every write, the account check of every call, and every read inside
``transaction()`` or ``primary_reads()``, or on a connection that has written in its open
transaction, so a decision and the queue read after it see the same database. Where the
standby cannot be reached, the read falls back to the primary (and says so in the log).
"""
from __future__ import annotations

import contextvars
import logging
import re
import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path
from typing import Any

import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine, make_url

from console.settings import PROJECT_ROOT, get_settings

QUERY_DIR = PROJECT_ROOT / "sql" / "queries"
_engine_lock = threading.Lock()
_engines: dict[str, Engine] = {}

# The database login role of each part of the system.
ROLE_USERS = {"console": "dh_console", "jobs": "dh_jobs", "readonly": "dh_readonly",
              "owner": "dh_owner"}


def embedded_url(pgdata: Path) -> str:
    """Start (or join) the embedded server in ``pgdata`` and return its SQLAlchemy URL."""
    import pgserver  # imported here: only needed without DATABASE_URL

    pgdata.mkdir(parents=True, exist_ok=True)
    # cleanup_mode=None keeps the server running for other processes (tests, ETL, UI).
    server = pgserver.get_server(pgdata, cleanup_mode=None)
    return server.get_uri().replace("postgresql://", "postgresql+psycopg2://", 1)


def _with_driver(url: str) -> str:
    if url.startswith("postgresql://"):
        url = url.replace("postgresql://", "postgresql+psycopg2://", 1)
    return url


def database_url() -> str:
    """The base URL: DATABASE_URL, or else the embedded server's (as its superuser)."""
    settings = get_settings()
    if settings.database_url:
        return _with_driver(settings.database_url)
    return embedded_url(settings.pgdata_dir)


def with_user(url: str, user: str) -> str:
    """``url`` signing in as ``user``, without the base URL's password (it is not theirs)."""
    # URL.set() cannot clear a field (None means "keep"): _replace can.
    return make_url(url)._replace(username=user, password=None).render_as_string(
        hide_password=False)


def role_url(role: str = "console") -> str:
    """The URL ``role`` connects with: its own variable (DATABASE_URL, JOBS_DATABASE_URL,
    MIGRATE_DATABASE_URL, READONLY_DATABASE_URL) or, when unset, the base URL with the
    role's user name. Derived URLs carry no password: they work where the server trusts the
    local socket or reads ~/.pgpass (the embedded server does); a deployment with passwords
    sets each variable. Without DATABASE_URL the console, jobs and dashboards still use
    their roles on the embedded server, and its superuser migrates."""
    if role not in ROLE_USERS:
        raise ValueError(f"unknown database role {role!r}; known: {', '.join(ROLE_USERS)}")
    settings = get_settings()
    explicit = {"console": settings.database_url, "jobs": settings.jobs_database_url,
                "owner": settings.migrate_database_url,
                "readonly": settings.readonly_database_url}[role]
    if explicit:
        return _with_driver(explicit)
    if role == "owner" and not settings.database_url:
        return database_url()
    return with_user(database_url(), ROLE_USERS[role])


# What each engine is for, and so its limits (README "Running it for real"):
#   ui       - the console's pages: the statement timeout, a pool sized from settings;
#   jobs     - scheduled jobs: no statement timeout (a full ETL or rematch runs minutes), a
#              lock_timeout so a job stuck behind a lock fails and is retried next run;
#   migrate  - migrations: no statement timeout, a short lock_timeout, so an ALTER TABLE
#              queued behind a long transaction gives up instead of stalling every page.
PURPOSES = ("ui", "jobs", "migrate")
ROLE_PURPOSES = {"console": "ui", "readonly": "ui", "jobs": "jobs", "owner": "migrate"}


def _session_options(purpose: str) -> dict[str, int]:
    settings = get_settings()
    if purpose == "ui":
        return {"statement_timeout": settings.statement_timeout_ms}
    if purpose == "jobs":
        return {"statement_timeout": 0, "lock_timeout": settings.jobs_lock_timeout_ms}
    if purpose == "migrate":
        return {"statement_timeout": 0, "lock_timeout": settings.migrate_lock_timeout_ms}
    raise ValueError(f"unknown engine purpose {purpose!r}; known: {', '.join(PURPOSES)}")


def make_engine(url: str, *, purpose: str = "ui", connect_timeout: int | None = None) -> Engine:
    """An engine with the limits of ``purpose``; ``connect_timeout`` (seconds) for callers
    that must answer soon even when the server is gone (the health check)."""
    settings = get_settings()
    options = " ".join(f"-c {name}={value}" for name, value in _session_options(purpose).items())
    extra = {"connect_timeout": connect_timeout} if connect_timeout else {}
    engine = sa.create_engine(
        url,
        pool_pre_ping=True,
        pool_size=settings.pool_size if purpose == "ui" else 5,
        max_overflow=settings.max_overflow if purpose == "ui" else 10,
        # Errors show the statement, never its bound values (see the module's docstring).
        hide_parameters=True,
        # Every session runs in UTC-agnostic timestamptz, shown in Shanghai time.
        connect_args={"options": f"{options} -c timezone=Asia/Shanghai", **extra},
    )
    _log_slow_statements(engine, purpose)
    _track_writes(engine)
    return engine


# ---------------------------------------------------------------- which statements wrote
# A statement's command tag ("INSERT 0 1", "UPDATE 3", "SELECT 5") says whether it wrote.
_WRITE_TAG = re.compile(r"^(INSERT|UPDATE|DELETE|MERGE|COPY FROM)\b")
_WROTE = "console_wrote"     # Connection.info key: this connection wrote in its open transaction
# The gated calls in progress in this context (console/roles.py): each cell is marked when a
# statement of the call writes, so its log line can tell a decision from a read.
_write_cells: contextvars.ContextVar[tuple[dict, ...]] = contextvars.ContextVar(
    "console_write_cells", default=())


def _track_writes(engine: Engine) -> None:
    @sa.event.listens_for(engine, "after_cursor_execute")
    def _wrote(conn, cursor, statement, parameters, context, executemany):
        tag = getattr(cursor, "statusmessage", None) or ""
        if _WRITE_TAG.match(tag):
            conn.info[_WROTE] = True
            for cell in _write_cells.get():
                cell["wrote"] = True

    @sa.event.listens_for(engine, "commit")
    def _committed(conn):
        conn.info.pop(_WROTE, None)

    @sa.event.listens_for(engine, "rollback")
    def _rolled_back(conn):
        conn.info.pop(_WROTE, None)

    @sa.event.listens_for(engine, "checkin")
    def _returned(dbapi_conn, record):   # the pool rolled back whatever was left open
        record.info.pop(_WROTE, None)


@contextmanager
def watch_writes() -> Iterator[dict]:
    """A cell that says, once the block ends, whether any statement in it wrote a row
    (``cell["wrote"]``): the service log tells decisions from reads by it."""
    cell = {"wrote": False}
    token = _write_cells.set((*_write_cells.get(), cell))
    try:
        yield cell
    finally:
        _write_cells.reset(token)


def has_written(conn: object) -> bool:
    """Whether ``conn`` wrote in the transaction it has open (its reads must stay on it)."""
    return isinstance(conn, Connection) and bool(conn.info.get(_WROTE))


# ---------------------------------------------------------------- reads from a replica
# "primary": this context reads its own writes (a unit of work, primary_reads());
# "replica": a replica-marked service body is running on the standby.
_reads_from: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "console_reads_from", default=None)
REPLICA_CONNECT_TIMEOUT_S = 3
# After the standby could not be reached, reads go to the primary for this long before it is
# tried again: a standby that is down costs one connect timeout, not one per page.
REPLICA_RETRY_AFTER_S = 30.0
_replica_down_until = 0.0


def replica_engine() -> Engine | None:
    """The streaming standby's engine (READ_DATABASE_URL, or one a test set with
    ``set_default_engine(engine, role="replica")``), or None without a replica."""
    with _engine_lock:
        if "replica" in _engines:
            return _engines["replica"]
    url = get_settings().read_database_url
    if not url:
        return None
    with _engine_lock:
        if "replica" not in _engines:
            # A short connect timeout: a page whose standby is gone falls back to the
            # primary in seconds instead of waiting for the driver's default.
            _engines["replica"] = make_engine(_with_driver(url), purpose="ui",
                                              connect_timeout=REPLICA_CONNECT_TIMEOUT_S)
        return _engines["replica"]


# SQLSTATEs of a query a hot standby cancelled for a conflict with its recovery.
RECOVERY_CONFLICT_CODES = frozenset({"40001", "40P01"})


def is_recovery_conflict(err: BaseException) -> bool:
    """Whether ``err`` is the standby cancelling a read for its recovery (a read-only query
    there can fail with a serialization failure or deadlock for no other reason)."""
    code = getattr(getattr(err, "orig", None), "pgcode", None)
    return isinstance(err, sa.exc.DBAPIError) and code in RECOVERY_CONFLICT_CODES


def reads_pinned_to_primary() -> bool:
    return _reads_from.get() == "primary"


def on_replica() -> bool:
    """Whether the code running now reads from the standby (a replica-marked service)."""
    return _reads_from.get() == "replica"


@contextmanager
def primary_reads() -> Iterator[None]:
    """Every read in the block stays on the primary, replica-marked services too: for a
    caller that must see what it has just written (a decision, then its queue)."""
    token = _reads_from.set("primary")
    try:
        yield
    finally:
        _reads_from.reset(token)


@contextmanager
def replica_reads(offered: object = None) -> Iterator[Connection | None]:
    """A connection of the standby for a read-only service body, or None when the body must
    keep ``offered``: no replica configured, reads pinned to the primary, already on the
    replica, ``offered`` wrote in its open transaction, or the standby cannot be reached
    (then the body reads the primary, one log line says so, and the standby is not tried again
    for REPLICA_RETRY_AFTER_S)."""
    global _replica_down_until
    engine = replica_engine()
    if (engine is None or _reads_from.get() is not None or has_written(offered)
            or (isinstance(offered, Connection) and offered.engine is engine)
            or time.monotonic() < _replica_down_until):
        yield None
        return
    try:
        conn = engine.connect()
    except sa.exc.DBAPIError as err:
        from console import logs
        _replica_down_until = time.monotonic() + REPLICA_RETRY_AFTER_S
        logs.event("db.replica_unavailable", level=logging.WARNING, status="fallback",
                   error=type(getattr(err, "orig", None) or err).__name__,
                   role=engine.url.username)
        yield None
        return
    token = _reads_from.set("replica")
    try:
        with conn:
            yield conn
    finally:
        _reads_from.reset(token)


def _log_slow_statements(engine: Engine, purpose: str) -> None:
    """A statement slower than CONSOLE_SLOW_QUERY_MS writes one JSON line (console/logs.py):
    its SQL text, how long, the role and the engine's purpose; never its bound values."""
    from console import logs

    role = engine.url.username

    @sa.event.listens_for(engine, "before_cursor_execute")
    def _started(conn, cursor, statement, parameters, context, executemany):
        if context is not None:
            context._console_started = time.perf_counter()

    def _done(context, statement: str, status: str, error: str | None = None) -> None:
        started = getattr(context, "_console_started", None)
        if started is None:
            return
        ms = (time.perf_counter() - started) * 1000
        if ms >= get_settings().slow_query_ms:
            logs.event("db.slow_query", level=logging.WARNING, ms=ms, status=status,
                       error=error, role=role, purpose=purpose, statement=statement)

    @sa.event.listens_for(engine, "after_cursor_execute")
    def _finished(conn, cursor, statement, parameters, context, executemany):
        _done(context, statement, "ok")

    @sa.event.listens_for(engine, "handle_error")
    def _failed(exception_context):  # a statement cancelled by its timeout was slow, too
        if exception_context.execution_context is not None:
            _done(exception_context.execution_context, exception_context.statement or "",
                  "failed", type(exception_context.original_exception).__name__)


def _engine_key(role: str) -> str:
    return "default" if role == "console" else role


def get_engine(url: str | None = None, *, role: str = "console") -> Engine:
    """The engine of ``role`` (the console's by default), created on first use."""
    key = url or _engine_key(role)
    with _engine_lock:
        if key not in _engines:
            _engines[key] = make_engine(url or role_url(role), purpose=ROLE_PURPOSES[role])
        return _engines[key]


def set_default_engine(engine: Engine, *, role: str = "console") -> None:
    """Tests point the whole console (or one role) at their own database."""
    with _engine_lock:
        _engines[_engine_key(role)] = engine


def forget_engines() -> None:
    """Drop every cached engine (tests, after disposing of their own)."""
    global _replica_down_until
    with _engine_lock:
        _engines.clear()
        _replica_down_until = 0.0


@contextmanager
def transaction(*, role: str = "console") -> Iterator[Connection]:
    """One unit of work: commits on success, rolls back on any exception. Its reads stay on
    the primary (it may read what it wrote), replica-marked services included."""
    with primary_reads(), get_engine(role=role).begin() as conn:
        yield conn


@contextmanager
def connection(*, role: str = "console") -> Iterator[Connection]:
    """A connection of ``role``'s engine; the console's is the standby's while a
    replica-marked service body runs (``on_replica``)."""
    if role == "console" and on_replica():
        with replica_engine().connect() as conn:
            yield conn
        return
    with get_engine(role=role).connect() as conn:
        yield conn


@lru_cache(maxsize=256)
def named_query(name: str) -> str:
    """Text of ``sql/queries/<name>.sql``."""
    return (QUERY_DIR / f"{name}.sql").read_text(encoding="utf-8")


def fetch_df(conn: Connection, sql: str, /, **params: Any) -> pd.DataFrame:
    result = conn.execute(sa.text(sql), params)
    # Plain tuples: pandas reads SQLAlchemy Row objects item by item, ~4x slower on big pages.
    return pd.DataFrame([tuple(row) for row in result], columns=list(result.keys()))


def fetch_all(conn: Connection, sql: str, /, **params: Any) -> list[Mapping[str, Any]]:
    return [row._mapping for row in conn.execute(sa.text(sql), params)]


def fetch_one(conn: Connection, sql: str, /, **params: Any) -> Mapping[str, Any] | None:
    row = conn.execute(sa.text(sql), params).first()
    return row._mapping if row is not None else None


def scalar(conn: Connection, sql: str, /, **params: Any) -> Any:
    return conn.execute(sa.text(sql), params).scalar()


def execute(conn: Connection, sql: str, /, **params: Any) -> int:
    """Run a statement; returns the affected row count."""
    return conn.execute(sa.text(sql), params).rowcount
