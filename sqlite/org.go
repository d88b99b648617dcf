package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"time"

	"github.com/arena-hq/arena"
	"github.com/arena-hq/arena/storedoc"
)

// CreateOrganization inserts o; ECONFLICT if its id exists. Its environment
// is stored as given, empty included: defaults are the caller's.
func (st *Store) CreateOrganization(ctx context.Context, o *arena.Organization) error {
	unlock, err := st.lockWrites(ctx)
	if err != nil {
		return err
	}
	defer unlock()
	_, err = st.w.ExecContext(ctx, `INSERT INTO organizations (id, name, environment, created_at, quota_sessions, quota_milli_cpu, quota_source)
		VALUES (?, ?, ?, ?, ?, ?, ?)`,
		o.ID, o.Name, string(o.Environment), storedoc.Nanos(o.CreatedAt), o.Quota.MaxSessions, o.Quota.MaxMilliCPU, o.QuotaSource)
	switch {
	case err == nil:
		return nil
	case isDuplicate(err):
		return arena.Errorf(arena.ECONFLICT, "organization %s already exists", o.ID)
	}
	return arena.Internal(err, "creating an organization")
}

const organizationColumns = `id, name, environment, created_at, quota_sessions, quota_milli_cpu, quota_source`

func scanOrganization(row interface{ Scan(...any) error }) (*arena.Organization, error) {
	var (
		o       arena.Organization
		env     string
		created int64
	)
	if err := row.Scan(&o.ID, &o.Name, &env, &created, &o.Quota.MaxSessions, &o.Quota.MaxMilliCPU, &o.QuotaSource); err != nil {
		return nil, err
	}
	o.Environment, o.CreatedAt = arena.Environment(env), storedoc.FromNanos(created)
	return &o, nil
}

// FindOrganization returns the organisation with the given id; ENOTFOUND if there is none.
func (st *Store) FindOrganization(ctx context.Context, id string) (*arena.Organization, error) {
	o, err := scanOrganization(st.r.QueryRowContext(ctx, `SELECT `+organizationColumns+` FROM organizations WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, arena.Errorf(arena.ENOTFOUND, "organization %s not found", id)
	}
	if err != nil {
		return nil, arena.Internal(err, "finding an organization")
	}
	return o, nil
}

// ListOrganizations returns every organisation, ordered by id.
func (st *Store) ListOrganizations(ctx context.Context) ([]*arena.Organization, error) {
	rows, err := st.r.QueryContext(ctx, `SELECT `+organizationColumns+` FROM organizations ORDER BY id`)
	if err != nil {
		return nil, arena.Internal(err, "listing organizations")
	}
	defer rows.Close()
	var out []*arena.Organization
	for rows.Next() {
		o, err := scanOrganization(rows)
		if err != nil {
			return nil, arena.Internal(err, "listing organizations")
		}
		out = append(out, o)
	}
	if err := rows.Err(); err != nil {
		return nil, arena.Internal(err, "listing organizations")
	}
	return out, nil
}

// SetOrganizationQuota replaces an organisation's quota and where it comes
// from; ENOTFOUND if there is no such organisation.
func (st *Store) SetOrganizationQuota(ctx context.Context, orgID string, q arena.Quota, source string) error {
	unlock, err := st.lockWrites(ctx)
	if err != nil {
		return err
	}
	defer unlock()
	n, err := execCount(ctx, st.w, `UPDATE organizations SET quota_sessions = ?, quota_milli_cpu = ?, quota_source = ? WHERE id = ?`,
		q.MaxSessions, q.MaxMilliCPU, source, orgID)
	if err != nil {
		return arena.Internal(err, "setting an organization's quota")
	}
	if n == 0 {
		return arena.Errorf(arena.ENOTFOUND, "organization %s not found", orgID)
	}
	return nil
}

// CreateUser inserts u. It fails with ECONFLICT if a user with its id exists
// (in any organisation) or its organisation has a user with its email, and
// with ENOTFOUND if its organisation does not exist. Emails are compared as
// given: normalising them is the caller's.
func (st *Store) CreateUser(ctx context.Context, u *arena.User) error {
	unlock, err := st.lockWrites(ctx)
	if err != nil {
		return err
	}
	defer unlock()
	_, err = st.w.ExecContext(ctx, `INSERT INTO users (id, org_id, email, name, created_at) VALUES (?, ?, ?, ?, ?)`,
		u.ID, u.OrgID, u.Email, u.Name, storedoc.Nanos(u.CreatedAt))
	switch {
	case err == nil:
		return nil
	case isDuplicate(err):
		return arena.Errorf(arena.ECONFLICT, "user %s or a user with email %s already exists", u.ID, u.Email)
	case isMissingParent(err):
		return arena.Errorf(arena.ENOTFOUND, "organization %s not found", u.OrgID)
	}
	return arena.Internal(err, "creating a user")
}

// ListUsers returns an organisation's users ordered by email; none for an
// unknown organisation.
func (st *Store) ListUsers(ctx context.Context, orgID string) ([]*arena.User, error) {
	rows, err := st.r.QueryContext(ctx, `SELECT id, org_id, email, name, created_at
		FROM users WHERE org_id = ? ORDER BY email`, orgID)
	if err != nil {
		return nil, arena.Internal(err, "listing users")
	}
	defer rows.Close()
	var out []*arena.User
	for rows.Next() {
		var (
			u       arena.User
			created int64
		)
		if err := rows.Scan(&u.ID, &u.OrgID, &u.Email, &u.Name, &created); err != nil {
			return nil, arena.Internal(err, "listing users")
		}
		u.CreatedAt = storedoc.FromNanos(created)
		out = append(out, &u)
	}
	if err := rows.Err(); err != nil {
		return nil, arena.Internal(err, "listing users")
	}
	return out, nil
}

// DeleteUser removes an organisation's user and, in the same transaction,
// revokes the tokens issued to it at revokedAt. A token revoked before keeps
// its first time, as with RevokeToken. The tokens stay, for the record, but
// name no user any more: the user they named is gone. ENOTFOUND if the
// organisation has no such user, a user of another organisation included;
// EINVALID if revokedAt is zero, which would leave the tokens valid.
func (st *Store) DeleteUser(ctx context.Context, orgID, id string, revokedAt time.Time) error {
	if revokedAt.IsZero() {
		return arena.Errorf(arena.EINVALID, "removing a user needs the time its tokens are revoked")
	}
	unlock, err := st.lockWrites(ctx)
	if err != nil {
		return err
	}
	defer unlock()
	tx, err := st.w.BeginTx(ctx, nil)
	if err != nil {
		return arena.Internal(err, "deleting a user")
	}
	defer tx.Rollback()
	// The tokens first: while they name the user, its row cannot go.
	if _, err := tx.ExecContext(ctx, `UPDATE tokens
		SET revoked_at = CASE revoked_at WHEN 0 THEN ? ELSE revoked_at END, user_id = NULL
		WHERE org_id = ? AND user_id = ?`, storedoc.Nanos(revokedAt), orgID, id); err != nil {
		return arena.Internal(err, "revoking a user's tokens")
	}
	n, err := execCount(ctx, tx, `DELETE FROM users WHERE org_id = ? AND id = ?`, orgID, id)
	if err != nil {
		return arena.Internal(err, "deleting a user")
	}
	if n == 0 {
		return arena.Errorf(arena.ENOTFOUND, "user %s not found", id)
	}
	if err := tx.Commit(); err != nil {
		return arena.Internal(err, "deleting a user")
	}
	return nil
}
