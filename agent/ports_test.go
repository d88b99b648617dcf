package agent_test

import (
	"context"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/arena-hq/arena"
	"github.com/arena-hq/arena/agent"
)

// machinePorts stands in for the host's socket tables.
type machinePorts struct {
	mu   sync.Mutex
	held []int
}

func (m *machinePorts) set(ports ...int) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.held = ports
}

func (m *machinePorts) HeldPorts(lo, hi int) ([]int, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return slices.Clone(m.held), nil
}

// portReports returns the port reports of the heartbeats taken since the
// first n, nil for a heartbeat without one.
func (f *fakeControlPlane) portReports(from int) []*arena.HostPorts {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []*arena.HostPorts
	for _, hb := range f.beats[min(from, len(f.beats)):] {
		out = append(out, hb.Ports)
	}
	return out
}

func (f *fakeControlPlane) beatCount() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.beats)
}

// nextReport waits for a heartbeat after the first from that carries a port
// report, and returns it with the number of heartbeats taken then.
func nextReport(tb testing.TB, cp *fakeControlPlane, from int) (*arena.HostPorts, int) {
	tb.Helper()
	var got *arena.HostPorts
	var n int
	eventually(tb, "a port report", func() bool {
		for i, hp := range cp.portReports(from) {
			if hp != nil {
				got, n = hp, from+i+1
				return true
			}
		}
		return false
	})
	return got, n
}

func withPorts(m *machinePorts) func(*agent.Config) {
	return func(c *agent.Config) {
		c.Node.PortMin, c.Node.PortMax = 40000, 40099
		c.HeldPorts = m.HeldPorts
		c.HeartbeatInterval = 2 * time.Millisecond
	}
}

func sessionOnPorts(id string, ports ...int) *arena.Session {
	s := session(id, false)
	for i, p := range ports {
		s.Ports = append(s.Ports, arena.Port{Protocol: arena.UDP, Container: 7777 + i, Host: p})
	}
	return s
}

func TestHeldPortsReport(t *testing.T) {
	m := &machinePorts{}
	m.set(40001, 40007)
	ta := startAgent(t, 0, withPorts(m))
	// A new stream has the report sent again: count from there.
	eventually(t, "the assignment stream", func() bool {
		ta.cp.mu.Lock()
		defer ta.cp.mu.Unlock()
		return ta.cp.streams > 0
	})
	first, n := nextReport(t, ta.cp, ta.cp.beatCount())
	if !slices.Equal(first.Held, []int{40001, 40007}) || len(first.Conflicts) != 0 {
		t.Fatalf("first report %+v", first)
	}
	t.Run("unchanged, it is not sent again at once", func(t *testing.T) {
		eventually(t, "more heartbeats", func() bool { return ta.cp.beatCount() >= n+5 })
		for i, hp := range ta.cp.portReports(n)[:5] {
			if hp != nil {
				t.Fatalf("heartbeat %d after the report repeats it unchanged: %+v", i, hp)
			}
		}
	})
	t.Run("it is sent again now and then", func(t *testing.T) {
		again, _ := nextReport(t, ta.cp, n)
		if !slices.Equal(again.Held, first.Held) {
			t.Fatalf("refreshed report %+v", again)
		}
	})
	t.Run("a change is sent", func(t *testing.T) {
		from := ta.cp.beatCount()
		m.set(40002)
		eventually(t, "the change", func() bool {
			for _, hp := range ta.cp.portReports(from) {
				if hp != nil && slices.Equal(hp.Held, []int{40002}) {
					return true
				}
			}
			return false
		})
	})
	t.Run("the ports of its own containers are left out", func(t *testing.T) {
		ta.assign(sessionOnPorts("s", 40010, 40011))
		eventually(t, "running", func() bool { return ta.cp.last().State == arena.SessionRunning })
		from := ta.cp.beatCount()
		m.set(40002, 40010, 40011, 40012)
		eventually(t, "the report", func() bool {
			for _, hp := range ta.cp.portReports(from) {
				if hp != nil && slices.Equal(hp.Held, []int{40002, 40012}) {
					return true
				}
			}
			return false
		})
	})
	t.Run("after a failed heartbeat it is sent again", func(t *testing.T) {
		// Right after a report, so that the refresh is many beats away.
		nextReport(t, ta.cp, ta.cp.beatCount())
		ta.cp.mu.Lock()
		ta.cp.failBeats = 1
		ta.cp.mu.Unlock()
		var failedAt int
		eventually(t, "the heartbeat after the failed one", func() bool {
			ta.cp.mu.Lock()
			defer ta.cp.mu.Unlock()
			failedAt = ta.cp.failedAt
			return ta.cp.failBeats == 0 && len(ta.cp.beats) > failedAt
		})
		if got := ta.cp.portReports(failedAt)[0]; got == nil || !slices.Equal(got.Held, []int{40002, 40012}) {
			t.Fatalf("the heartbeat after the failed one carries %+v", got)
		}
	})
}

func TestHeldPortsReportIsBounded(t *testing.T) {
	m := &machinePorts{}
	var many []int
	for p := 40000; p < 40000+arena.MaxHeldPorts+500; p++ {
		many = append(many, p)
	}
	m.set(many...)
	ta := startAgent(t, 0, withPorts(m))
	got, _ := nextReport(t, ta.cp, 0)
	if !slices.Equal(got.Held, many[:arena.MaxHeldPorts]) {
		t.Fatalf("reported %d ports from %d to %d, want the lowest %d", len(got.Held), got.Held[0], got.Held[len(got.Held)-1], arena.MaxHeldPorts)
	}
}

// conflictsOf returns the conflicts the last port report listed.
func (f *fakeControlPlane) conflictsOf(from int) []arena.PortConflict {
	reports := f.portReports(from)
	for i := len(reports) - 1; i >= 0; i-- {
		if reports[i] != nil {
			return reports[i].Conflicts
		}
	}
	return nil
}

func TestTakenPortWaitsForOthers(t *testing.T) {
	tests := []struct {
		name string
		// then is what the control plane does once the conflict is listed;
		// want is how the session ends up.
		then  func(ta *testAgent)
		state arena.SessionState
		// reason is that of the stop, if it stops.
		reason arena.StopReason
	}{
		{"new ports: it runs on them", func(ta *testAgent) {
			// A full assignment with the old ports first, as after a
			// reconnect: the session keeps waiting.
			ta.cp.assignments <- arena.Assignment{Full: true, Sessions: []*arena.Session{sessionOnPorts("s", 40000, 40001)}}
			ta.assign(sessionOnPorts("s", 40002, 40003))
		}, arena.SessionRunning, ""},
		{"a stop: it stops", func(ta *testAgent) {
			s := sessionOnPorts("s", 40000, 40001)
			s.State = arena.SessionStopping
			ta.assign(s)
		}, arena.SessionStopped, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ta := startAgent(t, 0, withPorts(&machinePorts{}))
			ta.rt.TakePorts(40001)
			ta.assign(sessionOnPorts("s", 40000, 40001))
			want := []arena.PortConflict{{SessionID: "s", Ports: []int{40000, 40001}}}
			eventually(t, "the conflict in a heartbeat", func() bool { return slices.EqualFunc(ta.cp.conflictsOf(0), want, equalConflict) })
			if st := ta.cp.states(); len(st) != 0 {
				t.Fatalf("reported %v while it waits", st)
			}
			tt.then(ta)
			eventually(t, "the session "+string(tt.state), func() bool { return ta.cp.last().State == tt.state })
			if r := ta.cp.last(); r.Reason != tt.reason {
				t.Fatalf("report %+v", r)
			}
			from := ta.cp.beatCount()
			nextReport(t, ta.cp, from)
			if c := ta.cp.conflictsOf(from); len(c) != 0 {
				t.Fatalf("still listed as waiting: %+v", c)
			}
			if tt.state == arena.SessionRunning {
				spec, _ := ta.rt.Spec("s")
				if got := arena.HostPortsOf(spec.Ports); !slices.Equal(got, []int{40002, 40003}) {
					t.Fatalf("started on %v", got)
				}
			}
		})
	}
}

// TestTakenPortGivesUp: a control plane that gives no other ports (one
// that predates moves) leaves the session failing as a failed start does.
func TestTakenPortGivesUp(t *testing.T) {
	ta := startAgent(t, 0, withPorts(&machinePorts{}), func(c *agent.Config) { c.PortMoveWait = 50 * time.Millisecond })
	ta.rt.TakePorts(40000)
	ta.assign(sessionOnPorts("s", 40000))
	eventually(t, "the failure", func() bool { return ta.cp.last().State == arena.SessionStopped })
	r := ta.cp.last()
	if r.Reason != arena.StopFailed || !strings.Contains(r.Message, "taken") {
		t.Fatalf("report %+v", r)
	}
	if got := ta.cp.states(); len(got) != 1 {
		t.Fatalf("reports %v, want the stop alone", got)
	}
}

func equalConflict(a, b arena.PortConflict) bool {
	return a.SessionID == b.SessionID && slices.Equal(a.Ports, b.Ports)
}

// streamPerConnection is a control plane whose every Assignments call is a
// new connection with a stream of its own, as after a takeover; hangUp ends
// the current one.
type streamPerConnection struct {
	*fakeControlPlane
	smu sync.Mutex
	cur chan arena.Assignment
}

func (c *streamPerConnection) Assignments(ctx context.Context, nodeID string) (<-chan arena.Assignment, error) {
	c.smu.Lock()
	defer c.smu.Unlock()
	c.cur = make(chan arena.Assignment, 1)
	c.cur <- arena.Assignment{Full: true}
	return c.cur, nil
}

func (c *streamPerConnection) hangUp() {
	c.smu.Lock()
	defer c.smu.Unlock()
	close(c.cur)
}

// TestReconnectReportsAtOnce: a new stream may come from a control plane
// that has just taken the lead and places nothing on the node until it
// hears from it, so the agent beats at once, with the ports it holds, rather
// than at its next interval.
func TestReconnectReportsAtOnce(t *testing.T) {
	m := &machinePorts{}
	m.set(40003)
	var cp *streamPerConnection
	ta := startAgent(t, 0, withPorts(m), func(c *agent.Config) {
		c.HeartbeatInterval = time.Hour
		cp = &streamPerConnection{fakeControlPlane: c.ControlPlane.(*fakeControlPlane)}
		c.ControlPlane = cp
	})
	eventually(t, "the first connection's heartbeats", func() bool { return ta.cp.beatCount() >= 2 })
	n := ta.cp.beatCount()
	cp.hangUp()
	eventually(t, "a heartbeat on the new connection", func() bool { return ta.cp.beatCount() > n })
	if hp := ta.cp.portReports(n)[0]; hp == nil || !slices.Equal(hp.Held, []int{40003}) {
		t.Fatalf("the new connection's heartbeat reports ports %+v, want the held 40003 again", hp)
	}
}

// TestFailedHeartbeatIsRetriedSoon: after a failed beat the client has
// moved to another replica, where a control plane that has just taken the
// lead waits to hear from the node: the next beat comes after the retry
// interval, not a whole heartbeat interval later.
func TestFailedHeartbeatIsRetriedSoon(t *testing.T) {
	ta := startAgent(t, 0, func(c *agent.Config) {
		c.HeartbeatInterval = time.Hour
		// Both the first beat and the one of the new stream fail.
		c.ControlPlane.(*fakeControlPlane).failBeats = 2
	})
	eventually(t, "a heartbeat taken after two failed", func() bool { return ta.cp.beatCount() > 0 })
}
