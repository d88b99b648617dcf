package fleet

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
func (f *Fleet) aliveWithin(seen, now time.Time) bool {
	return !seen.IsZero() && now.Sub(seen) < 2*f.heartbeatTimeout
}

// startResync starts placement once every node of awaited has reported,
// or the resync timeout has passed; at once when it is empty.
func (f *Fleet) startResync(awaited []string) {
	if len(awaited) == 0 {
		f.endResync()
		return
	}
	f.nmu.Lock()
	f.awaiting = map[string]struct{}{}
	for _, id := range awaited {
		f.awaiting[id] = struct{}{}
	}
	f.nmu.Unlock()
	go f.resyncDeadline(len(awaited))
}

// heardFrom notes that a node has reported (or is gone) since Open; the
// last one awaited starts placement. The caller holds nmu.
func (f *Fleet) heardFrom(id string) {
	if f.awaiting == nil {
		return
	}
	delete(f.awaiting, id)
	if len(f.awaiting) == 0 {
		f.awaiting = nil
		f.log.Info("nodes resynced; placing", "after", time.Since(f.opened).Round(time.Millisecond))
		f.endResync()
	}
}

// resyncDeadline starts placement without the nodes still awaited once the
// resync timeout has passed.
func (f *Fleet) resyncDeadline(awaited int) {
	deadline := time.NewTimer(f.resyncTimeout)
	defer deadline.Stop()
	select {
	case <-deadline.C:
	case <-f.resynced:
		return
	case <-f.closed:
		return
	}
	f.nmu.Lock()
	missing := slices.Sorted(maps.Keys(f.awaiting))
	f.awaiting = nil
	f.nmu.Unlock()
	if len(missing) > 0 {
		f.log.Warn("placing without nodes that were alive and have not reported since the start", "nodes", missing, "of", awaited, "waited", f.resyncTimeout)
	}
	f.endResync()
}

func (f *Fleet) endResync() { f.resyncOnce.Do(func() { close(f.resynced) }) }

// placementReady waits, bounded by ctx, until placement has the nodes'
// reports it waits for after the start.
func (f *Fleet) placementReady(ctx context.Context) error {
	select {
	case <-f.resynced:
		return nil
	case <-ctx.Done():
		return f.resyncError()
	}
}

// Resyncing tells, without waiting, why placement has not started yet;
// nil once it has.
func (f *Fleet) Resyncing() error {
	select {
	case <-f.resynced:
		return nil
	default:
		return f.resyncError()
	}
}

func (f *Fleet) resyncError() error {
	f.nmu.Lock()
	n := len(f.awaiting)
	f.nmu.Unlock()
	return arena.Errorf(arena.EUNAVAILABLE, "the control plane waits for %d nodes' agents to report after its start; retry shortly", n)
}
