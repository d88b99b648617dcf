package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"strings"

	"github.com/arena-hq/arena"
)

// CreateOrganization inserts o; ECONFLICT if its id exists.
func (st *Store) CreateOrganization(ctx context.Context, o *arena.Organization) error {
	unlock, err := st.lockWrites(ctx)
	if err != nil {
		return err
	}
	defer unlock()
	_, err = st.w.ExecContext(ctx, `INSERT INTO organizations (id, name) VALUES (?, ?)`, o.ID, o.Name)
	switch {
	case err == nil:
		return nil
	case isDuplicate(err):
		return arena.Errorf(arena.ECONFLICT, "organization %s already exists", o.ID)
	}
	return arena.Internal(err, "creating an organization")
}

// CreateToken inserts t. It fails with ECONFLICT if its id or its hash exists,
// and with ENOTFOUND if its organisation does not.
func (st *Store) CreateToken(ctx context.Context, t *arena.Token) error {
	unlock, err := st.lockWrites(ctx)
	if err != nil {
		return err
	}
	defer unlock()
	_, err = st.w.ExecContext(ctx, `INSERT INTO tokens (id, org_id, name, hash, created_at, expires_at, scopes)
		VALUES (?, ?, ?, ?, ?, ?, ?)`, t.ID, t.OrgID, t.Name, t.Hash, nanos(t.CreatedAt), nanos(t.ExpiresAt), strings.Join(t.Scopes, " "))
	switch {
	case err == nil:
		return nil
	case isDuplicate(err):
		// Which one is not said: a clash of hashes must not confirm that a secret is in use.
		return arena.Errorf(arena.ECONFLICT, "token %s already exists", t.ID)
	case isMissingParent(err):
		return arena.Errorf(arena.ENOTFOUND, "organization %s not found", t.OrgID)
	}
	return arena.Internal(err, "creating a token")
}

// FindTokenByHash returns the token whose secret hashes to hash; ENOTFOUND if
// there is none. Expiry is the caller's to check.
func (st *Store) FindTokenByHash(ctx context.Context, hash string) (*arena.Token, error) {
	var (
		t                arena.Token
		created, expires int64
		scopes           string
	)
	err := st.r.QueryRowContext(ctx, `SELECT id, org_id, name, hash, created_at, expires_at, scopes
		FROM tokens WHERE hash = ?`, hash).Scan(&t.ID, &t.OrgID, &t.Name, &t.Hash, &created, &expires, &scopes)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, arena.Errorf(arena.ENOTFOUND, "token not found")
	}
	if err != nil {
		return nil, arena.Internal(err, "finding a token")
	}
	t.CreatedAt, t.ExpiresAt = fromNanos(created), fromNanos(expires)
	t.Scopes = strings.Fields(scopes)
	return &t, nil
}
