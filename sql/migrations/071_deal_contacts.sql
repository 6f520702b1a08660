-- The deal board's card (issue 14): a contact log recorded from the card, and the next
-- action's text beside its date.
--
-- ops.deal_contacts: the calls and WeChat messages a BD records while working a card
-- (ops.matches). One row per contact, written once (no UPDATE from the console: a wrong
-- entry is corrected by a new one), each with an audit row in the same transaction.
CREATE TABLE ops.deal_contacts (
    id          bigserial PRIMARY KEY,
    match_id    bigint NOT NULL REFERENCES ops.matches(id),
    channel     text NOT NULL CHECK (channel IN ('call', 'wechat')),
    direction   text NOT NULL CHECK (direction IN ('outbound', 'inbound')),
    party       text NOT NULL CHECK (party IN ('buyer', 'seller')),
    summary     text NOT NULL CHECK (length(btrim(summary)) BETWEEN 1 AND 2000),
    at          timestamptz NOT NULL,
    staff_id    bigint NOT NULL REFERENCES ops.staff(id),
    created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX deal_contacts_match_idx ON ops.deal_contacts (match_id, at);

-- What the next action is ("call the buyer about the colour"), beside when.
ALTER TABLE ops.matches ADD COLUMN next_action_note text
    CHECK (next_action_note IS NULL OR length(next_action_note) <= 500);

-- "My tasks": a person's open cards by next action date.
CREATE INDEX matches_owner_next_action_idx ON ops.matches (owner_id, next_action_at)
    WHERE stage IN ('suggested', 'contacted', 'negotiating', 'deposit_paid')
      AND next_action_at IS NOT NULL;
