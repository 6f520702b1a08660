"""Errors a service raises for the page to show. Each carries a catalogue key, never text."""
from __future__ import annotations

from typing import Any


class ConsoleError(Exception):
    """A refusal the user should read: ``key`` is an i18n catalogue key, ``params`` fill it."""

    def __init__(self, key: str, **params: Any) -> None:
        super().__init__(key)
        self.key = key
        self.params = params


class PermissionDenied(ConsoleError):
    pass


class NotFound(ConsoleError):
    pass


class InvalidInput(ConsoleError):
    pass


class Conflict(ConsoleError):
    """Someone else changed or took the thing first (lost race, stale form)."""
