"""Admin: which single sign-on identity signs in as which staff account (console/sso.py);
link one from the refused sign-in attempts or by hand, unlink one (each audited)."""
import streamlit as st

from console import sso
from console.services import sso_identities, staff
from console.ui import flash, labelled, require_actor, run_action, run_query, show_flash, t

actor = require_actor()
st.title(t("sso.title"))
show_flash()
cfg = sso.config()
if cfg is None:
    st.info(t("sso.not_configured"), icon=":material/info:")
else:
    st.caption(t("sso.intro", provider=t(f"sso.provider.{cfg.provider}")))

tried = run_query(sso_identities.list_unlinked, actor=actor)
linked = run_query(sso_identities.list_identities, actor=actor)
accounts = run_query(staff.list_staff, actor=actor)
if tried is None or linked is None or accounts is None:
    st.stop()

st.subheader(t("sso.tried"))
if tried.empty:
    st.caption(t("sso.none_tried"))
else:
    st.caption(t("sso.tried.help"))
    st.dataframe(labelled(tried, "sso.col"), hide_index=True, width="stretch")

st.subheader(t("sso.link_title"))
MANUAL = -1
attempts = dict(enumerate(tried.itertuples()))
choice = st.selectbox(t("sso.pick_attempt"), [*attempts, MANUAL], key="sso_attempt",
                      format_func=lambda i: t("sso.pick_attempt.manual") if i == MANUAL else
                      " · ".join(v for v in (attempts[i].name_hint, attempts[i].email_hint,
                                             attempts[i].subject) if v))
people = {int(r.id): r for r in accounts.itertuples()}
with st.form("sso_link"):
    picked = attempts.get(choice)
    issuer = st.text_input(t("sso.issuer"), value=picked.issuer if picked else "",
                           disabled=picked is not None)
    subject = st.text_input(t("sso.subject"), value=picked.subject if picked else "",
                            disabled=picked is not None)
    email = st.text_input(t("sso.email_hint"), value=(picked.email_hint or "") if picked else "")
    # No account chosen in advance: a stranger linked to the first account by a hasty click
    # would sign in with its roles.
    round_ = st.session_state.get("_sso_link_round", 0)   # a new key after each link: unchosen
    staff_id = st.selectbox(
        t("sso.account"), list(people), key=f"sso_account_{round_}", index=None,
        format_func=lambda i: f"{people[i].username} · {people[i].display_name}")
    if st.form_submit_button(t("sso.link"), type="primary", icon=":material/link:"):
        if picked is not None:   # the attempt's exact values, whatever the disabled inputs hold
            issuer, subject = picked.issuer, picked.subject
        if staff_id is None:
            st.error(t("sso.account_required"))
        elif run_action(
                sso_identities.link_identity, actor=actor, staff_id=staff_id, issuer=issuer,
                subject=subject, email_hint=email or None):
            flash(t("sso.linked_done", username=people[staff_id].username))
            st.session_state["_sso_link_round"] = round_ + 1
            st.rerun()

st.subheader(t("sso.linked"))
if linked.empty:
    st.caption(t("sso.none_linked"))
else:
    st.dataframe(labelled(linked, "sso.col"), hide_index=True, width="stretch")
    links = {int(r.id): r for r in linked.itertuples()}
    c1, c2 = st.columns([3, 1], vertical_alignment="bottom")
    to_remove = c1.selectbox(t("sso.pick_link"), list(links), key="sso_unlink_pick",
                             format_func=lambda i: " · ".join(
                                 v for v in (links[i].username, links[i].email_hint,
                                             links[i].subject) if v))
    if c2.button(t("sso.unlink"), icon=":material/link_off:", key="sso_unlink"):
        if run_action(sso_identities.unlink_identity, actor=actor, identity_id=to_remove):
            flash(t("sso.unlinked_done"))
            st.rerun()
