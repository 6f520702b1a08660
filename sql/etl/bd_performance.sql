-- BD performance per staff member and month. Each figure counts in the month its event
-- happened. Recomputed whole (matches and merchants are small) and merged.

-- step: prep_snapshot
CREATE TEMP TABLE bd_snapshot ON COMMIT DROP AS
WITH registered AS (
    SELECT bd_owner_id AS staff_id, mart.cn_month(registered_at) AS month, count(*) AS n
    FROM etl.clean_merchants WHERE bd_owner_id IS NOT NULL
    GROUP BY 1, 2
),
first_certified AS (
    SELECT merchant_id, min(decided_at) AS certified_at
    FROM etl.clean_certifications WHERE status = 'approved' GROUP BY merchant_id
),
certified AS (
    SELECT m.bd_owner_id AS staff_id, mart.cn_month(c.certified_at) AS month, count(*) AS n
    FROM first_certified c JOIN etl.clean_merchants m ON m.id = c.merchant_id
    WHERE m.bd_owner_id IS NOT NULL
    GROUP BY 1, 2
),
created AS (
    SELECT owner_id AS staff_id, mart.cn_month(created_at) AS month, count(*) AS n,
           count(*) FILTER (WHERE stage <> 'suggested') AS contacted
    FROM etl.clean_matches WHERE owner_id IS NOT NULL
    GROUP BY 1, 2
),
closed AS (
    SELECT owner_id AS staff_id, mart.cn_month(stage_entered_at) AS month,
           count(*) FILTER (WHERE stage = 'won') AS won,
           count(*) FILTER (WHERE stage = 'lost') AS lost,
           coalesce(sum(deal_value) FILTER (WHERE stage = 'won'), 0) AS won_value
    FROM etl.clean_matches WHERE owner_id IS NOT NULL AND stage IN ('won', 'lost')
    GROUP BY 1, 2
),
contacts AS (
    SELECT staff_id, mart.cn_month(created_at) AS month, count(*) AS n
    FROM etl.clean_contact_log GROUP BY 1, 2
),
keys AS (
    SELECT staff_id, month FROM registered UNION SELECT staff_id, month FROM certified
    UNION SELECT staff_id, month FROM created UNION SELECT staff_id, month FROM closed
    UNION SELECT staff_id, month FROM contacts
)
SELECT k.staff_id, k.month,
       coalesce(r.n, 0)::integer AS merchants_registered,
       coalesce(c.n, 0)::integer AS merchants_certified,
       coalesce(m.n, 0)::integer AS matches_created,
       coalesce(m.contacted, 0)::integer AS matches_contacted,
       coalesce(x.won, 0)::integer AS deals_won,
       coalesce(x.lost, 0)::integer AS deals_lost,
       coalesce(x.won_value, 0) AS won_value,
       coalesce(ct.n, 0)::integer AS contacts_logged
FROM keys k
LEFT JOIN registered r USING (staff_id, month) LEFT JOIN certified c USING (staff_id, month)
LEFT JOIN created m USING (staff_id, month) LEFT JOIN closed x USING (staff_id, month)
LEFT JOIN contacts ct USING (staff_id, month);

-- step: prune
DELETE FROM mart.bd_performance t
WHERE NOT EXISTS (SELECT 1 FROM bd_snapshot s WHERE s.staff_id = t.staff_id AND s.month = t.month);

-- step: merge
INSERT INTO mart.bd_performance AS t
    (staff_id, month, merchants_registered, merchants_certified, matches_created,
     matches_contacted, deals_won, deals_lost, won_value, contacts_logged, computed_at, run_id)
SELECT staff_id, month, merchants_registered, merchants_certified, matches_created,
       matches_contacted, deals_won, deals_lost, won_value, contacts_logged, now(), :run_id
FROM bd_snapshot
ON CONFLICT (staff_id, month) DO UPDATE SET
    merchants_registered = EXCLUDED.merchants_registered,
    merchants_certified = EXCLUDED.merchants_certified,
    matches_created = EXCLUDED.matches_created, matches_contacted = EXCLUDED.matches_contacted,
    deals_won = EXCLUDED.deals_won, deals_lost = EXCLUDED.deals_lost,
    won_value = EXCLUDED.won_value, contacts_logged = EXCLUDED.contacts_logged,
    computed_at = now(), run_id = EXCLUDED.run_id
WHERE (t.merchants_registered, t.merchants_certified, t.matches_created, t.matches_contacted,
       t.deals_won, t.deals_lost, t.won_value, t.contacts_logged)
      IS DISTINCT FROM (EXCLUDED.merchants_registered, EXCLUDED.merchants_certified,
                        EXCLUDED.matches_created, EXCLUDED.matches_contacted, EXCLUDED.deals_won,
                        EXCLUDED.deals_lost, EXCLUDED.won_value, EXCLUDED.contacts_logged);
