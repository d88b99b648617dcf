package agent_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/arena-hq/arena"
	"github.com/arena-hq/arena/agent"
	"github.com/arena-hq/arena/sim"
)

// engine is the simulated runtime with starts the test holds and fails:
// each start waits on gate while it is not nil, then runs do.
type engine struct {
	*sim.Runtime

	mu       sync.Mutex
	gate     chan struct{}
	do       func(ctx context.Context, call int, spec arena.ContainerSpec) (string, error)
	calls    int
	started  map[string]int // start calls by session
	inFlight int
	peak     int
}

func newEngine() *engine {
	return &engine{Runtime: sim.New(), started: map[string]int{}}
}

func (e *engine) Start(ctx context.Context, spec arena.ContainerSpec) (string, error) {
	e.mu.Lock()
	e.calls++
	call, gate, do := e.calls, e.gate, e.do
	e.started[spec.Labels[arena.LabelSession]]++
	e.inFlight++
	e.peak = max(e.peak, e.inFlight)
	e.mu.Unlock()
	defer func() {
		e.mu.Lock()
		e.inFlight--
		e.mu.Unlock()
	}()
	if gate != nil {
		select {
		case <-gate:
		case <-ctx.Done():
			return "", &arena.Error{Code: arena.EUNAVAILABLE, Message: "creating container " + spec.Name + ": docker engine unavailable", Err: ctx.Err()}
		}
	}
	if do != nil {
		return do(ctx, call, spec)
	}
	return e.Runtime.Start(ctx, spec)
}

// stats returns the start calls so far, by session, and the most that ran at once.
func (e *engine) stats() (calls int, started map[string]int, peak int) {
	e.mu.Lock()
	defer e.mu.Unlock()
	started = map[string]int{}
	for k, v := range e.started {
		started[k] = v
	}
	return e.calls, started, e.peak
}

func (e *engine) running() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.inFlight
}

func startEngineAgent(tb testing.TB, e *engine, configure func(*agent.Config)) *testAgent {
	tb.Helper()
	return startAgent(tb, 0, func(c *agent.Config) {
		c.Runtime = e
		if configure != nil {
			configure(c)
		}
	})
}

// final waits for the stop report of session id and returns it.
func (ta *testAgent) final(tb testing.TB, id string) arena.SessionReport {
	tb.Helper()
	var r arena.SessionReport
	eventually(tb, "the stop report of "+id, func() bool {
		ta.cp.mu.Lock()
		defer ta.cp.mu.Unlock()
		for _, x := range ta.cp.reports {
			if x.SessionID == id && x.State == arena.SessionStopped {
				r = x
				return true
			}
		}
		return false
	})
	return r
}

// reported reports whether session id was reported in state.
func (ta *testAgent) reported(id string, state arena.SessionState) bool {
	ta.cp.mu.Lock()
	defer ta.cp.mu.Unlock()
	for _, x := range ta.cp.reports {
		if x.SessionID == id && x.State == state {
			return true
		}
	}
	return false
}

func unavailable(spec arena.ContainerSpec) error {
	return arena.Errorf(arena.EUNAVAILABLE, "creating container %s: docker engine unavailable", spec.Name)
}

// TestStartRetriesTransientFailures: a start the engine failed for the
// moment is tried again, and the session runs, in one container.
func TestStartRetriesTransientFailures(t *testing.T) {
	for _, tc := range []struct {
		name string
		// do fails the first start calls as the engine would.
		do    func(e *engine) func(ctx context.Context, call int, spec arena.ContainerSpec) (string, error)
		calls int
	}{
		{"engine unavailable twice", func(e *engine) func(context.Context, int, arena.ContainerSpec) (string, error) {
			return func(ctx context.Context, call int, spec arena.ContainerSpec) (string, error) {
				if call <= 2 {
					return "", unavailable(spec)
				}
				return e.Runtime.Start(ctx, spec)
			}
		}, 3},
		{"a create the engine finished after the call gave up", func(e *engine) func(context.Context, int, arena.ContainerSpec) (string, error) {
			return func(ctx context.Context, call int, spec arena.ContainerSpec) (string, error) {
				if call == 1 {
					// The container exists, but the caller heard of a deadline.
					if _, err := e.Runtime.Start(ctx, spec); err != nil {
						return "", err
					}
					return "", &arena.Error{Code: arena.EUNAVAILABLE, Message: "creating container " + spec.Name + ": docker engine unavailable", Err: context.DeadlineExceeded}
				}
				return e.Runtime.Start(ctx, spec) // the second finds the name taken
			}
		}, 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEngine()
			e.do = tc.do(e)
			ta := startEngineAgent(t, e, nil)
			ta.assign(session("s", false))
			eventually(t, "running", func() bool { return ta.reported("s", arena.SessionRunning) })
			if ta.reported("s", arena.SessionStopped) {
				t.Fatalf("the session was given up: %+v", ta.cp.last())
			}
			if calls, _, _ := e.stats(); calls != tc.calls {
				t.Errorf("start calls = %d, want %d", calls, tc.calls)
			}
			cs, _ := e.List(context.Background(), "n1")
			if len(cs) != 1 || !cs[0].Running {
				t.Errorf("containers = %+v, want the one running", cs)
			}
		})
	}
}

// TestStartRefusalFailsAtOnce: a start the engine refused is not tried
// again, and the session's stop says why.
func TestStartRefusalFailsAtOnce(t *testing.T) {
	for _, tc := range []struct {
		name string
		err  error
		want string
	}{
		{"invalid spec", arena.Invalid(arena.Violation{Field: "ports[0].host", Description: "must be within 1-65535"}), "ports[0].host: must be within 1-65535"},
		{"unknown user", arena.Errorf(arena.EINTERNAL, "starting container: unable to find user games"), "unable to find user games"},
		{"name of someone else's container", arena.Errorf(arena.ECONFLICT, "container name is already in use"), "is taken by a container that is not this session's"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEngine()
			e.do = func(ctx context.Context, call int, spec arena.ContainerSpec) (string, error) { return "", tc.err }
			if arena.ErrorCode(tc.err) == arena.ECONFLICT {
				// Another installation's container holds the name.
				other := arena.ContainerSpec{Name: session("s", false).ContainerName(), Image: "img",
					Labels: map[string]string{arena.LabelNode: "n1", arena.LabelSession: "s", arena.LabelInstallation: "other"}}
				if _, err := e.Runtime.Start(context.Background(), other); err != nil {
					t.Fatal(err)
				}
			}
			ta := startEngineAgent(t, e, nil)
			ta.assign(session("s", false))
			r := ta.final(t, "s")
			if r.Reason != arena.StopFailed || !strings.Contains(r.Message, tc.want) {
				t.Errorf("stop = %s %q, want failed with %q", r.Reason, r.Message, tc.want)
			}
			if calls, _, _ := e.stats(); calls != 1 {
				t.Errorf("start calls = %d, want 1: a refusal is not tried again", calls)
			}
		})
	}
}

// TestStartDeadline: a session not started within its start deadline fails
// with that reason, whether the engine kept failing it for the moment or it
// never got its turn.
func TestStartDeadline(t *testing.T) {
	t.Run("engine unavailable throughout", func(t *testing.T) {
		e := newEngine()
		e.do = func(ctx context.Context, call int, spec arena.ContainerSpec) (string, error) {
			return "", unavailable(spec)
		}
		ta := startEngineAgent(t, e, func(c *agent.Config) { c.StartTimeout = 300 * time.Millisecond })
		ta.assign(session("s", false))
		r := ta.final(t, "s")
		if r.Reason != arena.StopFailed || !strings.HasPrefix(r.Message, "start deadline passed") || !strings.Contains(r.Message, "docker engine unavailable") {
			t.Errorf("stop = %s %q, want failed: start deadline passed, with the engine's last answer", r.Reason, r.Message)
		}
		if calls, _, _ := e.stats(); calls < 2 {
			t.Errorf("start calls = %d, want the start tried again within its deadline", calls)
		}
	})
	t.Run("queued behind a start that takes longer", func(t *testing.T) {
		e := newEngine()
		// The first start holds its turn past every deadline, as an
		// engine call that does not end.
		release := make(chan struct{})
		e.do = func(ctx context.Context, call int, spec arena.ContainerSpec) (string, error) {
			if call == 1 {
				<-release
			}
			return e.Runtime.Start(ctx, spec)
		}
		ta := startEngineAgent(t, e, func(c *agent.Config) {
			c.StartConcurrency = 1
			c.StartTimeout = 300 * time.Millisecond
		})
		ta.assign(session("first", false))
		eventually(t, "the first start under way", func() bool { return e.running() == 1 })
		ta.assign(session("second", false))
		r := ta.final(t, "second")
		if r.Reason != arena.StopFailed || !strings.HasPrefix(r.Message, "start deadline passed") || !strings.Contains(r.Message, "waited for its turn") {
			t.Errorf("stop = %s %q, want failed: start deadline passed while it waited for its turn", r.Reason, r.Message)
		}
		if _, started, _ := e.stats(); started["second"] != 0 {
			t.Errorf("the second session's container was started %d times", started["second"])
		}
		close(release)
		// A start that succeeds late is a start.
		eventually(t, "the first running", func() bool { return ta.reported("first", arena.SessionRunning) })
	})
}

// TestStopWhileQueued: a session stopped while it waits for its turn leaves
// the queue without being started.
func TestStopWhileQueued(t *testing.T) {
	e := newEngine()
	e.gate = make(chan struct{})
	ta := startEngineAgent(t, e, func(c *agent.Config) { c.StartConcurrency = 1 })
	ta.assign(session("first", false))
	eventually(t, "the first start under way", func() bool { return e.running() == 1 })
	queued := session("queued", false)
	ta.assign(queued)
	eventually(t, "the second session queued", func() bool { return ta.StartQueue().Queued == 1 })
	queued.State = arena.SessionStopping
	ta.assign(queued)
	r := ta.final(t, "queued")
	if r.Reason != "" || r.ExitCode != -1 {
		t.Errorf("stop = %s %d, want the stop asked for, with no exit code", r.Reason, r.ExitCode)
	}
	if q := ta.StartQueue(); q.Queued != 0 {
		t.Errorf("queued = %d after the stop, want 0", q.Queued)
	}
	close(e.gate)
	eventually(t, "the first running", func() bool { return ta.reported("first", arena.SessionRunning) })
	if _, started, _ := e.stats(); started["queued"] != 0 {
		t.Errorf("the stopped session's container was started %d times", started["queued"])
	}
	if ta.reported("queued", arena.SessionRunning) {
		t.Error("the stopped session was reported running")
	}
}

// TestStartConcurrency: however many sessions arrive at once, no more than
// StartConcurrency starts run at a time, and all of them start.
func TestStartConcurrency(t *testing.T) {
	for _, limit := range []int{1, 3} {
		t.Run(fmt.Sprintf("concurrency %d", limit), func(t *testing.T) {
			e := newEngine()
			e.gate = make(chan struct{})
			ta := startEngineAgent(t, e, func(c *agent.Config) { c.StartConcurrency = limit })
			const n = 10
			for i := range n {
				ta.assign(session(string(rune('a'+i)), false))
			}
			eventually(t, "the queue full", func() bool {
				q := ta.StartQueue()
				return q.InFlight == limit && q.Queued == n-limit
			})
			if got := e.running(); got != limit {
				t.Errorf("starts under way = %d, want %d", got, limit)
			}
			close(e.gate)
			for i := range n {
				id := string(rune('a' + i))
				eventually(t, id+" running", func() bool { return ta.reported(id, arena.SessionRunning) })
			}
			if _, _, peak := e.stats(); peak != limit {
				t.Errorf("most starts at once = %d, want %d", peak, limit)
			}
			q := ta.StartQueue()
			if q.Samples != n || q.Rate <= 0 || q.Concurrency != limit || q.InFlight != 0 || q.Queued != 0 {
				t.Errorf("start queue = %+v, want %d samples, a rate, an empty queue", q, n)
			}
		})
	}
}
