"""Least-privilege database roles (migration 060, sql/grants.sql): what the console's and the
jobs' roles may not do is refused by PostgreSQL itself, not by the console's code."""
from __future__ import annotations

import threading
import uuid

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import make_url

from console import db
from console.audit import verify_chain, write_audit
from console.migrate import MIGRATION_DIR, migrate
from console.settings import PROJECT_ROOT, get_settings

LOGIN_ROLES = ("dh_console", "dh_jobs", "dh_readonly")


@pytest.fixture
def role_engines(console_engine, jobs_engine):
    return {"console": console_engine, "jobs": jobs_engine}


@pytest.fixture
def one_audit_row(engine, console_engine):
    with console_engine.begin() as conn:
        write_audit(conn=conn, actor_id=None, action="test.row", entity_type="x", entity_id=1,
                    reason="keep me")
    return engine


# Each way the issue found to erase or rewrite the audit log, and a few more.
BYPASSES = {
    "replica mode": "SET session_replication_role = replica",
    "disable triggers": "ALTER TABLE ops.audit_log DISABLE TRIGGER ALL",
    "disable one trigger": "ALTER TABLE ops.audit_log DISABLE TRIGGER audit_log_append_only",
    "drop trigger": "DROP TRIGGER audit_log_append_only ON ops.audit_log",
    "drop chain trigger": "DROP TRIGGER zz_audit_log_chain ON ops.audit_log",
    "update": "UPDATE ops.audit_log SET reason = 'rewritten'",
    "delete": "DELETE FROM ops.audit_log",
    "truncate": "TRUNCATE ops.audit_log",
    "own trigger": "CREATE TRIGGER mine BEFORE INSERT ON ops.audit_log "
                   "FOR EACH ROW EXECUTE FUNCTION ops.refuse_audit_change()",
    "take ownership": "ALTER TABLE ops.audit_log OWNER TO CURRENT_USER",
    "move the chain head": "UPDATE ops.audit_chain_head SET chain_seq = 0",
    "reset the chain head": "DELETE FROM ops.audit_chain_head",
    "become the owner": "SET ROLE dh_owner",
    "create in ops": "CREATE TABLE ops.sneaky (id int)",
    "create in app": "CREATE TABLE app.sneaky (id int)",
    "create in mart": "CREATE TABLE mart.sneaky (id int)",
    "create in public": "CREATE TABLE public.sneaky (id int)",
    "create a function": "CREATE FUNCTION ops.sneaky() RETURNS int LANGUAGE sql AS 'SELECT 1'",
    "replace the chain function": "CREATE OR REPLACE FUNCTION ops.audit_chain_link() RETURNS "
                                  "trigger LANGUAGE plpgsql AS 'BEGIN RETURN NEW; END'",
    "create a role": "CREATE ROLE sneaky",
    "create a database": "CREATE DATABASE sneaky",
}


@pytest.mark.parametrize("role", ["console", "jobs"])
@pytest.mark.parametrize("name", sorted(BYPASSES))
def test_each_bypass_is_refused_by_postgresql(role_engines, one_audit_row, role, name):
    # Autocommit: CREATE DATABASE refuses to run in a transaction block before it checks rights.
    with role_engines[role].connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        with pytest.raises(sa.exc.DBAPIError) as err:
            conn.execute(sa.text(BYPASSES[name]))
    # 42501 insufficient_privilege: refused for want of a right, not by chance, and by the
    # privilege system itself, not by the append-only trigger (which says 'append-only').
    assert err.value.orig.pgcode == "42501", err.value.orig.pgerror
    assert "append-only" not in err.value.orig.pgerror
    with one_audit_row.connect() as conn:
        assert conn.execute(sa.text("SELECT action, reason FROM ops.audit_log")).all() == [
            ("test.row", "keep me")]
        assert verify_chain(conn).intact


def test_the_console_cannot_create_in_etl_and_the_jobs_only_stage_there(role_engines):
    with role_engines["console"].connect() as conn, pytest.raises(sa.exc.DBAPIError) as err:
        conn.execute(sa.text("CREATE TABLE etl.sneaky (id int)"))
    assert err.value.orig.pgcode == "42501"
    with role_engines["jobs"].begin() as conn:   # the ETL's staging (etl/batches.py)
        conn.execute(sa.text("CREATE UNLOGGED TABLE etl.batch_test AS SELECT 1 AS id"))
        conn.execute(sa.text("DROP TABLE etl.batch_test"))


def test_a_back_dated_row_gets_the_server_clock_and_its_own_link(console_engine):
    with console_engine.begin() as conn:
        now = conn.execute(sa.text("SELECT now()")).scalar_one()
        stored = conn.execute(sa.text(
            """INSERT INTO ops.audit_log (actor_id, action, entity_type, entity_id, at,
                                          chain_seq, row_hash)
               VALUES (NULL, 'staff.disable', 'staff', '1', '2020-01-01 09:00+08', 999, :fake)
               RETURNING at, chain_seq, row_hash"""), {"fake": "ab" * 32}).one()
    assert (stored.at, stored.chain_seq) == (now, 1)
    assert stored.row_hash != "ab" * 32
    with console_engine.connect() as conn:
        assert verify_chain(conn).intact


def test_the_login_roles_own_nothing_and_hold_no_power(engine):
    with engine.connect() as conn:
        owned = conn.execute(sa.text(
            """SELECT r.rolname, 'relation ' || c.oid::regclass::text FROM pg_class c
                   JOIN pg_roles r ON r.oid = c.relowner WHERE r.rolname = ANY(:roles)
               UNION ALL
               SELECT r.rolname, 'schema ' || n.nspname FROM pg_namespace n
                   JOIN pg_roles r ON r.oid = n.nspowner WHERE r.rolname = ANY(:roles)
               UNION ALL
               SELECT r.rolname, 'function ' || p.oid::regprocedure::text FROM pg_proc p
                   JOIN pg_roles r ON r.oid = p.proowner WHERE r.rolname = ANY(:roles)
               UNION ALL
               SELECT r.rolname, 'type ' || t.oid::regtype::text FROM pg_type t
                   JOIN pg_roles r ON r.oid = t.typowner WHERE r.rolname = ANY(:roles)"""),
            {"roles": list(LOGIN_ROLES)}).all()
        powers = conn.execute(sa.text(
            """SELECT rolname, rolsuper, rolcreaterole, rolcreatedb, rolreplication,
                      rolbypassrls, pg_has_role(rolname, 'dh_owner', 'MEMBER')
               FROM pg_roles WHERE rolname = ANY(:roles) ORDER BY rolname"""),
            {"roles": list(LOGIN_ROLES)}).all()
        not_owner = conn.execute(sa.text(
            """SELECT c.oid::regclass::text FROM pg_class c
               JOIN pg_namespace n ON n.oid = c.relnamespace
               WHERE n.nspname IN ('app', 'ops', 'mart', 'etl', 'fin', 'lgx', 'inv')
                 AND pg_get_userbyid(c.relowner) <> 'dh_owner'""")).scalars().all()
    assert owned == []
    assert powers == [(r, False, False, False, False, False, False) for r in sorted(LOGIN_ROLES)]
    assert not_owner == []


def test_the_audit_log_grants_are_select_and_insert_only(engine):
    with engine.connect() as conn:
        rights = conn.execute(sa.text(
            """SELECT grantee, string_agg(privilege_type, ',' ORDER BY privilege_type)
               FROM information_schema.table_privileges
               WHERE table_schema = 'ops' AND table_name = :t AND grantee <> 'dh_owner'
               GROUP BY grantee ORDER BY grantee"""), {"t": "audit_log"}).all()
        head = conn.execute(sa.text(
            """SELECT grantee, string_agg(privilege_type, ',' ORDER BY privilege_type)
               FROM information_schema.table_privileges
               WHERE table_schema = 'ops' AND table_name = 'audit_chain_head'
                 AND grantee <> 'dh_owner' GROUP BY grantee""")).all()
    assert rights == [("dh_console", "INSERT,SELECT"), ("dh_jobs", "INSERT,SELECT")]
    assert head == [("dh_console", "SELECT")]


def test_no_login_role_deletes_money_lent_or_rewrites_a_loans_timeline(engine):
    with engine.connect() as conn:
        rights = conn.execute(sa.text(
            """SELECT table_name, grantee, string_agg(privilege_type, ',' ORDER BY privilege_type)
               FROM information_schema.table_privileges
               WHERE table_schema = 'fin' AND grantee <> 'dh_owner'
               GROUP BY table_name, grantee ORDER BY table_name, grantee""")).all()
    assert rights == [
        (table, role, "INSERT,SELECT" if table in ("loan_events", "loan_repayments")
         else "INSERT,SELECT,UPDATE")
        for table in ("credit_lines", "line_requests", "loan_events", "loan_repayments", "loans",
                      "vip_memberships")
        for role in ("dh_console", "dh_jobs")]


def test_no_login_role_deletes_a_transport_or_rewrites_its_timeline(engine):
    with engine.connect() as conn:
        rights = conn.execute(sa.text(
            """SELECT table_name, grantee, string_agg(privilege_type, ',' ORDER BY privilege_type)
               FROM information_schema.table_privileges
               WHERE table_schema = 'lgx' AND grantee <> 'dh_owner'
               GROUP BY table_name, grantee ORDER BY table_name, grantee""")).all()
    assert rights == [
        (table, role, "INSERT,SELECT" if table == "request_events" else "INSERT,SELECT,UPDATE")
        for table in ("carrier_lanes", "carrier_rates", "carriers", "claims", "loads", "quotes",
                      "ratings", "request_cars", "request_events", "requests")
        for role in ("dh_console", "dh_jobs")]


def test_no_login_role_deletes_stock_or_rewrites_a_price_change(engine):
    with engine.connect() as conn:
        rights = conn.execute(sa.text(
            """SELECT table_name, grantee, string_agg(privilege_type, ',' ORDER BY privilege_type)
               FROM information_schema.table_privileges
               WHERE table_schema = 'inv' AND grantee <> 'dh_owner'
               GROUP BY table_name, grantee ORDER BY table_name, grantee""")).all()
    assert rights == [
        (table, role, "SELECT" if role == "dh_jobs"
         else "INSERT,SELECT" if table == "price_changes" else "INSERT,SELECT,UPDATE")
        for table in ("price_changes", "stock_cars", "warehouses")
        for role in ("dh_console", "dh_jobs")]


def test_a_privilege_granted_by_hand_is_gone_after_the_next_migrate(engine):
    with engine.begin() as conn:
        conn.execute(sa.text("GRANT UPDATE, DELETE, TRUNCATE ON ops.audit_log TO dh_console"))
        conn.execute(sa.text("GRANT CREATE ON SCHEMA ops TO dh_jobs"))
    migrate(engine=engine)
    with engine.connect() as conn:
        assert conn.execute(sa.text(
            """SELECT has_table_privilege('dh_console', 'ops.audit_log', 'UPDATE'),
                      has_table_privilege('dh_console', 'ops.audit_log', 'DELETE'),
                      has_table_privilege('dh_console', 'ops.audit_log', 'TRUNCATE'),
                      has_schema_privilege('dh_jobs', 'ops', 'CREATE')""")).one() == (
            False, False, False, False)


def test_the_jobs_cannot_read_staff_accounts_and_readonly_sees_only_the_marts(engine,
                                                                               jobs_engine):
    url = make_url(str(engine.url.render_as_string(hide_password=False)))
    readonly = db.make_engine(db.with_user(url.render_as_string(hide_password=False),
                                           "dh_readonly"))
    try:
        for eng, sql in ((jobs_engine, "SELECT password_hash FROM ops.staff"),
                         (readonly, "SELECT 1 FROM app.merchants"),
                         (readonly, "SELECT 1 FROM ops.audit_log"),
                         (readonly, "SELECT 1 FROM etl.runs")):
            with eng.connect() as conn, pytest.raises(sa.exc.DBAPIError) as err:
                conn.execute(sa.text(sql))
            assert err.value.orig.pgcode == "42501", sql
        with engine.connect() as conn:
            marts = conn.execute(sa.text(
                """SELECT format('%I.%I', schemaname, relname) FROM (
                       SELECT schemaname, tablename AS relname FROM pg_tables
                       UNION ALL SELECT schemaname, viewname FROM pg_views) r
                   WHERE schemaname = 'mart' ORDER BY 1""")).scalars().all()
        assert len(marts) >= 10
        with readonly.connect() as conn:   # every mart table and view, the dashboards' diet
            for mart in marts:
                conn.execute(sa.text(f"SELECT * FROM {mart} LIMIT 1")).all()
    finally:
        readonly.dispose()


def test_the_system_jobs_run_as_dh_jobs(demo_engine, jobs_engine):
    from console.jobs import run_all

    with jobs_engine.connect() as conn:
        assert conn.execute(sa.text("SELECT current_user")).scalar() == "dh_jobs"
    lines = []
    results = run_all(engine=jobs_engine, full=True, echo=lines.append)
    assert [(r.name, r.ok) for r in results] == [
        ("prechecks", True), ("listing_flags", True), ("matching", True), ("etl", True),
        ("credit", True), ("credit_validation", True), ("loan_accrual", True),
        ("vip_lapse", True), ("loan_portfolio", True), ("logistics_mart", True)], lines
    with demo_engine.connect() as conn:
        done = conn.execute(sa.text(
            """SELECT (SELECT count(*) > 0 FROM ops.cert_prechecks),
                      (SELECT count(*) > 0 FROM ops.match_suggestions),
                      (SELECT count(*) FROM etl.runs WHERE status <> 'succeeded'),
                      (SELECT count(*) > 0 FROM mart.daily_kpis),
                      (SELECT count(*) FROM ops.credit_runs WHERE status = 'succeeded'
                         AND triggered_by IS NULL AND finished_at > now() - interval '1 hour')
                   """)).one()   # the run of today (the seed's weekly history lies before it)
        # Nothing the jobs staged outlives the run: dh_jobs still owns nothing.
        owned = conn.execute(sa.text(
            "SELECT count(*) FROM pg_class WHERE relowner = 'dh_jobs'::regrole")).scalar()
        assert verify_chain(conn).intact
    assert tuple(done) == (True, True, 0, True, 1)
    assert owned == 0


def test_role_urls_come_from_their_variables_or_the_base_url(monkeypatch):
    base = "postgresql://console_user:pw@db.internal:5432/dealerhub"
    monkeypatch.setenv("DATABASE_URL", base)
    for name in ("JOBS_DATABASE_URL", "MIGRATE_DATABASE_URL", "READONLY_DATABASE_URL"):
        monkeypatch.delenv(name, raising=False)
    get_settings.cache_clear()
    try:
        assert db.role_url("console") == "postgresql+psycopg2://console_user:pw@db.internal:5432/dealerhub"
        assert db.role_url("jobs") == "postgresql+psycopg2://dh_jobs@db.internal:5432/dealerhub"
        assert db.role_url("owner") == "postgresql+psycopg2://dh_owner@db.internal:5432/dealerhub"
        monkeypatch.setenv("JOBS_DATABASE_URL", "postgresql://jobs:secret@etl.internal/dealerhub")
        get_settings.cache_clear()
        assert db.role_url("jobs") == "postgresql+psycopg2://jobs:secret@etl.internal/dealerhub"
        with pytest.raises(ValueError):
            db.role_url("root")
    finally:
        get_settings.cache_clear()


def test_errors_never_carry_bound_values(console_engine, make_actor):
    make_actor("bd", username="taken")
    secret = "$argon2id$v=19$m=65536,t=3,p=4$c2VjcmV0$notarealhash"
    with pytest.raises(sa.exc.IntegrityError) as err, console_engine.begin() as conn:
        db.execute(conn, """INSERT INTO ops.staff (username, display_name, password_hash, roles)
                            VALUES (:u, 'X', :h, ARRAY['bd'])""", u="taken", h=secret)
    assert "argon2" not in str(err.value)
    assert "[SQL parameters hidden due to hide_parameters=True]" in str(err.value)
    for role in db.ROLE_USERS:
        assert db.get_engine(role=role).hide_parameters, role


def test_roles_are_created_once_when_databases_migrate_at_the_same_moment(admin_engine):
    """The first block of 060 run by four sessions at once, on role names of its own: each
    session either creates the roles or finds them made by another, none fails."""
    sql = (MIGRATION_DIR / "060_roles.sql").read_text(encoding="utf-8")
    block = sql[sql.index("DO $$"):sql.index("END $$;") + len("END $$;")]
    prefix = f"h{uuid.uuid4().hex[:8]}_"
    block = block.replace("'dh_", f"'{prefix}")
    sessions = 4
    barrier = threading.Barrier(sessions)
    errors = []

    def create() -> None:
        try:
            with admin_engine.connect() as conn, conn.connection.cursor() as cur:
                cur.execute("BEGIN")
                barrier.wait()
                cur.execute(block)
                cur.execute("SELECT pg_sleep(0.3)")  # hold the new roles uncommitted
                cur.execute("COMMIT")
        except Exception as err:  # reported below
            errors.append(err)

    threads = [threading.Thread(target=create) for _ in range(sessions)]
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert errors == []
        with admin_engine.connect() as conn:
            made = conn.execute(sa.text("SELECT rolname FROM pg_roles WHERE rolname LIKE :p "
                                        "ORDER BY 1"), {"p": f"{prefix}%"}).scalars().all()
        assert made == sorted(f"{prefix}{r}" for r in ("owner", "console", "jobs", "readonly"))
    finally:
        with admin_engine.connect() as conn:
            for role in ("owner", "console", "jobs", "readonly"):
                conn.exec_driver_sql(f'DROP ROLE IF EXISTS "{prefix}{role}"')


def test_without_database_url_the_embedded_server_serves_each_role(monkeypatch):
    for name in ("DATABASE_URL", "JOBS_DATABASE_URL", "MIGRATE_DATABASE_URL",
                 "READONLY_DATABASE_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("CONSOLE_PGDATA", str(PROJECT_ROOT / ".pgdata-test"))  # already running
    get_settings.cache_clear()
    try:
        superuser = make_url(db.database_url())
        urls = {role: make_url(db.role_url(role)) for role in db.ROLE_USERS}
    finally:
        get_settings.cache_clear()
    assert superuser.username == "postgres"
    assert urls["owner"] == superuser   # the embedded server's superuser migrates
    assert {r: (u.username, u.database, u.query) for r, u in urls.items() if r != "owner"} == {
        r: (db.ROLE_USERS[r], superuser.database, superuser.query)
        for r in ("console", "jobs", "readonly")}


def test_serve_starts_streamlit_as_the_console_role(demo_engine, monkeypatch):
    """`make run` migrates as the owner, then Streamlit gets dh_console's URL (and the jobs'
    for its run-a-job button), never the superuser's or the migration URL."""
    import console.__main__ as cli

    started = {}
    monkeypatch.setattr(cli.subprocess, "call",
                        lambda command, env, cwd: started.update(command=command, env=env) or 0)
    assert cli.main(["serve", "--server.port=8999"]) == 0
    env, test_db = started["env"], demo_engine.url.database
    assert make_url(env["DATABASE_URL"]).username == "dh_console"
    assert make_url(env["JOBS_DATABASE_URL"]).username == "dh_jobs"
    assert {make_url(env[k]).database for k in ("DATABASE_URL", "JOBS_DATABASE_URL")} == {test_db}
    assert "MIGRATE_DATABASE_URL" not in env
    assert started["command"][-1] == "--server.port=8999"
