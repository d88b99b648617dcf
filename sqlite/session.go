package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"strconv"

	"github.com/arena-hq/arena"
	"github.com/arena-hq/arena/sqlstore"
	"github.com/arena-hq/arena/storedoc"
)

// encodeSession returns the document of s as the doc column holds it: the
// JSON of storedoc.Session.
func encodeSession(s *arena.Session) (string, error) {
	b, err := json.Marshal(storedoc.FromSession(s))
	return string(b), err
}

// scanSession reads a row of sessionColumns.
func scanSession(row interface{ Scan(...any) error }) (*arena.Session, error) {
	var (
		s       arena.Session
		state   string
		created int64
		doc     string
	)
	if err := row.Scan(&s.ID, &s.OrgID, &s.NodeID, &state, &created, &doc); err != nil {
		return nil, err
	}
	var d storedoc.Session
	if err := json.Unmarshal([]byte(doc), &d); err != nil {
		return nil, err
	}
	s.State = arena.SessionState(state)
	s.CreatedAt = storedoc.FromNanos(created)
	d.ToSession(&s)
	return &s, nil
}

const sessionColumns = sqlstore.SessionColumns

// CreateSession inserts s. It fails with ECONFLICT if a session with its id,
// or its organisation's session with its name, exists, and with ENOTFOUND if
// its organisation does not.
func (st *Store) CreateSession(ctx context.Context, s *arena.Session) error {
	doc, err := encodeSession(s)
	if err != nil {
		return arena.Internal(err, "encoding a session")
	}
	return st.groupedStatement(ctx, func(ctx context.Context, tx execer) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO sessions (`+sessionColumns+`, name) VALUES (?, ?, ?, ?, ?, ?, ?)`,
			s.ID, s.OrgID, s.NodeID, string(s.State), storedoc.Nanos(s.CreatedAt), doc, sqlstore.StoredName(s))
		switch {
		case err == nil:
			return nil
		case isDuplicate(err):
			return arena.Errorf(arena.ECONFLICT, "session %s already exists", s.ID)
		case isMissingParent(err):
			return arena.Errorf(arena.ENOTFOUND, "organization %s not found", s.OrgID)
		}
		return arena.Internal(err, "creating a session")
	})
}

// UpdateSession overwrites every field of the stored session but its ID,
// OrgID and CreatedAt, which never change; its name may (a session claimed
// from a warm pool takes the caller's). ENOTFOUND if it does not exist,
// ECONFLICT if its organisation has another session of its name.
func (st *Store) UpdateSession(ctx context.Context, s *arena.Session) error {
	doc, err := encodeSession(s)
	if err != nil {
		return arena.Internal(err, "encoding a session")
	}
	return st.groupedStatement(ctx, func(ctx context.Context, tx execer) error {
		n, err := execCount(ctx, tx, updateSession, s.NodeID, string(s.State), doc, sqlstore.StoredName(s), s.ID)
		if isDuplicate(err) {
			return arena.Errorf(arena.ECONFLICT, "the organisation has a session named %s", s.PublicID())
		}
		if err != nil {
			return arena.Internal(err, "updating a session")
		}
		if n == 0 {
			return arena.Errorf(arena.ENOTFOUND, "session %s not found", s.ID)
		}
		return nil
	})
}

const updateSession = `UPDATE sessions SET node_id = ?, state = ?, doc = ?, name = ? WHERE id = ?`

// StopSession updates s and records its usage in one transaction.
//
// It is idempotent: once a session's usage is recorded, a later StopSession
// for it changes nothing and returns nil. The first stop wins, so the session
// and its usage row never disagree, and a stop reported twice (by the agent
// and by a TTL, say) is billed once. ENOTFOUND if the session or the usage's
// organisation does not exist; EINVALID if u is not s's usage.
func (st *Store) StopSession(ctx context.Context, s *arena.Session, u *arena.Usage) error {
	if u.SessionID != s.ID {
		return arena.Errorf(arena.EINVALID, "usage of session %s cannot stop session %s", u.SessionID, s.ID)
	}
	doc, err := encodeSession(s)
	if err != nil {
		return arena.Internal(err, "encoding a session")
	}
	return st.grouped(ctx, func(ctx context.Context, tx execer) error {
		n, err := execCount(ctx, tx, updateSession, s.NodeID, string(s.State), doc, sqlstore.StoredName(s), s.ID)
		if err != nil {
			return arena.Internal(err, "stopping a session")
		}
		if n == 0 {
			return arena.Errorf(arena.ENOTFOUND, "session %s not found", s.ID)
		}
		n, err = execCount(ctx, tx, `INSERT INTO usage
			(session_id, org_id, application, location, milli_cpu, memory_mb, start_at, end_at, seconds, pool_start_at, pool_end_at)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
			ON CONFLICT (session_id) DO NOTHING`,
			u.SessionID, u.OrgID, u.Application, u.Location, u.Resources.MilliCPU, u.Resources.MemoryMB,
			storedoc.Nanos(u.Start), storedoc.Nanos(u.End), u.Seconds, storedoc.Nanos(u.PoolStart), storedoc.Nanos(u.PoolEnd))
		switch {
		case isMissingParent(err):
			return arena.Errorf(arena.ENOTFOUND, "organization %s not found", u.OrgID)
		case err != nil:
			return arena.Internal(err, "recording usage")
		case n == 0:
			return errUndo // already stopped: leave both as the first stop left them
		}
		return nil
	})
}

// execCount runs a statement and returns how many rows it changed.
func execCount(ctx context.Context, db execer, query string, args ...any) (int64, error) {
	res, err := db.ExecContext(ctx, query, args...)
	if err != nil {
		return 0, err
	}
	return res.RowsAffected()
}

// FindSession returns the session with the given id; ENOTFOUND if there is none.
func (st *Store) FindSession(ctx context.Context, id string) (*arena.Session, error) {
	row := st.r.QueryRowContext(ctx, `SELECT `+sessionColumns+` FROM sessions WHERE id = ?`, id)
	s, err := scanSession(row)
	if errors.Is(err, sql.ErrNoRows) {
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
	q, args := sqlstore.SessionByNameQuery(orgID, name, func(n int) string { return "?" + strconv.Itoa(n) })
	s, err := scanSession(st.r.QueryRowContext(ctx, q, args...))
	if errors.Is(err, sql.ErrNoRows) {
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
	rows, err := st.r.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, arena.Internal(err, "listing sessions")
	}
	defer rows.Close()
	var out []*arena.Session
	for rows.Next() {
		s, err := scanSession(rows)
		if err != nil {
			return nil, arena.Internal(err, "listing sessions")
		}
		out = append(out, s)
	}
	if err := rows.Err(); err != nil {
		return nil, arena.Internal(err, "listing sessions")
	}
	return out, nil
}

// sessionQuery returns the query of ListSessions.
func sessionQuery(f arena.SessionQuery) (string, []any) {
	return sqlstore.SessionQuery(f, func(int) string { return "?" })
}

// ListUsage returns the usage of one organisation ordered by end time (then
// session id). An empty orgID matches no organisation, not every one.
func (st *Store) ListUsage(ctx context.Context, orgID string) ([]*arena.Usage, error) {
	rows, err := st.r.QueryContext(ctx, `SELECT
		session_id, org_id, application, location, milli_cpu, memory_mb, start_at, end_at, seconds, pool_start_at, pool_end_at
		FROM usage WHERE org_id = ? ORDER BY end_at, session_id`, orgID)
	if err != nil {
		return nil, arena.Internal(err, "listing usage")
	}
	defer rows.Close()
	var out []*arena.Usage
	for rows.Next() {
		var (
			u                              arena.Usage
			start, end, poolStart, poolEnd int64
		)
		if err := rows.Scan(&u.SessionID, &u.OrgID, &u.Application, &u.Location,
			&u.Resources.MilliCPU, &u.Resources.MemoryMB, &start, &end, &u.Seconds, &poolStart, &poolEnd); err != nil {
			return nil, arena.Internal(err, "listing usage")
		}
		u.Start, u.End = storedoc.FromNanos(start), storedoc.FromNanos(end)
		u.PoolStart, u.PoolEnd = storedoc.FromNanos(poolStart), storedoc.FromNanos(poolEnd)
		out = append(out, &u)
	}
	if err := rows.Err(); err != nil {
		return nil, arena.Internal(err, "listing usage")
	}
	return out, nil
}
