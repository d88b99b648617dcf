-- The SQLite store's migration 0008 for PostgreSQL. Organisations get a
-- quota: how many sessions they may have active at once and how much CPU
-- those may reserve, 0 being no bound, as before this step for every
-- organisation. quota_source is 'config' while the config file sets the
-- quota, which the admin API may then not change, and empty otherwise.
ALTER TABLE organizations
    ADD COLUMN quota_sessions bigint NOT NULL DEFAULT 0,
    ADD COLUMN quota_milli_cpu bigint NOT NULL DEFAULT 0,
    ADD COLUMN quota_source text NOT NULL DEFAULT '';
