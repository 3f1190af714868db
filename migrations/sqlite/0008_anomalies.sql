-- Allocated amounts remember their billing account, for per-account series.
ALTER TABLE allocations ADD COLUMN billing_account_id TEXT NOT NULL DEFAULT '';
-- ... and whether they are a day's share of a charge spanning several days.
ALTER TABLE allocations ADD COLUMN recurring BOOLEAN NOT NULL DEFAULT FALSE;
-- The last day a month's data reaches (the latest charge start): daily
-- series stop there instead of reading missing days as zero.
ALTER TABLE allocation_runs ADD COLUMN data_through TEXT;
CREATE INDEX allocations_day ON allocations (day);

-- Anomalies found by detection: one per run of anomalous days of a series.
-- A later detection updates the stored anomaly of the same series and
-- direction whose days overlap (or touch) its own; `anomaly_key` (series,
-- direction, first day) is kept for reference. Status: open, acknowledged,
-- or withdrawn (restated data no longer shows it; kept, never deleted); money is canonical decimal TEXT.
CREATE TABLE anomalies (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    anomaly_key   TEXT    NOT NULL,
    scope         TEXT    NOT NULL,
    team          TEXT    NOT NULL,
    service_name  TEXT    NOT NULL,
    account       TEXT    NOT NULL,
    currency      TEXT    NOT NULL,
    direction     TEXT    NOT NULL,
    first_day     TEXT    NOT NULL,
    last_day      TEXT    NOT NULL,
    actual        TEXT    NOT NULL,
    expected      TEXT    NOT NULL,
    impact        TEXT    NOT NULL,
    score         TEXT    NOT NULL,
    days          TEXT    NOT NULL,
    contributors  TEXT    NOT NULL,
    cost_basis    TEXT    NOT NULL,
    status        TEXT    NOT NULL,
    detected_at   TEXT    NOT NULL,
    updated_at    TEXT    NOT NULL,
    acknowledged_at TEXT,
    ack_note      TEXT    NOT NULL DEFAULT ''
);
CREATE INDEX anomalies_days ON anomalies (last_day, first_day);
CREATE INDEX anomalies_key ON anomalies (anomaly_key);

-- The webhook deliveries owed for new anomalies: written in the same
-- transaction as the anomaly, so a notification is never lost or sent twice
-- by a restart; marked sent once the receiver answered 2xx.
CREATE TABLE anomaly_notifications (
    anomaly_id    INTEGER NOT NULL REFERENCES anomalies (id) ON DELETE CASCADE,
    webhook       TEXT    NOT NULL,
    status        TEXT    NOT NULL,
    attempts      INTEGER NOT NULL DEFAULT 0,
    next_attempt_at TEXT  NOT NULL,
    last_error    TEXT    NOT NULL DEFAULT '',
    -- The claim of the delivery pass sending it (status `sending`), so two
    -- passes never send one alert twice; an expired claim is taken over.
    lease         TEXT    NOT NULL DEFAULT '',
    sent_at       TEXT,
    PRIMARY KEY (anomaly_id, webhook)
);

-- Taken (written) first by every detection that stores anomalies, so two
-- detections never interleave.
CREATE TABLE anomaly_lock (
    id        INTEGER PRIMARY KEY,
    taken_at  TEXT NOT NULL
);
