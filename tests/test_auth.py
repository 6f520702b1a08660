"""Staff sign-in: hashes, lockout after five failures, disabled accounts, idle expiry."""
from datetime import datetime, timedelta, timezone

import pytest
import sqlalchemy as sa

from console.auth import authenticate, hash_password, session_expired, verify_password
from console.errors import InvalidInput, PermissionDenied
from tests.conftest import TEST_PASSWORD

NOW = datetime(2026, 11, 20, 9, 0, tzinfo=timezone.utc)


def test_hash_verifies_only_the_right_password():
    h = hash_password("s3cret-password")
    assert h.startswith("$argon2id$")
    assert verify_password(h, "s3cret-password")
    assert not verify_password(h, "s3cret-passwore")
    assert not verify_password("not a hash", "s3cret-password")


def test_good_credentials_return_the_actor_with_roles(engine, make_actor):
    made = make_actor("ops", "risk", username="alice")
    actor = authenticate(engine=engine, username="Alice ", password=TEST_PASSWORD, now=NOW)
    assert (actor.id, actor.roles) == (made.id, frozenset({"ops", "risk"}))


def test_unknown_user_and_wrong_password_say_the_same(engine, make_actor):
    make_actor("bd", username="bob")
    with pytest.raises(InvalidInput) as wrong:
        authenticate(engine=engine, username="bob", password="nope", now=NOW)
    with pytest.raises(InvalidInput) as unknown:
        authenticate(engine=engine, username="nobody", password="nope", now=NOW)
    assert wrong.value.key == unknown.value.key == "auth.bad_credentials"


def test_five_failures_lock_for_fifteen_minutes(engine, make_actor):
    make_actor("bd", username="carol")
    for _ in range(4):
        with pytest.raises(InvalidInput):
            authenticate(engine=engine, username="carol", password="bad", now=NOW)
    with pytest.raises(PermissionDenied) as locked:
        authenticate(engine=engine, username="carol", password="bad", now=NOW)
    assert locked.value.key == "auth.locked"
    assert locked.value.params["until"] == NOW + timedelta(minutes=15)
    # Even the right password is refused while locked …
    with pytest.raises(PermissionDenied):
        authenticate(engine=engine, username="carol", password=TEST_PASSWORD,
                     now=NOW + timedelta(minutes=14, seconds=59))
    # … and accepted once the lock has run out.
    actor = authenticate(engine=engine, username="carol", password=TEST_PASSWORD,
                         now=NOW + timedelta(minutes=15, seconds=1))
    assert actor.username == "carol"


def test_success_resets_the_failure_count(engine, make_actor):
    make_actor("bd", username="dave")
    for _ in range(4):
        with pytest.raises(InvalidInput):
            authenticate(engine=engine, username="dave", password="bad", now=NOW)
    authenticate(engine=engine, username="dave", password=TEST_PASSWORD, now=NOW)
    with engine.connect() as conn:
        assert conn.execute(sa.text(
            "SELECT failed_attempts FROM ops.staff WHERE username='dave'")).scalar() == 0


def test_disabled_account_cannot_sign_in(engine, make_actor):
    make_actor("ops", username="erin")
    with engine.begin() as conn:
        conn.execute(sa.text("UPDATE ops.staff SET is_active = false WHERE username = 'erin'"))
    with pytest.raises(PermissionDenied) as refused:
        authenticate(engine=engine, username="erin", password=TEST_PASSWORD, now=NOW)
    assert refused.value.key == "auth.disabled"


@pytest.mark.parametrize("idle_minutes, expired", [(29, False), (30, False), (31, True)])
def test_idle_sessions_expire_after_thirty_minutes(idle_minutes, expired):
    assert session_expired(last_seen=NOW - timedelta(minutes=idle_minutes), now=NOW) is expired
