-- Webhook endpoints: URLs an organisation registered to receive its
-- sessions' lifecycle events. The signing secret is kept sealed, opaque
-- bytes that only the control plane can open (NULL for none); the plaintext
-- is never stored. events is a JSON array of event types, [] for every type.
CREATE TABLE webhooks (
    id            TEXT    PRIMARY KEY,
    org_id        TEXT    NOT NULL REFERENCES organizations (id),
    url           TEXT    NOT NULL,
    sealed_secret BLOB,
    events        TEXT    NOT NULL DEFAULT '[]',
    created_at    INTEGER NOT NULL
) STRICT;

-- ListWebhooks lists one organisation's webhooks by creation time then id.
CREATE INDEX webhooks_org ON webhooks (org_id, created_at, id);
