-- The environment of each direct allocated amount (the rules'
-- `[environment]` tag, `unspecified` without it); empty for pool shares,
-- which reports attribute to a team's environments, and for amounts
-- allocated before environments existed (read as `unspecified`).
ALTER TABLE allocations ADD COLUMN environment TEXT NOT NULL DEFAULT '';
ALTER TABLE billing_allocations ADD COLUMN environment TEXT NOT NULL DEFAULT '';
