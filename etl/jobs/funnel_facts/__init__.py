"""Funnel facts: per merchant, the time of each step from registration to first completed deal.

Transformation: sql/etl/funnel_facts.sql. Suite: suite.py next to this file.
"""
from etl.job import Job
from etl.jobs.funnel_facts.suite import SOURCES, SUITE

JOB = Job(name="funnel_facts", sources=SOURCES, suite=SUITE, marts=('mart.funnel_facts',),
          always_load=False, description=__doc__.splitlines()[0])
