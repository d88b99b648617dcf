-- Organisations get a quota: how many sessions they may have active at
-- once and how much CPU those may reserve, 0 being no bound, as before this
-- step for every organisation. quota_source is 'config' while the config
-- file sets the quota, which the admin API may then not change, and empty
-- otherwise.
ALTER TABLE organizations ADD COLUMN quota_sessions INTEGER NOT NULL DEFAULT 0;
ALTER TABLE organizations ADD COLUMN quota_milli_cpu INTEGER NOT NULL DEFAULT 0;
ALTER TABLE organizations ADD COLUMN quota_source TEXT NOT NULL DEFAULT '';
