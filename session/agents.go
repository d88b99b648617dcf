package session

import (
	"context"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/arena-hq/arena"
	"github.com/arena-hq/arena/fleet"
)

// Assignments streams the desired state of a node's sessions: first every
// active session of the node, then each change. A node has one stream at a
// time; a new one ends the previous. The channel closes when ctx ends.
func (s *Service) Assignments(ctx context.Context, nodeID string) (<-chan arena.Assignment, error) {
	// Opened under s.mu, with the full assignment queued first: every later
	// assignToNode finds the stream only after it.
	s.mu.Lock()
	sub, err := s.streams.open(nodeID, s.fullAssignment(nodeID))
	s.mu.Unlock()
	if err != nil {
		return nil, err
	}
	out := make(chan arena.Assignment)
	disconnected := s.obs.AgentConnected()
	go func() {
		defer disconnected()
		defer close(out)
		defer func() {
			if s.streams.close(nodeID, sub) {
				s.logs.endNode(nodeID)
			}
		}()
		sub.drain(ctx, out, s.closed)
	}()
	return out, nil
}

// fullAssignment lists every active session of the node; the caller holds s.mu.
func (s *Service) fullAssignment(nodeID string) arena.Assignment {
	full := arena.Assignment{Full: true, Images: s.catalog.Images()}
	for _, e := range s.sessions.byID {
		if sess := e.cur.Load(); sess.NodeID == nodeID {
			full.Sessions = append(full.Sessions, sess.Clone())
		}
	}
	return full
}

// DisconnectAgents ends every assignment stream and refuses new ones, so
// that a shutting-down server is not held up by streams that never end by
// themselves. The agents reconnect to the next control plane.
func (s *Service) DisconnectAgents() { s.streams.disconnect() }

// assignToNode sends a session's new desired state to its node; the caller holds
// the session's entry lock so that updates of one session stay in order.
func (s *Service) assignToNode(sess *arena.Session) {
	s.streams.send(sess.NodeID, arena.Assignment{Sessions: []*arena.Session{sess.Clone()}})
}

// Report takes an agent's word about one of its node's sessions. A node can
// only report on its own sessions; reports about stopped sessions are ignored,
// so an agent may repeat a report it is unsure was delivered.
func (s *Service) Report(ctx context.Context, r arena.SessionReport) error {
	e := s.entry(r.SessionID)
	if e == nil {
		sess, err := s.store.FindSession(ctx, r.SessionID)
		switch {
		case arena.ErrorCode(err) == arena.ENOTFOUND || (err == nil && sess.NodeID != r.NodeID):
			return notFound(r.SessionID)
		case err != nil:
			return err // a passing fault: the agent tries again
		}
		return nil // already stopped
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	cur := e.cur.Load()
	if cur.NodeID != r.NodeID {
		return notFound(r.SessionID)
	}
	if cur.State == arena.SessionStopped {
		return nil
	}
	if cur.RunningAt.IsZero() && (r.State == arena.SessionRunning || r.State == arena.SessionRestarting || !r.StartedAt.IsZero()) {
		// Its node is done starting it: placement counts it no more
		// among the node's starts to come. Once is enough: later reports
		// (a restart, a resync) leave placement alone.
		s.placer.StartDone(r.SessionID)
	}
	at := r.At
	if at.IsZero() {
		at = s.now()
	}
	next := cur.Clone()
	next.Restarts = max(next.Restarts, r.Restarts)
	if r.State == arena.SessionRestarting {
		// The crash's exit code is the process's last until it exits again.
		next.ExitCode = r.ExitCode
	}
	// The node speaks again: its word replaces the pause of billing at its
	// last heartbeat.
	next.UnreachableSince = time.Time{}
	if next.RunningAt.IsZero() {
		// Billing starts when the process first ran, even if the report
		// that said so was overtaken by a stop.
		switch {
		case r.State == arena.SessionRunning:
			next.RunningAt = at
		case !r.StartedAt.IsZero():
			next.RunningAt = r.StartedAt
		}
	}
	switch r.State {
	case arena.SessionRunning, arena.SessionRestarting:
		if cur.State == arena.SessionStopping || cur.State == r.State {
			// The stop under way decides the state; keep what was learnt.
			if !next.RunningAt.Equal(cur.RunningAt) || next.Restarts != cur.Restarts || next.ExitCode != cur.ExitCode || !next.UnreachableSince.Equal(cur.UnreachableSince) {
				if err := s.store.UpdateSession(ctx, next); err != nil {
					return err
				}
				e.cur.Store(next)
			}
			return nil
		}
		if err := next.Transition(r.State, at); err != nil {
			return err
		}
		if err := s.store.UpdateSession(ctx, next); err != nil {
			return err
		}
		e.cur.Store(next)
		s.events.emit(next)
		s.log.Info("session "+string(r.State), "session", r.SessionID, "restarts", next.Restarts)
		return nil
	case arena.SessionStopped:
		return s.finish(ctx, e, next, r, at)
	default:
		return arena.Errorf(arena.EINVALID, "agents cannot report state %q", r.State)
	}
}

// maxStopMessage bounds the stop message kept of a session: what an agent
// says is the engine's words, of no bounded length.
const maxStopMessage = 1024

// truncateText cuts s to at most n bytes, on a character boundary, marked
// with an ellipsis.
func truncateText(s string, n int) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "…"
}

// finish records a session as stopped with its usage, then frees what it held.
func (s *Service) finish(ctx context.Context, e *entry, next *arena.Session, r arena.SessionReport, at time.Time) error {
	if next.State != arena.SessionStopping || next.StopReason == "" {
		next.StopReason = r.Reason
		if next.StopReason == "" {
			next.StopReason = arena.StopExited
		}
	}
	if !next.RunningAt.IsZero() && at.Before(next.RunningAt) {
		at = next.RunningAt
	}
	next.ExitCode = r.ExitCode
	next.StopMessage = truncateText(r.Message, maxStopMessage)
	if err := next.Transition(arena.SessionStopped, at); err != nil {
		return err
	}
	u := &arena.Usage{
		SessionID: next.ID, OrgID: next.OrgID, Application: next.Application, Location: next.Location,
		Resources: next.Resources, Start: next.RunningAt, End: next.BillingEnd(at), Seconds: next.BilledSeconds(at),
	}
	u.PoolStart, u.PoolEnd = next.PoolPeriod(at)
	if next.Pool != "" {
		// Never claimed: a warm pool's idle time is nobody's session.
		u.Start, u.Seconds = time.Time{}, 0
	}
	if u.Start.IsZero() {
		u.End = time.Time{} // never ran: nothing billed, no period
	}
	if err := s.store.StopSession(ctx, next, u); err != nil {
		return err
	}
	// Free what it held before anyone can see it stopped: a caller that
	// sees "exited" and asks for a new session must find the room.
	s.placer.Release(next.ID)
	e.cur.Store(next)
	s.mu.Lock()
	s.sessions.remove(e, next)
	if e.ttl != nil {
		e.ttl.Stop()
	}
	s.mu.Unlock()
	s.events.emit(next)
	if next.Pool != "" {
		s.pools.nudge() // one fewer in its pool
	}
	s.log.Info("session stopped", "session", next.ID, "reason", next.StopReason, "exit_code", next.ExitCode,
		"billed_seconds", u.Seconds, "message", r.Message)
	return nil
}

// Agents is what the nodes' agents talk to: the fleet, for joining and
// heartbeats, and the sessions, for their work. rpc.NewHandler serves it
// to agents over the network; in one process agent.Config takes it.
type Agents struct {
	fleet *fleet.Fleet
	srv   *Service
}

// Agents returns what the nodes' agents talk to.
func (s *Service) Agents() *Agents { return &Agents{fleet: s.fleet, srv: s} }

// JoinNode admits a node; see fleet.Fleet.JoinNode.
func (a *Agents) JoinNode(ctx context.Context, joinSecret string, n arena.Node, credential string) (string, error) {
	return a.fleet.JoinNode(ctx, joinSecret, n, credential)
}

// AuthenticateNode returns the id of the node whose credential this is.
func (a *Agents) AuthenticateNode(ctx context.Context, credential string) (string, error) {
	return a.fleet.AuthenticateNode(ctx, credential)
}

// Installation is the id agents label their containers with.
func (a *Agents) Installation() string { return a.fleet.Installation() }

// Heartbeat records that a node is alive; see fleet.Fleet.Heartbeat.
func (a *Agents) Heartbeat(ctx context.Context, hb arena.Heartbeat) error {
	return a.fleet.Heartbeat(ctx, hb)
}

// Assignments streams the desired state of a node's sessions; see
// Service.Assignments.
func (a *Agents) Assignments(ctx context.Context, nodeID string) (<-chan arena.Assignment, error) {
	return a.srv.Assignments(ctx, nodeID)
}

// Report takes an agent's word about one of its node's sessions.
func (a *Agents) Report(ctx context.Context, r arena.SessionReport) error {
	return a.srv.Report(ctx, r)
}

// PushLogs hands a chunk of a session's output to whoever asked for it;
// see logRelay.push.
func (a *Agents) PushLogs(ctx context.Context, c arena.LogChunk) (bool, error) {
	return a.srv.logs.push(ctx, c)
}
