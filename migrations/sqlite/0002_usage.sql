-- Usage metrics per day, team and metric: the weights of `usage` splits.
-- Quantities are canonical decimal TEXT, summed in Rust.
CREATE TABLE usage_metrics (
    day       TEXT NOT NULL,
    team      TEXT NOT NULL,
    metric    TEXT NOT NULL,
    quantity  TEXT NOT NULL,
    PRIMARY KEY (day, team, metric)
);
