"""The audit log's hash chain (migration 061): written by the services, recomputed by the
verifier, broken the way a superuser would break it and reported at the right row."""
from __future__ import annotations

import threading
import uuid
from datetime import datetime, timezone

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import make_url

from console import db
from console.__main__ import main as console_main
from console.audit import ChainBreak, ChainReport, chain_hash, describe_chain, verify_chain, write_audit
from console.errors import PermissionDenied
from console.i18n import catalogue, translate
from console.migrate import discover, migrate
from console.services import audit_log, staff
from tests.apptest import page_script_as


def verify():
    with db.connection() as conn:   # as the console, like the page and the CLI
        return verify_chain(conn)


def as_superuser(engine, sql: str, **params):
    """What a superuser can do to the log: replica mode skips its append-only triggers."""
    with engine.begin() as conn:
        conn.execute(sa.text("SET LOCAL session_replication_role = replica"))
        return conn.execute(sa.text(sql), params)


@pytest.fixture
def chained(engine, make_actor):
    """Five audit rows written by the staff services; their ids in chain order."""
    admin = make_actor("admin")
    with db.transaction() as conn:
        a = staff.create_staff(conn=conn, actor=admin, username="chain.one", display_name="一号",
                               password="Quartz-Lantern-8841", roles=["bd"])
        b = staff.create_staff(conn=conn, actor=admin, username="chain.two", display_name="二号",
                               password="Quartz-Lantern-8842", roles=["ops"])
    with db.transaction() as conn:
        staff.set_roles(conn=conn, actor=admin, staff_id=a, roles=["bd", "manager"],
                        reason="team lead")
    with db.transaction() as conn:
        staff.set_active(conn=conn, actor=admin, staff_id=b, active=False, reason="left")
    with db.transaction() as conn:
        staff.set_active(conn=conn, actor=admin, staff_id=b, active=True, reason="back")
    with engine.connect() as conn:
        return conn.execute(sa.text("SELECT id FROM ops.audit_log ORDER BY chain_seq")).scalars().all()


def test_service_rows_form_an_intact_chain_the_verifier_recomputes(engine, chained):
    report = verify()
    assert (report.intact, report.rows, report.links) == (True, 5, 5)
    with engine.connect() as conn:
        rows = conn.execute(sa.text(
            "SELECT chain_seq, row_hash, actor_id, action, entity_type, entity_id, "
            "before::text AS before, after::text AS after, reason, at "
            "FROM ops.audit_log ORDER BY id")).mappings().all()
        head = conn.execute(sa.text("SELECT chain_seq, row_hash FROM ops.audit_chain_head")).one()
    assert [r["chain_seq"] for r in rows] == [1, 2, 3, 4, 5]
    prev = "0" * 64
    for row in rows:   # each link is sha256(previous link || canonical content)
        assert row["row_hash"] == chain_hash(prev, row)
        prev = row["row_hash"]
    assert tuple(head) == (5, prev) and report.head_hash == prev


def test_an_edited_row_is_reported_at_its_link(engine, chained):
    as_superuser(engine, "UPDATE ops.audit_log SET reason = 'nothing happened' WHERE id = :id",
                 id=chained[2])
    assert verify().broken == ChainBreak("edited", 3, chained[2])


def test_a_deleted_row_is_reported_at_the_gap(engine, chained):
    as_superuser(engine, "DELETE FROM ops.audit_log WHERE id = :id", id=chained[1])
    assert verify().broken == ChainBreak("deleted", 2, chained[2])


def test_deleting_the_newest_rows_is_reported(engine, chained):
    as_superuser(engine, "DELETE FROM ops.audit_log WHERE id = ANY(:ids)", ids=chained[3:])
    assert verify().broken == ChainBreak("deleted", 4, None)


_FORGE = """INSERT INTO ops.audit_log (actor_id, action, entity_type, entity_id, reason, at,
                                      chain_seq, row_hash)
            VALUES (NULL, 'staff.enable', 'staff', '1', 'forged', now() - interval '1 day',
                    :seq, :hash) RETURNING id"""


def test_a_row_inserted_around_the_trigger_carries_no_link(engine, chained):
    forged = as_superuser(engine, _FORGE, seq=None, hash=None).scalar_one()
    assert verify().broken == ChainBreak("inserted", None, forged)


def test_a_forged_second_row_at_a_link_is_reported(engine, chained):
    forged = as_superuser(engine, _FORGE, seq=3, hash="ab" * 32).scalar_one()
    assert verify().broken == ChainBreak("inserted", 3, forged)


def test_a_forged_row_beyond_the_head_is_reported(engine, chained):
    with engine.connect() as conn:
        last = conn.execute(sa.text("SELECT row_hash FROM ops.audit_log WHERE chain_seq = 5")).scalar()
    forged = as_superuser(engine, _FORGE, seq=6, hash=last).scalar_one()
    assert verify().broken == ChainBreak("inserted", 6, forged)


def test_an_edited_newest_row_with_its_hash_recomputed_still_shows_at_the_head(engine, chained):
    as_superuser(engine, "UPDATE ops.audit_log SET reason = 'nothing happened' WHERE id = :id",
                 id=chained[4])
    with engine.connect() as conn:
        prev = conn.execute(sa.text(
            "SELECT row_hash FROM ops.audit_log WHERE chain_seq = 4")).scalar_one()
        fields = conn.execute(sa.text(
            "SELECT chain_seq, actor_id, action, entity_type, entity_id, before::text AS before, "
            "after::text AS after, reason, at FROM ops.audit_log WHERE chain_seq = 5")).mappings().one()
    as_superuser(engine, "UPDATE ops.audit_log SET row_hash = :h WHERE id = :id",
                 h=chain_hash(prev, fields), id=chained[4])
    assert verify().broken == ChainBreak("edited", 5, chained[4])


def test_the_cli_exits_0_when_intact_and_1_with_where_it_breaks(engine, chained, capsys):
    assert console_main(["audit", "verify"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("Audit chain intact: 5 rows, verified at ")
    assert "chain head: link 5, hash " in out
    as_superuser(engine, "UPDATE ops.audit_log SET reason = 'x' WHERE id = :id", id=chained[2])
    assert console_main(["audit", "verify"]) == 1
    assert capsys.readouterr().out.startswith(
        f"Audit chain broken at link 3: row #{chained[2]} was edited (verified at ")


def test_the_audit_page_shows_the_chain_intact_then_broken_in_red(engine, chained, make_actor):
    manager = make_actor("manager")
    at = page_script_as(manager, "pages/admin_audit.py", lang="en")
    assert not at.exception and not at.error
    at.button(key="audit_verify").click().run()     # verified on request, not on every load
    assert at.success[0].value.startswith("Audit chain intact: 5 rows, verified at ")
    as_superuser(engine, "DELETE FROM ops.audit_log WHERE id = :id", id=chained[1])
    at = page_script_as(manager, "pages/admin_audit.py", lang="en")
    assert at.success    # the remembered verification until someone verifies again
    at.button(key="audit_verify").click().run()
    assert not at.success
    assert at.error[0].value.startswith(
        f"Audit chain broken at link 2: that row was deleted; row #{chained[2]} follows the gap")


def test_the_chain_status_is_for_admins_and_managers_only(engine, make_actor):
    for role in ("ops", "bd", "risk"):
        with pytest.raises(PermissionDenied), db.connection() as conn:
            audit_log.chain_status(conn=conn, actor=make_actor(role))
    with db.connection() as conn:
        assert audit_log.chain_status(conn=conn, actor=make_actor("admin")).intact


def test_every_verdict_has_its_text_in_both_languages():
    kinds = [ChainBreak("edited", 3, 7), ChainBreak("deleted", 2, 8), ChainBreak("deleted", 9, None),
             ChainBreak("inserted", 3, 9), ChainBreak("inserted", None, 9),
             ChainBreak("head_missing", None, None), None]
    for broken in kinds:
        key, params = describe_chain(ChainReport(rows=1, links=1, head_hash=None, broken=broken,
                                                 verified_at=datetime.now(timezone.utc)))
        assert key in catalogue()
        for lang in ("zh", "en"):
            assert "{" not in translate(key, lang, **params)


def test_concurrent_writers_still_give_one_intact_chain(engine, make_actor):
    """Eight sessions appending at once: the head's row lock makes them take turns, so the
    links are 1..40 without a gap or a duplicate, and each hashes over the one before."""
    admin = make_actor("admin")
    writers, per_writer = 8, 5
    barrier = threading.Barrier(writers)
    errors = []

    def write(n: int) -> None:
        try:
            with db.get_engine().connect() as conn:
                barrier.wait()
                for i in range(per_writer):
                    with conn.begin():
                        write_audit(conn=conn, actor_id=admin.id, action="test.concurrent",
                                    entity_type="writer", entity_id=n, after={"i": i})
        except Exception as err:  # reported below
            errors.append(err)

    threads = [threading.Thread(target=write, args=(n,)) for n in range(writers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    report = verify()
    assert (report.intact, report.rows, report.links) == (True, 40, 40)
    with engine.connect() as conn:
        seqs = conn.execute(sa.text("SELECT chain_seq FROM ops.audit_log ORDER BY chain_seq")).scalars().all()
    assert seqs == list(range(1, 41))


def test_migration_061_chains_the_rows_that_were_there_in_id_order(server_url, admin_engine,
                                                                    tmp_path):
    name = f"t_{uuid.uuid4().hex[:12]}"
    with admin_engine.connect() as conn:
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    url = make_url(server_url).set(database=name).render_as_string(hide_password=False)
    eng = db.make_engine(url)
    try:
        for mig in discover():
            if mig.version < 61:
                (tmp_path / mig.path.name).write_text(mig.sql, encoding="utf-8")
        migrate(engine=eng, directory=tmp_path, grants=None)
        with eng.begin() as conn:
            for n in range(3):
                write_audit(conn=conn, actor_id=None, action="old.row", entity_type="x",
                            entity_id=n, reason="before the chain")
        migrate(engine=eng)
        with eng.connect() as conn:
            assert conn.execute(sa.text(
                "SELECT entity_id, chain_seq FROM ops.audit_log ORDER BY id")).all() == [
                ("0", 1), ("1", 2), ("2", 3)]
            report = verify_chain(conn)
        assert (report.intact, report.rows, report.links) == (True, 3, 3)
        with eng.begin() as conn:   # and the next row links to them
            write_audit(conn=conn, actor_id=None, action="new.row", entity_type="x", entity_id=4)
        with eng.connect() as conn:
            report = verify_chain(conn)
        assert (report.intact, report.rows, report.links) == (True, 4, 4)
    finally:
        eng.dispose()
        with admin_engine.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def test_a_long_job_step_does_not_hold_the_chain_head(engine, jobs_engine, monkeypatch):
    """The matching step returns idle leads (audit rows) and then rematches for a long time:
    the returns commit first, so a staff action's audit row does not wait for the rematch."""
    import time

    from console import jobs
    from console.services import leads, matching

    rematching = threading.Event()

    def returned_one(*, conn, idle_hours):
        write_audit(conn=conn, actor_id=None, action="lead.auto_return", entity_type="lead",
                    entity_id=1)
        return 1

    def slow_rematch(*, conn, top_k):
        rematching.set()
        conn.execute(sa.text("SELECT pg_sleep(2)"))
        return matching.RematchResult(0, 0)

    monkeypatch.setattr(leads, "return_untouched", returned_one)
    monkeypatch.setattr(matching, "rematch_full", slow_rematch)
    job = threading.Thread(target=jobs._leads_and_matches, args=(jobs_engine,), kwargs={"full": True})
    job.start()
    try:
        assert rematching.wait(10)
        started = time.perf_counter()
        with db.transaction() as conn:
            write_audit(conn=conn, actor_id=None, action="staff.action", entity_type="x",
                        entity_id=2)
        waited = time.perf_counter() - started
    finally:
        job.join()
    assert waited < 1.0
    assert verify().rows == 2
