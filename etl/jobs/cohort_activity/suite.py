"""The expectation suite guarding the cohort_activity job: the standard checks of each source it reads."""
from etl.job import suite_for

SOURCES = ('app.merchants', 'app.events')

SUITE = suite_for("cohort_activity", SOURCES)
