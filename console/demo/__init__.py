"""Deterministic demo data: ``seed(engine=..., scale="demo", seed=7)`` or ``python -m console.demo``.

One seed gives one world (same rows, same ids: see ``content_hash``); staff passwords are
the only random part, generated fresh and never part of the hash. "Now" is a fixed anchor
(2026-11-20 00:00 Asia/Shanghai unless given), so no row depends on the wall clock, but for
the VIP terms (counted from today so that BD's follow-up list holds on the day of seeding) and
the escrow fees of the orders members paid deposits on during them (console/demo/vip.py).
"""
from __future__ import annotations

import hashlib
import secrets
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime

import numpy as np
import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from console.auth import hash_password
from console.demo import credit_history
from console.demo import disputes as D
from console.demo import generate as G
from console.demo import inventory as demo_inventory
from console.demo import imports as demo_imports
from console.demo import import_docs as demo_import_docs
from console.demo import loans as demo_loans
from console.demo import logistics as demo_logistics
from console.demo import model as M
from console.demo import override_history
from console.demo import vip as demo_vip
from console.demo.writer import Progress, copy_frame, copy_table, format_column

# Tables the generator fills, in foreign-key order (also the content-hash order).
SEEDED_TABLES = (
    "ops.staff", "app.cities", "app.brands", "app.series", "app.trims", "app.trim_price_history",
    "app.merchants", "app.certifications", "app.listings", "app.requests", "app.bids",
    "ops.matches", "app.orders", "app.payments", "app.disputes", "app.dispute_statements",
    "app.reviews",
    "app.logistics_requests", "app.loan_applications", "app.events", "app.notification_outbox",
)
# Columns left out of the content hash: secrets and login bookkeeping, different every run;
# and the change times the database stamps on rows the generator writes without one
# (migration 064: the time of the seed).
HASH_EXCLUDED = {"ops.staff": {"password_hash", "last_login_at", "failed_attempts", "locked_until"},
                 **{t: {"updated_at"} for t in ("app.payments", "app.disputes",
                                                 "app.dispute_statements", "app.reviews",
                                                 "app.loan_applications", "app.events")}}
EVENT_WINDOW_DAYS = 15
# Reference rows the migrations write (010: the review reasons and the certification
# documents): part of the schema, not of the demo world, so --force keeps them.
# tests/test_demo_force.py holds this to what a fresh migrate leaves in app and ops.
MIGRATION_ROWS = ("ops.cert_documents", "ops.review_reasons", "ops.match_policy")


class SeedRefused(RuntimeError):
    """The database already holds merchants (and --force was not given or cannot apply)."""


@dataclass(frozen=True)
class Credential:
    username: str
    display_name: str
    roles: tuple[str, ...]
    password: str


@dataclass
class SeedReport:
    scale: str
    seed: int
    anchor: datetime
    counts: dict[str, int] = field(default_factory=dict)
    credentials: list[Credential] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def total_rows(self) -> int:
        return sum(self.counts.values())


def build_world(*, scale: str, seed: int, anchor: datetime | None = None) -> G.World:
    """Everything except the login events, which are streamed while writing."""
    spec = M.SCALES[scale]
    anchor_s = M.anchor_epoch(anchor)
    world = G.World(scale=spec, anchor=anchor_s, start=M.history_start(anchor_s),
                    rng=np.random.default_rng(seed))
    G.staff(world)
    G.library(world)
    G.merchants(world)
    G.certifications(world)
    G.listings(world)
    demo_imports.plan(world, seed=seed)   # parallel imports' versions, ports, their VINs
    G.requests(world)
    G.bids(world)
    G.matches_and_orders(world)
    G.merchant_standing(world)
    G.notifications(world)
    D.statements(world)
    # The order-loan book behind completed purchases (its own random stream: nothing above moves).
    credit_history.order_loan_book(world, seed=seed)
    return world


def seed(*, engine: Engine, scale: str, seed: int, anchor: datetime | None = None,
         progress: bool = False, force: bool = False, bulk: bool | None = None,
         history: bool | None = None) -> SeedReport:
    """Fill an empty (migrated) database with the demo world; one transaction, all or nothing.

    ``bulk`` (default: only at the large scale) loads into bare tables and rebuilds the
    indexes afterwards; the rows written are the same either way. ``history`` (default: not
    at the large scale, whose bench builds its own month) adds the risk desk's last six
    months: weekly scoring runs and the credit overrides decided between them
    (override_history.py).
    """
    if scale not in M.SCALES:
        raise ValueError(f"unknown scale {scale!r}; choose one of {', '.join(M.SCALES)}")
    started = time.perf_counter()
    with engine.connect() as conn:  # refuse before the expensive part; checked again below
        _check_empty(conn, force=force)
    credentials = [Credential(u, d, tuple(r), secrets.token_urlsafe(12)) for u, d, r in G.STAFF]
    # argon2 is deliberately slow; hash on the side while the world is generated.
    with ThreadPoolExecutor(max_workers=2) as pool:
        hashes = pool.map(hash_password, [c.password for c in credentials])
        world = build_world(scale=scale, seed=seed, anchor=anchor)
        world.tables["ops.staff"].columns["password_hash"] = list(hashes)
    report = SeedReport(scale=scale, seed=seed, anchor=M.to_datetime(world.anchor))
    derived = G.derived_events(world)
    planned = sum(len(world.tables[t]) for t in SEEDED_TABLES if t in world.tables) + world.scale.events
    bar = Progress(progress, planned)
    bulk = scale == "large" if bulk is None else bulk
    history = scale != "large" if history is None else history
    with engine.begin() as conn:
        conn.execute(sa.text("SET LOCAL statement_timeout = 0"))
        _refuse_or_clear(conn, force=force)
        cursor = conn.connection.dbapi_connection.cursor()
        indexes = _drop_secondary_indexes(conn) if bulk else []
        trusted = bulk and _skip_fk_triggers(conn)
        for name in SEEDED_TABLES:
            if name == "app.events":
                report.counts[name] = _stream_events(cursor, world, derived, bar)
            elif name in world.tables:
                report.counts[name] = copy_table(cursor, world.tables[name], bar)
            if name == "app.listings":   # keyed by listing, no id: not in the content hash
                report.counts[demo_imports.TABLE] = copy_table(
                    cursor, world.tables[demo_imports.TABLE], bar)
        if trusted:
            conn.execute(sa.text("SET LOCAL session_replication_role = DEFAULT"))
            _verify_foreign_keys(conn)
        _set_last_active(conn)
        credit_history.register_scorecards(conn)   # v1 active, v2 and the challenger c1 candidates
        _recreate_indexes(conn, indexes)
        _reset_sequences(conn)
        conn.execute(sa.text("ANALYZE"))
        if history:   # weekly scoring runs and the overrides between them, before the anchor
            override_history.write(conn, scale=scale, seed=seed, anchor=world.anchor)
        credit_history.promote_better(conn)        # through the gate: risk1 proposes, risk2 approves
        if history:   # a year of order loans on the lines the scoring runs wrote, and today's queue
            demo_loans.write(conn, seed=seed, anchor=world.anchor)
            demo_vip.write(conn, seed=seed)    # VIP members on the grades the runs left
            lgx = demo_logistics.write(conn, seed=seed, scale=scale)   # the logistics desk
            report.counts.update({"lgx.carriers": lgx.carriers, "lgx.requests": lgx.requests,
                                  "lgx.quotes": lgx.quotes, "lgx.loads": lgx.loads,
                                  "lgx.claims": lgx.claims, "lgx.ratings": lgx.ratings})
        # The platform's own cars, at every scale (the stock page's bench reads them at the large
        # one), after the history: nothing the loans, VIP or logistics demo draw changes by them.
        stock = demo_inventory.write(conn, seed=seed, scale=scale,
                                     anchor=M.to_datetime(world.anchor))
        report.counts.update({"inv.stock_cars": stock.cars, "inv.price_changes": stock.price_changes})
        # The parallel imports' documents, at every scale (the document queue's bench reads
        # them at the large one), last: for the live imports whose details are written by now.
        report.counts["app.import_documents"] = demo_import_docs.write(
            conn, seed=seed, now=report.anchor).documents
    bar.close()
    report.credentials = credentials
    report.seconds = time.perf_counter() - started
    return report


def _check_empty(conn: sa.Connection, *, force: bool) -> bool:
    """True if the database holds no seeded data; raise SeedRefused if it may not be cleared."""
    merchants = conn.execute(sa.text("SELECT count(*) FROM app.merchants")).scalar_one()
    staff = conn.execute(sa.text("SELECT count(*) FROM ops.staff")).scalar_one()
    if merchants == 0 and staff == 0:
        return True
    if not force:
        raise SeedRefused("the database already holds data; use --force or a fresh database")
    if not credit_history.seeded_audit_only(conn):   # the seed's own promotion rows may go
        raise SeedRefused("the audit log is not empty and is append-only; use a fresh database")
    return False


def _refuse_or_clear(conn: sa.Connection, *, force: bool) -> None:
    if _check_empty(conn, force=force):
        return
    tables = conn.execute(sa.text(
        """SELECT format('%I.%I', schemaname, tablename) FROM pg_tables
           WHERE schemaname IN ('app', 'ops', 'lgx', 'inv')
             AND format('%I.%I', schemaname, tablename) <> ALL (CAST(:kept AS text[]))
           ORDER BY 1"""), {"kept": list(MIGRATION_ROWS)}).scalars().all()
    # The (empty) audit log refuses TRUNCATE by trigger; replica mode skips that trigger.
    conn.execute(sa.text("SET LOCAL session_replication_role = replica"))
    conn.exec_driver_sql(f"TRUNCATE {', '.join(tables)} RESTART IDENTITY CASCADE")
    conn.execute(sa.text("SET LOCAL session_replication_role = DEFAULT"))
    # The match policy's one row names the staff who last set it, so the CASCADE from
    # ops.staff empties it: back to migration 114's defaults, as on a fresh database.
    conn.execute(sa.text("INSERT INTO ops.match_policy DEFAULT VALUES ON CONFLICT (id) DO NOTHING"))


# ------------------------------------------------------------------ bulk loading (large scale)
# Loading 12M rows through ~40 secondary indexes and per-row foreign-key triggers is several
# times slower than loading bare tables and building the indexes once. At the large scale
# the secondary indexes are dropped and rebuilt in the same transaction (DDL is
# transactional: a failure restores them), and, where the role may, foreign-key triggers
# are skipped and every foreign key is verified afterwards with one anti-join each.

def _drop_secondary_indexes(conn: sa.Connection) -> list[str]:
    names = [t.split(".") for t in SEEDED_TABLES]
    rows = conn.execute(sa.text(
        """SELECT format('%I.%I', i.schemaname, i.indexname), i.indexdef
           FROM pg_indexes i
           JOIN pg_class c ON c.relname = i.indexname
           JOIN pg_namespace n ON n.oid = c.relnamespace AND n.nspname = i.schemaname
           WHERE (i.schemaname || '.' || i.tablename) = ANY (:tables)
             AND NOT EXISTS (SELECT 1 FROM pg_constraint k WHERE k.conindid = c.oid)
           ORDER BY 1"""), {"tables": [".".join(n) for n in names]}).all()
    for name, _ in rows:
        conn.exec_driver_sql(f"DROP INDEX {name}")
    return [ddl for _, ddl in rows]


def _recreate_indexes(conn: sa.Connection, ddl: list[str]) -> None:
    if ddl:
        conn.execute(sa.text("SET LOCAL maintenance_work_mem = '256MB'"))
    for statement in ddl:
        conn.exec_driver_sql(statement)


def _skip_fk_triggers(conn: sa.Connection) -> bool:
    """Replica mode skips foreign-key triggers; only a superuser may set it."""
    if not conn.execute(sa.text("SELECT rolsuper FROM pg_roles WHERE rolname = current_user")).scalar_one():
        return False
    conn.execute(sa.text("SET LOCAL session_replication_role = replica"))
    return True


def _verify_foreign_keys(conn: sa.Connection) -> None:
    """Every single-column foreign key of the seeded tables, checked set-based."""
    fks = conn.execute(sa.text(
        """SELECT format('%I.%I', cn.nspname, cc.relname), ca.attname,
                  format('%I.%I', pn.nspname, pc.relname), pa.attname, k.conname
           FROM pg_constraint k
           JOIN pg_class cc ON cc.oid = k.conrelid JOIN pg_namespace cn ON cn.oid = cc.relnamespace
           JOIN pg_class pc ON pc.oid = k.confrelid JOIN pg_namespace pn ON pn.oid = pc.relnamespace
           JOIN pg_attribute ca ON ca.attrelid = k.conrelid AND ca.attnum = k.conkey[1]
           JOIN pg_attribute pa ON pa.attrelid = k.confrelid AND pa.attnum = k.confkey[1]
           WHERE k.contype = 'f' AND cardinality(k.conkey) = 1
             AND format('%I.%I', cn.nspname, cc.relname) = ANY (:tables)"""),
        {"tables": list(SEEDED_TABLES)}).all()
    for child, col, parent, pcol, name in fks:
        broken = conn.exec_driver_sql(
            f"SELECT count(*) FROM {child} c WHERE c.{col} IS NOT NULL AND NOT EXISTS "
            f"(SELECT 1 FROM {parent} p WHERE p.{pcol} = c.{col})").scalar_one()
        if broken:
            raise RuntimeError(f"demo data breaks foreign key {name}: {broken} rows")


def _stream_events(cursor, world: G.World, derived: dict[str, np.ndarray], bar: Progress) -> int:
    """Derived funnel events plus logins, written in time windows so memory stays bounded.

    Ids grow with time, as in a real activity stream. Logins in each window are drawn per
    merchant from its active period, so the window size does not change the result's shape.
    """
    rng = world.rng
    login_from, login_to, rate = G.login_plan(world, len(derived["at"]))
    order = np.argsort(derived["at"], kind="stable")
    d_at = derived["at"][order]
    columns = ["id", "merchant_id", "event_type", "entity_id", "occurred_at", "props"]
    props = {"": "{}", "buyer": '{"role": "buyer"}', "seller": '{"role": "seller"}'}
    d_props = np.array([props[r] for r in derived["role"]], dtype=object)
    next_id = 1
    last_active = np.full(world.scale.merchants, G.NA, dtype=np.int64)
    step = EVENT_WINDOW_DAYS * M.DAY
    for lo in range(world.start - 90 * M.DAY, world.anchor, step):
        hi = min(lo + step, world.anchor)
        a, b = np.searchsorted(d_at, [lo, hi])
        sel = order[a:b]
        overlap = np.clip(np.minimum(login_to, hi) - np.maximum(login_from, lo), 0, None)
        n_login = rng.poisson(rate * overlap / M.DAY)
        who = np.repeat(np.arange(len(n_login)), n_login)
        when = (np.maximum(login_from, lo)[who] + rng.random(len(who)) * overlap[who]).astype(np.int64)
        merchant = np.concatenate([derived["merchant"][sel], who])
        at = np.concatenate([derived["at"][sel], when])
        kind = np.concatenate([derived["type"][sel], np.full(len(who), "login", dtype=object)])
        entity = np.concatenate([derived["entity"][sel], np.full(len(who), G.NA)])
        prop = np.concatenate([d_props[sel], np.full(len(who), "{}", dtype=object)])
        if not len(at):
            continue
        srt = np.lexsort((merchant, at))
        ids = np.arange(next_id, next_id + len(srt))
        next_id += len(srt)
        np.maximum.at(last_active, merchant, at)
        for start in range(0, len(srt), 200_000):
            part = srt[start:start + 200_000]
            frame = pd.DataFrame({
                "id": ids[start:start + 200_000], "merchant_id": merchant[part] + 1,
                "event_type": kind[part], "entity_id": format_column("entity_id", entity[part]),
                "occurred_at": format_column("occurred_at", at[part]), "props": prop[part]})
            copy_frame(cursor, "app.events", columns, frame)
            bar.advance("app.events", len(part))
    world.m_last_active = last_active  # type: ignore[attr-defined]
    frame = pd.DataFrame({"id": np.arange(1, len(last_active) + 1),
                          "last_active_at": format_column("last_active_at", last_active)})
    cursor.execute("CREATE TEMP TABLE demo_last_active (id bigint, last_active_at timestamptz) ON COMMIT DROP")
    copy_frame(cursor, "demo_last_active", ["id", "last_active_at"], frame)
    return next_id - 1


def _set_last_active(conn: sa.Connection) -> None:
    conn.execute(sa.text("""UPDATE app.merchants m SET last_active_at = d.last_active_at
                            FROM demo_last_active d WHERE d.id = m.id"""))


def _reset_sequences(conn: sa.Connection) -> None:
    """COPY wrote explicit ids: move each serial past the largest one."""
    for name in SEEDED_TABLES:
        conn.execute(sa.text(
            f"SELECT setval(pg_get_serial_sequence(:t, 'id'), coalesce(max(id), 0) + 1, false) FROM {name}"),
            {"t": name})


def content_hash(conn: sa.Connection) -> str:
    """A stable SHA-256 over the ordered contents of every seeded table (timezone-independent).

    Meant for tests and small databases: it reads every row.
    """
    digest = hashlib.sha256()
    conn.execute(sa.text("SET LOCAL timezone = 'UTC'"))
    for name in SEEDED_TABLES:
        schema, table = name.split(".")
        cols = [c for c in conn.execute(sa.text(
            """SELECT column_name FROM information_schema.columns
               WHERE table_schema = :s AND table_name = :t ORDER BY ordinal_position"""),
            {"s": schema, "t": table}).scalars() if c not in HASH_EXCLUDED.get(name, set())]
        row = ", ".join(f'"{c}"' for c in cols)
        value = conn.execute(sa.text(
            f"SELECT count(*), md5(coalesce(string_agg(md5(ROW({row})::text), '' ORDER BY id), '')) FROM {name}")).one()
        digest.update(f"{name}:{value[0]}:{value[1]}\n".encode())
    return digest.hexdigest()
