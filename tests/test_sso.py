"""Single sign-on (issue 18, migration 095, console/sso.py): a verified OpenID Connect identity
signs in as the staff account an admin linked it to, with that account's roles, into the same
server-side session a password opens; anything else is refused and opens nothing."""
from __future__ import annotations

from datetime import timedelta

import pytest
import sqlalchemy as sa

from console import clock, sessions, sso
from console.errors import Conflict, PermissionDenied
from console.services import sso_identities
from tests.races import at_once, wide_engine

ISSUER = "https://sso.example.cn/realms/dealerhub"


def identity(subject="kc-7f3a", nonce="n-1", email="li.na@example.cn", name="李娜",
             issuer=ISSUER, age=timedelta(seconds=3)):
    return sso.Identity(issuer=issuer, subject=subject, nonce=nonce,
                        issued_at=clock.now() - age, email=email, name=name)


def link(conn_engine, admin, person, subject="kc-7f3a", issuer=ISSUER, email=None):
    with conn_engine.begin() as conn:
        return sso_identities.link_identity(conn=conn, actor=admin, staff_id=person.id,
                                            issuer=issuer, subject=subject, email_hint=email)


def refusal(console_engine, ident):
    with pytest.raises(PermissionDenied) as err:
        sso.sign_in(engine=console_engine, identity=ident)
    return err.value


def attempts(engine):
    with engine.connect() as conn:
        return [tuple(r) for r in conn.execute(sa.text(
            """SELECT subject, nonce, outcome, staff_id, email_hint, name_hint
               FROM ops.sso_sign_ins ORDER BY at, nonce"""))]


def audit_rows(engine, action):
    with engine.connect() as conn:
        return [tuple(r) for r in conn.execute(sa.text(
            """SELECT actor_id, entity_id, before, after FROM ops.audit_log
               WHERE action = :a ORDER BY id"""), {"a": action})]


def test_a_linked_identity_signs_in_with_its_accounts_roles_into_a_lasting_session(
        engine, console_engine, make_actor):
    admin, person = make_actor("admin"), make_actor("risk", "manager")
    link(console_engine, admin, person)
    actor = sso.sign_in(engine=console_engine, identity=identity())
    assert (actor.id, actor.username, actor.roles) == (
        person.id, person.username, frozenset({"risk", "manager"}))
    # The same server-side session as a password's: a token another process resumes.
    token, session_id = sessions.open_session(engine=console_engine, actor=actor)
    resumed = sessions.resume(engine=console_engine, token=token)
    assert (resumed.session_id, resumed.actor.id, resumed.actor.roles) == (
        session_id, person.id, frozenset({"risk", "manager"}))
    assert audit_rows(engine, "staff.sso_sign_in") == [
        (person.id, str(person.id), None, {"issuer": ISSUER, "subject": "kc-7f3a"})]
    with engine.connect() as conn:
        seen = conn.execute(sa.text(
            """SELECT i.email_hint, i.last_sign_in_at IS NOT NULL, s.last_login_at IS NOT NULL
               FROM ops.staff_identities i JOIN ops.staff s ON s.id = i.staff_id""")).one()
    assert tuple(seen) == ("li.na@example.cn", True, True)
    assert attempts(engine) == [("kc-7f3a", "n-1", "signed_in", person.id, "li.na@example.cn",
                                 "李娜")]


def test_an_identity_without_an_account_is_refused_and_listed_for_the_admin(
        engine, console_engine, make_actor):
    admin = make_actor("admin")
    first = refusal(console_engine, identity(subject="kc-new", nonce="a"))
    assert (first.key, first.params) == ("sso.unlinked", {"who": "li.na@example.cn"})
    second = refusal(console_engine, identity(subject="kc-new", nonce="b", email=None,
                                              name="Li Na"))
    assert second.params == {"who": "Li Na"}
    with engine.connect() as conn:   # nothing opened, nothing audited
        assert conn.execute(sa.text("SELECT count(*) FROM ops.staff_sessions")).scalar() == 0
        assert conn.execute(sa.text("SELECT count(*) FROM ops.audit_log")).scalar() == 0
    with console_engine.connect() as conn:
        tried = sso_identities.list_unlinked(conn=conn, actor=admin)
    assert tried[["issuer", "subject", "name_hint", "email_hint", "tries"]].values.tolist() == [
        [ISSUER, "kc-new", "Li Na", None, 2]]


def test_the_email_claim_never_signs_anyone_in(engine, console_engine, make_actor):
    admin, person = make_actor("admin"), make_actor("ops")
    link(console_engine, admin, person, subject="kc-owner", email="li.na@example.cn")
    # Another subject presenting the linked person's email, and the same subject of another
    # issuer: both strangers.
    assert refusal(console_engine, identity(subject="kc-other", nonce="x")).key == "sso.unlinked"
    assert refusal(console_engine, identity(subject="kc-owner", nonce="y",
                                            issuer="https://evil.example.com")).key == "sso.unlinked"


def test_a_disabled_or_locked_account_is_refused(engine, console_engine, make_actor):
    admin, off, locked = make_actor("admin"), make_actor("bd"), make_actor("bd")
    link(console_engine, admin, off, subject="kc-off")
    link(console_engine, admin, locked, subject="kc-locked")
    with engine.begin() as conn:
        conn.execute(sa.text("UPDATE ops.staff SET is_active = false WHERE id = :id"),
                     {"id": off.id})
        conn.execute(sa.text("UPDATE ops.staff SET locked_until = now() + interval '10 minutes' "
                             "WHERE id = :id"), {"id": locked.id})
    assert refusal(console_engine, identity(subject="kc-off")).key == "sso.disabled"
    locked_out = refusal(console_engine, identity(subject="kc-locked", nonce="n-2"))
    assert locked_out.key == "auth.locked" and "until" in locked_out.params
    assert [(a[0], a[2], a[3]) for a in attempts(engine)] == [
        ("kc-off", "disabled", off.id), ("kc-locked", "locked", locked.id)]
    assert audit_rows(engine, "staff.sso_sign_in") == []


def test_an_id_token_signs_in_once_and_only_while_fresh(engine, console_engine, make_actor):
    admin, person = make_actor("admin"), make_actor("ops")
    link(console_engine, admin, person)
    sso.sign_in(engine=console_engine, identity=identity(nonce="once"))
    # Streamlit's identity cookie, still there after a sign-out: it opens nothing again.
    assert refusal(console_engine, identity(nonce="once")).key == "sso.used"
    assert refusal(console_engine, identity(nonce="old", age=timedelta(minutes=6))).key == \
        "sso.stale"
    assert refusal(console_engine, identity(nonce="ahead", age=-timedelta(minutes=3))).key == \
        "sso.stale"
    assert [a[1] for a in attempts(engine)] == ["once"]
    assert len(audit_rows(engine, "staff.sso_sign_in")) == 1


def test_the_same_id_token_in_eight_processes_at_once_signs_in_exactly_once(
        engine, fresh_db, make_actor):
    admin, person = make_actor("admin"), make_actor("ops")
    with wide_engine(fresh_db, 8) as wide:
        link(wide, admin, person)
        token = identity(nonce="raced")
        outcomes = at_once([lambda: sso.sign_in(engine=wide, identity=token)] * 8)
    signed_in = [o for o in outcomes if not isinstance(o, Exception)]
    assert [o.id for o in signed_in] == [person.id]
    assert sorted(o.key for o in outcomes if isinstance(o, PermissionDenied)) == ["sso.used"] * 7
    assert len(audit_rows(engine, "staff.sso_sign_in")) == 1


def test_linking_is_an_audited_admin_decision_and_one_identity_has_one_account(
        engine, console_engine, make_actor):
    admin, person, other = make_actor("admin"), make_actor("ops"), make_actor("bd")
    refusal(console_engine, identity(subject="kc-9", nonce="tried"))   # the email comes from here
    link_id = link(console_engine, admin, person, subject="kc-9")
    assert audit_rows(engine, "staff.sso_link") == [
        (admin.id, str(person.id), None,
         {"identity_id": link_id, "issuer": ISSUER, "subject": "kc-9",
          "email_hint": "li.na@example.cn"})]
    with pytest.raises(Conflict) as err:
        link(console_engine, admin, other, subject="kc-9")
    assert (err.value.key, err.value.params) == ("sso.already_linked",
                                                 {"username": person.username})
    with console_engine.connect() as conn:   # linked: no longer on the admin's to-do list
        assert sso_identities.list_unlinked(conn=conn, actor=admin).empty
        listed = sso_identities.list_identities(conn=conn, actor=admin)
    assert listed[["username", "subject", "email_hint", "linked_by"]].values.tolist() == [
        [person.username, "kc-9", "li.na@example.cn", admin.display_name]]
    with pytest.raises(PermissionDenied):   # only an admin links
        link(console_engine, person, person, subject="kc-10")


def test_two_admins_linking_one_identity_at_once_link_it_once(engine, fresh_db, make_actor):
    admins = [make_actor("admin") for _ in range(2)]
    people = [make_actor("ops"), make_actor("bd")]
    with wide_engine(fresh_db, 4) as wide:
        outcomes = at_once([lambda a=a, p=p: link(wide, a, p, subject="kc-race")
                            for a, p in zip(admins, people)])
    assert sorted(type(o).__name__ for o in outcomes) == ["Conflict", "int"]
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM ops.staff_identities")).scalar() == 1
    assert len(audit_rows(engine, "staff.sso_link")) == 1


def test_an_unlinked_identity_signs_in_no_more(engine, console_engine, make_actor):
    admin, person = make_actor("admin"), make_actor("ops")
    link_id = link(console_engine, admin, person)
    with console_engine.begin() as conn:
        sso_identities.unlink_identity(conn=conn, actor=admin, identity_id=link_id)
    assert audit_rows(engine, "staff.sso_unlink") == [
        (admin.id, str(person.id),
         {"identity_id": link_id, "issuer": ISSUER, "subject": "kc-7f3a", "email_hint": None},
         None)]
    assert refusal(console_engine, identity()).key == "sso.unlinked"


def test_claims_without_a_signed_in_id_tokens_parts_are_no_identity():
    good = {"is_logged_in": True, "iss": ISSUER, "sub": "s", "nonce": "n", "iat": 1_796_400_000,
            "email": " a@b.cn ", "name": "A"}
    parsed = sso.identity_from_claims(good)
    assert (parsed.issuer, parsed.subject, parsed.email, parsed.issued_at.year) == (
        ISSUER, "s", "a@b.cn", 2026)
    for broken in ({"is_logged_in": False}, {"nonce": None}, {"sub": ""}, {"iat": "soon"},
                   {"iat": True}, {"sub": "x" * 256}, {"iss": "a\nb"}):
        assert sso.identity_from_claims({**good, **broken}) is None, broken


SSO_ENV = dict(CONSOLE_SSO_PROVIDER="keycloak",
               CONSOLE_SSO_METADATA_URL=f"{ISSUER}/.well-known/openid-configuration",
               CONSOLE_SSO_CLIENT_ID="dealerhub-console", CONSOLE_SSO_CLIENT_SECRET="s3cret",
               CONSOLE_SSO_REDIRECT_URI="https://console.example.cn/oauth2callback",
               CONSOLE_SSO_COOKIE_SECRET="c" * 40)


def test_unconfigured_sso_offers_passwords_only_and_half_a_configuration_says_what_is_missing(
        settings_env):
    for name in SSO_ENV:
        settings_env(**{name: ""})
    assert (sso.config_problems(), sso.configured()) == ([], False)
    settings_env(CONSOLE_SSO_PROVIDER="lark", CONSOLE_SSO_CLIENT_ID="x",
                 CONSOLE_SSO_COOKIE_SECRET="short")
    assert sso.config_problems() == [
        "CONSOLE_SSO_METADATA_URL is not set", "CONSOLE_SSO_CLIENT_SECRET is not set",
        "CONSOLE_SSO_REDIRECT_URI is not set",
        "CONSOLE_SSO_PROVIDER must be one of keycloak, feishu, dingtalk, wecom, oidc",
        "CONSOLE_SSO_COOKIE_SECRET must be at least 32 characters (e.g. python -c 'import "
        "secrets; print(secrets.token_urlsafe(32))')"]
    assert not sso.configured()
    with pytest.raises(sso.ConfigurationError, match="CONSOLE_SSO_CLIENT_SECRET is not set"):
        sso.feed_streamlit()


def test_a_full_configuration_becomes_st_logins_named_provider(settings_env):
    settings_env(**SSO_ENV)
    assert sso.config_problems() == []
    assert sso.streamlit_secrets(sso.config()) == {"auth": {
        "redirect_uri": "https://console.example.cn/oauth2callback",
        "cookie_secret": "c" * 40,
        "keycloak": {"client_id": "dealerhub-console", "client_secret": "s3cret",
                     "server_metadata_url": f"{ISSUER}/.well-known/openid-configuration",
                     "client_kwargs": {"scope": "openid email profile",
                                       "prompt": "select_account"}}}}
    settings_env(CONSOLE_SSO_REDIRECT_URI="https://console.example.cn/")
    assert sso.config_problems() == [
        "CONSOLE_SSO_REDIRECT_URI must be the console's address + /oauth2callback"]


def test_the_sign_in_page_offers_the_provider_only_when_configured(engine, settings_env):
    from tests.apptest import app_as

    assert [b.label for b in app_as(None).button] == ["登录"]
    settings_env(**SSO_ENV)
    at = app_as(None)
    assert not at.exception
    assert [b.label for b in at.button] == ["登录", "使用Keycloak登录"]
    assert [b.label for b in app_as(None, lang="en").button] == ["Sign in", "Sign in with Keycloak"]
    settings_env(CONSOLE_SSO_PROVIDER="wecom")
    assert [b.label for b in app_as(None).button] == ["登录", "使用企业微信登录"]


def test_half_a_configuration_stops_the_console_before_it_serves():
    import os
    import subprocess
    import sys

    from console.settings import PROJECT_ROOT

    env = {**os.environ, **SSO_ENV, "CONSOLE_SSO_CLIENT_SECRET": ""}
    done = subprocess.run([sys.executable, "-m", "console.ui.launch", "run", "app.py",
                           "--server.port=1"], env=env, cwd=PROJECT_ROOT, capture_output=True,
                          text=True, timeout=120)
    assert (done.returncode, done.stderr.strip().splitlines()[-1]) == (
        2, "console: single sign-on is half configured: CONSOLE_SSO_CLIENT_SECRET is not set")


def test_the_jobs_role_reads_no_identities(jobs_engine):
    for table in ("ops.staff_identities", "ops.sso_sign_ins"):
        with jobs_engine.connect() as conn, pytest.raises(sa.exc.DBAPIError) as err:
            conn.execute(sa.text(f"SELECT 1 FROM {table}"))
        assert err.value.orig.pgcode == "42501", table


def test_attempts_older_than_the_retention_go_at_the_next_sso_sign_in(engine, console_engine,
                                                                       make_actor, settings_env):
    settings_env(CONSOLE_SESSION_RETENTION_DAYS=30)
    with engine.begin() as conn:
        conn.execute(sa.text(
            """INSERT INTO ops.sso_sign_ins (issuer, subject, nonce, at, outcome)
               VALUES (:iss, 'kc-gone', 'old', now() - interval '31 days', 'unlinked'),
                      (:iss, 'kc-kept', 'recent', now() - interval '29 days', 'unlinked')"""),
            {"iss": ISSUER})
    refusal(console_engine, identity(subject="kc-new", nonce="today"))
    assert sorted((a[0], a[1]) for a in attempts(engine)) == [
        ("kc-kept", "recent"), ("kc-new", "today")]


def test_each_single_sign_on_is_one_log_line_without_the_identity(console_engine, make_actor,
                                                                  capsys):
    import json

    admin, person = make_actor("admin"), make_actor("ops")
    link(console_engine, admin, person)
    capsys.readouterr()
    sso.sign_in(engine=console_engine, identity=identity(nonce="a"))
    refusal(console_engine, identity(subject="kc-stranger", nonce="b"))
    lines = [json.loads(line) for line in capsys.readouterr().err.splitlines()
             if '"sso.sign_in"' in line]
    assert [(ln["level"], ln.get("staff_id"), ln["status"]) for ln in lines] == [
        ("info", person.id, "signed_in"), ("warning", None, "unlinked")]
    assert not any(v in json.dumps(lines) for v in ("kc-stranger", "li.na", "李娜", ISSUER))


def test_the_admin_page_links_a_refused_identity_to_the_account_chosen(
        engine, console_engine, make_actor):
    from tests.apptest import app_as

    admin, person = make_actor("admin"), make_actor("ops", username="lina")
    refusal(console_engine, identity(subject="kc-lina", nonce="t1"))
    at = app_as(admin, lang="en", page="pages/admin_sso.py")
    assert not at.exception
    assert [h.value for h in at.subheader] == [
        "Tried to sign in, not linked", "Link a single sign-on identity", "Linked identities"]
    shown = at.dataframe[0].value
    assert shown[["Subject", "Name sent by the provider", "Email (hint)", "Tries"]].values.tolist() \
        == [["kc-lina", "李娜", "li.na@example.cn", 1]]
    assert at.selectbox(key="sso_account_0").value is None      # nobody chosen in advance
    link_button = next(b for b in at.button if b.label == "Link")
    link_button.click().run()
    assert [e.value for e in at.error] == ["Choose the staff account to link."]
    at.selectbox(key="sso_account_0").set_value(person.id)
    next(b for b in at.button if b.label == "Link").click().run()
    assert not at.exception
    assert [s.value for s in at.success] == ["The identity is now linked to lina."]
    assert sso.sign_in(engine=console_engine, identity=identity(subject="kc-lina",
                                                                nonce="t2")).id == person.id
