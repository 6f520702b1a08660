-- Scorecard versions are promoted to active only through a recorded decision: one risk
-- officer proposes, with the validation reports of the active version and the candidate
-- side by side (kept in the row as they were shown), and a second person approves or
-- rejects it (issue 17). The database holds the rule: no one decides their own proposal,
-- one open proposal at a time, and a version becomes active by an UPDATE only when an
-- approved promotion of it exists (the first version registered is active by migration 083).

CREATE TABLE ops.credit_promotions (
    id               bigserial PRIMARY KEY,
    version_id       integer NOT NULL REFERENCES ops.credit_scorecard_versions(id),
    from_version_id  integer REFERENCES ops.credit_scorecard_versions(id),  -- active when proposed
    status           text NOT NULL DEFAULT 'proposed'
                     CHECK (status IN ('proposed', 'approved', 'rejected')),
    reason           text NOT NULL CHECK (length(btrim(reason)) > 0),
    report           jsonb NOT NULL,          -- both versions' validation figures, as shown
    proposed_by      bigint NOT NULL REFERENCES ops.staff(id),
    proposed_at      timestamptz NOT NULL DEFAULT now(),
    decided_by       bigint REFERENCES ops.staff(id),
    decided_at       timestamptz,
    decision_note    text,
    run_id           bigint REFERENCES ops.credit_runs(id),   -- the first run of the new version
    CHECK (decided_by <> proposed_by),
    CHECK ((status = 'proposed') = (decided_by IS NULL)),
    CHECK ((status = 'proposed') = (decided_at IS NULL))
);
CREATE UNIQUE INDEX credit_promotions_one_open ON ops.credit_promotions ((true))
    WHERE status = 'proposed';
CREATE INDEX credit_promotions_version_idx ON ops.credit_promotions (version_id, proposed_at);

CREATE FUNCTION ops.credit_version_activation_needs_promotion() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.status = 'active' AND OLD.status <> 'active'
       AND NOT EXISTS (SELECT 1 FROM ops.credit_promotions p
                       WHERE p.version_id = NEW.id AND p.status = 'approved'
                         AND p.decided_by IS NOT NULL AND p.decided_by <> p.proposed_by) THEN
        RAISE EXCEPTION 'scorecard version % becomes active only through an approved promotion',
                        NEW.version USING ERRCODE = 'check_violation';
    END IF;
    RETURN NEW;
END $$;

CREATE TRIGGER credit_version_activation BEFORE UPDATE OF status ON ops.credit_scorecard_versions
    FOR EACH ROW EXECUTE FUNCTION ops.credit_version_activation_needs_promotion();
