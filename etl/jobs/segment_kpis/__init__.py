"""Daily KPIs by merchant segment (city tier × merchant type) and by brand, for the growth page's filters.

Transformation: sql/etl/segment_kpis.sql. Suite: suite.py next to this file.
"""
from etl.job import Job
from etl.jobs.segment_kpis.suite import SOURCES, SUITE

# always_load: the end-of-day snapshots run up to today, so a new day adds rows without
# any source changing (as daily_kpis).
JOB = Job(name="segment_kpis", sources=SOURCES, suite=SUITE,
          marts=('mart.daily_kpis_segment', 'mart.daily_kpis_brand'),
          always_load=True, description=__doc__.splitlines()[0])
