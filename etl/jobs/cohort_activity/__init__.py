"""Cohort activity: registration month against months since, platform-wide and by merchant segment, active = a listing, request or deal event.

Transformation: sql/etl/cohort_activity.sql. Suite: suite.py next to this file.
"""
from etl.job import Job
from etl.jobs.cohort_activity.suite import SOURCES, SUITE

JOB = Job(name="cohort_activity", sources=SOURCES, suite=SUITE, marts=('mart.merchant_active_months', 'mart.cohort_activity',
                 'mart.cohort_activity_segment'),
          always_load=False, description=__doc__.splitlines()[0])
