"""Contracts on the marts the dashboards read, as dbt's model contracts and tests: the
columns are there, keys are unique, figures are present and never negative (a count, a
stock such as live listings at the end of a day, an escrow balance), ids resolve, and the
invariants the dashboards rely on hold (segments and brands sum to the platform's figures,
funnel steps never grow, active merchants never exceed their cohort).

A job checks its marts after its load, in the same run, whenever the load wrote a row (or
rebuilt them): one great-expectations suite per mart, validated on the mart table, whose
cross-row and cross-table invariants are GE ``UnexpectedRowsExpectation`` queries. Results go
to ``etl.validation_results`` under the suite ``contract:<mart>`` (what the data-quality page
lists), and ``mart.freshness`` marks a mart whose latest contract failed (migration 065):
the growth page's badge turns red. A failed contract does not undo the load: the mart is
what the sources say, and the badge says it cannot be trusted.
"""
from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from etl import checks as ck
from etl.checks import Check
from etl.validate import GeResult, validate_relation

SUITE_PREFIX = "contract:"

# The additive per-day figures of daily_kpis and its segments (README: a day's platform
# figures are the sums of its segments). Counts of stocks (live_listings, open_requests)
# and money held in escrow are balances: never negative either.
KPI_FIGURES = (
    "new_registrations", "newly_certified", "active_merchants", "listings_created",
    "requests_created", "live_listings", "open_requests", "requests_with_match",
    "requests_with_deposit", "matches_created", "orders_created", "deposits_paid",
    "deals_completed", "orders_cancelled", "gmv", "fee_amount", "deposit_held",
    "deposit_released", "deposit_refunded", "deposit_disputed", "pay_wechat", "pay_alipay",
    "pay_bank", "gmv_self_operated", "gmv_marketplace")
BRAND_FIGURES = ("listings_created", "requests_created", "live_listings", "open_requests",
                 "matches_created", "orders_created", "deals_completed", "gmv",
                 "gmv_self_operated", "gmv_marketplace")
COHORT_FIGURES = ("cohort_size", "active_merchants")
SUPPLY_FIGURES = ("live_listings", "listing_units", "open_requests", "request_units",
                  "matchable_listings", "matchable_listing_units", "matchable_requests",
                  "matchable_request_units")
FEATURE_COUNTS = ("months_on_platform", "deals_12m", "gmv_12m", "deals_total",
                  "deposit_defaults", "late_payments", "cancellations", "disputes_raised",
                  "disputes_lost", "review_count", "fake_listings_confirmed", "matches_total")
BD_FIGURES = ("merchants_registered", "merchants_certified", "matches_created",
              "matches_contacted", "deals_won", "deals_lost", "won_value", "contacts_logged")
# Funnel steps and the step each requires; per cohort month a step never counts more
# merchants than the one it requires (a merchant can post before it is certified, so the
# dashboard's order of steps is not a chain of requirements).
FUNNEL_REQUIRES = (("cert_submitted_at", "registered_at"), ("certified_at", "cert_submitted_at"),
                   ("first_post_at", "registered_at"), ("first_match_at", "first_post_at"),
                   ("first_deal_at", "first_deposit_at"))


@dataclass(frozen=True)
class Contract:
    mart: str                                    # e.g. "mart.daily_kpis"
    key: tuple[str, ...]
    figures: tuple[str, ...] = ()                # not null and >= 0
    required: tuple[str, ...] = ()               # other columns that are never null
    relationships: tuple[tuple[str, str], ...] = ()   # (column, referenced table by id)
    extra: tuple[Check, ...] = field(default_factory=tuple)

    @property
    def suite(self) -> str:
        return SUITE_PREFIX + self.mart

    def checks(self) -> list[Check]:
        short = self.mart.split(".", 1)[1]
        present = [*self.key, *self.required, *self.figures]
        out = [ck.has_columns(self.mart, present), ck.unique_key(self.mart, self.key)]
        not_null = " OR ".join(f"subselect.{c} IS NULL" for c in present)
        out.append(ck.rows_violating(self.mart, "not_null",
                                     f"SELECT * FROM {{batch}} WHERE {not_null}"))
        if self.figures:
            out.append(_non_negative(self.mart, self.key, self.figures))
        out += [ck.fk(self.mart, column, ref, severity="error")
                for column, ref in self.relationships]
        out += list(self.extra)
        assert len({c.name for c in out}) == len(out), f"{short}: duplicate check names"
        return out


def _non_negative(mart: str, key: Sequence[str], figures: Sequence[str]) -> Check:
    """No figure is below zero; violations name the key and the figures. One query for all
    the figures: great-expectations computes each column expectation with its own query and
    ~15 ms of Python, and the KPI marts have 23 figures."""
    keys = ", ".join(f"subselect.{k}" for k in key)
    named = ", ".join(f"CASE WHEN subselect.{f} < 0 THEN '{f}' END" for f in figures)
    below = " OR ".join(f"subselect.{f} < 0" for f in figures)
    return ck.rows_violating(mart, "figures_non_negative", f"""
        SELECT {keys}, array_to_string(ARRAY[{named}], ',') AS figures
        FROM {{batch}} WHERE {below}""")


def _side(relation: str, alias: str) -> tuple[str, str]:
    """FROM item and alias of one side. great-expectations substitutes ``{batch}`` with
    ``(…) AS subselect``, but leaves the alias to the query when it has a JOIN; these do."""
    if relation == "{batch}":
        return "{batch} AS subselect", "subselect"
    return f"{relation} {alias}", alias


def _sum_check(mart: str, name: str, *, whole: str, parts: str, key: Sequence[str],
               figures: Sequence[str]) -> Check:
    """Each row of ``whole`` equals the sums of ``parts`` over the same key, figure by
    figure; a key on one side only must be all zero on it. ``{batch}`` (the mart being
    validated) stands for one side. Violations name the key and the figure."""
    w_from, w = _side(whole, "w")
    p_from, p = _side(parts, "p")
    keys = ", ".join(f"{p}.{k}" for k in key)
    sums = ", ".join(f"sum({p}.{f})::numeric AS {f}" for f in figures)
    on = " AND ".join(f"s.{k} = {w}.{k}" for k in key)
    shown = ", ".join(f"coalesce({w}.{k}, s.{k}) AS {k}" for k in key)
    pairs = ", ".join(f"('{f}', coalesce({w}.{f}, 0)::numeric, coalesce(s.{f}, 0))"
                      for f in figures)
    return ck.rows_violating(mart, name, f"""
        SELECT {shown}, v.figure, v.total, v.sum_of_parts
        FROM {w_from}
        FULL JOIN (SELECT {keys}, {sums} FROM {p_from} GROUP BY {keys}) s ON {on}
        CROSS JOIN LATERAL (VALUES {pairs}) AS v(figure, total, sum_of_parts)
        WHERE v.total IS DISTINCT FROM v.sum_of_parts""")


def _gmv_split_adds_up(mart: str) -> Check:
    """GMV's two parts (issue 21: self-operated and marketplace, computed apart) add up to
    it exactly, row by row."""
    return ck.rows_violating(mart, "gmv_split_adds_up", """
        SELECT * FROM {batch}
        WHERE subselect.gmv_self_operated + subselect.gmv_marketplace <> subselect.gmv""")


def _funnel_never_grows() -> Check:
    """Per cohort month, no step counts more merchants than the step it requires."""
    counts = ", ".join(f"count(subselect.{step}) AS n{i}, count(subselect.{needs}) AS r{i}"
                       for i, (step, needs) in enumerate(FUNNEL_REQUIRES))
    rows = ", ".join(f"('{step}', '{needs}', n{i}, r{i})"
                     for i, (step, needs) in enumerate(FUNNEL_REQUIRES))
    return ck.rows_violating("mart.funnel_facts", "steps_never_grow", f"""
        SELECT c.cohort_month, v.step, v.requires, v.merchants, v.required
        FROM (SELECT subselect.cohort_month, {counts} FROM {{batch}} AS subselect
              GROUP BY subselect.cohort_month) c
        CROSS JOIN LATERAL (VALUES {rows}) AS v(step, requires, merchants, required)
        WHERE v.merchants > v.required""")


def _matchable_within_total() -> Check:
    """The posts matching can use are some of the live / open ones, never more (issue 15).
    A negative total is figures_non_negative's finding, not reported twice here."""
    pairs = (("matchable_listings", "live_listings"), ("matchable_listing_units", "listing_units"),
             ("matchable_requests", "open_requests"), ("matchable_request_units", "request_units"))
    above = " OR ".join(f"(subselect.{part} > subselect.{whole} AND subselect.{whole} >= 0)"
                        for part, whole in pairs)
    return ck.rows_violating("mart.supply_demand", "matchable_within_total",
                             f"SELECT * FROM {{batch}} WHERE {above}")


def _active_within_cohort(mart: str) -> Check:
    return ck.rows_violating(mart, "active_within_cohort",
                             "SELECT * FROM {batch} "
                             "WHERE subselect.active_merchants > subselect.cohort_size")


CONTRACTS: dict[str, Contract] = {c.mart: c for c in (
    Contract("mart.funnel_facts", ("merchant_id",),
             required=("registered_at", "cohort_month", "channel", "merchant_type", "size_class"),
             relationships=(("merchant_id", "app.merchants"), ("city_id", "app.cities")),
             extra=(_funnel_never_grows(),)),
    Contract("mart.daily_kpis", ("day",), figures=KPI_FIGURES,
             extra=(_sum_check("mart.daily_kpis", "segments_sum_to_platform", whole="{batch}",
                               parts="mart.daily_kpis_segment", key=("day",),
                               figures=KPI_FIGURES),
                    _gmv_split_adds_up("mart.daily_kpis"))),
    Contract("mart.daily_kpis_segment", ("day", "tier_level", "merchant_type"),
             figures=KPI_FIGURES,
             extra=(ck.between("mart.daily_kpis_segment", "tier_level", 0, 6),
                    ck.in_set("mart.daily_kpis_segment", "merchant_type",
                              ("4s", "secondary", "resource", "parallel_import", "unknown"),
                              severity="error"),
                    _gmv_split_adds_up("mart.daily_kpis_segment"))),
    Contract("mart.daily_kpis_brand", ("day", "brand_id"), figures=BRAND_FIGURES,
             relationships=(("brand_id", "app.brands"),),
             extra=(_sum_check("mart.daily_kpis_brand", "brands_sum_to_platform",
                               whole="mart.daily_kpis", parts="{batch}", key=("day",),
                               figures=BRAND_FIGURES),
                    _gmv_split_adds_up("mart.daily_kpis_brand"))),
    Contract("mart.kpi_periods", ("grain", "period_start"),
             figures=("active_merchants", "requests_created", "requests_matched"),
             extra=(ck.between("mart.kpi_periods", "median_hours_to_match", 0, None),
                    ck.in_set("mart.kpi_periods", "grain", ("day", "week", "month"),
                              severity="error"))),
    Contract("mart.cohort_activity", ("cohort_month", "months_since"), figures=COHORT_FIGURES,
             required=("retention",),
             extra=(ck.between("mart.cohort_activity", "retention", 0, 1),
                    _active_within_cohort("mart.cohort_activity"),
                    _sum_check("mart.cohort_activity", "segments_sum_to_cohorts", whole="{batch}",
                               parts="mart.cohort_activity_segment",
                               key=("cohort_month", "months_since"), figures=COHORT_FIGURES))),
    Contract("mart.cohort_activity_segment",
             ("cohort_month", "months_since", "tier_level", "merchant_type"),
             figures=COHORT_FIGURES,
             extra=(_active_within_cohort("mart.cohort_activity_segment"),)),
    Contract("mart.merchant_active_months", ("merchant_id", "month"),
             relationships=(("merchant_id", "app.merchants"),)),
    Contract("mart.supply_demand", ("brand_id", "tier_level", "merchant_type"),
             figures=SUPPLY_FIGURES, required=("brand_name", "tier_name"),
             relationships=(("brand_id", "app.brands"),),
             extra=(_matchable_within_total(),)),
    Contract("mart.merchant_features", ("merchant_id",), figures=FEATURE_COUNTS,
             required=("as_of_date", "cert_level", "merchant_type", "size_class",
                       "merchant_status", "registered_at"),
             relationships=(("merchant_id", "app.merchants"),),
             extra=(ck.between("mart.merchant_features", "avg_stars", 1, 5),)),
    # The staff table is closed to the jobs' role (password hashes): no relationship check.
    Contract("mart.bd_performance", ("staff_id", "month"), figures=BD_FIGURES),
)}


# ---------------------------------------------------------------- validation
def validate(engine: Engine, *, job: str, marts: Sequence[str], run_id: int) -> list[str]:
    """Validate the contracts of ``marts`` and record the results under ``run_id``; returns
    the names of the failed expectations. A contract that cannot be evaluated at all (the
    mart is gone, a query fails) is recorded as failed, not raised: the load stands."""
    failed: list[str] = []
    for mart in marts:
        contract = CONTRACTS.get(mart)
        if contract is None:
            continue
        results = _results(engine, contract)
        with engine.begin() as conn:
            record_results(conn, run_id=run_id, job=job, suite=contract.suite, table=mart,
                           results=results)
        failed += [r.check for r in results if not r.success]
    return failed


def record_results(conn, *, run_id: int, job: str, suite: str, table: str,
                   results: Sequence[GeResult]) -> None:
    """Write checks' results as the ETL's validation rows (error severity), as the data-quality
    page reads them: the marts' contracts here and the finance checks (etl/finance_checks.py)."""
    for r in results:
        conn.execute(sa.text("""
            INSERT INTO etl.validation_results
                (run_id, job, suite, expectation, expectation_type, source_table,
                 severity, success, ge_success, observed_value, element_count,
                 failing_rows, details)
            VALUES (:run, :job, :suite, :exp, :etype, :table, 'error', :ok, :ok, :obs,
                    :elements, :failing, CAST(:details AS jsonb))"""),
            {"run": run_id, "job": job, "suite": suite, "exp": r.check,
             "etype": r.expectation_type, "table": table, "ok": r.success,
             "obs": r.observed, "elements": r.element_count,
             "failing": None if r.success or r.observed is None else int(r.observed),
             "details": json.dumps(r.details, ensure_ascii=False, default=str)})


def _results(engine: Engine, contract: Contract) -> list[GeResult]:
    try:
        results = validate_relation(engine=engine, relation=contract.mart,
                                    checks=contract.checks(), previous_counts={})
    except Exception as exc:  # noqa: BLE001 - recorded as a failed contract, see validate()
        name = f"{contract.mart.split('.', 1)[1]}.contract_evaluated"
        return [GeResult(name, "contract_error", False, None, None,
                         {"exception": f"{type(exc).__name__}: {exc}"[:500]})]
    queries = {c.name: c.params["query"] for c in contract.checks() if c.kind == "rows_violating"}
    return [_with_examples(engine, contract.mart, r, queries[r.check])
            if not r.success and r.check in queries and "exception" not in r.details else r
            for r in results]


def _with_examples(engine: Engine, mart: str, result: GeResult, query: str) -> GeResult:
    """The first rows breaking an invariant, for the data-quality page (GE's BASIC result
    carries only their count; asking for all of them costs a query on every check)."""
    sql = query.replace("{batch} AS subselect", "{batch}").replace("{batch}", f"{mart} AS subselect")
    with engine.connect() as conn:
        rows = conn.execute(sa.text(f"SELECT * FROM ({sql}) broken LIMIT 5")).mappings().all()
    details = {**result.details, "rows": [{k: _plain(v) for k, v in r.items()} for r in rows]}
    return GeResult(result.check, result.expectation_type, result.success, result.observed,
                    result.element_count, details)


def _plain(value: object) -> object:
    return value if isinstance(value, (int, float, str, bool)) or value is None else str(value)
