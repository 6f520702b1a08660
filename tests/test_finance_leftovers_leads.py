"""The lead page's points help names the match score's VIP part (issue 19's leftovers): each
tier's points from console/finance/vip_tiers.toml and the policy's weight now, in zh and en."""
from __future__ import annotations

from console.services import leads
from tests.apptest import app_as
from tests.test_matching_pages import lead  # noqa: F401  (fixture: a request with a suggestion)


def points_help(at) -> str:
    [found] = [c.value for c in at.caption if "1%" in c.value]
    return found


def test_the_points_help_names_the_vip_part_in_both_languages(engine, make_actor, lead,  # noqa: F811
                                                              settings_env):
    bd = make_actor("bd")
    with engine.begin() as conn:
        leads.take_lead(conn=conn, actor=bd, request_id=lead)
    at = app_as(bd, page="pages/bd_leads.py")
    assert not at.exception and not at.error
    text = points_help(at)
    assert text.startswith("匹配分 = 各分项之和")
    assert text.endswith("会员加分：卖家有效会员等级的匹配加分 × 匹配策略权重"
                         "（银卡 0.5、金卡 1.0、钻石卡 1.5；当前权重 1.0，0 表示关闭）。")
    settings_env(CONSOLE_MATCH_VIP_WEIGHT=0)
    at = app_as(bd, page="pages/bd_leads.py", lang="en")
    assert not at.exception and not at.error
    assert points_help(at).endswith(
        "VIP: the match points of the seller's membership in force × the match policy's weight "
        "(Silver 0.5, Gold 1.0, Diamond 1.5; weight now 0.0, 0 turns it off).")
