"""The expectation suite guarding the bd_performance job: the standard checks of each source it reads."""
from etl.job import suite_for

SOURCES = ('app.merchants', 'app.certifications', 'ops.matches', 'ops.contact_log')

SUITE = suite_for("bd_performance", SOURCES)
