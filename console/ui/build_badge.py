"""The freshness badge of a mart rebuilt by one jobs step (console/freshness.py
BuildFreshness): the state as a coloured badge and, beside it, when it was built, as of which
day, the newest source row and the step's last run. The loan portfolio and the logistics
dashboard show it with their own words (catalogue prefixes)."""
from __future__ import annotations

import streamlit as st

from console import fmt
from console.freshness import BuildFreshness
from console.ui import fmt_time, lang, t

_LOOK = {"ok": (":material/check_circle:", "green"), "failed": (":material/error:", "red"),
         "stale": (":material/schedule:", "orange"), "none": (":material/help:", "gray")}


def age_text(hours: float | None) -> str:
    return fmt.MISSING if hours is None else fmt.hours(hours, lang=lang())


def build_badge(fresh: BuildFreshness, *, words: str, run_status: str) -> None:
    """``words``: the catalogue prefix of the badge's texts (``{words}.ok`` … ``.none``,
    ``.stale`` with {age}, ``.detail``); ``run_status``: the prefix of the run's status."""
    badge, detail = st.columns([2, 5], vertical_alignment="center")
    icon, colour = _LOOK[fresh.state]
    params = {"age": age_text(fresh.age_hours)} if fresh.state == "stale" else {}
    badge.badge(t(f"{words}.{fresh.state}", **params), icon=icon, color=colour)
    detail.caption(t(f"{words}.detail", computed=fmt_time(fresh.computed_at),
                     as_of=fmt.day(fresh.as_of) if fresh.as_of else fmt.MISSING,
                     newest=fmt_time(fresh.newest_source), run=fmt_time(fresh.last_run_at),
                     status=t(f"{run_status}.{fresh.last_run_status or 'none'}")))
