"""``seed(force=True)`` empties the demo world, not the reference rows the migrations wrote
(the review reasons and certification documents of migration 010)."""
from __future__ import annotations

import sqlalchemy as sa

from console.demo import MIGRATION_ROWS, seed
from console.demo.documents import cjk_font_path
from tests.conftest import DEMO_SEED

REFERENCE_SQL = {
    "ops.review_reasons": "SELECT queue, decision, code, sort_order FROM ops.review_reasons "
                          "ORDER BY queue, decision, code",
    "ops.cert_documents": "SELECT code, kind, sort_order FROM ops.cert_documents ORDER BY code",
    "ops.match_policy": "SELECT id, aged_points, aged_after_days, aged_full_days, version, "
                        "updated_by FROM ops.match_policy",
}


def _filled_tables(engine) -> set[str]:
    with engine.connect() as conn:
        names = conn.execute(sa.text(
            """SELECT format('%I.%I', schemaname, tablename) FROM pg_tables
               WHERE schemaname IN ('app', 'ops')""")).scalars().all()
        return {n for n in names
                if conn.execute(sa.text(f"SELECT EXISTS (SELECT FROM {n})")).scalar_one()}


def _reference(engine) -> dict[str, list[tuple]]:
    with engine.connect() as conn:
        return {t: [tuple(r) for r in conn.execute(sa.text(sql))] for t, sql in REFERENCE_SQL.items()}


def test_the_kept_tables_are_what_a_fresh_migrate_fills(engine):
    # A migration that writes reference rows into another table must name it in
    # MIGRATION_ROWS, or a forced reseed would empty it. The audit chain's head is not
    # reference data: the chain starts again from an empty log (migration 061).
    assert _filled_tables(engine) == set(MIGRATION_ROWS) | {"ops.audit_chain_head"}
    assert set(REFERENCE_SQL) == set(MIGRATION_ROWS)


def test_a_forced_reseed_keeps_the_migrations_reference_rows(demo_engine):
    before = _reference(demo_engine)
    assert len(before["ops.review_reasons"]) > 10 and len(before["ops.cert_documents"]) >= 2
    with demo_engine.connect() as conn:
        merchants = conn.execute(sa.text("SELECT count(*) FROM app.merchants")).scalar_one()
    seed(engine=demo_engine, scale="small", seed=DEMO_SEED + 1, force=True)
    assert _reference(demo_engine) == before
    with demo_engine.connect() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM app.merchants")).scalar_one() == merchants
        # The reasons are there for the pages: a rejection reason of the certification queue.
        assert conn.execute(sa.text(
            "SELECT count(*) FROM ops.review_reasons WHERE queue = 'certification' "
            "AND decision = 'reject'")).scalar_one() > 0
        images = conn.execute(sa.text("SELECT count(*) FROM app.certification_images")).scalar_one()
    # The document images need the document list; seeded again when a CJK font is installed.
    assert (images > 0) == (cjk_font_path() is not None)
