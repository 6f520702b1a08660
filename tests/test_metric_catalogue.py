"""The metric catalogue (console/metrics/catalogue.toml) against the marts and the pages:
every mart column is a dimension or a figure, every figure's column exists, and every figure
the growth and home pages show has a name and a definition in both languages."""
from __future__ import annotations

import sqlalchemy as sa

from console import metrics
from console.services import growth, home
from console.services.growth import KPI_METRICS, STEP_NAMES

BOOKKEEPING = {"computed_at", "run_id"}


def _columns(engine) -> dict[str, set[str]]:
    with engine.connect() as conn:
        out: dict[str, set[str]] = {}
        for mart in metrics.marts():
            schema, table = mart.split(".")
            out[mart] = {r[0] for r in conn.execute(sa.text(
                "SELECT column_name FROM information_schema.columns "
                "WHERE table_schema = :s AND table_name = :t"), {"s": schema, "t": table})}
    return out


def test_every_mart_column_has_an_entry_and_every_entry_a_column(engine):
    columns = _columns(engine)
    assert all(columns.values()), [m for m, c in columns.items() if not c]   # every mart exists
    covered = {f"{m}.{c}" for m, dims in metrics.marts().items() for c in dims}
    figures = {c for metric in metrics.metrics().values() for c in metric.columns}
    existing = {f"{m}.{c}" for m, cols in columns.items() for c in cols - BOOKKEEPING}
    # A mart column with no entry: a figure nobody defined.
    assert existing - covered - figures == set()
    # An entry naming a column that is not there: a definition of nothing.
    assert (figures | covered) - existing == set()
    # A column is a dimension or one figure, not both, not two.
    assert covered & figures == set()
    owners: dict[str, list[str]] = {}
    for metric in metrics.metrics().values():
        for c in metric.columns:
            owners.setdefault(c, []).append(metric.key)
    assert {c: k for c, k in owners.items() if len(k) > 1} == {}


def _page_figures() -> set[str]:
    """Every figure key the growth page and the home page show."""
    growth_page = ({f"kpi.{m}" for m, _ in KPI_METRICS} | {"kpi.milestone_posts"}
                   | {f"funnel.{s}" for s in STEP_NAMES}
                   | {f"funnel.{c}" for c in ("merchants", "in_progress", "dropped", "conv_prev",
                                              "conv_first", "median_hours", "p90_hours")}
                   | {"cohort.retention", "cohort.active_merchants", "cohort.cohort_size"}
                   | {f"sd.{c}" for c in ("live_listings", "listing_units", "open_requests",
                                          "request_units", "gap", "demand_per_supply", "push",
                                          "all_live_listings", "all_open_requests")})
    home_page = {key for counters in home.COUNTERS.values() for key, _ in counters}
    return growth_page | home_page


def test_every_figure_on_the_growth_and_home_pages_is_defined_in_both_languages():
    missing = sorted(k for k in _page_figures() if metrics.get(k) is None)
    assert missing == []
    for key in _page_figures():
        m = metrics.get(key)
        for lang in ("zh", "en"):
            assert m.name(lang).strip(), (key, lang)
            assert len(m.definition(lang).strip()) >= 4, (key, lang)
        assert m.name("zh") != m.name("en") or m.name("zh").isascii(), key


def test_maturity_drives_the_growth_service():
    # The match rate's requests are matched in the days after: 14 days; the deposit figures
    # take longer; a count of registrations is final when its day ends.
    assert growth.metric_maturity("match_rate") == 14
    assert growth.metric_maturity("median_hours_to_match") == 14
    assert growth.metric_maturity("deposit_rate") == 30
    assert growth.metric_maturity("new_registrations") == 0
    assert metrics.get("funnel.first_deposit").side == "either"
    assert metrics.get("kpi.live_listings").grain == "snapshot"
    assert metrics.get("cohort.active_merchants").side == "merchant"
