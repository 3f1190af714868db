-- Usage metrics per day, team and metric: the weights of `usage` splits.
CREATE TABLE usage_metrics (
    day       DATE    NOT NULL,
    team      TEXT    NOT NULL,
    metric    TEXT    NOT NULL,
    quantity  NUMERIC NOT NULL,
    PRIMARY KEY (day, team, metric)
);
