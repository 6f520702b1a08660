"""What the two trust queues (certification, listing authenticity) show alike."""
from __future__ import annotations

from console.ui import t

SLA_MARK = {"ok": "🟢", "warn": "🟡", "late": "🔴"}
# The queue's age filter: option -> (at least, at most) hours waiting.
AGE_OPTIONS = {"any": (None, None), "under24": (None, 24), "over24": (24, None),
               "over48": (48, None), "over7d": (168, None)}


def sla_label(state: str) -> str:
    """A case's SLA state as the queue table shows it: the mark and its words."""
    return f"{SLA_MARK[state]} {t(f'trust.sla.{state}')}"
