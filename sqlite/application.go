package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"

	"github.com/arena-hq/arena"
	"github.com/arena-hq/arena/storedoc"
)

// encodeApplication returns the document of a as the doc column holds it:
// the JSON of storedoc.Application, which never holds a.Registry.
func encodeApplication(a *arena.Application) (string, error) {
	b, err := json.Marshal(storedoc.FromApplication(a))
	return string(b), err
}

const applicationColumns = `org_id, name, source, created_at, updated_at, sealed_registry, doc`

// scanApplication reads a row of applicationColumns. Registry stays nil.
func scanApplication(row interface{ Scan(...any) error }) (*arena.Application, error) {
	var (
		a                arena.Application
		created, updated int64
		doc              string
		d                storedoc.Application
	)
	if err := row.Scan(&a.OrgID, &a.Name, &a.Source, &created, &updated, &a.SealedRegistry, &doc); err != nil {
		return nil, err
	}
	if err := json.Unmarshal([]byte(doc), &d); err != nil {
		return nil, err
	}
	a.CreatedAt, a.UpdatedAt = storedoc.FromNanos(created), storedoc.FromNanos(updated)
	d.ToApplication(&a)
	return &a, nil
}

// CreateApplication inserts a, keeping a.SealedRegistry and never
// a.Registry. It fails with ECONFLICT if a's organisation has an application
// of its name, and with ENOTFOUND if the organisation does not exist.
func (st *Store) CreateApplication(ctx context.Context, a *arena.Application) error {
	doc, err := encodeApplication(a)
	if err != nil {
		return arena.Internal(err, "encoding an application")
	}
	unlock, err := st.lockWrites(ctx)
	if err != nil {
		return err
	}
	defer unlock()
	_, err = st.w.ExecContext(ctx, `INSERT INTO applications (`+applicationColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?)`,
		a.OrgID, a.Name, a.Source, storedoc.Nanos(a.CreatedAt), storedoc.Nanos(a.UpdatedAt), a.SealedRegistry, doc)
	switch {
	case err == nil:
		return nil
	case isDuplicate(err):
		return arena.Errorf(arena.ECONFLICT, "application %s already exists", a.Name)
	case isMissingParent(err):
		return arena.Errorf(arena.ENOTFOUND, "organization %s not found", a.OrgID)
	}
	return arena.Internal(err, "creating an application")
}

// UpdateApplication overwrites every field of the stored application, found
// by a.OrgID and a.Name, but its CreatedAt, which never changes (as a
// session's does not): a caller that rebuilds an application from a request
// cannot lose it. It keeps a.SealedRegistry and never a.Registry. ENOTFOUND
// if there is no such application.
func (st *Store) UpdateApplication(ctx context.Context, a *arena.Application) error {
	doc, err := encodeApplication(a)
	if err != nil {
		return arena.Internal(err, "encoding an application")
	}
	unlock, err := st.lockWrites(ctx)
	if err != nil {
		return err
	}
	defer unlock()
	n, err := execCount(ctx, st.w, `UPDATE applications SET source = ?, updated_at = ?, sealed_registry = ?, doc = ?
		WHERE org_id = ? AND name = ?`, a.Source, storedoc.Nanos(a.UpdatedAt), a.SealedRegistry, doc, a.OrgID, a.Name)
	if err != nil {
		return arena.Internal(err, "updating an application")
	}
	if n == 0 {
		return arena.Errorf(arena.ENOTFOUND, "application %s not found", a.Name)
	}
	return nil
}

// FindApplication returns an organisation's application; ENOTFOUND if it
// has none of that name.
func (st *Store) FindApplication(ctx context.Context, orgID, name string) (*arena.Application, error) {
	a, err := scanApplication(st.r.QueryRowContext(ctx,
		`SELECT `+applicationColumns+` FROM applications WHERE org_id = ? AND name = ?`, orgID, name))
	if errors.Is(err, sql.ErrNoRows) {
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
		q, args = q+` WHERE org_id = ?`, []any{orgID}
	}
	rows, err := st.r.QueryContext(ctx, q+` ORDER BY org_id, name`, args...)
	if err != nil {
		return nil, arena.Internal(err, "listing applications")
	}
	defer rows.Close()
	var out []*arena.Application
	for rows.Next() {
		a, err := scanApplication(rows)
		if err != nil {
			return nil, arena.Internal(err, "listing applications")
		}
		out = append(out, a)
	}
	if err := rows.Err(); err != nil {
		return nil, arena.Internal(err, "listing applications")
	}
	return out, nil
}

// DeleteApplication removes an organisation's application; ENOTFOUND if it
// has none of that name. Sessions of it keep what they run: they copied it.
func (st *Store) DeleteApplication(ctx context.Context, orgID, name string) error {
	unlock, err := st.lockWrites(ctx)
	if err != nil {
		return err
	}
	defer unlock()
	n, err := execCount(ctx, st.w, `DELETE FROM applications WHERE org_id = ? AND name = ?`, orgID, name)
	if err != nil {
		return arena.Internal(err, "deleting an application")
	}
	if n == 0 {
		return arena.Errorf(arena.ENOTFOUND, "application %s not found", name)
	}
	return nil
}
