-- The invoice view: each month's allocation of the lines whose billing
-- period starts in it, at billed cost, beside the charge-month allocation
-- in `allocation_runs`. Same columns; `month` is the invoice month. An
-- import adds one to the version of the invoice months it changes as well
-- as their charge months, so both views go stale by the one version.
CREATE TABLE billing_allocation_runs (
    month          TEXT PRIMARY KEY,
    allocated_at   TEXT NOT NULL,
    cost_basis     TEXT   NOT NULL,
    lines          BIGINT NOT NULL,
    known_teams    TEXT   NOT NULL,
    data_through   TEXT,
    input_version  BIGINT NOT NULL
);

CREATE TABLE billing_allocations (
    month               TEXT    NOT NULL REFERENCES billing_allocation_runs (month) ON DELETE CASCADE,
    day                 TEXT    NOT NULL,
    owner               TEXT    NOT NULL,
    service_name        TEXT    NOT NULL,
    billing_account_id  TEXT    NOT NULL,
    currency            TEXT    NOT NULL,
    rule                TEXT    NOT NULL,
    pool                TEXT    NOT NULL,
    recurring           BOOLEAN NOT NULL,
    amount              TEXT NOT NULL,
    lines               BIGINT  NOT NULL
);
CREATE INDEX billing_allocations_month ON billing_allocations (month);

CREATE TABLE billing_allocation_shares (
    month           TEXT    NOT NULL REFERENCES billing_allocation_runs (month) ON DELETE CASCADE,
    pool            TEXT    NOT NULL,
    method          TEXT    NOT NULL,
    currency        TEXT    NOT NULL,
    target          TEXT    NOT NULL,
    target_is_pool  BOOLEAN NOT NULL,
    weight          TEXT NOT NULL,
    total_weight    TEXT NOT NULL,
    amount          TEXT NOT NULL,
    fallback        TEXT    NOT NULL
);
CREATE INDEX billing_allocation_shares_month ON billing_allocation_shares (month);

-- Reading an invoice month's lines.
CREATE INDEX cost_lines_billing_period ON cost_lines (billing_period_start);

-- Months allocated before this migration have no invoice view yet: make
-- every month with cost lines (by charge or by invoice) stale, so the next
-- scheduled run (or `allot allocate`) allocates both views.
UPDATE month_changes SET version = version + 1;
INSERT INTO month_changes (month, changed_at, version)
SELECT DISTINCT substr(billing_period_start, 1, 7), strftime('%Y-%m-%dT%H:%M:%SZ', 'now'), 1 FROM cost_lines
WHERE substr(billing_period_start, 1, 7) NOT IN (SELECT month FROM month_changes);
