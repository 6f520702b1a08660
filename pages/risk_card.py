"""Rating card: find a merchant, read its score, factor points, reasons, history and
overrides; risk officers propose an override here."""
from datetime import timedelta

import plotly.express as px
import streamlit as st

from console import clock, fmt
from console.grades import GRADES
from console.services import credit
from console.settings import get_settings
from console.ui import (enum_label, flash, fmt_time, labelled, pager, require_actor, run_action,
                        run_query, show_flash, t)
from console.ui.credit_line import section as credit_line_section
from console.ui.links import keep_in_url, requested_id

actor = require_actor()
st.title(t("credit.card.title"))
show_flash()
# A link names the merchant (/rating-card?merchant=12, console/ui/links.py); picking a row
# below shows another one and the URL follows, so it can be copied to a colleague.
from_url = requested_id("rating")

c1, c2 = st.columns([3, 1])
query = c1.text_input(t("credit.card.search"), key="credit_card_query",
                      placeholder=t("credit.card.search_hint"))
grade = c2.selectbox(t("credit.col.effective_grade"), ["", *GRADES], key="credit_card_grade",
                     format_func=lambda g: g or t("common.all"))
page_size = get_settings().page_size
offset = st.session_state.get("credit_card__offset", 0)
found = run_query(credit.search_merchants, actor=actor, query=query, grade=grade or None,
                  limit=page_size, offset=offset)
if found is None:
    st.stop()
merchants, total = found
if merchants.empty and from_url is None:
    st.info(t("common.none"))
    st.stop()
shown = merchants.assign(merchant_type=merchants["merchant_type"].map(
    lambda v: enum_label("merchant_type", v)))
# A suspended merchant's grade, limit and VIP read as its status (credit.withhold_terms).
held = merchants["on_hold"].map(lambda s: t(f"standing.{s}") if isinstance(s, str) else None)
# As text before the statuses go in: a column of yuan and words is not one Arrow type.
shown = shown.assign(
    loan_limit=[fmt.yuan(v) for v in shown["loan_limit"]],
    vip_eligible=[fmt.MISSING if fmt.is_missing(v) else t("common.yes" if v else "common.no")
                  for v in shown["vip_eligible"]])
shown = shown.assign(**{c: shown[c].astype(object).where(held.isna(), held)
                        for c in ("grade", "effective_grade", "loan_limit", "vip_eligible")})
shown = shown.drop(columns=["status", "on_hold"])
picked = st.dataframe(labelled(shown.drop(columns=["cert_level"]), "credit.col"), hide_index=True,
                      width="stretch", on_select="rerun", selection_mode="single-row",
                      key="credit_card_table")
new_offset = pager(key="credit_card", total=total, page_size=page_size)
if new_offset != offset:
    st.session_state["credit_card__offset"] = new_offset
    st.rerun()
rows = picked.selection.rows if picked is not None else []
if rows:
    merchant_id = int(merchants.iloc[rows[0]]["merchant_id"])
elif from_url is not None:
    merchant_id = from_url
else:
    st.caption(t("credit.card.pick"))
    st.stop()
keep_in_url("rating", merchant_id)

card = run_query(credit.rating_card, actor=actor, merchant_id=merchant_id)
if card is None:
    st.stop()
st.header(f"{card.merchant['name']} · #{card.merchant['id']}")
st.caption(f"{card.merchant['city']} · {enum_label('merchant_type', card.merchant['merchant_type'])}"
           f" · {enum_label('cert_level', card.merchant['cert_level'])}")
current = card.current
if current is None:
    st.info(t("credit.card.not_scored"))
    st.stop()

m1, m2, m3, m4, m5 = st.columns(5)
m1.metric(t("credit.col.score"), current["score"],
          help=t("credit.card.odds", odds=f"{card.odds:.1f}"))
terms = card.shown
if terms.held:   # suspended or closed: no grade, limit or VIP holds (credit.shown_terms)
    word = t(f"standing.{terms.on_hold}")
    st.error(t("standing.card_banner", status=word), icon=":material/block:")
    m2.metric(t("credit.col.grade"), word, help=t("standing.scored_grade", grade=current["grade"]))
    m3.metric(t("credit.col.effective_grade"), word)
    m4.metric(t("credit.col.loan_limit"), word)
    m5.metric(t("credit.col.vip_eligible"), word)
else:
    m2.metric(t("credit.col.grade"), current["grade"])
    m3.metric(t("credit.col.effective_grade"), terms.grade,
              help=t("credit.card.override_until", at=fmt.expiry_day(current["override_expires_at"]))
              if current["is_override"] else None)
    m4.metric(t("credit.col.loan_limit"), f"¥{terms.loan_limit:,.0f}")
    m5.metric(t("credit.col.vip_eligible"), t("common.yes") if terms.vip else t("common.no"))
if current["insufficient_history"]:
    st.info(t("credit.card.insufficient_history",
              starter=fmt.yuan(get_settings().credit_starter_limit_yuan)),
            icon=":material/hourglass_empty:")
st.caption(t("credit.card.scored", at=fmt_time(current["scored_at"]), version=card.version))
credit_line_section(actor=actor, merchant_id=merchant_id)   # line, used, available (issue 19)

st.subheader(t("credit.card.reasons"))
if card.reasons:
    for n, factor in enumerate(card.reasons, start=1):
        st.markdown(f"{n}. {t(f'credit.reason.{factor}')}")
else:
    st.caption(t("credit.card.no_reasons"))

st.subheader(t("credit.card.factors"))
factors = card.factors.assign(
    factor=card.factors["factor"].map(lambda f: t(f"credit.factor.{f}")),
    # one text column (numbers and category words mixed would not convert to Arrow)
    value=card.factors.apply(lambda r: enum_label("cert_level", r["value"])
                             if r["factor"] == "cert_level" and r["value"]
                             else fmt.measure(r["value"]), axis=1))
fig = px.bar(factors, x="points", y="factor", orientation="h", text="points",
             labels={"points": t("credit.col.points"), "factor": t("credit.col.factor")})
fig.update_yaxes(autorange="reversed")
st.plotly_chart(fig, width="stretch")
st.dataframe(labelled(factors[["factor", "value", "bin_label", "points", "max_points",
                               "points_lost"]], "credit.col"), hide_index=True, width="stretch")

st.subheader(t("credit.card.history"))
if len(card.history) > 1:
    fig = px.line(card.history, x="finished_at", y="score", markers=True, text="grade",
                  labels={"finished_at": t("credit.col.finished_at"), "score": t("credit.col.score")})
    st.plotly_chart(fig, width="stretch")
st.dataframe(labelled(card.history, "credit.col"), hide_index=True, width="stretch")

st.subheader(t("credit.card.overrides"))
if card.overrides.empty:
    st.caption(t("common.none"))
else:
    shown = card.overrides.assign(
        status=card.overrides["status"].map(lambda s: t(f"credit.status.{s}")),
        expires_at=card.overrides["expires_at"].map(fmt.expiry_day),   # the day chosen
        reason_code=card.overrides["reason_code"].map(lambda c: t(f"credit.override_reason.{c}")))
    st.dataframe(labelled(shown, "credit.col"), hide_index=True, width="stretch")

if actor.has("risk"):
    if card.pending_override is not None:
        st.info(t("credit.card.pending", grade=card.pending_override["new_grade"],
                  who=card.pending_override["proposed_by"]))
    else:
        with st.expander(t("credit.override.propose"), icon=":material/edit:"):
            with st.form("credit_propose"):
                new_grade = st.selectbox(t("credit.col.new_grade"),
                                         [g for g in GRADES if g != current["effective_grade"]])
                code = st.selectbox(t("credit.col.reason_code"), credit.OVERRIDE_REASONS,
                                    format_func=lambda c: t(f"credit.override_reason.{c}"))
                reason = st.text_area(t("common.reason"))
                expires_on = st.date_input(t("credit.col.expires_at"),
                                           value=clock.today() + timedelta(days=90),
                                           min_value=clock.today(),
                                           max_value=clock.today() + timedelta(days=credit.MAX_OVERRIDE_DAYS))
                if st.form_submit_button(t("credit.override.propose"), type="primary"):
                    if run_action(credit.propose_override, actor=actor, merchant_id=merchant_id,
                                  new_grade=new_grade, reason_code=code, reason=reason,
                                  expires_on=expires_on):
                        flash(t("credit.override.proposed"))
                        st.rerun()
