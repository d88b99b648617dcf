package scheduler

import (
	"cmp"
	"slices"
	"sync"
	"time"

	"github.com/arena-hq/arena"
)

// Policy chooses among nodes of the same class and provider.
type Policy string

const (
	// Pack fills the busiest node first, keeping other nodes free for large
	// sessions and letting idle cloud nodes be released.
	Pack Policy = "pack"
	// Spread places on the least busy node first, limiting how many sessions
	// one node failure takes down.
	Spread Policy = "spread"
)

// Options configure a Scheduler.
type Options struct {
	// Policy orders nodes within a class and provider; Pack when empty.
	Policy Policy
	// HeartbeatTimeout is how long a node may go unheard (no UpsertNode, no
	// Heartbeat) before it takes no new sessions, so that a node or a whole
	// provider that goes silent drops out of placement without anyone marking
	// it. Zero leaves health to SetHealthy alone.
	HeartbeatTimeout time.Duration
	// Now is the clock heartbeats are measured by; time.Now when nil.
	Now func() time.Time
}

// Request asks for room for one session.
type Request struct {
	SessionID string
	// Location names a location or a region.
	Location  string
	Resources arena.Resources
	Ports     []arena.PortSpec
}

// Placement is where a session was placed and what was reserved for it.
type Placement struct {
	Node  arena.Node
	Ports []arena.Port
}

type reservation struct {
	node      *node
	resources arena.Resources
	ports     []int
}

// Scheduler is safe for concurrent use.
type Scheduler struct {
	policy  Policy
	timeout time.Duration
	now     func() time.Time
	// epoch is when the scheduler was made; heartbeats are kept as time since.
	epoch time.Time

	mu        sync.RWMutex
	nodes     map[string]*node
	areas     map[string]*area
	providers map[string]*providerState
	reserved  map[string]reservation // by session id
}

// New returns an empty scheduler using policy within each node class and
// provider, with health left to SetHealthy.
func New(policy Policy) *Scheduler {
	return NewWithOptions(Options{Policy: policy})
}

// NewWithOptions returns an empty scheduler configured by o.
func NewWithOptions(o Options) *Scheduler {
	if o.Policy == "" {
		o.Policy = Pack
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return &Scheduler{
		policy: o.Policy, timeout: max(o.HeartbeatTimeout, 0), now: o.Now, epoch: o.Now(),
		nodes: map[string]*node{}, areas: map[string]*area{}, providers: map[string]*providerState{},
		reserved: map[string]reservation{},
	}
}

// UpsertNode adds a node or updates its description, and counts as hearing
// from it. Reservations on it are kept: a node that moved to another
// location, region, provider or class takes its sessions along in the tallies
// provider spreading reads, and a node whose capacity shrank below its use
// takes nothing new.
func (s *Scheduler) UpsertNode(d arena.Node, healthy bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now().Sub(s.epoch)
	n, ok := s.nodes[d.ID]
	if !ok {
		n = &node{ports: newPortAllocator(d.PortMin, d.PortMax), healthy: healthy, beat: now}
		n.describe(d)
		s.nodes[d.ID] = n
		s.index(n)
		return
	}
	if n.PortMin != d.PortMin || n.PortMax != d.PortMax {
		// Keep the held ports of the old range valid in the new one. This
		// walks every reservation, which is fine for something this rare.
		np := newPortAllocator(d.PortMin, d.PortMax)
		if n.sessions > 0 {
			for id, r := range s.reserved {
				if r.node == n {
					refused := np.hold(r.ports)
					r.ports = slices.DeleteFunc(r.ports, func(p int) bool { return slices.Contains(refused, p) })
					s.reserved[id] = r
				}
			}
		}
		n.ports = np
	}
	moved := n.Location != d.Location || n.Region != d.Region || n.Provider != d.Provider ||
		n.Class != d.Class || n.PublicIP != d.PublicIP
	if moved {
		s.unindex(n)
	}
	n.healthy, n.beat = healthy, now
	n.describe(d)
	if moved {
		s.index(n)
	}
}

// RemoveNode forgets a node. It refuses with ECONFLICT while sessions hold
// reservations on the node: they exist until released, and forgetting their
// ports and resources would hand them out twice should the node come back.
// Drain the node (or mark it unhealthy) and release its sessions first.
// Removing an unknown node does nothing.
func (s *Scheduler) RemoveNode(id string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	n, ok := s.nodes[id]
	if !ok {
		return nil
	}
	if n.sessions > 0 {
		return arena.Errorf(arena.ECONFLICT, "node %s still holds %d sessions", id, n.sessions)
	}
	s.unindex(n)
	delete(s.nodes, id)
	return nil
}

// SetHealthy marks a node as able to take sessions or not.
func (s *Scheduler) SetHealthy(nodeID string, healthy bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if n, ok := s.nodes[nodeID]; ok {
		n.healthy = healthy
		n.refresh()
	}
}

// SetProviderHealthy takes every node of a provider out of placement, or
// back in, at once: for an outage the provider announces, or one seen across
// its nodes before their heartbeats run out. It holds for nodes that register
// later too.
func (s *Scheduler) SetProviderHealthy(provider string, healthy bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	p := s.providers[provider]
	if p == nil {
		if healthy {
			return
		}
		p = &providerState{name: provider}
		s.providers[provider] = p
	}
	p.down = !healthy
	if !p.down && p.nodes == 0 {
		delete(s.providers, provider)
	}
}

// Heartbeat records that a node was heard from now. With a HeartbeatTimeout,
// a node stops taking sessions when its heartbeats stop and takes them again
// with the next one. It returns ENOTFOUND for an unknown node, which must
// register with UpsertNode.
func (s *Scheduler) Heartbeat(nodeID string) error {
	now := s.now().Sub(s.epoch)
	s.mu.Lock()
	defer s.mu.Unlock()
	n, ok := s.nodes[nodeID]
	if !ok {
		return arena.Errorf(arena.ENOTFOUND, "node %s is not registered", nodeID)
	}
	n.beat = now
	return nil
}

// Known reports whether name is the location or region of any node.
func (s *Scheduler) Known(name string) bool {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.areas[name] != nil
}

// fitFor returns what a node must offer to take a session of this size now.
func (s *Scheduler) fitFor(res arena.Resources, ports int) fit {
	f := fit{res: res, ports: ports}
	if s.timeout > 0 {
		f.beats, f.cutoff = true, s.now().Sub(s.epoch)-s.timeout
	}
	return f
}

// Place reserves resources and host ports for a session on the best node of
// the requested location or region, in the order the package documentation
// gives. It returns EUNAVAILABLE when no node has room, and ECONFLICT when
// the session already holds a reservation.
func (s *Scheduler) Place(req Request) (Placement, error) {
	f := s.fitFor(req.Resources, len(req.Ports))
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.reserved[req.SessionID]; ok {
		return Placement{}, arena.Errorf(arena.ECONFLICT, "session %s already exists", req.SessionID)
	}
	var n *node
	if a := s.areas[req.Location]; a != nil {
		n = s.pick(a, &f)
	}
	if n == nil {
		return Placement{}, arena.Errorf(arena.EUNAVAILABLE, "no capacity for this session in location %q; try again later", req.Location)
	}
	hp, _ := n.ports.allocate(len(req.Ports))
	n.charge(req.Resources, 1)
	s.reserved[req.SessionID] = reservation{node: n, resources: req.Resources, ports: hp}
	ports := make([]arena.Port, len(req.Ports))
	for i, p := range req.Ports {
		ports[i] = arena.Port{Protocol: p.Protocol, Container: p.Container, Host: hp[i]}
	}
	return Placement{Node: n.Node, Ports: ports}, nil
}

// Restore re-reserves what an existing session holds, as when the control
// plane restarts. It reserves even on an unhealthy node or past capacity,
// because the session exists whatever the scheduler thinks. A port that is out
// of the node's range or held by another session cannot be held twice: Restore
// holds the others and returns ECONFLICT naming them, for the caller to report.
func (s *Scheduler) Restore(sess *arena.Session) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.reserved[sess.ID]; ok {
		return nil
	}
	n, ok := s.nodes[sess.NodeID]
	if !ok {
		return arena.Errorf(arena.ENOTFOUND, "node %s of session %s is unknown", sess.NodeID, sess.ID)
	}
	hp := hostPorts(sess.Ports)
	refused := n.ports.hold(hp)
	held := slices.DeleteFunc(hp, func(p int) bool { return slices.Contains(refused, p) })
	n.charge(sess.Resources, 1)
	s.reserved[sess.ID] = reservation{node: n, resources: sess.Resources, ports: held}
	if len(refused) > 0 {
		return arena.Errorf(arena.ECONFLICT, "ports %v of session %s are outside the node's range or held by another session", refused, sess.ID)
	}
	return nil
}

// Release frees what a session holds. Releasing twice is harmless.
func (s *Scheduler) Release(sessionID string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r, ok := s.reserved[sessionID]
	if !ok {
		return
	}
	delete(s.reserved, sessionID)
	r.node.ports.release(r.ports)
	r.node.charge(r.resources, -1)
}

// AvailableLocations returns every location where a session of this size,
// with this many host ports, fits right now: one entry per location and
// region (a location whose nodes disagree about its region appears once per
// region), sorted by location then region, with the public IPv4 addresses of
// the nodes it fits on, sorted and without duplicates, for clients to measure
// latency to. Nodes with other addresses count without adding one. It costs
// one pass over the nodes and no sorting beyond the short list of locations.
func (s *Scheduler) AvailableLocations(res arena.Resources, ports int) []arena.AvailableLocation {
	f := s.fitFor(res, ports)
	s.mu.RLock()
	defer s.mu.RUnlock()
	out := []arena.AvailableLocation{}
	// last holds the address last added to each of the current location's
	// entries: located is ordered by address, so a repeat follows at once.
	var last []uint32
	for _, a := range s.areas {
		first := len(out)
		last = last[:0]
		for _, n := range a.located {
			if n.provider.down || !f.ok(n) {
				continue
			}
			i := first
			for i < len(out) && out[i].Region != n.Region {
				i++
			}
			if i == len(out) {
				out = append(out, arena.AvailableLocation{Location: a.name, Region: n.Region, IPs: make([]string, 0, len(a.located))})
				last = append(last, 0)
			}
			if n.hasIP4 && (len(out[i].IPs) == 0 || last[i-first] != n.ip4) {
				out[i].IPs = append(out[i].IPs, n.ip4Text)
				last[i-first] = n.ip4
			}
		}
	}
	slices.SortFunc(out, func(a, b arena.AvailableLocation) int {
		return cmp.Or(cmp.Compare(a.Location, b.Location), cmp.Compare(a.Region, b.Region))
	})
	return out
}

// Health says whether a node may take sessions as far as its liveness goes,
// and if not, why.
type Health string

// Health values, checked in this order.
const (
	HealthOK Health = "ok"
	// HealthUnhealthy is a node marked so by SetHealthy or UpsertNode.
	HealthUnhealthy Health = "unhealthy"
	// HealthProviderDown is a node whose provider SetProviderHealthy took out.
	HealthProviderDown Health = "provider-down"
	// HealthStale is a node not heard from within Options.HeartbeatTimeout.
	HealthStale Health = "stale"
)

// NodeUsage is a node's description with what is reserved on it.
type NodeUsage struct {
	arena.Node
	// Healthy is Health == HealthOK. A healthy node may still take nothing:
	// it may be draining or full.
	Healthy bool
	Health  Health
	// LastHeartbeat is when the node was last heard from.
	LastHeartbeat time.Time
	Used          arena.Resources
	FreePorts     int
	Sessions      int
}

// Nodes returns every node with its usage, ordered by id.
func (s *Scheduler) Nodes() []NodeUsage {
	f := s.fitFor(arena.Resources{}, 0)
	s.mu.RLock()
	defer s.mu.RUnlock()
	out := make([]NodeUsage, 0, len(s.nodes))
	for _, n := range s.nodes {
		h := HealthOK
		switch {
		case !n.healthy:
			h = HealthUnhealthy
		case n.provider.down:
			h = HealthProviderDown
		case f.beats && n.beat < f.cutoff:
			h = HealthStale
		}
		out = append(out, NodeUsage{
			Node: n.Node, Healthy: h == HealthOK, Health: h, LastHeartbeat: s.epoch.Add(n.beat).Round(0),
			Used: n.used(), FreePorts: n.ports.free, Sessions: n.sessions,
		})
	}
	slices.SortFunc(out, func(a, b NodeUsage) int { return cmp.Compare(a.ID, b.ID) })
	return out
}
