"""The one database gateway: a lazily created engine, parameterised SQL, DataFrames out.

Without DATABASE_URL an embedded PostgreSQL (pgserver) is started in the project's
git-ignored data folder and reused across runs. Values never go into SQL text: every
statement here takes bound parameters.
"""
from __future__ import annotations

import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path
from typing import Any

import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from console.settings import PROJECT_ROOT, get_settings

QUERY_DIR = PROJECT_ROOT / "sql" / "queries"
_engine_lock = threading.Lock()
_engines: dict[str, Engine] = {}


def embedded_url(pgdata: Path) -> str:
    """Start (or join) the embedded server in ``pgdata`` and return its SQLAlchemy URL."""
    import pgserver  # imported here: only needed without DATABASE_URL

    pgdata.mkdir(parents=True, exist_ok=True)
    # cleanup_mode=None keeps the server running for other processes (tests, ETL, UI).
    server = pgserver.get_server(pgdata, cleanup_mode=None)
    return server.get_uri().replace("postgresql://", "postgresql+psycopg2://", 1)


def database_url() -> str:
    settings = get_settings()
    if settings.database_url:
        url = settings.database_url
        if url.startswith("postgresql://"):
            url = url.replace("postgresql://", "postgresql+psycopg2://", 1)
        return url
    return embedded_url(settings.pgdata_dir)


def make_engine(url: str) -> Engine:
    timeout = get_settings().statement_timeout_ms
    return sa.create_engine(
        url,
        pool_pre_ping=True,
        pool_size=5,
        max_overflow=10,
        # Every session runs in UTC-agnostic timestamptz, shown in Shanghai time.
        connect_args={"options": f"-c statement_timeout={timeout} -c timezone=Asia/Shanghai"},
    )


def get_engine(url: str | None = None) -> Engine:
    key = url or "default"
    with _engine_lock:
        if key not in _engines:
            _engines[key] = make_engine(url or database_url())
        return _engines[key]


def set_default_engine(engine: Engine) -> None:
    """Tests point the whole console at their own database."""
    with _engine_lock:
        _engines["default"] = engine


@contextmanager
def transaction() -> Iterator[Connection]:
    """One unit of work: commits on success, rolls back on any exception."""
    with get_engine().begin() as conn:
        yield conn


@contextmanager
def connection() -> Iterator[Connection]:
    with get_engine().connect() as conn:
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
