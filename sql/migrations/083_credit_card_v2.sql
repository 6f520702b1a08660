-- Credit scorecard corrections after the model validation (issue 17, step 1).
--
-- 1. The grade NEW: a merchant without a completed deal is not graded by the card. It ranks
--    below C (8) so that "grade B or better" filters leave it out; it has no grade band, so
--    its limit is the run's starter limit, never a band's.
-- 2. Limits from trading: a graded merchant's limit is the smaller of its grade's cap and
--    the run's limit multiple × its purchases over the trailing 12 months (completed orders as
--    buyer, as of the features' date). The multiple and the starter limit are settings
--    (console/settings.py), copied onto each run so that a stored limit can be explained.
--    An override changes the grade, never that rule: its limit is computed the same way.
-- 3. Only the ACTIVE scorecard version drives grades and limits: the current grade follows
--    the latest successful run of the active version (a candidate's run never counts).

CREATE OR REPLACE FUNCTION ops.credit_grade_rank(grade text) RETURNS smallint
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT CASE grade WHEN 'AAA' THEN 1 WHEN 'AA' THEN 2 WHEN 'A' THEN 3 WHEN 'BBB' THEN 4
                      WHEN 'BB' THEN 5 WHEN 'B' THEN 6 WHEN 'C' THEN 7 WHEN 'NEW' THEN 8
                 END::smallint
$$;

ALTER TABLE ops.credit_scores
    ADD COLUMN purchases_12m numeric(16,2) NOT NULL DEFAULT 0;   -- yuan, completed as buyer

ALTER TABLE ops.credit_runs
    ADD COLUMN limit_multiple numeric CHECK (limit_multiple >= 0),          -- NULL: before 083
    ADD COLUMN starter_limit numeric(14,2) CHECK (starter_limit >= 0);

-- The limit rule in one place: a NEW merchant at most the starter limit, a graded one the
-- smaller of the grade's cap and multiple × purchases (whole thousands of yuan, rounded down).
-- Runs from before this migration carry no multiple: the grade's cap, as they did.
CREATE FUNCTION ops.credit_limit(p_is_new boolean, p_cap numeric, p_purchases numeric,
                                 p_multiple numeric, p_starter numeric) RETURNS numeric
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT CASE
        WHEN p_is_new THEN least(coalesce(p_cap, p_starter), coalesce(p_starter, 0))
        WHEN p_multiple IS NULL THEN p_cap
        ELSE least(p_cap, floor(p_multiple * coalesce(p_purchases, 0) / 1000) * 1000)
    END::numeric(14,2)
$$;

CREATE OR REPLACE VIEW ops.merchant_grade_derived AS
WITH latest_run AS (
    SELECT r.id, r.version_id, r.finished_at, r.limit_multiple, r.starter_limit
    FROM ops.credit_runs r
    JOIN ops.credit_scorecard_versions v ON v.id = r.version_id AND v.status = 'active'
    WHERE r.status = 'succeeded'
    ORDER BY r.id DESC
    LIMIT 1
),
active_override AS (
    SELECT DISTINCT ON (o.merchant_id) o.merchant_id, o.id, o.new_grade, o.expires_at
    FROM ops.credit_overrides o
    WHERE o.status = 'approved' AND o.expires_at > now()
    ORDER BY o.merchant_id, o.decided_at DESC, o.id DESC
)
SELECT s.merchant_id, r.id AS run_id, r.finished_at AS scored_at, s.score, s.grade,
       s.insufficient_history,
       CASE WHEN s.insufficient_history AND r.starter_limit IS NULL THEN v.ih_loan_limit
            ELSE ops.credit_limit(s.insufficient_history, sb.loan_limit, s.purchases_12m,
                                  r.limit_multiple, r.starter_limit) END::numeric(14,2)
           AS score_loan_limit,
       CASE WHEN s.insufficient_history THEN false ELSE coalesce(sb.vip_eligible, false) END
           AS score_vip_eligible,
       o.id AS override_id, o.new_grade AS override_grade, o.expires_at AS override_until,
       CASE WHEN o.id IS NOT NULL
            THEN ops.credit_limit(s.insufficient_history, ob.loan_limit, s.purchases_12m,
                                  r.limit_multiple, coalesce(r.starter_limit, v.ih_loan_limit))
       END::numeric(14,2) AS override_loan_limit,
       CASE WHEN o.id IS NOT NULL
            THEN NOT s.insufficient_history AND coalesce(ob.vip_eligible, false) END
           AS override_vip_eligible
FROM latest_run r
JOIN ops.credit_scorecard_versions v ON v.id = r.version_id
JOIN ops.credit_scores s ON s.run_id = r.id
LEFT JOIN ops.credit_grade_bands sb ON sb.version_id = r.version_id AND sb.grade = s.grade
LEFT JOIN active_override o ON o.merchant_id = s.merchant_id
LEFT JOIN ops.credit_grade_bands ob ON ob.version_id = r.version_id AND ob.grade = o.new_grade;

-- The rows as they should be now (an active version's run; limits by the new rule).
SELECT ops.refresh_merchant_grades();

-- The first version registered is the active one (console/credit/engine.py register_version
-- said so; now the database does too, for a version inserted by any other path): while no
-- version is active, a new one becomes active. Later ones stay candidates until promoted.
CREATE FUNCTION ops.credit_first_version_active() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM ops.credit_scorecard_versions WHERE status = 'active') THEN
        NEW.status := 'active';
    END IF;
    RETURN NEW;
END $$;

CREATE TRIGGER credit_first_version_active BEFORE INSERT ON ops.credit_scorecard_versions
    FOR EACH ROW EXECUTE FUNCTION ops.credit_first_version_active();
