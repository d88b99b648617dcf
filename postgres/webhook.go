package postgres

import (
	"context"

	"github.com/jackc/pgx/v5"

	"github.com/arena-hq/arena"
)

// CreateWebhook inserts w, keeping w.SealedSecret as given. It fails with
// ECONFLICT if its id exists, and with ENOTFOUND if its organisation does not.
func (st *Store) CreateWebhook(ctx context.Context, w *arena.Webhook) error {
	events := w.Events
	if events == nil {
		events = []string{} // pgx sends a nil slice as NULL, which the column refuses
	}
	_, err := st.exec(ctx, `INSERT INTO webhooks (`+webhookColumns+`) VALUES ($1, $2, $3, $4, $5, $6)`,
		w.ID, w.OrgID, w.URL, w.SealedSecret, events, w.CreatedAt.UTC())
	switch {
	case err == nil:
		return nil
	case isDuplicate(err):
		return arena.Errorf(arena.ECONFLICT, "webhook %s already exists", w.ID)
	case isMissingParent(err):
		return arena.Errorf(arena.ENOTFOUND, "organization %s not found", w.OrgID)
	}
	return writeError(err, "creating a webhook")
}

const webhookColumns = `id, org_id, url, sealed_secret, events, created_at`

// scanWebhook reads a row of webhookColumns.
func scanWebhook(row pgx.Row) (*arena.Webhook, error) {
	var w arena.Webhook
	if err := row.Scan(&w.ID, &w.OrgID, &w.URL, &w.SealedSecret, &w.Events, &w.CreatedAt); err != nil {
		return nil, err
	}
	w.CreatedAt = w.CreatedAt.UTC()
	return &w, nil
}

// ListWebhooks returns an organisation's webhooks ordered by creation time
// then id; none for an unknown organisation.
func (st *Store) ListWebhooks(ctx context.Context, orgID string) ([]*arena.Webhook, error) {
	rows, err := st.pool.Query(ctx, `SELECT `+webhookColumns+` FROM webhooks WHERE org_id = $1 ORDER BY created_at, id`, orgID)
	var out []*arena.Webhook
	if err == nil {
		out, err = pgx.CollectRows(rows, func(row pgx.CollectableRow) (*arena.Webhook, error) { return scanWebhook(row) })
	}
	if isUnstorable(err) {
		return nil, nil // an organisation id no row can hold has none
	}
	if err != nil {
		return nil, arena.Internal(err, "listing webhooks")
	}
	return out, nil
}

// DeleteWebhook removes an organisation's webhook; ENOTFOUND if it has none
// of that id, another organisation's included.
func (st *Store) DeleteWebhook(ctx context.Context, orgID, id string) error {
	tag, err := st.exec(ctx, `DELETE FROM webhooks WHERE org_id = $1 AND id = $2`, orgID, id)
	if err != nil && !isUnstorable(err) { // an id no row can hold is unknown
		return writeError(err, "deleting a webhook")
	}
	if err != nil || tag.RowsAffected() == 0 {
		return arena.Errorf(arena.ENOTFOUND, "webhook %s not found", id)
	}
	return nil
}

const deliveryColumns = `id, org_id, webhook_id, event_id, event_type, body, attempts, next_at`

// SaveWebhookDelivery inserts d, or records its attempts and next time when
// it exists; ENOTFOUND when its webhook does not exist (any more).
func (st *Store) SaveWebhookDelivery(ctx context.Context, d *arena.WebhookDelivery) error {
	body := d.Body
	if body == nil {
		body = []byte{} // NULL is refused
	}
	_, err := st.exec(ctx, `INSERT INTO webhook_deliveries (`+deliveryColumns+`) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
		ON CONFLICT (id) DO UPDATE SET attempts = excluded.attempts, next_at = excluded.next_at`,
		d.ID, d.OrgID, d.WebhookID, d.EventID, d.EventType, body, d.Attempts, d.NextAt.UTC())
	switch {
	case err == nil:
		return nil
	case isMissingParent(err):
		return arena.Errorf(arena.ENOTFOUND, "webhook %s not found", d.WebhookID)
	}
	return writeError(err, "keeping a webhook delivery")
}

// DeleteWebhookDelivery forgets a delivery; one unknown is no error.
func (st *Store) DeleteWebhookDelivery(ctx context.Context, id string) error {
	if _, err := st.exec(ctx, `DELETE FROM webhook_deliveries WHERE id = $1`, id); err != nil {
		return writeError(err, "forgetting a webhook delivery")
	}
	return nil
}

// ListWebhookDeliveries returns every delivery kept, the soonest due first.
func (st *Store) ListWebhookDeliveries(ctx context.Context) ([]*arena.WebhookDelivery, error) {
	rows, err := st.pool.Query(ctx, `SELECT `+deliveryColumns+` FROM webhook_deliveries ORDER BY next_at, id`)
	if err != nil {
		return nil, arena.Internal(err, "listing webhook deliveries")
	}
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (*arena.WebhookDelivery, error) {
		var d arena.WebhookDelivery
		if err := row.Scan(&d.ID, &d.OrgID, &d.WebhookID, &d.EventID, &d.EventType, &d.Body, &d.Attempts, &d.NextAt); err != nil {
			return nil, err
		}
		d.NextAt = d.NextAt.UTC()
		return &d, nil
	})
	if err != nil {
		return nil, arena.Internal(err, "listing webhook deliveries")
	}
	return out, nil
}
