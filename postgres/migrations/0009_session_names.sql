-- Sessions are found by their organisation and the id the API knows them by
-- (arena.Session.Name), in one look-up. Sessions stored before ids were per
-- organisation were keyed by that id alone and had no name: they take their
-- id as their name, in the document too, so that one form of id remains.
UPDATE sessions SET doc = jsonb_set(doc, '{name}', to_jsonb(id))
    WHERE coalesce(doc->>'name', '') = '';

ALTER TABLE sessions ADD COLUMN name text NOT NULL DEFAULT '';
UPDATE sessions SET name = doc->>'name';

-- Unique: an organisation's id names one session, stopped ones included.
CREATE UNIQUE INDEX sessions_org_name ON sessions (org_id, name);
