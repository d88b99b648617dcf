-- What a token may do, as a space-separated list of scopes ("admin", ...).
ALTER TABLE tokens ADD COLUMN scopes TEXT NOT NULL DEFAULT '';

-- The tokens `arena dev` made before scopes existed operate their
-- single-user installation: they keep doing so.
UPDATE tokens SET scopes = 'admin' WHERE name = 'dev';
