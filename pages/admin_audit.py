"""Admin and managers: the append-only audit log, newest first."""
import streamlit as st

from console.services.staff import audit_trail
from console.ui import labelled, require_actor, run_query, t

actor = require_actor()
st.title(t("audit.title"))
trail = run_query(audit_trail, actor=actor, limit=500)
if trail is None:
    st.stop()
if trail.empty:
    st.info(t("common.none"))
else:
    st.dataframe(labelled(trail, "audit"), hide_index=True, width="stretch")
