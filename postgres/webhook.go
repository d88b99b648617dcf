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
