"""The expectation suite guarding the daily_kpis job: the standard checks of each source it reads."""
from etl.job import suite_for

SOURCES = ('app.merchants', 'app.certifications', 'app.events', 'app.listings', 'app.requests', 'ops.matches', 'app.orders', 'app.payments')

SUITE = suite_for("daily_kpis", SOURCES)
