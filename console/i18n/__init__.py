"""The one catalogue of user-facing text, Chinese first, English complete.

The catalogue is split by area into ``catalogue/*.toml`` files so that areas do not edit
one file, but it is one namespace: a key defined twice is an error. Each entry is
``"key" = { zh = "…", en = "…" }``; ``{name}`` placeholders are filled by ``translate``.
"""
from __future__ import annotations

import tomllib
from functools import lru_cache
from pathlib import Path
from typing import Any

LANGUAGES = ("zh", "en")
CATALOGUE_DIR = Path(__file__).parent / "catalogue"


class CatalogueError(RuntimeError):
    pass


@lru_cache(maxsize=1)
def catalogue() -> dict[str, dict[str, str]]:
    merged: dict[str, dict[str, str]] = {}
    for path in sorted(CATALOGUE_DIR.glob("*.toml")):
        with path.open("rb") as fh:
            entries = tomllib.load(fh)
        for key, texts in entries.items():
            if key in merged:
                raise CatalogueError(f"{path.name}: key {key!r} is defined twice")
            if not isinstance(texts, dict) or set(texts) != set(LANGUAGES):
                raise CatalogueError(f"{path.name}: key {key!r} needs exactly zh and en")
            merged[key] = texts
    return merged


def has_key(key: str) -> bool:
    return key in catalogue()


def translate(key: str, lang: str = "zh", /, **params: Any) -> str:
    """Text for ``key`` in ``lang``; an unknown key shows itself so it is noticed, not hidden."""
    entry = catalogue().get(key)
    if entry is None:
        return key
    text = entry.get(lang) or entry["zh"]
    if params:
        try:
            return text.format(**params)
        except (KeyError, IndexError, ValueError):
            return text
    return text
