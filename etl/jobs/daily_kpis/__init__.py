"""Daily KPIs (registrations, activity, posts, matches, deals, GMV, escrow, payment channels) and day/week/month distinct-merchant and median figures.

Transformation: sql/etl/daily_kpis.sql. Suite: suite.py next to this file.
"""
from etl.job import Job
from etl.jobs.daily_kpis.suite import SOURCES, SUITE

JOB = Job(name="daily_kpis", sources=SOURCES, suite=SUITE, marts=('mart.daily_kpis', 'mart.kpi_periods'),
          always_load=True, description=__doc__.splitlines()[0])
