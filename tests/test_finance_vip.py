"""VIP membership (issue 19, 会员体系): eligibility by grade, enrol / renew / cancel with their
audit rows and refusals, the lapse sweep, BD's follow-up list, and the "vip" component of
match suggestions. The services run as dh_console (``console_engine``), as in the console."""
from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import pandas as pd
import pytest
import sqlalchemy as sa

from console import clock
from console.credit import engine as credit_engine
from console.credit.scorecard import DEFAULT_CONFIG, load
from console.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from console.finance import vip
from tests.races import race, wide_engine
from tests.test_credit_support import merchant, rows


# ---------------------------------------------------------------- helpers
def set_grade(engine, merchant_id: int, grade: str | None, *, vip_ok: bool | None = None,
              thin: bool = False) -> None:
    """The merchant's current grade as a scoring run would leave it (None: unrated)."""
    with engine.begin() as conn:
        if grade is None:
            conn.execute(sa.text("DELETE FROM ops.merchant_grade_current WHERE merchant_id = :m"),
                         {"m": merchant_id})
            return
        conn.execute(sa.text("""
            UPDATE ops.merchant_grade_current
            SET grade = :g, insufficient_history = :thin,
                score_vip_eligible = :vip AND NOT :thin
            WHERE merchant_id = :m"""),
            {"g": grade, "thin": thin, "m": merchant_id,
             "vip": vip_ok if vip_ok is not None else grade in ("AAA", "AA", "A")})


@pytest.fixture
def world(engine):
    """Five rated merchants, AAA down to BBB, one with too little history, all active."""
    ids = {name: merchant(engine, name=name) for name in
           ("钻石车商", "金牌车商", "银牌车商", "普通车商", "新车商")}
    with engine.begin() as conn:
        credit_engine.score_all(conn, load(DEFAULT_CONFIG))
    set_grade(engine, ids["钻石车商"], "AAA")
    set_grade(engine, ids["金牌车商"], "AA")
    set_grade(engine, ids["银牌车商"], "A")
    set_grade(engine, ids["普通车商"], "BBB")
    set_grade(engine, ids["新车商"], "AA", thin=True)
    return ids


def call(console_engine, fn, **kwargs):
    with console_engine.begin() as conn:
        return fn(conn=conn, **kwargs)


def memberships(engine) -> list[dict]:
    return rows(engine, """SELECT merchant_id, tier, status, starts_on, expires_on, fee_paid,
                                  renewed_from, payment_ref
                           FROM fin.vip_memberships ORDER BY id""")


def audit(engine) -> list[dict]:
    return rows(engine, """SELECT actor_id, action, entity_type, reason FROM ops.audit_log
                           WHERE action LIKE 'vip.%' ORDER BY id""")


# ---------------------------------------------------------------- pure rules
@pytest.mark.parametrize("start, end", [
    (date(2026, 12, 4), date(2027, 12, 3)),
    (date(2027, 1, 1), date(2027, 12, 31)),
    (date(2028, 2, 29), date(2029, 2, 27)),      # 2029-02-29 does not exist: the 28th, less a day
    (date(2027, 3, 31), date(2028, 3, 30)),
])
def test_a_term_is_twelve_months_both_ends_included(start, end):
    assert vip.term_end(start) == end


@pytest.mark.parametrize("expires_on, today, start", [
    (date(2027, 1, 10), date(2026, 12, 20), date(2027, 1, 11)),   # early: the day after the end
    (date(2027, 1, 10), date(2027, 1, 10), date(2027, 1, 11)),    # on its last day: the same
    (date(2027, 1, 10), date(2027, 2, 1), date(2027, 2, 1)),      # after it ended: from today
])
def test_a_renewal_starts_the_day_after_the_old_end_unless_it_has_ended(expires_on, today, start):
    assert vip.renewal_start(expires_on=expires_on, today=today) == start


def test_the_tiers_and_their_numbers_come_from_the_configuration():
    cfg = vip.load_config()
    assert [(t.code, t.annual_fee_yuan, t.min_grade, t.exposure_boost, t.match_points,
             t.deposit_fee_discount) for t in cfg.tiers] == [
        ("silver", Decimal("9800.00"), "A", 1.2, 0.5, 0.10),
        ("gold", Decimal("19800.00"), "AA", 1.5, 1.0, 0.20),
        ("diamond", Decimal("39800.00"), "AAA", 2.0, 1.5, 0.30)]
    assert (cfg.term_months, cfg.renew_window_days, cfg.expiring_within_days,
            cfg.lapsed_follow_up_days) == (12, 60, 30, 90)
    assert vip.match_points_milli(1.0) == {"silver": 500, "gold": 1000, "diamond": 1500}
    assert vip.match_points_milli(0.0) == {"silver": 0, "gold": 0, "diamond": 0}


@pytest.mark.parametrize("typed, paid", [
    ("19800", Decimal("19800.00")), ("19,800.00", Decimal("19800.00")),
    (" ¥9800.5 ", Decimal("9800.50")), (0, Decimal("0.00")), (Decimal("100.10"), Decimal("100.10")),
])
def test_fees_as_typed(typed, paid):
    assert vip.parse_fee(typed, list_fee=Decimal("19800.00")) == paid


@pytest.mark.parametrize("typed", ["", "NaN", "inf", "1e4", "-1", "１９８００", "19800.001",
                                   "一万", 19800.0, Decimal("NaN"), True, "19 800"])
def test_fees_refused(typed):
    with pytest.raises(InvalidInput) as err:
        vip.parse_fee(typed, list_fee=Decimal("19800.00"))
    assert err.value.key == "input.fee_paid"


# ---------------------------------------------------------------- eligibility
ELIGIBLE = {"钻石车商": ("silver", "gold", "diamond"), "金牌车商": ("silver", "gold"),
            "银牌车商": ("silver",), "普通车商": (), "新车商": ()}


def test_eligibility_by_grade(engine, world):
    with engine.connect() as conn:
        got = {name: vip.standing(conn, m).eligible_tiers() for name, m in world.items()}
    assert got == ELIGIBLE


@pytest.mark.parametrize("name, tier, key, params", [
    ("金牌车商", "diamond", "finance.vip.error.tier_needs_grade",
     {"merchant": "金牌车商", "tier": "diamond", "min_grade": "AAA", "grade": "AA"}),
    ("银牌车商", "gold", "finance.vip.error.tier_needs_grade",
     {"merchant": "银牌车商", "tier": "gold", "min_grade": "AA", "grade": "A"}),
    ("普通车商", "silver", "finance.vip.error.grade_not_vip",
     {"merchant": "普通车商", "grade": "BBB", "lowest": "A"}),
    ("新车商", "silver", "finance.vip.error.not_rated", {"merchant": "新车商"}),
])
def test_enrolment_is_refused_with_the_reason_when_the_grade_does_not_admit_the_tier(
        engine, console_engine, make_actor, world, name, tier, key, params):
    bd = make_actor("bd")
    with pytest.raises(InvalidInput) as err:
        call(console_engine, vip.enrol, actor=bd, merchant_id=world[name], tier=tier,
             fee_paid="9800", payment_ref="PAY-1")
    assert (err.value.key, err.value.params) == (key, params)
    assert memberships(engine) == [] and audit(engine) == []


# ---------------------------------------------------------------- enrol
def test_enrol_records_the_term_the_fee_and_the_audit_row(engine, console_engine, make_actor, world):
    bd = make_actor("bd")
    m = call(console_engine, vip.enrol, actor=bd, merchant_id=world["金牌车商"], tier="gold",
             fee_paid="19,800", payment_ref="WX20261204-001", note="年会现场签约")
    today = clock.today()
    assert (m.tier, m.status, m.starts_on, m.expires_on, m.fee_paid, m.version) == (
        "gold", "active", today, vip.term_end(today), Decimal("19800.00"), 1)
    assert memberships(engine) == [{
        "merchant_id": world["金牌车商"], "tier": "gold", "status": "active", "starts_on": today,
        "expires_on": vip.term_end(today), "fee_paid": Decimal("19800.00"), "renewed_from": None,
        "payment_ref": "WX20261204-001"}]
    assert audit(engine) == [{"actor_id": bd.id, "action": "vip.enrol",
                              "entity_type": "vip_membership", "reason": "年会现场签约"}]
    # a second enrolment of a member is refused, saying what it holds
    with pytest.raises(Conflict) as err:
        call(console_engine, vip.enrol, actor=bd, merchant_id=world["金牌车商"], tier="silver",
             fee_paid="9800", payment_ref="WX20261204-002")
    assert (err.value.key, err.value.params) == ("finance.vip.error.already_member", {
        "merchant": "金牌车商", "tier": "gold", "expires": vip.term_end(today).isoformat()})
    # one payment pays once
    with pytest.raises(Conflict) as err:
        call(console_engine, vip.enrol, actor=bd, merchant_id=world["钻石车商"], tier="diamond",
             fee_paid="39800", payment_ref="WX20261204-001")
    assert err.value.key == "finance.vip.error.payment_ref_used"
    # a fee above the tier's list fee
    with pytest.raises(InvalidInput) as err:
        call(console_engine, vip.enrol, actor=bd, merchant_id=world["银牌车商"], tier="silver",
             fee_paid="9800.01", payment_ref="WX20261204-003")
    assert (err.value.key, err.value.params) == ("finance.vip.error.fee_above_list",
                                                  {"fee": "9,800.01", "list_fee": "9,800.00"})
    assert len(memberships(engine)) == 1 and len(audit(engine)) == 1


@pytest.mark.parametrize("roles, fn", [
    (("risk",), "enrol"), (("manager",), "enrol"), (("ops",), "enrol"), (("admin",), "enrol"),
])
def test_only_bd_enrols(engine, console_engine, make_actor, world, roles, fn):
    with pytest.raises(PermissionDenied):
        call(console_engine, vip.enrol, actor=make_actor(*roles), merchant_id=world["金牌车商"],
             tier="gold", fee_paid="19800", payment_ref="X1")
    assert memberships(engine) == []


HOSTILE = [
    {"payment_ref": "PAY\x00-1"},
    {"payment_ref": "P" * 100_000},
    {"payment_ref": "付款-1"},
    {"note": "x" * 100_000},
    {"note": "ok\x00"},
    {"fee_paid": "1" * 100_000},
    {"fee_paid": "１９８００"},
    {"fee_paid": "NaN"},
    {"fee_paid": Decimal("NaN")},
    {"fee_paid": float("nan")},
    {"fee_paid": "19800\x00"},
    {"tier": "gold\x00"},
    {"tier": "platinum"},
    {"merchant_id": 0},
    {"merchant_id": True},
]


@pytest.mark.parametrize("bad", HOSTILE, ids=lambda b: f"{next(iter(b))}={str(b[next(iter(b))])[:12]!r}")
def test_hostile_input_is_refused_and_changes_nothing(engine, console_engine, make_actor, world, bad):
    bd = make_actor("bd")
    kwargs = {"merchant_id": world["金牌车商"], "tier": "gold", "fee_paid": "19800",
              "payment_ref": "PAY-1", "note": "", **bad}
    with pytest.raises(InvalidInput) as err:
        call(console_engine, vip.enrol, actor=bd, **kwargs)
    assert err.value.key.startswith(("input.", "finance.vip.error."))
    assert memberships(engine) == [] and audit(engine) == []


# ---------------------------------------------------------------- renew
def _shift(engine, membership_id: int, *, expires_on: date) -> None:
    """Move a term so that it ends on ``expires_on`` (as if enrolled a year earlier)."""
    with engine.begin() as conn:
        conn.execute(sa.text("""UPDATE fin.vip_memberships
                                SET starts_on = :e - 364, expires_on = :e WHERE id = :id"""),
                     {"e": expires_on, "id": membership_id})


def test_an_early_renewal_extends_from_the_expiry_not_from_today(engine, console_engine,
                                                                 make_actor, world):
    bd = make_actor("bd")
    m = call(console_engine, vip.enrol, actor=bd, merchant_id=world["金牌车商"], tier="gold",
             fee_paid="19800", payment_ref="R-1")
    today = clock.today()
    # A year on its last term ends in 10 days
    _shift(engine, m.id, expires_on=today + timedelta(days=10))
    new = call(console_engine, vip.renew, actor=bd, membership_id=m.id, fee_paid="19800",
               payment_ref="R-2", expected_version=1)
    start = today + timedelta(days=11)
    assert (new.starts_on, new.expires_on, new.status, new.renewed_from) == (
        start, vip.add_months(start, 12) - timedelta(days=1), "active", m.id)
    assert [(r["status"], r["renewed_from"]) for r in memberships(engine)] == [
        ("renewed", None), ("active", m.id)]
    assert [a["action"] for a in audit(engine)] == ["vip.enrol", "vip.renew"]
    # the old term cannot be renewed twice, nor cancelled
    with pytest.raises(Conflict) as err:
        call(console_engine, vip.renew, actor=bd, membership_id=m.id, fee_paid="19800",
             payment_ref="R-3")
    assert err.value.key == "finance.vip.error.not_renewable.renewed"


def test_a_renewal_too_early_or_on_a_stale_form_is_refused(engine, console_engine, make_actor, world):
    bd = make_actor("bd")
    m = call(console_engine, vip.enrol, actor=bd, merchant_id=world["金牌车商"], tier="gold",
             fee_paid="19800", payment_ref="R-1")
    with pytest.raises(InvalidInput) as err:      # a fresh term ends in 364 days
        call(console_engine, vip.renew, actor=bd, membership_id=m.id, fee_paid="19800",
             payment_ref="R-2")
    assert (err.value.key, err.value.params) == ("finance.vip.error.too_early",
                                                  {"days": 364, "window": 60})
    _shift(engine, m.id, expires_on=clock.today() + timedelta(days=60))
    with pytest.raises(Conflict) as err:          # the form was read before someone else's change
        call(console_engine, vip.renew, actor=bd, membership_id=m.id, fee_paid="19800",
             payment_ref="R-2", expected_version=0)
    assert err.value.key == "error.stale"
    assert len(memberships(engine)) == 1


def test_a_lapsed_member_renewed_starts_today_and_a_downgraded_one_cannot_renew(
        engine, console_engine, make_actor, jobs_engine, world):
    bd = make_actor("bd")
    a = call(console_engine, vip.enrol, actor=bd, merchant_id=world["金牌车商"], tier="gold",
             fee_paid="19800", payment_ref="L-1")
    b = call(console_engine, vip.enrol, actor=bd, merchant_id=world["银牌车商"], tier="silver",
             fee_paid="9800", payment_ref="L-2")
    today = clock.today()
    _shift(engine, a.id, expires_on=today - timedelta(days=3))
    _shift(engine, b.id, expires_on=today + timedelta(days=5))
    with jobs_engine.begin() as conn:
        assert vip.lapse_expired(conn) == 1
    new = call(console_engine, vip.renew, actor=bd, membership_id=a.id, fee_paid="18000",
               payment_ref="L-3", note="老客户续费优惠")
    assert (new.starts_on, new.expires_on, new.fee_paid) == (today, vip.term_end(today),
                                                             Decimal("18000.00"))
    set_grade(engine, world["银牌车商"], "BBB")
    with pytest.raises(InvalidInput) as err:
        call(console_engine, vip.renew, actor=bd, membership_id=b.id, fee_paid="9800",
             payment_ref="L-4")
    assert err.value.key == "finance.vip.error.grade_not_vip"
    assert [r["status"] for r in memberships(engine)] == ["lapsed", "active", "active"]


# ---------------------------------------------------------------- cancel
def test_risk_or_admin_cancel_with_a_reason_and_bd_may_not(engine, console_engine, make_actor, world):
    bd, risk, admin = make_actor("bd"), make_actor("risk"), make_actor("admin")
    m = call(console_engine, vip.enrol, actor=bd, merchant_id=world["金牌车商"], tier="gold",
             fee_paid="19800", payment_ref="C-1")
    with pytest.raises(PermissionDenied):
        call(console_engine, vip.cancel, actor=bd, membership_id=m.id,
             reason_code="merchant_request", reason="商户要求")
    with pytest.raises(InvalidInput) as err:
        call(console_engine, vip.cancel, actor=risk, membership_id=m.id,
             reason_code="merchant_request", reason="   ")
    assert err.value.key == "error.reason_required"
    with pytest.raises(InvalidInput) as err:
        call(console_engine, vip.cancel, actor=risk, membership_id=m.id,
             reason_code="because", reason="x")
    assert err.value.key == "finance.vip.error.cancel_reason_code"
    done = call(console_engine, vip.cancel, actor=risk, membership_id=m.id,
                reason_code="risk_concern", reason="涉嫌虚假交易", expected_version=1)
    assert (done.status, done.version) == ("cancelled", 2)
    with pytest.raises(Conflict) as err:
        call(console_engine, vip.cancel, actor=admin, membership_id=m.id,
             reason_code="other", reason="again")
    assert err.value.key == "finance.vip.error.not_active"
    with pytest.raises(Conflict) as err:
        call(console_engine, vip.renew, actor=bd, membership_id=m.id, fee_paid="19800",
             payment_ref="C-2")
    assert err.value.key == "finance.vip.error.not_renewable.cancelled"
    with pytest.raises(NotFound):
        call(console_engine, vip.cancel, actor=admin, membership_id=999_999,
             reason_code="other", reason="x")
    assert audit(engine) == [
        {"actor_id": bd.id, "action": "vip.enrol", "entity_type": "vip_membership", "reason": None},
        {"actor_id": risk.id, "action": "vip.cancel", "entity_type": "vip_membership",
         "reason": "涉嫌虚假交易"}]
    # cancelled: the merchant may be enrolled again
    again = call(console_engine, vip.enrol, actor=bd, merchant_id=world["金牌车商"], tier="silver",
                 fee_paid="9800", payment_ref="C-3")
    assert again.status == "active"


def test_the_audit_log_reads_a_membership_in_words(engine, console_engine, make_actor, world):
    """The audit page shows the tier, the membership's status and the cancel reason in words
    in both languages, not the codes gold / active / risk_concern."""
    from console.services import audit_log
    bd, risk = make_actor("bd"), make_actor("risk")
    m = call(console_engine, vip.enrol, actor=bd, merchant_id=world["金牌车商"], tier="gold",
             fee_paid="19800", payment_ref="AU-1")
    call(console_engine, vip.cancel, actor=risk, membership_id=m.id,
         reason_code="risk_concern", reason="涉嫌虚假交易")
    logged = rows(engine, """SELECT before, after FROM ops.audit_log
                             WHERE action LIKE 'vip.%' ORDER BY id""")
    today, end = clock.today().isoformat(), vip.term_end(clock.today()).isoformat()

    def text(row, lang):
        return audit_log.changes_text(row["before"], row["after"], lang=lang, staff={},
                                      entity_type="vip_membership")
    merchant = f"#{world['金牌车商']}"
    assert [text(r, "zh") for r in logged] == [
        f"会员等级：金卡；信用等级：AA；状态：有效；实收会费：19,800；开始日：{today}；"
        f"有效至：{end}；商户：{merchant}；收款凭证号：AU-1",
        f"会员等级：金卡 → —；状态：有效 → 已取消；有效至：{end} → —；商户：{merchant}；"
        "原因：风险原因"]
    assert [text(r, "en") for r in logged] == [
        f"Tier: Gold; Grade: AA; Status: In force; Fee paid: 19,800; Starts: {today}; "
        f"Until: {end}; Merchant: {merchant}; Payment reference: AU-1",
        f"Tier: Gold → —; Status: In force → Cancelled; Until: {end} → —; "
        f"Merchant: {merchant}; Reason: Risk concern"]


# ---------------------------------------------------------------- the sweep and the list
def test_the_lapse_sweep_is_idempotent_and_writes_one_audit_row_each(engine, console_engine,
                                                                     jobs_engine, make_actor, world):
    bd = make_actor("bd")
    ms = [call(console_engine, vip.enrol, actor=bd, merchant_id=world[n], tier="silver",
               fee_paid="9800", payment_ref=f"S-{i}")
          for i, n in enumerate(("钻石车商", "金牌车商", "银牌车商"))]
    today = clock.today()
    _shift(engine, ms[0].id, expires_on=today - timedelta(days=1))   # ended yesterday
    _shift(engine, ms[1].id, expires_on=today)                       # its last day is today
    with jobs_engine.begin() as conn:
        assert vip.lapse_expired(conn) == 1
    with jobs_engine.begin() as conn:
        assert vip.lapse_expired(conn) == 0
    assert [r["status"] for r in memberships(engine)] == ["lapsed", "active", "active"]
    assert [(a["action"], a["actor_id"]) for a in audit(engine)][-1] == ("vip.lapse", None)
    assert sum(a["action"] == "vip.lapse" for a in audit(engine)) == 1


def test_nobody_to_follow_up_is_an_empty_list_with_its_columns(engine, console_engine, make_actor,
                                                                world):
    bd = make_actor("bd")
    call(console_engine, vip.enrol, actor=bd, merchant_id=world["银牌车商"], tier="silver",
         fee_paid="9800", payment_ref="E-1")           # a year left, grade holds: nothing to do
    for _ in range(2):
        with console_engine.connect() as conn:
            df = vip.follow_up(conn=conn, actor=bd)
        assert df.empty and {"membership_id", "merchant", "reasons", "expires_on"} <= set(df.columns)
        with engine.begin() as conn:
            conn.execute(sa.text("DELETE FROM fin.vip_memberships"))     # and with no rows at all


def test_the_follow_up_list_says_why_each_member_is_on_it(engine, console_engine, jobs_engine,
                                                          make_actor, world):
    bd = make_actor("bd")
    diamond = call(console_engine, vip.enrol, actor=bd, merchant_id=world["钻石车商"],
                   tier="diamond", fee_paid="39800", payment_ref="F-1")
    gold = call(console_engine, vip.enrol, actor=bd, merchant_id=world["金牌车商"], tier="gold",
                fee_paid="19800", payment_ref="F-2")
    silver = call(console_engine, vip.enrol, actor=bd, merchant_id=world["银牌车商"], tier="silver",
                  fee_paid="9800", payment_ref="F-3")
    today = clock.today()
    _shift(engine, diamond.id, expires_on=today - timedelta(days=2))    # lapsed
    _shift(engine, gold.id, expires_on=today + timedelta(days=12))      # ends in 12 days
    set_grade(engine, world["金牌车商"], "A")                            # ... and fell below AA
    # silver: a year left, grade A holds silver: not on the list
    with jobs_engine.begin() as conn:
        vip.lapse_expired(conn)
    with console_engine.connect() as conn:
        df = vip.follow_up(conn=conn, actor=bd, within_days=30)
    got = [(r["membership_id"], r["reasons"], int(r["days_left"])) for r in df.to_dict("records")]
    assert got == [(diamond.id, ["lapsed"], -2), (gold.id, ["expiring", "grade_below"], 12)]
    words = {r["membership_id"]: (vip.follow_up_reason(r, lang="zh"), vip.follow_up_reason(r, lang="en"))
             for r in df.to_dict("records")}
    end_d, end_g = (today - timedelta(days=2)).isoformat(), (today + timedelta(days=12)).isoformat()
    assert words[diamond.id] == (f"已于 {end_d} 到期，未续费", f"ended {end_d}, not renewed")
    assert words[gold.id] == (f"12 天后到期（{end_g}） · 当前信用等级 A，低于金卡要求的 AA",
                              f"ends in 12 days ({end_g}) · grade now A, below the AA that Gold needs")
    with console_engine.connect() as conn:   # a shorter window drops the expiring reason
        df = vip.follow_up(conn=conn, actor=bd, within_days=7)
    assert [(r["membership_id"], r["reasons"]) for r in df.to_dict("records")] == [
        (diamond.id, ["lapsed"]), (gold.id, ["grade_below"])]
    with engine.begin() as conn:      # BD owns 金牌车商 only: "mine" keeps its row alone
        conn.execute(sa.text("UPDATE app.merchants SET bd_owner_id = :s WHERE id = :m"),
                     {"s": bd.id, "m": world["金牌车商"]})
    with console_engine.connect() as conn:
        df = vip.follow_up(conn=conn, actor=bd, within_days=7, mine=True)
    assert df["membership_id"].tolist() == [gold.id]
    # the lapsed diamond member renewed: off the list
    call(console_engine, vip.renew, actor=bd, membership_id=diamond.id, fee_paid="39800",
         payment_ref="F-4")
    with console_engine.connect() as conn:
        df = vip.follow_up(conn=conn, actor=bd, within_days=7)
    assert [r["membership_id"] for r in df.to_dict("records")] == [gold.id]
    assert silver.id not in set(df["membership_id"])


# ---------------------------------------------------------------- concurrency
def test_twenty_bd_enrolling_one_merchant_at_once_make_one_membership(engine, fresh_db, make_actor,
                                                                      world):
    staff = [make_actor("bd") for _ in range(20)]
    with wide_engine(fresh_db, 20) as eng:
        results = race(eng, [(vip.enrol, {"actor": s, "merchant_id": world["钻石车商"],
                                          "tier": "diamond", "fee_paid": "39800",
                                          "payment_ref": f"RACE-{i}"})
                             for i, s in enumerate(staff)])
    assert [r[0] for r in results].count("ok") == 1, results
    assert {r[1] for r in results if r[0] != "ok"} == {("Conflict", "finance.vip.error.already_member")}
    assert [(r["merchant_id"], r["status"]) for r in memberships(engine)] == [
        (world["钻石车商"], "active")]
    assert [a["action"] for a in audit(engine)] == ["vip.enrol"]


def test_twenty_renewals_of_one_term_at_once_make_one_new_term(engine, fresh_db, make_actor, world):
    bd = make_actor("bd")
    with wide_engine(fresh_db, 20) as eng:
        with eng.begin() as conn:
            m = vip.enrol(conn=conn, actor=bd, merchant_id=world["金牌车商"], tier="gold",
                          fee_paid="19800", payment_ref="RR-0")
        _shift(engine, m.id, expires_on=clock.today() + timedelta(days=5))
        results = race(eng, [(vip.renew, {"actor": bd, "membership_id": m.id, "fee_paid": "19800",
                                          "payment_ref": f"RR-{i + 1}"}) for i in range(20)])
    assert [r[0] for r in results].count("ok") == 1, results
    assert {r[1] for r in results if r[0] != "ok"} == {
        ("Conflict", "finance.vip.error.not_renewable.renewed")}
    assert [r["status"] for r in memberships(engine)] == ["renewed", "active"]


# ---------------------------------------------------------------- the profile's line
def test_the_profile_line(engine, console_engine, make_actor, world):
    bd, ops = make_actor("bd"), make_actor("ops")
    m = call(console_engine, vip.enrol, actor=bd, merchant_id=world["金牌车商"], tier="gold",
             fee_paid="19800", payment_ref="P-1")
    with console_engine.connect() as conn:
        member = vip.merchant_vip(conn=conn, actor=ops, merchant_id=world["金牌车商"])
        other = vip.merchant_vip(conn=conn, actor=ops, merchant_id=world["银牌车商"])
        none = vip.merchant_vip(conn=conn, actor=ops, merchant_id=world["普通车商"])
    assert vip.status_line(member, lang="zh") == (
        f"金卡会员 · 有效期 {m.starts_on.isoformat()} 至 {m.expires_on.isoformat()}")
    assert vip.status_line(other, lang="en") == "Not a member · may join: Silver"
    assert vip.status_line(none, lang="zh") == "非会员 · 当前信用等级不可开通"
    set_grade(engine, world["金牌车商"], "A")
    with console_engine.connect() as conn:
        member = vip.merchant_vip(conn=conn, actor=ops, merchant_id=world["金牌车商"])
    assert vip.status_line(member, lang="zh").endswith(" · 当前信用等级已不满足该会员等级要求")


# ---------------------------------------------------------------- match suggestions
def _member_row(engine, merchant_id: int, staff_id: int, tier: str, *, ref: str) -> None:
    """A term in force on the matching world's day (AS_OF, 2026-03-10)."""
    with engine.begin() as conn:
        conn.execute(sa.text("""
            INSERT INTO fin.vip_memberships (merchant_id, tier, starts_on, expires_on, list_fee,
                                             fee_paid, payment_ref, enrolled_by)
            VALUES (:m, :t, '2026-01-01', '2026-12-31', 19800, 19800, :ref, :s)"""),
            {"m": merchant_id, "t": tier, "ref": ref, "s": staff_id})


def _suggestions(engine, request_id):
    return rows(engine, """SELECT listing_id, rank, score, components FROM ops.match_suggestions
                           WHERE request_id = :r ORDER BY rank""", r=request_id)


@pytest.fixture
def match_world(engine, make_actor):
    from tests.test_matching_support import build_world
    w = build_world(engine)
    plain, member = w.merchant(name="普通卖家"), w.merchant(name="金卡卖家")
    buyer = w.merchant(name="买家")
    # two identical cars in the buyer's city: only membership tells them apart; the member's
    # listing has the higher id, so it ranks first only by its points
    plain_listing = w.listing(merchant_id=plain, price=180_000, city="上海", published_days_ago=1)
    member_listing = w.listing(merchant_id=member, price=180_000, city="上海", published_days_ago=1)
    request = w.request(merchant_id=buyer, city="上海", max_price=190_000)
    staff = make_actor("bd")
    return {"member": member, "plain_listing": plain_listing, "member_listing": member_listing,
            "request": request, "staff": staff}


def test_a_gold_members_listing_gets_one_vip_point_shown_in_the_explanation(engine, match_world,
                                                                           settings_env):
    from console.services import matching
    from tests.test_matching_support import AS_OF
    w = match_world
    with engine.begin() as conn:       # the first incremental run is a full one (no watermark)
        matching.rematch_changed(conn=conn, top_k=5, as_of=AS_OF)
    before = _suggestions(engine, w["request"])
    assert [r["listing_id"] for r in before] == [w["plain_listing"], w["member_listing"]]
    assert [r["components"]["vip"] for r in before] == [0, 0]
    # enrolment queues the member's listings: the next incremental run rescores them
    _member_row(engine, w["member"], w["staff"].id, "gold", ref="M-1")
    with engine.begin() as conn:
        matching.rematch_changed(conn=conn, top_k=5, as_of=AS_OF + timedelta(minutes=15))
    after = _suggestions(engine, w["request"])
    assert [r["listing_id"] for r in after] == [w["member_listing"], w["plain_listing"]]
    top, second = after
    assert (top["components"]["vip"], top["components"]["vip_tier"]) == (1.0, "gold")
    assert (second["components"]["vip"], second["components"]["vip_tier"]) == (0, None)
    assert top["score"] - second["score"] == Decimal("1.000")
    assert float(top["score"]) == pytest.approx(
        sum(top["components"][c] for c in matching.COMPONENTS), abs=1e-9)
    frame = matching.explode_components(pd.DataFrame(after))
    assert frame["pts_vip"].tolist() == [1.0, 0.0]
    zh = matching.reason_text(top["components"], lang="zh")
    en = matching.reason_text(top["components"], lang="en")
    assert zh.endswith(" · 金卡会员") and en.endswith(" · Gold member")
    assert "会员" not in matching.reason_text(second["components"], lang="zh")


@pytest.mark.parametrize("weight, tier, points", [("0", "gold", 0), ("2", "diamond", 3.0),
                                                  ("1", "silver", 0.5)])
def test_the_policy_weighs_the_vip_component(engine, match_world, settings_env, weight, tier, points):
    from console.services import matching
    from tests.test_matching_support import AS_OF
    settings_env(CONSOLE_MATCH_VIP_WEIGHT=weight)
    w = match_world
    _member_row(engine, w["member"], w["staff"].id, tier, ref="W-1")
    with engine.begin() as conn:
        matching.rematch_full(conn=conn, top_k=5, as_of=AS_OF)
    got = {r["listing_id"]: r["components"]["vip"] for r in _suggestions(engine, w["request"])}
    assert got == {w["member_listing"]: points, w["plain_listing"]: 0}
    reason = matching.reason_text(_suggestions(engine, w["request"])[0]["components"], lang="en")
    assert ("member" in reason) is (points > 0)


def test_a_term_past_its_end_gives_no_points_before_the_sweep(engine, match_world):
    from console.services import matching
    from tests.test_matching_support import AS_OF
    w = match_world
    _member_row(engine, w["member"], w["staff"].id, "gold", ref="E-1")
    with engine.begin() as conn:
        conn.execute(sa.text("UPDATE fin.vip_memberships SET starts_on = '2025-03-01', "
                             "expires_on = '2026-03-09'"))       # ended the day before AS_OF
        matching.rematch_full(conn=conn, top_k=5, as_of=AS_OF)
    assert [r["components"]["vip"] for r in _suggestions(engine, w["request"])] == [0, 0]


# ---------------------------------------------------------------- the jobs' step
def test_the_vip_lapse_step_runs_under_its_lock_as_the_jobs(engine, console_engine, jobs_engine,
                                                             make_actor, world, capsys):
    from console.finance.vip import main
    from console.jobs import job_lock, run_all
    bd = make_actor("bd")
    m = call(console_engine, vip.enrol, actor=bd, merchant_id=world["金牌车商"], tier="gold",
             fee_paid="19800", payment_ref="J-1")
    _shift(engine, m.id, expires_on=clock.today() - timedelta(days=1))
    with job_lock(jobs_engine, "vip_lapse") as got:       # another run holds the step
        assert got
        (skipped,) = run_all(engine=jobs_engine, only=["vip_lapse"], echo=lambda _: None)
        assert (skipped.skipped, skipped.detail) == (True, "skipped: another run of this job holds its lock")
        assert main(["lapse"]) == 0
        assert capsys.readouterr().out == "vip_lapse: skipped, another run holds its lock\n"
    assert [r["status"] for r in memberships(engine)] == ["active"]
    (done,) = run_all(engine=jobs_engine, only=["vip_lapse"], echo=lambda _: None)
    assert (done.ok, done.detail) == (True, "memberships lapsed=1")
    assert main(["lapse"]) == 0
    assert capsys.readouterr().out == "vip_lapse: memberships lapsed=0\n"
    assert [r["status"] for r in memberships(engine)] == ["lapsed"]
    assert main(["sweep"]) == 2


@pytest.mark.parametrize("fn, bad", [
    ("renew", {"fee_paid": "１９８００"}), ("renew", {"fee_paid": float("nan")}),
    ("renew", {"payment_ref": "R\x00"}), ("renew", {"note": "n" * 100_000}),
    ("renew", {"expected_version": float("nan")}), ("renew", {"membership_id": "１"}),
    ("cancel", {"reason": "x\x00y"}), ("cancel", {"reason": "r" * 100_000}),
    ("cancel", {"reason_code": "other\x00"}), ("cancel", {"expected_version": "1"}),
], ids=lambda v: v if isinstance(v, str) else next(iter(v)))
def test_hostile_input_to_renew_and_cancel_changes_nothing(engine, console_engine, make_actor,
                                                          world, fn, bad):
    bd, risk = make_actor("bd"), make_actor("risk")
    m = call(console_engine, vip.enrol, actor=bd, merchant_id=world["金牌车商"], tier="gold",
             fee_paid="19800", payment_ref="H-0")
    _shift(engine, m.id, expires_on=clock.today() + timedelta(days=5))
    before = memberships(engine), audit(engine)
    if fn == "renew":
        kwargs = {"actor": bd, "membership_id": m.id, "fee_paid": "19800", "payment_ref": "H-1"}
    else:
        kwargs = {"actor": risk, "membership_id": m.id, "reason_code": "other", "reason": "x"}
    with pytest.raises(InvalidInput):
        call(console_engine, getattr(vip, fn), **{**kwargs, **bad})
    assert (memberships(engine), audit(engine)) == before
