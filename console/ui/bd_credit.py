"""The buyer's finance badge where BD broker (issue 19): its VIP tier in force and the order-
loan credit it has available, e.g. "Gold · Available credit ¥350,000", or "No credit line"
(console/services/bd_credit.py). Roles that may not read credit (ops) get no badge and no refusal: the card
is theirs to read without it."""
from __future__ import annotations

from collections.abc import Iterable

from console import fmt
from console.roles import Actor
from console.services import bd_credit
from console.services.credit import READERS
from console.ui import run_query, t


def buyers_credit(actor: Actor, buyer_ids: Iterable) -> dict[int, bd_credit.BuyerCredit]:
    """Every buyer's figures for one page: one query (a chunk per MAX_MERCHANTS buyers)."""
    if not actor.has(*READERS):
        return {}
    ids = sorted({int(i) for i in buyer_ids if not fmt.is_missing(i)})
    out: dict[int, bd_credit.BuyerCredit] = {}
    for start in range(0, len(ids), bd_credit.MAX_MERCHANTS):
        got = run_query(bd_credit.buyer_credit, actor=actor,
                        merchant_ids=tuple(ids[start:start + bd_credit.MAX_MERCHANTS]))
        out.update(got or {})
    return out


def badge(credit: bd_credit.BuyerCredit | None) -> str:
    """The badge's markdown ('' when there is nothing to show, e.g. the role may not see it)."""
    if credit is None:
        return ""
    if credit.on_hold:
        return f":gray[{t('bd_credit.held', status=t(f'standing.{credit.on_hold}'))}]"
    parts = []
    if credit.tier:
        parts.append(f":violet-badge[:material/workspace_premium: "
                     f"{t(f'finance.vip.tier.{credit.tier}')}]")
    # Coloured text, not a badge: a badge does not wrap, and a narrow card cut the amount
    # to "可用授信 ¥4…".
    parts.append(f":green[{t('bd_credit.available', amount=fmt.yuan(credit.available))}]"
                 if credit.has_line else f":gray[{t('bd_credit.no_line')}]")
    return " ".join(parts)
