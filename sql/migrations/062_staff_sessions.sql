-- Open sessions that an admin, a disable, a forced password reset or a lockout can end.
--
-- session_epoch: every signed-in session and every Actor carries the epoch it signed in
-- with; each gated call compares it with this column, so bumping it ends every session
-- of the person at once (there is no session table to clean up).
-- must_change_password: set by an admin's forced reset; until the person has chosen a new
-- password, the sign-in page asks for one and every gated service refuses.
ALTER TABLE ops.staff
    ADD COLUMN session_epoch        integer NOT NULL DEFAULT 0 CHECK (session_epoch >= 0),
    ADD COLUMN must_change_password boolean NOT NULL DEFAULT false,
    ADD COLUMN password_changed_at  timestamptz;
