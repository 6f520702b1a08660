-- The certification case page (issue 14): the document images a merchant uploaded, and
-- several documents asked for at once.
--
-- app.certification_images holds the uploaded images themselves (the marketplace writes
-- them; the console reads them). In the database rather than as files in a data folder:
-- the console may run on several machines and is deployed as code, so a folder would need
-- a shared disk and a backup of its own, and a case could point at a file that is gone;
-- here an image is in the same backup, the same transaction and the same test-database
-- copy as the case it belongs to, and the roles' grants (sql/grants.sql) govern who reads
-- it. An ID card or licence photo is 50-300 KB; 5 MB is refused. A real deployment with
-- millions of cases would move the bytes to an object store and keep its key here
-- (app.certifications.id_doc_ref / licence_doc_ref already name one).
CREATE TABLE app.certification_images (
    id                bigserial PRIMARY KEY,
    certification_id  bigint NOT NULL REFERENCES app.certifications(id),
    doc_code          text NOT NULL REFERENCES ops.cert_documents(code),
    content_type      text NOT NULL CHECK (content_type IN ('image/jpeg', 'image/png')),
    image             bytea NOT NULL CHECK (octet_length(image) BETWEEN 1 AND 5242880),
    width             integer NOT NULL CHECK (width BETWEEN 1 AND 10000),
    height            integer NOT NULL CHECK (height BETWEEN 1 AND 10000),
    uploaded_at       timestamptz NOT NULL,
    updated_at        timestamptz NOT NULL DEFAULT clock_timestamp(),
    UNIQUE (certification_id, doc_code)
);
CREATE INDEX ON app.certification_images (updated_at);
CREATE TRIGGER stamp_updated_at BEFORE INSERT OR UPDATE ON app.certification_images
    FOR EACH ROW EXECUTE FUNCTION app.stamp_updated_at();

-- "Request information" may name several documents at once. requested_doc keeps the first
-- of them for whatever read the one column before; a case decided before this migration
-- has only requested_doc, and readers take coalesce(requested_docs, ARRAY[requested_doc]).
ALTER TABLE app.certifications ADD COLUMN requested_docs text[]
    CHECK (requested_docs IS NULL OR cardinality(requested_docs) BETWEEN 1 AND 10);
