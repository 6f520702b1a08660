-- Parallel imports (平行进口车, issue 21): what a parallel-import listing carries beyond the
-- flag app.listings.is_parallel_import, and its four import documents with ops' review.
--
-- The marketplace writes both tables (a dealer publishes the import's details and uploads its
-- documents); the console corrects the details and decides the documents. A listing is
-- "documents complete" when each of the four kinds has an approved document; until then BD
-- reads "documents missing" on it (console/imports).

-- One row per parallel-import listing.
--   market_version: the market the car was built for (中东版, 美规, 加版, 欧规, 墨西哥版);
--   port: the port of entry (天津 is by far the largest, then 上海, 深圳前海, 广州南沙, 大连, 青岛);
--   availability: 'in_stock' (现车, cleared and in the country) or 'future' (期货, on order or at
--     sea), which carries its expected arrival. "Not in the past" is the service's check (a
--     date that was future when entered becomes past without anyone being wrong).
CREATE TABLE app.listing_imports (
    listing_id        bigint PRIMARY KEY REFERENCES app.listings(id),
    market_version    text NOT NULL
                      CHECK (market_version IN ('middle_east','us','canada','europe','mexico')),
    port              text NOT NULL
                      CHECK (port IN ('tianjin','shanghai','shenzhen','guangzhou','dalian','qingdao')),
    availability      text NOT NULL CHECK (availability IN ('in_stock','future')),
    expected_arrival  date,
    created_at        timestamptz NOT NULL DEFAULT now(),
    updated_at        timestamptz NOT NULL DEFAULT clock_timestamp(),
    version           integer NOT NULL DEFAULT 1,
    CHECK ((availability = 'future') = (expected_arrival IS NOT NULL))
);
CREATE INDEX ON app.listing_imports (market_version, port, availability);
CREATE INDEX ON app.listing_imports (updated_at);
CREATE TRIGGER stamp_updated_at BEFORE INSERT OR UPDATE ON app.listing_imports
    FOR EACH ROW EXECUTE FUNCTION app.stamp_updated_at();

-- The import documents: 'customs' = the customs declaration (关单), 'inspection' = the
-- inspection certificate (商检单), 'env_disclosure' = the China 6 environmental information
-- disclosure (环保信息公开, 国六), 'conformity' = the conformity certificate (一致性证书 / CCC).
-- doc_ref is the document's number or the marketplace's file key. A rejected document stays
-- (the evidence of the decision); the dealer uploads a new one, a new row. At most one
-- pending-or-approved document per listing and kind.
-- Review works like the certification queue: a reviewer takes a document (assigned_to), and
-- decides it with a reason; the decision and its reason are kept on the row and in the audit.
CREATE TABLE app.import_documents (
    id               bigserial PRIMARY KEY,
    listing_id       bigint NOT NULL REFERENCES app.listings(id),
    doc_kind         text NOT NULL
                     CHECK (doc_kind IN ('customs','inspection','env_disclosure','conformity')),
    doc_ref          text NOT NULL CHECK (length(btrim(doc_ref)) BETWEEN 1 AND 80),
    uploaded_at      timestamptz NOT NULL,
    status           text NOT NULL DEFAULT 'pending'
                     CHECK (status IN ('pending','approved','rejected')),
    assigned_to      bigint REFERENCES ops.staff(id),
    assigned_at      timestamptz,
    decided_by       bigint REFERENCES ops.staff(id),
    decided_at       timestamptz,
    decision_reason  text CHECK (decision_reason IS NULL
                                 OR length(btrim(decision_reason)) BETWEEN 1 AND 2000),
    updated_at       timestamptz NOT NULL DEFAULT clock_timestamp(),
    version          integer NOT NULL DEFAULT 1,
    CHECK ((status = 'pending') = (decided_at IS NULL)),
    CHECK (status = 'pending' OR (decided_by IS NOT NULL AND decision_reason IS NOT NULL)),
    CHECK ((assigned_to IS NULL) = (assigned_at IS NULL))
);
CREATE UNIQUE INDEX import_documents_live_idx ON app.import_documents (listing_id, doc_kind)
    WHERE status IN ('pending','approved');
CREATE INDEX import_documents_queue_idx ON app.import_documents (uploaded_at, id)
    WHERE status = 'pending';
CREATE INDEX ON app.import_documents (assigned_to) WHERE status = 'pending';
CREATE INDEX ON app.import_documents (updated_at);
CREATE TRIGGER stamp_updated_at BEFORE INSERT OR UPDATE ON app.import_documents
    FOR EACH ROW EXECUTE FUNCTION app.stamp_updated_at();
