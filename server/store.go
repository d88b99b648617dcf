package server

import (
	"context"
	"time"

	"github.com/arena-hq/arena"
)

// Store persists the control plane's state. sqlite.Store implements it.
// Errors carry arena codes (ENOTFOUND, ECONFLICT).
type Store interface {
	// CreateSession inserts a new session; ECONFLICT if its id exists.
	CreateSession(ctx context.Context, s *arena.Session) error
	// UpdateSession overwrites a session's mutable fields.
	UpdateSession(ctx context.Context, s *arena.Session) error
	// StopSession records a session as stopped together with its usage, atomically.
	StopSession(ctx context.Context, s *arena.Session, u *arena.Usage) error
	FindSession(ctx context.Context, id string) (*arena.Session, error)
	// ListSessions returns sessions in creation order, narrowed by f.
	ListSessions(ctx context.Context, f SessionQuery) ([]*arena.Session, error)
	ListUsage(ctx context.Context, orgID string) ([]*arena.Usage, error)

	// UpsertNode saves a node's description and credential hash.
	UpsertNode(ctx context.Context, n *arena.Node) error
	// SaveLastSeen records when nodes were last heard from; LastSeen reads it back.
	SaveLastSeen(ctx context.Context, seen map[string]time.Time) error
	LastSeen(ctx context.Context) (map[string]time.Time, error)
	// ListNodes returns every node, ordered by id.
	ListNodes(ctx context.Context) ([]*arena.Node, error)
	DeleteNode(ctx context.Context, id string) error

	CreateOrganization(ctx context.Context, o *arena.Organization) error
	CreateToken(ctx context.Context, t *arena.Token) error
	// FindTokenByHash returns the token with that hash; ENOTFOUND otherwise.
	FindTokenByHash(ctx context.Context, hash string) (*arena.Token, error)
}

// SessionQuery selects sessions from the store. Empty fields do not filter.
type SessionQuery struct {
	OrgID  string
	NodeID string
	// ActiveOnly leaves out stopped sessions.
	ActiveOnly bool
}
