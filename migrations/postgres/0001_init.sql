-- allot schema v1 (PostgreSQL). Money is NUMERIC: exact, any scale.

CREATE TABLE imports (
    id            BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    source_kind   TEXT        NOT NULL,
    files         TEXT        NOT NULL,
    imported_at   TIMESTAMPTZ NOT NULL,
    rows_read     BIGINT      NOT NULL,
    lines_stored  BIGINT      NOT NULL
);

CREATE TABLE billing_partitions (
    billing_account_id    TEXT   NOT NULL,
    billing_period_start  DATE   NOT NULL,
    import_id             BIGINT NOT NULL REFERENCES imports (id),
    PRIMARY KEY (billing_account_id, billing_period_start)
);

CREATE TABLE cost_lines (
    import_id             BIGINT      NOT NULL REFERENCES imports (id),
    charge_date           DATE        NOT NULL,
    charge_period_start   TIMESTAMPTZ NOT NULL,
    charge_period_end     TIMESTAMPTZ NOT NULL,
    billing_period_start  DATE        NOT NULL,
    partition_period      DATE     NOT NULL,
    billing_period_end    DATE        NOT NULL,
    billing_account_id    TEXT        NOT NULL,
    billing_account_name  TEXT,
    sub_account_id        TEXT,
    sub_account_name      TEXT,
    provider              TEXT        NOT NULL,
    service_name          TEXT,
    service_category      TEXT,
    region                TEXT,
    resource_id           TEXT,
    charge_category       TEXT        NOT NULL,
    charge_class          TEXT,
    currency              TEXT        NOT NULL,
    billed_cost           NUMERIC     NOT NULL,
    effective_cost        NUMERIC     NOT NULL,
    list_cost             NUMERIC     NOT NULL,
    contracted_cost       NUMERIC,
    consumed_quantity     NUMERIC,
    consumed_unit         TEXT,
    tags                  TEXT        NOT NULL,
    source_rows           BIGINT      NOT NULL
);
CREATE INDEX cost_lines_partition ON cost_lines (billing_account_id, partition_period);
CREATE INDEX cost_lines_charge_date ON cost_lines (charge_date);

CREATE TABLE allocation_runs (
    month         TEXT PRIMARY KEY,
    allocated_at  TIMESTAMPTZ NOT NULL,
    cost_basis    TEXT        NOT NULL,
    lines         BIGINT      NOT NULL,
    known_teams   TEXT        NOT NULL
);

CREATE TABLE allocations (
    month         TEXT    NOT NULL REFERENCES allocation_runs (month) ON DELETE CASCADE,
    day           DATE    NOT NULL,
    owner         TEXT    NOT NULL,
    service_name  TEXT    NOT NULL,
    currency      TEXT    NOT NULL,
    rule          TEXT    NOT NULL,
    amount        NUMERIC NOT NULL,
    lines         BIGINT  NOT NULL
);
CREATE INDEX allocations_month ON allocations (month);
CREATE INDEX allocations_owner_day ON allocations (owner, day);
