package scaler

import (
	"context"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/arena-hq/arena"
	"github.com/arena-hq/arena/sqlite"
	"github.com/arena-hq/arena/webhook"
)

// fakeProvider keeps machines in memory, refusing creates while fail is set.
type fakeProvider struct {
	name     string
	mu       sync.Mutex
	fail     error
	machines map[string]arena.Machine
	specs    []arena.MachineSpec
	deleted  []string
}

func newFakeProvider(name string) *fakeProvider {
	return &fakeProvider{name: name, machines: map[string]arena.Machine{}}
}

func (p *fakeProvider) Name() string { return p.name }

func (p *fakeProvider) Create(ctx context.Context, spec arena.MachineSpec) (arena.Machine, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.specs = append(p.specs, spec)
	if p.fail != nil {
		return arena.Machine{}, p.fail
	}
	m := arena.Machine{ID: "id-" + spec.Name, Name: spec.Name, Labels: spec.Labels, Status: "running"}
	p.machines[m.ID] = m
	return m, nil
}

func (p *fakeProvider) List(ctx context.Context, labels map[string]string) ([]arena.Machine, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []arena.Machine
	for _, m := range p.machines {
		ok := true
		for k, v := range labels {
			ok = ok && m.Labels[k] == v
		}
		if ok {
			out = append(out, m)
		}
	}
	return out, nil
}

func (p *fakeProvider) Delete(ctx context.Context, id string) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if _, ok := p.machines[id]; !ok {
		return arena.Errorf(arena.ENOTFOUND, "no machine %s", id)
	}
	delete(p.machines, id)
	p.deleted = append(p.deleted, id)
	return nil
}

// fakeFleet is a region's nodes, as a test sets them.
type fakeFleet struct {
	mu      sync.Mutex
	nodes   map[string]arena.NodeStatus
	removed []string
	waiting int
}

func (f *fakeFleet) Nodes() []arena.NodeStatus {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []arena.NodeStatus
	for _, n := range f.nodes {
		out = append(out, n)
	}
	return out
}

func (f *fakeFleet) DrainNode(ctx context.Context, id string, drain bool) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := f.nodes[id]
	n.Draining = drain
	f.nodes[id] = n
	return nil
}

func (f *fakeFleet) RemoveNode(ctx context.Context, id string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if n, ok := f.nodes[id]; ok && n.Sessions > 0 {
		return arena.Errorf(arena.ECONFLICT, "node %s has sessions", id)
	}
	delete(f.nodes, id)
	f.removed = append(f.removed, id)
	return nil
}

func (f *fakeFleet) Waiting(string, time.Duration) (int, arena.Resources) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.waiting, arena.Resources{MilliCPU: int64(f.waiting) * 1000, MemoryMB: int64(f.waiting) * 1000}
}

func (f *fakeFleet) set(n arena.NodeStatus) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.nodes[n.ID] = n
}

// events records what the scaler publishes.
type events struct {
	mu  sync.Mutex
	got []webhook.Event
}

func (e *events) Publish(ev webhook.Event) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.got = append(e.got, ev)
}

// types returns the types of the events published, with their node and
// organisation.
func (e *events) types() []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	var out []string
	for _, ev := range e.got {
		out = append(out, ev.Type+" "+ev.Node.ID+" to "+ev.OrgID)
	}
	return out
}

type harness struct {
	events *events
	store  *sqlite.Store
	fleet  *fakeFleet
	first  *fakeProvider
	second *fakeProvider
	clock  time.Time
	s      *Scaler
}

func newHarness(t *testing.T) *harness {
	t.Helper()
	st, err := sqlite.Open(context.Background(), t.TempDir()+"/arena.db")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	h := &harness{events: &events{}, store: st, fleet: &fakeFleet{nodes: map[string]arena.NodeStatus{}}, first: newFakeProvider("hetzner"), second: newFakeProvider("aws"), clock: t0}
	h.fleet.set(node("metal-1", arena.ClassMetal, 0, 14))
	pol := policy(func(p *arena.ScalingPolicy) {
		p.Buffer = arena.ScalingBuffer{Resources: arena.Resources{MilliCPU: 1000, MemoryMB: 1000}}
	})
	h.s = New(Config{Store: st, Fleet: h.fleet, Providers: map[string]arena.Provider{"hetzner": h.first, "aws": h.second},
		Policies: []arena.ScalingPolicy{pol}, Installation: "inst-1", Servers: []string{"https://cp:8443"}, Backoff: time.Minute,
		CallTimeout: time.Second, Now: func() time.Time { return h.clock }, Events: h.events, EventsOrg: "ops"})
	return h
}

func (h *harness) machines(t *testing.T) []*arena.CloudMachine {
	t.Helper()
	list, err := h.store.ListMachines(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return list
}

// TestScalerProvisions: the machine is recorded, with the hash of the
// token its boot script carries, before its provider is asked; then it is
// joining, and ready once its node is.
func TestScalerProvisions(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	h.s.Step(ctx)
	list := h.machines(t)
	if len(list) != 1 || len(h.first.specs) != 1 {
		t.Fatalf("machines %+v, orders %d; want one of each", list, len(h.first.specs))
	}
	m, spec := list[0], h.first.specs[0]
	if m.State != arena.MachineJoining || m.ProviderID != "id-"+spec.Name || m.JoinTokenHash != arena.HashToken(spec.Boot.JoinToken) {
		t.Fatalf("machine %+v for spec %+v", m, spec)
	}
	if spec.Labels[arena.MachineLabelInstallation] != "inst-1" || spec.Labels[arena.MachineLabelNode] != m.NodeID ||
		!strings.Contains(spec.UserData, "ARENA_JOIN_TOKEN="+spec.Boot.JoinToken) || spec.Region != big.Region || spec.InstanceType != big.InstanceType {
		t.Fatalf("spec %+v", spec)
	}
	// Ordered: the next look waits for it rather than order another.
	h.clock = h.clock.Add(time.Minute)
	h.s.Step(ctx)
	if n := len(h.first.specs); n != 1 {
		t.Fatalf("%d orders while one is on its way", n)
	}
	joined := node(m.NodeID, arena.ClassCloud, 8, 0)
	h.fleet.set(joined)
	h.s.Step(ctx)
	if got := h.machines(t)[0]; got.State != arena.MachineReady || got.JoinedAt.IsZero() {
		t.Fatalf("after its node joined: %+v", got)
	}
	h.s.Step(ctx)
	if got, want := h.events.types(), []string{"node.added " + m.NodeID + " to ops"}; !slices.Equal(got, want) {
		t.Fatalf("events %v, want %v: once, when the node joined", got, want)
	}
	if d := h.s.Decisions(); len(d) != 1 || d[0].Kind != string(Provision) || d[0].Err != "" || !strings.Contains(d[0].Reason, "cannot hold the buffer") {
		t.Fatalf("decisions %+v", d)
	}
}

// TestScalerFailsOver: a provider that refuses is passed over, and the
// next in the policy is ordered from.
func TestScalerFailsOver(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	h.first.fail = arena.Errorf(arena.EUNAVAILABLE, "out of capacity in fsn1")
	h.s.Step(ctx)
	h.clock = h.clock.Add(31 * time.Second) // past the cooldown, within the backoff
	h.s.Step(ctx)
	list := h.machines(t)
	if len(list) != 2 || list[0].Provider == list[1].Provider {
		t.Fatalf("machines %+v; want a failed one and one of the next provider", list)
	}
	for _, m := range list {
		want := map[string]arena.MachineState{"hetzner": arena.MachineFailed, "aws": arena.MachineJoining}[m.Provider]
		if m.State != want {
			t.Errorf("machine of %s: %s (%s), want %s", m.Provider, m.State, m.Reason, want)
		}
	}
	if len(h.second.specs) != 1 {
		t.Fatalf("%d orders of the second provider", len(h.second.specs))
	}
}

// TestScalerRetires: a cloud node idle past its timeout is drained, then
// removed and its machine deleted; bare metal stays.
func TestScalerRetires(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	h.s.Step(ctx)
	m := h.machines(t)[0]
	h.fleet.set(node(m.NodeID, arena.ClassCloud, 8, 0))
	h.fleet.set(node("metal-1", arena.ClassMetal, 6, 0)) // metal holds the buffer again
	h.s.Step(ctx)
	h.clock = h.clock.Add(11 * time.Minute)
	h.s.Step(ctx)
	if got := h.machines(t)[0]; got.State != arena.MachineDraining {
		t.Fatalf("an idle node: %+v; want it draining", got)
	}
	h.s.Step(ctx)
	got := h.machines(t)[0]
	if got.State != arena.MachineDeleted || len(h.first.deleted) != 1 || len(h.fleet.removed) != 1 || h.fleet.removed[0] != m.NodeID {
		t.Fatalf("a drained node: %+v, deleted %v, removed %v", got, h.first.deleted, h.fleet.removed)
	}
	if _, ok := h.fleet.nodes["metal-1"]; !ok {
		t.Fatal("the metal node went")
	}
	if got, want := h.events.types(), []string{"node.added " + m.NodeID + " to ops", "node.retired " + m.NodeID + " to ops"}; !slices.Equal(got, want) {
		t.Fatalf("events %v, want %v", got, want)
	}
}

// TestScalerReconciles: after a leader stopped between its record and its
// order, or between the order and its answer, or knows nothing of a
// machine of its installation, reconciling leaves no double machine and no
// orphan.
func TestScalerReconciles(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	now := h.clock
	rec := func(id string, state arena.MachineState, at time.Time) {
		t.Helper()
		if err := h.store.CreateMachine(ctx, &arena.CloudMachine{NodeID: id, Region: "europe", Provider: "hetzner", State: state, CreatedAt: at, UpdatedAt: at}); err != nil {
			t.Fatal(err)
		}
	}
	labelled := func(id string, installation string) {
		h.first.machines["id-"+id] = arena.Machine{ID: "id-" + id, Labels: map[string]string{arena.MachineLabelInstallation: installation, arena.MachineLabelNode: id}}
	}
	rec("answered-lost", arena.MachineProvisioning, now) // ordered; the answer was lost
	labelled("answered-lost", "inst-1")
	rec("never-ordered", arena.MachineProvisioning, now.Add(-time.Hour)) // recorded, never ordered
	labelled("unknown", "inst-1")                                        // ordered by a leader whose record was lost
	labelled("theirs", "inst-2")                                         // another installation's
	rec("half-deleted", arena.MachineDeleting, now)
	labelled("half-deleted", "inst-1")
	// Made twice by an SDK's retry of a create whose answer was lost.
	if err := h.store.CreateMachine(ctx, &arena.CloudMachine{NodeID: "twice", Region: "europe", Provider: "hetzner", ProviderID: "id-twice",
		State: arena.MachineJoining, CreatedAt: now, UpdatedAt: now}); err != nil {
		t.Fatal(err)
	}
	labelled("twice", "inst-1")
	h.first.machines["id-twice-again"] = arena.Machine{ID: "id-twice-again", Labels: map[string]string{arena.MachineLabelInstallation: "inst-1", arena.MachineLabelNode: "twice"}}
	// Made twice, and the answer of the order lost as well.
	rec("lost-twice", arena.MachineProvisioning, now)
	labelled("lost-twice", "inst-1")
	h.first.machines["id-lost-twice-again"] = arena.Machine{ID: "id-lost-twice-again", Labels: map[string]string{arena.MachineLabelInstallation: "inst-1", arena.MachineLabelNode: "lost-twice"}}
	h.s.Reconcile(ctx)
	states := map[string]arena.MachineState{}
	for _, m := range h.machines(t) {
		states[m.NodeID] = m.State
	}
	want := map[string]arena.MachineState{"answered-lost": arena.MachineJoining, "never-ordered": arena.MachineFailed, "half-deleted": arena.MachineDeleted,
		"twice": arena.MachineJoining, "lost-twice": arena.MachineJoining}
	for id, st := range want {
		if states[id] != st {
			t.Errorf("machine %s: %s, want %s", id, states[id], st)
		}
	}
	left := map[string]bool{}
	for id := range h.first.machines {
		left[id] = true
	}
	lostTwice := 0
	for id := range left {
		if strings.HasPrefix(id, "id-lost-twice") {
			lostTwice++
		}
	}
	if !left["id-answered-lost"] || !left["id-theirs"] || !left["id-twice"] || left["id-unknown"] || left["id-half-deleted"] || left["id-twice-again"] ||
		lostTwice != 1 || len(left) != 4 {
		t.Errorf("machines left at the provider: %v; want the adopted ones (one of the node made twice), the recorded one of the other node made twice and the other installation's", left)
	}
}

// TestScalerGivesUpAMachineThatNeverJoins: past the join timeout, the
// machine is deleted, its provider passed over, and the next ordered from.
func TestScalerGivesUpAMachineThatNeverJoins(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	h.s.Step(ctx)
	first := h.machines(t)[0]
	h.clock = h.clock.Add(6 * time.Minute) // past the join timeout of 5m
	h.s.Step(ctx)
	states := map[string]arena.MachineState{}
	for _, m := range h.machines(t) {
		states[m.Provider] = m.State
	}
	if states["hetzner"] != arena.MachineFailed || states["aws"] != arena.MachineJoining {
		t.Fatalf("machines by provider %v; want the one that never joined failed, and one of the next provider", states)
	}
	if len(h.first.deleted) != 1 || h.first.deleted[0] != first.ProviderID {
		t.Fatalf("deleted %v, want %s", h.first.deleted, first.ProviderID)
	}
}

// TestScalerRetiresTheNodesOfARegionNoLongerScaled: once a region's policy
// is gone, its cloud nodes are drained when idle and retired when empty,
// and none is ordered; one with sessions stays until they end.
func TestScalerRetiresTheNodesOfARegionNoLongerScaled(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	h.s.Step(ctx)
	m := h.machines(t)[0]
	h.fleet.set(node(m.NodeID, arena.ClassCloud, 7, 1)) // one session on it
	h.s.Step(ctx)
	h.s.cfg.Settings = staticSource{providers: h.s.cfg.Providers} // the policy deleted
	h.clock = h.clock.Add(time.Minute)
	h.s.Step(ctx)
	if got := h.machines(t)[0]; got.State != arena.MachineReady {
		t.Fatalf("a node with a session: %s (%s); want it kept", got.State, got.Reason)
	}
	h.fleet.set(node(m.NodeID, arena.ClassCloud, 8, 0)) // its session ended
	h.s.Step(ctx)
	h.s.Step(ctx)
	h.s.Step(ctx)
	got := h.machines(t)
	if len(got) != 1 || got[0].State != arena.MachineDeleted || len(h.first.specs) != 1 {
		t.Fatalf("machines %+v after %d orders; want the one retired and no other ordered", got, len(h.first.specs))
	}
}
