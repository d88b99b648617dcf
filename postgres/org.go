package postgres

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/arena-hq/arena"
)

// CreateOrganization inserts o; ECONFLICT if its id exists. Its environment
// is stored as given, empty included: defaults are the caller's.
func (st *Store) CreateOrganization(ctx context.Context, o *arena.Organization) error {
	_, err := st.exec(ctx, `INSERT INTO organizations (id, name, environment, created_at, quota_sessions, quota_milli_cpu, quota_source)
		VALUES ($1, $2, $3, $4, $5, $6, $7)`,
		o.ID, o.Name, string(o.Environment), o.CreatedAt.UTC(), o.Quota.MaxSessions, o.Quota.MaxMilliCPU, o.QuotaSource)
	switch {
	case err == nil:
		return nil
	case isDuplicate(err):
		return arena.Errorf(arena.ECONFLICT, "organization %s already exists", o.ID)
	}
	return writeError(err, "creating an organization")
}

const organizationColumns = `id, name, environment, created_at, quota_sessions, quota_milli_cpu, quota_source`

func scanOrganization(row pgx.Row) (*arena.Organization, error) {
	var (
		o   arena.Organization
		env string
	)
	if err := row.Scan(&o.ID, &o.Name, &env, &o.CreatedAt, &o.Quota.MaxSessions, &o.Quota.MaxMilliCPU, &o.QuotaSource); err != nil {
		return nil, err
	}
	o.Environment, o.CreatedAt = arena.Environment(env), o.CreatedAt.UTC()
	return &o, nil
}

// FindOrganization returns the organisation with the given id; ENOTFOUND if there is none.
func (st *Store) FindOrganization(ctx context.Context, id string) (*arena.Organization, error) {
	o, err := scanOrganization(st.pool.QueryRow(ctx, `SELECT `+organizationColumns+` FROM organizations WHERE id = $1`, id))
	if isNoRows(err) || isUnstorable(err) {
		return nil, arena.Errorf(arena.ENOTFOUND, "organization %s not found", id)
	}
	if err != nil {
		return nil, arena.Internal(err, "finding an organization")
	}
	return o, nil
}

// ListOrganizations returns every organisation, ordered by id.
func (st *Store) ListOrganizations(ctx context.Context) ([]*arena.Organization, error) {
	rows, err := st.pool.Query(ctx, `SELECT `+organizationColumns+` FROM organizations ORDER BY id`)
	var out []*arena.Organization
	if err == nil {
		out, err = pgx.CollectRows(rows, func(row pgx.CollectableRow) (*arena.Organization, error) { return scanOrganization(row) })
	}
	if err != nil {
		return nil, arena.Internal(err, "listing organizations")
	}
	return out, nil
}

// SetOrganizationQuota replaces an organisation's quota and where it comes
// from; ENOTFOUND if there is no such organisation.
func (st *Store) SetOrganizationQuota(ctx context.Context, orgID string, q arena.Quota, source string) error {
	tag, err := st.exec(ctx, `UPDATE organizations SET quota_sessions = $2, quota_milli_cpu = $3, quota_source = $4 WHERE id = $1`,
		orgID, q.MaxSessions, q.MaxMilliCPU, source)
	switch {
	case isUnstorable(err):
		// No organisation's id holds what PostgreSQL cannot store.
		return arena.Errorf(arena.ENOTFOUND, "organization %s not found", orgID)
	case err != nil:
		return writeError(err, "setting an organization's quota")
	case tag.RowsAffected() == 0:
		return arena.Errorf(arena.ENOTFOUND, "organization %s not found", orgID)
	}
	return nil
}

// CreateUser inserts u. It fails with ECONFLICT if a user with its id exists
// (in any organisation) or its organisation has a user with its email, and
// with ENOTFOUND if its organisation does not exist. Emails are compared as
// given: normalising them is the caller's.
func (st *Store) CreateUser(ctx context.Context, u *arena.User) error {
	_, err := st.exec(ctx, `INSERT INTO users (id, org_id, email, name, created_at) VALUES ($1, $2, $3, $4, $5)`,
		u.ID, u.OrgID, u.Email, u.Name, u.CreatedAt.UTC())
	switch {
	case err == nil:
		return nil
	case isDuplicate(err):
		return arena.Errorf(arena.ECONFLICT, "user %s or a user with email %s already exists", u.ID, u.Email)
	case isMissingParent(err):
		return arena.Errorf(arena.ENOTFOUND, "organization %s not found", u.OrgID)
	}
	return writeError(err, "creating a user")
}

// ListUsers returns an organisation's users ordered by email; none for an
// unknown organisation.
func (st *Store) ListUsers(ctx context.Context, orgID string) ([]*arena.User, error) {
	rows, err := st.pool.Query(ctx, `SELECT id, org_id, email, name, created_at
		FROM users WHERE org_id = $1 ORDER BY email`, orgID)
	var out []*arena.User
	if err == nil {
		out, err = pgx.CollectRows(rows, func(row pgx.CollectableRow) (*arena.User, error) {
			var u arena.User
			if err := row.Scan(&u.ID, &u.OrgID, &u.Email, &u.Name, &u.CreatedAt); err != nil {
				return nil, err
			}
			u.CreatedAt = u.CreatedAt.UTC()
			return &u, nil
		})
	}
	if isUnstorable(err) {
		return nil, nil
	}
	if err != nil {
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
	tx, err := st.begin(ctx)
	if err != nil {
		return writeError(err, "deleting a user")
	}
	defer tx.Rollback(ctx)

	// The user's row is locked first. A token being issued to the user at
	// the same time checks its foreign key under a lock that conflicts with
	// this one: either it committed before, and the UPDATE below (a new
	// snapshot) revokes it, or it waits for this transaction and then finds
	// the user gone. Without the lock it could slip in between the UPDATE
	// and the DELETE, which would then fail on the foreign key.
	var locked bool
	err = tx.QueryRow(ctx, `SELECT true FROM users WHERE org_id = $1 AND id = $2 FOR UPDATE`, orgID, id).Scan(&locked)
	if isNoRows(err) || isUnstorable(err) {
		return arena.Errorf(arena.ENOTFOUND, "user %s not found", id)
	}
	if err != nil {
		return arena.Internal(err, "deleting a user")
	}
	// The tokens before the user: while they name it, its row cannot go.
	if _, err := tx.Exec(ctx, `UPDATE tokens SET revoked_at = coalesce(revoked_at, $3), user_id = NULL
		WHERE org_id = $1 AND user_id = $2`, orgID, id, revokedAt.UTC()); err != nil {
		return arena.Internal(err, "revoking a user's tokens")
	}
	if _, err := tx.Exec(ctx, `DELETE FROM users WHERE org_id = $1 AND id = $2`, orgID, id); err != nil {
		return arena.Internal(err, "deleting a user")
	}
	if err := tx.Commit(ctx); err != nil {
		return arena.Internal(err, "deleting a user")
	}
	return nil
}
