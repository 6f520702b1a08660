"""Masking of personal data (phone, ID number) for roles that do not need it."""
from __future__ import annotations

from console.roles import Actor

# Who needs what: BD staff phone merchants; ops reviews identities; risk checks both.
PHONE_ROLES = frozenset({"bd", "ops", "risk"})
ID_NUMBER_ROLES = frozenset({"ops", "risk"})


def mask_phone(phone: str | None) -> str | None:
    """13812341234 -> 138****1234."""
    if not phone:
        return phone
    if len(phone) < 7:
        return "*" * len(phone)
    return f"{phone[:3]}****{phone[-4:]}"


def mask_id_number(value: str | None) -> str | None:
    """Keep the region (first 3) and the last 4: 110***********123X."""
    if not value:
        return value
    if len(value) <= 7:
        return "*" * len(value)
    return f"{value[:3]}{'*' * (len(value) - 7)}{value[-4:]}"


def can_see_phone(actor: Actor) -> bool:
    return bool(actor.roles & PHONE_ROLES)


def can_see_id_number(actor: Actor) -> bool:
    return bool(actor.roles & ID_NUMBER_ROLES)


def phone_for(actor: Actor, phone: str | None) -> str | None:
    return phone if can_see_phone(actor) else mask_phone(phone)


def id_number_for(actor: Actor, value: str | None) -> str | None:
    return value if can_see_id_number(actor) else mask_id_number(value)


def mask_frame(df, actor: Actor, *, phone_cols=("phone",), id_cols=("id_number",)):
    """Mask the personal columns of a DataFrame for this actor (returns a copy)."""
    out = df.copy()
    if not can_see_phone(actor):
        for col in phone_cols:
            if col in out.columns:
                out[col] = out[col].map(mask_phone)
    if not can_see_id_number(actor):
        for col in id_cols:
            if col in out.columns:
                out[col] = out[col].map(mask_id_number)
    return out
