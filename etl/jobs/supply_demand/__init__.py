"""Supply/demand balance: live listings against open requests by brand, city tier and merchant type.

Transformation: sql/etl/supply_demand.sql. Suite: suite.py next to this file.
"""
from etl.job import Job
from etl.jobs.supply_demand.suite import SOURCES, SUITE

JOB = Job(name="supply_demand", sources=SOURCES, suite=SUITE, marts=('mart.supply_demand',),
          always_load=False, description=__doc__.splitlines()[0])
