"""Each role's home: what waits for this person."""
import streamlit as st

from console.services.home import waiting_counts
from console.ui import require_actor, run_query, t

actor = require_actor()
st.title(t("home.greeting", name=actor.display_name))
st.subheader(t("home.waiting"))
counts = run_query(waiting_counts, actor=actor) or []
if not counts:
    st.info(t("common.none"))
for row_start in range(0, len(counts), 4):
    cols = st.columns(4)
    for col, item in zip(cols, counts[row_start:row_start + 4]):
        col.metric(t(item.label_key), f"{item.value:,}", help=t(f"{item.label_key}.help"))
        if item.target:
            col.progress(min(item.value / item.target, 1.0),
                         text=t("home.target", value=f"{item.value:,}", target=f"{item.target:,}"))
