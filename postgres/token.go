package postgres

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/arena-hq/arena"
)

// CreateToken inserts t. It fails with ECONFLICT if its id or its hash
// exists, and with ENOTFOUND if its organisation does not, or if it names a
// user its organisation does not have: the foreign key of (org_id, user_id)
// keeps a token from being issued to another organisation's user.
func (st *Store) CreateToken(ctx context.Context, t *arena.Token) error {
	scopes := t.Scopes
	if scopes == nil {
		scopes = []string{} // pgx sends a nil slice as NULL, which the column refuses
	}
	_, err := st.exec(ctx, `INSERT INTO tokens
		(id, org_id, user_id, name, hash, created_at, expires_at, revoked_at, scopes, rate_limit, rate_burst)
		VALUES ($1, $2, nullif($3, ''), $4, $5, $6, $7, $8, $9, $10, $11)`,
		t.ID, t.OrgID, t.UserID, t.Name, t.Hash, t.CreatedAt.UTC(), optional(t.ExpiresAt), optional(t.RevokedAt),
		scopes, t.RateLimit, t.RateBurst)
	switch {
	case err == nil:
		return nil
	case isDuplicate(err):
		// Which one is not said: a clash of hashes must not confirm that a secret is in use.
		return arena.Errorf(arena.ECONFLICT, "token %s already exists", t.ID)
	case isMissingParent(err) && t.UserID != "":
		return arena.Errorf(arena.ENOTFOUND, "organization %s has no user %s", t.OrgID, t.UserID)
	case isMissingParent(err):
		return arena.Errorf(arena.ENOTFOUND, "organization %s not found", t.OrgID)
	}
	return writeError(err, "creating a token")
}

const tokenColumns = `id, org_id, coalesce(user_id, ''), name, hash, created_at, expires_at, revoked_at, scopes, rate_limit, rate_burst`

// scanToken reads a row of tokenColumns.
func scanToken(row pgx.Row) (*arena.Token, error) {
	var (
		t                arena.Token
		expires, revoked pgtype.Timestamptz
	)
	if err := row.Scan(&t.ID, &t.OrgID, &t.UserID, &t.Name, &t.Hash, &t.CreatedAt, &expires, &revoked,
		&t.Scopes, &t.RateLimit, &t.RateBurst); err != nil {
		return nil, err
	}
	t.CreatedAt, t.ExpiresAt, t.RevokedAt = t.CreatedAt.UTC(), fromOptional(expires), fromOptional(revoked)
	return &t, nil
}

// FindTokenByHash returns the token whose secret hashes to hash, revoked or
// not; ENOTFOUND if there is none. Expiry and revocation are the caller's to check.
func (st *Store) FindTokenByHash(ctx context.Context, hash string) (*arena.Token, error) {
	t, err := scanToken(st.pool.QueryRow(ctx, `SELECT `+tokenColumns+` FROM tokens WHERE hash = $1`, hash))
	if isNoRows(err) || isUnstorable(err) {
		return nil, arena.Errorf(arena.ENOTFOUND, "token not found")
	}
	if err != nil {
		return nil, arena.Internal(err, "finding a token")
	}
	return t, nil
}

// ListTokens returns an organisation's tokens, revoked ones included,
// ordered by creation time then id; none for an unknown organisation.
func (st *Store) ListTokens(ctx context.Context, orgID string) ([]*arena.Token, error) {
	rows, err := st.pool.Query(ctx, `SELECT `+tokenColumns+` FROM tokens WHERE org_id = $1 ORDER BY created_at, id`, orgID)
	var out []*arena.Token
	if err == nil {
		out, err = pgx.CollectRows(rows, func(row pgx.CollectableRow) (*arena.Token, error) { return scanToken(row) })
	}
	if isUnstorable(err) {
		return nil, nil
	}
	if err != nil {
		return nil, arena.Internal(err, "listing tokens")
	}
	return out, nil
}

// RevokeToken records an organisation's token as revoked at at. Revoking a
// token again succeeds and keeps the first time, so that the record says
// when it stopped working. ENOTFOUND if the organisation has no such token,
// another organisation's included; EINVALID if at is zero, which stands for
// a token not revoked.
func (st *Store) RevokeToken(ctx context.Context, orgID, id string, at time.Time) error {
	if at.IsZero() {
		return arena.Errorf(arena.EINVALID, "revoking a token needs the time it is revoked")
	}
	// A row already revoked still counts as updated, so the count tells only whether it exists.
	tag, err := st.exec(ctx, `UPDATE tokens SET revoked_at = coalesce(revoked_at, $3) WHERE org_id = $1 AND id = $2`,
		orgID, id, at.UTC())
	if isUnstorable(err) {
		return arena.Errorf(arena.ENOTFOUND, "token %s not found", id)
	}
	if err != nil {
		return arena.Internal(err, "revoking a token")
	}
	if tag.RowsAffected() == 0 {
		return arena.Errorf(arena.ENOTFOUND, "token %s not found", id)
	}
	return nil
}
