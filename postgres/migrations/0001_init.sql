-- The schema of the SQLite store after its migrations 0001 to 0004, written
-- afresh for PostgreSQL. Times are timestamptz, written in UTC. A time that
-- may be absent (a token's expiry, when a session started running, when a
-- node was last heard from) is NULL when absent; a time that is always there
-- is NOT NULL, and Go's zero time, should it come, is stored as itself
-- (0001-01-01 00:00:00+00) so that it sorts first as SQLite's 0 does.
-- PostgreSQL keeps microseconds: the nanoseconds of a time in a column are lost.

CREATE TABLE organizations (
    id   text PRIMARY KEY,
    name text NOT NULL
);

-- Only the SHA-256 of a token's secret is kept; the secret itself never reaches the database.
CREATE TABLE tokens (
    id         text PRIMARY KEY,
    org_id     text NOT NULL REFERENCES organizations (id),
    name       text NOT NULL,
    hash       text NOT NULL UNIQUE,
    created_at timestamptz NOT NULL,
    expires_at timestamptz, -- NULL: never
    -- What the token may do ("admin", ...).
    scopes     text[] NOT NULL DEFAULT '{}'
);

CREATE INDEX tokens_org ON tokens (org_id);

-- The columns are what sessions are looked up and ordered by, and what never
-- changes after creation (id, org_id, created_at). Every other field lives in
-- the document doc, so that a new field of arena.Session needs no migration.
-- doc is the same JSON document the SQLite store writes, times in it being
-- Unix nanoseconds (0: none), so that data can be copied between the two.
CREATE TABLE sessions (
    id         text PRIMARY KEY,
    org_id     text NOT NULL REFERENCES organizations (id),
    node_id    text NOT NULL,
    state      text NOT NULL,
    created_at timestamptz NOT NULL,
    doc        jsonb NOT NULL
);

-- Each index matches a filter of ListSessions and its order, so that no list
-- sorts. Stopped sessions pile up while active ones stay few, so the active
-- ones get small partial indexes of their own, which the planner uses for
-- queries whose WHERE clause has the term state <> 'stopped'. Listing every
-- session, a rare and unbounded query anyway, scans the table.
CREATE INDEX sessions_org ON sessions (org_id, created_at, id);
CREATE INDEX sessions_node ON sessions (node_id, created_at, id);
CREATE INDEX sessions_active ON sessions (created_at, id) WHERE state <> 'stopped';
CREATE INDEX sessions_org_active ON sessions (org_id, created_at, id) WHERE state <> 'stopped';
CREATE INDEX sessions_node_active ON sessions (node_id, created_at, id) WHERE state <> 'stopped';

-- One billing record per stopped session: the primary key is what keeps a
-- repeated stop from billing a session twice.
CREATE TABLE usage (
    session_id  text PRIMARY KEY REFERENCES sessions (id),
    org_id      text NOT NULL REFERENCES organizations (id),
    application text NOT NULL,
    location    text NOT NULL,
    milli_cpu   bigint NOT NULL,
    memory_mb   bigint NOT NULL,
    start_at    timestamptz, -- NULL: the session never ran
    end_at      timestamptz NOT NULL,
    seconds     bigint NOT NULL
);

CREATE INDEX usage_org_end ON usage (org_id, end_at, session_id);

-- Nodes: the machines agents run on. Only the hash of a node's credential is
-- kept; the rest of the description is a JSON document like a session's.
-- last_seen is written every few seconds in a batch: after a restart of the
-- control plane, a node that died meanwhile is billed up to then rather than
-- up to the restart.
CREATE TABLE nodes (
    id              text PRIMARY KEY,
    credential_hash text NOT NULL DEFAULT '',
    doc             jsonb NOT NULL,
    updated_at      timestamptz NOT NULL,
    last_seen       timestamptz -- NULL: never
);

CREATE UNIQUE INDEX nodes_credential ON nodes (credential_hash) WHERE credential_hash <> '';
