package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"strings"
	"time"

	"github.com/arena-hq/arena"
	"github.com/arena-hq/arena/storedoc"
)

// CreateToken inserts t. It fails with ECONFLICT if its id or its hash
// exists, and with ENOTFOUND if its organisation does not, or if it names a
// user its organisation does not have: the foreign key of (org_id, user_id)
// keeps a token from being issued to another organisation's user.
func (st *Store) CreateToken(ctx context.Context, t *arena.Token) error {
	unlock, err := st.lockWrites(ctx)
	if err != nil {
		return err
	}
	defer unlock()
	_, err = st.w.ExecContext(ctx, `INSERT INTO tokens
		(id, org_id, user_id, name, hash, created_at, expires_at, revoked_at, scopes, rate_limit, rate_burst)
		VALUES (?, ?, nullif(?, ''), ?, ?, ?, ?, ?, ?, ?, ?)`,
		t.ID, t.OrgID, t.UserID, t.Name, t.Hash, storedoc.Nanos(t.CreatedAt), storedoc.Nanos(t.ExpiresAt), storedoc.Nanos(t.RevokedAt),
		strings.Join(t.Scopes, " "), t.RateLimit, t.RateBurst)
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
	return arena.Internal(err, "creating a token")
}

const tokenColumns = `id, org_id, coalesce(user_id, ''), name, hash, created_at, expires_at, revoked_at, scopes, rate_limit, rate_burst`

// scanToken reads a row of tokenColumns.
func scanToken(row interface{ Scan(...any) error }) (*arena.Token, error) {
	var (
		t                         arena.Token
		created, expires, revoked int64
		scopes                    string
	)
	if err := row.Scan(&t.ID, &t.OrgID, &t.UserID, &t.Name, &t.Hash, &created, &expires, &revoked,
		&scopes, &t.RateLimit, &t.RateBurst); err != nil {
		return nil, err
	}
	t.CreatedAt, t.ExpiresAt, t.RevokedAt = storedoc.FromNanos(created), storedoc.FromNanos(expires), storedoc.FromNanos(revoked)
	t.Scopes = strings.Fields(scopes)
	return &t, nil
}

// FindTokenByHash returns the token whose secret hashes to hash, revoked or
// not; ENOTFOUND if there is none. Expiry and revocation are the caller's to check.
func (st *Store) FindTokenByHash(ctx context.Context, hash string) (*arena.Token, error) {
	t, err := scanToken(st.r.QueryRowContext(ctx, `SELECT `+tokenColumns+` FROM tokens WHERE hash = ?`, hash))
	if errors.Is(err, sql.ErrNoRows) {
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
	rows, err := st.r.QueryContext(ctx, `SELECT `+tokenColumns+` FROM tokens WHERE org_id = ? ORDER BY created_at, id`, orgID)
	if err != nil {
		return nil, arena.Internal(err, "listing tokens")
	}
	defer rows.Close()
	var out []*arena.Token
	for rows.Next() {
		t, err := scanToken(rows)
		if err != nil {
			return nil, arena.Internal(err, "listing tokens")
		}
		out = append(out, t)
	}
	if err := rows.Err(); err != nil {
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
	unlock, err := st.lockWrites(ctx)
	if err != nil {
		return err
	}
	defer unlock()
	// A row already revoked still counts as changed, so n tells only whether it exists.
	n, err := execCount(ctx, st.w, `UPDATE tokens SET revoked_at = CASE revoked_at WHEN 0 THEN ? ELSE revoked_at END
		WHERE org_id = ? AND id = ?`, storedoc.Nanos(at), orgID, id)
	if err != nil {
		return arena.Internal(err, "revoking a token")
	}
	if n == 0 {
		return arena.Errorf(arena.ENOTFOUND, "token %s not found", id)
	}
	return nil
}
