-- GET /leads/search finds leads by the words of their name and company as well as by id and alias prefixes:
-- `lead_search`, a full-text index (FTS5) of the live leads that have a name or a company, kept by the triggers
-- below in the transaction of every write of a lead's metadata, merge or deletion, and filled here for the leads
-- stored before it. SQLite's own tokenizer splits the words and folds their case and accents, on both sides of a
-- search, so the SQL-only backfill and the live writes index the same words. Prefix indexes of 1 to 3 characters
-- keep a short prefix ("gr") one doclist instead of a merge of every word that starts with it.
--
-- One row per lead, its rowid the lead's rowid: `unit` is the hex form of the OU id (one token, so a search names
-- exactly its OU in the match and another OU's leads are never candidates), `name` the metadata `name`,
-- `first_name` and `last_name` (each when it is a string: what `display_name` reads), `company` the metadata
-- `company` (a string). Contentless: the text lives in `leads.metadata`; `contentless_delete` lets a row go by rowid.
CREATE VIRTUAL TABLE lead_search USING fts5(
    unit, name, company,
    content = '', contentless_delete = 1,
    tokenize = 'unicode61 remove_diacritics 2',
    prefix = '1 2 3'
);

-- What lead_search holds of each live lead that has a name or a company (stored metadata is always JSON; the
-- json_valid test keeps a row written by hand from failing the write that touches it).
CREATE VIEW lead_search_source AS
    SELECT rowid, unit, name, company FROM (
        SELECT rowid, hex(unit_id) AS unit,
               nullif(concat_ws(' ',
                   iif(json_type(metadata, '$.name') = 'text', metadata ->> '$.name', NULL),
                   iif(json_type(metadata, '$.first_name') = 'text', metadata ->> '$.first_name', NULL),
                   iif(json_type(metadata, '$.last_name') = 'text', metadata ->> '$.last_name', NULL)), '') AS name,
               iif(json_type(metadata, '$.company') = 'text', metadata ->> '$.company', NULL) AS company
        FROM leads WHERE merged_into IS NULL AND metadata != '{}' AND json_valid(metadata))
    WHERE name IS NOT NULL OR company IS NOT NULL;

INSERT INTO lead_search (rowid, unit, name, company) SELECT rowid, unit, name, company FROM lead_search_source;

-- New leads are created with '{}' (events, POST /leads before its metadata is written): nothing to index.
CREATE TRIGGER lead_search_insert AFTER INSERT ON leads WHEN NEW.metadata != '{}' BEGIN
    INSERT INTO lead_search (rowid, unit, name, company)
        SELECT rowid, unit, name, company FROM lead_search_source WHERE rowid = NEW.rowid;
END;

CREATE TRIGGER lead_search_update AFTER UPDATE OF metadata, merged_into ON leads
    WHEN OLD.metadata IS NOT NEW.metadata OR OLD.merged_into IS NOT NEW.merged_into BEGIN
    DELETE FROM lead_search WHERE rowid = OLD.rowid;
    INSERT INTO lead_search (rowid, unit, name, company)
        SELECT rowid, unit, name, company FROM lead_search_source WHERE rowid = NEW.rowid;
END;

CREATE TRIGGER lead_search_delete AFTER DELETE ON leads BEGIN
    DELETE FROM lead_search WHERE rowid = OLD.rowid;
END;
