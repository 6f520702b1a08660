"""Each role's home: what waits for this person; each tile opens its list, already filtered.
Names and hover definitions come from the metric catalogue (console/metrics)."""
import streamlit as st

from console import fmt, metrics
from console.services.home import waiting_counts
from console.ui import lang, require_actor, run_query, t
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
            known = metrics.get(item.label_key)
            label = known.name(lang()) if known else t(item.label_key)
            help_text = known.definition(lang()) if known else t(f"{item.label_key}.help")
            if item.total is not None:
                help_text += " " + t("home.total_posts", n=fmt.number(item.total))
            st.metric(label, fmt.number(item.value), help=help_text)
            if item.target:
                st.progress(min(item.value / item.target, 1.0),
                            text=t("home.target", value=fmt.number(item.value),
                                   target=fmt.number(item.target)))
            if item.page in mine:
                st.page_link(page_file(item.page), label=t("home.open_list"),
                             icon=":material/arrow_forward:", query_params=dict(item.query))
