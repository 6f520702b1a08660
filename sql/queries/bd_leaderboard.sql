-- The BD leaderboard (console.services.deals.leaderboard): per person who owns cards, the
-- cards won and their deal value (GMV) within the window, the median hours from a card's
-- creation to its deposit for deposits within the window, and the open cards now.
--
-- A card's deposit time is its first move to deposit_paid on the board, else (cards made
-- before the board kept history) its orders' first deposit; its creation time is its first
-- timeline row, else the card's created_at: both kept per card in ops.card_deposits
-- (migration 077). Each part reads only what it counts: the cards won in the window and
-- the open cards from the board's indexes on (owner, stage, ...), the deposits of the
-- window from the kept times, instead of every owned card joined to its timeline and
-- orders (1.8 s at the large scale).
-- Parameters: :days.
WITH cutoff AS MATERIALIZED (
    SELECT now() - make_interval(days => :days) AS at
),
people AS (
    SELECT s.id, s.display_name FROM ops.staff s
    WHERE EXISTS (SELECT 1 FROM ops.matches m WHERE m.owner_id = s.id)
)
-- Won and open per person: index-only ranges of the board's (owner, stage,
-- stage_entered_at) INCLUDE (deal_value) index. The median of a person's hours to deposit
-- is percentile_cont(0.5) as PostgreSQL computes it (the middle value, or lo + (hi - lo) *
-- 0.5 between the two middle ones, in double precision), read off the kept times' (owner,
-- hours) index at the middle of the person's deposits in the window.
SELECT p.id AS staff_id, p.display_name AS staff, w.won, w.gmv,
       round(CAST(md.lo + (md.hi - md.lo) * 0.5 AS numeric), 1) AS median_hours_to_deposit,
       oc.open_cards
FROM people p
CROSS JOIN cutoff
CROSS JOIN LATERAL (
    SELECT count(*) AS won, coalesce(sum(m.deal_value), 0) AS gmv FROM ops.matches m
    WHERE m.owner_id = p.id AND m.stage = 'won' AND m.stage_entered_at >= cutoff.at) w
CROSS JOIN LATERAL (
    SELECT count(*) AS open_cards FROM ops.matches m
    WHERE m.owner_id = p.id
      AND m.stage IN ('suggested', 'contacted', 'negotiating', 'deposit_paid')) oc
CROSS JOIN LATERAL (
    SELECT count(*) AS n FROM ops.card_deposits k
    WHERE k.owner_id = p.id AND k.deposit_at >= cutoff.at) dn
LEFT JOIN LATERAL (
    SELECT min(x.hours) AS lo, max(x.hours) AS hi
    FROM (SELECT k.hours FROM ops.card_deposits k
          WHERE k.owner_id = p.id AND k.deposit_at >= cutoff.at
          ORDER BY k.hours
          OFFSET (dn.n - 1) / 2 LIMIT 2 - dn.n % 2) x) md ON dn.n > 0
ORDER BY w.won DESC, w.gmv DESC, p.id
