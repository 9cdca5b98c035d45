-- Sample data turns account-based marketing on for an organization that holds no leads of its own (its demo
-- accounts answered 403 otherwise), and removing that OU's sample data turns it off again. abm_sample_unit names
-- the OU whose sample data turned it on; NULL when nothing did, or when an admin has changed the toggle since
-- (their choice then stays).
ALTER TABLE organizations ADD COLUMN abm_sample_unit TEXT;
