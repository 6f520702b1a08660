"""ETL jobs: incremental equals full, idempotence, atomic failure, quarantine, locking,
and every expectation of every suite catching the defect it promises."""
from __future__ import annotations

import time
from decimal import Decimal

import pytest
import sqlalchemy as sa

import etl.batches
import etl.runner
from etl import run_all, run_job
from etl.batches import Session
from etl.jobs import JOBS

MARTS = ["mart.funnel_facts", "mart.daily_kpis", "mart.kpi_periods", "mart.merchant_active_months",
         "mart.cohort_activity", "mart.merchant_features", "mart.supply_demand",
         "mart.bd_performance", "mart.daily_kpis_segment", "mart.daily_kpis_brand",
         "mart.cohort_activity_segment"]

SEED = """
INSERT INTO app.cities (id, name, short_name, adcode, province, tier_level, tier_name, longitude, latitude)
VALUES (1, '上海市', '上海', '310000', '上海', 1, '一线', 121.47, 31.23),
       (2, '洛阳市', '洛阳', '410300', '河南', 4, '三线', 112.45, 34.62);
INSERT INTO app.brands (id, name) VALUES (1, '丰田'), (2, '比亚迪');
INSERT INTO app.series (id, brand_id, name, manufacturer, min_guide_price, max_guide_price, energy_type, origin)
VALUES (1, 1, '凯美瑞', '广汽丰田', 170000, 260000, 'ice', 'joint_venture'),
       (2, 2, '秦PLUS', '比亚迪', 80000, 150000, 'phev', 'domestic');
INSERT INTO app.trims (id, series_id, name, model_year, guide_price, energy_type)
VALUES (1, 1, '2025款 2.0E 精英版', 2025, 200000, 'ice'),
       (2, 2, '2025款 DM-i 领先型', 2025, 100000, 'phev');
INSERT INTO ops.staff (id, username, display_name, password_hash, roles)
VALUES (900, 'bd_wang', 'BD Wang', 'x', '{bd}');
INSERT INTO app.merchants (id, name, merchant_type, size_class, city_id, channel, registered_at, cert_level, bd_owner_id, phone, last_active_at)
VALUES (1, '沪上4S', '4s', 'large', 1, 'bd_visit', '2025-01-05 10:00+08', 'enterprise', 900, '13800000001', '2025-03-20 10:00+08'),
       (2, '洛阳二网', 'secondary', 'small', 2, 'organic', '2025-01-20 10:00+08', 'personal', NULL, '13800000002', '2025-03-21 10:00+08'),
       (3, '资源商甲', 'resource', 'large', 1, 'referral', '2025-02-03 10:00+08', 'none', 900, '13800000003', NULL),
       (4, '新来的', 'secondary', 'small', 2, 'ad', '2025-02-10 10:00+08', 'none', NULL, '13800000004', NULL);
INSERT INTO app.certifications (id, merchant_id, kind, status, company_name, uscc, legal_rep, real_name, id_number, submitted_at, decided_at)
VALUES (1, 1, 'enterprise', 'approved', '沪上汽车', '91310000MA1FL8LQ2K', '张三', NULL, NULL, '2025-01-06 09:00+08', '2025-01-07 09:00+08'),
       (2, 2, 'personal', 'approved', NULL, NULL, NULL, '李四', '110101199003074477', '2025-01-21 09:00+08', '2025-01-23 09:00+08'),
       (3, 3, 'personal', 'pending', NULL, NULL, NULL, '王五', '110101199003074477', '2025-02-04 09:00+08', NULL);
INSERT INTO app.listings (id, merchant_id, trim_id, exterior_color, interior_color, quantity, city_id, price, guide_price, available_from, status, published_at, updated_at)
VALUES (1, 1, 1, '白', '黑', 3, 1, 180000, 200000, '2025-02-01', 'live', '2025-01-10 10:00+08', '2025-01-10 10:00+08'),
       (2, 1, 2, '黑', '黑', 1, 1, 95000, 100000, '2025-02-01', 'sold', '2025-01-12 10:00+08', '2025-02-15 10:00+08'),
       (3, 3, 2, '红', '黑', 2, 1, 90000, 100000, '2025-03-01', 'live', '2025-02-05 10:00+08', '2025-02-05 10:00+08');
INSERT INTO app.requests (id, merchant_id, series_id, trim_id, quantity, city_id, max_price, needed_by, status, created_at, updated_at)
VALUES (1, 2, 2, 2, 1, 2, 98000, '2025-03-01', 'matched', '2025-01-25 10:00+08', '2025-02-15 10:00+08'),
       (2, 2, 1, NULL, 2, 2, 190000, '2025-04-01', 'open', '2025-02-20 10:00+08', '2025-02-20 10:00+08');
INSERT INTO ops.matches (id, request_id, listing_id, source, stage, owner_id, deal_value, stage_entered_at, created_at, updated_at)
VALUES (1, 1, 2, 'manual', 'won', 900, 95000, '2025-02-15 10:00+08', '2025-01-26 10:00+08', '2025-02-15 10:00+08'),
       (2, 2, 1, 'auto', 'suggested', NULL, 0, '2025-02-21 10:00+08', '2025-02-21 10:00+08', '2025-02-21 10:00+08');
INSERT INTO ops.match_stage_history (match_id, from_stage, to_stage, at)
VALUES (1, NULL, 'suggested', '2025-01-26 10:00+08'), (1, 'suggested', 'contacted', '2025-01-26 16:00+08');
INSERT INTO app.orders (id, match_id, request_id, listing_id, buyer_id, seller_id, quantity, unit_price, amount, deposit_amount, fee_amount, status, escrow_state, created_at, deposit_paid_at, completed_at, updated_at)
VALUES (1, 1, 1, 2, 2, 1, 1, 95000, 95000, 5000, 500, 'completed', 'released', '2025-02-01 10:00+08', '2025-02-02 10:00+08', '2025-02-15 10:00+08', '2025-02-15 10:00+08');
INSERT INTO app.orders (id, listing_id, buyer_id, seller_id, quantity, unit_price, amount, deposit_amount, status, escrow_state, cancelled_by, created_at, deposit_paid_at, cancelled_at, updated_at)
VALUES (2, 1, 4, 1, 1, 180000, 180000, 10000, 'cancelled', 'released', 'buyer', '2025-02-11 10:00+08', '2025-02-11 12:00+08', '2025-02-20 10:00+08', '2025-02-20 10:00+08');
INSERT INTO app.payments (id, order_id, kind, channel, amount, status, due_at, paid_at, created_at)
VALUES (1, 1, 'deposit', 'wechat', 5000, 'succeeded', '2025-02-03 10:00+08', '2025-02-02 10:00+08', '2025-02-02 10:00+08'),
       (2, 1, 'balance', 'bank', 90000, 'succeeded', '2025-02-10 10:00+08', '2025-02-14 10:00+08', '2025-02-14 10:00+08'),
       (3, 2, 'deposit', 'alipay', 10000, 'succeeded', NULL, '2025-02-11 12:00+08', '2025-02-11 12:00+08');
INSERT INTO app.events (id, merchant_id, event_type, occurred_at)
VALUES (1, 1, 'registered', '2025-01-05 10:00+08'), (2, 1, 'listing_created', '2025-01-10 10:00+08'),
       (3, 2, 'registered', '2025-01-20 10:00+08'), (4, 2, 'request_created', '2025-01-25 10:00+08'),
       (5, 2, 'deal_completed', '2025-02-15 10:00+08'), (6, 1, 'deal_completed', '2025-02-15 10:00+08'),
       (7, 3, 'listing_created', '2025-02-05 10:00+08'), (8, 4, 'login', '2025-02-10 11:00+08');
INSERT INTO app.reviews (id, reviewer_id, target_merchant_id, order_id, stars, created_at)
VALUES (1, 2, 1, 1, 5, '2025-02-16 10:00+08'), (2, 1, 2, 1, 4, '2025-02-16 11:00+08');
INSERT INTO app.disputes (id, order_id, raised_by, against_id, reason, status, outcome, created_at, resolved_at)
VALUES (1, 2, 1, 4, 'other', 'resolved', 'raiser_won', '2025-02-21 10:00+08', '2025-02-25 10:00+08');
INSERT INTO app.loan_applications (id, merchant_id, amount, status, applied_at, decided_at, due_at, closed_at)
VALUES (1, 4, 50000, 'defaulted', '2025-02-12 10:00+08', '2025-02-13 10:00+08', '2025-03-13 10:00+08', '2025-03-20 10:00+08');
INSERT INTO fin.loans (id, merchant_id, order_id, seller_id, certificate_no, order_amount, principal, term_days, daily_rate, grade, needs_second, status, applied_at)
VALUES (1, 2, 1, 1, 'WDZ00000001', 95000, 66000, 30, 0.0004, 'A', false, 'cancelled', '2025-02-02 12:00+08');
INSERT INTO ops.listing_flags (id, listing_id, merchant_id, kind, status, decided_at, reason_code)
VALUES (1, 3, 3, 'reported_fake', 'confirmed', '2025-02-06 10:00+08', 'fake');
INSERT INTO ops.contact_log (id, merchant_id, staff_id, kind, body, created_at)
VALUES (1, 1, 900, 'call', '回访', '2025-01-08 10:00+08');
SELECT setval(pg_get_serial_sequence(t, 'id'), 1000) FROM unnest(ARRAY[
  'app.merchants','app.certifications','app.listings','app.requests','ops.matches','app.orders',
  'app.payments','app.events','app.reviews','app.disputes','app.loan_applications',
  'fin.loans','ops.listing_flags','ops.contact_log']) t;
"""


def seed(engine) -> None:
    with engine.begin() as conn:
        conn.connection.cursor().execute(SEED)


def q(engine, sql: str, **params):
    """The statement's rows (none for one that returns no rows, an UPDATE)."""
    with engine.begin() as conn:
        result = conn.execute(sa.text(sql), params)
        return result.all() if result.returns_rows else []


def snapshot(engine) -> dict[str, list[tuple]]:
    """Mart contents without bookkeeping columns, in key order."""
    out = {}
    with engine.connect() as conn:
        for mart in MARTS:
            schema, table = mart.split(".")
            cols = [r[0] for r in conn.execute(sa.text(
                """SELECT column_name FROM information_schema.columns
                   WHERE table_schema = :s AND table_name = :t
                     AND column_name NOT IN ('computed_at', 'run_id')
                   ORDER BY ordinal_position"""), {"s": schema, "t": table})]
            col_list = ", ".join(cols)
            out[mart] = [tuple(r) for r in conn.execute(sa.text(
                f"SELECT {col_list} FROM {mart} ORDER BY {col_list}"))]
    return out


@pytest.fixture
def seeded(engine):
    seed(engine)
    return engine


def test_smoke_all_jobs_succeed(seeded):
    results = run_all(engine=seeded)
    assert [(r.job, r.status, r.error) for r in results] == [(n, "succeeded", None) for n in JOBS]


def test_marts_hold_the_hand_computed_values(seeded):
    run_all(engine=seeded)
    funnel = {r.merchant_id: r for r in q(seeded, "SELECT * FROM mart.funnel_facts")}
    assert sorted(funnel) == [1, 2, 3, 4]
    assert funnel[2].first_post_at.isoformat() == "2025-01-25T10:00:00+08:00"
    assert funnel[2].first_match_at.isoformat() == "2025-01-26T10:00:00+08:00"
    assert funnel[2].first_deal_at.isoformat() == "2025-02-15T10:00:00+08:00"
    assert funnel[3].certified_at is None and funnel[3].first_deposit_at is None
    day = q(seeded, "SELECT * FROM mart.daily_kpis WHERE day = '2025-02-15'")[0]
    assert (day.deals_completed, day.gmv, day.fee_amount, day.active_merchants) == (1, Decimal("95000.00"), Decimal("500.00"), 2)
    feb2 = q(seeded, "SELECT * FROM mart.daily_kpis WHERE day = '2025-02-02'")[0]
    assert (feb2.deposits_paid, feb2.deposit_released, feb2.pay_wechat) == (1, Decimal("5000.00"), Decimal("5000.00"))
    snap = q(seeded, "SELECT live_listings, open_requests FROM mart.daily_kpis WHERE day = '2025-02-16'")[0]
    assert tuple(snap) == (2, 0)
    feats = {r.merchant_id: r for r in q(seeded, "SELECT * FROM mart.merchant_features")}
    assert (feats[4].deposit_defaults, feats[4].cancellations, feats[4].disputes_lost,
            feats[4].outcome_loan_default) == (1, 1, 1, True)
    assert (feats[1].review_count, feats[1].avg_stars, feats[1].disputes_raised) == (1, Decimal("5.00"), 1)
    assert feats[2].late_payments == 1 and feats[3].fake_listings_confirmed == 1
    assert feats[2].median_response_hours == Decimal("6.00") and feats[4].median_response_hours is None
    sd = q(seeded, "SELECT brand_id, tier_level, merchant_type, live_listings, open_requests FROM mart.supply_demand ORDER BY 1, 2, 3")
    assert [tuple(r) for r in sd] == [(1, 1, "4s", 1, 0), (1, 4, "secondary", 0, 1), (2, 1, "resource", 1, 0)]
    cohort = q(seeded, "SELECT months_since, cohort_size, active_merchants FROM mart.cohort_activity WHERE cohort_month = '2025-01-01' ORDER BY 1 LIMIT 2")
    assert [tuple(r) for r in cohort] == [(0, 2, 2), (1, 2, 2)]
    # By segment: M1 (tier 1, 4S) and M2 (tier 4, secondary) of January, each active in
    # January (listing / request) and February (the deal); M3 (tier 1, resource) of February
    # listed in February; M4 (tier 4, secondary) only logged in.
    cells = q(seeded, """SELECT to_char(cohort_month, 'YYYY-MM'), tier_level, merchant_type,
                                months_since, cohort_size, active_merchants
                         FROM mart.cohort_activity_segment WHERE months_since <= 1
                         ORDER BY 1, 2, 3, 4""")
    assert [tuple(r) for r in cells] == [
        ("2025-01", 1, "4s", 0, 1, 1), ("2025-01", 1, "4s", 1, 1, 1),
        ("2025-01", 4, "secondary", 0, 1, 1), ("2025-01", 4, "secondary", 1, 1, 1),
        ("2025-02", 1, "resource", 0, 1, 1), ("2025-02", 1, "resource", 1, 1, 0),
        ("2025-02", 4, "secondary", 0, 1, 0), ("2025-02", 4, "secondary", 1, 1, 0)]
    # Summed over segments, every cell is the platform's.
    assert q(seeded, """SELECT count(*) FROM mart.cohort_activity c FULL JOIN (
                            SELECT cohort_month, months_since, sum(cohort_size) AS size,
                                   sum(active_merchants) AS active
                            FROM mart.cohort_activity_segment GROUP BY 1, 2) s
                          USING (cohort_month, months_since)
                        WHERE (c.cohort_size, c.active_merchants)
                              IS DISTINCT FROM (s.size, s.active)""") == [(0,)]
    bd = q(seeded, "SELECT month, merchants_registered, deals_won, won_value, contacts_logged FROM mart.bd_performance WHERE staff_id = 900 ORDER BY 1")
    assert [tuple(r) for r in bd] == [(__import__("datetime").date(2025, 1, 1), 1, 0, 0, 1),
                                      (__import__("datetime").date(2025, 2, 1), 1, 1, Decimal("95000.00"), 0)]


CHANGES = """
UPDATE app.listings SET status = 'sold', updated_at = now() WHERE id = 3;
UPDATE app.certifications SET status = 'approved', decided_at = '2025-03-02 09:00+08', updated_at = now() WHERE id = 3;
UPDATE app.merchants SET cert_level = 'personal', updated_at = now() WHERE id = 3;
INSERT INTO app.orders (id, listing_id, buyer_id, seller_id, quantity, unit_price, amount, deposit_amount, fee_amount, status, escrow_state, created_at, deposit_paid_at, completed_at, updated_at)
VALUES (3, 3, 4, 3, 2, 90000, 180000, 8000, 900, 'completed', 'released', '2025-03-01 10:00+08', '2025-03-01 12:00+08', '2025-03-05 10:00+08', now());
INSERT INTO app.payments (id, order_id, kind, channel, amount, status, paid_at, created_at)
VALUES (4, 3, 'deposit', 'alipay', 8000, 'succeeded', '2025-03-01 12:00+08', '2025-03-01 12:00+08');
INSERT INTO app.events (id, merchant_id, event_type, occurred_at)
VALUES (9, 4, 'deal_completed', '2025-03-05 10:00+08'), (10, 3, 'deal_completed', '2025-03-05 10:00+08');
INSERT INTO app.reviews (id, reviewer_id, target_merchant_id, order_id, stars, created_at)
VALUES (3, 4, 3, 3, 2, '2025-03-06 10:00+08');
UPDATE ops.matches SET stage = 'contacted', owner_id = 900, stage_entered_at = '2025-02-22 10:00+08', updated_at = now() WHERE id = 2;
INSERT INTO app.requests (id, merchant_id, series_id, quantity, city_id, max_price, needed_by, status, created_at, updated_at)
VALUES (3, 4, 1, 1, 2, 200000, '2025-05-01', 'open', '2025-03-07 10:00+08', now());
"""


def change(engine) -> None:
    with engine.begin() as conn:
        conn.connection.cursor().execute(CHANGES)


def test_incremental_after_changes_equals_full_rebuild(seeded):
    run_all(engine=seeded)
    before = snapshot(seeded)
    change(seeded)
    results = run_all(engine=seeded)
    assert all(r.status == "succeeded" and r.rows_in > 0 for r in results), results
    incremental = snapshot(seeded)
    assert incremental != before
    full = run_all(engine=seeded, full=True)
    assert all(r.status == "succeeded" for r in full)
    assert snapshot(seeded) == incremental


def test_second_run_without_changes_writes_nothing(seeded):
    run_all(engine=seeded)
    stamps = {m: q(seeded, f"SELECT count(*), max(computed_at) FROM {m} WHERE true")[0]
              for m in MARTS if m != "mart.merchant_active_months"}
    counts = q(seeded, """SELECT (SELECT count(*) FROM etl.quarantine),
                                 (SELECT count(*) FROM etl.validation_results)""")[0]
    again = run_all(engine=seeded)
    assert [(r.status, r.rows_in, r.mart_rows_written, r.rows_quarantined) for r in again] == \
        [("succeeded", 0, 0, 0)] * len(JOBS)
    assert {m: q(seeded, f"SELECT count(*), max(computed_at) FROM {m} WHERE true")[0]
            for m in stamps} == stamps
    assert q(seeded, """SELECT (SELECT count(*) FROM etl.quarantine),
                               (SELECT count(*) FROM etl.validation_results)""")[0] == counts


def test_failure_inside_the_load_leaves_marts_unchanged_and_the_retry_completes(seeded, monkeypatch):
    run_job("funnel_facts", engine=seeded)
    before = snapshot(seeded)
    watermark = q(seeded, "SELECT sources FROM etl.watermarks WHERE job = 'funnel_facts'")[0][0]
    change(seeded)
    real_step = etl.runner.load_step

    def failing_step(conn, job, step, sql, params):
        written = real_step(conn, job, step, sql, params)
        if step == "merge":  # after the mart rows were written in this transaction
            raise RuntimeError("disk on fire")
        return written

    monkeypatch.setattr(etl.runner, "load_step", failing_step)
    failed = run_job("funnel_facts", engine=seeded)
    assert (failed.status, failed.error) == ("failed", "RuntimeError: disk on fire")
    assert snapshot(seeded) == before
    assert q(seeded, "SELECT sources FROM etl.watermarks WHERE job = 'funnel_facts'")[0][0] == watermark
    assert q(seeded, "SELECT status, error_text FROM etl.runs WHERE id = :id", id=failed.run_id)[0] == \
        ("failed", "RuntimeError: disk on fire")

    monkeypatch.setattr(etl.runner, "load_step", real_step)
    retry = run_job("funnel_facts", engine=seeded)
    assert retry.status == "succeeded" and retry.rows_in == failed.rows_in
    assert q(seeded, "SELECT certified_at IS NOT NULL, first_deal_at IS NOT NULL FROM mart.funnel_facts WHERE merchant_id = 3")[0] == (True, True)


def test_the_run_log_duration_includes_the_load(seeded, monkeypatch):
    real_step = etl.runner.load_step
    last_step_ended = []

    def noting_step(conn, job, step, sql, params):
        written = real_step(conn, job, step, sql, params)
        last_step_ended.append(conn.execute(sa.text("SELECT clock_timestamp()")).scalar())
        return written

    monkeypatch.setattr(etl.runner, "load_step", noting_step)
    run = run_job("funnel_facts", engine=seeded)
    started, finished = q(seeded, "SELECT started_at, finished_at FROM etl.runs WHERE id = :id",
                          id=run.run_id)[0]
    # The load's transaction began before its steps; the run ends after the last of them.
    assert started < last_step_ended[0] and finished >= max(last_step_ended)


PLANT_WARN_ROWS = """
INSERT INTO app.listings (id, merchant_id, trim_id, exterior_color, interior_color, quantity, city_id, price, guide_price, available_from, status, published_at)
VALUES (50, 1, 1, '白', '黑', 5, 1, 20000, 200000, '2025-02-01', 'live', '2025-02-01 10:00+08'),
       (51, 2, 1, '白', '黑', 1, 2, 190000, 200000, '2025-02-01', 'live', now() + interval '3 days');
"""


def test_planted_bad_rows_land_in_quarantine_and_counts_reconcile(seeded):
    with seeded.begin() as conn:
        conn.connection.cursor().execute(PLANT_WARN_ROWS)
    result = run_job("supply_demand", engine=seeded)
    assert result.status == "succeeded" and result.warnings == 2
    assert q(seeded, "SELECT source_table, row_key, expectation, severity FROM etl.quarantine ORDER BY row_key") == [
        ("app.listings", "50", "listings.price_in_guide_band", "warn"),
        ("app.listings", "51", "listings.published_at_not_future", "warn")]
    assert (result.rows_in, result.rows_loaded, result.rows_quarantined) == (11, 9, 2)
    run = q(seeded, "SELECT rows_in, rows_loaded, rows_quarantined FROM etl.runs WHERE id = :id", id=result.run_id)[0]
    assert run.rows_in == run.rows_loaded + run.rows_quarantined
    # The bad listings are kept out of the mart: brand 1 tier 1 has only listing 1 live.
    assert q(seeded, "SELECT live_listings, listing_units FROM mart.supply_demand WHERE brand_id = 1 AND tier_level = 1") == [(1, 3)]

    # Fixed upstream, the row is carried again, passes and loads; the history stays.
    with seeded.begin() as conn:
        conn.execute(sa.text("UPDATE app.listings SET price = 185000, updated_at = now() WHERE id = 50"))
    fixed = run_job("supply_demand", engine=seeded)
    assert (fixed.rows_in, fixed.rows_loaded, fixed.rows_quarantined) == (1, 1, 0)
    assert q(seeded, "SELECT live_listings, listing_units FROM mart.supply_demand WHERE brand_id = 1 AND tier_level = 1") == [(2, 8)]
    assert q(seeded, "SELECT count(*) FROM etl.quarantine") == [(2,)]
    with pytest.raises(sa.exc.DBAPIError, match="append-only"):
        with seeded.begin() as conn:
            conn.execute(sa.text("DELETE FROM etl.quarantine"))


def test_a_concurrent_run_is_refused(seeded):
    holder = seeded.connect()
    try:
        holder.execute(sa.text("SELECT pg_advisory_lock(:ns, hashtext('funnel_facts'))"),
                       {"ns": etl.runner.LOCK_NAMESPACE})
        refused = run_job("funnel_facts", engine=seeded)
        assert refused.status == "refused"
        assert refused.error == "job funnel_facts is already running; try again when it ends"
        assert q(seeded, "SELECT job, status, error_text FROM etl.runs WHERE id = :id", id=refused.run_id) == [
            ("funnel_facts", "refused", "another run of this job is in progress")]
        assert q(seeded, "SELECT count(*) FROM mart.funnel_facts") == [(0,)]
    finally:
        holder.execute(sa.text("SELECT pg_advisory_unlock_all()"))
        holder.close()
    assert run_job("funnel_facts", engine=seeded).status == "succeeded"


def test_run_all_validates_a_shared_source_once_and_quarantines_it_for_every_job(seeded, monkeypatch):
    with seeded.begin() as conn:
        conn.connection.cursor().execute(PLANT_WARN_ROWS)
    validated = []
    real_validate = etl.batches.validate_relation

    def counting(*, engine, relation, checks, previous_counts):
        validated.append(relation)
        return real_validate(engine=engine, relation=relation, checks=checks,
                             previous_counts=previous_counts)

    monkeypatch.setattr(etl.batches, "validate_relation", counting)
    results = {r.job: r for r in run_all(engine=seeded)}
    listing_jobs = sorted(j.name for j in JOBS.values() if "app.listings" in j.sources)
    assert listing_jobs == ["daily_kpis", "funnel_facts", "merchant_features", "supply_demand"]
    # Once for the batch's row checks, once for the table's row count; not once per job.
    assert [r for r in validated if "listings" in r] == [
        next(r for r in validated if r.startswith("etl.batch_") and r.endswith("_listings")),
        "app.listings"]
    for job in listing_jobs:
        run = results[job]
        assert run.status == "succeeded" and run.warnings == 2
        assert q(seeded, """SELECT row_key, expectation FROM etl.quarantine
                            WHERE run_id = :run ORDER BY row_key""", run=run.run_id) == [
            ("50", "listings.price_in_guide_band"), ("51", "listings.published_at_not_future")]
        assert q(seeded, """SELECT expectation FROM etl.validation_results
                            WHERE run_id = :run AND NOT success ORDER BY 1""", run=run.run_id) == [
            ("listings.price_in_guide_band",), ("listings.published_at_not_future",)]
        assert run.rows_in == run.rows_loaded + run.rows_quarantined and run.rows_quarantined == 2
    assert q(seeded, "SELECT count(*) FROM pg_class WHERE relname LIKE 'batch\\_%'") == [(0,)]


def test_the_next_session_drops_what_a_killed_one_staged_and_spares_a_live_one(seeded):
    dead = Session(seeded).__enter__()
    dead_batch = dead.batch("app.listings", full=False, since=None, mark=None)
    dead_pid = dead._owner.exec_driver_sql("SELECT pg_backend_pid()").scalar()
    dead._owner.invalidate()  # the process died: its session lock went with its connection
    # The server ends the closed backend asynchronously: under load its lock outlives the
    # close by a moment, and the sweep would rightly spare it. Wait for the backend to go.
    for _ in range(200):
        if q(seeded, "SELECT count(*) FROM pg_stat_activity WHERE pid = :p", p=dead_pid) == [(0,)]:
            break
        time.sleep(0.05)
    with Session(seeded) as live:
        live_batch = live.batch("app.requests", full=False, since=None, mark=None)
        assert q(seeded, "SELECT to_regclass(:r) IS NULL", r=dead_batch.relation) == [(True,)]
        with Session(seeded):
            assert q(seeded, "SELECT to_regclass(:r) IS NULL", r=live_batch.relation) == [(False,)]
    assert q(seeded, "SELECT to_regclass(:r) IS NULL", r=live_batch.relation) == [(True,)]
