package agent

import (
	"context"
	"slices"
	"sync"
	"time"

	"github.com/arena-hq/arena"
)

// Defaults of the start queue's settings.
const (
	// DefaultStartConcurrency is how many containers an agent starts at
	// once. Measured on a 2-core node (arena bench --starts, figures in
	// the README): the engine makes about as many starts a second from 2
	// at once on, each only taking longer beyond. 4 keeps it at that rate,
	// with a start waiting on the engine's locks while another runs, at
	// under a second a start; 8 gained 6% for twice the latency, 16 lost
	// both.
	DefaultStartConcurrency = 4
	// DefaultStartTimeout is each start's deadline, its wait in the queue
	// included: long enough for a loaded engine, short enough that a
	// matchmaker learns of a start that cannot happen.
	DefaultStartTimeout = 2 * time.Minute
)

// startWindow is how many recent starts the queue's figures cover.
const startWindow = 256

// rateWindow is how many of those the start rate is taken over: enough to
// smooth one slow start out, few enough to follow a change of load within a
// burst.
const rateWindow = 32

// startQueue runs container starts at most limit at a time, in the order
// they asked, and keeps figures of the recent ones for the heartbeats.
type startQueue struct {
	limit int

	mu      sync.Mutex
	running int
	waiting []*startTurn
	// busy is the time during which at least one start ran, up to
	// busySince while one runs: the clock the start rate is taken on, so
	// that a node idle between starts is not taken for a slow one.
	busy      time.Duration
	busySince time.Time
	// samples are the recent successful starts, a ring of startWindow.
	samples []startSample
	next    int
	// measured is signalled at the first sample: until then the control
	// plane can only guess the node's rate, so a heartbeat should tell it.
	measured chan struct{}
}

// startTurn is one start waiting for its turn; ready is closed when it has it.
type startTurn struct {
	ready   chan struct{}
	granted bool
}

type startSample struct {
	wait, latency time.Duration
	// busyAt is the queue's busy clock when the start ended.
	busyAt time.Duration
}

func newStartQueue(limit int) *startQueue {
	return &startQueue{limit: limit, measured: make(chan struct{}, 1)}
}

// acquire waits for a turn to start a container, first come first served,
// until ctx ends. The caller must call release once its start is over.
func (q *startQueue) acquire(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	q.mu.Lock()
	if q.running < q.limit && len(q.waiting) == 0 {
		q.begin()
		q.mu.Unlock()
		return nil
	}
	t := &startTurn{ready: make(chan struct{})}
	q.waiting = append(q.waiting, t)
	q.mu.Unlock()
	select {
	case <-t.ready:
		return nil
	case <-ctx.Done():
		q.mu.Lock()
		defer q.mu.Unlock()
		if t.granted {
			// Handed a turn as the wait ended: pass it on.
			q.end()
			return ctx.Err()
		}
		q.waiting = slices.DeleteFunc(q.waiting, func(w *startTurn) bool { return w == t })
		return ctx.Err()
	}
}

// release ends a turn. A start that succeeded says how long it waited for
// its turn and how long the engine took, for the figures.
func (q *startQueue) release(ok bool, wait, latency time.Duration) {
	q.mu.Lock()
	defer q.mu.Unlock()
	busyAt := q.busyNow(time.Now())
	q.end()
	if !ok {
		return
	}
	s := startSample{wait: wait, latency: latency, busyAt: busyAt}
	if len(q.samples) == 0 {
		select {
		case q.measured <- struct{}{}:
		default:
		}
	}
	if len(q.samples) < startWindow {
		q.samples = append(q.samples, s)
	} else {
		q.samples[q.next] = s
	}
	q.next = (q.next + 1) % startWindow
}

// begin takes a turn; the caller holds mu.
func (q *startQueue) begin() {
	if q.running == 0 {
		q.busySince = time.Now()
	}
	q.running++
}

// end gives a turn back, to the first waiting if any; the caller holds mu.
func (q *startQueue) end() {
	q.running--
	if q.running == 0 {
		q.busy += time.Since(q.busySince)
	}
	for q.running < q.limit && len(q.waiting) > 0 {
		t := q.waiting[0]
		q.waiting = q.waiting[1:]
		t.granted = true
		close(t.ready)
		q.begin()
	}
}

// busyNow reads the busy clock at now; the caller holds mu.
func (q *startQueue) busyNow(now time.Time) time.Duration {
	if q.running > 0 {
		return q.busy + now.Sub(q.busySince)
	}
	return q.busy
}

// report returns the queue's state and figures, timeout being each start's
// deadline.
func (q *startQueue) report(timeout time.Duration) arena.StartQueue {
	q.mu.Lock()
	r := arena.StartQueue{Queued: len(q.waiting), InFlight: q.running, Concurrency: q.limit, Timeout: timeout, Samples: len(q.samples)}
	// In the order they ended, oldest first.
	ordered := make([]startSample, 0, len(q.samples))
	if len(q.samples) == startWindow {
		ordered = append(ordered, q.samples[q.next:]...)
		ordered = append(ordered, q.samples[:q.next]...)
	} else {
		ordered = append(ordered, q.samples...)
	}
	q.mu.Unlock()
	if len(ordered) == 0 {
		return r
	}
	r.Rate = startRate(ordered)
	waits := make([]time.Duration, len(ordered))
	lats := make([]time.Duration, len(ordered))
	for i, s := range ordered {
		waits[i], lats[i] = s.wait, s.latency
	}
	r.WaitP50, r.WaitP99 = percentile(waits, 50), percentile(waits, 99)
	r.LatencyP50, r.LatencyP99 = percentile(lats, 50), percentile(lats, 99)
	return r
}

// startRate is the starts a second of the last rateWindow samples on the
// busy clock: one start at a time gives one over its latency, a saturated
// engine what it sustains.
func startRate(ordered []startSample) float64 {
	if len(ordered) > rateWindow {
		ordered = ordered[len(ordered)-rateWindow:]
	}
	first, last := ordered[0], ordered[len(ordered)-1]
	n, span := len(ordered)-1, last.busyAt-first.busyAt
	if n == 0 || span <= 0 {
		// One start, or several ending together: each took its latency.
		n, span = 1, first.latency
	}
	if span <= 0 {
		return arena.MaxStartRate
	}
	return min(float64(n)/span.Seconds(), arena.MaxStartRate)
}

// percentile returns the p-th percentile of d, which it sorts.
func percentile(d []time.Duration, p int) time.Duration {
	slices.Sort(d)
	i := (len(d)*p + 99) / 100
	return d[max(0, min(i, len(d))-1)]
}
