"""Single sign-on identities (migration 095; console/sso.py): which OpenID Connect identity
signs in as which staff account. Linking one is an admin's decision, audited in the same
transaction (staff.sso_link / staff.sso_unlink on the account); nothing links itself, not
even by a matching email address.

The admin links from the list of identities that tried to sign in and were refused (with the
name and email their provider sent), or types an issuer and subject the company's identity
team gave them."""
from __future__ import annotations

from typing import Annotated

import pandas as pd
from sqlalchemy.engine import Connection

from console import db
from console.audit import write_audit
from console.boundary import Text
from console.errors import Conflict, InvalidInput, NotFound
from console.roles import Actor, requires
from console.sso import EMAIL_MAX, IDENTIFIER_MAX

# An issuer and a subject are compared exactly as the provider wrote them: never normalised.
Identifier = Annotated[str, Text(max=IDENTIFIER_MAX, normalise=False)]
Email = Annotated[str | None, Text(max=EMAIL_MAX)]


@requires("admin")
def list_identities(*, conn: Connection, actor: Actor) -> pd.DataFrame:
    """Every linked identity with its account, newest link first."""
    return db.fetch_df(conn, """
        SELECT i.id, s.username, s.display_name, s.is_active, i.issuer, i.subject,
               i.email_hint, b.display_name AS linked_by, i.linked_at, i.last_sign_in_at
        FROM ops.staff_identities i
        JOIN ops.staff s ON s.id = i.staff_id
        LEFT JOIN ops.staff b ON b.id = i.linked_by
        ORDER BY i.linked_at DESC, i.id DESC""")


@requires("admin")
def list_unlinked(*, conn: Connection, actor: Actor) -> pd.DataFrame:
    """Identities refused for having no account and still unlinked, one row each with the
    name and email of their latest try, latest first (kept CONSOLE_SESSION_RETENTION_DAYS)."""
    return db.fetch_df(conn, """
        SELECT DISTINCT ON (a.issuer, a.subject)
               a.issuer, a.subject, a.name_hint, a.email_hint, a.at AS last_tried_at,
               count(*) OVER (PARTITION BY a.issuer, a.subject) AS tries
        FROM ops.sso_sign_ins a
        WHERE a.outcome = 'unlinked'
          AND NOT EXISTS (SELECT 1 FROM ops.staff_identities i
                          WHERE i.issuer = a.issuer AND i.subject = a.subject)
        ORDER BY a.issuer, a.subject, a.at DESC""").sort_values(
        "last_tried_at", ascending=False, ignore_index=True)


def _identifier(value: str) -> str:
    value = value.strip()
    if not value:
        raise InvalidInput("sso.identity_required")
    return value


@requires("admin")
def link_identity(*, conn: Connection, actor: Actor, staff_id: int, issuer: Identifier,
                  subject: Identifier, email_hint: Email = None) -> int:
    """Let the identity (issuer, subject) sign in as ``staff_id``; returns the link's id.

    An identity signs in as one account only: one linked already is refused with the
    account it belongs to (two admins linking it at once: one wins, the other is told)."""
    issuer, subject = _identifier(issuer), _identifier(subject)
    email_hint = (email_hint or "").strip() or None
    account = db.fetch_one(conn, "SELECT id, username FROM ops.staff WHERE id = :id FOR SHARE",
                           id=staff_id)
    if account is None:
        raise NotFound("error.not_found")
    if email_hint is None:   # the email the provider sent with the refused try, if any
        email_hint = db.scalar(conn, """SELECT email_hint FROM ops.sso_sign_ins
                                        WHERE issuer = :iss AND subject = :sub
                                          AND email_hint IS NOT NULL
                                        ORDER BY at DESC LIMIT 1""", iss=issuer, sub=subject)
    link_id = db.scalar(conn, """
        INSERT INTO ops.staff_identities (staff_id, issuer, subject, email_hint, linked_by)
        VALUES (:staff, :iss, :sub, :email, :by)
        ON CONFLICT ON CONSTRAINT staff_identities_one_account DO NOTHING
        RETURNING id""", staff=staff_id, iss=issuer, sub=subject, email=email_hint, by=actor.id)
    if link_id is None:
        holder = db.scalar(conn, """SELECT s.username FROM ops.staff_identities i
                                    JOIN ops.staff s ON s.id = i.staff_id
                                    WHERE i.issuer = :iss AND i.subject = :sub""",
                           iss=issuer, sub=subject)
        raise Conflict("sso.already_linked", username=holder or "?")
    write_audit(conn=conn, actor_id=actor.id, action="staff.sso_link", entity_type="staff",
                entity_id=staff_id,
                after={"identity_id": link_id, "issuer": issuer, "subject": subject,
                       "email_hint": email_hint})
    return link_id


@requires("admin")
def unlink_identity(*, conn: Connection, actor: Actor, identity_id: int) -> None:
    """The identity no longer signs in as its account (sessions already open go on until
    they end; the staff page ends them)."""
    row = db.fetch_one(conn, """DELETE FROM ops.staff_identities WHERE id = :id
                                RETURNING staff_id, issuer, subject, email_hint""",
                       id=identity_id)
    if row is None:
        raise NotFound("error.not_found")
    write_audit(conn=conn, actor_id=actor.id, action="staff.sso_unlink", entity_type="staff",
                entity_id=row["staff_id"],
                before={"identity_id": identity_id, "issuer": row["issuer"],
                        "subject": row["subject"], "email_hint": row["email_hint"]})
