-- The deal board at scale (issue 5: board_ms <= 150 at the large scale, where a busy BD owns
-- thousands of cards). Kept apart from 025, which other databases had applied already
-- (migrations are checksummed and forward-only).
--
-- Per stage, the oldest cards of one owner / of the whole team, and each column's count and
-- money total, read from the index alone.
CREATE INDEX matches_board_owner_idx ON ops.matches (owner_id, stage, stage_entered_at)
    INCLUDE (deal_value) WHERE owner_id IS NOT NULL;
CREATE INDEX matches_board_team_idx ON ops.matches (stage, stage_entered_at)
    INCLUDE (deal_value) WHERE owner_id IS NOT NULL;
