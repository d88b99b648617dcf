-- The scaling policies and cloud providers the scaler reads, so that a new
-- leader scales as the last one did. A policy's settings are one document
-- (storedoc.Policy); a provider's credentials are kept only sealed by the
-- control plane. Times are Unix nanoseconds.
CREATE TABLE scaling_policies (
    region     TEXT PRIMARY KEY,
    doc        TEXT NOT NULL,
    source     TEXT NOT NULL,
    updated_at INTEGER NOT NULL
) STRICT;

CREATE TABLE cloud_providers (
    name               TEXT PRIMARY KEY,
    type               TEXT NOT NULL,
    settings           TEXT NOT NULL,
    sealed_credentials BLOB NOT NULL,
    source             TEXT NOT NULL,
    created_at         INTEGER NOT NULL,
    updated_at         INTEGER NOT NULL
) STRICT;
