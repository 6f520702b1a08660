"""How late a queue item is against its service level: 'ok', 'warn' from half the SLA, 'late'
from the SLA. One rule for every queue (certification and listing review, order-loan
applications, the logistics desk), each with its own hours."""
from __future__ import annotations


def sla_level(age_hours: float, *, sla_hours: float) -> str:
    if age_hours >= sla_hours:
        return "late"
    if age_hours >= sla_hours / 2:
        return "warn"
    return "ok"
