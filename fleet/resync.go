package fleet

import (
	"context"
	"log/slog"
	"maps"
	"slices"
	"sync"
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

// resync is the wait of placement after Open for the nodes' first reports.
// It is safe for concurrent use.
type resync struct {
	timeout time.Duration
	log     *slog.Logger
	// done is closed once placement may start; until then awaiting holds
	// the nodes it waits for.
	done     chan struct{}
	once     sync.Once
	mu       sync.Mutex
	awaiting map[string]struct{}
	began    time.Time
}

func newResync(timeout time.Duration, log *slog.Logger) *resync {
	return &resync{timeout: timeout, log: log, done: make(chan struct{})}
}

// start starts placement once every node of awaited has reported, or the
// resync timeout has passed, or closed is; at once when awaited is empty.
func (r *resync) start(awaited []string, closed <-chan struct{}) {
	r.began = time.Now()
	if len(awaited) == 0 {
		r.end()
		return
	}
	r.mu.Lock()
	r.awaiting = map[string]struct{}{}
	for _, id := range awaited {
		r.awaiting[id] = struct{}{}
	}
	r.mu.Unlock()
	go r.deadline(len(awaited), closed)
}

// heard notes that a node has reported (or is gone) since Open; the last
// one awaited starts placement.
func (r *resync) heard(id string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.awaiting == nil {
		return
	}
	delete(r.awaiting, id)
	if len(r.awaiting) == 0 {
		r.awaiting = nil
		r.log.Info("nodes resynced; placing", "after", time.Since(r.began).Round(time.Millisecond))
		r.end()
	}
}

// deadline starts placement without the nodes still awaited once the
// resync timeout has passed.
func (r *resync) deadline(awaited int, closed <-chan struct{}) {
	deadline := time.NewTimer(r.timeout)
	defer deadline.Stop()
	select {
	case <-deadline.C:
	case <-r.done:
		return
	case <-closed:
		return
	}
	r.mu.Lock()
	missing := slices.Sorted(maps.Keys(r.awaiting))
	r.awaiting = nil
	r.mu.Unlock()
	if len(missing) > 0 {
		r.log.Warn("placing without nodes that were alive and have not reported since the start", "nodes", missing, "of", awaited, "waited", r.timeout)
	}
	r.end()
}

func (r *resync) end() { r.once.Do(func() { close(r.done) }) }

// wait waits, bounded by ctx, until placement has the nodes' reports it
// waits for after the start.
func (r *resync) wait(ctx context.Context) error {
	select {
	case <-r.done:
		return nil
	case <-ctx.Done():
		return r.err()
	}
}

// pending tells, without waiting, why placement has not started yet; nil
// once it has.
func (r *resync) pending() error {
	select {
	case <-r.done:
		return nil
	default:
		return r.err()
	}
}

func (r *resync) err() error {
	r.mu.Lock()
	n := len(r.awaiting)
	r.mu.Unlock()
	return arena.Errorf(arena.EUNAVAILABLE, "the control plane waits for %d nodes' agents to report after its start; retry shortly", n)
}

// Resyncing tells, without waiting, why placement has not started yet
// after Open; nil once it has.
func (f *Fleet) Resyncing() error { return f.resync.pending() }
