-- Leadership by lease (see leader.go). The leading replica renews its lease
-- in this row, by the database's clock; another replica takes the lead once
-- the lease has expired, or at once when the holder's lease connection is
-- gone. The row is apart from arena_leader, whose row every fenced write
-- holds in share mode, so that renewals and writes never wait for each
-- other.
CREATE TABLE arena_lease (
    id            integer PRIMARY KEY CHECK (id = 1),
    -- The term that holds the lease: arena_leader's epoch once taken.
    epoch         bigint NOT NULL,
    -- The holder's advertised URL, for the operator's eyes.
    holder        text NOT NULL,
    -- The holder's lease connection, as pg_stat_activity shows it: gone
    -- means the holder is, whatever expires_at says. 0 for none.
    backend_pid   integer NOT NULL,
    backend_start timestamptz,
    expires_at    timestamptz NOT NULL
);

-- No lease is held yet: a replica of an earlier version may still lead by
-- the advisory lock, which the new replicas see and wait for.
INSERT INTO arena_lease (id, epoch, holder, backend_pid, backend_start, expires_at)
SELECT 1, epoch, url, 0, NULL, '-infinity' FROM arena_leader WHERE id = 1;

-- From now on a new epoch is the lease's: a replica of an earlier version,
-- which takes the lead by the advisory lock alone, can no longer fence the
-- lease's holder out. Its attempt fails, and it keeps following.
CREATE FUNCTION arena_leader_follows_lease() RETURNS trigger
LANGUAGE plpgsql SET search_path FROM CURRENT AS $$
BEGIN
    IF NEW.epoch IS DISTINCT FROM OLD.epoch
       AND NEW.epoch IS DISTINCT FROM (SELECT epoch FROM arena_lease WHERE id = 1) THEN
        RAISE EXCEPTION 'the lead is taken by lease since schema version 8: upgrade this replica'
            USING ERRCODE = 'object_not_in_prerequisite_state';
    END IF;
    RETURN NEW;
END
$$;

CREATE TRIGGER arena_leader_follows_lease BEFORE UPDATE ON arena_leader
    FOR EACH ROW EXECUTE FUNCTION arena_leader_follows_lease();
