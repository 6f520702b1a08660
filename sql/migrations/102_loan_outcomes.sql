-- Loan outcomes (issue 19): an order loan 90+ days past due is the scorecard's "bad" outcome.
--
-- fin.loans (migration 096) is the loans' real life: the nightly accrual sets default_at, the
-- first Shanghai day the loan was more than settings.loan_default_dpd (90) days past due, and
-- keeps it when the loan is repaid later. app.loan_applications is the marketplace's older,
-- outcome-only record of loans from before the finance desk: its 'defaulted' rows stay bad
-- outcomes (they are history the development sample's earlier windows rest on), dated when
-- they were closed.
--
-- etl.clean_loans: fin.loans less the rows the running ETL job quarantined, as every other
-- source's clean view (migrations 040 and 045); the merchant_features job stages fin.loans
-- (etl/sources.py) so a default the accrual sets between two runs recomputes its borrower.
CREATE VIEW etl.clean_loans AS
SELECT s.* FROM fin.loans s
WHERE s.id IS NULL
   OR s.id NOT IN (SELECT x.row_key::bigint FROM etl.excluded_rows x
                   WHERE x.job = current_setting('etl.job', true)
                     AND x.source_table = 'fin.loans' AND x.row_key <> '<null>');

-- etl.loan_defaults: one row per defaulted loan, the one definition of a loan default that
-- the features mart (sql/etl/merchant_features.sql), the point-in-time labels
-- (sql/queries/credit_features_as_of.sql), model monitoring (credit_performance_counts.sql)
-- and the override outcomes read. ``at`` is when the default happened: for an order loan the
-- start (Shanghai midnight) of its default day, so a default on day D falls after features
-- taken as of D (the label of D, never an input of D) and before those taken as of D + 1;
-- for an old record its closing time (else its due time, else its application).
-- kind: 'order_loan' (fin.loans, 90+ DPD) or 'loan_record' (app.loan_applications).
CREATE VIEW etl.loan_defaults AS
SELECT l.merchant_id, l.id AS loan_id, 'order_loan'::text AS kind,
       l.default_at::timestamp AT TIME ZONE 'Asia/Shanghai' AS at
FROM etl.clean_loans l
WHERE l.default_at IS NOT NULL
UNION ALL
SELECT la.merchant_id, la.id, 'loan_record'::text,
       coalesce(la.closed_at, la.due_at, la.applied_at)
FROM etl.clean_loan_applications la
WHERE la.status = 'defaulted';

-- The labels look a borrower's defaults up by merchant and time.
CREATE INDEX loans_default_idx ON fin.loans (merchant_id, default_at) WHERE default_at IS NOT NULL;
