-- The SQLite store's migration 0006 for PostgreSQL. Webhook endpoints: URLs
-- an organisation registered to receive its sessions' lifecycle events. The
-- signing secret is kept sealed, opaque bytes that only the control plane
-- can open (NULL for none); the plaintext is never stored. events lists
-- event types, empty for every type.
CREATE TABLE webhooks (
    id            text PRIMARY KEY,
    org_id        text NOT NULL REFERENCES organizations (id),
    url           text NOT NULL,
    sealed_secret bytea,
    events        text[] NOT NULL DEFAULT '{}',
    created_at    timestamptz NOT NULL
);

-- ListWebhooks lists one organisation's webhooks by creation time then id.
CREATE INDEX webhooks_org ON webhooks (org_id, created_at, id);
