package session

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/arena-hq/arena"
)

// MaxPortMoves is how many times a session whose container could not start
// because a host port was taken is given new ports before it fails, as any
// start that fails does. Each move takes ports the node's agent did not
// report held, so a second one is rare: a port taken between the agent's
// look and the start, or past the reported bound. The count is kept in
// memory: a control plane that takes over starts it again.
const MaxPortMoves = 3

// movePorts acts on a node's word that a session's container could not
// start because a host port given to it is taken: it gives the session new
// ports on the node, none of those it had, records them in the store and
// then tells the node, whose agent starts the container afresh there. The
// answer of the create, given before, named the old ports: callers learn
// the new ones from GET /session/{id}, which has them from this moment.
//
// It moves only a session that never ran, on the node that says so, while
// it still has the ports the failed start was given: the agent repeats its
// word in every heartbeat until it sees the move, and a repeat must move
// nothing. Past MaxPortMoves, or when the node has no other free ports, the
// session fails.
func (fs *fleetSessions) movePorts(ctx context.Context, nodeID string, c arena.PortConflict) {
	s := fs.service()
	e := s.entry(c.SessionID)
	if e == nil {
		return
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	cur := e.cur.Load()
	if cur.NodeID != nodeID || !cur.RunningAt.IsZero() || !slices.Equal(arena.HostPortsOf(cur.Ports), c.Ports) ||
		(cur.State != arena.SessionStarted && cur.State != arena.SessionUnreachable) {
		return
	}
	log := s.log.With("session", cur.ID, "node", nodeID, "ports", c.Ports)
	if e.portMoves >= MaxPortMoves {
		fs.failStart(ctx, e, cur, fmt.Sprintf("host ports were taken on the node for %d sets of ports in a row, the last %v", e.portMoves+1, c.Ports))
		return
	}
	moved, err := s.placer.MovePorts(cur.ID, cur.Ports)
	if arena.ErrorCode(err) == arena.EUNAVAILABLE {
		fs.failStart(ctx, e, cur, fmt.Sprintf("a host port of %v is taken on the node, which has no others free", c.Ports))
		return
	}
	if err != nil {
		log.Error("cannot move a session to other host ports", "err", err)
		return
	}
	now := s.now()
	next := cur.Clone()
	next.Ports = moved
	if next.Network == arena.NetworkHost {
		// The game server binds them itself, told by its environment.
		for _, p := range moved {
			next.Env[arena.PortEnv(p)] = strconv.Itoa(p.Host)
		}
	}
	if err := next.Transition(arena.SessionStarted, now); err != nil {
		log.Error("cannot move a session to other host ports", "err", err)
		return
	}
	next.UnreachableSince, next.UpdatedAt = time.Time{}, now
	if err := s.store.UpdateSession(ctx, next); err != nil {
		// The scheduler holds the new ports already, and the session the
		// old ones: the agent's next heartbeat, which still names them,
		// moves it again, releasing these.
		log.Error("cannot record a session's new host ports", "err", err)
		return
	}
	e.portMoves++
	e.cur.Store(next)
	s.assignToNode(next)
	log.Warn("a host port of the session was taken on its node; moved it to other ports", "to", arena.HostPortsOf(moved), "moves", e.portMoves)
}

// failStart records that a session's container could not be started, as
// the agent reports any other failed start, and tells the agent, which is
// waiting for new ports rather than reporting. The caller holds e.mu.
func (fs *fleetSessions) failStart(ctx context.Context, e *entry, cur *arena.Session, msg string) {
	s := fs.service()
	now := s.now()
	r := arena.SessionReport{SessionID: cur.ID, NodeID: cur.NodeID, State: arena.SessionStopped, Reason: arena.StopFailed, ExitCode: -1, At: now,
		Message: "cannot start container: " + msg}
	if err := s.finish(ctx, e, cur.Clone(), r, now); err != nil {
		s.log.Error("cannot record a failed start", "session", cur.ID, "err", err)
		return
	}
	s.assignToNode(e.cur.Load())
}
