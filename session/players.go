package session

import (
	"context"
	"slices"

	"github.com/arena-hq/arena"
)

// JoinPlayers records players as joined to one of the organisation's active
// sessions and returns the session. A player already joined stays as it is,
// so that a matchmaker may retry.
func (s *Service) JoinPlayers(ctx context.Context, orgID, sessionID string, players []string) (*arena.Session, error) {
	if err := arena.ValidatePlayers("players", players); err != nil {
		return nil, err
	}
	e := s.active(orgID, sessionID)
	if e == nil {
		return nil, notFound(sessionID)
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	cur := e.cur.Load()
	if cur.State == arena.SessionStopped {
		return nil, notFound(sessionID)
	}
	next := cur.Clone()
	for _, p := range players {
		if !slices.Contains(next.Players, p) {
			next.Players = append(next.Players, p)
		}
	}
	if len(next.Players) > arena.MaxPlayers {
		return nil, arena.Invalid(arena.Violation{Field: "players", Description: "the session would track more than the most players a session may have"})
	}
	if len(next.Players) == len(cur.Players) {
		return cur.Clone(), nil
	}
	if err := s.store.UpdateSession(ctx, next); err != nil {
		return nil, err
	}
	e.cur.Store(next)
	return next.Clone(), nil
}

// LeavePlayers removes players from the organisation's active sessions: from
// sessionID when it is given, else from whichever sessions they joined. It
// returns the sessions that changed. A player that is in no session is no
// error, so that a matchmaker may retry.
func (s *Service) LeavePlayers(ctx context.Context, orgID, sessionID string, players []string) ([]*arena.Session, error) {
	if err := arena.ValidatePlayers("players", players); err != nil {
		return nil, err
	}
	var entries []*entry
	if sessionID != "" {
		e := s.active(orgID, sessionID)
		if e == nil {
			return nil, notFound(sessionID)
		}
		entries = []*entry{e}
	} else {
		s.mu.Lock()
		for _, e := range s.sessions.byID {
			if sess := e.cur.Load(); sess.OrgID == orgID && slices.ContainsFunc(players, func(p string) bool { return slices.Contains(sess.Players, p) }) {
				entries = append(entries, e)
			}
		}
		s.mu.Unlock()
	}
	var changed []*arena.Session
	for _, e := range entries {
		next, err := s.leave(ctx, e, players)
		if err != nil {
			return nil, err
		}
		if next != nil {
			changed = append(changed, next)
		}
	}
	return changed, nil
}

// leave removes players from one session; nil when none of them was in it.
func (s *Service) leave(ctx context.Context, e *entry, players []string) (*arena.Session, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	cur := e.cur.Load()
	if cur.State == arena.SessionStopped {
		return nil, nil
	}
	next := cur.Clone()
	next.Players = slices.DeleteFunc(next.Players, func(p string) bool { return slices.Contains(players, p) })
	if len(next.Players) == len(cur.Players) {
		return nil, nil
	}
	if err := s.store.UpdateSession(ctx, next); err != nil {
		return nil, err
	}
	e.cur.Store(next)
	return next.Clone(), nil
}
