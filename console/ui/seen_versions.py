"""Which version of a record this browser tab last drew, to say when someone else changed it.

A form keyed by a record's version is dropped when the record moves on (another person, another
tab): the press on the old form reaches nothing. The page says so instead of going quiet: it
notes the version it draws, and a different version at the next draw that this tab's own action
did not leave is news. Kept per kind of record in the tab's session.
"""
from __future__ import annotations

import streamlit as st


def _versions(kind: str) -> dict[int, int]:
    return st.session_state.setdefault(f"seen_versions_{kind}", {})


def note(kind: str, record_id: int, version: int) -> None:
    """The version drawn, or the one this tab's own change left (no news to it)."""
    _versions(kind)[int(record_id)] = int(version)


def forget(kind: str, record_id: int) -> None:
    """This tab changed the record and does not know the version it left: no news next time."""
    _versions(kind).pop(int(record_id), None)


def changed_elsewhere(kind: str, record_id: int, version: int) -> bool:
    """True once when the record's version moved since this tab drew it; notes the new one."""
    before = _versions(kind).get(int(record_id))
    note(kind, record_id, version)
    return before is not None and before != int(version)
