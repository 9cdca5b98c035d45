-- A merged lead keeps its own name: a lead named by its first email alias took the name of a source whose alias
-- was seen first (or in the same worker batch, its address sorting first) once the merge moved that alias over.
-- `merged_from` is the lead an alias belonged to before a merge moved it (NULL: the lead's own); readers order a
-- lead's aliases own first, then by when they were first seen.
ALTER TABLE lead_aliases ADD COLUMN merged_from TEXT;
