"""Admin: create, disable and re-role staff accounts, force a password reset, end a person's
open sessions, list the person's sign-in sessions and end one (each audited in the service)."""
import streamlit as st

from console.roles import ROLES
from console.services import staff
from console.ui.links import requested_choice
from console.ui import (flash, fmt_time, labelled, require_actor, run_action, run_query,
                        show_flash, t)

actor = require_actor()
st.title(t("staff.title"))
show_flash()

# The home tiles open this list filtered (/staff?status=locked, console/ui/links.py).
from_url = requested_choice("staff", "status")
status = st.segmented_control(t("staff.show"), list(staff.STAFF_FILTERS), key="staff_status",
                              default=from_url, help=t("staff.show.help"),
                              format_func=lambda s: t(f"staff.show.{s}"))
table = run_query(staff.list_staff, actor=actor, status=status)
if table is None:
    st.stop()


def role_names(roles) -> str:
    return "、".join(t(f"role.{r}") for r in roles)


st.dataframe(labelled(table.assign(roles=table["roles"].map(role_names)), "staff.col"),
             hide_index=True, width="stretch")

with st.expander(t("staff.create"), icon=":material/person_add:"):
    with st.form("create_staff"):
        username = st.text_input(t("login.username"))
        display_name = st.text_input(t("staff.display_name"))
        password = st.text_input(t("login.password"), type="password")
        roles = st.multiselect(t("staff.roles"), ROLES, format_func=lambda r: t(f"role.{r}"))
        first_change = st.checkbox(t("staff.must_change_on_first_login"), value=True)
        if st.form_submit_button(t("staff.create"), type="primary"):
            if run_action(staff.create_staff, actor=actor, username=username,
                          display_name=display_name, password=password, roles=roles,
                          must_change_password=first_change):
                flash(t("staff.created", username=username))
                st.rerun()

st.subheader(t("staff.edit"))
accounts = {int(r.id): r for r in table.itertuples()}
staff_id = st.selectbox(t("staff.pick"), list(accounts), key="staff_pick",
                        format_func=lambda i: f"{accounts[i].username} · {accounts[i].display_name}")
if staff_id is not None:
    current = accounts[staff_id]
    with st.form("edit_staff"):
        new_roles = st.multiselect(t("staff.roles"), ROLES, default=list(current.roles),
                                   format_func=lambda r: t(f"role.{r}"))
        reason = st.text_input(t("common.reason"))
        temporary = st.text_input(t("staff.temporary_password"), type="password",
                                  help=t("login.password_rules"))
        c1, c2, c3, c4, c5 = st.columns(5)
        set_roles = c1.form_submit_button(t("staff.set_roles"))
        toggle = c2.form_submit_button(t("staff.disable" if current.is_active else "staff.enable"))
        unlock = c3.form_submit_button(t("staff.unlock"))
        force_reset = c4.form_submit_button(t("staff.force_reset"))
        end_sessions = c5.form_submit_button(t("staff.end_sessions"))
    done = False
    if set_roles:
        done = run_action(staff.set_roles, actor=actor, staff_id=staff_id, roles=new_roles,
                          reason=reason)
    elif toggle:
        done = run_action(staff.set_active, actor=actor, staff_id=staff_id,
                          active=not current.is_active, reason=reason)
    elif unlock:
        done = run_action(staff.unlock, actor=actor, staff_id=staff_id)
    elif force_reset:
        if run_action(staff.force_password_reset, actor=actor, staff_id=staff_id, reason=reason,
                      temporary_password=temporary or None):
            flash(t("staff.force_reset_done", username=current.username))
            st.rerun()
    elif end_sessions:
        if run_action(staff.end_sessions, actor=actor, staff_id=staff_id, reason=reason):
            flash(t("staff.end_sessions_done", username=current.username))
            st.rerun()
    if done:
        flash(t("common.done"))
        st.rerun()


# ------------------------------------------------------------ the person's sign-in sessions
if staff_id is not None:
    st.subheader(t("session.title"))
    listed = run_query(staff.list_sessions, actor=actor, staff_id=staff_id)
    if listed is not None and listed.empty:
        st.caption(t("session.none"))
    elif listed is not None:
        st.dataframe(labelled(listed.assign(state=listed["state"].map(
                         lambda s: t(f"session.state.{s}"))), "session.col"),
                     hide_index=True, width="stretch", key="sessions_table")
        open_now = {int(r.id): r for r in listed.itertuples() if r.state == "open"}
        if open_now:
            st.caption(t("session.pick_one"))
            c1, c2, c3 = st.columns([2, 2, 1], vertical_alignment="bottom")
            to_end = c1.selectbox(
                t("session.col.id"), list(open_now), key="session_to_end",
                format_func=lambda i: " · ".join(
                    [f"#{i}", open_now[i].ip or "—", fmt_time(open_now[i].last_seen_at)]))
            end_reason = c2.text_input(t("common.reason"), key="session_end_reason")
            if c3.button(t("session.end_one"), key="session_end", icon=":material/logout:"):
                if run_action(staff.end_session, actor=actor, staff_id=staff_id,
                              session_id=to_end, reason=end_reason):
                    flash(t("session.ended_one", id=to_end))
                    st.rerun()
