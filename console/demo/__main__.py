"""``python -m console.demo --scale small|demo|large --seed N [--anchor YYYY-MM-DD] [--force]``

Migrates the database (DATABASE_URL, or the embedded server), fills it with the demo world,
prints the staff accounts once and keeps them in the git-ignored ``.demo-credentials`` (0600).
"""
from __future__ import annotations

import argparse
import os
import sys
from datetime import datetime
from pathlib import Path

from console import db
from console.demo import Credential, SeedRefused, seed
from console.demo.model import DEFAULT_ANCHOR, SCALES, SHANGHAI
from console.migrate import migrate
from console.settings import PROJECT_ROOT

CREDENTIALS_FILE = PROJECT_ROOT / ".demo-credentials"


def parse_anchor(text: str) -> datetime:
    """'2026-11-20' or '2026-11-20T08:00' in Shanghai time, or with an explicit offset."""
    value = datetime.fromisoformat(text)
    return value if value.tzinfo else value.replace(tzinfo=SHANGHAI)


def credentials_table(credentials: list[Credential]) -> str:
    rows = [("username", "name", "roles", "password")]
    rows += [(c.username, c.display_name, ",".join(c.roles), c.password) for c in credentials]
    widths = [max(_width(r[i]) for r in rows) for i in range(4)]
    lines = ["  ".join(cell + " " * (w - _width(cell)) for cell, w in zip(r, widths)).rstrip() for r in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def _width(text: str) -> int:
    """Display width: CJK characters take two columns in a terminal."""
    return sum(2 if ord(ch) > 0x2E80 else 1 for ch in text)


def write_credentials(path: Path, table: str, header: str) -> None:
    """Owner-only file: created with mode 0600 before anything is written into it."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.chmod(path, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(f"# {header}\n# Demo staff accounts. Keep this file private; it is git-ignored.\n\n{table}\n")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m console.demo", description=__doc__.splitlines()[0])
    parser.add_argument("--scale", choices=list(SCALES), default="demo")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--anchor", type=parse_anchor, default=DEFAULT_ANCHOR,
                        help="the demo's 'now' (default 2026-11-20, Asia/Shanghai)")
    parser.add_argument("--force", action="store_true",
                        help="empty app/ops tables first (refused if the audit log has rows)")
    parser.add_argument("--quiet", action="store_true", help="no progress display")
    args = parser.parse_args(argv)
    engine = db.get_engine(role="owner")  # migrates, and the loader may skip triggers
    migrate(engine=engine)
    try:
        report = seed(engine=engine, scale=args.scale, seed=args.seed, anchor=args.anchor,
                      progress=not args.quiet, force=args.force)
    except SeedRefused as exc:
        print(f"console.demo: refused: {exc}", file=sys.stderr)
        return 1
    print(f"Seeded scale={report.scale} seed={report.seed} anchor={report.anchor.astimezone(SHANGHAI):%Y-%m-%d %H:%M} "
          f"in {report.seconds:.1f} s: {report.total_rows:,} rows")
    for table, count in report.counts.items():
        print(f"  {table:<28} {count:>12,}")
    table = credentials_table(report.credentials)
    write_credentials(CREDENTIALS_FILE, table, f"seeded {report.scale}/{report.seed}")
    print("\nStaff accounts (shown once; also in .demo-credentials, mode 0600):\n")
    print(table)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
