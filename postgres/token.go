package postgres

import (
	"context"

	"github.com/jackc/pgx/v5/pgtype"

	"github.com/arena-hq/arena"
)

// CreateOrganization inserts o; ECONFLICT if its id exists.
func (st *Store) CreateOrganization(ctx context.Context, o *arena.Organization) error {
	_, err := st.pool.Exec(ctx, `INSERT INTO organizations (id, name) VALUES ($1, $2)`, o.ID, o.Name)
	switch {
	case err == nil:
		return nil
	case isDuplicate(err):
		return arena.Errorf(arena.ECONFLICT, "organization %s already exists", o.ID)
	}
	return writeError(err, "creating an organization")
}

// CreateToken inserts t. It fails with ECONFLICT if its id or its hash exists,
// and with ENOTFOUND if its organisation does not.
func (st *Store) CreateToken(ctx context.Context, t *arena.Token) error {
	scopes := t.Scopes
	if scopes == nil {
		scopes = []string{} // pgx sends a nil slice as NULL, which the column refuses
	}
	_, err := st.pool.Exec(ctx, `INSERT INTO tokens (id, org_id, name, hash, created_at, expires_at, scopes)
		VALUES ($1, $2, $3, $4, $5, $6, $7)`,
		t.ID, t.OrgID, t.Name, t.Hash, t.CreatedAt.UTC(), optional(t.ExpiresAt), scopes)
	switch {
	case err == nil:
		return nil
	case isDuplicate(err):
		// Which one is not said: a clash of hashes must not confirm that a secret is in use.
		return arena.Errorf(arena.ECONFLICT, "token %s already exists", t.ID)
	case isMissingParent(err):
		return arena.Errorf(arena.ENOTFOUND, "organization %s not found", t.OrgID)
	}
	return writeError(err, "creating a token")
}

// FindTokenByHash returns the token whose secret hashes to hash; ENOTFOUND if
// there is none. Expiry is the caller's to check.
func (st *Store) FindTokenByHash(ctx context.Context, hash string) (*arena.Token, error) {
	var (
		t       arena.Token
		expires pgtype.Timestamptz
	)
	err := st.pool.QueryRow(ctx, `SELECT id, org_id, name, hash, created_at, expires_at, scopes
		FROM tokens WHERE hash = $1`, hash).Scan(&t.ID, &t.OrgID, &t.Name, &t.Hash, &t.CreatedAt, &expires, &t.Scopes)
	if isNoRows(err) || isUnstorable(err) {
		return nil, arena.Errorf(arena.ENOTFOUND, "token not found")
	}
	if err != nil {
		return nil, arena.Internal(err, "finding a token")
	}
	t.CreatedAt, t.ExpiresAt = t.CreatedAt.UTC(), fromOptional(expires)
	return &t, nil
}
