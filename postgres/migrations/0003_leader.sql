-- The control plane that leads: several replicas of arena server share the
-- database, and one of them, holding an advisory lock, places sessions and
-- runs the timers. Each new leader increments epoch; the leader's writes
-- check it under a share lock (see leader.go), so that a replica that lost
-- the lead without noticing can no longer write.
CREATE TABLE arena_leader (
    id    integer PRIMARY KEY CHECK (id = 1),
    epoch bigint NOT NULL,
    url   text NOT NULL,
    since timestamptz NOT NULL
);

INSERT INTO arena_leader (id, epoch, url, since) VALUES (1, 0, '', now());
