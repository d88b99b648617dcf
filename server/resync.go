package server

import (
	"context"
	"time"

	"github.com/arena-hq/arena"
)

// After Open the nodes take no sessions until their agents report (see
// loadNodes): what they hold besides their sessions, which images they
// have and whether they are alive at all is known only from them. A control
// plane that has just started, or taken the lead from another replica,
// would otherwise answer the first creates with no capacity while the
// agents reconnect, or place them all on whichever node reported first.
// So placement waits until every node the store last saw alive has
// reported, for at most the resync timeout: a node alive must report within
// a heartbeat timeout anyway, and one that does not is left out as a silent
// node would be.

// resyncPoll is how often the resync looks at the nodes. Looking, rather
// than being told by each heartbeat, keeps the heartbeat's path as it is;
// the cost is a few map reads a poll for at most the resync timeout.
const resyncPoll = 20 * time.Millisecond

// aliveWithin reports whether a node the store last saw at seen may still
// be alive at now: the last sighting is saved at most a heartbeat timeout
// apart, and the control plane that saved it may have stopped a while ago.
func (s *Server) aliveWithin(seen, now time.Time) bool {
	return !seen.IsZero() && now.Sub(seen) < 2*s.heartbeatTimeout
}

// awaitResync runs from Open, when the store saw nodes alive, until they
// have all reported, the resync timeout has passed, or the server closes; then
// placement starts.
func (s *Server) awaitResync(awaited []string) {
	defer close(s.resynced)
	start := time.Now()
	deadline := time.NewTimer(s.resyncTimeout)
	defer deadline.Stop()
	tick := time.NewTicker(resyncPoll)
	defer tick.Stop()
	for {
		missing := s.unheard(awaited)
		s.resyncWaiting.Store(int64(len(missing)))
		if len(missing) == 0 {
			s.log.Info("nodes resynced; placing", "nodes", len(awaited), "after", time.Since(start).Round(time.Millisecond))
			return
		}
		select {
		case <-tick.C:
		case <-deadline.C:
			s.log.Warn("placing without nodes that were alive and have not reported since the start", "nodes", missing, "waited", s.resyncTimeout)
			s.resyncWaiting.Store(0)
			return
		case <-s.closed:
			return
		}
	}
}

// unheard returns the nodes of ids that exist and have not reported yet.
func (s *Server) unheard(ids []string) []string {
	s.nmu.Lock()
	defer s.nmu.Unlock()
	var out []string
	for _, id := range ids {
		if n, ok := s.nodes[id]; ok && !n.heard {
			out = append(out, id)
		}
	}
	return out
}

// placementReady waits, bounded by ctx, until placement has the nodes'
// reports it waits for after the start.
func (s *Server) placementReady(ctx context.Context) error {
	select {
	case <-s.resynced:
		return nil
	default:
	}
	select {
	case <-s.resynced:
		return nil
	case <-ctx.Done():
		return arena.Errorf(arena.EUNAVAILABLE, "the control plane waits for %d nodes' agents to report after its start; retry shortly", s.resyncWaiting.Load())
	}
}

// resyncing tells, without waiting, why placement has not started yet;
// nil once it has.
func (s *Server) resyncing() error {
	select {
	case <-s.resynced:
		return nil
	default:
		return arena.Errorf(arena.EUNAVAILABLE, "waiting for %d nodes' agents to report after the start", s.resyncWaiting.Load())
	}
}
