"""A released scorecard version's file is never rewritten: every database that registered it
stores its content's hash, and scoring refuses a changed file under a used name
(console/credit/engine.py register_version), so an edit in place would stop the nightly
scoring of every deployment. A recalibration is a new version, through the promotion gate."""
from __future__ import annotations

from pathlib import Path

import pytest

from console.credit.scorecard import load
from console.settings import PROJECT_ROOT

# version -> sha256 of the released file (add a line when a new version is released).
RELEASED = {
    "v1": "503e6c47309f8157292198299cdaef40b4ee6afe464f26fcbc804f47c89fc34c",
    "v2": "11cabbcc03228b2777f142ec4b55c2273d95ef83241c2cd9691b391157836528",
    "c1": "db48a98b33f5737fab9f1132959b5d1a1f807c22402d2df234df8202191148f1",
}
FILES = sorted((PROJECT_ROOT / "console" / "credit").glob("scorecard_*.toml"))


@pytest.mark.parametrize("path", FILES, ids=lambda p: Path(p).name)
def test_a_released_version_is_the_file_it_was_released_as(path):
    card = load(path)
    assert card.version in RELEASED, f"{card.version}: a new version; record its hash here"
    assert card.sha256 == RELEASED[card.version], (
        f"{path.name} changed under the released name {card.version}: make it a new version")


def test_every_released_version_has_its_file():
    assert sorted(load(p).version for p in FILES) == sorted(RELEASED)
