-- Organisations become tenants: they have an environment, users, tokens
-- issued to those users that can be revoked and rate limited, and
-- applications of their own, which used to live in the config file alone.

-- Organisations made before environments existed are the installation's
-- production ones. When they were made was not recorded: 0, the zero time.
ALTER TABLE organizations ADD COLUMN environment TEXT NOT NULL DEFAULT 'production';
ALTER TABLE organizations ADD COLUMN created_at INTEGER NOT NULL DEFAULT 0;

-- A user's id is unique across organisations, its email within its own.
-- The index of UNIQUE (org_id, email) also serves ListUsers, which lists
-- one organisation's users by email. UNIQUE (org_id, id) adds nothing to
-- the primary key's uniqueness: it is what tokens' foreign key refers to.
CREATE TABLE users (
    id         TEXT PRIMARY KEY,
    org_id     TEXT NOT NULL REFERENCES organizations (id),
    email      TEXT NOT NULL,
    name       TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    UNIQUE (org_id, email),
    UNIQUE (org_id, id)
) STRICT;

-- Tokens are rebuilt rather than altered: ALTER TABLE ... ADD COLUMN cannot
-- add a foreign key of two columns, and (org_id, user_id) is what keeps a
-- token from being issued to another organisation's user. A token whose
-- user_id is NULL names no user, and SQLite does not check the key then.
-- Nothing refers to tokens, so dropping the old table checks no key.
CREATE TABLE tokens_new (
    id         TEXT PRIMARY KEY,
    org_id     TEXT NOT NULL REFERENCES organizations (id),
    user_id    TEXT, -- NULL: issued to no user
    name       TEXT NOT NULL,
    hash       TEXT NOT NULL UNIQUE,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL, -- 0: never
    revoked_at INTEGER NOT NULL DEFAULT 0, -- 0: not revoked
    scopes     TEXT NOT NULL DEFAULT '',
    rate_limit REAL NOT NULL DEFAULT 0, -- requests per second; 0: the installation's default
    rate_burst INTEGER NOT NULL DEFAULT 0,
    FOREIGN KEY (org_id, user_id) REFERENCES users (org_id, id)
) STRICT;

INSERT INTO tokens_new (id, org_id, name, hash, created_at, expires_at, scopes)
    SELECT id, org_id, name, hash, created_at, expires_at, scopes FROM tokens;
DROP TABLE tokens;
ALTER TABLE tokens_new RENAME TO tokens;

-- ListTokens lists one organisation's tokens by creation time then id.
-- tokens_user finds a user's tokens when the user is removed.
CREATE INDEX tokens_org ON tokens (org_id, created_at, id);
CREATE INDEX tokens_user ON tokens (org_id, user_id) WHERE user_id IS NOT NULL;

-- Scopes used to list what a token may do beyond its organisation's Session
-- API, which every token had; now they list all it may do. A token without
-- scopes keeps exactly the Session API. A token with admin (the bootstrap
-- and `arena dev` tokens, see 0003) operated the installation, which is
-- now the operator scope, admin being confined to its own organisation.
UPDATE tokens SET scopes = 'sessions:read sessions:write logs artifacts usage' WHERE trim(scopes) = '';
UPDATE tokens SET scopes = scopes || ' operator'
    WHERE instr(' ' || scopes || ' ', ' admin ') > 0 AND instr(' ' || scopes || ' ', ' operator ') = 0;

-- Applications, keyed by their organisation and name. As with sessions, the
-- columns are the key and what is not part of the template (where it is
-- defined, when it was made and changed); the template itself is the JSON
-- document doc. The sealed registry credentials, opaque bytes that only the
-- control plane can open, are a column of their own, kept out of the
-- document: the plaintext credentials are never stored at all.
CREATE TABLE applications (
    org_id          TEXT    NOT NULL REFERENCES organizations (id),
    name            TEXT    NOT NULL,
    source          TEXT    NOT NULL,
    created_at      INTEGER NOT NULL,
    updated_at      INTEGER NOT NULL,
    sealed_registry BLOB, -- NULL: a public registry
    doc             TEXT    NOT NULL,
    PRIMARY KEY (org_id, name)
) STRICT;
