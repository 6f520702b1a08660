-- A tamper-evident audit log: every row carries chain_seq and row_hash, where
--   row_hash = sha256_hex(previous row's row_hash || canonical content of this row)
-- and the first row's previous hash is 64 zeros. Editing, deleting or slipping in a row
-- breaks the chain at that row; `python -m console audit verify` and the admin audit page
-- recompute it in Python (console/audit.py) and say where.
--
-- Canonical content: each field as '<UTF-8 byte length>:<text>;' and NULL as 'N;', in this
-- order: chain_seq, actor_id, action, entity_type, entity_id, before::text, after::text,
-- reason, at (UTC, 'YYYY-MM-DDTHH:MM:SS.ffffffZ'). Length prefixes make the encoding
-- unambiguous (no value can pose as two fields); jsonb's text form is deterministic.
--
-- Links are assigned by a BEFORE INSERT trigger that updates the one-row head table: the
-- UPDATE keeps the head's row lock until the inserting transaction ends, so a second writer
-- waits and then links to the first writer's committed row. Chain order is commit order,
-- and a rolled-back insert leaves no gap. The trigger also sets `at` to the server's clock:
-- a writer can no longer back-date a row.
--
-- The function and the head belong to dh_owner (this migration runs as it); the function is
-- SECURITY DEFINER with a pinned search_path, so the console and jobs roles, which may only
-- INSERT and SELECT the audit log, have no privilege on the head and cannot move it.

ALTER TABLE ops.audit_log
    ADD COLUMN chain_seq bigint,
    ADD COLUMN row_hash  text CHECK (row_hash ~ '^[0-9a-f]{64}$');

-- No UNIQUE on chain_seq: a unique index would refuse a forged duplicate and so hide it from
-- the verifier; the verifier reports duplicates instead. This index serves its walk.
CREATE INDEX audit_log_chain_seq_idx ON ops.audit_log (chain_seq, id);

CREATE TABLE ops.audit_chain_head (
    singleton  boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    chain_seq  bigint NOT NULL CHECK (chain_seq >= 0),
    row_hash   text NOT NULL CHECK (row_hash ~ '^[0-9a-f]{64}$')
);

CREATE FUNCTION ops.audit_field(value text) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE SET search_path = pg_catalog, pg_temp AS $$
    SELECT CASE WHEN value IS NULL THEN 'N;'
                ELSE octet_length(value)::text || ':' || value || ';' END
$$;

CREATE FUNCTION ops.audit_row_hash(prev_hash text, seq bigint, actor_id bigint, action text,
                                   entity_type text, entity_id text, before jsonb, after jsonb,
                                   reason text, at timestamptz) RETURNS text
LANGUAGE sql STABLE PARALLEL SAFE SET search_path = pg_catalog, pg_temp AS $$
    SELECT encode(sha256(convert_to(
        prev_hash
        || ops.audit_field(seq::text) || ops.audit_field(actor_id::text)
        || ops.audit_field(action) || ops.audit_field(entity_type) || ops.audit_field(entity_id)
        || ops.audit_field(before::text) || ops.audit_field(after::text)
        || ops.audit_field(reason)
        || ops.audit_field(to_char(at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')),
        'UTF8')), 'hex')
$$;

CREATE FUNCTION ops.audit_chain_link() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    seq  bigint;
    prev text;
BEGIN
    UPDATE ops.audit_chain_head SET chain_seq = chain_seq + 1
        RETURNING chain_seq, row_hash INTO seq, prev;
    IF NOT FOUND THEN
        -- The head went with a TRUNCATE of an empty log (the demo seed's --force): start
        -- again. ON CONFLICT: a concurrent first writer may be creating it too.
        INSERT INTO ops.audit_chain_head (chain_seq, row_hash) VALUES (0, repeat('0', 64))
            ON CONFLICT (singleton) DO NOTHING;
        UPDATE ops.audit_chain_head SET chain_seq = chain_seq + 1
            RETURNING chain_seq, row_hash INTO seq, prev;
    END IF;
    NEW.at := now();
    NEW.chain_seq := seq;
    NEW.row_hash := ops.audit_row_hash(prev, seq, NEW.actor_id, NEW.action, NEW.entity_type,
                                       NEW.entity_id, NEW.before, NEW.after, NEW.reason, NEW.at);
    UPDATE ops.audit_chain_head SET row_hash = NEW.row_hash;
    RETURN NEW;
END $$;

-- Existing rows are chained once, in id order (the only order they have), one pass. The
-- append-only trigger refuses these UPDATEs, so it is off for this migration only; DDL is
-- transactional, so no other session ever sees the log without it.
ALTER TABLE ops.audit_log DISABLE TRIGGER audit_log_append_only;
DO $$
DECLARE
    r    record;
    seq  bigint := 0;
    prev text := repeat('0', 64);
BEGIN
    FOR r IN SELECT * FROM ops.audit_log ORDER BY id LOOP
        seq := seq + 1;
        prev := ops.audit_row_hash(prev, seq, r.actor_id, r.action, r.entity_type, r.entity_id,
                                   r.before, r.after, r.reason, r.at);
        UPDATE ops.audit_log SET chain_seq = seq, row_hash = prev WHERE id = r.id;
    END LOOP;
    INSERT INTO ops.audit_chain_head (chain_seq, row_hash) VALUES (seq, prev);
END $$;
ALTER TABLE ops.audit_log ENABLE TRIGGER audit_log_append_only;

-- Named to sort after any other BEFORE INSERT trigger (they fire in name order): a later
-- trigger changing the row would make its hash wrong. A plain (origin) trigger, not ALWAYS:
-- a logical replica applies rows with the chain links they already carry.
CREATE TRIGGER zz_audit_log_chain
    BEFORE INSERT ON ops.audit_log
    FOR EACH ROW EXECUTE FUNCTION ops.audit_chain_link();

REVOKE ALL ON FUNCTION ops.audit_chain_link() FROM PUBLIC;
