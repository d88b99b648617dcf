package scheduler

import (
	"fmt"
	"slices"
	"testing"

	"github.com/arena-hq/arena"
)

// nd returns a node with cores CPU cores, as many GB of memory, and 100 ports.
func nd(id, location, region, provider string, class arena.NodeClass, cores int64) arena.Node {
	return arena.Node{
		ID: id, Location: location, Region: region, Provider: provider, Class: class, PublicIP: "192.0.2.1",
		Capacity: arena.Resources{MilliCPU: cores * 1000, MemoryMB: cores * 1000}, PortMin: 40000, PortMax: 40099,
	}
}

// step optionally does something, then places a session of one core and two
// ports in area and expects it on node want; want "" expects EUNAVAILABLE.
// Sessions are named s0, s1, … in the order of the steps that place.
type step struct {
	do   func(s *Scheduler)
	area string
	want string
}

type scenario struct {
	name   string
	policy Policy
	nodes  []arena.Node
	steps  []step
}

func (sc scenario) run(t *testing.T) {
	t.Helper()
	s := New(sc.policy)
	for _, n := range sc.nodes {
		s.UpsertNode(n, true)
	}
	placed := 0
	for i, st := range sc.steps {
		if st.do != nil {
			st.do(s)
		}
		if st.area == "" {
			continue
		}
		id := fmt.Sprintf("s%d", placed)
		placed++
		req := Request{SessionID: id, Location: st.area, Resources: oneCore, Ports: twoPorts}
		want := referencePick(s, req)
		p, err := s.Place(req)
		got := p.Node.ID
		if err != nil {
			if arena.ErrorCode(err) != arena.EUNAVAILABLE {
				t.Fatalf("step %d: %v", i, err)
			}
			got = ""
		}
		if got != st.want {
			t.Fatalf("step %d (%s in %s): placed on %q, want %q", i, id, st.area, got, st.want)
		}
		if got != want {
			t.Fatalf("step %d: placed on %q, the reference order says %q", i, got, want)
		}
		checkInvariants(t, s, true)
	}
}

func repeat(n int, st step) []step {
	out := make([]step, n)
	for i := range out {
		out[i] = st
	}
	return out
}

func TestProviderSpreading(t *testing.T) {
	const ams, eu = "ams", "europe"
	twoProviders := []arena.Node{nd("a1", ams, eu, "A", arena.ClassMetal, 8), nd("b1", ams, eu, "B", arena.ClassMetal, 8)}
	tests := []scenario{
		{
			name:  "two metal providers alternate",
			nodes: twoProviders,
			steps: []step{{area: ams, want: "a1"}, {area: ams, want: "b1"}, {area: ams, want: "a1"}, {area: ams, want: "b1"}},
		},
		{
			name:   "pack takes the busiest node of the least used provider",
			policy: Pack,
			nodes:  append(slices.Clone(twoProviders), nd("a2", ams, eu, "A", arena.ClassMetal, 8)),
			steps:  []step{{area: ams, want: "a1"}, {area: ams, want: "b1"}, {area: ams, want: "a1"}, {area: ams, want: "b1"}, {area: ams, want: "a1"}},
		},
		{
			name:   "spread takes the idlest node of the least used provider",
			policy: Spread,
			nodes:  append(slices.Clone(twoProviders), nd("a2", ams, eu, "A", arena.ClassMetal, 8)),
			steps:  []step{{area: ams, want: "a1"}, {area: ams, want: "b1"}, {area: ams, want: "a2"}, {area: ams, want: "b1"}, {area: ams, want: "a1"}},
		},
		{
			name:  "a provider whose nodes are all unhealthy is skipped",
			nodes: append(slices.Clone(twoProviders), nd("b2", ams, eu, "B", arena.ClassMetal, 8)),
			steps: append([]step{{do: func(s *Scheduler) {
				s.SetHealthy("b1", false)
				s.SetHealthy("b2", false)
			}, area: ams, want: "a1"}}, repeat(3, step{area: ams, want: "a1"})...),
		},
		{
			name:  "cloud only when both metal providers are full",
			nodes: []arena.Node{nd("c1", ams, eu, "C", arena.ClassCloud, 100), nd("a1", ams, eu, "A", arena.ClassMetal, 2), nd("b1", ams, eu, "B", arena.ClassMetal, 2)},
			steps: []step{
				{area: ams, want: "a1"}, {area: ams, want: "b1"}, {area: ams, want: "a1"}, {area: ams, want: "b1"},
				{area: ams, want: "c1"}, {area: ams, want: "c1"},
				// s0 was on a1: metal has room again.
				{do: func(s *Scheduler) { s.Release("s0") }, area: ams, want: "a1"},
				{area: ams, want: "c1"},
			},
		},
		{
			name: "a provider's tally counts both classes",
			nodes: []arena.Node{
				nd("a-metal", ams, eu, "A", arena.ClassMetal, 2), nd("a-cloud", ams, eu, "A", arena.ClassCloud, 8),
				nd("b-cloud", ams, eu, "B", arena.ClassCloud, 8),
			},
			steps: []step{
				{area: ams, want: "a-metal"}, {area: ams, want: "a-metal"},
				{area: ams, want: "b-cloud"}, {area: ams, want: "b-cloud"}, {area: ams, want: "a-cloud"},
			},
		},
		{
			name: "a draining node's provider takes nothing while the other has room",
			nodes: []arena.Node{
				func() arena.Node { n := nd("a1", ams, eu, "A", arena.ClassMetal, 8); n.Draining = true; return n }(),
				nd("b1", ams, eu, "B", arena.ClassMetal, 8),
			},
			steps: repeat(3, step{area: ams, want: "b1"}),
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, tt.run)
	}
}

func TestAreas(t *testing.T) {
	tests := []scenario{
		{
			name:  "a location request sees its location only",
			nodes: []arena.Node{nd("a-ams", "ams", "europe", "A", arena.ClassMetal, 1), nd("a-fra", "fra", "europe", "A", arena.ClassMetal, 8)},
			steps: []step{{area: "ams", want: "a-ams"}, {area: "ams", want: ""}, {area: "fra", want: "a-fra"}},
		},
		{
			name:  "a region request sees every location in it",
			nodes: []arena.Node{nd("a-ams", "ams", "europe", "A", arena.ClassMetal, 1), nd("a-fra", "fra", "europe", "A", arena.ClassMetal, 1), nd("x", "nyc", "america", "A", arena.ClassMetal, 8)},
			steps: []step{{area: "europe", want: "a-ams"}, {area: "europe", want: "a-fra"}, {area: "europe", want: ""}, {area: "america", want: "x"}},
		},
		{
			name: "region and location tallies are their own",
			nodes: []arena.Node{
				nd("a-ams", "ams", "europe", "A", arena.ClassMetal, 8), nd("b-ams", "ams", "europe", "B", arena.ClassMetal, 8),
				nd("a-fra", "fra", "europe", "A", arena.ClassMetal, 8),
			},
			steps: []step{
				{area: "fra", want: "a-fra"}, {area: "fra", want: "a-fra"},
				// The region counts A twice, B never.
				{area: "europe", want: "b-ams"}, {area: "europe", want: "b-ams"},
				// Tie: A first, and Pack takes its busiest node.
				{area: "europe", want: "a-fra"},
				// Within ams, A has none of the three sessions.
				{area: "ams", want: "a-ams"},
			},
		},
		{
			name:  "a location named like its region counts once",
			nodes: []arena.Node{nd("x", "local", "local", "A", arena.ClassMetal, 8), nd("y", "local", "local", "B", arena.ClassMetal, 8)},
			steps: []step{{area: "local", want: "x"}, {area: "local", want: "y"}, {area: "local", want: "x"}},
		},
		{
			name:  "a name that is one node's location and another's region matches both",
			nodes: []arena.Node{nd("x", "sg", "asia", "A", arena.ClassMetal, 1), nd("y", "sg-2", "sg", "A", arena.ClassMetal, 1)},
			steps: []step{{area: "sg", want: "x"}, {area: "sg", want: "y"}, {area: "sg", want: ""}, {area: "asia", want: ""}},
		},
		{
			name:  "unknown and empty names have no capacity",
			nodes: []arena.Node{nd("x", "ams", "", "A", arena.ClassMetal, 8)},
			steps: []step{{area: "", want: ""}, {area: "fra", want: ""}, {area: "ams", want: "x"}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, tt.run)
	}
}

func TestKnown(t *testing.T) {
	s := New(Pack)
	s.UpsertNode(nd("x", "ams", "europe", "A", arena.ClassMetal, 8), true)
	s.UpsertNode(nd("y", "local", "local", "A", arena.ClassMetal, 8), false)
	for name, want := range map[string]bool{"ams": true, "europe": true, "local": true, "fra": false, "": false, "A": false} {
		if got := s.Known(name); got != want {
			t.Errorf("Known(%q) = %v, want %v", name, got, want)
		}
	}
}

func TestUpsertMovesNode(t *testing.T) {
	tests := []struct {
		name  string
		nodes []arena.Node
		// places these sessions in ams before the move
		before int
		move   arena.Node
		known  map[string]bool
		steps  []step
	}{
		{
			name:   "to another location and region",
			nodes:  []arena.Node{nd("a", "ams", "europe", "A", arena.ClassMetal, 8)},
			before: 2,
			move:   nd("a", "nyc", "america", "A", arena.ClassMetal, 8),
			known:  map[string]bool{"ams": false, "europe": false, "nyc": true, "america": true},
			steps:  []step{{area: "ams", want: ""}, {area: "europe", want: ""}, {area: "nyc", want: "a"}, {area: "america", want: "a"}},
		},
		{
			name:   "to another location of the region",
			nodes:  []arena.Node{nd("a", "ams", "europe", "A", arena.ClassMetal, 8), nd("b", "ams", "europe", "B", arena.ClassMetal, 8)},
			before: 2,
			move:   nd("a", "fra", "europe", "A", arena.ClassMetal, 8),
			known:  map[string]bool{"ams": true, "fra": true, "europe": true},
			// The region still counts one session for each; ams now only B's.
			steps: []step{{area: "ams", want: "b"}, {area: "europe", want: "a"}, {area: "fra", want: "a"}},
		},
		{
			name:   "to another provider, taking its sessions along",
			nodes:  []arena.Node{nd("a", "ams", "europe", "A", arena.ClassMetal, 8), nd("b", "ams", "europe", "B", arena.ClassMetal, 8), nd("c", "ams", "europe", "C", arena.ClassMetal, 8)},
			before: 3,
			move:   nd("a", "ams", "europe", "B", arena.ClassMetal, 8),
			// B holds two sessions, C one.
			steps: []step{{area: "ams", want: "c"}, {area: "ams", want: "a"}},
		},
		{
			name:   "to another class",
			nodes:  []arena.Node{nd("a", "ams", "europe", "A", arena.ClassMetal, 8), nd("b", "ams", "europe", "B", arena.ClassCloud, 8)},
			before: 1,
			move:   nd("a", "ams", "europe", "A", arena.ClassCloud, 8),
			// Both cloud now: B has fewer sessions.
			steps: []step{{area: "ams", want: "b"}, {area: "ams", want: "a"}},
		},
		{
			name:   "to a port range that keeps only some held ports",
			nodes:  []arena.Node{nd("a", "ams", "europe", "A", arena.ClassMetal, 8)},
			before: 1,
			move: func() arena.Node {
				n := nd("a", "ams", "europe", "A", arena.ClassMetal, 8)
				n.PortMin = 40001
				n.PortMax = 40002
				return n
			}(),
			// s0 held 40000 and 40001; 40002 is the only free port left.
			steps: []step{{area: "ams", want: ""}, {do: func(s *Scheduler) { s.Release("s0") }, area: "ams", want: "a"}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := New(Pack)
			for _, n := range tt.nodes {
				s.UpsertNode(n, true)
			}
			for i := range tt.before {
				place(t, s, fmt.Sprintf("s%d", i), "ams")
			}
			s.UpsertNode(tt.move, true)
			checkInvariants(t, s, true)
			for name, want := range tt.known {
				if got := s.Known(name); got != want {
					t.Errorf("Known(%q) = %v, want %v", name, got, want)
				}
			}
			for i, st := range tt.steps {
				if st.do != nil {
					st.do(s)
				}
				id := fmt.Sprintf("after%d", i)
				req := Request{SessionID: id, Location: st.area, Resources: oneCore, Ports: twoPorts}
				want := referencePick(s, req)
				p, err := s.Place(req)
				if (err == nil && p.Node.ID != st.want) || (err != nil && st.want != "") || want != st.want {
					t.Fatalf("step %d in %s: placed on %q (%v), want %q (reference %q)", i, st.area, p.Node.ID, err, st.want, want)
				}
				checkInvariants(t, s, true)
			}
		})
	}
}

func TestRemoveNode(t *testing.T) {
	s := New(Pack)
	s.UpsertNode(nd("a", "ams", "europe", "A", arena.ClassMetal, 8), true)
	s.UpsertNode(nd("b", "fra", "europe", "B", arena.ClassMetal, 8), true)
	place(t, s, "s", "ams")

	t.Run("refused while it holds sessions", func(t *testing.T) {
		if err := s.RemoveNode("a"); arena.ErrorCode(err) != arena.ECONFLICT {
			t.Fatalf("got %v, want %s", err, arena.ECONFLICT)
		}
		if !s.Known("ams") || len(s.Nodes()) != 2 {
			t.Fatal("a refused removal changed something")
		}
		checkInvariants(t, s, true)
	})
	t.Run("done once they are released", func(t *testing.T) {
		s.Release("s")
		if err := s.RemoveNode("a"); err != nil {
			t.Fatal(err)
		}
		if s.Known("ams") || !s.Known("europe") || len(s.Nodes()) != 1 {
			t.Fatalf("after removal: known ams %v, europe %v, %d nodes", s.Known("ams"), s.Known("europe"), len(s.Nodes()))
		}
		if _, err := s.Place(Request{SessionID: "t", Location: "ams", Resources: oneCore}); arena.ErrorCode(err) != arena.EUNAVAILABLE {
			t.Fatalf("placed on a removed node: %v", err)
		}
		checkInvariants(t, s, true)
	})
	t.Run("unknown node", func(t *testing.T) {
		if err := s.RemoveNode("nope"); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("added again, it starts empty", func(t *testing.T) {
		s.UpsertNode(nd("a", "ams", "europe", "A", arena.ClassMetal, 8), true)
		if n := s.Nodes()[0]; n.ID != "a" || n.Sessions != 0 || n.FreePorts != 100 || n.Used != (arena.Resources{}) {
			t.Fatalf("re-added node: %+v", n)
		}
		place(t, s, "v", "ams")
		checkInvariants(t, s, true)
	})
}

func TestNodesHealth(t *testing.T) {
	s := New(Pack)
	s.UpsertNode(nd("ok", "ams", "europe", "A", arena.ClassMetal, 8), true)
	s.UpsertNode(nd("sick", "ams", "europe", "A", arena.ClassMetal, 8), false)
	s.UpsertNode(nd("marked", "ams", "europe", "B", arena.ClassMetal, 8), true)
	s.SetHealthy("marked", false)
	s.SetHealthy("unknown", false)
	want := map[string]bool{"ok": true, "sick": false, "marked": false}
	for _, n := range s.Nodes() {
		if n.Healthy != want[n.ID] {
			t.Errorf("%s: healthy %v, want %v", n.ID, n.Healthy, want[n.ID])
		}
	}
	if len(s.Nodes()) != len(want) {
		t.Fatalf("%d nodes, want %d", len(s.Nodes()), len(want))
	}
	s.SetHealthy("sick", true)
	s.UpsertNode(nd("marked", "ams", "europe", "B", arena.ClassMetal, 8), true)
	for _, n := range s.Nodes() {
		if !n.Healthy {
			t.Errorf("%s: unhealthy after recovering", n.ID)
		}
	}
	checkInvariants(t, s, true)
}

func TestAvailableLocations(t *testing.T) {
	withIP := func(n arena.Node, ip string) arena.Node { n.PublicIP = ip; return n }
	draining := func(n arena.Node) arena.Node { n.Draining = true; return n }
	ams := func(id, ip string) arena.Node { return withIP(nd(id, "ams", "europe", "A", arena.ClassMetal, 2), ip) }
	tests := []struct {
		name  string
		nodes []arena.Node
		setup func(s *Scheduler)
		res   arena.Resources
		ports int
		want  []arena.AvailableLocation
	}{
		{
			name: "every location that fits, sorted by name",
			nodes: []arena.Node{
				withIP(nd("x", "nyc", "america", "A", arena.ClassCloud, 2), "198.51.100.1"),
				ams("a", "192.0.2.1"),
				withIP(nd("f", "fra", "europe", "B", arena.ClassMetal, 2), "203.0.113.1"),
			},
			res: oneCore, ports: 2,
			want: []arena.AvailableLocation{
				{Location: "ams", Region: "europe", IPs: []string{"192.0.2.1"}},
				{Location: "fra", Region: "europe", IPs: []string{"203.0.113.1"}},
				{Location: "nyc", Region: "america", IPs: []string{"198.51.100.1"}},
			},
		},
		{
			name:  "only the nodes with room",
			nodes: []arena.Node{ams("a", "192.0.2.1"), ams("b", "192.0.2.2"), withIP(nd("f", "fra", "europe", "A", arena.ClassMetal, 1), "203.0.113.1")},
			setup: func(s *Scheduler) {
				s.SetHealthy("b", false)
				place(t, s, "fills-a", "ams")
				place(t, s, "fills-a-too", "ams")
				place(t, s, "fills-f", "fra")
				s.SetHealthy("b", true)
			},
			res:  oneCore,
			want: []arena.AvailableLocation{{Location: "ams", Region: "europe", IPs: []string{"192.0.2.2"}}},
		},
		{
			name:  "too large for any node",
			nodes: []arena.Node{ams("a", "192.0.2.1")},
			res:   arena.Resources{MilliCPU: 3000, MemoryMB: 1},
			want:  []arena.AvailableLocation{},
		},
		{
			name:  "not enough free ports",
			nodes: []arena.Node{ams("a", "192.0.2.1")},
			ports: 101,
			want:  []arena.AvailableLocation{},
		},
		{
			name:  "draining nodes are left out",
			nodes: []arena.Node{draining(ams("a", "192.0.2.1")), ams("b", "192.0.2.2")},
			want:  []arena.AvailableLocation{{Location: "ams", Region: "europe", IPs: []string{"192.0.2.2"}}},
		},
		{
			name:  "unhealthy nodes are left out",
			nodes: []arena.Node{ams("a", "192.0.2.1"), ams("b", "192.0.2.2")},
			setup: func(s *Scheduler) { s.SetHealthy("b", false) },
			want:  []arena.AvailableLocation{{Location: "ams", Region: "europe", IPs: []string{"192.0.2.1"}}},
		},
		{
			name:  "a location with no node that fits is left out",
			nodes: []arena.Node{draining(ams("a", "192.0.2.1"))},
			want:  []arena.AvailableLocation{},
		},
		{
			name: "IPv6 and unparsable addresses are skipped, the location is not",
			nodes: []arena.Node{
				ams("a", "2001:db8::1"), ams("b", "192.0.2.7"), ams("c", "not-an-address"),
				withIP(nd("v6", "fra", "europe", "A", arena.ClassMetal, 2), "2001:db8::2"),
			},
			want: []arena.AvailableLocation{
				{Location: "ams", Region: "europe", IPs: []string{"192.0.2.7"}},
				{Location: "fra", Region: "europe", IPs: []string{}},
			},
		},
		{
			name:  "an IPv4-mapped IPv6 address counts as IPv4",
			nodes: []arena.Node{ams("a", "::ffff:192.0.2.9")},
			want:  []arena.AvailableLocation{{Location: "ams", Region: "europe", IPs: []string{"192.0.2.9"}}},
		},
		{
			name:  "addresses sorted by value, without duplicates",
			nodes: []arena.Node{ams("a", "10.0.0.10"), ams("b", "10.0.0.9"), ams("c", "10.0.0.10"), ams("d", "9.255.0.1"), ams("e", "10.0.0.9")},
			want:  []arena.AvailableLocation{{Location: "ams", Region: "europe", IPs: []string{"9.255.0.1", "10.0.0.9", "10.0.0.10"}}},
		},
		{
			name:  "a location whose nodes disagree about the region is listed per region",
			nodes: []arena.Node{ams("a", "192.0.2.1"), withIP(nd("b", "ams", "eu-west", "A", arena.ClassMetal, 2), "192.0.2.2")},
			want: []arena.AvailableLocation{
				{Location: "ams", Region: "eu-west", IPs: []string{"192.0.2.2"}},
				{Location: "ams", Region: "europe", IPs: []string{"192.0.2.1"}},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := New(Pack)
			for _, n := range tt.nodes {
				s.UpsertNode(n, true)
			}
			if tt.setup != nil {
				tt.setup(s)
			}
			got := s.AvailableLocations(tt.res, tt.ports, nil)
			if !equalLocations(got, tt.want) {
				t.Fatalf("got %+v\nwant %+v", got, tt.want)
			}
			if ref := referenceAvailable(s, tt.res, tt.ports, nil); !equalLocations(got, ref) {
				t.Fatalf("got %+v\nreference %+v", got, ref)
			}
		})
	}
}

func equalLocations(a, b []arena.AvailableLocation) bool {
	return a != nil && b != nil && slices.EqualFunc(a, b, func(x, y arena.AvailableLocation) bool {
		return x.Location == y.Location && x.Region == y.Region && x.IPs != nil && y.IPs != nil && slices.Equal(x.IPs, y.IPs)
	})
}
