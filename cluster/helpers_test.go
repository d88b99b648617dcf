package cluster

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// waitTimeout bounds every wait of these tests: long enough for a loaded
// machine running -race, short enough to fail rather than hang.
const waitTimeout = 15 * time.Second

// eventually waits until cond holds, failing the test after waitTimeout.
func eventually(tb testing.TB, what string, cond func() bool) {
	tb.Helper()
	deadline := time.NewTimer(waitTimeout)
	defer deadline.Stop()
	tick := time.NewTicker(time.Millisecond)
	defer tick.Stop()
	for !cond() {
		select {
		case <-deadline.C:
			tb.Fatalf("timed out waiting for %s", what)
		case <-tick.C:
		}
	}
}

// fakeLeases keeps the lease in memory: a test says who leads, or lets the
// replica under test campaign for it, and sees how often it was read.
type fakeLeases struct {
	lease time.Duration

	mu     sync.Mutex
	status LeaderStatus
	// err fails every read of the status; tryErr fails TryLead.
	err, tryErr error
	reads       int
	// term is the last term handed out.
	term *fakeTerm
	// changed is closed when the lead may have become free.
	changed chan struct{}
}

func newFakeLeases(status LeaderStatus, err error) *fakeLeases {
	return &fakeLeases{lease: time.Second, status: status, err: err, changed: make(chan struct{})}
}

func (l *fakeLeases) LeaderStatus(ctx context.Context) (LeaderStatus, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.reads++
	return l.status, l.err
}

func (l *fakeLeases) Lease() time.Duration { return l.lease }

// Campaign waits until no replica holds the lead, then takes it.
func (l *fakeLeases) Campaign(ctx context.Context, self string) (Term, error) {
	for {
		l.mu.Lock()
		changed := l.changed
		t := l.take(self)
		l.mu.Unlock()
		if t != nil {
			return t, nil
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-changed:
		}
	}
}

func (l *fakeLeases) TryLead(ctx context.Context, self string) (Term, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.tryErr != nil {
		return nil, l.tryErr
	}
	if t := l.take(self); t != nil {
		return t, nil
	}
	return nil, ErrNotLeader
}

// take gives self a new term unless the lead is held; the caller holds
// l.mu.
func (l *fakeLeases) take(self string) *fakeTerm {
	if l.status.Held {
		return nil
	}
	l.status = LeaderStatus{URL: self, Epoch: l.status.Epoch + 1, Held: true}
	l.term = &fakeTerm{leases: l, epoch: l.status.Epoch, lost: make(chan struct{})}
	return l.term
}

// set makes status and err what the leases answer from now on.
func (l *fakeLeases) set(status LeaderStatus, err error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.status, l.err = status, err
	l.wake()
}

// wake tells campaigns to look again; the caller holds l.mu.
func (l *fakeLeases) wake() {
	close(l.changed)
	l.changed = make(chan struct{})
}

// takeOver gives the lead to url in a new term, ending the one under way
// as a takeover would.
func (l *fakeLeases) takeOver(url string) {
	l.mu.Lock()
	t := l.term
	l.status = LeaderStatus{URL: url, Epoch: l.status.Epoch + 1, Held: true}
	l.mu.Unlock()
	if t != nil {
		t.end(errTakenOver, false)
	}
}

// expire ends the term under way as a lease that ran out: no replica
// holds the lead from then on.
func (l *fakeLeases) expire() {
	l.mu.Lock()
	t := l.term
	l.status.Held = false
	l.mu.Unlock()
	t.end(errExpired, false)
}

// errExpired is why a term whose lease ran out ended.
var errExpired = errors.New("the lease ran out")

// errTakenOver is why a term taken over by another replica ended.
var errTakenOver = errors.New("another replica took the lead over")

func (l *fakeLeases) readCount() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.reads
}

func (l *fakeLeases) lastTerm() *fakeTerm {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.term
}

func (l *fakeLeases) current() LeaderStatus {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.status
}

// fakeTerm is a term of fakeLeases.
type fakeTerm struct {
	leases *fakeLeases
	epoch  int64
	lost   chan struct{}

	once sync.Once
	err  error
	// resigned tells that Resign was called.
	resigned atomic.Bool
}

func (t *fakeTerm) Epoch() int64          { return t.epoch }
func (t *fakeTerm) Lost() <-chan struct{} { return t.lost }

func (t *fakeTerm) Err() error {
	select {
	case <-t.lost:
		return t.err
	default:
		return nil
	}
}

func (t *fakeTerm) Resign() {
	t.resigned.Store(true)
	t.end(nil, true)
}

// end ends the term; a resigned one gives its lease up.
func (t *fakeTerm) end(err error, resign bool) {
	t.once.Do(func() {
		l := t.leases
		l.mu.Lock()
		t.err = err
		if resign && l.status.Epoch == t.epoch {
			l.status.Held = false
		}
		l.wake()
		l.mu.Unlock()
		close(t.lost)
	})
}
