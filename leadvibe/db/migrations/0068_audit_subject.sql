-- The name of what a change touched, as it was when the request came (an API credential's, a ruleset's, a
-- segment's...): the path names it by an id, which no screen shows once it is deleted.
ALTER TABLE audit_logs ADD COLUMN subject TEXT;
