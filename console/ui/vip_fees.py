"""/vip's fee discount tab (issue 19): what the tiers' deposit fee discount saved members, and
the member deposits the marketplace charged more than the tier's fee, for the finance desk to
refund (console/finance/fees.py says which deposits count)."""
from __future__ import annotations

from datetime import timedelta

import streamlit as st

from console import clock, fmt
from console.finance import fees
from console.roles import Actor
from console.ui import keep_choices, labelled, lang, run_query, t

WINDOWS = (90, 365, 0)        # days back; 0 = every term


def render(actor: Actor) -> None:
    keep_choices("vip_fee_window", page="vip-fees")      # through a language switch
    st.session_state.setdefault("vip_fee_window", WINDOWS[1])   # not index=: see keep_choices
    days = st.selectbox(t("finance.vip.fees.window"), WINDOWS, key="vip_fee_window",
                        format_func=lambda d: t("finance.vip.fees.window_days", n=d) if d
                        else t("finance.vip.fees.window_all"))
    since = clock.today() - timedelta(days=days) if days else None
    got = run_query(fees.member_fee_check, actor=actor, since=since)
    if got is None:
        return
    rates = fees.schedule().rates
    st.caption(t("finance.vip.fees.help", large=fmt.percent(rates["large"]),
                 small=fmt.percent(rates["small"])))
    deposits = int(got.terms["deposits"].sum()) if not got.terms.empty else 0
    cols = st.columns(4)
    cols[0].metric(t("finance.vip.fees.deposits"), fmt.number(deposits))
    cols[1].metric(t("finance.vip.fees.saved"), fmt.yuan(got.saved, digits=2))
    cols[2].metric(t("finance.vip.fees.overcharged_orders"), fmt.number(len(got.overcharged)))
    cols[3].metric(t("finance.vip.fees.overcharged"), fmt.yuan(got.refund, digits=2))
    if got.terms.empty:
        st.info(t("finance.vip.fees.none"))
        return
    if got.overcharged.empty:
        st.success(t("finance.vip.fees.all_right"))
    else:
        words = [t("finance.vip.fees.over", n=len(got.overcharged))]
        if got.refund > 0:
            words.append(t("finance.vip.fees.refund", amount=fmt.yuan(got.refund, digits=2)))
        if got.to_correct:
            words.append(t("finance.vip.fees.correct", pending=got.to_correct))
        st.warning(("" if lang() == "zh" else " ").join(words))
        orders = _shown(got.overcharged.drop(columns=["membership_id", "merchant_id"]))
        st.dataframe(labelled(orders, "finance.vip.col"), hide_index=True, width="stretch")
    st.markdown(f"**{t('finance.vip.fees.by_term')}**")
    terms = _shown(got.terms.drop(columns=["merchant_id"]))
    st.dataframe(labelled(terms, "finance.vip.col"), hide_index=True, width="stretch")


_YUAN = ("amount", "fee_amount", "due_fee", "over", "fee_collected", "refund", "gmv", "list_fees",
         "fees_charged", "saved", "overcharged")


def _shown(frame):
    """The check's frame as the tables show it: tier names, days, yuan to the cent."""
    out = frame.copy()
    out["tier"] = out["tier"].map(lambda c: t(f"finance.vip.tier.{c}"))
    for column in out.columns:
        if column in _YUAN:
            out[column] = out[column].map(lambda v: fmt.yuan(v, digits=2))
        elif column in ("paid_on", "starts_on", "expires_on"):
            out[column] = out[column].map(fmt.day)
        elif column in ("deposits", "overcharged_orders"):
            out[column] = out[column].map(fmt.number)
    return out
