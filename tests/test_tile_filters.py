"""Home tiles open their lists already filtered: the data-quality page reads the admin tile's
``?runs=failed_24h`` (console/ui/links.py FILTERS, console/services/home.py LINKS)."""
from __future__ import annotations

import sqlalchemy as sa

from console import db
from console.services import data_quality as dq
from console.services.home import waiting_counts
from tests.test_links import opened


def _runs(engine) -> dict[str, int]:
    """Three runs: failed 2 h ago, failed 30 h ago, succeeded 1 h ago; their ids by name."""
    ids = {}
    with engine.begin() as conn:
        for name, status, hours in (("recent_failure", "failed", 2), ("old_failure", "failed", 30),
                                    ("success", "succeeded", 1)):
            ids[name] = conn.execute(sa.text(
                """INSERT INTO etl.runs (job, status, started_at, finished_at, error_text)
                   VALUES ('supply_demand', :s, now() - make_interval(hours => :h),
                           now() - make_interval(hours => :h) + interval '1 minute',
                           CASE WHEN :s = 'failed' THEN 'boom' END)
                   RETURNING id"""), {"s": status, "h": hours}).scalar_one()
    return ids


def _history_ids(at) -> list[int]:
    frame = next(df.value for df in at.dataframe if "运行ID" in df.value.columns)
    return [int(v) for v in frame["运行ID"]]


def test_the_service_lists_only_the_failures_of_the_last_24_hours(engine, make_actor):
    ids = _runs(engine)
    manager = make_actor("manager")
    with db.connection() as conn:
        failed = dq.run_history(conn=conn, actor=manager, failed_24h=True)
        every = dq.run_history(conn=conn, actor=manager)
    assert failed["run_id"].tolist() == [ids["recent_failure"]]
    assert sorted(every["run_id"].tolist()) == sorted(ids.values())


def test_the_admin_tile_opens_the_run_history_on_its_failures(engine, make_actor):
    ids = _runs(engine)
    admin = make_actor("admin")
    with db.connection() as conn:
        tile = next(c for c in waiting_counts(conn=conn, actor=admin)
                    if c.label_key == "home.admin.etl_failed_24h")
    assert (tile.value, tile.page, dict(tile.query)) == (1, "data-quality", {"runs": "failed_24h"})
    at = opened(admin, "pages/admin_data_quality.py", dict(tile.query))
    assert not at.exception and not at.error
    assert at.toggle(key="dq_failed_24h").value is True
    assert _history_ids(at) == [ids["recent_failure"]]
    # The filter stays the person's: switched off, the whole history shows.
    at.toggle(key="dq_failed_24h").set_value(False).run()
    assert sorted(_history_ids(at)) == sorted(ids.values())


def test_without_the_tiles_filter_the_history_is_whole_and_a_forged_one_is_refused(engine,
                                                                                   make_actor):
    ids = _runs(engine)
    admin = make_actor("admin")
    at = opened(admin, "pages/admin_data_quality.py", {})
    assert at.toggle(key="dq_failed_24h").value is False
    assert sorted(_history_ids(at)) == sorted(ids.values())
    at = opened(admin, "pages/admin_data_quality.py", {"runs": "all'--"})
    assert [e.value for e in at.error] == ["链接中的筛选条件无效，已忽略，显示全部。"]
    assert sorted(_history_ids(at)) == sorted(ids.values())
