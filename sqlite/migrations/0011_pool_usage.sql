-- The time a session waited in a warm pool, booked but nobody's: reported
-- apart from its billed time. 0 (as start_at is for a session that never
-- ran) for sessions that were never in a pool, as every earlier one.
ALTER TABLE usage ADD COLUMN pool_start_at INTEGER NOT NULL DEFAULT 0;
ALTER TABLE usage ADD COLUMN pool_end_at INTEGER NOT NULL DEFAULT 0;
