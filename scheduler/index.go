package scheduler

import (
	"cmp"
	"encoding/binary"
	"math"
	"net/netip"
	"slices"
	"time"

	"github.com/arena-hq/arena"
)

// node is a node with what the scheduler knows about it. The fields every
// placement reads come first, so that a scan over many nodes touches as few
// cache lines as it can.
type node struct {
	// free is the capacity minus what is reserved; it goes negative when
	// Restore reserves past capacity.
	free arena.Resources
	// load is the larger of the CPU and memory shares in use, in thousandths.
	load int64
	// open is healthy, not draining and not too far behind with its
	// starts (behind).
	open bool
	// tier is how many QueueSteps a new session would wait on the node
	// for its start: placement prefers the lowest.
	tier int
	// hasIP4 says PublicIP is an IPv4 address, and ip4 is that address as a
	// number, to order and compare without reading the text.
	hasIP4 bool
	ip4    uint32
	ports  portAllocator

	// images is a bitset of the images the node holds, by Scheduler.imageIDs.
	images []uint64

	arena.Node
	provider *providerState
	healthy  bool
	sessions int
	// pending counts the node's sessions placed and not yet started: its
	// start queue as the control plane knows it at once, ahead of the
	// agent's heartbeats.
	pending int
	// pace is what the node's agent last said of its starts; wait is how
	// long a new session is expected to wait there to start, and behind
	// says that is past the pace's bound.
	pace   StartPace
	wait   time.Duration
	behind bool
	// member is the node's place in the index: [0] under its location, [1]
	// under its region. Either is empty for an empty name, and [1] also when
	// the region has the location's name.
	member [2]membership
	// ip4Text is the IPv4 address in its usual form, as AvailableLocations
	// reports it.
	ip4Text string
}

type membership struct {
	area  *area
	group *group
	// count is the area's tally of the node's provider.
	count *providerCount
}

// used is what is reserved on the node.
func (n *node) used() arena.Resources { return n.Capacity.Sub(n.free) }

// charge adds r to what is reserved on the node (or takes it back, with
// sign -1) and keeps the session tallies of the node and its areas.
func (n *node) charge(r arena.Resources, sign int) {
	if sign > 0 {
		n.free = n.free.Sub(r)
	} else {
		n.free = n.free.Add(r)
	}
	n.sessions += sign
	for i := range n.member {
		if c := n.member[i].count; c != nil {
			c.sessions += sign
		}
	}
	n.refresh()
}

// refresh recomputes what placement reads from the node's description.
func (n *node) refresh() {
	n.wait, n.tier, n.behind = n.pace.wait(n.pending), 0, false
	if n.pace.Deadline > 0 {
		n.tier = int(min(n.wait/QueueStep, math.MaxInt32))
		n.behind = n.wait > n.pace.bound()
	}
	n.open = n.healthy && !n.Draining && !n.behind
	used := n.used()
	var cpu, mem int64
	if n.Capacity.MilliCPU > 0 {
		cpu = used.MilliCPU * 1000 / n.Capacity.MilliCPU
	}
	if n.Capacity.MemoryMB > 0 {
		mem = used.MemoryMB * 1000 / n.Capacity.MemoryMB
	}
	n.load = max(cpu, mem)
}

// describe sets the node's description, keeping what is reserved. The node
// must not be indexed when what the index is ordered by may change.
func (n *node) describe(d arena.Node) {
	used := n.used()
	n.Node = d
	n.free = d.Capacity.Sub(used)
	n.hasIP4, n.ip4, n.ip4Text = false, 0, ""
	// An IPv4-mapped IPv6 address is an IPv4 address written otherwise.
	if ip, err := netip.ParseAddr(d.PublicIP); err == nil && ip.Unmap().Is4() {
		b := ip.Unmap().As4()
		n.hasIP4, n.ip4, n.ip4Text = true, binary.BigEndian.Uint32(b[:]), ip.Unmap().String()
	}
	n.refresh()
}

// holds reports whether the node holds image id.
func (n *node) holds(id int) bool {
	w := id / 64
	return w < len(n.images) && n.images[w]&(1<<(id%64)) != 0
}

// fit is what a node must offer to take one session.
type fit struct {
	res   arena.Resources
	ports int
	// image is the session's image id, -1 when no node holds it; with
	// needImage only nodes holding it fit.
	image     int
	needImage bool
	// regions, when not nil, are the only regions whose nodes fit.
	regions []string
	// maxTier is the highest tier of the nodes that fit.
	maxTier int
}

// newFit returns the fit of a session of res with ports host ports that
// may run in regions, any when empty.
func newFit(res arena.Resources, ports int, regions []string) fit {
	f := fit{res: res, ports: ports, image: -1, maxTier: math.MaxInt}
	if len(regions) > 0 {
		f.regions = regions
	}
	return f
}

// ok reports whether n has room for the session, in any region: callers
// check inRegion after it. Kept apart so that ok stays small enough to be
// inlined into the scans over every node, which a request without regions
// then runs as fast as before regions existed.
func (f *fit) ok(n *node) bool {
	return n.open && f.res.MilliCPU <= n.free.MilliCPU && f.res.MemoryMB <= n.free.MemoryMB &&
		f.ports <= n.ports.free && (!f.needImage || n.holds(f.image)) && n.tier <= f.maxTier
}

// okBehind reports whether n would have room for the session but for its
// starts, which are too far behind.
func (f *fit) okBehind(n *node) bool {
	return n.behind && n.healthy && !n.Draining && f.res.MilliCPU <= n.free.MilliCPU && f.res.MemoryMB <= n.free.MemoryMB &&
		f.ports <= n.ports.free && f.inRegion(n)
}

// inRegion reports whether n is in one of f's regions, or f has none. It
// comes after ok, so that the common misfits (full, closed) cost no string
// comparison.
func (f *fit) inRegion(n *node) bool {
	return f.regions == nil || slices.Contains(f.regions, n.Region)
}

// serves reports whether any node of area a, whatever its health or room,
// is in one of f's regions (any node, when f has none).
func (a *area) serves(f *fit) bool {
	if f.regions == nil {
		return a.nodes > 0
	}
	for _, groups := range a.groups {
		for _, g := range groups {
			for _, n := range g.nodes {
				if f.inRegion(n) {
					return true
				}
			}
		}
	}
	return false
}

// area is a location or region name with the nodes in it. A name can be the
// location of some nodes and the region of others; a request for it matches
// them all.
type area struct {
	name string
	// groups holds the area's nodes by class rank (metal, then cloud) and then
	// by provider, one group per provider.
	groups [2][]*group
	// providers counts the area's sessions per provider, for spreading.
	providers map[string]*providerCount
	// located holds the nodes whose Location is this name, ordered by public
	// IPv4 address (others last) and id, so that AvailableLocations lists
	// addresses sorted without sorting them.
	located []*node
	nodes   int
}

// group is the nodes of one class and provider in an area.
type group struct {
	provider *providerState
	count    *providerCount
	// nodes are ordered by id, so that a scan that keeps the first of equals
	// breaks ties by id without comparing ids.
	nodes []*node
}

// providerCount is one provider's share of an area. A provider offering both
// classes has one count for both: spreading is about outages, not classes.
type providerCount struct {
	sessions int
	nodes    int
}

// providerState is a provider, shared by all its nodes, which it counts.
type providerState struct {
	name  string
	nodes int
}

func classRank(c arena.NodeClass) int {
	if c == arena.ClassMetal {
		return 0
	}
	return 1
}

func byID(n *node, id string) int { return cmp.Compare(n.ID, id) }

// compareLocated orders area.located.
func compareLocated(a, b *node) int {
	if a.hasIP4 != b.hasIP4 {
		if a.hasIP4 {
			return -1
		}
		return 1
	}
	return cmp.Or(cmp.Compare(a.ip4, b.ip4), cmp.Compare(a.ID, b.ID))
}

// index puts n under its location, region and provider, bringing its
// sessions into their tallies. n's description must not change while it is
// indexed: unindex it first.
func (s *Scheduler) index(n *node) {
	p := s.providers[n.Provider]
	if p == nil {
		p = &providerState{name: n.Provider}
		s.providers[n.Provider] = p
	}
	p.nodes++
	n.provider = p
	names := [2]string{n.Location, n.Region}
	if names[1] == names[0] {
		names[1] = ""
	}
	for i, name := range names {
		n.member[i] = membership{}
		if name == "" {
			continue
		}
		a := s.areas[name]
		if a == nil {
			a = &area{name: name, providers: map[string]*providerCount{}}
			s.areas[name] = a
		}
		a.nodes++
		c := a.providers[n.Provider]
		if c == nil {
			c = &providerCount{}
			a.providers[n.Provider] = c
		}
		c.nodes++
		c.sessions += n.sessions
		rank := classRank(n.Class)
		var g *group
		for _, h := range a.groups[rank] {
			if h.provider == p {
				g = h
				break
			}
		}
		if g == nil {
			g = &group{provider: p, count: c}
			a.groups[rank] = append(a.groups[rank], g)
		}
		n.member[i] = membership{area: a, group: g, count: c}
		at, _ := slices.BinarySearchFunc(g.nodes, n.ID, byID)
		g.nodes = slices.Insert(g.nodes, at, n)
		if i == 0 {
			at, _ := slices.BinarySearchFunc(a.located, n, compareLocated)
			a.located = slices.Insert(a.located, at, n)
		}
	}
}

// unindex undoes index, taking n's sessions out of the tallies it was in.
func (s *Scheduler) unindex(n *node) {
	for i := range n.member {
		m := n.member[i]
		if m.area == nil {
			continue
		}
		a, g := m.area, m.group
		if at, found := slices.BinarySearchFunc(g.nodes, n.ID, byID); found {
			g.nodes = slices.Delete(g.nodes, at, at+1)
		}
		if len(g.nodes) == 0 {
			rank := classRank(n.Class)
			a.groups[rank] = slices.DeleteFunc(a.groups[rank], func(h *group) bool { return h == g })
		}
		m.count.sessions -= n.sessions
		if m.count.nodes--; m.count.nodes == 0 {
			delete(a.providers, n.Provider)
		}
		if i == 0 {
			if at, found := slices.BinarySearchFunc(a.located, n, compareLocated); found {
				a.located = slices.Delete(a.located, at, at+1)
			}
		}
		if a.nodes--; a.nodes == 0 {
			delete(s.areas, a.name)
		}
		n.member[i] = membership{}
	}
	if p := n.provider; p != nil {
		if p.nodes--; p.nodes == 0 {
			delete(s.providers, p.name)
		}
		n.provider = nil
	}
}

// pick returns the node a session goes to in area a, or nil: see the package
// documentation for the order. It never sorts nodes: providers are tried in
// order of their tally (a handful, chosen by repeated minimum) and each
// provider's nodes are scanned once.
func (s *Scheduler) pick(a *area, f *fit) *node {
	pack := s.policy != Spread
	defer func() { f.maxTier = math.MaxInt }()
	for _, groups := range a.groups {
		// Nodes that would start the session within a step first; when
		// every node of the class that fits is further behind, the least
		// behind. Only then the image, the provider and the policy.
		f.maxTier = 0
		if n := s.pickImage(groups, f, pack); n != nil {
			return n
		}
		f.maxTier = math.MaxInt
		if t, ok := minTier(groups, f); ok && t > 0 {
			f.maxTier = t
			if n := s.pickImage(groups, f, pack); n != nil {
				return n
			}
		}
	}
	return nil
}

// pickImage returns the node of one class's groups that the session goes
// to, or nil: nodes holding the image first, then any. A pull delays the
// session's start, but never beats metal before cloud.
func (s *Scheduler) pickImage(groups []*group, f *fit, pack bool) *node {
	if f.image >= 0 {
		f.needImage = true
		n := s.pickIn(groups, f, pack)
		f.needImage = false
		if n != nil {
			return n
		}
	}
	return s.pickIn(groups, f, pack)
}

// minTier returns the lowest tier of the groups' nodes that f fits, and
// whether any does. It scans them all: it runs only when no node that
// fits would start the session within a step, as in a burst.
func minTier(groups []*group, f *fit) (int, bool) {
	lowest, found := math.MaxInt, false
	for _, g := range groups {
		for _, n := range g.nodes {
			if n.tier < lowest && f.ok(n) && f.inRegion(n) {
				lowest, found = n.tier, true
			}
		}
	}
	return lowest, found
}

// pickIn returns the node of one class's groups that the session goes to, or nil.
func (s *Scheduler) pickIn(groups []*group, f *fit, pack bool) *node {
	// Try the providers from the fewest sessions up; (sessions, name) is
	// unique within a class, so "the least above the last tried" walks them
	// in order without marking them.
	lastSessions, lastName := -1, ""
	for {
		var g *group
		for _, h := range groups {
			hs, hn := h.count.sessions, h.provider.name
			if hs < lastSessions || (hs == lastSessions && hn <= lastName) {
				continue
			}
			if g == nil || hs < g.count.sessions || (hs == g.count.sessions && hn < g.provider.name) {
				g = h
			}
		}
		if g == nil {
			return nil
		}
		if n := g.best(f, pack); n != nil {
			return n
		}
		lastSessions, lastName = g.count.sessions, g.provider.name
	}
}

// best returns the group's node that f fits, the busiest with pack and the
// idlest otherwise, the first by id of equals; nil when none fits.
func (g *group) best(f *fit, pack bool) *node {
	var best *node
	for _, n := range g.nodes {
		if f.ok(n) && (best == nil || (pack && n.load > best.load) || (!pack && n.load < best.load)) && f.inRegion(n) {
			best = n
		}
	}
	return best
}
