-- Webhook deliveries not done yet: an event on its way to one endpoint,
-- kept from its fan-out until the endpoint takes it, refuses it or is given
-- up on, so that a restarted control plane resumes it. body is the event as
-- signed and sent, the same bytes on every attempt. Removing the endpoint
-- removes its deliveries.
CREATE TABLE webhook_deliveries (
    id         TEXT    PRIMARY KEY,
    org_id     TEXT    NOT NULL,
    webhook_id TEXT    NOT NULL REFERENCES webhooks (id) ON DELETE CASCADE,
    event_id   TEXT    NOT NULL,
    event_type TEXT    NOT NULL,
    body       BLOB    NOT NULL,
    attempts   INTEGER NOT NULL,
    next_at    INTEGER NOT NULL
) STRICT;

-- The cascade from webhooks finds an endpoint's deliveries.
CREATE INDEX webhook_deliveries_webhook ON webhook_deliveries (webhook_id);
