-- ETL speed at scale (see etl/README.md, "Speed").
--
-- The clean_* views keep a job's quarantined rows out of its marts. 040 compared keys as
-- text (x.row_key = s.id::text): every source row scanned paid an int-to-text cast and a text
-- hash probe, even with nothing excluded, about a third of the cost of a plain scan. The
-- same rule, probing the (small) set of excluded keys as bigints in a hashed subplan, costs
-- next to nothing per row. A row without an id (only possible upstream of a broken key)
-- never matched the text comparison, so it stays in, as before.

CREATE OR REPLACE VIEW etl.clean_merchants AS
SELECT s.* FROM app.merchants s
WHERE s.id IS NULL
   OR s.id NOT IN (SELECT x.row_key::bigint FROM etl.excluded_rows x
                   WHERE x.job = current_setting('etl.job', true)
                     AND x.source_table = 'app.merchants' AND x.row_key <> '<null>');

CREATE OR REPLACE VIEW etl.clean_certifications AS
SELECT s.* FROM app.certifications s
WHERE s.id IS NULL
   OR s.id NOT IN (SELECT x.row_key::bigint FROM etl.excluded_rows x
                   WHERE x.job = current_setting('etl.job', true)
                     AND x.source_table = 'app.certifications' AND x.row_key <> '<null>');

CREATE OR REPLACE VIEW etl.clean_listings AS
SELECT s.* FROM app.listings s
WHERE s.id IS NULL
   OR s.id NOT IN (SELECT x.row_key::bigint FROM etl.excluded_rows x
                   WHERE x.job = current_setting('etl.job', true)
                     AND x.source_table = 'app.listings' AND x.row_key <> '<null>');

CREATE OR REPLACE VIEW etl.clean_requests AS
SELECT s.* FROM app.requests s
WHERE s.id IS NULL
   OR s.id NOT IN (SELECT x.row_key::bigint FROM etl.excluded_rows x
                   WHERE x.job = current_setting('etl.job', true)
                     AND x.source_table = 'app.requests' AND x.row_key <> '<null>');

CREATE OR REPLACE VIEW etl.clean_matches AS
SELECT s.* FROM ops.matches s
WHERE s.id IS NULL
   OR s.id NOT IN (SELECT x.row_key::bigint FROM etl.excluded_rows x
                   WHERE x.job = current_setting('etl.job', true)
                     AND x.source_table = 'ops.matches' AND x.row_key <> '<null>');

CREATE OR REPLACE VIEW etl.clean_orders AS
SELECT s.* FROM app.orders s
WHERE s.id IS NULL
   OR s.id NOT IN (SELECT x.row_key::bigint FROM etl.excluded_rows x
                   WHERE x.job = current_setting('etl.job', true)
                     AND x.source_table = 'app.orders' AND x.row_key <> '<null>');

CREATE OR REPLACE VIEW etl.clean_payments AS
SELECT s.* FROM app.payments s
WHERE s.id IS NULL
   OR s.id NOT IN (SELECT x.row_key::bigint FROM etl.excluded_rows x
                   WHERE x.job = current_setting('etl.job', true)
                     AND x.source_table = 'app.payments' AND x.row_key <> '<null>');

CREATE OR REPLACE VIEW etl.clean_events AS
SELECT s.* FROM app.events s
WHERE s.id IS NULL
   OR s.id NOT IN (SELECT x.row_key::bigint FROM etl.excluded_rows x
                   WHERE x.job = current_setting('etl.job', true)
                     AND x.source_table = 'app.events' AND x.row_key <> '<null>');

CREATE OR REPLACE VIEW etl.clean_reviews AS
SELECT s.* FROM app.reviews s
WHERE s.id IS NULL
   OR s.id NOT IN (SELECT x.row_key::bigint FROM etl.excluded_rows x
                   WHERE x.job = current_setting('etl.job', true)
                     AND x.source_table = 'app.reviews' AND x.row_key <> '<null>');

CREATE OR REPLACE VIEW etl.clean_disputes AS
SELECT s.* FROM app.disputes s
WHERE s.id IS NULL
   OR s.id NOT IN (SELECT x.row_key::bigint FROM etl.excluded_rows x
                   WHERE x.job = current_setting('etl.job', true)
                     AND x.source_table = 'app.disputes' AND x.row_key <> '<null>');

CREATE OR REPLACE VIEW etl.clean_loan_applications AS
SELECT s.* FROM app.loan_applications s
WHERE s.id IS NULL
   OR s.id NOT IN (SELECT x.row_key::bigint FROM etl.excluded_rows x
                   WHERE x.job = current_setting('etl.job', true)
                     AND x.source_table = 'app.loan_applications' AND x.row_key <> '<null>');

CREATE OR REPLACE VIEW etl.clean_listing_flags AS
SELECT s.* FROM ops.listing_flags s
WHERE s.id IS NULL
   OR s.id NOT IN (SELECT x.row_key::bigint FROM etl.excluded_rows x
                   WHERE x.job = current_setting('etl.job', true)
                     AND x.source_table = 'ops.listing_flags' AND x.row_key <> '<null>');

CREATE OR REPLACE VIEW etl.clean_contact_log AS
SELECT s.* FROM ops.contact_log s
WHERE s.id IS NULL
   OR s.id NOT IN (SELECT x.row_key::bigint FROM etl.excluded_rows x
                   WHERE x.job = current_setting('etl.job', true)
                     AND x.source_table = 'ops.contact_log' AND x.row_key <> '<null>');
