-- What a token may do, as a space-separated list of scopes ("admin", ...).
ALTER TABLE tokens ADD COLUMN scopes TEXT NOT NULL DEFAULT '';
