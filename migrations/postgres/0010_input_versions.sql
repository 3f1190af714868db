-- Staleness by version, not by clock: every change to a month's inputs
-- (its cost lines, its usage figures) adds one to the month's version in
-- the transaction that makes the change, and an allocation records the
-- version it read before reading the month. An allocation is stale when
-- the month's version is now higher, whatever the interleaving.
ALTER TABLE month_changes ADD COLUMN version BIGINT NOT NULL DEFAULT 1;
ALTER TABLE allocation_runs ADD COLUMN input_version BIGINT NOT NULL DEFAULT 0;
-- Allocations made after their month's last change were fresh: they read version 1.
UPDATE allocation_runs SET input_version = 1
WHERE NOT EXISTS (
    SELECT 1 FROM month_changes m
    WHERE m.month = allocation_runs.month AND m.changed_at > allocation_runs.allocated_at
);

-- A run records the import it stored, in the import's own transaction, so
-- a run interrupted after that says its data was stored. A running run
-- renews its lease; one whose lease lapsed was cut short by a dead process.
ALTER TABLE import_runs ADD COLUMN import_id BIGINT;
ALTER TABLE import_runs ADD COLUMN lease_until TIMESTAMPTZ;
