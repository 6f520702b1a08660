"""The offline evaluation replays the match score's VIP component as of the replay's moment
(issue 19's leftovers): the seller's membership in force then, whatever it is now; by hand on
test_match_eval's history. Request 1, by hand: 3 cars at max ¥300,000, freight ¥1.5 x road
1.25 a car and km; the nearer car ¥266,200 at 469 km scores 100 x (33,800 - 879.375) / 300,000
= 10.973542 on cost, the farther ¥256,600 at 936 km 100 x (43,400 - 1,755) / 300,000 =
13.881667; the rest is equal: the nearer is 2.908125 points behind, rank 2."""
from __future__ import annotations

from datetime import date, timedelta

import pytest
import sqlalchemy as sa

from console.services import match_eval
from tests.test_match_eval import history  # noqa: F401  (fixture)
from tests.test_matching_support import AS_OF

# the replay's moment of request 1 is its winning card's creation (AS_OF + 1 h) less a
# second: 2026-03-10 13:00 in Shanghai
DAY = date(2026, 3, 10)


def term(engine, seller_id, tier, *, starts, expires, status="active", enrolled=None,
         cancelled=None, ref):
    """A membership of ``seller_id`` (starts/expires: days from the replay's day)."""
    with engine.begin() as conn:
        staff = conn.execute(sa.text("""
            INSERT INTO ops.staff (username, display_name, password_hash, roles)
            VALUES (:u, :u, 'x', '{bd}') ON CONFLICT (username) DO UPDATE SET username = :u
            RETURNING id"""), {"u": "vip.seller.bd"}).scalar_one()
        conn.execute(sa.text("""
            INSERT INTO fin.vip_memberships (merchant_id, tier, starts_on, expires_on, status,
                list_fee, fee_paid, payment_ref, enrolled_by, enrolled_at, lapsed_at,
                cancelled_by, cancelled_at, cancel_reason_code, cancel_reason)
            VALUES (:m, :t, :s, :e, :st, 30000, 30000, :ref, :by, :en,
                    CASE WHEN :st = 'lapsed' THEN :en END,
                    CASE WHEN :st = 'cancelled' THEN :by END, :ca,
                    CASE WHEN :st = 'cancelled' THEN 'other' END,
                    CASE WHEN :st = 'cancelled' THEN '测试' END)"""),
                     {"m": seller_id, "t": tier, "s": DAY + timedelta(days=starts),
                      "e": DAY + timedelta(days=expires), "st": status, "ref": ref, "by": staff,
                      "en": enrolled or AS_OF + timedelta(days=starts - 1), "ca": cancelled})


def near_pair(engine, h):
    with engine.connect() as conn:
        ranked = match_eval.rank_pairs(match_eval.candidate_pairs(conn))
    rows = ranked.set_index(["request_id", "listing_id"])
    near, far = rows.loc[(h["r1"], h["near"])], rows.loc[(h["r1"], h["far"])]
    return near, far


def seller_of(engine, listing_id):
    with engine.connect() as conn:
        return conn.execute(sa.text("SELECT merchant_id FROM app.listings WHERE id = :l"),
                            {"l": listing_id}).scalar_one()


def test_a_term_in_force_then_counts_its_points_and_moves_the_rank(engine, history,  # noqa: F811
                                                                    settings_env):
    settings_env(CONSOLE_MATCH_VIP_WEIGHT=2)
    near, far = near_pair(engine, history)
    base = near["score_current"]
    assert (near["vip_tier"], int(near["rank_current"])) == (None, 2)
    assert far["score_current"] - base == pytest.approx(2.908125, abs=1e-6)
    # diamond (1.5 points x weight 2 = 3) from 30 days before to 300 days after; lapsed since
    term(engine, seller_of(engine, history["near"]), "diamond", starts=-30, expires=300,
         status="lapsed", ref="D-1")
    near, far = near_pair(engine, history)
    assert near["vip_tier"] == "diamond"
    assert near["score_current"] - base == pytest.approx(3.0, abs=1e-9)
    assert near["score_current"] - far["score_current"] == pytest.approx(0.091875, abs=1e-6)
    assert int(near["rank_current"]) == 1 and int(far["rank_current"]) == 2
    # the previous policy had no VIP part
    assert int(near["rank_previous"]) == 1


@pytest.mark.parametrize("case", ["starts_after", "ended_before", "enrolled_after",
                                  "cancelled_before"])
def test_a_term_not_in_force_at_the_moment_counts_nothing(engine, history, case,  # noqa: F811
                                                           settings_env):
    settings_env(CONSOLE_MATCH_VIP_WEIGHT=2)     # in force, diamond would rank it first
    seller = seller_of(engine, history["near"])
    kw = {"starts_after": dict(starts=1, expires=366),
          "ended_before": dict(starts=-400, expires=-1, status="lapsed"),
          # enrolled today (after the replay), a term whose days would cover it
          "enrolled_after": dict(starts=-10, expires=355, enrolled=AS_OF + timedelta(days=2)),
          "cancelled_before": dict(starts=-30, expires=300, status="cancelled",
                                   cancelled=AS_OF - timedelta(hours=1))}[case]
    term(engine, seller, "diamond", ref=f"D-{case}", **kw)
    near, _ = near_pair(engine, history)
    assert near["vip_tier"] is None
    assert int(near["rank_current"]) == 2


def test_a_term_cancelled_after_the_moment_counted_then(engine, history):  # noqa: F811
    term(engine, seller_of(engine, history["near"]), "gold", starts=-30, expires=300,
         status="cancelled", cancelled=AS_OF + timedelta(days=3), ref="G-late")
    near, far = near_pair(engine, history)
    assert near["vip_tier"] == "gold"
    # gold is 1 point at weight 1: still 1.908125 behind the farther, cheaper car
    assert far["score_current"] - near["score_current"] == pytest.approx(1.908125, abs=1e-6)
    assert int(near["rank_current"]) == 2


def test_the_weight_scales_the_replayed_component(engine, history, settings_env):  # noqa: F811
    term(engine, seller_of(engine, history["near"]), "silver", starts=-30, expires=300,
         ref="S-1")
    scores = {}
    for weight in ("0", "2"):
        settings_env(CONSOLE_MATCH_VIP_WEIGHT=weight)
        with engine.connect() as conn:
            pairs = match_eval.candidate_pairs(conn)
        score = match_eval.score_current(pairs)
        scores[weight] = float(score[pairs["listing_id"] == history["near"]].iloc[0])
    assert scores["2"] - scores["0"] == pytest.approx(1.0, abs=1e-9)     # silver 0.5 x 2
