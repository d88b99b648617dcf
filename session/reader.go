package session

import (
	"context"
	"io"
	"time"

	"github.com/arena-hq/arena"
)

// Reader answers the reads of sessions from the store alone, for a
// replica that does not lead: what the leader has written is there before
// the leader answers, so a caller that created a session through any
// replica reads it back from any other. It changes nothing; the other
// operations of the API are the leader's, and fail here.
type Reader struct {
	store arena.SessionStore
}

// NewReader returns a Reader of store.
func NewReader(store arena.SessionStore) *Reader { return &Reader{store: store} }

// FindSession returns the organisation's session by the id the API knows
// it by, as Service.FindSession does.
func (r *Reader) FindSession(ctx context.Context, orgID, id string) (*arena.Session, error) {
	sess, err := r.store.FindSessionByName(ctx, orgID, id)
	if arena.ErrorCode(err) == arena.ENOTFOUND || (err == nil && sess.Pool != "") {
		return nil, notFound(id)
	}
	return sess, err
}

// ListSessions returns the organisation's sessions that pass f, oldest
// first, as Service.ListSessions does.
func (r *Reader) ListSessions(ctx context.Context, orgID string, f arena.SessionFilter) ([]*arena.Session, error) {
	all, err := r.store.ListSessions(ctx, arena.SessionQuery{OrgID: orgID, ActiveOnly: !f.All})
	if err != nil {
		return nil, err
	}
	return visible(all, f), nil
}

func leaderOnly() error {
	return arena.Errorf(arena.EUNAVAILABLE, "only the replica that leads does this; retry")
}

// CreateSession is the leader's.
func (r *Reader) CreateSession(context.Context, string, arena.SessionRequest) (*arena.Session, error) {
	return nil, leaderOnly()
}

// StopSession is the leader's.
func (r *Reader) StopSession(context.Context, string, string) error { return leaderOnly() }

// JoinPlayers is the leader's.
func (r *Reader) JoinPlayers(context.Context, string, string, []string) (*arena.Session, error) {
	return nil, leaderOnly()
}

// LeavePlayers is the leader's.
func (r *Reader) LeavePlayers(context.Context, string, string, []string) ([]*arena.Session, error) {
	return nil, leaderOnly()
}

// Logs is the leader's: it reaches the node.
func (r *Reader) Logs(context.Context, string, string, bool) (io.ReadCloser, error) {
	return nil, leaderOnly()
}

// Artifact is the leader's.
func (r *Reader) Artifact(context.Context, string, string, string) (io.ReadCloser, error) {
	return nil, leaderOnly()
}

// Usage is the leader's.
func (r *Reader) Usage(context.Context, string, time.Time, time.Time) ([]arena.UsageLine, error) {
	return nil, leaderOnly()
}

// PoolStatus is the leader's: it knows none here.
func (r *Reader) PoolStatus(string) []arena.PoolStatus { return nil }
