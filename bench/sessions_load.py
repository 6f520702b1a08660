"""Sessions under load (issue 18): N staff signed in at once, each working through the
console as a person does, over Streamlit's own websocket protocol (bench/_streamlit_client.py),
first on one console process, then on two behind a sticky proxy.

The database: a demo-scale world (console.demo, ``--scale demo``, anchored today) after one
run of the system jobs, with SESSIONS_MAX bench staff accounts (``bench_load_NN``) and the
demo's deal cards shared out among the bench's BD accounts. It is built once as the template
``bench_sessions_tpl`` (rebuilt when it is from another day) and every measured run works on
its own fresh copy (``bench_sessions_run``), so each level starts from the same data and the
decisions of one level do not use up the next one's queue. It never touches the database the
other areas measure, whatever ``--scale``.

Each session is one person: a sign-in cookie from a server-side session
(console.sessions.open_session, as a browser coming back the next morning holds one) on its
websocket, then, after a think time of THINK_S seconds (uniform) before every step, round
and round until the level's SECONDS are up:

- ops (two sessions in five): the certification queue, the listing-review queue, then a real
  decision on a listing flag: take the next flag, choose "clear", choose the first reason,
  decide (four page times; the flag is cleared in the database, audited);
- BD (two in five): their deal board (their share of the demo's cards), the car-source
  search page, a search by a brand (a choice in the brand box, which runs the search), the
  growth page;
- manager (one in five): the growth page, the team's deal board, the queue metrics.

Every session's first page is its home page. A page time is from the message that asks
for the page (a navigation, a click, a choice) to the end of the last script run it causes
(a click that reruns the page counts both runs): what a person waits for before the page
stops changing, less the browser's drawing. The bench's own websocket clients run on the
same machine, in this process: their work is part of what the 2 cores share.

Figures (information, no targets):
- sessions_p50_ms_N / sessions_p95_ms_N: N sessions on one console process;
- sessions_2proc_p50_ms_N / sessions_2proc_p95_ms_N: the same on two console processes behind
  a sticky proxy, sticky by the sign-in cookie since every bench session comes from
  127.0.0.1: nginx with the deploy config (deploy/nginx/console.conf, addresses changed, no
  TLS: bench/_nginx.py) when nginx is installed, its own processes; otherwise
  bench/_sticky_proxy.py, a small Python stand-in for it running in this process. Each
  level's note names the proxy and the sessions each process held (nginx spreads cookies by
  a hash, not evenly at a few sessions: 2/1 of 3 in one run; the stand-in by fewest held);
- sessions_served_p95_1s (and sessions_2proc_served_p95_1s): the most sessions, of the levels
  measured, one process (two) served with a p95 of 1 s or less and no error.
Each level's note: how many pages, errors (st.error boxes, exceptions, no answer), the
decisions made (counted again in the database: they must agree), the p50 per step, and the
machine's load average.

BENCH_SESSIONS_LEVELS=10,25,50, BENCH_SESSIONS_SECONDS=90, BENCH_SESSIONS_THINK=2,8 and
BENCH_SESSIONS_PROCESSES=1,2 change what is measured:
`BENCH_SESSIONS_LEVELS=10 BENCH_SESSIONS_SECONDS=30 python -m bench sessions_load`.
`python -m bench.sessions_load` measures this area alone, without loading the bench
database of the other areas.
"""
from __future__ import annotations

import asyncio
import contextlib
import os
import random
import resource
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import sqlalchemy as sa
import websockets
from sqlalchemy.engine import Engine, make_url

from bench._nginx import NginxProxy, nginx_binary
from bench._sticky_proxy import StickyProxy
from bench._streamlit_client import Page, ProtocolError, Session
from console import db
from console.roles import Actor

TEMPLATE = "bench_sessions_tpl"
RUN_DB = "bench_sessions_run"
SESSIONS_MAX = 50
MIX = ("ops", "bd", "ops", "bd", "manager")   # the role of session slot i: MIX[i % 5]
DEMO_SEED = 7
P95_BUDGET_MS = 1000.0


def _env_list(name: str, default: str, kind=int) -> list:
    return [kind(v) for v in (os.environ.get(name) or default).split(",") if v.strip()]


def settings() -> dict:
    think = _env_list("BENCH_SESSIONS_THINK", "2,8", float)
    return {"levels": _env_list("BENCH_SESSIONS_LEVELS", "10,25,50"),
            "seconds": float(os.environ.get("BENCH_SESSIONS_SECONDS") or 90),
            "think": (think[0], think[-1]),
            "processes": _env_list("BENCH_SESSIONS_PROCESSES", "1,2")}


def role_of(slot: int) -> str:
    return MIX[slot % len(MIX)]


# ------------------------------------------------------------------ the database
def _admin(base_url: str) -> Engine:
    return sa.create_engine(make_url(base_url).set(database="postgres"),
                            isolation_level="AUTOCOMMIT")


def _url(base_url: str, name: str) -> str:
    return make_url(base_url).set(database=name).render_as_string(hide_password=False)


def _template_day(admin: Engine) -> str | None:
    with admin.connect() as conn:
        return conn.execute(sa.text("""
            SELECT shobj_description(d.oid, 'pg_database') FROM pg_database d
            WHERE d.datname = :n"""), {"n": TEMPLATE}).scalar()


def build_template(base_url: str, *, echo=print) -> None:
    """The demo world the sessions work on, once a day (see the module's docstring)."""
    from console import jobs
    from console.demo import seed
    from console.demo.model import today_anchor
    from console.migrate import migrate

    admin = _admin(base_url)
    today = date.today().isoformat()
    try:
        if _template_day(admin) == f"sessions template {today}":
            return
        started = time.perf_counter()
        with admin.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{TEMPLATE}" WITH (FORCE)')
            conn.exec_driver_sql(f'CREATE DATABASE "{TEMPLATE}"')
        engine = db.make_engine(_url(base_url, TEMPLATE))
        # Code that picks its role's engine (the jobs' steps, @requires reading the account)
        # must reach the template too, not the database the other areas measure.
        kept = dict(db._engines)
        for role in db.ROLE_USERS:
            db.set_default_engine(engine, role=role)
        try:
            migrate(engine=engine)
            seed(engine=engine, scale="demo", seed=DEMO_SEED, anchor=today_anchor())
            jobs.run_all(engine=engine, echo=lambda _: None)
            with engine.begin() as conn:
                _bench_staff(conn)
        finally:
            with db._engine_lock:
                db._engines.clear()
                db._engines.update(kept)
            engine.dispose()
        with admin.connect() as conn:
            conn.exec_driver_sql(f"COMMENT ON DATABASE \"{TEMPLATE}\" IS "
                                 f"'sessions template {today}'")
        echo(f"  sessions: demo-scale template built in {time.perf_counter() - started:.0f} s")
    finally:
        admin.dispose()


def _bench_staff(conn) -> None:
    """SESSIONS_MAX staff accounts (no usable password: they come in with a server-side
    session), and the demo's deal cards shared out among the BD ones."""
    for slot in range(SESSIONS_MAX):
        db.execute(conn, """INSERT INTO ops.staff (username, display_name, password_hash, roles)
                            VALUES (:u, :d, 'x', ARRAY[:r])""",
                   u=f"bench_load_{slot:02d}", d=f"压测{slot:02d}", r=role_of(slot))
    db.execute(conn, """
        WITH bds AS (SELECT id, row_number() OVER (ORDER BY id) - 1 AS n, count(*) OVER () AS k
                     FROM ops.staff WHERE username LIKE 'bench_load_%' AND 'bd' = ANY (roles))
        UPDATE ops.matches m SET owner_id = bds.id
        FROM bds WHERE m.owner_id IS NOT NULL AND bds.n = m.id % bds.k""")
    conn.exec_driver_sql("ANALYZE ops.matches")


def fresh_copy(base_url: str) -> str:
    """A new copy of the template for one measured run; its URL (the server's superuser)."""
    admin = _admin(base_url)
    try:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{RUN_DB}" WITH (FORCE)')
            # A copy needs the template to itself: no pool left open on it.
            conn.execute(sa.text("""SELECT pg_terminate_backend(pid) FROM pg_stat_activity
                                    WHERE datname = :n AND pid <> pg_backend_pid()"""),
                         {"n": TEMPLATE})
            conn.exec_driver_sql(f'CREATE DATABASE "{RUN_DB}" TEMPLATE "{TEMPLATE}"')
    finally:
        admin.dispose()
    return _url(base_url, RUN_DB)


def drop_copy(base_url: str) -> None:
    admin = _admin(base_url)
    try:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{RUN_DB}" WITH (FORCE)')
    finally:
        admin.dispose()


def open_tokens(url: str, count: int) -> list[tuple[str, str]]:
    """(role, token) of the first ``count`` bench accounts: a server-side session each."""
    from console import sessions
    engine = db.make_engine(url)
    try:
        with engine.connect() as conn:
            rows = db.fetch_all(conn, """SELECT id, username, display_name, roles, session_epoch
                                         FROM ops.staff WHERE username LIKE 'bench_load_%'
                                         ORDER BY username LIMIT :n""", n=count)
        out = []
        for row in rows:
            actor = Actor(id=row["id"], username=row["username"],
                          display_name=row["display_name"], roles=frozenset(row["roles"]),
                          session_epoch=row["session_epoch"])
            token, _ = sessions.open_session(engine=engine, actor=actor, ip="127.0.0.1",
                                             user_agent="dealerhub-bench/1")
            out.append((role_of(len(out)), token))
        return out
    finally:
        engine.dispose()


def decisions_in_db(url: str) -> int:
    engine = db.make_engine(url)
    try:
        with engine.connect() as conn:
            return db.scalar(conn, """SELECT count(*) FROM ops.listing_flags f
                                      JOIN ops.staff s ON s.id = f.decided_by
                                      WHERE s.username LIKE 'bench_load_%'""")
    finally:
        engine.dispose()


# ------------------------------------------------------------------ console processes
def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def console_processes(url: str, count: int, *,
                      log_dir: str) -> Iterator[tuple[list[str], list[int]]]:
    """``count`` console processes (`python -m console serve`'s Streamlit part, as
    deploy/systemd/console@.service runs them) on the database ``url`` as dh_console; their
    URLs and process ids. Their logs go to files in ``log_dir`` (a pipe nobody reads would
    stop them)."""
    from console.__main__ import streamlit_flags
    from console.settings import PROJECT_ROOT

    env = {**os.environ, "DATABASE_URL": db.with_user(url, db.ROLE_USERS["console"])}
    procs, urls = [], []
    try:
        for n in range(count):
            port = free_port()
            log = open(os.path.join(log_dir, f"console-{n}.log"), "wb")
            procs.append(subprocess.Popen(
                [sys.executable, "-m", "console.ui.launch", "run", str(PROJECT_ROOT / "app.py"),
                 *streamlit_flags(), f"--server.port={port}"],
                env=env, cwd=PROJECT_ROOT, stdout=log, stderr=subprocess.STDOUT))
            log.close()
            urls.append(f"http://127.0.0.1:{port}")
        for proc, base in zip(procs, urls):
            deadline = time.monotonic() + 120
            while True:
                with contextlib.suppress(OSError):
                    if urllib.request.urlopen(f"{base}/_stcore/health", timeout=2).status == 200:
                        break
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"the console at {base} did not start; see {log_dir}")
                time.sleep(0.3)
        yield urls, [p.pid for p in procs]
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def cpu_seconds(pid: int) -> float:
    """User and system CPU time of a process (all its threads) so far."""
    with open(f"/proc/{pid}/stat") as fh:
        fields = fh.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def own_cpu_seconds() -> float:
    used = resource.getrusage(resource.RUSAGE_SELF)
    return used.ru_utime + used.ru_stime


def log_counts(log_dir: str) -> dict[str, int]:
    """Slow statements (CONSOLE_SLOW_QUERY_MS) and failed service calls the consoles logged."""
    counts = {"slow statements": 0, "failed calls": 0, "tracebacks": 0}
    for name in os.listdir(log_dir):
        with open(os.path.join(log_dir, name), encoding="utf-8", errors="replace") as fh:
            for line in fh:
                if '"db.slow_query"' in line:
                    counts["slow statements"] += 1
                elif line.startswith("{") and '"status": "failed"' in line:
                    counts["failed calls"] += 1
                elif line.startswith("Traceback"):
                    counts["tracebacks"] += 1
    return counts


# ------------------------------------------------------------------ one person's work
@dataclass
class Sample:
    step: str
    ms: float
    error: str | None = None


@dataclass
class Tally:
    samples: list[Sample] = field(default_factory=list)
    decisions: int = 0
    queue_empty: int = 0

    def add(self, step: str, page: Page) -> Page:
        errors = page.errors
        self.samples.append(Sample(step, page.ms, errors[0] if errors else None))
        return page


async def _ops_round(s: Session, tally: Tally, think) -> None:
    tally.add("cert_queue", await s.open("cert-queue"))
    await think()
    tally.add("listing_review", await s.open("listing-review"))
    await think()
    page = tally.add("flag_take", await s.click("flag_next"))
    radio = page.widget("flag_decision")
    if radio is None:                 # nothing left to take (or a refusal, counted above)
        tally.queue_empty += 1
        return
    await think()
    page = tally.add("flag_choose", await s.choose("flag_decision", radio.options[1]))
    reason = page.widget("flag_reason_clear")
    await think()
    page = tally.add("flag_reason", await s.choose("flag_reason_clear", reason.options[0]))
    await think()
    page = tally.add("flag_decide", await s.click("flag_decide"))
    if not page.errors and page.widget("flag_decision") is None:
        tally.decisions += 1


async def _bd_round(s: Session, tally: Tally, think, rng: random.Random) -> None:
    tally.add("board", await s.open("board"))
    await think()
    page = tally.add("car_search", await s.open("car-search"))
    brands = page.widget("s_brand")
    await think()
    if brands is not None and len(brands.options) > 1:
        tally.add("search", await s.choose("s_brand", rng.choice(brands.options[1:])))
        await think()
    tally.add("growth", await s.open("growth"))


async def _manager_round(s: Session, tally: Tally, think) -> None:
    tally.add("growth", await s.open("growth"))
    await think()
    tally.add("board_team", await s.open("board"))
    await think()
    tally.add("queue_metrics", await s.open("queue-metrics"))


async def person(url: str, role: str, token: str, *, stop_at: float, think_s, seed: int,
                 start_delay: float, tally: Tally) -> None:
    """One person until ``stop_at``. A step that fails (no answer in time, the stream closed,
    a widget the step needs not on the page) is counted as an error and the person goes on
    with the next round, on a new connection if the stream is gone."""
    rng = random.Random(seed)

    async def think() -> None:
        await asyncio.sleep(rng.uniform(*think_s))

    await asyncio.sleep(start_delay)
    s = Session(url, token=token)
    try:
        await s.connect()
        tally.add("home", await s.open("home"))
        while time.monotonic() < stop_at:
            await think()
            if time.monotonic() >= stop_at:
                break
            try:
                if role == "ops":
                    await _ops_round(s, tally, think)
                elif role == "bd":
                    await _bd_round(s, tally, think, rng)
                else:
                    await _manager_round(s, tally, think)
            except (ProtocolError, OSError, websockets.WebSocketException) as exc:
                tally.samples.append(Sample("failed", 0.0, f"{type(exc).__name__}: {exc}"[:300]))
                await s.reconnect()
            except (LookupError, AttributeError, TypeError) as exc:
                tally.samples.append(Sample("failed", 0.0, f"{type(exc).__name__}: {exc}"[:300]))
    except Exception as exc:   # noqa: BLE001 - this person is lost: counted, the load goes on
        tally.samples.append(Sample("failed", 0.0, f"{type(exc).__name__}: {exc}"[:300]))
    finally:
        await s.close()


async def warm(urls: list[str], token_for_role: dict[str, str]) -> None:
    """Every page of the mix once on every process (imports, the first queries' plans),
    untimed; no decision."""
    for base in urls:
        for role, token in token_for_role.items():
            async with Session(base, token=token) as s:
                await s.open("home")
                pages = {"ops": ("cert-queue", "listing-review"),
                         "bd": ("board", "car-search", "growth"),
                         "manager": ("growth", "board", "queue-metrics")}[role]
                for name in pages:
                    await s.open(name)


async def load(url: str, tokens: list[tuple[str, str]], *, seconds: float,
               think_s: tuple[float, float], seed: int) -> Tally:
    tally = Tally()
    stop_at = time.monotonic() + seconds
    ramp = min(think_s[1], seconds / 4)
    await asyncio.gather(*(
        person(url, role, token, stop_at=stop_at, think_s=think_s, seed=seed * 1000 + n,
               start_delay=ramp * n / max(len(tokens), 1), tally=tally)
        for n, (role, token) in enumerate(tokens)))
    return tally


# ------------------------------------------------------------------ figures
def percentile(values: list[float], q: float) -> float:
    """The q-th percentile (0-100), linear between the closest ranks."""
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    pos = (len(ordered) - 1) * q / 100
    low = int(pos)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (pos - low)


@dataclass
class LevelResult:
    sessions: int
    processes: int
    p50: float
    p95: float
    pages: int
    errors: list[str]
    decisions: int
    decisions_db: int
    queue_empty: int
    per_step: dict[str, float]
    load_avg: tuple[float, float, float]
    console_cores: list[float] = field(default_factory=list)   # CPU used / wall time, each
    client_cores: float = 0.0               # this process (driver; the stand-in proxy, not nginx)
    logged: dict[str, int] = field(default_factory=dict)
    spread: dict[int, int] = field(default_factory=dict)
    proxy: str = ""


def sticky_proxy(urls: list[str], work: str) -> NginxProxy | StickyProxy:
    """nginx running the deploy config when it is installed (it names two processes), else
    the Python stand-in."""
    backends = [(u.split("//")[1].split(":")[0], int(u.rsplit(":", 1)[1])) for u in urls]
    if nginx_binary() is not None and len(backends) == 2:
        return NginxProxy(backends, Path(work), tls=False)
    return StickyProxy(backends)


def sessions_per_process(proxy: NginxProxy | StickyProxy) -> dict[int, int]:
    """How many sign-in cookies each process (by index) held at the end."""
    held: dict[int, int] = defaultdict(int)
    if isinstance(proxy, NginxProxy):
        index = {f"{host}:{port}": i for i, (host, port) in enumerate(proxy.backends)}
        last = {h.cookie: index[h.served_by] for h in proxy.hits()
                if h.cookie and h.served_by in index}
        for i in last.values():
            held[i] += 1
    else:
        for key, i in proxy.bound.items():
            if key.startswith("cookie:"):
                held[i] += 1
    return dict(held)


def measure_level(base_url: str, sessions: int, processes: int, *, seconds: float,
                  think_s: tuple[float, float], seed: int = 1) -> LevelResult:
    url = fresh_copy(base_url)
    log_dir = tempfile.mkdtemp(prefix="bench-sessions-")
    proxy_dir = tempfile.mkdtemp(prefix="bench-sessions-proxy-")
    spread: dict[int, int] = {}
    try:
        tokens = open_tokens(url, sessions)
        warm_tokens = {role: token for role, token in reversed(open_tokens(url, len(MIX)))}
        with console_processes(url, processes, log_dir=log_dir) as (urls, pids):
            asyncio.run(warm(urls, warm_tokens))
            proxy = sticky_proxy(urls, proxy_dir) if processes > 1 else None
            with proxy.running() if proxy else contextlib.nullcontext():
                target = proxy.url if proxy else urls[0]
                cpu_before = [cpu_seconds(p) for p in pids], own_cpu_seconds()
                started = time.monotonic()
                tally = asyncio.run(load(target, tokens, seconds=seconds, think_s=think_s,
                                         seed=seed))
                wall = time.monotonic() - started
                console_cores = [(cpu_seconds(p) - b) / wall for p, b in zip(pids, cpu_before[0])]
                client_cores = (own_cpu_seconds() - cpu_before[1]) / wall
                load_avg = os.getloadavg()
            if proxy is not None:
                spread = sessions_per_process(proxy)
        decided = decisions_in_db(url)
        logged = log_counts(log_dir)
        if logged["failed calls"] or logged["tracebacks"]:
            print(f"  sessions: the consoles' logs are kept in {log_dir}", file=sys.stderr,
                  flush=True)
        else:
            shutil.rmtree(log_dir, ignore_errors=True)
    finally:
        drop_copy(base_url)
        shutil.rmtree(proxy_dir, ignore_errors=True)
    timed = [s for s in tally.samples if s.step != "failed"]
    by_step: dict[str, list[float]] = defaultdict(list)
    for s in timed:
        by_step[s.step].append(s.ms)
    return LevelResult(
        sessions=sessions, processes=processes,
        p50=percentile([s.ms for s in timed], 50), p95=percentile([s.ms for s in timed], 95),
        pages=len(timed), errors=[s.error for s in tally.samples if s.error],
        decisions=tally.decisions, decisions_db=decided, queue_empty=tally.queue_empty,
        per_step={k: statistics.median(v) for k, v in sorted(by_step.items())},
        load_avg=load_avg, console_cores=console_cores, client_cores=client_cores,
        logged=logged, spread=spread,
        proxy=("" if proxy is None else "nginx, deploy/nginx/console.conf"
               if isinstance(proxy, NginxProxy) else "Python stand-in, bench/_sticky_proxy.py"))


def note(r: LevelResult, seconds: float, think_s) -> str:
    errors = f"{len(r.errors)} errors" + (f" (first: {r.errors[0]})" if r.errors else "")
    steps = ", ".join(f"{k} {v:.0f}" for k, v in r.per_step.items())
    spread = (" ; sessions per process " + "/".join(str(r.spread.get(i, 0))
                                                    for i in range(r.processes))) if r.spread else ""
    return (f"{r.pages} page times of {r.sessions} sessions in {seconds:g} s, think "
            f"{think_s[0]:g}-{think_s[1]:g} s; {errors}; decisions {r.decisions} "
            f"(database: {r.decisions_db})"
            + (f", queue empty {r.queue_empty}x" if r.queue_empty else "")
            + f"; p50 per step (ms): {steps}; console CPU (cores) "
            + "/".join(f"{c:.2f}" for c in r.console_cores)
            + f", this bench process {r.client_cores:.2f}; consoles logged "
            + ", ".join(f"{v} {k}" for k, v in r.logged.items())
            + "; load average " + ", ".join(f"{x:.1f}" for x in r.load_avg) + spread
            + (f"; proxy: {r.proxy}" if r.proxy else ""))


def run(ctx) -> None:
    conf = settings()
    base_url = ctx.engine.url.render_as_string(hide_password=False)
    build_template(base_url, echo=lambda m: print(m, file=sys.stderr, flush=True))
    for processes in conf["processes"]:
        prefix = "sessions" if processes == 1 else f"sessions_{processes}proc"
        served = 0
        for level in conf["levels"]:
            if level > SESSIONS_MAX:
                raise ValueError(f"at most {SESSIONS_MAX} sessions (bench accounts)")
            r = measure_level(base_url, level, processes, seconds=conf["seconds"],
                              think_s=conf["think"], seed=ctx.seed)
            text = note(r, conf["seconds"], conf["think"])
            ctx.report(f"{prefix}_p50_ms_{level}", r.p50, "ms", note=text)
            ctx.report(f"{prefix}_p95_ms_{level}", r.p95, "ms")
            if r.decisions != r.decisions_db:
                print(f"  sessions: {r.decisions} decisions seen on the pages, "
                      f"{r.decisions_db} in the database", file=sys.stderr, flush=True)
            if r.p95 <= P95_BUDGET_MS and not r.errors:
                served = max(served, level)
        ctx.report(f"{prefix}_served_p95_1s", served, "sessions",
                   note=f"the most sessions of {conf['levels']} {processes} process(es) served "
                        f"with a p95 of {P95_BUDGET_MS:g} ms or less and no error")


def main() -> int:
    """Only this area: it needs none of the other areas' data."""
    from bench.__main__ import Context
    engine = sa.create_engine(make_url(db.database_url()).set(database="postgres"))
    try:
        ctx = Context(engine=engine, scale="demo", seed=7)
        run(ctx)
    finally:
        engine.dispose()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
