-- Allocated amounts remember the shared pool they came from ('' = direct).
ALTER TABLE allocations ADD COLUMN pool TEXT NOT NULL DEFAULT '';
