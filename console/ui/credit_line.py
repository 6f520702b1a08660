"""A merchant's credit line, what is used and what is available: the one block the merchant
profile, the rating card and the manual-line page show (console/services/credit_lines.py
line_summary). Amounts in units of 10k yuan (console/fmt.py wan); a suspended or closed
merchant's line and available amount read as its status, what it has used is still shown
(it is still owed)."""
from __future__ import annotations

import streamlit as st

from console import fmt
from console.roles import Actor
from console.services import credit_lines
from console.ui import lang, run_query, t
from console.ui.links import page_url


def section(*, actor: Actor, merchant_id: int, link: bool = True) -> credit_lines.LineView | None:
    """Show the block under its own heading; the figures shown (None: refused, already said).
    ``link``: a risk officer gets a link to propose a manual line on the risk page."""
    view = run_query(credit_lines.line_summary, actor=actor, merchant_id=merchant_id)
    if view is None:
        return None
    st.subheader(t("finance.lines.title"))
    shown = lang()
    if not view.has_line:
        st.caption(t("finance.lines.none"))
    else:
        held = t(f"standing.{view.on_hold}") if view.on_hold else None
        c = st.columns(3)
        c[0].metric(t("finance.lines.line"), held or fmt.wan(view.line, lang=shown))
        c[1].metric(t("finance.lines.committed"), fmt.wan(view.committed, lang=shown))
        c[2].metric(t("finance.lines.available"), held or fmt.wan(view.available, lang=shown))
        if view.above_line and not held:
            st.warning(t("finance.lines.above_line"), icon=":material/trending_down:")
        if view.is_manual:
            st.caption(t("finance.lines.basis.manual", until=fmt.expiry_day(view.manual_until),
                         grade_line=fmt.wan(view.grade_line, lang=shown)))
        elif view.grade is not None:
            st.caption(t("finance.lines.basis.grade", grade=view.grade,
                         at=fmt.when(view.evaluated_at)))
        else:
            st.caption(t("finance.lines.basis.no_grade", at=fmt.when(view.evaluated_at)))
    if view.pending_line is not None:
        st.info(t("finance.lines.pending", line=fmt.wan(view.pending_line, lang=shown)),
                icon=":material/pending_actions:")
    if link and actor.has(*credit_lines.DECIDERS):
        # A plain link (a new tab, signed in by the session cookie), not st.page_link: the
        # block also runs in page scripts run on their own, outside the navigation.
        st.markdown(f":material/edit: [{t('finance.lines.manage')}]"
                    f"({page_url('credit-lines', merchant=int(merchant_id))})")
    return view
