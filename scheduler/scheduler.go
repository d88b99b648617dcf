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

// Request asks for room for one session.
type Request struct {
	SessionID string
	// OrgID is the organisation the session counts against, for its quota.
	OrgID string
	// Location names a location or a region.
	Location  string
	Resources arena.Resources
	Ports     []arena.PortSpec
	// Image is the reference the session runs; nodes holding it are preferred.
	Image string
	// Regions, when not empty, are the only regions the session may be
	// placed in: nodes of the location (or region) in others are passed over.
	Regions []string
}

// Placement is where a session was placed and what was reserved for it.
type Placement struct {
	Node  arena.Node
	Ports []arena.Port
}

type reservation struct {
	node      *node
	org       *tally
	resources arena.Resources
	ports     []int
	// pending is set until the node has started the session (StartDone).
	pending bool
}

// tally is one organisation's quota and what its sessions hold of it. A
// reservation points at its organisation's, so that Release needs no look-up.
type tally struct {
	quota arena.Quota
	used  arena.QuotaUsage
}

func (t *tally) charge(res arena.Resources, sign int) {
	t.used.Sessions += sign
	t.used.MilliCPU += int64(sign) * res.MilliCPU
}

// admits returns EQUOTA when one more session reserving res would take the
// organisation past a bound of its quota.
func (t *tally) admits(orgID string, res arena.Resources) error {
	q := t.quota
	if q.MaxSessions > 0 && t.used.Sessions+1 > q.MaxSessions {
		return arena.Errorf(arena.EQUOTA, "organisation %q has %d active sessions, its quota's maxSessions of %d; stop one first", orgID, t.used.Sessions, q.MaxSessions)
	}
	if q.MaxMilliCPU > 0 && t.used.MilliCPU+res.MilliCPU > q.MaxMilliCPU {
		return arena.Errorf(arena.EQUOTA, "the session's %d milliCPU would take organisation %q past its quota's maxMilliCpu of %d (%d reserved)", res.MilliCPU, orgID, q.MaxMilliCPU, t.used.MilliCPU)
	}
	return nil
}

// Scheduler is safe for concurrent use.
type Scheduler struct {
	policy Policy

	mu        sync.RWMutex
	nodes     map[string]*node
	areas     map[string]*area
	providers map[string]*providerState
	reserved  map[string]reservation // by session id
	// orgs holds the tallies of organisations that have a quota or held a
	// session; they are few, and kept for the scheduler's life.
	orgs map[string]*tally
	// imageIDs numbers the image references nodes hold, for their bitsets.
	imageIDs map[string]int
}

// New returns an empty scheduler using policy (Pack when empty) within each
// node class and provider.
func New(policy Policy) *Scheduler {
	if policy == "" {
		policy = Pack
	}
	return &Scheduler{
		policy: policy, nodes: map[string]*node{}, areas: map[string]*area{},
		providers: map[string]*providerState{}, reserved: map[string]reservation{}, imageIDs: map[string]int{},
		orgs: map[string]*tally{},
	}
}

// UpsertNode adds a node or updates its description and health. Reservations
// on it are kept: a node that moved to another location, region, provider or
// class takes its sessions along in the tallies provider spreading reads, and
// a node whose capacity shrank below its use takes nothing new.
func (s *Scheduler) UpsertNode(d arena.Node, healthy bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	n, ok := s.nodes[d.ID]
	if !ok {
		n = &node{ports: newPortAllocator(d.PortMin, d.PortMax), healthy: healthy}
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
		// What is held outside stays so in the new range, until the
		// node's agent reports on it.
		np.setOutside(n.ports.outsidePorts())
		n.ports = np
	}
	moved := n.Location != d.Location || n.Region != d.Region || n.Provider != d.Provider ||
		n.Class != d.Class || n.PublicIP != d.PublicIP
	if moved {
		s.unindex(n)
	}
	n.healthy = healthy
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

// SetImages records the images a node holds, replacing what it held before.
// Place prefers nodes holding a session's image, which start it without a pull.
func (s *Scheduler) SetImages(nodeID string, refs []string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	n, ok := s.nodes[nodeID]
	if !ok {
		return
	}
	clear(n.images)
	for _, ref := range refs {
		id, ok := s.imageIDs[ref]
		if !ok {
			// Numbers are kept for the scheduler's life: one bit per tag
			// ever seen per node is cheap, and never reusing a number
			// means no node can be taken to hold an image it never had.
			id = len(s.imageIDs)
			s.imageIDs[ref] = id
		}
		for len(n.images) <= id/64 {
			n.images = append(n.images, 0)
		}
		n.images[id/64] |= 1 << (id % 64)
	}
}

// SetHeldPorts records the ports of a node's range that something other
// than its sessions holds, as its agent found them, replacing those it held
// before: Place hands none of them out until a later call frees them. A port
// a session holds as well stays the session's, and stays held once the
// session is released, until a call leaves it out. Ports out of the node's
// range are ignored.
func (s *Scheduler) SetHeldPorts(nodeID string, ports []int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if n, ok := s.nodes[nodeID]; ok {
		n.ports.setOutside(ports)
	}
}

// MovePorts gives a session new host ports on its node in place of those it
// holds, as when its container could not start because one of them was
// taken: ports are its ports as placed, and the new ones come back in the
// same order with the same protocols and container ports. The ports it held
// are not among the new ones, and are released. It returns ENOTFOUND when
// the session holds no reservation and EUNAVAILABLE when the node has too few
// free ports, and then changes nothing.
func (s *Scheduler) MovePorts(sessionID string, ports []arena.Port) ([]arena.Port, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r, ok := s.reserved[sessionID]
	if !ok {
		return nil, arena.Errorf(arena.ENOTFOUND, "session %s holds no reservation", sessionID)
	}
	// Allocated while the old ports are still held, so that none of them
	// comes back.
	hp, ok := r.node.ports.allocate(len(ports))
	if !ok {
		return nil, arena.Errorf(arena.EUNAVAILABLE, "node %s has fewer than %d free host ports", r.node.ID, len(ports))
	}
	r.node.ports.release(r.ports)
	r.ports = hp
	s.reserved[sessionID] = r
	out := make([]arena.Port, len(ports))
	for i, p := range ports {
		out[i] = arena.Port{Protocol: p.Protocol, Container: p.Container, Host: hp[i]}
	}
	return out, nil
}

// Known reports whether name is the location or region of any node.
func (s *Scheduler) Known(name string) bool {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.areas[name] != nil
}

// org returns an organisation's tally, made when missing; the caller holds mu.
func (s *Scheduler) org(orgID string) *tally {
	t := s.orgs[orgID]
	if t == nil {
		t = &tally{}
		s.orgs[orgID] = t
	}
	return t
}

// SetQuota sets the bounds of an organisation's sessions from now on.
// Sessions it holds beyond a lowered bound run on; new ones are refused
// until it is back under.
func (s *Scheduler) SetQuota(orgID string, q arena.Quota) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.org(orgID).quota = q
}

// Usage returns what an organisation's sessions hold: placed or restored,
// and not released yet.
func (s *Scheduler) Usage(orgID string) arena.QuotaUsage {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if t := s.orgs[orgID]; t != nil {
		return t.used
	}
	return arena.QuotaUsage{}
}

// Place reserves resources and host ports for a session on the best node of
// the requested location or region, in the order the package documentation
// gives, among the nodes of req.Regions when it names any. It returns
// ECONFLICT when the session already holds a reservation, EQUOTA when the
// session would take its organisation past its quota (more capacity would
// not help, so this comes before looking at nodes), ENOTFOUND when the
// location has no node in req.Regions at all, and EUNAVAILABLE when no node
// has room; with a RetryAfter when nodes have room but are too far behind
// with their starts to start the session in time. The quota is decided
// under the same lock as the node, so that concurrent requests cannot
// overshoot it. The session counts among its node's pending starts until
// StartDone or Release.
func (s *Scheduler) Place(req Request) (Placement, error) {
	f := newFit(req.Resources, len(req.Ports), req.Regions)
	s.mu.Lock()
	defer s.mu.Unlock()
	if id, ok := s.imageIDs[req.Image]; ok && req.Image != "" {
		f.image = id
	}
	if _, ok := s.reserved[req.SessionID]; ok {
		return Placement{}, arena.Errorf(arena.ECONFLICT, "session %s already exists", req.SessionID)
	}
	org := s.org(req.OrgID)
	if err := org.admits(req.OrgID, req.Resources); err != nil {
		return Placement{}, err
	}
	var n *node
	a := s.areas[req.Location]
	if a != nil {
		n = s.pick(a, &f)
	}
	if n == nil {
		// Told apart only once nothing fits, so that placing pays nothing
		// for it: a location none of whose nodes is in the regions does not
		// exist for the session, while a full one may have room later.
		if a != nil && !a.serves(&f) {
			return Placement{}, arena.Errorf(arena.ENOTFOUND, "location %q has no node in the regions %v", req.Location, req.Regions)
		}
		if a != nil {
			if err := s.behindError(a, &f, req.Location); err != nil {
				return Placement{}, err
			}
		}
		return Placement{}, arena.Errorf(arena.EUNAVAILABLE, "no capacity for this session in location %q; try again later", req.Location)
	}
	hp, _ := n.ports.allocate(len(req.Ports))
	n.pending++
	n.charge(req.Resources, 1)
	org.charge(req.Resources, 1)
	s.reserved[req.SessionID] = reservation{node: n, org: org, resources: req.Resources, ports: hp, pending: true}
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
// It counts the session against its organisation's quota but never refuses
// it for the quota either.
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
	hp := arena.HostPortsOf(sess.Ports)
	refused := n.ports.hold(hp)
	held := slices.DeleteFunc(hp, func(p int) bool { return slices.Contains(refused, p) })
	// A session that never ran, and is not being stopped, is still to be
	// started by its node.
	pending := sess.RunningAt.IsZero() && (sess.State == arena.SessionStarted || sess.State == arena.SessionUnreachable)
	if pending {
		n.pending++
	}
	n.charge(sess.Resources, 1)
	org := s.org(sess.OrgID)
	org.charge(sess.Resources, 1)
	s.reserved[sess.ID] = reservation{node: n, org: org, resources: sess.Resources, ports: held, pending: pending}
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
	if r.pending {
		r.node.pending--
	}
	r.node.charge(r.resources, -1)
	r.org.charge(r.resources, -1)
}

// AvailableLocations returns every location where a session of this size,
// with this many host ports, fits right now on a node of one of regions (of
// any region when regions is empty): one entry per location and
// region (a location whose nodes disagree about its region appears once per
// region), sorted by location then region, with the public IPv4 addresses of
// the nodes it fits on, sorted and without duplicates, for clients to measure
// latency to. Nodes with other addresses count without adding one. It costs
// one pass over the nodes and no sorting beyond the short list of locations.
func (s *Scheduler) AvailableLocations(res arena.Resources, ports int, regions []string) []arena.AvailableLocation {
	f := newFit(res, ports, regions)
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
			if !f.ok(n) || !f.inRegion(n) {
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

// NodeUsage is a node's description with what is reserved on it.
type NodeUsage struct {
	arena.Node
	// Healthy is the health UpsertNode or SetHealthy last gave. A healthy
	// node may still take nothing: it may be draining or full.
	Healthy bool
	Used    arena.Resources
	// FreePorts counts the ports neither a session holds nor, as the
	// node's agent said, anything else (SetHeldPorts).
	FreePorts int
	Sessions  int
	// Pending counts the sessions placed on the node and not started yet;
	// StartWait is how long a new one is expected to wait there for its
	// start, zero for a node that does not pace its starts (SetStartPace).
	Pending   int
	StartWait time.Duration
}

// Nodes returns every node with its usage, ordered by id.
func (s *Scheduler) Nodes() []NodeUsage {
	s.mu.RLock()
	defer s.mu.RUnlock()
	out := make([]NodeUsage, 0, len(s.nodes))
	for _, n := range s.nodes {
		out = append(out, NodeUsage{
			Node: n.Node, Healthy: n.healthy, Used: n.used(), FreePorts: n.ports.free, Sessions: n.sessions,
			Pending: n.pending, StartWait: n.wait,
		})
	}
	slices.SortFunc(out, func(a, b NodeUsage) int { return cmp.Compare(a.ID, b.ID) })
	return out
}

// CompareNodes orders two nodes as placement would prefer them for a
// session both already hold room for, such as a warm pool's: metal before
// cloud, then by the policy (pack: the busier first; spread: the less
// busy), then by id. A node the scheduler does not know comes last.
func (s *Scheduler) CompareNodes(a, b string) int {
	s.mu.RLock()
	defer s.mu.RUnlock()
	na, nb := s.nodes[a], s.nodes[b]
	switch {
	case na == nil || nb == nil:
		return cmp.Or(cmp.Compare(boolRank(na == nil), boolRank(nb == nil)), cmp.Compare(a, b))
	case classRank(na.Class) != classRank(nb.Class):
		return cmp.Compare(classRank(na.Class), classRank(nb.Class))
	case na.load != nb.load && s.policy == Spread:
		return cmp.Compare(na.load, nb.load)
	case na.load != nb.load:
		return cmp.Compare(nb.load, na.load)
	}
	return cmp.Compare(a, b)
}

func boolRank(b bool) int {
	if b {
		return 1
	}
	return 0
}
