package postgres

import (
	"context"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/arena-hq/arena"
	"github.com/arena-hq/arena/sqlstore"
	"github.com/arena-hq/arena/storedoc"
)

// scanSession reads a row of sessionColumns. The doc column is a
// storedoc.Session, which pgx encodes and decodes as JSON for jsonb.
func scanSession(row pgx.Row) (*arena.Session, error) {
	var (
		s       arena.Session
		state   string
		created time.Time
		d       storedoc.Session
	)
	if err := row.Scan(&s.ID, &s.OrgID, &s.NodeID, &state, &created, &d); err != nil {
		return nil, err
	}
	s.State = arena.SessionState(state)
	s.CreatedAt = created.UTC()
	d.ToSession(&s)
	return &s, nil
}

const sessionColumns = sqlstore.SessionColumns

// CreateSession inserts s. It fails with ECONFLICT if a session with its id,
// or its organisation's session with its name, exists, and with ENOTFOUND if
// its organisation does not.
func (st *Store) CreateSession(ctx context.Context, s *arena.Session) error {
	_, err := st.execGrouped(ctx, `INSERT INTO sessions (`+sessionColumns+`, name) VALUES ($1, $2, $3, $4, $5, $6, $7)`,
		s.ID, s.OrgID, s.NodeID, string(s.State), s.CreatedAt.UTC(), storedoc.FromSession(s), sqlstore.StoredName(s))
	switch {
	case err == nil:
		return nil
	case isDuplicate(err):
		return arena.Errorf(arena.ECONFLICT, "session %s already exists", s.ID)
	case isMissingParent(err):
		return arena.Errorf(arena.ENOTFOUND, "organization %s not found", s.OrgID)
	}
	return writeError(err, "creating a session")
}

// UpdateSession overwrites every field of the stored session but its ID,
// OrgID and CreatedAt, which never change; its name may (a session claimed
// from a warm pool takes the caller's). ENOTFOUND if it does not exist,
// ECONFLICT if its organisation has another session of its name.
func (st *Store) UpdateSession(ctx context.Context, s *arena.Session) error {
	tag, err := st.execGrouped(ctx, updateSession, s.NodeID, string(s.State), storedoc.FromSession(s), sqlstore.StoredName(s), s.ID)
	if isDuplicate(err) {
		return arena.Errorf(arena.ECONFLICT, "the organisation has a session named %s", s.PublicID())
	}
	if err != nil {
		return writeError(err, "updating a session")
	}
	if tag.RowsAffected() == 0 {
		return arena.Errorf(arena.ENOTFOUND, "session %s not found", s.ID)
	}
	return nil
}

const updateSession = `UPDATE sessions SET node_id = $1, state = $2, doc = $3, name = $4 WHERE id = $5`

// StopSession updates s and records its usage in one transaction.
//
// It is idempotent: once a session's usage is recorded, a later StopSession
// for it changes nothing and returns nil. The first stop wins, so the session
// and its usage row never disagree, and a stop reported twice (by the agent
// and by a TTL, say) is billed once. Two stops at once queue on the
// session's row, which the UPDATE locks, and the second then finds the
// usage recorded. ENOTFOUND if the session or the usage's organisation does
// not exist; EINVALID if u is not s's usage.
func (st *Store) StopSession(ctx context.Context, s *arena.Session, u *arena.Usage) error {
	if u.SessionID != s.ID {
		return arena.Errorf(arena.EINVALID, "usage of session %s cannot stop session %s", u.SessionID, s.ID)
	}
	tx, err := st.begin(ctx)
	if err != nil {
		return writeError(err, "stopping a session")
	}
	defer tx.Rollback(ctx) // also undoes the update when the usage was recorded before

	tag, err := tx.Exec(ctx, updateSession, s.NodeID, string(s.State), storedoc.FromSession(s), sqlstore.StoredName(s), s.ID)
	if err != nil {
		return writeError(err, "stopping a session")
	}
	if tag.RowsAffected() == 0 {
		return arena.Errorf(arena.ENOTFOUND, "session %s not found", s.ID)
	}
	tag, err = tx.Exec(ctx, `INSERT INTO usage
		(session_id, org_id, application, location, milli_cpu, memory_mb, start_at, end_at, seconds, pool_start_at, pool_end_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
		ON CONFLICT (session_id) DO NOTHING`,
		u.SessionID, u.OrgID, u.Application, u.Location, u.Resources.MilliCPU, u.Resources.MemoryMB,
		optional(u.Start), u.End.UTC(), u.Seconds, optional(u.PoolStart), optional(u.PoolEnd))
	switch {
	case isMissingParent(err):
		return arena.Errorf(arena.ENOTFOUND, "organization %s not found", u.OrgID)
	case err != nil:
		return writeError(err, "recording usage")
	case tag.RowsAffected() == 0:
		return nil // already stopped: leave both as the first stop left them
	}
	if err := tx.Commit(ctx); err != nil {
		return arena.Internal(err, "stopping a session")
	}
	return nil
}

// FindSession returns the session with the given id; ENOTFOUND if there is none.
func (st *Store) FindSession(ctx context.Context, id string) (*arena.Session, error) {
	s, err := scanSession(st.pool.QueryRow(ctx, `SELECT `+sessionColumns+` FROM sessions WHERE id = $1`, id))
	if isNoRows(err) || isUnstorable(err) {
		return nil, arena.Errorf(arena.ENOTFOUND, "session %s not found", id)
	}
	if err != nil {
		return nil, arena.Internal(err, "finding a session")
	}
	return s, nil
}

// FindSessionByName returns an organisation's session by the id the API
// knows it by, or ENOTFOUND.
func (st *Store) FindSessionByName(ctx context.Context, orgID, name string) (*arena.Session, error) {
	if name == "" {
		return nil, arena.Errorf(arena.ENOTFOUND, "a session needs an id")
	}
	q, args := sqlstore.SessionByNameQuery(orgID, name, dollar)
	s, err := scanSession(st.pool.QueryRow(ctx, q, args...))
	if isNoRows(err) || isUnstorable(err) {
		return nil, arena.Errorf(arena.ENOTFOUND, "session %s not found", name)
	}
	if err != nil {
		return nil, arena.Internal(err, "finding a session")
	}
	return s, nil
}

// ListSessions returns the sessions f selects, ordered by creation time and then id.
func (st *Store) ListSessions(ctx context.Context, f arena.SessionQuery) ([]*arena.Session, error) {
	q, args := sessionQuery(f)
	rows, err := st.pool.Query(ctx, q, args...)
	var out []*arena.Session
	if err == nil {
		out, err = pgx.CollectRows(rows, func(row pgx.CollectableRow) (*arena.Session, error) { return scanSession(row) })
	}
	if isUnstorable(err) {
		return nil, nil
	}
	if err != nil {
		return nil, arena.Internal(err, "listing sessions")
	}
	return out, nil
}

// dollar is PostgreSQL's placeholder of the nth argument.
func dollar(n int) string { return "$" + strconv.Itoa(n) }

// sessionQuery returns the query of ListSessions.
func sessionQuery(f arena.SessionQuery) (string, []any) {
	return sqlstore.SessionQuery(f, dollar)
}

// ListUsage returns the usage of one organisation ordered by end time (then
// session id). An empty orgID matches no organisation, not every one.
func (st *Store) ListUsage(ctx context.Context, orgID string) ([]*arena.Usage, error) {
	rows, err := st.pool.Query(ctx, `SELECT
		session_id, org_id, application, location, milli_cpu, memory_mb, start_at, end_at, seconds, pool_start_at, pool_end_at
		FROM usage WHERE org_id = $1 ORDER BY end_at, session_id`, orgID)
	var out []*arena.Usage
	if err == nil {
		out, err = pgx.CollectRows(rows, scanUsage)
	}
	if isUnstorable(err) {
		return nil, nil
	}
	if err != nil {
		return nil, arena.Internal(err, "listing usage")
	}
	return out, nil
}

func scanUsage(row pgx.CollectableRow) (*arena.Usage, error) {
	var (
		u                         arena.Usage
		start, poolStart, poolEnd pgtype.Timestamptz
		end                       time.Time
	)
	if err := row.Scan(&u.SessionID, &u.OrgID, &u.Application, &u.Location,
		&u.Resources.MilliCPU, &u.Resources.MemoryMB, &start, &end, &u.Seconds, &poolStart, &poolEnd); err != nil {
		return nil, err
	}
	u.Start, u.End = fromOptional(start), end.UTC()
	u.PoolStart, u.PoolEnd = fromOptional(poolStart), fromOptional(poolEnd)
	return &u, nil
}
