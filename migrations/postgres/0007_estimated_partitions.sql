-- Partitions whose figures the provider marked as estimated (Cost Explorer's
-- recent days): imported again until they are final.
ALTER TABLE billing_partitions ADD COLUMN estimated BOOLEAN NOT NULL DEFAULT FALSE;
