// Package scheduler decides where sessions run. It keeps every node's free
// CPU, memory and host ports in memory and makes each placement one atomic
// step under a lock, so that concurrent requests can never double-book a port
// or exceed a node's capacity. The store remains the record: after a restart
// the control plane rebuilds the scheduler from the sessions it holds.
package scheduler

import (
	"slices"
	"sort"
	"sync"

	"github.com/arena-hq/arena"
)

// Policy chooses among nodes of the same class.
type Policy string

const (
	// Pack fills the busiest node first, keeping other nodes free for large
	// sessions and letting idle cloud nodes be released.
	Pack Policy = "pack"
	// Spread places on the least busy node first, limiting how many sessions
	// one node failure takes down.
	Spread Policy = "spread"
)

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

type node struct {
	arena.Node
	healthy  bool
	used     arena.Resources
	ports    *portAllocator
	sessions int
}

type reservation struct {
	nodeID    string
	resources arena.Resources
	ports     []int
}

// Scheduler is safe for concurrent use.
type Scheduler struct {
	policy Policy

	mu       sync.Mutex
	nodes    map[string]*node
	reserved map[string]reservation // by session id
}

// New returns an empty scheduler using policy within each node class.
func New(policy Policy) *Scheduler {
	if policy == "" {
		policy = Pack
	}
	return &Scheduler{policy: policy, nodes: map[string]*node{}, reserved: map[string]reservation{}}
}

// UpsertNode adds a node or updates its description. Reservations on it are
// kept; a node whose capacity shrank below its use takes nothing new.
func (s *Scheduler) UpsertNode(n arena.Node, healthy bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if cur, ok := s.nodes[n.ID]; ok {
		if cur.PortMin != n.PortMin || cur.PortMax != n.PortMax {
			// Keep the held ports of the old range valid in the new one.
			np := newPortAllocator(n.PortMin, n.PortMax)
			for id, r := range s.reserved {
				if r.nodeID == n.ID {
					refused := np.hold(r.ports)
					r.ports = slices.DeleteFunc(r.ports, func(p int) bool { return slices.Contains(refused, p) })
					s.reserved[id] = r
				}
			}
			cur.ports = np
		}
		cur.Node = n
		cur.healthy = healthy
		return
	}
	s.nodes[n.ID] = &node{Node: n, healthy: healthy, ports: newPortAllocator(n.PortMin, n.PortMax)}
}

// SetHealthy marks a node as able to take sessions or not.
func (s *Scheduler) SetHealthy(nodeID string, healthy bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if n, ok := s.nodes[nodeID]; ok {
		n.healthy = healthy
	}
}

// Known reports whether name is the location or region of any node.
func (s *Scheduler) Known(name string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, n := range s.nodes {
		if n.Location == name || n.Region == name {
			return true
		}
	}
	return false
}

// Place reserves resources and host ports for a session on the best node of
// the requested location or region: healthy, not draining, with room; bare
// metal before cloud; then by policy. It returns EUNAVAILABLE when no node has
// room, and ECONFLICT when the session already holds a reservation.
func (s *Scheduler) Place(req Request) (Placement, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.reserved[req.SessionID]; ok {
		return Placement{}, arena.Errorf(arena.ECONFLICT, "session %s already exists", req.SessionID)
	}
	var candidates []*node
	for _, n := range s.nodes {
		if (n.Location == req.Location || n.Region == req.Location) && n.healthy && !n.Draining &&
			n.Capacity.Sub(n.used).Fits(req.Resources) && n.ports.free >= len(req.Ports) {
			candidates = append(candidates, n)
		}
	}
	if len(candidates) == 0 {
		return Placement{}, arena.Errorf(arena.EUNAVAILABLE, "no capacity for this session in location %q; try again later", req.Location)
	}
	sort.Slice(candidates, func(i, j int) bool { return s.less(candidates[i], candidates[j]) })
	n := candidates[0]
	hp, _ := n.ports.allocate(len(req.Ports))
	n.used = n.used.Add(req.Resources)
	n.sessions++
	s.reserved[req.SessionID] = reservation{nodeID: n.ID, resources: req.Resources, ports: hp}
	ports := make([]arena.Port, len(req.Ports))
	for i, p := range req.Ports {
		ports[i] = arena.Port{Protocol: p.Protocol, Container: p.Container, Host: hp[i]}
	}
	return Placement{Node: n.Node, Ports: ports}, nil
}

func (s *Scheduler) less(a, b *node) bool {
	if ca, cb := classRank(a.Class), classRank(b.Class); ca != cb {
		return ca < cb
	}
	ua, ub := a.load(), b.load()
	if ua != ub {
		if s.policy == Spread {
			return ua < ub
		}
		return ua > ub
	}
	return a.ID < b.ID
}

// load is the larger of a node's CPU and memory use, in thousandths.
func (n *node) load() int64 {
	var cpu, mem int64
	if n.Capacity.MilliCPU > 0 {
		cpu = n.used.MilliCPU * 1000 / n.Capacity.MilliCPU
	}
	if n.Capacity.MemoryMB > 0 {
		mem = n.used.MemoryMB * 1000 / n.Capacity.MemoryMB
	}
	return max(cpu, mem)
}

func classRank(c arena.NodeClass) int {
	if c == arena.ClassMetal {
		return 0
	}
	return 1
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
	held := slices.DeleteFunc(slices.Clone(hp), func(p int) bool { return slices.Contains(refused, p) })
	n.used = n.used.Add(sess.Resources)
	n.sessions++
	s.reserved[sess.ID] = reservation{nodeID: n.ID, resources: sess.Resources, ports: held}
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
	if n, ok := s.nodes[r.nodeID]; ok {
		n.ports.release(r.ports)
		n.used = n.used.Sub(r.resources)
		n.sessions--
	}
}

// NodeUsage is a node's description with what is reserved on it.
type NodeUsage struct {
	arena.Node
	Healthy   bool
	Used      arena.Resources
	FreePorts int
	Sessions  int
}

// Nodes returns every node with its usage, ordered by id.
func (s *Scheduler) Nodes() []NodeUsage {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]NodeUsage, 0, len(s.nodes))
	for _, n := range s.nodes {
		out = append(out, NodeUsage{Node: n.Node, Healthy: n.healthy, Used: n.used, FreePorts: n.ports.free, Sessions: n.sessions})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}
