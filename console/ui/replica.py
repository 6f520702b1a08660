"""The replica badge: on a page that reads the streaming replica (README "Reads from a
replica"), how far behind the primary its figures are, and a warning colour when the lag is
over CONSOLE_REPLICA_STALE_SECONDS. Nothing without a replica."""
from __future__ import annotations

import streamlit as st

from console import db, fmt
from console.roles import Actor
from console.services import replica
from console.ui import run_query, t


def lag_text(seconds: float | None) -> str:
    """3.4 -> '3 秒'; 125 -> '2 分钟'; 7300 -> '2 小时' (whole units, rounded down)."""
    if seconds is None:
        return fmt.MISSING
    if seconds < 60:
        return t("replica.lag.seconds", n=fmt.number(int(seconds)))
    if seconds < 3600:
        return t("replica.lag.minutes", n=fmt.number(int(seconds // 60)))
    return t("replica.lag.hours", n=fmt.number(int(seconds // 3600)))


def replica_badge(actor: Actor) -> None:
    """The badge, or nothing when the page reads the primary (without a replica configured,
    without a call: no round trip for the badge of a console that has none)."""
    if db.replica_engine() is None:
        return
    lag = run_query(replica.replica_status, actor=actor)
    if lag is None:
        return
    if lag.seconds is None:
        st.badge(t("replica.no_replay"), icon=":material/sync_problem:", color="orange")
    elif lag.stale:
        st.badge(t("replica.stale", lag=lag_text(lag.seconds),
                   threshold=lag_text(lag.threshold_seconds)),
                 icon=":material/sync_problem:", color="orange")
    else:
        st.badge(t("replica.ok", lag=lag_text(lag.seconds)), icon=":material/sync:",
                 color="blue")
