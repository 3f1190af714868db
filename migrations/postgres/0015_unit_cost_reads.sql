-- What unit costs read, kept small. Figures here keep their scale (`3.00`
-- stays `3.00`, as they were computed): decimal TEXT on SQLite,
-- NUMERIC on PostgreSQL.

-- Each charge month's showback as the engine rounds it from the month's
-- stored allocation, by team, by team and service and by team and
-- environment, replaced in the transaction that stores the allocation.
-- `grouped_by` is `team`, `team,service` or `team,environment`; `seq` the
-- row's place in the showback; `detail` its service or environment ('' by
-- team). A row's shared cost is its total less its direct cost.
CREATE TABLE allocation_reports (
    grouped_by   TEXT    NOT NULL,
    month        TEXT    NOT NULL,
    seq          BIGINT  NOT NULL,
    owner        TEXT    NOT NULL,
    detail       TEXT    NOT NULL,
    currency     TEXT    NOT NULL,
    direct_cost  NUMERIC NOT NULL,
    total_cost   NUMERIC NOT NULL,
    PRIMARY KEY (grouped_by, month, seq)
);
CREATE INDEX allocation_reports_owner ON allocation_reports (grouped_by, owner, month);
CREATE INDEX allocation_reports_detail ON allocation_reports (grouped_by, detail, month);

-- Each of those showbacks' rounded total per currency.
CREATE TABLE allocation_report_totals (
    month       TEXT    NOT NULL,
    grouped_by  TEXT    NOT NULL,
    currency    TEXT    NOT NULL,
    total       NUMERIC NOT NULL,
    PRIMARY KEY (month, grouped_by, currency)
);

-- The format of a run's stored reports: 0 for none (months allocated
-- before this migration, whose reports are computed from their rows until
-- they are allocated again).
ALTER TABLE allocation_runs ADD COLUMN reports_format BIGINT NOT NULL DEFAULT 0;

-- Each metric's month value per scope, by each aggregation (`sum`,
-- `average`, `last`: the declared one is chosen when read, so a changed
-- declaration needs nothing stored again), as `engine::unit_cost` makes it
-- from the month's points, written in the transaction that stores them.
-- `from_month_point` when the month has a month point (whose value all
-- three then are).
CREATE TABLE metric_months (
    metric            TEXT    NOT NULL,
    scope             TEXT    NOT NULL,
    month             TEXT    NOT NULL,
    from_month_point  BOOLEAN NOT NULL,
    sum_value         NUMERIC NOT NULL,
    average_value     NUMERIC NOT NULL,
    last_value        NUMERIC NOT NULL,
    PRIMARY KEY (month, metric, scope)
);
CREATE INDEX metric_months_scope ON metric_months (metric, scope, month);

-- The format of a metric's month's `metric_months` rows: 0 for none (months
-- stored before this migration, whose values are computed from their
-- points until points of theirs are stored again).
ALTER TABLE metric_changes ADD COLUMN summary_format BIGINT NOT NULL DEFAULT 0;

-- One scope's points of a metric, by month.
CREATE INDEX metric_points_scope ON metric_points (metric, scope, month);
