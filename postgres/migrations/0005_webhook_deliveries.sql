-- The SQLite store's migration 0007 for PostgreSQL. Webhook deliveries not
-- done yet: an event on its way to one endpoint, kept from its fan-out until
-- the endpoint takes it, refuses it or is given up on, so that a new leader
-- resumes it. body is the event as signed and sent, the same bytes on every
-- attempt. Removing the endpoint removes its deliveries.
CREATE TABLE webhook_deliveries (
    id         text        PRIMARY KEY,
    org_id     text        NOT NULL,
    webhook_id text        NOT NULL REFERENCES webhooks (id) ON DELETE CASCADE,
    event_id   text        NOT NULL,
    event_type text        NOT NULL,
    body       bytea       NOT NULL,
    attempts   integer     NOT NULL,
    next_at    timestamptz NOT NULL
);

-- The cascade from webhooks finds an endpoint's deliveries.
CREATE INDEX webhook_deliveries_webhook ON webhook_deliveries (webhook_id);
