"""Supply/demand balance: live listings against open requests by brand, city tier and merchant type.

Transformation: sql/etl/supply_demand.sql. Suite: suite.py next to this file.
"""
from etl.job import Job
from etl.jobs.supply_demand.suite import SOURCES, SUITE

JOB = Job(name="supply_demand", sources=SOURCES, suite=SUITE, marts=('mart.supply_demand',),
          # A request past its needed-by date leaves the matchable counts at the first run
          # after the day turns that has a changed row (every 15-minute run has some on a
          # live platform); a run with nothing changed keeps the mart and its contract mark.
          always_load=False, description=__doc__.splitlines()[0])
