-- The current grade of each merchant as a row (issue 13): the latest scoring run's score,
-- grade, limit and VIP flag, plus the approved override that replaces them until it expires.
--
-- Before, ops.merchant_credit was a view that ranked every run and every override each time
-- it was read. Joined to 250k live listings by the car-source search, the planner evaluated
-- it once per listing as soon as a second scoring run existed (production scores daily), and
-- the search ran into the 30 s statement timeout. Now the rows are written where grades
-- change, in the same transaction: by the scoring run (every merchant, one statement) and by
-- every change of an approved override (a trigger, so approve, supersede, expire and any
-- future revoke all keep it right). Readers look up one row by merchant id.
--
-- An override's expiry is a moment (Shanghai midnight after its last day). The row carries it
-- (override_until) and ops.merchant_credit compares it with now() at read time, so an expired
-- override stops counting at once, before the sweep marks it 'expired' (which then clears it).

CREATE TABLE ops.merchant_grade_current (
    merchant_id            bigint PRIMARY KEY,
    run_id                 bigint NOT NULL REFERENCES ops.credit_runs(id),
    scored_at              timestamptz NOT NULL,
    score                  integer NOT NULL,
    grade                  text NOT NULL CHECK (ops.credit_grade_rank(grade) IS NOT NULL),
    insufficient_history   boolean NOT NULL,
    -- the scored grade's terms (too little history: the scorecard's own limit, never VIP)
    score_loan_limit       numeric(14,2) NOT NULL,
    score_vip_eligible     boolean NOT NULL,
    -- the approved override, if one was active when the row was written
    override_id            bigint REFERENCES ops.credit_overrides(id),
    override_grade         text CHECK (override_grade IS NULL
                                       OR ops.credit_grade_rank(override_grade) IS NOT NULL),
    override_until         timestamptz,
    override_loan_limit    numeric(14,2),
    override_vip_eligible  boolean,
    updated_at             timestamptz NOT NULL DEFAULT clock_timestamp(),
    CHECK ((override_id IS NULL) = (override_grade IS NULL)
           AND (override_id IS NULL) = (override_until IS NULL)
           AND (override_id IS NULL) = (override_loan_limit IS NULL)
           AND (override_id IS NULL) = (override_vip_eligible IS NULL))
);
COMMENT ON TABLE ops.merchant_grade_current IS
    'One row per rated merchant: latest run + active override. Read through ops.merchant_credit.';

-- What the table must hold, derived from runs and overrides: the ranking the old view did.
-- Only the writers below read it (for every merchant after a run, for one after an override
-- change); pages read the table.
CREATE VIEW ops.merchant_grade_derived AS
WITH latest_run AS (
    SELECT r.id, r.version_id, r.finished_at
    FROM ops.credit_runs r
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
       CASE WHEN s.insufficient_history THEN v.ih_loan_limit ELSE sb.loan_limit END
           AS score_loan_limit,
       CASE WHEN s.insufficient_history THEN false ELSE sb.vip_eligible END AS score_vip_eligible,
       o.id AS override_id, o.new_grade AS override_grade, o.expires_at AS override_until,
       ob.loan_limit AS override_loan_limit, ob.vip_eligible AS override_vip_eligible
FROM latest_run r
JOIN ops.credit_scorecard_versions v ON v.id = r.version_id
JOIN ops.credit_scores s ON s.run_id = r.id
JOIN ops.credit_grade_bands sb ON sb.version_id = r.version_id AND sb.grade = s.grade
LEFT JOIN active_override o ON o.merchant_id = s.merchant_id
LEFT JOIN ops.credit_grade_bands ob ON ob.version_id = r.version_id AND ob.grade = o.new_grade;

-- After a scoring run: every merchant of the latest run, and no one else.
-- The EXCLUSIVE lock (readers go on) orders this against single-merchant refreshes: an
-- override decided while the run was scoring either committed before the lock was granted
-- (and the snapshot of the statements below sees it) or waits for the run and refreshes its
-- merchant after it (see refresh_merchant_grade).
CREATE FUNCTION ops.refresh_merchant_grades() RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE
    written integer;
BEGIN
    LOCK TABLE ops.merchant_grade_current IN EXCLUSIVE MODE;
    DELETE FROM ops.merchant_grade_current c
    WHERE NOT EXISTS (SELECT 1 FROM ops.merchant_grade_derived d
                      WHERE d.merchant_id = c.merchant_id);
    INSERT INTO ops.merchant_grade_current AS c
        (merchant_id, run_id, scored_at, score, grade, insufficient_history, score_loan_limit,
         score_vip_eligible, override_id, override_grade, override_until, override_loan_limit,
         override_vip_eligible)
    SELECT merchant_id, run_id, scored_at, score, grade, insufficient_history, score_loan_limit,
           score_vip_eligible, override_id, override_grade, override_until, override_loan_limit,
           override_vip_eligible
    FROM ops.merchant_grade_derived
    ON CONFLICT (merchant_id) DO UPDATE
       SET run_id = EXCLUDED.run_id, scored_at = EXCLUDED.scored_at, score = EXCLUDED.score,
           grade = EXCLUDED.grade, insufficient_history = EXCLUDED.insufficient_history,
           score_loan_limit = EXCLUDED.score_loan_limit,
           score_vip_eligible = EXCLUDED.score_vip_eligible,
           override_id = EXCLUDED.override_id, override_grade = EXCLUDED.override_grade,
           override_until = EXCLUDED.override_until,
           override_loan_limit = EXCLUDED.override_loan_limit,
           override_vip_eligible = EXCLUDED.override_vip_eligible,
           updated_at = clock_timestamp();
    GET DIAGNOSTICS written = ROW_COUNT;
    RETURN written;
END
$$;

-- One merchant, after one of its overrides changed. The first statement waits for a scoring
-- run that holds the table (its ROW SHARE lock conflicts with the run's EXCLUSIVE one) and
-- locks the merchant's row against a concurrent decision; the next statement then takes a
-- fresh snapshot that sees the run's rows, so a decision never writes an older run back.
CREATE FUNCTION ops.refresh_merchant_grade(p_merchant bigint) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM 1 FROM ops.merchant_grade_current WHERE merchant_id = p_merchant FOR UPDATE;
    INSERT INTO ops.merchant_grade_current AS c
        (merchant_id, run_id, scored_at, score, grade, insufficient_history, score_loan_limit,
         score_vip_eligible, override_id, override_grade, override_until, override_loan_limit,
         override_vip_eligible)
    SELECT merchant_id, run_id, scored_at, score, grade, insufficient_history, score_loan_limit,
           score_vip_eligible, override_id, override_grade, override_until, override_loan_limit,
           override_vip_eligible
    FROM ops.merchant_grade_derived
    WHERE merchant_id = p_merchant
    ON CONFLICT (merchant_id) DO UPDATE
       SET run_id = EXCLUDED.run_id, scored_at = EXCLUDED.scored_at, score = EXCLUDED.score,
           grade = EXCLUDED.grade, insufficient_history = EXCLUDED.insufficient_history,
           score_loan_limit = EXCLUDED.score_loan_limit,
           score_vip_eligible = EXCLUDED.score_vip_eligible,
           override_id = EXCLUDED.override_id, override_grade = EXCLUDED.override_grade,
           override_until = EXCLUDED.override_until,
           override_loan_limit = EXCLUDED.override_loan_limit,
           override_vip_eligible = EXCLUDED.override_vip_eligible,
           updated_at = clock_timestamp();
    IF NOT FOUND THEN   -- not in the latest run: no current grade
        DELETE FROM ops.merchant_grade_current WHERE merchant_id = p_merchant;
    END IF;
END
$$;

-- Every write that can change which override is active for a merchant: approval, supersede,
-- expiry (by the sweep or a corrected date), and any later status such as a revocation. A
-- proposal or a rejection never counted, so those do not refresh.
CREATE FUNCTION ops.credit_override_refresh_grade() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM ops.refresh_merchant_grade(NEW.merchant_id);
    IF TG_OP = 'UPDATE' AND OLD.merchant_id <> NEW.merchant_id THEN
        PERFORM ops.refresh_merchant_grade(OLD.merchant_id);
    END IF;
    RETURN NULL;
END
$$;

CREATE TRIGGER credit_override_approved_insert
    AFTER INSERT ON ops.credit_overrides
    FOR EACH ROW WHEN (NEW.status = 'approved')
    EXECUTE FUNCTION ops.credit_override_refresh_grade();

CREATE TRIGGER credit_override_approved_update
    AFTER UPDATE ON ops.credit_overrides
    FOR EACH ROW WHEN ((OLD.status = 'approved' OR NEW.status = 'approved')
                       AND (OLD.status, OLD.expires_at, OLD.new_grade, OLD.decided_at,
                            OLD.merchant_id)
                           IS DISTINCT FROM (NEW.status, NEW.expires_at, NEW.new_grade,
                                             NEW.decided_at, NEW.merchant_id))
    EXECUTE FUNCTION ops.credit_override_refresh_grade();

-- The effective grade as other areas read it, now a thin view on the one table (no joins,
-- no ranking): same columns as before, so readers did not change. The override counts while
-- now() < override_until.
CREATE OR REPLACE VIEW ops.merchant_credit AS
SELECT c.merchant_id,
       c.score,
       c.grade,
       CASE WHEN c.override_until > now() THEN c.override_grade ELSE c.grade END
           AS effective_grade,
       ops.credit_grade_rank(CASE WHEN c.override_until > now() THEN c.override_grade
                                  ELSE c.grade END) AS effective_grade_rank,
       coalesce(c.override_until > now(), false) AS is_override,
       c.insufficient_history,
       c.scored_at,
       c.run_id,
       CASE WHEN c.override_until > now() THEN c.override_id END AS override_id,
       CASE WHEN c.override_until > now() THEN c.override_until END AS override_expires_at,
       CASE WHEN c.override_until > now() THEN c.override_loan_limit
            ELSE c.score_loan_limit END AS loan_limit,
       CASE WHEN c.override_until > now() THEN c.override_vip_eligible
            ELSE c.score_vip_eligible END AS vip_eligible
FROM ops.merchant_grade_current c;

-- Backfill: what the old view said at this moment.
SELECT ops.refresh_merchant_grades();
