"""Merchant features and outcomes for the credit rating, as of today.

Transformation: sql/etl/merchant_features.sql. Suite: suite.py next to this file.
"""
from etl.job import Job
from etl.jobs.merchant_features.suite import SOURCES, SUITE

JOB = Job(name="merchant_features", sources=SOURCES, suite=SUITE, marts=('mart.merchant_features',),
          always_load=True, description=__doc__.splitlines()[0])
