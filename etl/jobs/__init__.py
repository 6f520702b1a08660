"""The job registry, in dependency-free run order."""
from __future__ import annotations

from etl.job import Job
from etl.jobs.bd_performance import JOB as BD_PERFORMANCE
from etl.jobs.cohort_activity import JOB as COHORT_ACTIVITY
from etl.jobs.daily_kpis import JOB as DAILY_KPIS
from etl.jobs.funnel_facts import JOB as FUNNEL_FACTS
from etl.jobs.merchant_features import JOB as MERCHANT_FEATURES
from etl.jobs.supply_demand import JOB as SUPPLY_DEMAND

JOBS: dict[str, Job] = {j.name: j for j in (
    FUNNEL_FACTS, DAILY_KPIS, COHORT_ACTIVITY, MERCHANT_FEATURES, SUPPLY_DEMAND, BD_PERFORMANCE)}
