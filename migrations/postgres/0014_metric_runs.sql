-- A run of a `metrics-csv` source records that its points were stored in
-- the transaction that stores them, as a billing import records its
-- import: a run killed afterwards then says its data was stored.
ALTER TABLE import_runs ADD COLUMN metrics_stored BOOLEAN NOT NULL DEFAULT FALSE;
