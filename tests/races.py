"""Concurrent calls for the race tests: each call in its own thread and connection, released
together by a barrier, with an engine whose pool lets every thread hold a connection at once
(the console's own pool stops at 15, which would queue the 16th caller instead of racing it).
"""
from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from console import db
from console.errors import ConsoleError

Call = tuple[Callable[..., Any], dict[str, Any]]


def at_once(calls: Sequence[Callable[[], Any]], *, timeout: float = 120) -> list[Any]:
    """Run each call in its own thread, all released together by a barrier. Returns one
    outcome per call, in order: its value, or the exception it raised (for the test to
    assert on), or None when it did not finish within ``timeout``."""
    barrier = threading.Barrier(len(calls))
    outcomes: list[Any] = [None] * len(calls)

    def worker(i: int, fn: Callable[[], Any]) -> None:
        barrier.wait()
        try:
            outcomes[i] = fn()
        except Exception as err:  # noqa: BLE001 - handed to the test, which asserts on it
            outcomes[i] = err

    threads = [threading.Thread(target=worker, args=(i, fn)) for i, fn in enumerate(calls)]
    for th in threads:
        th.start()
    for th in threads:
        th.join(timeout=timeout)
    return outcomes


@contextmanager
def wide_engine(url: str, connections: int) -> Iterator[Engine]:
    """The console's engine (dh_console) on the test's database, for ``connections`` racers,
    set as the console's default until the block ends.

    Twice as many connections: each racer's transaction, plus the one the role gate
    (console.roles.requires) reads the caller's account with while that transaction is open.
    """
    eng = sa.create_engine(db.with_user(url, db.ROLE_USERS["console"]),
                           pool_size=connections, max_overflow=connections,
                           connect_args={"options": "-c timezone=Asia/Shanghai"})
    previous = db.get_engine()
    db.set_default_engine(eng)
    try:
        yield eng
    finally:
        db.set_default_engine(previous)
        eng.dispose()


def race(engine: Engine, calls: Sequence[Call], *, timeout: float = 120) -> list[tuple[str, Any]]:
    """Run each ``fn(conn=…, **kwargs)`` in its own transaction, all released at once.

    Returns one outcome per call, in order: ("ok", value), ("refused", (error class name,
    catalogue key)) for the console's own errors, or ("crash", repr) for anything else,
    which a test should treat as a failure (a raw DeadlockDetected, say).
    """
    barrier = threading.Barrier(len(calls))
    results: list[tuple[str, Any]] = [("crash", "did not finish")] * len(calls)

    def worker(i: int, fn: Callable[..., Any], kwargs: dict[str, Any]) -> None:
        with engine.connect() as warm:      # connect before the barrier, not inside the race
            warm.close()
        barrier.wait()
        try:
            with engine.begin() as conn:
                results[i] = ("ok", fn(conn=conn, **kwargs))
        except ConsoleError as err:
            results[i] = ("refused", (type(err).__name__, err.key))
        except Exception as exc:  # noqa: BLE001 - reported to the test, which fails on it
            results[i] = ("crash", repr(exc))

    threads = [threading.Thread(target=worker, args=(i, fn, kw))
               for i, (fn, kw) in enumerate(calls)]
    for th in threads:
        th.start()
    for th in threads:
        th.join(timeout=timeout)
    return results
