"""BD: my tasks. The next actions of my open cards due today or overdue, most overdue first;
each opens its card on the board."""
import streamlit as st

from console import fmt
from console.services import deals
from console.ui import enum_label, lang, pager, require_actor, run_query, t
from console.ui.links import open_record

PAGE_SIZE = deals.TASKS_PER_PAGE
actor = require_actor()
st.title(t("tasks.title"))
# One page from the database (a busy BD has thousands due); the pager's page is kept in
# session state, so a click on it reruns with the new page.
offset = (st.session_state.get("tasks__page", 1) - 1) * PAGE_SIZE
due = run_query(deals.due_tasks, actor=actor, offset=offset, limit=PAGE_SIZE)
if due is None:
    st.stop()
if due.total == 0:
    st.info(t("tasks.none"))
    st.stop()
st.caption(t("tasks.caption", n=due.total))
if pager(key="tasks", total=due.total, page_size=PAGE_SIZE) != offset:
    st.rerun()   # a page button was clicked, or the list shrank below this page
for card in due.rows.itertuples():
    with st.container(border=True, key=f"task_{card.id}"):
        left, right = st.columns([5, 1], vertical_alignment="center")
        badge = (f":orange-badge[{t('tasks.overdue')}]" if card.overdue   # its time has passed
                 else f":blue-badge[{t('tasks.today')}]")
        what = card.next_action_note if isinstance(card.next_action_note, str) else t("tasks.no_note")
        left.markdown(f"{badge} **{t('tasks.due', at=fmt.when(card.next_action_at))}** · {what}  \n"
                      f"#{card.id} {card.series} · {enum_label('match_stage', card.stage)} · "
                      f"{card.buyer} ← {card.seller} · {fmt.wan(card.deal_value, lang=lang())}")
        if right.button(t("tasks.open"), key=f"open_task_{card.id}", icon=":material/open_in_full:",
                        width="stretch"):
            open_record("card", int(card.id))
