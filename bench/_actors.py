"""Staff accounts the bench acts as: real rows of ops.staff (services read the account again
on every call), the seed's first active account of the role, or a bench account of its own
(``own=True``: one that holds no cases, e.g. for "next case" under the per-person cap)."""
from __future__ import annotations

from console import db
from console.roles import Actor


def actor(engine, role: str, *, own: bool = False) -> Actor:
    with engine.begin() as conn:
        row = db.fetch_one(conn, """SELECT id, username, display_name, roles FROM ops.staff
                                    WHERE :r = ANY (roles) AND is_active
                                      AND (NOT :own OR username = 'bench_' || :r)
                                    ORDER BY id LIMIT 1""", r=role, own=own)
        if row is None:
            row = db.fetch_one(conn, """
                INSERT INTO ops.staff (username, display_name, password_hash, roles)
                VALUES (:u, 'BENCH', 'x', ARRAY[:r])
                RETURNING id, username, display_name, roles""", u=f"bench_{role}", r=role)
    return Actor(id=row["id"], username=row["username"], display_name=row["display_name"],
                 roles=frozenset(row["roles"]))
