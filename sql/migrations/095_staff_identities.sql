-- Single sign-on through OpenID Connect (issue 18; console/sso.py).
--
-- An identity is the id_token's issuer and subject (`iss`, `sub`): the provider promises a
-- subject is never given to anyone else within its issuer, which an email address is not
-- (people change it, and a provider may let anyone claim one). So an identity reaches a staff
-- account only through a row here, which only an admin writes (audited as staff.sso_link);
-- the email claim is kept beside it as a hint for the admin, never matched on.
CREATE TABLE ops.staff_identities (
    id              bigserial PRIMARY KEY,
    staff_id        bigint NOT NULL REFERENCES ops.staff (id),
    issuer          text NOT NULL CHECK (length(issuer) BETWEEN 1 AND 255),
    subject         text NOT NULL CHECK (length(subject) BETWEEN 1 AND 255),
    email_hint      text CHECK (length(email_hint) <= 254),
    linked_by       bigint REFERENCES ops.staff (id),
    linked_at       timestamptz NOT NULL DEFAULT now(),
    last_sign_in_at timestamptz,
    CONSTRAINT staff_identities_one_account UNIQUE (issuer, subject)
);
-- The admin's list of one person's identities.
CREATE INDEX staff_identities_staff_idx ON ops.staff_identities (staff_id);

-- Every sign-in an id_token was offered for, refused or not. The key is the token's nonce,
-- so a verified id_token signs in once: Streamlit keeps the identity in its own cookie for 30
-- days, and after a sign-out that cookie must not sign the person in again. The refused ones
-- of identities no account has are the admin's list to link from (with the name and email
-- the provider sent). Deleted CONSOLE_SESSION_RETENTION_DAYS after, at the next SSO sign-in.
CREATE TABLE ops.sso_sign_ins (
    issuer     text NOT NULL CHECK (length(issuer) BETWEEN 1 AND 255),
    subject    text NOT NULL CHECK (length(subject) BETWEEN 1 AND 255),
    nonce      text NOT NULL CHECK (length(nonce) BETWEEN 1 AND 255),
    at         timestamptz NOT NULL DEFAULT now(),
    outcome    text NOT NULL CHECK (outcome IN ('signed_in', 'unlinked', 'disabled', 'locked')),
    staff_id   bigint REFERENCES ops.staff (id),
    email_hint text CHECK (length(email_hint) <= 254),
    name_hint  text CHECK (length(name_hint) <= 100),
    PRIMARY KEY (issuer, subject, nonce),
    CHECK ((outcome = 'unlinked') = (staff_id IS NULL))
);
-- The admin page's "tried to sign in, has no account" list, newest first.
CREATE INDEX sso_sign_ins_unlinked_idx ON ops.sso_sign_ins (at DESC) WHERE outcome = 'unlinked';
CREATE INDEX sso_sign_ins_at_idx ON ops.sso_sign_ins (at);
