"""How far the replica the dashboards read lags (issue 18, README "Reads from a replica").

With READ_DATABASE_URL set, every service marked ``@requires(..., replica=True)`` reads the
streaming standby; this one is marked too, so it measures the standby those reads reach (or
finds the primary, where there is no replica or it could not be reached: then None, and no
badge is shown). The lag is the standby's own: the age of the last transaction it replayed
while it has received more than it replayed.
"""
from __future__ import annotations

from sqlalchemy.engine import Connection

from console import freshness
from console.freshness import ReplicaLag
from console.roles import ROLES, Actor, requires


@requires(*ROLES, replica=True)
def replica_status(*, conn: Connection, actor: Actor) -> ReplicaLag | None:
    """The lag of the replica the dashboards read now; None when they read the primary."""
    return freshness.replica_lag(conn)
