-- The time a session waited in a warm pool, booked but nobody's: reported
-- apart from its billed time. NULL (as start_at is for a session that never
-- ran) for sessions that were never in a pool, as every earlier one.
ALTER TABLE usage ADD COLUMN pool_start_at timestamptz;
ALTER TABLE usage ADD COLUMN pool_end_at timestamptz;
