"""Every gated service against the checked-in role matrix, and against callers that lie.

tests/data/role_matrix.csv says which role may call which service. Each gated function is
called as each of the five roles, as bd1's id carrying the admin role, as an unknown id,
a disabled, a locked and a must-change-password admin, an admin whose sessions were ended,
and as nobody. The argument hook (console.boundary.check_arguments), the last step before
the body, is replaced by a probe that stops the call: a call that reaches it passed the
gate (and the probe sees the Actor the body would get); a refused call must not reach it,
and must have written nothing and read nothing but the one ops.staff row.
"""
from __future__ import annotations

import csv
import importlib
import inspect
import pkgutil
import uuid
from datetime import timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import make_url

from console import boundary, clock, db
from console.auth import hash_password
from console.errors import PermissionDenied
from console.roles import PROTECTED, ROLES, Actor

MATRIX = Path(__file__).parent / "data" / "role_matrix.csv"
PREFIX = "console.services."


# Every package whose modules hold services (gated functions taking ``actor``): walked here,
# so a service module no console.services module imports is checked all the same, whatever
# else the session has imported (console/finance/fees.py was found missing from the table
# only when a test importing it ran first).
SERVICE_PACKAGES = ("console.services", "console.finance", "console.inventory",
                    "console.logistics", "console.imports")


def service_modules():
    for package in SERVICE_PACKAGES:
        path = importlib.import_module(package).__path__
        for info in pkgutil.walk_packages(path, f"{package}."):
            if not info.name.endswith("__main__"):
                yield importlib.import_module(info.name)


def functions_taking_an_actor():
    for module in service_modules():
        for name, fn in inspect.getmembers(module, inspect.isfunction):
            if name.startswith("_") or fn.__module__ != module.__name__:
                continue
            # Service entry points take keyword-only arguments (house style); positional
            # internals such as the shared queue engine are called only by gated services.
            actor = inspect.signature(fn).parameters.get("actor")
            if actor is not None and actor.kind is inspect.Parameter.KEYWORD_ONLY:
                yield f"{module.__name__}.{name}", fn


FUNCTIONS = dict(functions_taking_an_actor())


def read_matrix() -> dict[str, frozenset[str]]:
    lines = [line for line in MATRIX.read_text(encoding="utf-8").splitlines()
             if line and not line.startswith("#")]
    rows = list(csv.DictReader(lines))
    assert rows and list(rows[0]) == ["service", *ROLES]
    table = {}
    for row in rows:
        name = row["service"] if row["service"].startswith("console.") else PREFIX + row["service"]
        assert name not in table, f"{name} appears twice in {MATRIX.name}"
        assert {row[r] for r in ROLES} <= {"x", ""}, row
        table[name] = frozenset(r for r in ROLES if row[r] == "x")
    return table


TABLE = read_matrix()


def gated(name):
    module, _, attr = name.rpartition(".")
    return getattr(importlib.import_module(module), attr)


def test_every_service_function_with_an_actor_is_gated():
    ungated = [name for name, fn in FUNCTIONS.items() if not hasattr(fn, "allowed_roles")]
    assert ungated == []
    assert set(FUNCTIONS) <= set(PROTECTED)


def test_the_table_names_every_gated_service_and_nothing_else():
    assert sorted(set(PROTECTED) - set(TABLE)) == [], "gated but missing from the table"
    assert sorted(set(TABLE) - set(PROTECTED)) == [], "in the table but no such gated service"


# ------------------------------------------------------------------ the callers

class PassedTheGate(Exception):
    def __init__(self, kwargs):
        super().__init__("passed the gate")
        self.kwargs = kwargs


@pytest.fixture(scope="module")
def matrix_db(server_url, admin_engine, template_db):
    """One database for the whole matrix: a refused call changes nothing, and an admitted one
    stops at the probe, so the cases cannot disturb each other. Yields (the superuser's
    engine, which sets the accounts up and counts rows; the console's, dh_console, which
    the services are called on, as in the console)."""
    name = f"t_{uuid.uuid4().hex[:12]}"
    with admin_engine.connect() as conn:
        conn.exec_driver_sql(f'CREATE DATABASE "{name}" TEMPLATE "{template_db}"')
    url = make_url(server_url).set(database=name).render_as_string(hide_password=False)
    superuser = db.make_engine(url)
    console = db.make_engine(db.with_user(url, db.ROLE_USERS["console"]))
    db.set_default_engine(console)
    yield superuser, console
    superuser.dispose()
    console.dispose()
    db.forget_engines()
    with admin_engine.connect() as conn:
        conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def matrix_engine(matrix_db):
    # Other tests of the module may have pointed the console elsewhere meanwhile.
    db.set_default_engine(matrix_db[1])
    return matrix_db


def _account(conn, username, roles, **columns):
    sets = "".join(f", {c} = :{c}" for c in columns)
    staff_id = conn.execute(sa.text(
        """INSERT INTO ops.staff (username, display_name, password_hash, roles)
           VALUES (:u, :u, :h, :r) RETURNING id"""),
        {"u": username, "h": PASSWORD_HASH, "r": list(roles)}).scalar_one()
    if columns:
        conn.execute(sa.text(f"UPDATE ops.staff SET version = version{sets} WHERE id = :id"),
                     {"id": staff_id, **columns})
    return Actor(id=staff_id, username=username, display_name=username, roles=frozenset(roles))


PASSWORD_HASH = hash_password("correct-horse-battery")


@pytest.fixture(scope="module")
def callers(matrix_db):
    """Each caller: (the Actor handed to the service, the roles the service must see, or the
    catalogue key of the refusal every service must give)."""
    with matrix_db[0].begin() as conn:
        people = {role: _account(conn, f"{role}1", {role}) for role in ROLES}
        disabled = _account(conn, "disabled.admin", {"admin"}, is_active=False)
        locked = _account(conn, "locked.admin", {"admin"},
                          locked_until=clock.now() + timedelta(hours=1))
        ended = _account(conn, "ended.admin", {"admin"}, session_epoch=1)
        must_change = _account(conn, "reset.admin", {"admin"}, must_change_password=True)
    bd = people["bd"]
    cases = {role: (actor, frozenset({role})) for role, actor in people.items()}
    cases.update({
        # bd1's own id with the admin role: served as the bd it is, whatever it claims.
        "forged bd1 as admin": (Actor(id=bd.id, username="admin1", display_name="Admin",
                                      roles=frozenset({"admin"})), frozenset({"bd"})),
        "unknown id as admin": (Actor(id=987654321, username="ghost", display_name="Ghost",
                                      roles=frozenset({"admin"})), "error.actor_unknown"),
        "disabled admin": (disabled, "auth.disabled"),
        "locked admin": (locked, "auth.locked"),
        "admin whose sessions were ended": (ended, "error.session_ended"),
        "admin who must change the password": (must_change, "auth.password_change_required"),
        "nobody": (None, "error.not_signed_in"),
        "a look-alike, not an Actor": ({"id": people["admin"].id, "roles": {"admin"}},
                                       "error.not_signed_in"),
    })
    return cases


@pytest.fixture
def probe(monkeypatch):
    def stop(fn, kwargs):
        raise PassedTheGate(kwargs)

    monkeypatch.setattr(boundary, "check_arguments", stop)


def dummy_kwargs(fn):
    params = inspect.signature(inspect.unwrap(fn)).parameters
    return {n: None for n, p in params.items()
            if p.default is inspect.Parameter.empty and p.kind is not p.VAR_KEYWORD}


# What the caller's transaction did: a write assigns it a transaction id, and each table it
# reads or writes moves its counters in pg_stat_xact_user_tables (compared before/after: the
# view may still hold counts of the connection's earlier transactions, not yet flushed).
_TABLE_COUNTERS = """
    SELECT schemaname || '.' || relname AS tbl,
           seq_scan + coalesce(idx_scan, 0) + n_tup_ins + n_tup_upd + n_tup_del AS n
    FROM pg_stat_xact_user_tables"""


def _counters(conn):
    return dict(conn.execute(sa.text(_TABLE_COUNTERS)).all())


def call(engine, fn, actor):
    """Call ``fn`` in a transaction that is rolled back; return (outcome, whether it wrote,
    the tables it touched)."""
    kwargs = dummy_kwargs(fn)
    with engine.connect() as conn, conn.begin():
        start = _counters(conn)
        kwargs.update(conn=conn, actor=actor)
        try:
            fn(**kwargs)
            outcome = "body ran"
        except PassedTheGate as passed:
            outcome = ("passed", passed.kwargs["actor"])
        except PermissionDenied as refused:
            outcome = ("refused", refused.key)
        wrote = conn.execute(sa.text("SELECT txid_current_if_assigned()")).scalar() is not None
        touched = {t for t, n in _counters(conn).items() if n != start.get(t, 0)}
        conn.rollback()
    return outcome, wrote, touched


def counts(engine):
    with engine.connect() as conn:
        return conn.execute(sa.text(
            """SELECT (SELECT count(*) FROM ops.audit_log),
                      (SELECT count(*) FROM ops.staff),
                      (SELECT sum(session_epoch + version) FROM ops.staff)""")).one()


@pytest.mark.parametrize("name", sorted(TABLE))
def test_role_matrix(name, matrix_engine, callers, probe):
    superuser, console = matrix_engine
    fn, allowed = gated(name), TABLE[name]
    before = counts(superuser)
    for who, (actor, expected) in callers.items():
        outcome, wrote, touched = call(console, fn, actor)
        if isinstance(expected, frozenset) and expected & allowed:
            assert outcome[0] == "passed", f"{who} should pass the gate of {name}: {outcome}"
            seen = outcome[1]
            # The body gets the account as the database has it, not the caller's claim.
            assert (seen.id, seen.roles) == (actor.id, expected), who
        else:
            key = "error.role_required" if isinstance(expected, frozenset) else expected
            assert outcome == ("refused", key), f"{who} calling {name}"
            assert not wrote, f"{who}: {name} wrote before refusing"
            # The caller's connection read the caller's own staff row, if anything.
            assert touched <= {"ops.staff"}, f"{who}: {name} touched {touched}"
    assert counts(superuser) == before


def test_the_table_admits_no_risk_or_admin_power_to_bd():
    """Read the table as a reviewer would: no credit decision and no account change for bd."""
    for name, roles in TABLE.items():
        if name.startswith((PREFIX + "staff.", PREFIX + "data_quality.run_job_now")):
            assert roles <= {"admin", "manager"}, name
        if name in {PREFIX + f"credit.{f}" for f in ("approve_override", "reject_override",
                                                      "propose_override", "run_scoring")}:
            assert roles == {"risk"}, name
