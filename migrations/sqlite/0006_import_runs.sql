-- Every run of a configured import source: scheduled or started by hand.
CREATE TABLE import_runs (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    source       TEXT   NOT NULL,
    trigger      TEXT   NOT NULL,
    started_at   TEXT NOT NULL,
    finished_at  TEXT,
    status       TEXT   NOT NULL,
    rows_read    BIGINT NOT NULL DEFAULT 0,
    months       TEXT   NOT NULL DEFAULT '',
    error        TEXT   NOT NULL DEFAULT ''
);
CREATE INDEX import_runs_source ON import_runs (source, started_at);
