"""Single sign-on through OpenID Connect (issue 18): Keycloak directly; Feishu, DingTalk and
WeCom through the OIDC provider a company puts in front of them (README "Single sign-on").

How it fits together:

- Configuration is the settings object's ``sso_*`` fields (CONSOLE_SSO_* variables). Streamlit's
  ``st.login`` reads its provider from ``st.secrets["auth"]``; ``feed_streamlit`` puts that
  section there in the console's process before the server starts (console/ui/launch.py),
  from the settings, so no secret is written to a file and no ``.streamlit/secrets.toml`` is
  needed. Half a configuration stops the start with the variables that are missing.
- Streamlit (with Authlib) does the protocol: the redirect with state, nonce and PKCE, the
  code exchange at the token endpoint, the id_token's signature (the provider's JWKS), issuer,
  audience, expiry and nonce. What it hands the app, ``st.user``, are the verified id_token's
  claims, kept in its own signed cookie.
- ``sign_in`` here turns those claims into the console's own sign-in: the identity (issuer
  and subject, never the email) must be linked to a staff account by an admin
  (ops.staff_identities, migration 095; console/services/sso_identities.py); the account must
  be enabled and not locked. The page then opens the same server-side session a password
  opens (console/sessions.py), so the person stays signed in through a refresh, a reconnect
  and another console process, and signs out like everyone else.
- Each id_token signs in once (its nonce, ops.sso_sign_ins) and only within MAX_TOKEN_AGE of
  being issued: Streamlit's identity cookie lasts 30 days, and after a sign-out it must not
  sign the person straight back in. The next sign-in goes through the provider again (which
  asks nothing when the person is still signed in there).

No streamlit import at module level: services and tests use this module too.
"""
from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

from sqlalchemy.engine import Engine

from console import clock, db, logs
from console.audit import write_audit
from console.auth import actor_from_row
from console.errors import PermissionDenied
from console.roles import Actor
from console.settings import Settings, get_settings

# The names a deployment may give its provider: the sign-in button says "Sign in with …" in
# the catalogue's words for it (sso.provider.<name>). Streamlit names the provider's secrets
# section after it, which allows no underscore.
PROVIDERS = ("keycloak", "feishu", "dingtalk", "wecom", "oidc")
# The settings (and their variables) SSO needs all of; scope and prompt have defaults.
REQUIRED = {
    "sso_provider": "CONSOLE_SSO_PROVIDER",
    "sso_metadata_url": "CONSOLE_SSO_METADATA_URL",
    "sso_client_id": "CONSOLE_SSO_CLIENT_ID",
    "sso_client_secret": "CONSOLE_SSO_CLIENT_SECRET",
    "sso_redirect_uri": "CONSOLE_SSO_REDIRECT_URI",
    "sso_cookie_secret": "CONSOLE_SSO_COOKIE_SECRET",
}
# Streamlit signs its identity cookie with the cookie secret (HMAC): at least 32 characters.
COOKIE_SECRET_MIN = 32
# An id_token signs in only this soon after the provider issued it (the redirect back takes
# seconds), and not from the future beyond a small clock difference between the servers.
MAX_TOKEN_AGE = timedelta(minutes=5)
CLOCK_SKEW = timedelta(minutes=2)
# Column widths of migration 095.
IDENTIFIER_MAX = 255
EMAIL_MAX = 254
NAME_MAX = 100
# Refusals the person reads on the sign-in page; the others (a used or stale token) are
# the browser's leftover identity cookie, not news to anyone.
TOLD = frozenset({"sso.unlinked", "sso.disabled", "auth.locked"})


class ConfigurationError(RuntimeError):
    """SSO is half configured: the message names what is missing or wrong."""


@dataclass(frozen=True)
class SsoConfig:
    provider: str
    metadata_url: str
    client_id: str
    client_secret: str
    redirect_uri: str
    cookie_secret: str
    scope: str
    prompt: str


def config_problems(settings: Settings | None = None) -> list[str]:
    """What stops SSO from working as configured, one line each; [] when it is fully
    configured or not at all (then only password sign-in is offered)."""
    settings = settings or get_settings()
    missing = [env for name, env in REQUIRED.items() if not getattr(settings, name)]
    if len(missing) == len(REQUIRED):
        return []
    problems = [f"{env} is not set" for env in missing]
    if settings.sso_provider and settings.sso_provider not in PROVIDERS:
        problems.append(f"CONSOLE_SSO_PROVIDER must be one of {', '.join(PROVIDERS)}")
    if settings.sso_cookie_secret and len(settings.sso_cookie_secret) < COOKIE_SECRET_MIN:
        problems.append(f"CONSOLE_SSO_COOKIE_SECRET must be at least {COOKIE_SECRET_MIN} "
                        "characters (e.g. python -c 'import secrets; print(secrets.token_urlsafe(32))')")
    if settings.sso_redirect_uri and not settings.sso_redirect_uri.rstrip("/").endswith(
            "/oauth2callback"):
        problems.append("CONSOLE_SSO_REDIRECT_URI must be the console's address + /oauth2callback")
    for name in ("sso_metadata_url", "sso_redirect_uri"):
        value = getattr(settings, name)
        if value and not value.startswith(("https://", "http://")):
            problems.append(f"{REQUIRED[name]} must be an http(s) URL")
    if "openid" not in settings.sso_scope.split():
        problems.append("CONSOLE_SSO_SCOPE must include openid")
    return problems


def config(settings: Settings | None = None) -> SsoConfig | None:
    """The provider, when SSO is fully and soundly configured; else None."""
    settings = settings or get_settings()
    if config_problems(settings) or not settings.sso_provider:
        return None
    return SsoConfig(provider=settings.sso_provider, metadata_url=settings.sso_metadata_url,
                     client_id=settings.sso_client_id, client_secret=settings.sso_client_secret,
                     redirect_uri=settings.sso_redirect_uri.rstrip("/"),
                     cookie_secret=settings.sso_cookie_secret, scope=settings.sso_scope,
                     prompt=settings.sso_prompt)


def configured() -> bool:
    return config() is not None


def streamlit_secrets(cfg: SsoConfig) -> dict[str, Any]:
    """The ``[auth]`` section st.login reads, with one named provider (``[auth.<name>]``)."""
    return {"auth": {
        "redirect_uri": cfg.redirect_uri,
        "cookie_secret": cfg.cookie_secret,
        cfg.provider: {
            "client_id": cfg.client_id,
            "client_secret": cfg.client_secret,
            "server_metadata_url": cfg.metadata_url,
            "client_kwargs": {"scope": cfg.scope, "prompt": cfg.prompt},
        },
    }}


def feed_streamlit() -> bool:
    """Put the provider into Streamlit's secrets in this process, before its server starts
    (it builds the session middleware that keeps the login state with the cookie secret).
    True when SSO is on; ConfigurationError when it is half configured."""
    problems = config_problems()
    if problems:
        raise ConfigurationError("single sign-on is half configured: " + "; ".join(problems))
    cfg = config()
    if cfg is None:
        return False
    # The same call st.App(secrets=...) makes: merged over any secrets file, kept on reload.
    from streamlit.runtime.secrets import secrets_singleton

    secrets_singleton.merge_programmatic_secrets(streamlit_secrets(cfg))
    return True


# ---------------------------------------------------------------- the identity


@dataclass(frozen=True)
class Identity:
    """What a verified id_token says about the person (st.user's claims)."""

    issuer: str
    subject: str
    nonce: str
    issued_at: datetime
    email: str | None = None
    name: str | None = None

    @property
    def shown(self) -> str:
        """How the refusal names the account the person used: email, else name, else id."""
        return self.email or self.name or self.subject


def _text(value: object, limit: int) -> str | None:
    if not isinstance(value, str):
        return None
    cleaned = "".join(ch for ch in value.strip() if ch.isprintable())
    return cleaned[:limit] or None


def identity_from_claims(claims: Mapping[str, Any]) -> Identity | None:
    """The identity in st.user's claims, or None when they are not a signed-in id_token's
    (no issuer, subject, nonce or issue time, or one too long for any real provider)."""
    if not claims.get("is_logged_in"):
        return None
    issuer, subject, nonce = (claims.get(k) for k in ("iss", "sub", "nonce"))
    if not all(isinstance(v, str) and 0 < len(v) <= IDENTIFIER_MAX and v.isprintable()
               for v in (issuer, subject, nonce)):
        return None
    iat = claims.get("iat")
    if isinstance(iat, bool) or not isinstance(iat, (int, float)):
        return None
    try:
        issued_at = datetime.fromtimestamp(iat, tz=timezone.utc)
    except (OverflowError, OSError, ValueError):
        return None
    email = _text(claims.get("email"), EMAIL_MAX)
    name = _text(claims.get("name") or claims.get("preferred_username"), NAME_MAX)
    return Identity(issuer=issuer, subject=subject, nonce=nonce, issued_at=issued_at,
                    email=email, name=name)


_IDENTITY_SQL = """
    SELECT i.id AS identity_id, s.id, s.username, s.display_name, s.roles, s.is_active,
           s.locked_until, s.session_epoch, s.must_change_password
    FROM ops.staff_identities i JOIN ops.staff s ON s.id = i.staff_id
    WHERE i.issuer = :iss AND i.subject = :sub
    FOR UPDATE OF i"""


def sign_in(*, engine: Engine, identity: Identity, now: datetime | None = None) -> Actor:
    """The staff member a verified identity signs in, or PermissionDenied saying why not:

    - ``sso.unlinked`` (no account has this identity), ``sso.disabled``, ``auth.locked``:
      the person reads them; the attempt is kept (an unlinked one is the admin's to link);
    - ``sso.used`` (this id_token signed in or was refused before), ``sso.stale`` (issued
      more than MAX_TOKEN_AGE ago): the browser's leftover identity cookie, said to nobody.

    The caller opens the session (console/sessions.open_session, audited as staff.sign_in);
    this writes its own audit row, staff.sso_sign_in, naming the identity used.
    """
    now = now or clock.now()
    if now - identity.issued_at > MAX_TOKEN_AGE or identity.issued_at - now > CLOCK_SKEW:
        _log_attempt("stale", None)
        raise PermissionDenied("sso.stale")
    refusal: PermissionDenied | None = None
    with engine.begin() as conn:
        row = db.fetch_one(conn, _IDENTITY_SQL, iss=identity.issuer, sub=identity.subject)
        if row is None:
            outcome = "unlinked"
            refusal = PermissionDenied("sso.unlinked", who=identity.shown)
        elif not row["is_active"]:
            outcome, refusal = "disabled", PermissionDenied("sso.disabled")
        elif row["locked_until"] is not None and row["locked_until"] > now:
            outcome, refusal = "locked", PermissionDenied("auth.locked", until=row["locked_until"])
        else:
            outcome = "signed_in"
        first = db.scalar(conn, """
            INSERT INTO ops.sso_sign_ins (issuer, subject, nonce, at, outcome, staff_id,
                                          email_hint, name_hint)
            VALUES (:iss, :sub, :nonce, :now, :outcome, :staff, :email, :name)
            ON CONFLICT DO NOTHING RETURNING true""",
            iss=identity.issuer, sub=identity.subject, nonce=identity.nonce, now=now,
            outcome=outcome, staff=None if row is None else row["id"],
            email=identity.email, name=identity.name)
        if not first:
            _log_attempt("used", None)
            raise PermissionDenied("sso.used")   # rolls back: this attempt wrote nothing
        if refusal is None:
            db.execute(conn, """UPDATE ops.staff_identities
                                SET last_sign_in_at = :now,
                                    email_hint = COALESCE(:email, email_hint)
                                WHERE id = :id""",
                       now=now, email=identity.email, id=row["identity_id"])
            db.execute(conn, "UPDATE ops.staff SET last_login_at = :now WHERE id = :id",
                       now=now, id=row["id"])
            write_audit(conn=conn, actor_id=row["id"], action="staff.sso_sign_in",
                        entity_type="staff", entity_id=row["id"],
                        after={"issuer": identity.issuer, "subject": identity.subject})
        purge_old(conn)
    _log_attempt(outcome, None if row is None else row["id"])
    if refusal is not None:
        raise refusal   # after the block committed the attempt
    return actor_from_row(row)


def _log_attempt(outcome: str, staff_id: int | None) -> None:
    """One JSON line per single sign-on (console/logs.py): the outcome and the account, never
    the identity or its claims. Refusals at warning, as a refused call; a leftover identity
    cookie's (used, stale) only at debug."""
    level = {"signed_in": logging.INFO, "used": logging.DEBUG,
             "stale": logging.DEBUG}.get(outcome, logging.WARNING)
    logs.event("sso.sign_in", level=level, staff_id=staff_id, status=outcome)


def purge_old(conn) -> int:
    """Delete the sign-in attempts older than settings.session_retention_days (at each SSO
    sign-in, as console/sessions.py does with ended sessions); returns how many."""
    return db.scalar(conn, """
        WITH gone AS (DELETE FROM ops.sso_sign_ins
                      WHERE at < now() - make_interval(days => :keep) RETURNING 1)
        SELECT count(*) FROM gone""", keep=get_settings().session_retention_days)
