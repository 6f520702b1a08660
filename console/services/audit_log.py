"""The audit log's hash chain, as the admin audit page shows it (migration 061)."""
from __future__ import annotations

from sqlalchemy.engine import Connection

from console.audit import ChainReport, verify_chain
from console.roles import Actor, requires


@requires("admin", "manager")
def chain_status(*, conn: Connection, actor: Actor) -> ChainReport:
    """Whether the audit log is intact, recomputed now, or where it first breaks."""
    return verify_chain(conn)
