"""Structured logs: one JSON object per line on standard error (journald, docker and cron's
`2>&1` collect it), for the jobs, the service commands and slow statements.

Each line says who (a staff id and username, or "system"), what (the action or job) and how
long it took in ms, e.g.

    {"ts": "2026-12-04T08:15:02.118Z", "level": "info", "what": "job.etl", "who": "system",
     "ms": 8123, "status": "ok"}

What a line may carry is a fixed list of fields (``FIELDS``): never a statement's bound
values, a password, a token, a phone or ID number, an error's message (a unique violation's
message quotes the row's values) - an error is logged by its class name only. Free text that
does go in (a statement's SQL text) is scrubbed of anything shaped like a mainland mobile
or resident ID number all the same.
"""
from __future__ import annotations

import contextvars
import json
import logging
import re
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timezone
from typing import Any

LOGGER_NAME = "console.events"

# The only fields a line may hold besides ts and level; anything else is dropped.
FIELDS = ("what", "who", "staff_id", "username", "ms", "status", "error", "job", "role",
          "purpose", "statement", "applied", "count")

_COMMENT = re.compile(r"--[^\n]*")   # a line comment (a '--' inside a literal is rare in ours)
_PHONE = re.compile(r"(?<!\d)1[3-9]\d{9}(?!\d)")
_ID_NUMBER = re.compile(r"(?<![\dA-Za-z])\d{17}[\dXx](?![\dA-Za-z])")

# Who the current work is done for: set around a staff member's call or a job.
_who: contextvars.ContextVar[dict[str, Any]] = contextvars.ContextVar(
    "console_log_who", default={"who": "system"})


def scrub(text: str) -> str:
    """``text`` without anything shaped like a phone or ID number."""
    return _ID_NUMBER.sub("[id]", _PHONE.sub("[phone]", text))


class _StderrLines(logging.Handler):
    """Writes to whatever sys.stderr is when the line is written (a test's capture, too)."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            sys.stderr.write(self.format(record) + "\n")
            sys.stderr.flush()
        except Exception:  # noqa: BLE001 - logging never breaks the work it describes
            self.handleError(record)


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        event = getattr(record, "event", None) or {"what": record.getMessage()}
        line = {"ts": datetime.fromtimestamp(record.created, timezone.utc)
                .isoformat(timespec="milliseconds").replace("+00:00", "Z"),
                "level": record.levelname.lower()}
        line.update({k: event[k] for k in FIELDS if k in event and event[k] is not None})
        return json.dumps(line, ensure_ascii=False, default=str)


def threshold() -> int:
    """The level CONSOLE_LOG_LEVEL names (debug, info, warning, error); info when unknown."""
    from console.settings import get_settings
    level = logging.getLevelName(get_settings().log_level.upper())
    return level if isinstance(level, int) else logging.INFO


def logger() -> logging.Logger:
    log = logging.getLogger(LOGGER_NAME)
    if not any(isinstance(h, _StderrLines) for h in log.handlers):
        handler = _StderrLines()
        handler.setFormatter(JsonFormatter())
        log.addHandler(handler)
        log.setLevel(logging.DEBUG)   # event() filters by CONSOLE_LOG_LEVEL, read each time
        log.propagate = False  # Streamlit's or a root handler would print it a second time
    return log


def event(what: str, *, level: int = logging.INFO, **fields: Any) -> None:
    """Write one line: ``what`` and the allowed ``fields``, after the current ``who``; none
    below the level CONSOLE_LOG_LEVEL names."""
    if level < threshold():
        return
    line = {**_who.get(), **fields, "what": what}
    if isinstance(line.get("statement"), str):
        # The SQL itself, not the comment block many queries open with (it filled the
        # 1,000 characters kept before the statement began).
        sql = _COMMENT.sub("", line["statement"])
        line["statement"] = scrub(" ".join(sql.split()))[:1000]
    if isinstance(line.get("ms"), float):
        line["ms"] = round(line["ms"])
    logger().log(level, what, extra={"event": line})


@contextmanager
def acting_as(*, staff_id: int | None = None, username: str | None = None) -> Iterator[None]:
    """Lines written inside the block (a service call, its slow statements) name this person."""
    who = ({"who": f"staff:{staff_id}", "staff_id": staff_id, "username": username}
           if staff_id is not None else {"who": "system"})
    token = _who.set(who)
    try:
        yield
    finally:
        _who.reset(token)


@contextmanager
def timed(what: str, **fields: Any) -> Iterator[dict[str, Any]]:
    """One line when the block ends: ``what``, how long, status ok or failed (with the
    error's class name only). The block may add fields (counts) to the yielded dict."""
    extra: dict[str, Any] = {}
    started = time.perf_counter()
    try:
        yield extra
    except Exception as err:
        event(what, level=logging.ERROR, ms=(time.perf_counter() - started) * 1000,
              status="failed", error=type(err).__name__, **fields, **extra)
        raise
    event(what, ms=(time.perf_counter() - started) * 1000, status=extra.pop("status", "ok"),
          **fields, **extra)
