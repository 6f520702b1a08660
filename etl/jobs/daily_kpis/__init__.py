"""Daily KPIs (registrations, activity, posts, matches, deals, GMV, escrow, payment channels) platform-wide, by merchant segment and by brand, and day/week/month distinct-merchant and median figures.

Transformation: sql/etl/daily_kpis.sql. Suite: suite.py next to this file.
"""
from etl.job import Job
from etl.jobs.daily_kpis.suite import SOURCES, SUITE

# always_load: the end-of-day snapshots run up to today, so a new day adds rows without
# any source changing.
JOB = Job(name="daily_kpis", sources=SOURCES, suite=SUITE,
          marts=('mart.daily_kpis', 'mart.kpi_periods', 'mart.daily_kpis_segment',
                 'mart.daily_kpis_brand'),
          always_load=True, description=__doc__.splitlines()[0])
