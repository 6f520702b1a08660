"""The expectation suite guarding the supply_demand job: the standard checks of each source it reads."""
from etl.job import suite_for

SOURCES = ('app.merchants', 'app.listings', 'app.requests')

SUITE = suite_for("supply_demand", SOURCES)
