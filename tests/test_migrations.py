"""Migrations: from empty, applied twice, and a failing one leaves no trace."""
import sqlalchemy as sa

import pytest

from console.migrate import MigrationError, discover, migrate


def test_fresh_database_has_all_schemas_and_versions(engine):
    with engine.connect() as conn:
        schemas = {r[0] for r in conn.execute(sa.text(
            "SELECT schema_name FROM information_schema.schemata"))}
        versions = [r[0] for r in conn.execute(sa.text(
            "SELECT version FROM public.schema_migrations ORDER BY version"))]
    assert {"app", "ops", "mart", "etl"} <= schemas
    assert versions == [m.version for m in discover()]


def test_applying_twice_is_a_noop(engine):
    assert migrate(engine=engine) == []


def test_failing_migration_leaves_schema_unchanged(engine, tmp_path):
    for mig in discover():
        (tmp_path / mig.path.name).write_text(mig.sql, encoding="utf-8")
    (tmp_path / "999_broken.sql").write_text(
        "CREATE TABLE app.half_done (id int);\nSELECT * FROM no_such_table;\n", encoding="utf-8")
    with pytest.raises(MigrationError, match="999_broken.sql"):
        migrate(engine=engine, directory=tmp_path)
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT to_regclass('app.half_done')")).scalar() is None
        assert conn.execute(sa.text(
            "SELECT count(*) FROM public.schema_migrations WHERE version = 999")).scalar() == 0
