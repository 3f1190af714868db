-- What each (billing account, billing period) holds, to tell a restatement
-- from a re-import of identical data.
ALTER TABLE billing_partitions ADD COLUMN digest TEXT NOT NULL DEFAULT '';

-- When the cost lines of a month last changed: an allocation older than
-- this is stale.
CREATE TABLE month_changes (
    month       TEXT PRIMARY KEY,
    changed_at  TEXT NOT NULL
);
