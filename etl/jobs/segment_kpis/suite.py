"""The expectation suite guarding the segment_kpis job: the standard checks of each source it reads."""
from etl.job import suite_for

SOURCES = ('app.merchants', 'app.certifications', 'app.events', 'app.listings', 'app.requests', 'ops.matches', 'app.orders', 'app.payments')

SUITE = suite_for("segment_kpis", SOURCES)
