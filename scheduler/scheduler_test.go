package scheduler

import (
	"cmp"
	"fmt"
	"sync"
	"testing"

	"github.com/arena-hq/arena"
)

// testNode returns a node of region europe. Its nodes share one provider, so
// that provider spreading leaves class and policy to decide.
func testNode(id, location string, class arena.NodeClass, cpu int64, ports int) arena.Node {
	return arena.Node{
		ID: id, Region: "europe", Location: location, Provider: "p", Class: class,
		PublicIP: "127.0.0.1", Capacity: arena.Resources{MilliCPU: cpu, MemoryMB: cpu},
		PortMin: 40000, PortMax: 40000 + ports - 1,
	}
}

var oneCore = arena.Resources{MilliCPU: 1000, MemoryMB: 1000}
var twoPorts = []arena.PortSpec{{Container: 7777, Protocol: arena.TCP}, {Container: 7777, Protocol: arena.UDP}}

func place(tb testing.TB, s *Scheduler, id, location string) Placement {
	tb.Helper()
	p, err := s.Place(Request{SessionID: id, Location: location, Resources: oneCore, Ports: twoPorts})
	if err != nil {
		tb.Fatalf("place %s: %v", id, err)
	}
	return p
}

// prefilled returns a scheduler of policy over nodes, all healthy, with
// prefill's count of sessions placed on each node it names, in ams.
func prefilled(tb testing.TB, policy Policy, nodes []arena.Node, prefill map[string]int) *Scheduler {
	tb.Helper()
	s := New(policy)
	for _, n := range nodes {
		s.UpsertNode(n, true)
	}
	for id, count := range prefill {
		for i := range count {
			// Prefill only the named node by making it the only healthy one.
			for _, n := range nodes {
				s.SetHealthy(n.ID, n.ID == id)
			}
			place(tb, s, fmt.Sprintf("pre-%s-%d", id, i), "ams")
		}
	}
	for _, n := range nodes {
		s.SetHealthy(n.ID, true)
	}
	return s
}

func TestPlaceOrder(t *testing.T) {
	tests := []struct {
		name   string
		policy Policy
		nodes  []arena.Node
		// prefill places this many sessions on the named node first.
		prefill map[string]int
		// location is what the request names; "ams" when empty.
		location string
		// images are the images each node holds; the request runs "game:1".
		images map[string][]string
		want   string
	}{
		{
			name:   "metal before cloud",
			policy: Pack,
			nodes:  []arena.Node{testNode("cloud", "ams", arena.ClassCloud, 8000, 100), testNode("metal", "ams", arena.ClassMetal, 8000, 100)},
			want:   "metal",
		},
		{
			name:    "cloud when metal is full",
			policy:  Pack,
			nodes:   []arena.Node{testNode("cloud", "ams", arena.ClassCloud, 8000, 100), testNode("metal", "ams", arena.ClassMetal, 1000, 100)},
			prefill: map[string]int{"metal": 1},
			want:    "cloud",
		},
		{
			name:    "pack fills the busiest node",
			policy:  Pack,
			nodes:   []arena.Node{testNode("a", "ams", arena.ClassMetal, 8000, 100), testNode("b", "ams", arena.ClassMetal, 8000, 100)},
			prefill: map[string]int{"b": 1},
			want:    "b",
		},
		{
			name:    "spread picks the idlest node",
			policy:  Spread,
			nodes:   []arena.Node{testNode("a", "ams", arena.ClassMetal, 8000, 100), testNode("b", "ams", arena.ClassMetal, 8000, 100)},
			prefill: map[string]int{"a": 1},
			want:    "b",
		},
		{
			name:     "region matches every location in it",
			policy:   Pack,
			nodes:    []arena.Node{testNode("x", "fra", arena.ClassMetal, 8000, 100)},
			location: "europe",
			want:     "x",
		},
		{
			name:    "node without free ports is skipped",
			policy:  Pack,
			nodes:   []arena.Node{testNode("a", "ams", arena.ClassMetal, 8000, 3), testNode("b", "ams", arena.ClassCloud, 8000, 100)},
			prefill: map[string]int{"a": 1},
			want:    "b",
		},
		{
			name:   "node holding the image before the busier one",
			policy: Pack,
			nodes:  []arena.Node{testNode("a", "ams", arena.ClassMetal, 8000, 100), testNode("b", "ams", arena.ClassMetal, 8000, 100)},
			// Without the image, pack would pick the busier a.
			prefill: map[string]int{"a": 1},
			images:  map[string][]string{"a": {"game:0"}, "b": {"game:0", "game:1"}},
			want:    "b",
		},
		{
			name:   "image before provider spreading",
			policy: Pack,
			nodes: []arena.Node{
				withProvider(testNode("a", "ams", arena.ClassMetal, 8000, 100), "p1"),
				withProvider(testNode("b", "ams", arena.ClassMetal, 8000, 100), "p2"),
			},
			// p1 holds fewer sessions, so spreading alone would pick a.
			prefill: map[string]int{"b": 1},
			images:  map[string][]string{"b": {"game:1"}},
			want:    "b",
		},
		{
			name:   "metal without the image before cloud with it",
			policy: Pack,
			nodes:  []arena.Node{testNode("cloud", "ams", arena.ClassCloud, 8000, 100), testNode("metal", "ams", arena.ClassMetal, 8000, 100)},
			images: map[string][]string{"cloud": {"game:1"}},
			want:   "metal",
		},
		{
			name:    "full node holding the image is skipped",
			policy:  Pack,
			nodes:   []arena.Node{testNode("a", "ams", arena.ClassMetal, 1000, 100), testNode("b", "ams", arena.ClassMetal, 8000, 100)},
			prefill: map[string]int{"a": 1},
			images:  map[string][]string{"a": {"game:1"}},
			want:    "b",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := prefilled(t, tt.policy, tt.nodes, tt.prefill)
			for id, refs := range tt.images {
				s.SetImages(id, refs)
			}
			location := tt.location
			if location == "" {
				location = "ams"
			}
			got, err := s.Place(Request{SessionID: "new", Location: location, Resources: oneCore, Ports: twoPorts, Image: "game:1"})
			if err != nil {
				t.Fatal(err)
			}
			if got.Node.ID != tt.want {
				t.Fatalf("placed on %s, want %s", got.Node.ID, tt.want)
			}
		})
	}
}

func withProvider(n arena.Node, provider string) arena.Node {
	n.Provider = provider
	return n
}

func TestSetImagesReplaces(t *testing.T) {
	s := New(Pack)
	s.UpsertNode(testNode("a", "ams", arena.ClassMetal, 8000, 100), true)
	s.UpsertNode(testNode("b", "ams", arena.ClassMetal, 8000, 100), true)
	s.SetImages("b", []string{"game:1"})
	s.SetImages("b", []string{"game:2"}) // b no longer holds game:1
	s.SetImages("unknown", []string{"game:1"})
	// Ties go by id: with neither node holding game:1, a wins.
	p, err := s.Place(Request{SessionID: "s", Location: "ams", Resources: oneCore, Image: "game:1"})
	if err != nil {
		t.Fatal(err)
	}
	if p.Node.ID != "a" {
		t.Fatalf("placed on %s, want a: b dropped game:1", p.Node.ID)
	}
	p, err = s.Place(Request{SessionID: "t", Location: "ams", Resources: oneCore, Image: "game:2"})
	if err != nil {
		t.Fatal(err)
	}
	if p.Node.ID != "b" {
		t.Fatalf("placed on %s, want b, which holds game:2", p.Node.ID)
	}
}

func TestPlaceUnavailable(t *testing.T) {
	tests := []struct {
		name  string
		setup func(s *Scheduler)
	}{
		{"unknown location", func(s *Scheduler) { s.UpsertNode(testNode("a", "ams", arena.ClassMetal, 8000, 100), true) }},
		{"unhealthy node", func(s *Scheduler) { s.UpsertNode(testNode("a", "fra", arena.ClassMetal, 8000, 100), false) }},
		{"draining node", func(s *Scheduler) {
			n := testNode("a", "fra", arena.ClassMetal, 8000, 100)
			n.Draining = true
			s.UpsertNode(n, true)
		}},
		{"not enough cpu", func(s *Scheduler) { s.UpsertNode(testNode("a", "fra", arena.ClassMetal, 999, 100), true) }},
		{"not enough ports", func(s *Scheduler) { s.UpsertNode(testNode("a", "fra", arena.ClassMetal, 8000, 1), true) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := New(Pack)
			tt.setup(s)
			_, err := s.Place(Request{SessionID: "x", Location: "fra", Resources: oneCore, Ports: twoPorts})
			if code := arena.ErrorCode(err); code != arena.EUNAVAILABLE {
				t.Fatalf("got %v (%s), want %s", err, code, arena.EUNAVAILABLE)
			}
		})
	}
}

func TestPlaceDuplicateSession(t *testing.T) {
	s := New(Pack)
	s.UpsertNode(testNode("a", "ams", arena.ClassMetal, 8000, 100), true)
	place(t, s, "dup", "ams")
	_, err := s.Place(Request{SessionID: "dup", Location: "ams", Resources: oneCore})
	if arena.ErrorCode(err) != arena.ECONFLICT {
		t.Fatalf("got %v, want conflict", err)
	}
}

// TestConcurrentPlacement races 200 requests for a node with room for 100:
// exactly 100 must win, and no host port may be handed out twice.
func TestConcurrentPlacement(t *testing.T) {
	s := New(Pack)
	s.UpsertNode(testNode("a", "ams", arena.ClassMetal, 100_000, 1000), true)
	var (
		wg      sync.WaitGroup
		mu      sync.Mutex
		ok      int
		busy    int
		portsBy = map[int]string{}
	)
	for i := 0; i < 200; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			id := fmt.Sprintf("s%d", i)
			p, err := s.Place(Request{SessionID: id, Location: "ams", Resources: oneCore, Ports: twoPorts})
			mu.Lock()
			defer mu.Unlock()
			switch arena.ErrorCode(err) {
			case "":
				ok++
				for _, port := range p.Ports {
					if other, dup := portsBy[port.Host]; dup {
						t.Errorf("port %d given to %s and %s", port.Host, other, id)
					}
					portsBy[port.Host] = id
				}
			case arena.EUNAVAILABLE:
				busy++
			default:
				t.Errorf("unexpected error: %v", err)
			}
		}()
	}
	wg.Wait()
	if ok != 100 || busy != 100 {
		t.Fatalf("placed %d and refused %d, want 100 and 100", ok, busy)
	}
	n := s.Nodes()[0]
	if n.Used.MilliCPU != 100_000 || n.FreePorts != 800 || n.Sessions != 100 {
		t.Fatalf("node usage %+v", n)
	}
}

func TestReleaseAndReuse(t *testing.T) {
	s := New(Pack)
	s.UpsertNode(testNode("a", "ams", arena.ClassMetal, 1000, 2), true)
	first := place(t, s, "one", "ams")
	if _, err := s.Place(Request{SessionID: "two", Location: "ams", Resources: oneCore, Ports: twoPorts}); arena.ErrorCode(err) != arena.EUNAVAILABLE {
		t.Fatalf("full node accepted a session: %v", err)
	}
	s.Release("one")
	s.Release("one") // twice is harmless
	second := place(t, s, "two", "ams")
	if len(second.Ports) != 2 || second.Ports[0].Host == second.Ports[1].Host {
		t.Fatalf("bad ports %+v (first had %+v)", second.Ports, first.Ports)
	}
	if n := s.Nodes()[0]; n.Sessions != 1 || n.Used != oneCore {
		t.Fatalf("usage after release and place: %+v", n)
	}
}

func TestPlaceWithoutPorts(t *testing.T) {
	s := New(Pack)
	s.UpsertNode(testNode("a", "ams", arena.ClassMetal, 8000, 1), true)
	p, err := s.Place(Request{SessionID: "portless", Location: "ams", Resources: oneCore})
	if err != nil || len(p.Ports) != 0 {
		t.Fatalf("placing a session without ports: %+v, %v", p, err)
	}
}

func TestPortCursorDelaysReuse(t *testing.T) {
	s := New(Pack)
	s.UpsertNode(testNode("a", "ams", arena.ClassMetal, 100_000, 10), true)
	p := place(t, s, "one", "ams")
	s.Release("one")
	q := place(t, s, "two", "ams")
	if p.Ports[0].Host == q.Ports[0].Host {
		t.Fatalf("a just released port %d was reused at once", p.Ports[0].Host)
	}
}

func TestRestore(t *testing.T) {
	s := New(Pack)
	s.UpsertNode(testNode("a", "ams", arena.ClassMetal, 2000, 10), true)
	sess := &arena.Session{ID: "old", NodeID: "a", Resources: oneCore, Ports: []arena.Port{{Protocol: arena.TCP, Container: 7777, Host: 40003}}}
	if err := s.Restore(sess); err != nil {
		t.Fatal(err)
	}
	if err := s.Restore(sess); err != nil {
		t.Fatalf("restoring twice: %v", err)
	}
	clash := &arena.Session{ID: "clash", NodeID: "a", Resources: oneCore, Ports: []arena.Port{{Protocol: arena.TCP, Container: 7777, Host: 40003}}}
	if err := s.Restore(clash); arena.ErrorCode(err) != arena.ECONFLICT {
		t.Fatalf("restoring a held port: %v", err)
	}
	// The clashing session still holds its resources; releasing it leaves the
	// port with the session that held it first.
	if n := s.Nodes()[0]; n.Sessions != 2 || n.Used.MilliCPU != 2000 {
		t.Fatalf("after a clash: %+v", n)
	}
	s.Release("clash")
	for i := 0; i < 4; i++ {
		// Nine free ports and one free core: one more session with two ports fits.
		p, err := s.Place(Request{SessionID: fmt.Sprint(i), Location: "ams", Resources: arena.Resources{MilliCPU: 100, MemoryMB: 100}, Ports: twoPorts})
		if err != nil {
			t.Fatalf("place %d: %v", i, err)
		}
		for _, port := range p.Ports {
			if port.Host == 40003 {
				t.Fatalf("restored port handed out again")
			}
		}
	}
}

// TestCompareNodes: the order a claim among warm pools' sessions follows
// is placement's: metal first, then the policy's choice of load.
func TestCompareNodes(t *testing.T) {
	tests := []struct {
		name    string
		policy  Policy
		nodes   []arena.Node
		prefill map[string]int
		// want lists the nodes best first.
		want []string
	}{
		{"metal before cloud", Pack, []arena.Node{testNode("cloud", "ams", arena.ClassCloud, 8000, 100), testNode("metal", "ams", arena.ClassMetal, 8000, 100)}, nil, []string{"metal", "cloud"}},
		{"pack: the busiest first", Pack, []arena.Node{testNode("a", "ams", arena.ClassMetal, 8000, 100), testNode("b", "ams", arena.ClassMetal, 8000, 100)}, map[string]int{"b": 1}, []string{"b", "a"}},
		{"spread: the idlest first", Spread, []arena.Node{testNode("a", "ams", arena.ClassMetal, 8000, 100), testNode("b", "ams", arena.ClassMetal, 8000, 100)}, map[string]int{"a": 1}, []string{"b", "a"}},
		{"a tie by id, an unknown node last", Pack, []arena.Node{testNode("b", "ams", arena.ClassMetal, 8000, 100), testNode("a", "ams", arena.ClassMetal, 8000, 100)}, nil, []string{"a", "b", "gone"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := prefilled(t, tt.policy, tt.nodes, tt.prefill)
			for i := range tt.want {
				for j := range tt.want {
					got, want := s.CompareNodes(tt.want[i], tt.want[j]), cmp.Compare(i, j)
					if got != want {
						t.Errorf("CompareNodes(%s, %s) = %d, want %d", tt.want[i], tt.want[j], got, want)
					}
				}
			}
		})
	}
}
