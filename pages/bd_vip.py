"""VIP membership (会员管理): the tiers and their benefits, the members in force, BD's
follow-up list (lapsed, ending soon, grade fallen below the tier), and the forms: BD enrols
and renews after the sale, risk or an admin cancels (console/finance/vip.py says why)."""
import streamlit as st

from console import clock, fmt, match_policy
from console.finance import vip
from console.ui import (flash, keep_choices, labelled, lang, require_actor, run_action, run_query,
                        show_flash, t)
from console.ui import vip_fees

actor = require_actor()
st.title(t("finance.vip.page.title"))
show_flash()
st.caption(t("finance.vip.page.caption"))

tiers = run_query(vip.tier_summary, actor=actor)     # also the page's role check
if tiers is None:
    st.stop()
members = run_query(vip.members, actor=actor)
if members is None:
    st.stop()
cfg = vip.load_config()
keep_choices("vip_renew_pick", page="vip")   # through a language switch, in its words


def tier_name(code: str) -> str:
    return t(f"finance.vip.tier.{code}")


# ---------------------------------------------------------------- tiers
cols = st.columns(len(tiers) + 1)
for col, row in zip(cols, tiers.itertuples()):
    col.metric(tier_name(row.tier), fmt.number(row.members),
               help=t("finance.vip.page.tier_option", tier=tier_name(row.tier),
                      fee=fmt.yuan(row.annual_fee), grade=row.min_grade))
within = st.session_state.get("vip_within", cfg.expiring_within_days)
mine = st.session_state.get("vip_mine", False)
follow = run_query(vip.follow_up, actor=actor, within_days=int(within), mine=bool(mine))
cols[-1].metric(t("finance.vip.page.follow_up_metric"),
                fmt.number(0 if follow is None else len(follow)))

with st.expander(t("finance.vip.page.tiers"), icon=":material/workspace_premium:"):
    shown = tiers.assign(
        tier=tiers["tier"].map(tier_name),
        annual_fee=tiers["annual_fee"].map(fmt.yuan),
        exposure_boost=tiers["exposure_boost"].map(lambda v: f"×{fmt.number(v, digits=1)}"),
        match_points=tiers["match_points"].map(lambda v: fmt.number(v, digits=1)),
        deposit_fee_discount=tiers["deposit_fee_discount"].map(fmt.percent),
        members=tiers["members"].map(fmt.number), fees=tiers["fees"].map(fmt.yuan))
    st.dataframe(labelled(shown, "finance.vip.col"), hide_index=True, width="stretch")
    weight = match_policy.current().score.vip_weight
    st.caption(t("finance.vip.page.tiers_help", weight=fmt.number(weight, digits=1)))


def member_rows(df):
    """A frame of memberships as the tables show it."""
    out = df.copy()
    out["tier"] = out["tier"].map(tier_name)
    for column in ("starts_on", "expires_on"):
        if column in out:
            out[column] = out[column].map(fmt.day)
    if "fee_paid" in out:
        out["fee_paid"] = out["fee_paid"].map(fmt.yuan)
    if "grade" in out:
        out["grade"] = out["grade"].map(lambda g: g if isinstance(g, str) else t("finance.vip.page.no_grade"))
    return out


def option_label(row) -> str:
    return t("finance.vip.page.membership_option", merchant=row.merchant,
             tier=tier_name(row.tier), end=fmt.day(row.expires_on))


can_sell = actor.has(*vip.ENROLLERS)
can_cancel = actor.has(*vip.CANCELLERS)
names = ["members", "follow_up"] + (["enrol", "renew"] if can_sell else []) + (
    ["cancel"] if can_cancel else []) + ["fees"]
tabs = dict(zip(names, st.tabs([t(f"finance.vip.page.tab.{n}") for n in names])))

with tabs["members"]:
    st.caption(t("finance.vip.page.members", n=fmt.number(len(members))))
    if members.empty:
        st.info(t("finance.vip.page.no_members"))
    else:
        table = member_rows(members[["membership_id", "merchant", "city", "bd_owner", "tier", "grade",
                                     "starts_on", "expires_on", "days_left", "fee_paid"]])
        st.dataframe(labelled(table, "finance.vip.col"), hide_index=True, width="stretch")

with tabs["follow_up"]:
    # No min/max: the service refuses a bad window in the person's language.
    left, right = st.columns([1, 4], vertical_alignment="bottom")
    left.number_input(t("finance.vip.page.within"), step=1, value=cfg.expiring_within_days,
                      key="vip_within")
    right.toggle(t("finance.vip.page.mine"), value=False, key="vip_mine")
    st.caption(t("finance.vip.page.follow_up_help", lapsed=cfg.lapsed_follow_up_days))
    if follow is not None and follow.empty:
        st.info(t("finance.vip.page.no_follow_up"))
    elif follow is not None:
        shown = follow.assign(reason=[vip.follow_up_reason(r, lang=lang())
                                      for r in follow.to_dict("records")])
        table = member_rows(shown[["membership_id", "merchant", "bd_owner", "tier", "grade",
                                   "expires_on", "reason"]])
        st.dataframe(labelled(table, "finance.vip.col"), hide_index=True, width="stretch")

if can_sell:
    with tabs["enrol"]:
        st.caption(t("finance.vip.page.enrol_roles"))
        merchant_id = st.columns([1, 4])[0].number_input(
            t("finance.vip.page.merchant_id"), step=1, value=None, key="vip_enrol_merchant")
        if merchant_id:
            who = run_query(vip.standing_of, actor=actor, merchant_id=int(merchant_id))
            if who is not None:
                allowed = who.eligible_tiers()
                grade = who.grade or t("finance.vip.page.no_grade")
                if allowed:
                    st.info(t("finance.vip.page.standing", merchant=who.name, grade=grade,
                              tiers=" / ".join(tier_name(c) for c in allowed)))
                else:
                    st.warning(t("finance.vip.page.standing_none", merchant=who.name, grade=grade))
        with st.form("vip_enrol", clear_on_submit=False):
            codes = [tier.code for tier in cfg.tiers]
            tier = st.selectbox(t("finance.vip.page.tier"), codes, format_func=lambda c: t(
                "finance.vip.page.tier_option", tier=tier_name(c),
                fee=fmt.yuan(cfg.tier(c).annual_fee_yuan), grade=cfg.tier(c).min_grade))
            fee = st.text_input(t("finance.vip.page.fee_paid"), max_chars=30)
            ref = st.text_input(t("finance.vip.page.payment_ref"), max_chars=64)
            note = st.text_input(t("finance.vip.page.note"), max_chars=2000)
            if st.form_submit_button(t("finance.vip.page.enrol"), type="primary"):
                if not merchant_id:
                    st.error(t("input.id"))
                else:
                    done = run_action(vip.enrol, actor=actor, merchant_id=int(merchant_id),
                                      tier=tier, fee_paid=fee, payment_ref=ref, note=note)
                    if done:
                        m = done.value
                        flash(t("finance.vip.page.enrolled", tier=tier_name(m.tier),
                                start=fmt.day(m.starts_on), end=fmt.day(m.expires_on)))
                        st.rerun()

    with tabs["renew"]:
        # In force, or ended without renewal (the follow-up list's lapsed rows).
        lapsed = (follow[follow["status"] == "lapsed"] if follow is not None
                  else members.iloc[0:0])
        pool = {int(r.membership_id): r for r in members.itertuples()}
        pool.update({int(r.membership_id): r for r in lapsed.itertuples()})
        if not pool:
            st.info(t("finance.vip.page.nothing_to_renew"))
        else:
            picked = st.selectbox(t("finance.vip.page.pick_membership"), list(pool),
                                  format_func=lambda i: option_label(pool[i]), key="vip_renew_pick")
            row = pool[picked]
            start = vip.renewal_start(expires_on=row.expires_on, today=clock.today())
            st.caption(t("finance.vip.page.renew_help", start=fmt.day(start),
                         end=fmt.day(vip.term_end(start))))
            with st.form("vip_renew"):
                fee = st.text_input(t("finance.vip.page.fee_paid"), max_chars=30)
                ref = st.text_input(t("finance.vip.page.payment_ref"), max_chars=64)
                note = st.text_input(t("finance.vip.page.note"), max_chars=2000)
                if st.form_submit_button(t("finance.vip.page.renew"), type="primary"):
                    done = run_action(vip.renew, actor=actor, membership_id=picked, fee_paid=fee,
                                      payment_ref=ref, note=note, expected_version=int(row.version))
                    if done:
                        m = done.value
                        flash(t("finance.vip.page.renewed", start=fmt.day(m.starts_on),
                                end=fmt.day(m.expires_on)))
                        st.rerun()

if can_cancel:
    with tabs["cancel"]:
        st.caption(t("finance.vip.page.cancel_roles"))
        if members.empty:
            st.info(t("finance.vip.page.no_members"))
        else:
            pool = {int(r.membership_id): r for r in members.itertuples()}
            with st.form("vip_cancel"):
                picked = st.selectbox(t("finance.vip.page.pick_membership"), list(pool),
                                      format_func=lambda i: option_label(pool[i]))
                code = st.selectbox(t("finance.vip.page.cancel_reason"), vip.CANCEL_REASONS,
                                    format_func=lambda c: t(f"finance.vip.cancel_reason.{c}"))
                words = st.text_area(t("finance.vip.page.cancel_words"), max_chars=2000)
                if st.form_submit_button(t("finance.vip.page.cancel"), type="primary"):
                    if run_action(vip.cancel, actor=actor, membership_id=picked, reason_code=code,
                                  reason=words, expected_version=int(pool[picked].version)):
                        flash(t("finance.vip.page.cancelled"))
                        st.rerun()

with tabs["fees"]:
    vip_fees.render(actor)
