-- The funnel's per-merchant moments, kept on each row of mart.funnel_facts (generated from
-- its first times, so every writer, the ETL and a hand-built test row alike, keeps them
-- right). The growth page's funnel computed them per merchant on every call: the latest of
-- the first times up to each step, the hours between them (numeric extract per merchant and
-- step) and the steps reached under the window, ~60 ms of its ~100-160 ms on the large bench.
--
-- For step k = 2..7 (cert_submitted, certified, first_post, first_match, first_deposit,
-- first_deal; step 1 is the registration):
-- - reached_k_at: the latest of the first times of steps 1..k, the moment step k is reached
--   when it is (a step first done before the previous one counts at the previous one's
--   moment);
-- - hours_k: hours from reached_{k-1}_at to reached_k_at, exactly as the page computed them
--   (the epoch of the difference as float8 / 3600);
-- - window_needed_k: the shortest conversion window under which step k is reached, the
--   longest wait from one step's moment to the next step's first time over steps 2..k, and
--   NULL when one of steps 2..k was never done. Step k is reached under a window W exactly
--   when window_needed_k <= W (t_j <= m + W and t_j - m <= W are the same comparison of
--   microseconds), and with no window when window_needed_k IS NOT NULL.
ALTER TABLE mart.funnel_facts
    ADD COLUMN reached_2_at timestamptz GENERATED ALWAYS AS (greatest(registered_at, cert_submitted_at)) STORED,
    ADD COLUMN reached_3_at timestamptz GENERATED ALWAYS AS (greatest(registered_at, cert_submitted_at, certified_at)) STORED,
    ADD COLUMN reached_4_at timestamptz GENERATED ALWAYS AS (greatest(registered_at, cert_submitted_at, certified_at, first_post_at)) STORED,
    ADD COLUMN reached_5_at timestamptz GENERATED ALWAYS AS (greatest(registered_at, cert_submitted_at, certified_at, first_post_at, first_match_at)) STORED,
    ADD COLUMN reached_6_at timestamptz GENERATED ALWAYS AS (greatest(registered_at, cert_submitted_at, certified_at, first_post_at, first_match_at, first_deposit_at)) STORED,
    ADD COLUMN reached_7_at timestamptz GENERATED ALWAYS AS (greatest(registered_at, cert_submitted_at, certified_at, first_post_at, first_match_at, first_deposit_at, first_deal_at)) STORED,
    ADD COLUMN hours_2 float8 GENERATED ALWAYS AS (
        extract(epoch FROM greatest(registered_at, cert_submitted_at) - registered_at)::float8 / 3600.0) STORED,
    ADD COLUMN hours_3 float8 GENERATED ALWAYS AS (
        extract(epoch FROM greatest(registered_at, cert_submitted_at, certified_at) - greatest(registered_at, cert_submitted_at))::float8 / 3600.0) STORED,
    ADD COLUMN hours_4 float8 GENERATED ALWAYS AS (
        extract(epoch FROM greatest(registered_at, cert_submitted_at, certified_at, first_post_at) - greatest(registered_at, cert_submitted_at, certified_at))::float8 / 3600.0) STORED,
    ADD COLUMN hours_5 float8 GENERATED ALWAYS AS (
        extract(epoch FROM greatest(registered_at, cert_submitted_at, certified_at, first_post_at, first_match_at) - greatest(registered_at, cert_submitted_at, certified_at, first_post_at))::float8 / 3600.0) STORED,
    ADD COLUMN hours_6 float8 GENERATED ALWAYS AS (
        extract(epoch FROM greatest(registered_at, cert_submitted_at, certified_at, first_post_at, first_match_at, first_deposit_at) - greatest(registered_at, cert_submitted_at, certified_at, first_post_at, first_match_at))::float8 / 3600.0) STORED,
    ADD COLUMN hours_7 float8 GENERATED ALWAYS AS (
        extract(epoch FROM greatest(registered_at, cert_submitted_at, certified_at, first_post_at, first_match_at, first_deposit_at, first_deal_at) - greatest(registered_at, cert_submitted_at, certified_at, first_post_at, first_match_at, first_deposit_at))::float8 / 3600.0) STORED,
    ADD COLUMN window_needed_2 interval GENERATED ALWAYS AS (
        CASE WHEN cert_submitted_at IS NOT NULL
             THEN cert_submitted_at - registered_at END) STORED,
    ADD COLUMN window_needed_3 interval GENERATED ALWAYS AS (
        CASE WHEN cert_submitted_at IS NOT NULL AND certified_at IS NOT NULL
             THEN greatest(cert_submitted_at - registered_at, certified_at - greatest(registered_at, cert_submitted_at)) END) STORED,
    ADD COLUMN window_needed_4 interval GENERATED ALWAYS AS (
        CASE WHEN cert_submitted_at IS NOT NULL AND certified_at IS NOT NULL AND first_post_at IS NOT NULL
             THEN greatest(cert_submitted_at - registered_at, certified_at - greatest(registered_at, cert_submitted_at), first_post_at - greatest(registered_at, cert_submitted_at, certified_at)) END) STORED,
    ADD COLUMN window_needed_5 interval GENERATED ALWAYS AS (
        CASE WHEN cert_submitted_at IS NOT NULL AND certified_at IS NOT NULL AND first_post_at IS NOT NULL AND first_match_at IS NOT NULL
             THEN greatest(cert_submitted_at - registered_at, certified_at - greatest(registered_at, cert_submitted_at), first_post_at - greatest(registered_at, cert_submitted_at, certified_at), first_match_at - greatest(registered_at, cert_submitted_at, certified_at, first_post_at)) END) STORED,
    ADD COLUMN window_needed_6 interval GENERATED ALWAYS AS (
        CASE WHEN cert_submitted_at IS NOT NULL AND certified_at IS NOT NULL AND first_post_at IS NOT NULL AND first_match_at IS NOT NULL AND first_deposit_at IS NOT NULL
             THEN greatest(cert_submitted_at - registered_at, certified_at - greatest(registered_at, cert_submitted_at), first_post_at - greatest(registered_at, cert_submitted_at, certified_at), first_match_at - greatest(registered_at, cert_submitted_at, certified_at, first_post_at), first_deposit_at - greatest(registered_at, cert_submitted_at, certified_at, first_post_at, first_match_at)) END) STORED,
    ADD COLUMN window_needed_7 interval GENERATED ALWAYS AS (
        CASE WHEN cert_submitted_at IS NOT NULL AND certified_at IS NOT NULL AND first_post_at IS NOT NULL AND first_match_at IS NOT NULL AND first_deposit_at IS NOT NULL AND first_deal_at IS NOT NULL
             THEN greatest(cert_submitted_at - registered_at, certified_at - greatest(registered_at, cert_submitted_at), first_post_at - greatest(registered_at, cert_submitted_at, certified_at), first_match_at - greatest(registered_at, cert_submitted_at, certified_at, first_post_at), first_deposit_at - greatest(registered_at, cert_submitted_at, certified_at, first_post_at, first_match_at), first_deal_at - greatest(registered_at, cert_submitted_at, certified_at, first_post_at, first_match_at, first_deposit_at)) END) STORED;
