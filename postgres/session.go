package postgres

import (
	"context"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/arena-hq/arena"
	"github.com/arena-hq/arena/server"
)

// sessionDoc is the stored form of the fields of arena.Session that are not
// columns. It is a type of its own, with its own JSON names, so that renaming
// a domain field or changing the API's JSON tags cannot silently change what
// is stored; its names and forms are those of the SQLite store's document.
// Slices and maps have no omitempty: nil and empty survive as they are.
type sessionDoc struct {
	Application string            `json:"application"`
	Tag         string            `json:"tag"`
	Image       string            `json:"image"`
	Region      string            `json:"region"`
	Location    string            `json:"location"`
	Host        string            `json:"host"`
	Network     string            `json:"network"`
	Ports       []portDoc         `json:"ports"`
	Env         map[string]string `json:"env"`
	Args        []string          `json:"args"`
	Labels      map[string]string `json:"labels"`
	TTL         int64             `json:"ttlNs"`
	Restart     bool              `json:"restart"`
	MilliCPU    int64             `json:"milliCpu"`
	MemoryMB    int64             `json:"memoryMb"`
	StopGrace   int64             `json:"stopGraceNs"`
	Players     []string          `json:"players"`
	RequestHash string            `json:"requestHash,omitempty"`
	Name        string            `json:"name,omitempty"`
	Artifacts   []string          `json:"artifactPaths,omitempty"`
	StopReason  string            `json:"stopReason"`
	ExitCode    int               `json:"exitCode"`
	Restarts    int               `json:"restarts"`
	RunningAt   int64             `json:"runningAt"`
	StoppingAt  int64             `json:"stoppingAt,omitempty"`
	Unreachable int64             `json:"unreachableSince,omitempty"`
	StoppedAt   int64             `json:"stoppedAt"`
	UpdatedAt   int64             `json:"updatedAt"`
}

type portDoc struct {
	Protocol  string `json:"protocol"`
	Container int    `json:"container"`
	Host      int    `json:"host"`
}

// encodeSession returns the document of s. pgx encodes it as JSON for the
// jsonb column.
func encodeSession(s *arena.Session) sessionDoc {
	d := sessionDoc{
		Application: s.Application,
		Tag:         s.Tag,
		Image:       s.Image,
		Region:      s.Region,
		Location:    s.Location,
		Host:        s.Host,
		Network:     string(s.Network),
		Env:         s.Env,
		Args:        s.Args,
		Labels:      s.Labels,
		TTL:         int64(s.TTL),
		Restart:     s.Restart,
		MilliCPU:    s.Resources.MilliCPU,
		MemoryMB:    s.Resources.MemoryMB,
		StopGrace:   int64(s.StopGrace),
		Players:     s.Players,
		RequestHash: s.RequestHash,
		Name:        s.Name,
		Artifacts:   s.ArtifactPaths,
		StopReason:  string(s.StopReason),
		ExitCode:    s.ExitCode,
		Restarts:    s.Restarts,
		RunningAt:   nanos(s.RunningAt),
		StoppingAt:  nanos(s.StoppingAt),
		Unreachable: nanos(s.UnreachableSince),
		StoppedAt:   nanos(s.StoppedAt),
		UpdatedAt:   nanos(s.UpdatedAt),
	}
	if s.Ports != nil {
		d.Ports = make([]portDoc, len(s.Ports))
		for i, p := range s.Ports {
			d.Ports[i] = portDoc{Protocol: string(p.Protocol), Container: p.Container, Host: p.Host}
		}
	}
	return d
}

// scanSession reads a row of sessionColumns.
func scanSession(row pgx.Row) (*arena.Session, error) {
	var (
		s       arena.Session
		state   string
		created time.Time
		d       sessionDoc
	)
	if err := row.Scan(&s.ID, &s.OrgID, &s.NodeID, &state, &created, &d); err != nil {
		return nil, err
	}
	s.State = arena.SessionState(state)
	s.CreatedAt = created.UTC()
	s.Application = d.Application
	s.Tag = d.Tag
	s.Image = d.Image
	s.Region = d.Region
	s.Location = d.Location
	s.Host = d.Host
	s.Network = arena.NetworkMode(d.Network)
	if d.Ports != nil {
		s.Ports = make([]arena.Port, len(d.Ports))
		for i, p := range d.Ports {
			s.Ports[i] = arena.Port{Protocol: arena.Protocol(p.Protocol), Container: p.Container, Host: p.Host}
		}
	}
	s.Env = d.Env
	s.Args = d.Args
	s.Labels = d.Labels
	s.TTL = time.Duration(d.TTL)
	s.Restart = d.Restart
	s.Resources = arena.Resources{MilliCPU: d.MilliCPU, MemoryMB: d.MemoryMB}
	s.StopGrace = time.Duration(d.StopGrace)
	s.Players = d.Players
	s.StopReason = arena.StopReason(d.StopReason)
	s.ExitCode = d.ExitCode
	s.Restarts = d.Restarts
	s.RequestHash = d.RequestHash
	s.Name = d.Name
	s.ArtifactPaths = d.Artifacts
	s.RunningAt = fromNanos(d.RunningAt)
	s.StoppingAt = fromNanos(d.StoppingAt)
	s.UnreachableSince = fromNanos(d.Unreachable)
	s.StoppedAt = fromNanos(d.StoppedAt)
	s.UpdatedAt = fromNanos(d.UpdatedAt)
	return &s, nil
}

const sessionColumns = `id, org_id, node_id, state, created_at, doc`

// CreateSession inserts s. It fails with ECONFLICT if a session with its id
// exists, and with ENOTFOUND if its organisation does not.
func (st *Store) CreateSession(ctx context.Context, s *arena.Session) error {
	_, err := st.exec(ctx, `INSERT INTO sessions (`+sessionColumns+`) VALUES ($1, $2, $3, $4, $5, $6)`,
		s.ID, s.OrgID, s.NodeID, string(s.State), s.CreatedAt.UTC(), encodeSession(s))
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
// OrgID and CreatedAt, which never change. ENOTFOUND if it does not exist.
func (st *Store) UpdateSession(ctx context.Context, s *arena.Session) error {
	tag, err := st.exec(ctx, updateSession, s.NodeID, string(s.State), encodeSession(s), s.ID)
	if err != nil {
		return writeError(err, "updating a session")
	}
	if tag.RowsAffected() == 0 {
		return arena.Errorf(arena.ENOTFOUND, "session %s not found", s.ID)
	}
	return nil
}

const updateSession = `UPDATE sessions SET node_id = $1, state = $2, doc = $3 WHERE id = $4`

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

	tag, err := tx.Exec(ctx, updateSession, s.NodeID, string(s.State), encodeSession(s), s.ID)
	if err != nil {
		return writeError(err, "stopping a session")
	}
	if tag.RowsAffected() == 0 {
		return arena.Errorf(arena.ENOTFOUND, "session %s not found", s.ID)
	}
	tag, err = tx.Exec(ctx, `INSERT INTO usage
		(session_id, org_id, application, location, milli_cpu, memory_mb, start_at, end_at, seconds)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
		ON CONFLICT (session_id) DO NOTHING`,
		u.SessionID, u.OrgID, u.Application, u.Location, u.Resources.MilliCPU, u.Resources.MemoryMB,
		optional(u.Start), u.End.UTC(), u.Seconds)
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

// ListSessions returns the sessions f selects, ordered by creation time and then id.
func (st *Store) ListSessions(ctx context.Context, f server.SessionQuery) ([]*arena.Session, error) {
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

// sessionQuery returns the query of ListSessions.
func sessionQuery(f server.SessionQuery) (string, []any) {
	var (
		where []string
		args  []any
	)
	if f.OrgID != "" {
		args = append(args, f.OrgID)
		where = append(where, "org_id = $"+strconv.Itoa(len(args)))
	}
	if f.NodeID != "" {
		args = append(args, f.NodeID)
		where = append(where, "node_id = $"+strconv.Itoa(len(args)))
	}
	if f.ActiveOnly {
		// The term of the partial indexes' WHERE clause, as a literal so
		// that the planner sees that they apply.
		where = append(where, "state <> 'stopped'")
	}
	q := `SELECT ` + sessionColumns + ` FROM sessions`
	if len(where) > 0 {
		q += ` WHERE ` + strings.Join(where, " AND ")
	}
	return q + ` ORDER BY created_at, id`, args
}

// ListUsage returns the usage of one organisation ordered by end time (then
// session id). An empty orgID matches no organisation, not every one.
func (st *Store) ListUsage(ctx context.Context, orgID string) ([]*arena.Usage, error) {
	rows, err := st.pool.Query(ctx, `SELECT
		session_id, org_id, application, location, milli_cpu, memory_mb, start_at, end_at, seconds
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
		u     arena.Usage
		start pgtype.Timestamptz
		end   time.Time
	)
	if err := row.Scan(&u.SessionID, &u.OrgID, &u.Application, &u.Location,
		&u.Resources.MilliCPU, &u.Resources.MemoryMB, &start, &end, &u.Seconds); err != nil {
		return nil, err
	}
	u.Start, u.End = fromOptional(start), end.UTC()
	return &u, nil
}
