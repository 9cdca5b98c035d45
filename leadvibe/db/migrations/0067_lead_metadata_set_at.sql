-- When a lead's metadata was last written through the API (POST/PUT/PATCH of the lead, epoch ms; NULL: never).
-- Replaying the profile mappings over the lead's history (`POST /admin/profile-mappings/apply`) leaves a property
-- the lead already has when no event after that write carries a value for it: the person's edit came later.
ALTER TABLE leads ADD COLUMN metadata_set_at INTEGER;
