-- Sessions are found by their organisation and the id the API knows them by
-- (arena.Session.Name), in one look-up. Most are keyed by SessionKey of the
-- two, and found by that key. Sessions stored before ids were per
-- organisation are keyed by their API id alone and had no name: they take
-- their id as their name, in the document and in the name column, which
-- holds the name of a session whose key is not SessionKey's, and is empty
-- for every other. Its index is partial, so that it costs nothing to the
-- sessions created from now on.
ALTER TABLE sessions ADD COLUMN name TEXT NOT NULL DEFAULT '';
UPDATE sessions SET name = id, doc = json_set(doc, '$.name', id)
    WHERE coalesce(json_extract(doc, '$.name'), '') = '';
CREATE UNIQUE INDEX sessions_org_name ON sessions (org_id, name) WHERE name <> '';
