"""Admin and managers: whether the audit log's hash chain is intact, then the log, newest first."""
import streamlit as st

from console.audit import describe_chain
from console.services.audit_log import chain_status
from console.services.staff import audit_trail
from console.ui import fmt_time, labelled, require_actor, run_query, t

actor = require_actor()
st.title(t("audit.title"))
status = run_query(chain_status, actor=actor)
if status is None:
    st.stop()
key, params = describe_chain(status)
message = t(key, **{**params, "at": fmt_time(params["at"])})
(st.success if status.intact else st.error)(message)
trail = run_query(audit_trail, actor=actor, limit=500)
if trail is None:
    st.stop()
if trail.empty:
    st.info(t("common.none"))
else:
    st.dataframe(labelled(trail, "audit"), hide_index=True, width="stretch")
