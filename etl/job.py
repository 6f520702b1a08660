"""What a job is: the sources it reads, the suite guarding them, the SQL that loads its marts."""
from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from functools import cached_property

from console.settings import PROJECT_ROOT
from etl.checks import Check
from etl.sources import SOURCES, Source, standard_checks

SQL_DIR = PROJECT_ROOT / "sql" / "etl"
_STEP = re.compile(r"^--\s*step:\s*([a-z0-9_]+)\s*$", re.MULTILINE)
_IDENT = re.compile(r"^[a-z][a-z0-9_]*$")


@dataclass(frozen=True)
class Suite:
    name: str
    checks: tuple[Check, ...]

    def for_source(self, table: str) -> list[Check]:
        return [c for c in self.checks if c.source == table]


def suite_for(name: str, sources: tuple[str, ...], *extra: Check) -> Suite:
    """The standard checks of every source the job reads, plus the job's own."""
    checks = [c for table in sources for c in standard_checks(table)]
    return Suite(name, tuple([*checks, *extra]))


@dataclass(frozen=True)
class Job:
    name: str
    sources: tuple[str, ...]
    suite: Suite
    marts: tuple[str, ...]
    description: str
    # Load even when no source row changed: the mart depends on the date (as-of windows,
    # today's snapshot), and a load over an empty batch writes only what the date moved.
    always_load: bool = False

    def __post_init__(self) -> None:
        if not _IDENT.match(self.name):
            raise ValueError(f"job name must be an identifier: {self.name!r}")

    def source(self, table: str) -> Source:
        return SOURCES[table]

    def staging(self, table: str) -> str:
        """The staging relation of one source's batch (a name from code, never from data)."""
        return f"etl.stg_{self.name}__{SOURCES[table].short}"

    @cached_property
    def steps(self) -> list[tuple[str, str]]:
        """``sql/etl/<job>.sql`` split at ``-- step: <name>`` lines, in order."""
        text = (SQL_DIR / f"{self.name}.sql").read_text(encoding="utf-8")
        parts = _STEP.split(text)
        return [(parts[i], parts[i + 1].strip()) for i in range(1, len(parts), 2)
                if parts[i + 1].strip()]

    @cached_property
    def definition(self) -> str:
        """A digest of what the job's marts are computed from: its sources and its load SQL.
        The runner keeps it beside the watermark; a run that finds another digest there
        rebuilds in full (marts merged by an older SQL would otherwise keep its rule)."""
        body = json.dumps({"sources": list(self.sources), "steps": self.steps},
                          ensure_ascii=False, sort_keys=True)
        return hashlib.sha256(body.encode("utf-8")).hexdigest()
