"""The expectation suite guarding the funnel_facts job: the standard checks of each source it reads."""
from etl.job import suite_for

SOURCES = ('app.merchants', 'app.certifications', 'app.listings', 'app.requests', 'ops.matches', 'app.orders')

SUITE = suite_for("funnel_facts", SOURCES)
