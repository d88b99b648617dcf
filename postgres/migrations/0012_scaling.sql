-- The scaling policies and cloud providers the scaler reads, so that a new
-- leader scales as the last one did. A policy's settings are one document
-- (storedoc.Policy); a provider's credentials are kept only sealed by the
-- control plane.
CREATE TABLE scaling_policies (
    region     text PRIMARY KEY,
    doc        jsonb NOT NULL,
    source     text NOT NULL,
    updated_at timestamptz NOT NULL
);

CREATE TABLE cloud_providers (
    name               text PRIMARY KEY,
    type               text NOT NULL,
    settings           jsonb NOT NULL,
    sealed_credentials bytea NOT NULL,
    source             text NOT NULL,
    created_at         timestamptz NOT NULL,
    updated_at         timestamptz NOT NULL
);
