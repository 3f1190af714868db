-- allot schema v1 (SQLite). Money is stored as canonical decimal TEXT and is
-- only ever summed in Rust: SQLite would turn it into floats.

CREATE TABLE imports (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    source_kind   TEXT    NOT NULL,
    files         TEXT    NOT NULL,
    imported_at   TEXT    NOT NULL,
    rows_read     INTEGER NOT NULL,
    lines_stored  INTEGER NOT NULL
);

-- Which import currently owns each (billing account, billing period). Rows of a
-- neighbouring billing period that an export carries belong to the export's own
-- period (`cost_lines.partition_period`), so re-importing one export never
-- deletes another's rows.
CREATE TABLE billing_partitions (
    billing_account_id    TEXT    NOT NULL,
    billing_period_start  TEXT    NOT NULL,
    import_id             INTEGER NOT NULL REFERENCES imports (id),
    PRIMARY KEY (billing_account_id, billing_period_start)
);

CREATE TABLE cost_lines (
    import_id             INTEGER NOT NULL REFERENCES imports (id),
    charge_date           TEXT    NOT NULL,
    charge_period_start   TEXT    NOT NULL,
    charge_period_end     TEXT    NOT NULL,
    billing_period_start  TEXT    NOT NULL,
    partition_period      TEXT     NOT NULL,
    billing_period_end    TEXT    NOT NULL,
    billing_account_id    TEXT    NOT NULL,
    billing_account_name  TEXT,
    sub_account_id        TEXT,
    sub_account_name      TEXT,
    provider              TEXT    NOT NULL,
    service_name          TEXT,
    service_category      TEXT,
    region                TEXT,
    resource_id           TEXT,
    charge_category       TEXT    NOT NULL,
    charge_class          TEXT,
    currency              TEXT    NOT NULL,
    billed_cost           TEXT    NOT NULL,
    effective_cost        TEXT    NOT NULL,
    list_cost             TEXT    NOT NULL,
    contracted_cost       TEXT,
    consumed_quantity     TEXT,
    consumed_unit         TEXT,
    tags                  TEXT    NOT NULL,
    source_rows           INTEGER NOT NULL
);
CREATE INDEX cost_lines_partition ON cost_lines (billing_account_id, partition_period);
CREATE INDEX cost_lines_charge_date ON cost_lines (charge_date);

CREATE TABLE allocation_runs (
    month         TEXT PRIMARY KEY,
    allocated_at  TEXT    NOT NULL,
    cost_basis    TEXT    NOT NULL,
    lines         INTEGER NOT NULL,
    known_teams   TEXT    NOT NULL
);

-- Allocated amounts, exact, per month, owner, service, day, currency and rule.
CREATE TABLE allocations (
    month         TEXT    NOT NULL REFERENCES allocation_runs (month) ON DELETE CASCADE,
    day           TEXT    NOT NULL,
    owner         TEXT    NOT NULL,
    service_name  TEXT    NOT NULL,
    currency      TEXT    NOT NULL,
    rule          TEXT    NOT NULL,
    amount        TEXT    NOT NULL,
    lines         INTEGER NOT NULL
);
CREATE INDEX allocations_month ON allocations (month);
CREATE INDEX allocations_owner_day ON allocations (owner, day);
