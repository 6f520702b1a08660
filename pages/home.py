"""Each role's home: what waits for this person; each tile opens its list, already filtered."""
import streamlit as st

from console.services.home import waiting_counts
from console.ui import require_actor, run_query, t
from console.ui.links import page_file
from console.ui.nav import pages_for

actor = require_actor()
st.title(t("home.greeting", name=actor.display_name))
st.subheader(t("home.waiting"))
counts = run_query(waiting_counts, actor=actor) or []
if not counts:
    st.info(t("common.none"))
mine = {spec.url_path for spec in pages_for(actor.roles)}
for row_start in range(0, len(counts), 4):
    cols = st.columns(4)
    for col, item in zip(cols, counts[row_start:row_start + 4]):
        with col.container(border=True):
            st.metric(t(item.label_key), f"{item.value:,}", help=t(f"{item.label_key}.help"))
            if item.target:
                st.progress(min(item.value / item.target, 1.0),
                            text=t("home.target", value=f"{item.value:,}",
                                   target=f"{item.target:,}"))
            if item.page in mine:
                st.page_link(page_file(item.page), label=t("home.open_list"),
                             icon=":material/arrow_forward:", query_params=dict(item.query))
