-- The cloud machines Arena adds and retires itself, by the node they are
-- for. A machine's join token admits that node once, until it expires:
-- joined_at set is the token spent.
CREATE TABLE machines (
    node_id         text PRIMARY KEY,
    region          text NOT NULL,
    provider        text NOT NULL,
    provider_id     text NOT NULL,
    instance_type   text NOT NULL,
    state           text NOT NULL,
    reason          text NOT NULL,
    cost_per_hour   double precision NOT NULL,
    milli_cpu       bigint NOT NULL,
    memory_mb       bigint NOT NULL,
    join_token_hash text NOT NULL,
    join_expires    timestamptz,
    joined_at       timestamptz,
    created_at      timestamptz NOT NULL,
    updated_at      timestamptz NOT NULL
);

CREATE UNIQUE INDEX machines_join_token ON machines (join_token_hash) WHERE join_token_hash <> '';
