package agent_test

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/arena-hq/arena"
)

// served is a session of one UDP and one TCP port.
func served(id string, r arena.Readiness) *arena.Session {
	s := session(id, false)
	s.Network = arena.NetworkBridge
	s.Ports = []arena.Port{{Protocol: arena.UDP, Container: 7777, Host: 40001}, {Protocol: arena.TCP, Container: 7778, Host: 40002}}
	s.Readiness = r
	return s
}

// reportsOf returns the reports the control plane took of a state.
func (f *fakeControlPlane) reportsOf(state arena.SessionState) []arena.SessionReport {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []arena.SessionReport
	for _, r := range f.reports {
		if r.State == state {
			out = append(out, r)
		}
	}
	return out
}

// TestRunningOnceServing: a session is reported running once its game
// server serves on all its ports, at that time, not at its process's start.
func TestRunningOnceServing(t *testing.T) {
	ta := startAgent(t, 0)
	ta.rt.SetDeaf("s", true)
	ta.assign(served("s", arena.Readiness{}))
	ta.spec(t, "s") // started
	started := ta.container(t, "s").StartedAt
	if got := ta.cp.reportsOf(arena.SessionRunning); len(got) > 0 {
		t.Fatalf("reported running before serving: %+v", got)
	}
	bound := time.Now()
	ta.rt.SetDeaf("s", false)
	eventually(t, "running", func() bool { return ta.cp.last().State == arena.SessionRunning })
	running := ta.cp.reportsOf(arena.SessionRunning)
	if len(running) != 1 || running[0].At.Before(bound) || !running[0].At.After(started) || !running[0].StartedAt.Equal(running[0].At) {
		t.Fatalf("running reports %+v; want one at the bind (after %v), its process started at %v", running, bound, started)
	}
}

// TestNotReadyInTime: a game server that never serves fails its session
// past the readiness timeout, unbilled, or runs it when its readiness says
// so; the process mode does not look at the ports.
func TestNotReadyInTime(t *testing.T) {
	tests := []struct {
		name      string
		readiness arena.Readiness
		want      arena.SessionState
	}{
		{"fails", arena.Readiness{Timeout: 50 * time.Millisecond}, arena.SessionStopped},
		{"runs on timeout", arena.Readiness{Timeout: 50 * time.Millisecond, RunOnTimeout: true}, arena.SessionRunning},
		{"process", arena.Readiness{Mode: arena.ReadyOnProcess, Timeout: time.Hour}, arena.SessionRunning},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ta := startAgent(t, 0)
			ta.rt.SetDeaf("s", true)
			ta.assign(served("s", tt.readiness))
			eventually(t, string(tt.want), func() bool { return ta.cp.last().State == tt.want })
			r := ta.cp.last()
			switch tt.want {
			case arena.SessionStopped:
				if r.Reason != arena.StopFailed || !r.StartedAt.IsZero() || !strings.Contains(r.Message, "7777/udp, 7778/tcp") ||
					slices.Contains(ta.cp.states(), arena.SessionRunning) {
					t.Fatalf("stop report %+v after %v; want a failure naming both ports, never running, nothing billed", r, ta.cp.states())
				}
			case arena.SessionRunning:
				if r.At.IsZero() || !r.StartedAt.Equal(r.At) {
					t.Fatalf("running report %+v", r)
				}
			}
		})
	}
}

// TestReadyAgainAfterRestart: a crashed game server is running again once
// it serves again, and billing still counts from its first readiness.
func TestReadyAgainAfterRestart(t *testing.T) {
	ta := startAgent(t, 0)
	s := served("s", arena.Readiness{})
	s.Restart = true
	ta.assign(s)
	eventually(t, "running", func() bool { return ta.cp.last().State == arena.SessionRunning })
	first := ta.cp.last().At
	ta.rt.SetDeaf("s", true)
	if err := ta.rt.Crash("s", 3); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the restart", func() bool {
		c, err := ta.rt.Inspect(t.Context(), "arena-s")
		return err == nil && c.Running && c.StartedAt.After(first)
	})
	if r := ta.cp.last(); r.State == arena.SessionRunning && r.Restarts == 1 {
		t.Fatalf("running again before serving: %+v", r)
	}
	bound := time.Now()
	ta.rt.SetDeaf("s", false)
	eventually(t, "running again", func() bool { r := ta.cp.last(); return r.State == arena.SessionRunning && r.Restarts == 1 })
	if r := ta.cp.last(); r.At.Before(bound) || !r.StartedAt.Equal(first) {
		t.Fatalf("running again %+v; want it at the bind (after %v), billed from %v", r, bound, first)
	}
}

// TestReadinessUnknowable: where the agent cannot read what a container
// serves on, a session must not fail for it: it runs from its start.
func TestReadinessUnknowable(t *testing.T) {
	ta := startAgent(t, 0)
	ta.rt.SetBlind(true)
	ta.rt.SetDeaf("s", true)
	ta.assign(served("s", arena.Readiness{Timeout: time.Hour}))
	eventually(t, "running", func() bool { return ta.cp.last().State == arena.SessionRunning })
}
