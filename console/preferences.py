"""A person's own preferences, kept on their account (migration 086): the console's language.

The language a person picks in the sidebar follows them: a reload, a new tab, a restart or
another machine opens the console in it, because it is read back from ops.staff at every
sign-in (a password, or the browser's remembered session: console/ui/__init__.py). NULL
means never chosen, and the console's default (settings.default_language) applies.

Like console/auth.py's change_own_password, these act on the signed-in person's own
account only, so they take no role: the account is re-read (enabled, not locked, session
not ended) before anything is written, and a change is audited in the same transaction.
No streamlit here.
"""
from __future__ import annotations

from sqlalchemy.engine import Connection, Engine

from console import db
from console.audit import write_audit
from console.errors import InvalidInput, PermissionDenied
from console.i18n import LANGUAGES
from console.roles import Actor, current_actor


def own_language(*, conn: Connection, staff_id: int) -> str | None:
    """The language the person chose, or None (never chosen: the console's default)."""
    value = db.scalar(conn, "SELECT language FROM ops.staff WHERE id = :id", id=staff_id)
    return value if value in LANGUAGES else None


def set_own_language(*, engine: Engine, actor: Actor, language: str) -> bool:
    """Keep ``language`` on the person's account; True if it changed (and was audited)."""
    if language not in LANGUAGES:
        raise InvalidInput("input.language")
    if not isinstance(actor, Actor):
        raise PermissionDenied("error.not_signed_in")
    current = current_actor(actor.id, session_epoch=actor.session_epoch)
    with engine.begin() as conn:
        before = db.scalar(conn, "SELECT language FROM ops.staff WHERE id = :id FOR UPDATE",
                           id=current.id)
        if before == language:
            return False
        db.execute(conn, "UPDATE ops.staff SET language = :l, updated_at = now() WHERE id = :id",
                   l=language, id=current.id)
        write_audit(conn=conn, actor_id=current.id, action="staff.language",
                    entity_type="staff", entity_id=current.id,
                    before={"language": before}, after={"language": language})
    return True
