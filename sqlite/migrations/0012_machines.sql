-- The cloud machines Arena adds and retires itself, by the node they are
-- for. A machine's join token admits that node once, until it expires:
-- joined_at set is the token spent. Times are Unix nanoseconds, 0 for none.
CREATE TABLE machines (
    node_id         TEXT PRIMARY KEY,
    region          TEXT NOT NULL,
    provider        TEXT NOT NULL,
    provider_id     TEXT NOT NULL,
    instance_type   TEXT NOT NULL,
    state           TEXT NOT NULL,
    reason          TEXT NOT NULL,
    cost_per_hour   REAL NOT NULL,
    milli_cpu       INTEGER NOT NULL,
    memory_mb       INTEGER NOT NULL,
    join_token_hash TEXT NOT NULL,
    join_expires    INTEGER NOT NULL,
    joined_at       INTEGER NOT NULL,
    created_at      INTEGER NOT NULL,
    updated_at      INTEGER NOT NULL
) STRICT;

CREATE UNIQUE INDEX machines_join_token ON machines (join_token_hash) WHERE join_token_hash <> '';
