-- The loan portfolio mart (issue 19, the portfolio page): rebuilt whole by the system jobs'
-- step `loan_portfolio` (console/finance/portfolio_mart.py, under its advisory lock) from the
-- raw history in fin.loans and fin.loan_repayments, so any past month can be asked again and
-- checked with independent SQL over those two tables.
--
-- Definitions (console/finance/money.py's rules, applied at a past day):
--   * snapshot day of a month = its last day, or the build's day (Shanghai) for the month in
--     progress;
--   * outstanding principal at a day = principal − repayments to principal received (Shanghai
--     day of received_at) on or before it;
--   * DPD at a day = day − due_date while outstanding principal > 0, else 0 (a repayment goes
--     to interest first, so no interest is left unpaid once the principal is); bucket as
--     money.bucket; state = the bucket, or 'closed' once the principal is all repaid;
--   * default = DPD above the settings' threshold (90): the default day is due + 91, when the
--     principal is not all repaid by the end of that day. A default stays a default (a later
--     repayment closes the loan, it does not undo the default in the vintage);
--   * loss = outstanding principal of loans in default at the build's day (nothing is written
--     off in fin: a defaulted loan stays open for collection, its whole principal at risk).

-- One row per disbursed loan and month, from its origination month (Shanghai month of
-- disbursement) to the month it closed (the exit, inclusive) or the build's month.
CREATE TABLE mart.loan_month_end (
    month              date NOT NULL,          -- first day of the month
    as_of              date NOT NULL,          -- the snapshot day
    loan_id            bigint NOT NULL,
    merchant_id        bigint NOT NULL,
    grade              text NOT NULL,
    origination_month  date NOT NULL,
    mob                smallint NOT NULL CHECK (mob >= 0),   -- months on book
    principal          numeric(14,2) NOT NULL,
    outstanding        numeric(14,2) NOT NULL CHECK (outstanding >= 0),
    dpd                integer NOT NULL CHECK (dpd >= 0),
    state              text NOT NULL CHECK (state IN ('current','dpd_1_30','dpd_31_60',
                                                      'dpd_61_90','dpd_90p','closed')),
    defaulted          boolean NOT NULL,       -- in default on or before as_of
    PRIMARY KEY (month, loan_id)
);
CREATE INDEX loan_month_end_loan_idx ON mart.loan_month_end (loan_id, month);

-- Vintage curves: per origination month and months on book (0 = the origination month), the
-- loans disbursed in that month and how many had defaulted by that month's snapshot day.
CREATE TABLE mart.loan_vintages (
    origination_month  date NOT NULL,
    mob                smallint NOT NULL CHECK (mob >= 0),
    loans              integer NOT NULL CHECK (loans > 0),
    principal          numeric(16,2) NOT NULL,
    defaulted_loans    integer NOT NULL CHECK (defaulted_loans >= 0 AND defaulted_loans <= loans),
    defaulted_principal numeric(16,2) NOT NULL,
    default_rate       numeric(7,4) NOT NULL,  -- defaulted_loans / loans, cumulative
    PRIMARY KEY (origination_month, mob)
);

-- Roll rates: loans open (not closed) at the end of the month before `month`, by their state
-- then and their state at `month`'s snapshot day ('closed' = repaid, the exit).
CREATE TABLE mart.loan_roll_rates (
    month              date NOT NULL,          -- the month rolled into (M+1)
    from_state         text NOT NULL,
    to_state           text NOT NULL,
    loans              integer NOT NULL CHECK (loans > 0),
    outstanding        numeric(16,2) NOT NULL, -- at the end of the month before
    PRIMARY KEY (month, from_state, to_state)
);

-- Per loan grade (the grade the loan was granted at), at the build's day.
CREATE TABLE mart.loan_grade_summary (
    grade                 text PRIMARY KEY,
    loans_disbursed       integer NOT NULL,
    principal_disbursed   numeric(16,2) NOT NULL,
    loans_open            integer NOT NULL,
    outstanding           numeric(16,2) NOT NULL,   -- outstanding principal of open loans
    performing            numeric(16,2) NOT NULL,   -- …of those not in default (the EL's exposure)
    defaulted_loans       integer NOT NULL,          -- open loans in default
    loss                  numeric(16,2) NOT NULL,   -- outstanding principal of those
    interest_received     numeric(16,2) NOT NULL,   -- repayments to interest, on or before the day
    interest_accrued      numeric(16,2) NOT NULL    -- interest accrued on the loans (nightly run)
);

-- Concentration of open outstanding principal by borrower, its city, and the car's brand.
CREATE TABLE mart.loan_concentration (
    dimension          text NOT NULL CHECK (dimension IN ('merchant','city','brand')),
    key_id             bigint NOT NULL,
    name               text NOT NULL,
    loans              integer NOT NULL,
    outstanding        numeric(16,2) NOT NULL,
    PRIMARY KEY (dimension, key_id)
);
CREATE INDEX loan_concentration_top_idx ON mart.loan_concentration (dimension, outstanding DESC);

-- Each rebuild: the page's freshness stamp (the newest row), with what it saw.
CREATE TABLE mart.loan_portfolio_builds (
    id                 bigserial PRIMARY KEY,
    as_of              date NOT NULL,
    default_dpd        integer NOT NULL,
    started_at         timestamptz NOT NULL,
    finished_at        timestamptz NOT NULL DEFAULT clock_timestamp(),
    loans              integer NOT NULL,
    snapshot_rows      integer NOT NULL,
    newest_source      timestamptz           -- the newest disbursement or repayment read
);

COMMENT ON TABLE mart.loan_month_end IS
    'Month-end snapshots per disbursed loan, rebuilt from fin.loans and fin.loan_repayments (issue 19).';
