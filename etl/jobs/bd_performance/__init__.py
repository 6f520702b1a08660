"""BD performance per staff member and month.

Transformation: sql/etl/bd_performance.sql. Suite: suite.py next to this file.
"""
from etl.job import Job
from etl.jobs.bd_performance.suite import SOURCES, SUITE

JOB = Job(name="bd_performance", sources=SOURCES, suite=SUITE, marts=('mart.bd_performance',),
          always_load=False, description=__doc__.splitlines()[0])
