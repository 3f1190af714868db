-- Business metrics (orders, deployments, active customers): one value per
-- metric, scope and day or month. `scope` is '' for the organisation, else
-- `team:NAME`, `group:NAME` or `environment:NAME`; `period` is `day` or
-- `month` (a month's value is stored on its first day). Values are
-- NUMERIC, compared and aggregated in Rust.
CREATE TABLE metric_points (
    metric      TEXT NOT NULL,
    scope       TEXT NOT NULL,
    period      TEXT NOT NULL,
    day         DATE NOT NULL,
    month       TEXT NOT NULL,
    value       NUMERIC NOT NULL,
    updated_at  TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (metric, scope, period, day)
);
CREATE INDEX metric_points_month ON metric_points (metric, month);

-- Each change of a metric's points in a month, counted: when unit costs of
-- that metric and month last changed.
CREATE TABLE metric_changes (
    metric      TEXT NOT NULL,
    month       TEXT NOT NULL,
    changed_at  TIMESTAMPTZ NOT NULL,
    version     BIGINT NOT NULL,
    PRIMARY KEY (metric, month)
);
