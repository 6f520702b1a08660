"""Gated services take no limits and no clocks from their callers.

A limit a caller could pass is a limit a BD can raise: ``take_lead(..., policy=MatchPolicy(
lead_cap=10**6))`` used to take a lead past the configured cap, and ``return_idle_leads(policy=
MatchPolicy(lead_idle_hours=0))`` returned every BD's leads to the pool. The caps and the
policy come from the settings (console.match_policy), time from console.clock; the boundary
refuses a keyword a gated service does not declare, before its body runs.
"""
from __future__ import annotations

import importlib
import inspect
from datetime import timedelta

import pytest
import sqlalchemy as sa

from console import clock
from console.errors import Conflict, InvalidInput
from console.i18n import translate
from console.match_policy import MatchPolicy
from console.roles import PROTECTED
from console.services import leads
from tests.conftest import _gated_services
from tests.test_leads import open_requests_with_suggestions, owners
from tests.test_matching_support import build_world

# Names that would hand a gated service a limit, a policy or a clock.
CONFIGURATION = frozenset({"policy", "cap", "now", "today", "as_of", "clock", "top_k",
                           "lead_cap", "idle_hours", "rot_days", "notify_daily_cap"})
# The growth funnel and drop-off reads take the instant their "window still open" mark is
# computed at: it changes only what the caller is shown, no limit and no one's data.
READ_AS_OF = frozenset({"console.services.growth.funnel(as_of)",
                        "console.services.growth.drop_offs(as_of)",
                        "console.services.growth.drop_off_page(as_of)",
                        "console.services.growth.drop_off_export(as_of)"})

# The gated services that used to take one, and what a caller passed them.
USED_TO_TAKE = [
    ("certification.snooze_case", "today", clock.today() - timedelta(days=30)),
    ("certification.auto_assign", "cap", 10**6),
    ("notify.held_back_summary", "now", clock.now() + timedelta(days=1)),
    ("deals.create_match", "policy", MatchPolicy(lead_cap=10**6)),
    ("deals.board", "policy", MatchPolicy(rot_days={})),
    ("leads.take_lead", "policy", MatchPolicy(lead_cap=10**6)),
    ("leads.assign_lead", "policy", MatchPolicy(lead_cap=10**6)),
    ("leads.return_idle_leads", "policy", MatchPolicy(lead_idle_hours=0)),
    ("leads.lead_status", "policy", MatchPolicy(lead_cap=10**6)),
    ("listing_review.snooze_flag", "today", clock.today() - timedelta(days=30)),
    ("listing_review.auto_assign", "cap", 10**6),
]


@pytest.fixture
def world(engine):
    return build_world(engine)


def service(name: str):
    module, _, attr = name.rpartition(".")
    return getattr(importlib.import_module(f"console.services.{module}"), attr)


def test_no_gated_service_takes_a_limit_or_a_clock():
    gated = _gated_services()
    assert len(gated) == len(PROTECTED) > 100
    offenders = [f"{module.__name__}.{name}({param})" for module, name in gated
                 for param in inspect.signature(inspect.unwrap(getattr(module, name))).parameters
                 if param in CONFIGURATION]
    assert sorted(set(offenders) - READ_AS_OF) == []


@pytest.mark.parametrize("name, param, value", USED_TO_TAKE, ids=[n for n, _, _ in USED_TO_TAKE])
def test_a_limit_or_clock_passed_to_a_gated_service_is_refused(engine, make_actor, name, param,
                                                               value):
    fn = service(name)
    actor = make_actor(*sorted(fn.allowed_roles))
    required = {n: None for n, p in inspect.signature(inspect.unwrap(fn)).parameters.items()
                if p.default is inspect.Parameter.empty and n not in ("conn", "actor")}
    with engine.connect() as conn, conn.begin():
        with pytest.raises(InvalidInput) as err:
            fn(conn=conn, actor=actor, **required, **{param: value})
        wrote = conn.execute(sa.text("SELECT txid_current_if_assigned()")).scalar()
    assert (err.value.key, err.value.params) == ("input.unknown", {"field": param, "problem": "unknown"})
    assert wrote is None        # refused before the body: nothing written


def test_the_refusal_reads_in_both_languages():
    assert translate("input.unknown", "zh", field="policy") == "此操作不接受“policy”这一项。"
    assert translate("input.unknown", "en", field="policy") == (
        "This action does not take a value called “policy”.")


def test_a_bd_cannot_take_leads_past_the_configured_cap(engine, world, make_actor, settings_env):
    settings_env(CONSOLE_LEAD_CAP=2)
    reqs = open_requests_with_suggestions(engine, world, 3)
    bd = make_actor("bd")
    for req in reqs[:2]:
        with engine.begin() as conn:
            leads.take_lead(conn=conn, actor=bd, request_id=req)
    with pytest.raises(InvalidInput) as err, engine.begin() as conn:
        leads.take_lead(conn=conn, actor=bd, request_id=reqs[2], policy=MatchPolicy(lead_cap=10**6))
    assert err.value.key == "input.unknown"
    with pytest.raises(Conflict) as err, engine.begin() as conn:
        leads.take_lead(conn=conn, actor=bd, request_id=reqs[2])
    assert (err.value.key, err.value.params) == ("matching.error.cap_reached", {"cap": 2})
    assert owners(engine) == {reqs[0]: bd.id, reqs[1]: bd.id}
    with engine.connect() as conn:
        assert leads.lead_status(conn=conn, actor=bd) == {"open": 2, "cap": 2, "idle_hours": 48}


def test_idle_leads_return_after_the_configured_hours_only(engine, world, make_actor, settings_env):
    reqs = open_requests_with_suggestions(engine, world, 2)
    owner, other = make_actor("bd"), make_actor("bd")
    with engine.begin() as conn:
        for req in reqs:
            leads.take_lead(conn=conn, actor=owner, request_id=req)
        conn.execute(sa.text("""UPDATE ops.lead_claims SET last_touched_at = now() - interval '3 hours'
                                WHERE request_id = :r"""), {"r": reqs[0]})
    with pytest.raises(InvalidInput), engine.begin() as conn:      # "every lead is idle"
        leads.return_idle_leads(conn=conn, actor=other, policy=MatchPolicy(lead_idle_hours=0))
    with engine.begin() as conn:                                     # 48 hours: none is idle
        assert leads.return_idle_leads(conn=conn, actor=other) == 0
    settings_env(CONSOLE_LEAD_IDLE_HOURS=2)                          # the deployment says 2
    with engine.begin() as conn:
        assert leads.return_idle_leads(conn=conn, actor=other) == 1
    assert owners(engine) == {reqs[1]: owner.id}
