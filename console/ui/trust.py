"""What the two trust queues (certification, listing authenticity) show alike."""
from __future__ import annotations

from typing import Any

from console import fmt
from console.ui import t

SLA_MARK = {"ok": "🟢", "warn": "🟡", "late": "🔴"}
DECIDED_MARK = "✔"
# The queue's age filter: option -> (at least, at most) hours waiting.
AGE_OPTIONS = {"any": (None, None), "under24": (None, 24), "over24": (24, None),
               "over48": (48, None), "over7d": (168, None)}


def sla_label(state: str) -> str:
    """A case's SLA state as the queue table shows it: the mark and its words."""
    return f"{SLA_MARK[state]} {t(f'trust.sla.{state}')}"


def is_decided(decided_at: Any) -> bool:
    return not fmt.is_missing(decided_at)


def decided_label(decided_at: Any) -> str:
    """A decided case's time of decision, where an open one shows its SLA."""
    return f"{DECIDED_MARK} {t('ops.decided_at', at=fmt.when(decided_at))}"


def sla_or_decided(state: str, decided_at: Any) -> str:
    """The queue table's SLA cell: the SLA while open, the decision time once decided (a
    decided case is not late, whatever its age)."""
    return decided_label(decided_at) if is_decided(decided_at) else sla_label(state)


def field_line(label: str, value: Any) -> str:
    """'**Label**：value' (zh) / '**Label**: value' (en), em dash when missing."""
    shown = fmt.MISSING if value is None or (not isinstance(value, str) and fmt.is_missing(value)) \
        else value
    return t("ops.field_line", label=label, value=shown)


_URL_ASSIGNEE = {"none": "unassigned", "me": "me"}


def apply_url_filters(url_path: str, prefix: str) -> bool:
    """The filters a home tile opened this queue with (?status=…&assignee=…&sla=late, see
    console.ui.links FILTERS) become the filter widgets' values, once per link, so the
    person can change them afterwards. Returns whether the URL named any filter.

    Widget keys: ``{prefix}_statuses``, ``{prefix}_view``, ``{prefix}_age``.
    """
    import streamlit as st

    from console.ui.links import requested_choice

    got = {name: requested_choice(url_path, name) for name in ("status", "assignee", "sla")}
    got = {name: value for name, value in got.items() if value}
    if not got:
        return False
    if st.session_state.get(f"{prefix}_url_filters") != got:
        st.session_state[f"{prefix}_url_filters"] = got
        st.session_state[f"{prefix}_statuses"] = [got["status"]] if "status" in got \
            else ["pending", "in_review"]
        st.session_state[f"{prefix}_view"] = _URL_ASSIGNEE.get(got.get("assignee"), "any")
        st.session_state[f"{prefix}_age"] = "over48" if got.get("sla") == "late" else "any"
    return True
