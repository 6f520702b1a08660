"""`python -m console.credit score` says which version scored: the active one, whichever
scorecard file the command read (it printed the file's version, v2, while c1 scored)."""
from __future__ import annotations

import sqlalchemy as sa

from console.credit.__main__ import main as credit_main


def test_a_scoring_run_names_the_active_version_not_the_files(demo_engine, jobs_engine, capsys):
    with demo_engine.connect() as conn:
        active = conn.execute(sa.text(
            "SELECT version FROM ops.credit_scorecard_versions WHERE status = 'active'")).scalar()
    assert credit_main(["score"]) == 0
    out = capsys.readouterr().out
    with demo_engine.connect() as conn:
        scored = conn.execute(sa.text(
            """SELECT v.version FROM ops.credit_runs r
               JOIN ops.credit_scorecard_versions v ON v.id = r.version_id
               ORDER BY r.id DESC LIMIT 1""")).scalar()
    assert scored == active
    assert active != "v2"             # the default file's: the old output was right by chance
    assert f"merchants scored with {active} in " in out
