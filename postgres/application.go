package postgres

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/arena-hq/arena"
	"github.com/arena-hq/arena/storedoc"
)

const applicationColumns = `org_id, name, source, created_at, updated_at, sealed_registry, doc`

// scanApplication reads a row of applicationColumns. Registry stays nil. The
// doc column is a storedoc.Application, which pgx encodes and decodes as
// JSON for jsonb.
func scanApplication(row pgx.Row) (*arena.Application, error) {
	var (
		a                arena.Application
		created, updated time.Time
		d                storedoc.Application
	)
	if err := row.Scan(&a.OrgID, &a.Name, &a.Source, &created, &updated, &a.SealedRegistry, &d); err != nil {
		return nil, err
	}
	a.CreatedAt, a.UpdatedAt = created.UTC(), updated.UTC()
	d.ToApplication(&a)
	return &a, nil
}

// CreateApplication inserts a, keeping a.SealedRegistry and never
// a.Registry. It fails with ECONFLICT if a's organisation has an application
// of its name, and with ENOTFOUND if the organisation does not exist.
func (st *Store) CreateApplication(ctx context.Context, a *arena.Application) error {
	_, err := st.exec(ctx, `INSERT INTO applications (`+applicationColumns+`) VALUES ($1, $2, $3, $4, $5, $6, $7)`,
		a.OrgID, a.Name, a.Source, a.CreatedAt.UTC(), a.UpdatedAt.UTC(), a.SealedRegistry, storedoc.FromApplication(a))
	switch {
	case err == nil:
		return nil
	case isDuplicate(err):
		return arena.Errorf(arena.ECONFLICT, "application %s already exists", a.Name)
	case isMissingParent(err):
		return arena.Errorf(arena.ENOTFOUND, "organization %s not found", a.OrgID)
	}
	return writeError(err, "creating an application")
}

// UpdateApplication overwrites every field of the stored application, found
// by a.OrgID and a.Name, but its CreatedAt, which never changes (as a
// session's does not): a caller that rebuilds an application from a request
// cannot lose it. It keeps a.SealedRegistry and never a.Registry. ENOTFOUND
// if there is no such application.
func (st *Store) UpdateApplication(ctx context.Context, a *arena.Application) error {
	tag, err := st.exec(ctx, `UPDATE applications SET source = $1, updated_at = $2, sealed_registry = $3, doc = $4
		WHERE org_id = $5 AND name = $6`, a.Source, a.UpdatedAt.UTC(), a.SealedRegistry, storedoc.FromApplication(a), a.OrgID, a.Name)
	if err != nil {
		return writeError(err, "updating an application")
	}
	if tag.RowsAffected() == 0 {
		return arena.Errorf(arena.ENOTFOUND, "application %s not found", a.Name)
	}
	return nil
}

// FindApplication returns an organisation's application; ENOTFOUND if it
// has none of that name.
func (st *Store) FindApplication(ctx context.Context, orgID, name string) (*arena.Application, error) {
	a, err := scanApplication(st.pool.QueryRow(ctx,
		`SELECT `+applicationColumns+` FROM applications WHERE org_id = $1 AND name = $2`, orgID, name))
	if isNoRows(err) || isUnstorable(err) {
		return nil, arena.Errorf(arena.ENOTFOUND, "application %s not found", name)
	}
	if err != nil {
		return nil, arena.Internal(err, "finding an application")
	}
	return a, nil
}

// ListApplications returns an organisation's applications, or every
// organisation's when orgID is empty, ordered by organisation then name:
// the order of the primary key, so that neither list sorts.
func (st *Store) ListApplications(ctx context.Context, orgID string) ([]*arena.Application, error) {
	q, args := `SELECT `+applicationColumns+` FROM applications`, []any(nil)
	if orgID != "" {
		q, args = q+` WHERE org_id = $1`, []any{orgID}
	}
	rows, err := st.pool.Query(ctx, q+` ORDER BY org_id, name`, args...)
	var out []*arena.Application
	if err == nil {
		out, err = pgx.CollectRows(rows, func(row pgx.CollectableRow) (*arena.Application, error) { return scanApplication(row) })
	}
	if isUnstorable(err) {
		return nil, nil
	}
	if err != nil {
		return nil, arena.Internal(err, "listing applications")
	}
	return out, nil
}

// DeleteApplication removes an organisation's application; ENOTFOUND if it
// has none of that name. Sessions of it keep what they run: they copied it.
func (st *Store) DeleteApplication(ctx context.Context, orgID, name string) error {
	tag, err := st.exec(ctx, `DELETE FROM applications WHERE org_id = $1 AND name = $2`, orgID, name)
	if err != nil && !isUnstorable(err) { // a name no row can hold is unknown
		return arena.Internal(err, "deleting an application")
	}
	if err != nil || tag.RowsAffected() == 0 {
		return arena.Errorf(arena.ENOTFOUND, "application %s not found", name)
	}
	return nil
}
