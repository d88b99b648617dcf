-- The SQLite store's migration 0005 for PostgreSQL. Organisations become
-- tenants: they have an environment, users, tokens issued to those users
-- that can be revoked and rate limited, and applications of their own, which
-- used to live in the config file alone.

-- Organisations made before environments existed are the installation's
-- production ones. When they were made was not recorded: the zero time, as
-- SQLite's 0.
ALTER TABLE organizations
    ADD COLUMN environment text NOT NULL DEFAULT 'production',
    ADD COLUMN created_at timestamptz NOT NULL DEFAULT '0001-01-01 00:00:00+00';

-- A user's id is unique across organisations, its email within its own.
-- The index of UNIQUE (org_id, email) also serves ListUsers, which lists
-- one organisation's users by email. UNIQUE (org_id, id) adds nothing to
-- the primary key's uniqueness: it is what tokens' foreign key refers to.
CREATE TABLE users (
    id         text PRIMARY KEY,
    org_id     text NOT NULL REFERENCES organizations (id),
    email      text NOT NULL,
    name       text NOT NULL,
    created_at timestamptz NOT NULL,
    UNIQUE (org_id, email),
    UNIQUE (org_id, id)
);

-- The foreign key of (org_id, user_id) is what keeps a token from being
-- issued to another organisation's user. A token whose user_id is NULL
-- names no user, and the key is not checked then (MATCH SIMPLE).
ALTER TABLE tokens
    ADD COLUMN user_id text, -- NULL: issued to no user
    ADD COLUMN revoked_at timestamptz, -- NULL: not revoked
    ADD COLUMN rate_limit double precision NOT NULL DEFAULT 0, -- requests per second; 0: the installation's default
    ADD COLUMN rate_burst bigint NOT NULL DEFAULT 0,
    ADD FOREIGN KEY (org_id, user_id) REFERENCES users (org_id, id);

-- ListTokens lists one organisation's tokens by creation time then id.
-- tokens_user finds a user's tokens when the user is removed.
DROP INDEX tokens_org;
CREATE INDEX tokens_org ON tokens (org_id, created_at, id);
CREATE INDEX tokens_user ON tokens (org_id, user_id) WHERE user_id IS NOT NULL;

-- Scopes used to list what a token may do beyond its organisation's Session
-- API, which every token had; now they list all it may do. A token without
-- scopes keeps exactly the Session API. A token with admin (the bootstrap
-- and `arena dev` tokens) operated the installation, which is now the
-- operator scope, admin being confined to its own organisation.
UPDATE tokens SET scopes = ARRAY['sessions:read', 'sessions:write', 'logs', 'artifacts', 'usage']
    WHERE cardinality(scopes) = 0;
UPDATE tokens SET scopes = array_append(scopes, 'operator')
    WHERE 'admin' = ANY (scopes) AND NOT 'operator' = ANY (scopes);

-- Applications, keyed by their organisation and name. As with sessions, the
-- columns are the key and what is not part of the template (where it is
-- defined, when it was made and changed); the template itself is the JSON
-- document doc, the same as the SQLite store's. The sealed registry
-- credentials, opaque bytes that only the control plane can open, are a
-- column of their own, kept out of the document: the plaintext credentials
-- are never stored at all.
CREATE TABLE applications (
    org_id          text NOT NULL REFERENCES organizations (id),
    name            text NOT NULL,
    source          text NOT NULL,
    created_at      timestamptz NOT NULL,
    updated_at      timestamptz NOT NULL,
    sealed_registry bytea, -- NULL: a public registry
    doc             jsonb NOT NULL,
    PRIMARY KEY (org_id, name)
);
