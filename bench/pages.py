"""Page speed (issue 14): how long each page's data takes on its first load.

For every page of the navigation (console/ui/nav.py) the console runs (Streamlit's AppTest
on app.py, signed in as a typical person of the role the page is for: its section's role,
e.g. ops for the ops pages; the home page once per role) and switches to the page, and every
database connection that run opens is timed: the service calls the page makes, as it makes
them, plus what the console does on every page (the account check). What is not counted is
Streamlit's own work (widgets, charts).

- page_<url>_ms: that page's data time on a first load (cached answers cleared before each
  run, as for a person opening it in a new session); the median of PAGE_RUNS runs, with its
  ratio to the 150 ms target;
- page_ms_max: the slowest page, named; target <= 150 ms at the large scale (each page
  over it is printed with a flag, and its slowest calls).

BENCH_PAGES=leads,board (URL paths, comma-separated) measures only those pages, e.g. to
time one page again after a change: `BENCH_PAGES=leads python -m bench --scale large --reuse
pages`.

A page whose script stops before its data (an exception, a refusal or the console's error
message: any error box whose text is a catalogue error message) is reported as failed and
stops the bench: a figure for a page that showed an error would flatter it. An error box of
the page's own content (the validation report's failed calibration test) is not a failure.
"""
from __future__ import annotations

import logging
import os
import re
import statistics
import sys
import time
from collections import defaultdict
from contextlib import contextmanager
from functools import lru_cache
from typing import Any

from bench import _actors
from console import db
from console.ui import nav

PAGE_RUNS = 3
TARGET_MS = 150.0
# The role a page's section is for: the person who opens it first thing in the day.
SECTION_ROLE = {"nav.section.admin": "admin", "nav.section.ops": "ops", "nav.section.bd": "bd",
                "nav.section.risk": "risk", "nav.section.insight": "manager",
                "nav.section.data": "bd"}
ROLE_ORDER = ("ops", "bd", "risk", "manager", "admin")
_SKIP_FILES = ("contextlib.py", "/console/db.py", "/console/ui/__init__.py")


def role_for(spec: nav.PageSpec) -> str:
    role = SECTION_ROLE.get(spec.section)
    if role in spec.roles:
        return role
    return next(r for r in ROLE_ORDER if r in spec.roles)


class DataClock:
    """Times every database connection a page run opens (outermost ones only), by caller."""

    def __init__(self) -> None:
        self.calls: dict[str, float] = defaultdict(float)
        self._depth = 0
        self._originals: dict[str, Any] = {}

    def total_ms(self) -> float:
        return sum(self.calls.values())

    def reset(self) -> None:
        self.calls.clear()

    @staticmethod
    def _caller() -> str:
        frame = sys._getframe(2)
        while frame is not None:
            code = frame.f_code
            if code.co_name == "run_query" and "fn" in frame.f_locals:
                fn = frame.f_locals["fn"]
                return getattr(fn, "__qualname__", repr(fn))
            if not code.co_filename.endswith(_SKIP_FILES):
                label = frame.f_locals.get("name") if code.co_name == "cached" else None
                return f"{code.co_name}:{label}" if label else f"{code.co_name}"
            frame = frame.f_back
        return "?"

    def _timed(self, original):
        clock = self

        @contextmanager
        def opened(*args: Any, **kwargs: Any):
            if clock._depth:
                with original(*args, **kwargs) as conn:
                    yield conn
                return
            label = clock._caller()
            clock._depth += 1
            started = time.perf_counter()
            try:
                with original(*args, **kwargs) as conn:
                    yield conn
            finally:
                clock._depth -= 1
                clock.calls[label] += (time.perf_counter() - started) * 1000
        return opened

    @contextmanager
    def installed(self):
        for name in ("connection", "transaction"):
            self._originals[name] = getattr(db, name)
            setattr(db, name, self._timed(self._originals[name]))
        try:
            yield self
        finally:
            for name, original in self._originals.items():
                setattr(db, name, original)


def _open(actor):
    """The console (app.py) signed in as ``actor``, in Chinese, on its home page."""
    from streamlit.testing.v1 import AppTest

    from console.settings import PROJECT_ROOT
    at = AppTest.from_file(str(PROJECT_ROOT / "app.py"), default_timeout=300)
    at.session_state["staff_id"] = actor.id
    at.session_state["lang"] = "zh"
    return at.run()


@lru_cache(maxsize=1)
def _refusals() -> re.Pattern:
    """The console's own failure messages in Chinese: every catalogue text of an error key
    (``error.*``, ``*.error.*``: a refusal, the unexpected-error message, not signed in),
    its parameters matching anything."""
    from console.i18n import catalogue
    texts = [entry["zh"] for key, entry in catalogue().items()
             if key.startswith("error.") or ".error." in key]
    return re.compile("|".join(
        "".join(".*?" if part.startswith("{") else re.escape(part)
                for part in re.split(r"(\{[^}]*\})", text))
        for text in texts), re.S)


def _failed(at) -> list[str]:
    """What stopped the page: an exception, or an error message of the console's own (a
    refusal, a database failure). A page may show its content as an error box (the
    validation report's failed calibration test): that is what it is for, not a failure."""
    refusal = _refusals()
    return [e.value for e in at.exception] or [
        e.value for e in at.error if refusal.fullmatch(e.value.strip())]


def measure_page(clock: DataClock, actor, spec: nav.PageSpec, *,
                 query: dict[str, str] | None = None) -> tuple[list[float], dict[str, float]]:
    """Data milliseconds of PAGE_RUNS first loads of the page through the navigation (after
    one untimed load), and the calls of the median run. Each load is a new session that
    opens the console and then the page (on one record with ``query``, as a link to it
    carries: then a load that shows no record's figures is refused, not timed); only the
    page's run is timed, with every cached answer cleared before it."""
    import streamlit as st
    runs: list[tuple[float, dict[str, float]]] = []
    for n in range(PAGE_RUNS + 1):
        at = _open(actor)
        st.cache_data.clear()
        clock.reset()
        at.switch_page(spec.path)
        at.query_params.update(query or {})
        at.run()
        if _failed(at):
            raise RuntimeError(f"{spec.path} as {sorted(actor.roles)}: {_failed(at)[:2]}")
        if query and not at.metric:
            raise RuntimeError(f"{spec.path} {query}: no record shown")
        if n:
            runs.append((clock.total_ms(), dict(clock.calls)))
    median = statistics.median(ms for ms, _ in runs)
    calls = min(runs, key=lambda r: abs(r[0] - median))[1]
    return [ms for ms, _ in runs], calls


def _ensure_suggestions(ctx) -> None:
    """The lead pool and the boards read the stored match suggestions, which the scheduled
    rematch keeps (the matching area's full rematch commits them in a whole bench run). A
    database reused without them (e.g. only ``--reuse pages`` after a reload) would time a
    pool of bidding requests only: rematch once first, said so."""
    from datetime import datetime, timezone

    from console.services import matching
    with ctx.engine.connect() as conn:
        if db.scalar(conn, "SELECT EXISTS (SELECT 1 FROM ops.match_suggestions)"):
            return
    started = time.perf_counter()
    with ctx.engine.begin() as conn:
        conn.exec_driver_sql("SET LOCAL statement_timeout = 0")
        matching.rematch_full(conn=conn, top_k=5, as_of=datetime.now(timezone.utc))
        conn.exec_driver_sql("ANALYZE ops.match_suggestions")
    print(f"-- pages: no match suggestions stored; a full rematch first "
          f"({time.perf_counter() - started:.1f} s)", file=sys.stderr, flush=True)


def run(ctx) -> None:
    _ensure_suggestions(ctx)
    # AppTest runs the scripts without a server: Streamlit warns about it on every call.
    logging.getLogger("streamlit").setLevel(logging.ERROR)
    actors = {role: _actors.actor(ctx.engine, role) for role in ROLE_ORDER}
    slowest: tuple[float, str] = (0.0, "")
    over: list[str] = []
    only = {p.strip() for p in os.environ.get("BENCH_PAGES", "").split(",") if p.strip()}
    with DataClock().installed() as clock:
        for spec in nav.PAGES:
            if only and spec.url_path not in only:
                continue
            roles = sorted(spec.roles, key=ROLE_ORDER.index) if spec.url_path == "home" \
                else [role_for(spec)]
            for role in roles:
                name = f"page_{spec.url_path.replace('-', '_')}" + (f"_{role}" if len(roles) > 1 else "")
                runs, calls = measure_page(clock, actors[role], spec)
                value = statistics.median(runs)
                top = sorted(calls.items(), key=lambda kv: -kv[1])[:3]
                flag = value > TARGET_MS
                note = f"as {role}; {value / TARGET_MS:.2f}x the {TARGET_MS:g} ms target" \
                    + ("; OVER 150 ms" if flag else "") + "; slowest calls: " \
                    + ", ".join(f"{c} {ms:.0f} ms" for c, ms in top)
                ctx.report(f"{name}_ms", value, "ms", runs=runs, note=note)
                if flag:
                    over.append(f"{name} {value:.0f} ms")
                slowest = max(slowest, (value, name))
    ctx.report("page_ms_max", slowest[0], "ms",
               note=f"slowest page: {slowest[1]}; over {TARGET_MS:g} ms: "
                    + (", ".join(over) if over else "none"))
