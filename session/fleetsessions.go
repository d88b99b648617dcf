package session

import (
	"context"
	"time"

	"github.com/arena-hq/arena"
	"github.com/arena-hq/arena/fleet"
)

// fleetSessions is the server as its fleet sees it: what the nodes'
// changes mean for the sessions they run. A type of its own, so that these
// are no methods of the Service's API.
type fleetSessions Service

var _ fleet.Sessions = (*fleetSessions)(nil)

func (fs *fleetSessions) service() *Service { return (*Service)(fs) }

// NodeRegistered implements fleet.Sessions.
func (fs *fleetSessions) NodeRegistered(nodeID string) {
	fs.restoreReservations(nodeID)
	fs.service().pools.nudge() // room, perhaps, for what a pool lacks
}

// NodeBack implements fleet.Sessions.
func (fs *fleetSessions) NodeBack(nodeID string) {
	s := fs.service()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.streams.connected(nodeID) {
		s.streams.send(nodeID, s.fullAssignment(nodeID))
	}
}

// NodeSilent implements fleet.Sessions.
func (fs *fleetSessions) NodeSilent(nodeID string, since time.Time) {
	fs.service().logs.endNode(nodeID)
	fs.markUnreachable(nodeID, since)
}

// NodeLost implements fleet.Sessions.
func (fs *fleetSessions) NodeLost(nodeID string, lastSeen time.Time) {
	fs.giveUp(nodeID, lastSeen)
}

// PortConflict implements fleet.Sessions.
func (fs *fleetSessions) PortConflict(ctx context.Context, nodeID string, c arena.PortConflict) {
	fs.movePorts(ctx, nodeID, c)
}

// ActiveOn implements fleet.Sessions.
func (fs *fleetSessions) ActiveOn(nodeID string) int { return len(fs.activeOn(nodeID)) }

// Running implements fleet.Sessions.
func (fs *fleetSessions) Running(orgID string) map[string]map[string]bool {
	return fs.runningImages(orgID)
}

// restoreReservations re-reserves what the node's active sessions hold.
func (fs *fleetSessions) restoreReservations(nodeID string) {
	s := fs.service()
	for _, e := range fs.activeOn(nodeID) {
		sess := e.cur.Load()
		if err := s.placer.Restore(sess); err != nil {
			s.log.Error("cannot restore a reservation in full", "session", sess.ID, "node", nodeID, "err", err)
		}
	}
}

// activeOn returns the entries of the node's active sessions.
func (fs *fleetSessions) activeOn(nodeID string) []*entry {
	s := fs.service()
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []*entry
	for _, e := range s.sessions.byID {
		if e.cur.Load().NodeID == nodeID {
			out = append(out, e)
		}
	}
	return out
}

// runningImages returns, by image reference, the nodes that run one of the
// organisation's sessions of it.
func (fs *fleetSessions) runningImages(orgID string) map[string]map[string]bool {
	s := fs.service()
	out := map[string]map[string]bool{}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, e := range s.sessions.byID {
		if sess := e.cur.Load(); sess.OrgID == orgID && sess.State == arena.SessionRunning {
			if out[sess.Image] == nil {
				out[sess.Image] = map[string]bool{}
			}
			out[sess.Image][sess.NodeID] = true
		}
	}
	return out
}

// markUnreachable moves the node's sessions to unreachable, pausing their
// billing at the last heartbeat. A session being stopped stays stopping: the
// intent must survive until the node can carry it out.
func (fs *fleetSessions) markUnreachable(nodeID string, since time.Time) {
	s := fs.service()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for _, e := range fs.activeOn(nodeID) {
		e.mu.Lock()
		cur := e.cur.Load()
		switch {
		case !s.fleet.SilentSince(nodeID).Equal(since):
			// The node came back meanwhile: what is left is still true.
			e.mu.Unlock()
			return
		case cur.State == arena.SessionStopping || cur.State == arena.SessionUnreachable || cur.State == arena.SessionStopped:
			e.mu.Unlock()
			continue
		}
		next := cur.Clone()
		if err := next.Transition(arena.SessionUnreachable, s.now()); err == nil {
			next.UnreachableSince = since
			if err := s.store.UpdateSession(ctx, next); err != nil {
				s.log.Error("cannot record an unreachable session", "session", cur.ID, "err", err)
			} else {
				e.cur.Store(next)
				s.events.emit(next)
			}
		}
		e.mu.Unlock()
	}
}

// giveUp stops the sessions of a node silent for longer than NodeLostAfter:
// they end at its last heartbeat with reason lost, and what they held is
// freed. Should the node come back, its agent removes their containers.
func (fs *fleetSessions) giveUp(nodeID string, lastSeen time.Time) {
	s := fs.service()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	entries := fs.activeOn(nodeID)
	if len(entries) > 0 {
		s.log.Warn("node lost; giving up its sessions", "node", nodeID, "sessions", len(entries), "last_seen", lastSeen)
	}
	for _, e := range entries {
		e.mu.Lock()
		cur := e.cur.Load()
		if !s.fleet.SilentSince(nodeID).Equal(lastSeen) {
			e.mu.Unlock()
			return // the node came back meanwhile
		}
		if cur.State != arena.SessionStopped {
			next := cur.Clone()
			r := arena.SessionReport{SessionID: cur.ID, NodeID: nodeID, State: arena.SessionStopped, Reason: arena.StopLost, ExitCode: -1, At: lastSeen,
				Message: "the node stopped reporting"}
			if err := s.finish(ctx, e, next, r, lastSeen); err != nil {
				s.log.Error("cannot give up a lost session", "session", cur.ID, "err", err)
			} else {
				// Its ports may serve another session now: should the node
				// still hear us, its agent must stop the container.
				s.assignToNode(e.cur.Load())
			}
		}
		e.mu.Unlock()
	}
}
