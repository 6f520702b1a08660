"""Override inbox: proposals waiting for a second risk officer, oldest first."""
import streamlit as st

from console import fmt
from console.services import credit
from console.ui import (flash, fmt_time, labelled, lang, require_actor, run_action, run_query,
                        show_flash, t)
from console.ui.links import requested_choice

actor = require_actor()
st.title(t("credit.inbox.title"))
show_flash()

inbox = run_query(credit.override_inbox, actor=actor)
if inbox is None:
    st.stop()
rate = run_query(credit.override_rate, actor=actor)
if rate is not None:
    st.caption(t("credit.override.rate_split", up=fmt.percent(rate.up_rate), up_n=fmt.number(rate.upgrades),
                 down=fmt.percent(rate.down_rate), down_n=fmt.number(rate.downgrades),
                 graded=fmt.number(rate.scored), new_n=fmt.number(rate.new_overridden)))
# The home tiles open the inbox on one side (/credit-overrides?view=to_approve|mine,
# console/ui/links.py); nothing chosen shows both.
view = st.segmented_control(t("credit.inbox.view"), ["to_approve", "mine"],
                            default=requested_choice("credit-overrides", "view"),
                            key="credit_inbox_view", format_func=lambda v: t(f"credit.inbox.view.{v}"))
if inbox.empty:
    st.info(t("credit.inbox.empty"))
for row in inbox.itertuples():
    if (view == "to_approve" and row.mine) or (view == "mine" and not row.mine):
        continue
    with st.container(border=True):
        st.markdown(f"**{row.merchant}** · #{row.merchant_id} · "
                    f"{row.from_grade} → **{row.new_grade}**")
        st.caption(t("credit.inbox.meta", who=row.proposed_by, at=fmt_time(row.proposed_at),
                     until=fmt.expiry_day(row.expires_at),   # the day chosen, not the next midnight
                     code=t(f"credit.override_reason.{row.reason_code}")))
        st.write(row.reason)
        if row.mine:
            st.caption(t("credit.inbox.own"))
            continue
        note = st.text_input(t("credit.col.decision_note"), key=f"credit_note_{row.id}")
        c1, c2 = st.columns(2)
        done = False
        if c1.button(t("credit.override.approve"), key=f"credit_approve_{row.id}", type="primary"):
            done = run_action(credit.approve_override, actor=actor, override_id=row.id, note=note,
                              expected_version=row.version)
        if c2.button(t("credit.override.reject"), key=f"credit_reject_{row.id}"):
            done = run_action(credit.reject_override, actor=actor, override_id=row.id, note=note,
                              expected_version=row.version)
        if done:
            flash(t("common.done"))
            st.rerun()

st.subheader(t("credit.inbox.recent"))
recent = run_query(credit.recent_override_decisions, actor=actor)
if recent is not None and not recent.empty:
    shown = recent.assign(status=recent["status"].map(lambda s: t(f"credit.status.{s}")),
                          reason_code=recent["reason_code"].map(
                              lambda c: t(f"credit.override_reason.{c}")))
    shown = fmt.frame(shown, {"expires_at": "expiry", "decided_at": "when",
                              "proposed_at": "when"}, lang=lang())
    st.dataframe(labelled(shown, "credit.col"), hide_index=True, width="stretch")
else:
    st.caption(t("common.none"))

# ---------------------------------------------------------------- re-examination after a new score
st.subheader(t("credit.override.review_title"))
review = run_query(credit.overrides_to_review, actor=actor)
if review is not None and review.empty:
    st.caption(t("credit.override.review_none"))
for row in (review.itertuples() if review is not None else []):
    with st.container(border=True):
        st.markdown(f"**{row.merchant}** · #{row.merchant_id} · {row.basis_grade} → "
                    f"{row.review_grade} ({t('credit.col.new_grade')}: **{row.new_grade}**)")
        note = st.text_input(t("credit.col.decision_note"), key=f"credit_review_note_{row.id}")
        k1, k2 = st.columns(2)
        kept = k1.button(t("credit.override.keep"), key=f"credit_keep_{row.id}")
        revoked = k2.button(t("credit.override.revoke"), key=f"credit_revoke_{row.id}")
        if (kept or revoked) and run_action(credit.review_override, actor=actor, override_id=row.id,
                                            keep=kept, note=note):
            flash(t("credit.override.reviewed"))
            st.rerun()

st.subheader(t("credit.override.outcomes_title"))
outcomes = run_query(credit.override_outcomes, actor=actor)
if outcomes is not None and not outcomes.empty:
    # Its grade column is the grade the override gave, not the scored one.
    shown = fmt.frame(outcomes.rename(columns={"grade": "given_grade"}),
                      {"overridden_rate": "percent", "peers_rate": "percent"}, lang=lang())
    st.dataframe(labelled(shown, "credit.col"), hide_index=True, width="stretch")
else:
    st.caption(t("common.none"))
