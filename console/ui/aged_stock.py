"""The aged-stock boost on the leads page (issue 21): its rule in the points help, and the
managers' form (console/services/aged_stock_boost.py)."""
from __future__ import annotations

import streamlit as st

from console import fmt
from console.roles import Actor
from console.services import aged_stock_boost
from console.services.aged_stock_boost import BoostSetting
from console.ui import fmt_time, flash, run_action, run_query, t


def rule_text(setting: BoostSetting) -> str:
    """The rule with the values in force, or that it is off."""
    boost = setting.boost
    if not boost.on:
        return t("selfop.boost.off")
    return t("selfop.boost.rule", after=boost.after_days, full=boost.full_days,
             points=fmt.number(boost.points, digits=2).rstrip("0").rstrip("."))


def points_help(actor: Actor) -> str:
    """The score's aged-stock part in words, for the suggestions' points help."""
    setting = run_query(aged_stock_boost.boost_setting, actor=actor)
    return t("selfop.boost.help", rule=rule_text(setting)) if setting is not None else ""


def boost_editor(actor: Actor) -> None:
    """A manager sets the boost: cap, threshold, days to the cap, and why."""
    setting = run_query(aged_stock_boost.boost_setting, actor=actor)
    if setting is None:
        return
    with st.expander(t("selfop.boost.title"), icon=":material/warehouse:"):
        st.caption(rule_text(setting) + " " + (
            t("selfop.boost.last_changed", who=setting.updated_by, at=fmt_time(setting.updated_at))
            if setting.updated_by else t("selfop.boost.never_changed")))
        boost = setting.boost
        with st.form("aged_boost"):
            c1, c2, c3 = st.columns(3)
            # No min/max: the service refuses a bad value in the person's language.
            points = c1.number_input(t("selfop.boost.points"), value=float(boost.points),
                                     step=0.5, format="%.2f", key="aged_points",
                                     help=t("selfop.boost.points_help"))
            after = c2.number_input(t("selfop.boost.after_days"), value=boost.after_days, step=1,
                                    key="aged_after")
            full = c3.number_input(t("selfop.boost.full_days"), value=boost.full_days, step=1,
                                   key="aged_full")
            reason = st.text_input(t("common.reason"), key="aged_reason", max_chars=2000)
            st.caption(t("selfop.boost.rescore_note"))
            if st.form_submit_button(t("selfop.boost.save"), type="primary"):
                done = run_action(aged_stock_boost.set_aged_stock_boost, actor=actor,
                                  points=points, after_days=int(after), full_days=int(full),
                                  version=setting.version, reason=reason)
                if done:
                    flash(t("selfop.boost.saved", rule=rule_text(done.value)))
                    st.rerun()
