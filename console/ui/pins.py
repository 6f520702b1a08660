"""The cards a person just moved or created: kept at the top of their column on the board
(this browser session), so a card never disappears from under the person working it."""
from __future__ import annotations

import streamlit as st

PINS_KEY = "board_pinned"
MAX_PINS = 20


def pin_card(card_id: int | None) -> None:
    """Put a card at the top of its column (most recent first)."""
    if card_id is None:
        return
    card_id = int(card_id)
    current = [c for c in st.session_state.get(PINS_KEY, []) if c != card_id]
    st.session_state[PINS_KEY] = [card_id, *current][:MAX_PINS]


def pinned_cards() -> tuple[int, ...]:
    return tuple(st.session_state.get(PINS_KEY, ()))


def unpin_all() -> None:
    st.session_state.pop(PINS_KEY, None)
