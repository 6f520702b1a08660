"""The one validated boundary of every gated service call (filled in by the boundary work).

`requires` calls `check_arguments` after it has re-resolved the actor and before the
service body runs, so no unchecked value reaches SQL.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any


def check_arguments(fn: Callable[..., Any], kwargs: dict[str, Any]) -> dict[str, Any]:
    """Return the (normalised) keyword arguments, or raise InvalidInput."""
    return kwargs
