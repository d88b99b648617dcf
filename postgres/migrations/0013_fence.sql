-- The fence of a write as one call, so that a fenced write is one round
-- trip: BEGIN, this, the write and COMMIT are sent together. It takes the
-- share lock on the leader's row that keeps a new leader from taking over
-- until the transaction ends, and fails with SQLSTATE AR001 when want is
-- not the epoch that leads.
CREATE FUNCTION arena_check_fence(want bigint) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    current bigint;
BEGIN
    SELECT epoch INTO current FROM arena_leader WHERE id = 1 FOR SHARE;
    IF current IS DISTINCT FROM want THEN
        RAISE EXCEPTION 'this control plane no longer leads' USING ERRCODE = 'AR001';
    END IF;
END
$$;
