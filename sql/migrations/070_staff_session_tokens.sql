-- Sign-in that lasts (issue 14): one row per signed-in browser, so a refresh, a reconnect
-- or a console restart keeps the person signed in until idle expiry or sign-out.
--
-- The browser holds an opaque random token (a cookie); only its SHA-256 is stored, so a
-- copy of this table opens no session. A session holds while: not ended, seen within
-- settings.session_idle_minutes, and its session_epoch still equals ops.staff.session_epoch
-- (migration 062: an admin ending sessions, a disable, a forced reset or a lockout moves
-- the account's epoch on, which refuses every row signed in before).
CREATE TABLE ops.staff_sessions (
    id            bigserial PRIMARY KEY,
    staff_id      bigint NOT NULL REFERENCES ops.staff (id),
    token_hash    text NOT NULL UNIQUE CHECK (token_hash ~ '^[0-9a-f]{64}$'),
    session_epoch integer NOT NULL CHECK (session_epoch >= 0),
    created_at    timestamptz NOT NULL DEFAULT now(),
    last_seen_at  timestamptz NOT NULL DEFAULT now(),
    ip            text CHECK (length(ip) <= 64),
    user_agent    text CHECK (length(user_agent) <= 400),
    ended_at      timestamptz,
    ended_reason  text CHECK (ended_reason IN ('sign_out', 'admin', 'idle', 'superseded')),
    ended_by      bigint REFERENCES ops.staff (id),
    CHECK ((ended_at IS NULL) = (ended_reason IS NULL))
);
-- The admin's list of a person's sessions, newest first.
CREATE INDEX staff_sessions_staff_idx ON ops.staff_sessions (staff_id, created_at DESC);
