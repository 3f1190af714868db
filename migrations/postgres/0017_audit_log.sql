-- The audit log: who did what, when, from where. Append-only: allot has no
-- statement that updates or deletes a row of it.
CREATE TABLE audit_log (
    id       BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at       TIMESTAMPTZ NOT NULL,
    actor    TEXT NOT NULL,
    role     TEXT NOT NULL,
    client   TEXT NOT NULL,
    action   TEXT NOT NULL,
    target   TEXT NOT NULL,
    details  TEXT NOT NULL
);
CREATE INDEX audit_log_at ON audit_log (at);
