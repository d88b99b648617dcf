package scheduler

import (
	"cmp"
	"fmt"
	"maps"
	"math/bits"
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/arena-hq/arena"
)

// checkInvariants recounts everything the scheduler keeps incrementally and
// fails tb on the first disagreement. withinCapacity also requires every node
// to be within its capacity, which Restore may break on purpose.
func checkInvariants(tb testing.TB, s *Scheduler, withinCapacity bool) {
	tb.Helper()
	s.mu.RLock()
	defer s.mu.RUnlock()
	if err := invariants(s, withinCapacity); err != nil {
		tb.Fatal(err)
	}
}

func invariants(s *Scheduler, withinCapacity bool) error {
	type usage struct {
		res      arena.Resources
		sessions int
		pending  int
		ports    map[int]string
	}
	use := map[*node]*usage{}
	for _, n := range s.nodes {
		use[n] = &usage{ports: map[int]string{}}
	}
	for id, r := range s.reserved {
		u, ok := use[r.node]
		if !ok || s.nodes[r.node.ID] != r.node {
			return fmt.Errorf("session %s is on node %s, which is not known", id, r.node.ID)
		}
		u.res = u.res.Add(r.resources)
		u.sessions++
		if r.pending {
			u.pending++
		}
		for _, p := range r.ports {
			if other, dup := u.ports[p]; dup {
				return fmt.Errorf("port %d of node %s is held by %s and %s", p, r.node.ID, other, id)
			}
			u.ports[p] = id
			if !r.node.ports.held(p) {
				return fmt.Errorf("port %d of session %s is not held on node %s", p, id, r.node.ID)
			}
		}
	}
	// Each organisation's tally is what its reservations add up to.
	orgUse := map[*tally]arena.QuotaUsage{}
	for _, t := range s.orgs {
		orgUse[t] = arena.QuotaUsage{}
	}
	for id, r := range s.reserved {
		u, ok := orgUse[r.org]
		if !ok {
			return fmt.Errorf("session %s counts against an organisation the scheduler does not know", id)
		}
		u.Sessions++
		u.MilliCPU += r.resources.MilliCPU
		orgUse[r.org] = u
	}
	for orgID, t := range s.orgs {
		if t.used != orgUse[t] {
			return fmt.Errorf("organisation %q: tally %+v, reservations add up to %+v", orgID, t.used, orgUse[t])
		}
	}
	for id, n := range s.nodes {
		u := use[n]
		if n.ID != id {
			return fmt.Errorf("node %s filed as %s", n.ID, id)
		}
		if n.used() != u.res || n.sessions != u.sessions || n.pending != u.pending {
			return fmt.Errorf("node %s: used %+v, %d sessions, %d pending; reservations add up to %+v, %d, %d", id, n.used(), n.sessions, n.pending, u.res, u.sessions, u.pending)
		}
		if withinCapacity && !n.Capacity.Fits(n.used()) {
			return fmt.Errorf("node %s over capacity: %+v of %+v", id, n.used(), n.Capacity)
		}
		if err := checkPorts(&n.ports, slices.Collect(maps.Keys(u.ports))); err != nil {
			return fmt.Errorf("node %s: %w", id, err)
		}
		want := *n
		want.refresh()
		if n.load != want.load || n.open != want.open || n.wait != want.wait || n.tier != want.tier || n.behind != want.behind {
			return fmt.Errorf("node %s: stale load %d, open %v, wait %s, tier %d or behind %v", id, n.load, n.open, n.wait, n.tier, n.behind)
		}
		if n.provider == nil || s.providers[n.Provider] != n.provider {
			return fmt.Errorf("node %s: provider %q not indexed", id, n.Provider)
		}
		names := [2]string{n.Location, n.Region}
		if names[1] == names[0] {
			names[1] = ""
		}
		for i, name := range names {
			m := n.member[i]
			if name == "" {
				if m.area != nil {
					return fmt.Errorf("node %s: indexed under %q for an empty name", id, m.area.name)
				}
				continue
			}
			if m.area == nil || s.areas[name] != m.area {
				return fmt.Errorf("node %s: not indexed under %q", id, name)
			}
			if !slices.Contains(m.group.nodes, n) {
				return fmt.Errorf("node %s: not in its group under %q", id, name)
			}
			if m.group.provider != n.provider || m.count != m.area.providers[n.Provider] || m.group.count != m.count {
				return fmt.Errorf("node %s: wrong provider group under %q", id, name)
			}
			if !slices.Contains(m.area.groups[classRank(n.Class)], m.group) {
				return fmt.Errorf("node %s: group not under its class in %q", id, name)
			}
		}
	}
	for name, a := range s.areas {
		if a.name != name {
			return fmt.Errorf("area %s filed as %s", a.name, name)
		}
		type tally struct{ sessions, nodes int }
		want := map[string]tally{}
		members := 0
		var located []*node
		for _, n := range s.nodes {
			if n.Location != name && n.Region != name {
				continue
			}
			members++
			t := want[n.Provider]
			t.sessions += n.sessions
			t.nodes++
			want[n.Provider] = t
			if n.Location == name {
				located = append(located, n)
			}
		}
		if members == 0 || a.nodes != members {
			return fmt.Errorf("area %s: %d nodes, counted %d", name, a.nodes, members)
		}
		if len(a.providers) != len(want) {
			return fmt.Errorf("area %s: %d provider tallies, want %d", name, len(a.providers), len(want))
		}
		for p, c := range a.providers {
			if w := want[p]; c.sessions != w.sessions || c.nodes != w.nodes {
				return fmt.Errorf("area %s provider %s: %d sessions on %d nodes, recount %d on %d", name, p, c.sessions, c.nodes, w.sessions, w.nodes)
			}
		}
		grouped := 0
		for rank, groups := range a.groups {
			for _, g := range groups {
				if len(g.nodes) == 0 {
					return fmt.Errorf("area %s: empty group of %s", name, g.provider.name)
				}
				if !slices.IsSortedFunc(g.nodes, func(a, b *node) int { return cmp.Compare(a.ID, b.ID) }) {
					return fmt.Errorf("area %s: group of %s out of order", name, g.provider.name)
				}
				for _, n := range g.nodes {
					if classRank(n.Class) != rank || n.provider != g.provider {
						return fmt.Errorf("area %s: node %s in the wrong group", name, n.ID)
					}
				}
				grouped += len(g.nodes)
			}
		}
		if grouped != members {
			return fmt.Errorf("area %s: %d nodes in groups, want %d", name, grouped, members)
		}
		slices.SortFunc(located, compareLocated)
		if !slices.Equal(a.located, located) {
			return fmt.Errorf("area %s: located nodes out of order or incomplete", name)
		}
	}
	for name, p := range s.providers {
		count := 0
		for _, n := range s.nodes {
			if n.Provider == name {
				count++
			}
		}
		if p.name != name || p.nodes != count || count == 0 {
			return fmt.Errorf("provider %s: %d nodes, counted %d", name, p.nodes, count)
		}
	}
	return nil
}

// checkPorts checks the bitmap against the ports reservations hold and
// those held outside.
func checkPorts(p *portAllocator, reserved []int) error {
	set := 0
	for _, w := range p.words {
		set += bits.OnesCount64(w)
	}
	mine := map[int]bool{}
	for _, port := range reserved {
		mine[port] = true
	}
	held := len(reserved)
	for k, o := range p.outside {
		port := p.min + int(o.i)
		switch {
		case o.i < 0 || int(o.i) >= p.size || (k > 0 && p.outside[k-1].i >= o.i):
			return fmt.Errorf("outside ports out of range or order: %+v", p.outside)
		case o.session != mine[port]:
			return fmt.Errorf("port %d held outside is marked a session's: %v; reservations say %v", port, o.session, mine[port])
		case p.words[o.i>>6]&(1<<(o.i&63)) == 0:
			return fmt.Errorf("port %d held outside is free in the bitmap", port)
		case !o.session:
			held++
		}
	}
	padding := len(p.words)*64 - p.size
	if set-padding != held || p.free != p.size-held {
		return fmt.Errorf("bitmap holds %d ports and counts %d free of %d; reservations and outside hold %d", set-padding, p.free, p.size, held)
	}
	if padding > 0 && p.words[len(p.words)-1]>>(64-padding) != 1<<padding-1 {
		return fmt.Errorf("padding bits cleared")
	}
	if p.size > 0 && (p.cursor < 0 || p.cursor >= p.size) {
		return fmt.Errorf("cursor %d out of range", p.cursor)
	}
	return nil
}

// referencePick is the placement order of the package documentation written
// plainly: filter, recount the tallies, sort. It returns "" when no node fits.
func referencePick(s *Scheduler, req Request) string {
	s.mu.RLock()
	defer s.mu.RUnlock()
	name := req.Location
	inArea := func(n *node) bool { return name != "" && (n.Location == name || n.Region == name) }
	tally := map[string]int{}
	for _, r := range s.reserved {
		if inArea(r.node) {
			tally[r.node.Provider]++
		}
	}
	var candidates []*node
	tiers := map[*node]int{}
	for _, n := range s.nodes {
		used := n.used()
		tier, behind := referenceStarts(s, n)
		tiers[n] = tier
		if inArea(n) && n.healthy && !n.Draining && !behind && inRegions(n, req.Regions) &&
			n.Capacity.Sub(used).Fits(req.Resources) && n.ports.free >= len(req.Ports) {
			candidates = append(candidates, n)
		}
	}
	if len(candidates) == 0 {
		return ""
	}
	slices.SortFunc(candidates, func(a, b *node) int {
		byLoad := cmp.Compare(b.load, a.load)
		if s.policy == Spread {
			byLoad = -byLoad
		}
		return cmp.Or(
			cmp.Compare(classRank(a.Class), classRank(b.Class)),
			cmp.Compare(tiers[a], tiers[b]),
			cmp.Compare(tally[a.Provider], tally[b.Provider]),
			cmp.Compare(a.Provider, b.Provider),
			byLoad,
			cmp.Compare(a.ID, b.ID),
		)
	})
	return candidates[0].ID
}

// referenceStarts is how many QueueSteps a new session would wait for its
// start on n, and whether that is past half its start deadline, recounted
// from the reservations. A node that does not pace its starts waits none.
func referenceStarts(s *Scheduler, n *node) (tier int, behind bool) {
	if n.pace.Deadline <= 0 {
		return 0, false
	}
	pending := 0
	for _, r := range s.reserved {
		if r.node == n && r.pending {
			pending++
		}
	}
	rate := n.pace.Rate
	if rate <= 0 {
		rate = DefaultStartRate * float64(max(n.pace.Concurrency, 1))
	}
	wait := time.Duration(float64(pending+1) / rate * float64(time.Second))
	return int(wait / QueueStep), wait > n.pace.Deadline/2
}

// referenceBehind reports whether some node of the request's area would
// take it but for its starts being too far behind.
func referenceBehind(s *Scheduler, req Request) bool {
	s.mu.RLock()
	defer s.mu.RUnlock()
	for _, n := range s.nodes {
		_, behind := referenceStarts(s, n)
		if behind && req.Location != "" && (n.Location == req.Location || n.Region == req.Location) && n.healthy && !n.Draining &&
			inRegions(n, req.Regions) && n.Capacity.Sub(n.used()).Fits(req.Resources) && n.ports.free >= len(req.Ports) {
			return true
		}
	}
	return false
}

// inRegions reports whether n is in one of regions, or regions is empty.
func inRegions(n *node, regions []string) bool {
	return len(regions) == 0 || slices.Contains(regions, n.Region)
}

// referenceServes reports whether area name has a node at all (first) and
// one in regions (second), whatever the nodes' health and room.
func referenceServes(s *Scheduler, name string, regions []string) (exists, serves bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	for _, n := range s.nodes {
		if name != "" && (n.Location == name || n.Region == name) {
			exists = true
			serves = serves || inRegions(n, regions)
		}
	}
	return exists, serves
}

// referenceAvailable is AvailableLocations written plainly.
func referenceAvailable(s *Scheduler, res arena.Resources, ports int, regions []string) []arena.AvailableLocation {
	s.mu.RLock()
	defer s.mu.RUnlock()
	type key struct{ location, region string }
	found := map[key]map[string]bool{}
	for _, n := range s.nodes {
		if _, behind := referenceStarts(s, n); behind {
			continue
		}
		if n.Location == "" || !n.healthy || n.Draining || !inRegions(n, regions) ||
			!n.Capacity.Sub(n.used()).Fits(res) || n.ports.free < ports {
			continue
		}
		k := key{n.Location, n.Region}
		if found[k] == nil {
			found[k] = map[string]bool{}
		}
		if ip, err := netip.ParseAddr(n.PublicIP); err == nil && ip.Unmap().Is4() {
			found[k][ip.Unmap().String()] = true
		}
	}
	out := []arena.AvailableLocation{}
	for k, ips := range found {
		l := arena.AvailableLocation{Location: k.location, Region: k.region, IPs: []string{}}
		for ip := range ips {
			l.IPs = append(l.IPs, ip)
		}
		slices.SortFunc(l.IPs, func(a, b string) int {
			return netip.MustParseAddr(a).Compare(netip.MustParseAddr(b))
		})
		out = append(out, l)
	}
	slices.SortFunc(out, func(a, b arena.AvailableLocation) int {
		return cmp.Or(cmp.Compare(a.Location, b.Location), cmp.Compare(a.Region, b.Region))
	})
	return out
}
