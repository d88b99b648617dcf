-- Times are Unix nanoseconds in UTC; 0 stands for the zero time.

CREATE TABLE organizations (
    id   TEXT PRIMARY KEY,
    name TEXT NOT NULL
) STRICT;

-- Only the SHA-256 of a token's secret is kept; the secret itself never reaches the database.
CREATE TABLE tokens (
    id         TEXT PRIMARY KEY,
    org_id     TEXT NOT NULL REFERENCES organizations (id),
    name       TEXT NOT NULL,
    hash       TEXT NOT NULL UNIQUE,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL -- 0: never
) STRICT;

CREATE INDEX tokens_org ON tokens (org_id);

-- The columns are what sessions are looked up and ordered by, and what never
-- changes after creation (id, org_id, created_at). Every other field lives in
-- the JSON document doc, so that a new field of arena.Session needs no
-- migration; a later migration can still index one through a generated column.
CREATE TABLE sessions (
    id         TEXT PRIMARY KEY,
    org_id     TEXT NOT NULL REFERENCES organizations (id),
    node_id    TEXT NOT NULL,
    state      TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    doc        TEXT NOT NULL
) STRICT;

-- Each index matches a filter of ListSessions and its order, so that no list
-- sorts. Stopped sessions pile up while active ones stay few, so the active
-- ones get small partial indexes of their own, which SQLite uses for queries
-- whose WHERE clause has the term state <> 'stopped'. Listing every session,
-- a rare and unbounded query anyway, scans the table.
CREATE INDEX sessions_org ON sessions (org_id, created_at, id);
CREATE INDEX sessions_node ON sessions (node_id, created_at, id);
CREATE INDEX sessions_active ON sessions (created_at, id) WHERE state <> 'stopped';
CREATE INDEX sessions_org_active ON sessions (org_id, created_at, id) WHERE state <> 'stopped';
CREATE INDEX sessions_node_active ON sessions (node_id, created_at, id) WHERE state <> 'stopped';

-- One billing record per stopped session: the primary key is what keeps a
-- repeated stop from billing a session twice.
CREATE TABLE usage (
    session_id  TEXT PRIMARY KEY REFERENCES sessions (id),
    org_id      TEXT NOT NULL REFERENCES organizations (id),
    application TEXT NOT NULL,
    location    TEXT NOT NULL,
    milli_cpu   INTEGER NOT NULL,
    memory_mb   INTEGER NOT NULL,
    start_at    INTEGER NOT NULL,
    end_at      INTEGER NOT NULL,
    seconds     INTEGER NOT NULL
) STRICT;

CREATE INDEX usage_org_end ON usage (org_id, end_at, session_id);
