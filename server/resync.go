package server

import (
	"context"
	"maps"
	"slices"
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

// aliveWithin reports whether a node the store last saw at seen may still
// be alive at now: the last sighting is saved at most a heartbeat timeout
// apart, and the control plane that saved it may have stopped a while ago.
func (s *Server) aliveWithin(seen, now time.Time) bool {
	return !seen.IsZero() && now.Sub(seen) < 2*s.heartbeatTimeout
}

// startResync starts placement once every node of awaited has reported,
// or the resync timeout has passed; at once when it is empty.
func (s *Server) startResync(awaited []string) {
	if len(awaited) == 0 {
		s.endResync()
		return
	}
	s.nmu.Lock()
	s.awaiting = map[string]struct{}{}
	for _, id := range awaited {
		s.awaiting[id] = struct{}{}
	}
	s.nmu.Unlock()
	go s.resyncDeadline(len(awaited))
}

// heardFrom notes that a node has reported (or is gone) since Open; the
// last one awaited starts placement. The caller holds nmu.
func (s *Server) heardFrom(id string) {
	if s.awaiting == nil {
		return
	}
	delete(s.awaiting, id)
	if len(s.awaiting) == 0 {
		s.awaiting = nil
		s.log.Info("nodes resynced; placing", "after", time.Since(s.opened).Round(time.Millisecond))
		s.endResync()
	}
}

// resyncDeadline starts placement without the nodes still awaited once the
// resync timeout has passed.
func (s *Server) resyncDeadline(awaited int) {
	deadline := time.NewTimer(s.resyncTimeout)
	defer deadline.Stop()
	select {
	case <-deadline.C:
	case <-s.resynced:
		return
	case <-s.closed:
		return
	}
	s.nmu.Lock()
	missing := slices.Sorted(maps.Keys(s.awaiting))
	s.awaiting = nil
	s.nmu.Unlock()
	if len(missing) > 0 {
		s.log.Warn("placing without nodes that were alive and have not reported since the start", "nodes", missing, "of", awaited, "waited", s.resyncTimeout)
	}
	s.endResync()
}

func (s *Server) endResync() { s.resyncOnce.Do(func() { close(s.resynced) }) }

// placementReady waits, bounded by ctx, until placement has the nodes'
// reports it waits for after the start.
func (s *Server) placementReady(ctx context.Context) error {
	select {
	case <-s.resynced:
		return nil
	case <-ctx.Done():
		return s.resyncError()
	}
}

// resyncing tells, without waiting, why placement has not started yet;
// nil once it has.
func (s *Server) resyncing() error {
	select {
	case <-s.resynced:
		return nil
	default:
		return s.resyncError()
	}
}

func (s *Server) resyncError() error {
	s.nmu.Lock()
	n := len(s.awaiting)
	s.nmu.Unlock()
	return arena.Errorf(arena.EUNAVAILABLE, "the control plane waits for %d nodes' agents to report after its start; retry shortly", n)
}

// Ready reports whether the control plane can serve: placement has the
// nodes' reports it waits for after the start, and its store answers.
func (s *Server) Ready(ctx context.Context) error {
	if err := s.resyncing(); err != nil {
		return err
	}
	if _, err := s.store.FindOrganization(ctx, ""); err != nil && arena.ErrorCode(err) != arena.ENOTFOUND {
		return arena.Errorf(arena.EUNAVAILABLE, "the store does not answer: %s", arena.ErrorMessage(err))
	}
	return nil
}
