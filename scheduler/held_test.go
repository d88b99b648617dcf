package scheduler

import (
	"slices"
	"testing"

	"github.com/arena-hq/arena"
)

// freePorts returns the free ports Nodes reports for node id.
func freePorts(tb testing.TB, s *Scheduler, id string) int {
	tb.Helper()
	for _, u := range s.Nodes() {
		if u.ID == id {
			return u.FreePorts
		}
	}
	tb.Fatalf("node %s unknown", id)
	return 0
}

func placedPorts(p Placement) []int { return arena.HostPortsOf(p.Ports) }

// TestHeldPortsAreNeverAllocated: ports the node's agent reports held are
// handed to no session and do not count as free, whatever else holds them.
func TestHeldPortsAreNeverAllocated(t *testing.T) {
	// Nodes of four ports, 40000 to 40003: room for two sessions of two.
	tests := []struct {
		name string
		run  func(t *testing.T, s *Scheduler)
	}{
		{"placement skips them", func(t *testing.T, s *Scheduler) {
			s.SetHeldPorts("n", []int{40002, 40000, 39999, 40004, 40000})
			if got := freePorts(t, s, "n"); got != 2 {
				t.Fatalf("free ports %d, want 2", got)
			}
			if p := place(t, s, "a", "ams"); !slices.Equal(placedPorts(p), []int{40001, 40003}) {
				t.Fatalf("placed on %v", p.Ports)
			}
			if _, err := s.Place(Request{SessionID: "b", Location: "ams", Resources: oneCore, Ports: twoPorts}); arena.ErrorCode(err) != arena.EUNAVAILABLE {
				t.Fatalf("placed past the free ports: %v", err)
			}
		}},
		{"capacity counts them", func(t *testing.T, s *Scheduler) {
			s.SetHeldPorts("n", []int{40001, 40002, 40003})
			if got := freePorts(t, s, "n"); got != 1 {
				t.Fatalf("free ports %d, want 1", got)
			}
			if got := s.AvailableLocations(oneCore, 2, nil); len(got) != 0 {
				t.Fatalf("available for two ports: %+v", got)
			}
			if got := s.AvailableLocations(oneCore, 1, nil); len(got) != 1 {
				t.Fatalf("not available for one port: %+v", got)
			}
		}},
		{"a new report frees what it leaves out", func(t *testing.T, s *Scheduler) {
			s.SetHeldPorts("n", []int{40000, 40001, 40002})
			s.SetHeldPorts("n", []int{40003})
			if got := freePorts(t, s, "n"); got != 3 {
				t.Fatalf("free ports %d, want 3", got)
			}
			if p := place(t, s, "a", "ams"); !slices.Equal(placedPorts(p), []int{40000, 40001}) {
				t.Fatalf("placed on %v", p.Ports)
			}
			s.SetHeldPorts("n", nil)
			if got := freePorts(t, s, "n"); got != 2 {
				t.Fatalf("free ports %d, want 2", got)
			}
		}},
		{"a session's port held too counts once, and stays held after it", func(t *testing.T, s *Scheduler) {
			place(t, s, "a", "ams") // 40000 and 40001
			s.SetHeldPorts("n", []int{40001, 40002})
			if got := freePorts(t, s, "n"); got != 1 {
				t.Fatalf("free ports %d, want 1", got)
			}
			// Its container may still hold the port as it goes.
			s.Release("a")
			if got := freePorts(t, s, "n"); got != 2 {
				t.Fatalf("free ports after the release %d, want 2", got)
			}
			if p := place(t, s, "b", "ams"); !slices.Equal(placedPorts(p), []int{40003, 40000}) {
				t.Fatalf("placed on %v", p.Ports)
			}
			s.SetHeldPorts("n", []int{40000}) // b's own, seen by a scan
			s.SetHeldPorts("n", nil)
			if got := freePorts(t, s, "n"); got != 2 {
				t.Fatalf("free ports %d, want 2: b's ports are b's", got)
			}
			checkInvariants(t, s, true)
		}},
		{"a restored session takes its port whatever holds it", func(t *testing.T, s *Scheduler) {
			s.SetHeldPorts("n", []int{40001})
			sess := &arena.Session{ID: "r", NodeID: "n", Resources: oneCore, Ports: []arena.Port{{Protocol: arena.UDP, Container: 1, Host: 40001}}}
			if err := s.Restore(sess); err != nil {
				t.Fatal(err)
			}
			if got := freePorts(t, s, "n"); got != 3 {
				t.Fatalf("free ports %d, want 3", got)
			}
			checkInvariants(t, s, true)
		}},
		{"a new range keeps them", func(t *testing.T, s *Scheduler) {
			s.SetHeldPorts("n", []int{40002, 40003})
			s.UpsertNode(testNode("n", "ams", arena.ClassMetal, 8000, 8), true)
			if got := freePorts(t, s, "n"); got != 6 {
				t.Fatalf("free ports %d, want 6", got)
			}
			if p := place(t, s, "a", "ams"); !slices.Equal(placedPorts(p), []int{40000, 40001}) {
				t.Fatalf("placed on %v", p.Ports)
			}
			if p := place(t, s, "b", "ams"); !slices.Equal(placedPorts(p), []int{40004, 40005}) {
				t.Fatalf("placed on %v", p.Ports)
			}
		}},
		{"reports of unknown nodes are dropped", func(t *testing.T, s *Scheduler) {
			s.SetHeldPorts("other", []int{40000})
			if got := freePorts(t, s, "n"); got != 4 {
				t.Fatalf("free ports %d, want 4", got)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := New(Pack)
			s.UpsertNode(testNode("n", "ams", arena.ClassMetal, 8000, 4), true)
			tt.run(t, s)
			checkInvariants(t, s, false)
		})
	}
}

func TestMovePorts(t *testing.T) {
	withProtocols := []arena.PortSpec{{Container: 7777, Protocol: arena.TCP}, {Container: 7778, Protocol: arena.UDP}}
	tests := []struct {
		name string
		// held is what the node's agent reports before the move.
		held []int
		// others are placed after "s", two ports each, and the first of
		// them is released again when release is set.
		others  int
		release bool
		want    []int
		code    string
	}{
		{name: "to the next free ports", want: []int{40002, 40003}},
		{name: "past held ones", held: []int{40002, 40003}, want: []int{40004, 40005}},
		{name: "from the cursor on, past ports freed behind it", others: 2, release: true, want: []int{40006, 40007}},
		{name: "wrapping around, never onto its own", others: 3, release: true, want: []int{40002, 40003}},
		{name: "no room", others: 3, code: arena.EUNAVAILABLE},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := New(Pack)
			s.UpsertNode(testNode("n", "ams", arena.ClassMetal, 8000, 8), true)
			p, err := s.Place(Request{SessionID: "s", Location: "ams", Resources: arena.Resources{MilliCPU: 1, MemoryMB: 1}, Ports: withProtocols})
			if err != nil {
				t.Fatal(err)
			}
			for i := range tt.others {
				if _, err := s.Place(Request{SessionID: string(rune('a' + i)), Location: "ams", Resources: arena.Resources{MilliCPU: 1, MemoryMB: 1}, Ports: twoPorts}); err != nil {
					t.Fatal(err)
				}
			}
			if tt.release {
				s.Release("a") // 40002 and 40003
			}
			s.SetHeldPorts("n", tt.held)
			before := freePorts(t, s, "n")
			moved, err := s.MovePorts("s", p.Ports)
			if arena.ErrorCode(err) != tt.code {
				t.Fatalf("MovePorts: %v, want code %q", err, tt.code)
			}
			if tt.code != "" {
				if got := freePorts(t, s, "n"); got != before {
					t.Fatalf("a refused move changed the free ports from %d to %d", before, got)
				}
				checkInvariants(t, s, true)
				return
			}
			if !slices.Equal(arena.HostPortsOf(moved), tt.want) {
				t.Fatalf("moved to %v, want %v", moved, tt.want)
			}
			for i, m := range moved {
				if m.Protocol != p.Ports[i].Protocol || m.Container != p.Ports[i].Container {
					t.Fatalf("moved %+v to %+v", p.Ports[i], m)
				}
			}
			if got := freePorts(t, s, "n"); got != before {
				t.Fatalf("free ports %d after the move, want %d", got, before)
			}
			// The ports it left are free for others, and it keeps the new ones.
			s.mu.RLock()
			old0, new0 := s.nodes["n"].ports.held(p.Ports[0].Host), s.nodes["n"].ports.held(moved[0].Host)
			s.mu.RUnlock()
			if old0 || !new0 {
				t.Fatalf("after the move, old port held %v, new port held %v", old0, new0)
			}
			checkInvariants(t, s, true)
		})
	}
	t.Run("unknown session", func(t *testing.T) {
		s := New(Pack)
		s.UpsertNode(testNode("n", "ams", arena.ClassMetal, 8000, 8), true)
		if _, err := s.MovePorts("nobody", nil); arena.ErrorCode(err) != arena.ENOTFOUND {
			t.Fatalf("MovePorts of an unknown session: %v", err)
		}
	})
}
