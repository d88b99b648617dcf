package sqlite

import (
	"context"
	"encoding/json"

	"github.com/arena-hq/arena"
	"github.com/arena-hq/arena/storedoc"
)

// CreateWebhook inserts w, keeping w.SealedSecret as given. It fails with
// ECONFLICT if its id exists, and with ENOTFOUND if its organisation does not.
func (st *Store) CreateWebhook(ctx context.Context, w *arena.Webhook) error {
	events := w.Events
	if events == nil {
		events = []string{}
	}
	doc, err := json.Marshal(events)
	if err != nil {
		return arena.Internal(err, "encoding a webhook's events")
	}
	unlock, err := st.lockWrites(ctx)
	if err != nil {
		return err
	}
	defer unlock()
	_, err = st.w.ExecContext(ctx, `INSERT INTO webhooks (`+webhookColumns+`) VALUES (?, ?, ?, ?, ?, ?)`,
		w.ID, w.OrgID, w.URL, w.SealedSecret, string(doc), storedoc.Nanos(w.CreatedAt))
	switch {
	case err == nil:
		return nil
	case isDuplicate(err):
		return arena.Errorf(arena.ECONFLICT, "webhook %s already exists", w.ID)
	case isMissingParent(err):
		return arena.Errorf(arena.ENOTFOUND, "organization %s not found", w.OrgID)
	}
	return arena.Internal(err, "creating a webhook")
}

const webhookColumns = `id, org_id, url, sealed_secret, events, created_at`

// scanWebhook reads a row of webhookColumns.
func scanWebhook(row interface{ Scan(...any) error }) (*arena.Webhook, error) {
	var (
		w       arena.Webhook
		events  string
		created int64
	)
	if err := row.Scan(&w.ID, &w.OrgID, &w.URL, &w.SealedSecret, &events, &created); err != nil {
		return nil, err
	}
	if err := json.Unmarshal([]byte(events), &w.Events); err != nil {
		return nil, err
	}
	w.CreatedAt = storedoc.FromNanos(created)
	return &w, nil
}

// ListWebhooks returns an organisation's webhooks ordered by creation time
// then id; none for an unknown organisation.
func (st *Store) ListWebhooks(ctx context.Context, orgID string) ([]*arena.Webhook, error) {
	rows, err := st.r.QueryContext(ctx, `SELECT `+webhookColumns+` FROM webhooks WHERE org_id = ? ORDER BY created_at, id`, orgID)
	if err != nil {
		return nil, arena.Internal(err, "listing webhooks")
	}
	defer rows.Close()
	var out []*arena.Webhook
	for rows.Next() {
		w, err := scanWebhook(rows)
		if err != nil {
			return nil, arena.Internal(err, "listing webhooks")
		}
		out = append(out, w)
	}
	if err := rows.Err(); err != nil {
		return nil, arena.Internal(err, "listing webhooks")
	}
	return out, nil
}

// DeleteWebhook removes an organisation's webhook; ENOTFOUND if it has none
// of that id, another organisation's included.
func (st *Store) DeleteWebhook(ctx context.Context, orgID, id string) error {
	unlock, err := st.lockWrites(ctx)
	if err != nil {
		return err
	}
	defer unlock()
	n, err := execCount(ctx, st.w, `DELETE FROM webhooks WHERE org_id = ? AND id = ?`, orgID, id)
	if err != nil {
		return arena.Internal(err, "deleting a webhook")
	}
	if n == 0 {
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
		body = []byte{}
	}
	unlock, err := st.lockWrites(ctx)
	if err != nil {
		return err
	}
	defer unlock()
	_, err = st.w.ExecContext(ctx, `INSERT INTO webhook_deliveries (`+deliveryColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (id) DO UPDATE SET attempts = excluded.attempts, next_at = excluded.next_at`,
		d.ID, d.OrgID, d.WebhookID, d.EventID, d.EventType, body, d.Attempts, storedoc.Nanos(d.NextAt))
	switch {
	case err == nil:
		return nil
	case isMissingParent(err):
		return arena.Errorf(arena.ENOTFOUND, "webhook %s not found", d.WebhookID)
	}
	return arena.Internal(err, "keeping a webhook delivery")
}

// DeleteWebhookDelivery forgets a delivery; one unknown is no error.
func (st *Store) DeleteWebhookDelivery(ctx context.Context, id string) error {
	unlock, err := st.lockWrites(ctx)
	if err != nil {
		return err
	}
	defer unlock()
	if _, err := st.w.ExecContext(ctx, `DELETE FROM webhook_deliveries WHERE id = ?`, id); err != nil {
		return arena.Internal(err, "forgetting a webhook delivery")
	}
	return nil
}

// ListWebhookDeliveries returns every delivery kept, the soonest due first.
func (st *Store) ListWebhookDeliveries(ctx context.Context) ([]*arena.WebhookDelivery, error) {
	rows, err := st.r.QueryContext(ctx, `SELECT `+deliveryColumns+` FROM webhook_deliveries ORDER BY next_at, id`)
	if err != nil {
		return nil, arena.Internal(err, "listing webhook deliveries")
	}
	defer rows.Close()
	var out []*arena.WebhookDelivery
	for rows.Next() {
		var (
			d    arena.WebhookDelivery
			next int64
		)
		if err := rows.Scan(&d.ID, &d.OrgID, &d.WebhookID, &d.EventID, &d.EventType, &d.Body, &d.Attempts, &next); err != nil {
			return nil, arena.Internal(err, "listing webhook deliveries")
		}
		d.NextAt = storedoc.FromNanos(next)
		out = append(out, &d)
	}
	if err := rows.Err(); err != nil {
		return nil, arena.Internal(err, "listing webhook deliveries")
	}
	return out, nil
}
