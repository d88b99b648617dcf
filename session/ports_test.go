package session_test

import (
	"context"
	"fmt"
	"slices"
	"testing"

	"github.com/arena-hq/arena"
	"github.com/arena-hq/arena/session"
)

// The harness's node has the ports 40000 to 49999.
const nodePorts = 10000

func waitFreePorts(tb testing.TB, h *harness, want int) {
	tb.Helper()
	waitFor(tb, func() bool { return nodeUsage(tb, h.fleet).FreePorts == want })
}

// TestHeldPortsAreAvoided: ports the agent finds held on its machine are
// given to no session, and the node's free ports leave them out.
func TestHeldPortsAreAvoided(t *testing.T) {
	h := newHarness(t, 10)
	// Out of the node's range ports are no concern of it.
	h.setHeld(39999, 40000, 40001, 50000)
	waitFreePorts(t, h, nodePorts-2)
	s := h.create(arena.SessionRequest{ID: "a"})
	if got := arena.HostPortsOf(s.Ports); !slices.Equal(got, []int{40002}) {
		t.Fatalf("placed on %v", got)
	}
	h.waitState("a", arena.SessionRunning)
	// Its own container's port, seen on the machine, is no one else's.
	h.setHeld(40000, 40001, 40002)
	waitFreePorts(t, h, nodePorts-3)
	h.setHeld()
	waitFreePorts(t, h, nodePorts-1)
}

// TestTakenPortMovesTheSession: a session whose host port turns out taken
// on its node (the agent had not seen it yet) runs on other ports, which
// the control plane records and answers from then on.
func TestTakenPortMovesTheSession(t *testing.T) {
	h := newHarness(t, 10)
	h.rt.TakePorts(40000)
	created := h.create(arena.SessionRequest{ID: "s"})
	if got := arena.HostPortsOf(created.Ports); !slices.Equal(got, []int{40000}) {
		t.Fatalf("placed on %v", got)
	}
	running := h.waitState("s", arena.SessionRunning)
	if got := arena.HostPortsOf(running.Ports); !slices.Equal(got, []int{40001}) {
		t.Fatalf("running on %v", got)
	}
	spec, _ := h.rt.Spec(running.ID)
	if !slices.Equal(spec.Ports, running.Ports) {
		t.Fatalf("the container publishes %+v, the session says %+v", spec.Ports, running.Ports)
	}
	stored, err := h.store.FindSession(context.Background(), running.ID)
	if err != nil || !slices.Equal(stored.Ports, running.Ports) {
		t.Fatalf("stored %+v %v", stored, err)
	}
	// The port it left is free again; only the one it runs on is held.
	waitFreePorts(t, h, nodePorts-1)
	// A restart of the control plane restores the new ports.
	h.restartServer()
	waitFreePorts(t, h, nodePorts-1)
	if next := h.create(arena.SessionRequest{ID: "next"}); slices.Contains(arena.HostPortsOf(next.Ports), 40001) {
		t.Fatalf("the moved session's port was given again: %+v", next.Ports)
	}
}

// TestTakenPortsGiveUp: a session that finds a port taken on every set of
// ports it is given fails, as a failed start does, and holds nothing.
func TestTakenPortsGiveUp(t *testing.T) {
	h := newHarness(t, 10)
	for p := 40000; p <= 40000+session.MaxPortMoves; p++ {
		h.rt.TakePorts(p)
	}
	h.create(arena.SessionRequest{ID: "s"})
	s := h.waitState("s", arena.SessionStopped)
	if s.StopReason != arena.StopFailed || s.Status() != "dead" || !s.RunningAt.IsZero() {
		t.Fatalf("session %+v", s)
	}
	if got, want := arena.HostPortsOf(s.Ports), []int{40000 + session.MaxPortMoves}; !slices.Equal(got, want) {
		t.Fatalf("last ports %v, want %v", got, want)
	}
	if n := nodeUsage(t, h.fleet); n.Sessions != 0 || n.FreePorts != nodePorts {
		t.Fatalf("node after the failure %+v", n)
	}
	// The agent has forgotten it: nothing waits, nothing is left.
	waitFor(t, func() bool { cs, _ := h.rt.List(context.Background(), "n1"); return len(cs) == 0 })
}

// TestPortConflicts drives the control plane's side alone: the agent is
// stopped and the test speaks for the node.
func TestPortConflicts(t *testing.T) {
	tests := []struct {
		name  string
		image string
		// act runs before the conflict is reported.
		act   func(t *testing.T, h *harness, s *arena.Session)
		node  string
		moved bool
	}{
		{name: "a bridge session moves", image: "game", node: "n1", moved: true},
		{name: "a host-network session moves and is told", image: "hostgame", node: "n1", moved: true},
		{name: "another node's word moves nothing", image: "game", node: "n2"},
		{name: "a session being stopped stays", image: "game", node: "n1", act: func(t *testing.T, h *harness, s *arena.Session) {
			if err := h.srv.StopSession(context.Background(), org, s.Name); err != nil {
				t.Fatal(err)
			}
		}},
		{name: "a session that ran stays", image: "game", node: "n1", act: func(t *testing.T, h *harness, s *arena.Session) {
			report(t, h, arena.SessionReport{SessionID: s.ID, NodeID: "n1", State: arena.SessionRunning})
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, 10)
			h.stop()
			h.stop = func() {}
			ctx := context.Background()
			other := h.node
			other.ID, other.PortMin, other.PortMax = "n2", 40000, 49999
			if err := h.fleet.RegisterNode(ctx, other); err != nil {
				t.Fatal(err)
			}
			s := h.create(arena.SessionRequest{ID: "s", Image: tt.image, Location: "ams"})
			if tt.act != nil {
				tt.act(t, h, s)
			}
			conflict := arena.PortConflict{SessionID: s.ID, Ports: arena.HostPortsOf(s.Ports)}
			beat := arena.Heartbeat{NodeID: tt.node, Ports: &arena.HostPorts{Conflicts: []arena.PortConflict{conflict}}}
			if err := h.fleet.Heartbeat(ctx, beat); err != nil {
				t.Fatal(err)
			}
			got, err := h.srv.FindSession(ctx, org, "s")
			if err != nil {
				t.Fatal(err)
			}
			if moved := !slices.Equal(got.Ports, s.Ports); moved != tt.moved {
				t.Fatalf("moved %v, want %v: from %+v to %+v", moved, tt.moved, s.Ports, got.Ports)
			}
			if !tt.moved {
				return
			}
			for i, p := range got.Ports {
				if p.Protocol != s.Ports[i].Protocol || p.Container != s.Ports[i].Container || slices.Contains(conflict.Ports, p.Host) {
					t.Fatalf("moved from %+v to %+v", s.Ports, got.Ports)
				}
				if tt.image == "hostgame" && got.Env[arena.PortEnv(p)] != fmt.Sprint(p.Host) {
					t.Fatalf("%s = %q, want %d", arena.PortEnv(p), got.Env[arena.PortEnv(p)], p.Host)
				}
			}
			// The node repeats its word until it sees the move: the
			// repeat, about ports the session no longer has, moves nothing.
			if err := h.fleet.Heartbeat(ctx, beat); err != nil {
				t.Fatal(err)
			}
			again, _ := h.srv.FindSession(ctx, org, "s")
			if !slices.Equal(again.Ports, got.Ports) {
				t.Fatalf("a repeated conflict moved it again, to %+v", again.Ports)
			}
		})
	}
}
