-- When each node was last heard from, written every few seconds in a batch:
-- after a restart of the control plane, a node that died meanwhile is billed
-- up to then rather than up to the restart.
ALTER TABLE nodes ADD COLUMN last_seen INTEGER NOT NULL DEFAULT 0;
