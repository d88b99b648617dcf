package scheduler

import (
	"errors"
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/arena-hq/arena"
)

// TestRandomOperations drives a scheduler with random nodes, placements,
// releases, moves, removals and health flips, and after every step
// recounts what it keeps incrementally (see checkInvariants) and compares each
// placement and AvailableLocations with the plainly written reference.
func TestRandomOperations(t *testing.T) {
	steps := 3000
	if testing.Short() {
		steps = 500
	}
	for seed := range uint64(8) {
		policy := Pack
		if seed%2 == 1 {
			policy = Spread
		}
		t.Run(fmt.Sprintf("seed=%d/%s", seed, policy), func(t *testing.T) {
			randomOperations(t, seed, policy, steps)
		})
	}
}

func randomOperations(t *testing.T, seed uint64, policy Policy, steps int) {
	rng := rand.New(rand.NewPCG(seed, 42))
	s := New(policy)

	// Locations and their usual regions; "solo" is its own region, and the
	// odd node puts a location in a region other than its usual one.
	regionOf := map[string]string{"ams": "europe", "fra": "europe", "lon": "europe", "nyc": "america", "sfo": "america", "solo": "solo"}
	locations := slices.Sorted(maps.Keys(regionOf))
	areas := append(slices.Clone(locations), "europe", "america", "mars")
	providers := []string{"A", "B", "C", "D"}
	// Organisations without quotas: their tallies must add up all the same.
	orgs := []string{"", "org-1", "org-2"}
	ips := []string{"192.0.2.1", "192.0.2.2", "192.0.2.10", "10.0.0.1", "2001:db8::1", "::ffff:192.0.2.3", "bogus", ""}
	pick := func(xs []string) string { return xs[rng.IntN(len(xs))] }
	// Most requests may run anywhere; the others are held to regions that
	// some locations span only in part, or that no node is in.
	regionSets := [][]string{nil, nil, nil, {"europe"}, {"america"}, {"europe", "solo"}, {"mars"}}
	pickRegions := func() []string { return regionSets[rng.IntN(len(regionSets))] }

	// Capacity and port range stay fixed per node id, so that no node can end
	// over capacity; everything else changes.
	describe := func(id int) arena.Node {
		loc := pick(locations)
		region := regionOf[loc]
		if rng.IntN(10) == 0 {
			region = pick([]string{"europe", "america"})
		}
		class := arena.ClassMetal
		if rng.IntN(3) == 0 {
			class = arena.ClassCloud
		}
		cores := int64(1 + id%4)
		portMin := 40000
		portMax := portMin + id%7
		if rng.IntN(10) == 0 {
			portMin++
		}
		return arena.Node{
			ID: fmt.Sprintf("n%02d", id), Location: loc, Region: region, Provider: pick(providers), Class: class,
			PublicIP: pick(ips), Capacity: arena.Resources{MilliCPU: cores * 1000, MemoryMB: cores * 1024},
			PortMin: portMin, PortMax: portMax, Draining: rng.IntN(8) == 0,
		}
	}
	const maxNodes = 24
	live := map[string]bool{}
	// outside is what each node's agent last said is held on it.
	outside := map[string][]int{}
	var nextSession int
	placed, refused := 0, 0

	for step := range steps {
		var what string
		switch op := rng.IntN(120); {
		case op < 40:
			res := arena.Resources{MilliCPU: int64(250 * (1 + rng.IntN(4))), MemoryMB: int64(256 * (1 + rng.IntN(4)))}
			req := Request{SessionID: fmt.Sprintf("s%d", nextSession), OrgID: pick(orgs), Location: pick(areas), Resources: res, Ports: twoPorts[:rng.IntN(3)],
				Regions: pickRegions()}
			if rng.IntN(50) == 0 && len(live) > 0 {
				req.SessionID = slices.Sorted(maps.Keys(live))[0]
			}
			what = fmt.Sprintf("place %s in %s of regions %v", req.SessionID, req.Location, req.Regions)
			want := referencePick(s, req)
			exists, serves := referenceServes(s, req.Location, req.Regions)
			behind := referenceBehind(s, req)
			p, err := s.Place(req)
			switch {
			case live[req.SessionID]:
				if arena.ErrorCode(err) != arena.ECONFLICT {
					t.Fatalf("step %d: %s again: %v", step, what, err)
				}
			case err != nil:
				code := arena.EUNAVAILABLE
				if exists && !serves {
					code = arena.ENOTFOUND
				}
				if arena.ErrorCode(err) != code || want != "" {
					t.Fatalf("step %d: %s: %v, want %s; the reference picks %q", step, what, err, code, want)
				}
				var ae *arena.Error
				if errors.As(err, &ae) && code == arena.EUNAVAILABLE && (ae.RetryAfter > 0) != behind {
					t.Fatalf("step %d: %s: %v, retry after %s; some node behind with its starts: %v", step, what, err, ae.RetryAfter, behind)
				}
				refused++
			default:
				if p.Node.ID != want {
					t.Fatalf("step %d: %s: placed on %s, the reference picks %q", step, what, p.Node.ID, want)
				}
				if len(p.Ports) != len(req.Ports) {
					t.Fatalf("step %d: %d ports for %d asked", step, len(p.Ports), len(req.Ports))
				}
				for _, port := range p.Ports {
					if slices.Contains(outside[p.Node.ID], port.Host) {
						t.Fatalf("step %d: %s: port %d is held outside, as node %s said: %v", step, what, port.Host, p.Node.ID, outside[p.Node.ID])
					}
				}
				live[req.SessionID] = true
				nextSession++
				placed++
			}
		case op < 60:
			if len(live) == 0 {
				continue
			}
			id := pick(slices.Sorted(maps.Keys(live)))
			what = "release " + id
			s.Release(id)
			s.Release(id)
			delete(live, id)
		case op < 69:
			id := fmt.Sprintf("n%02d", rng.IntN(maxNodes))
			healthy := rng.IntN(3) > 0
			what = fmt.Sprintf("node %s healthy %v", id, healthy)
			s.SetHealthy(id, healthy)
		case op < 82:
			n := describe(rng.IntN(maxNodes))
			what = fmt.Sprintf("upsert %+v", n)
			s.UpsertNode(n, rng.IntN(5) > 0)
			outside[n.ID] = inRange(outside[n.ID], n.PortMin, n.PortMax)
		case op < 88:
			id := fmt.Sprintf("n%02d", rng.IntN(maxNodes))
			sessions := 0
			for _, u := range s.Nodes() {
				if u.ID == id {
					sessions = u.Sessions
				}
			}
			what = fmt.Sprintf("remove %s holding %d", id, sessions)
			err := s.RemoveNode(id)
			if (sessions > 0) != (arena.ErrorCode(err) == arena.ECONFLICT) || (sessions == 0 && err != nil) {
				t.Fatalf("step %d: %s: %v", step, what, err)
			}
			if err == nil {
				delete(outside, id)
			}
		case op >= 110 && op < 115:
			id := fmt.Sprintf("n%02d", rng.IntN(maxNodes))
			p := StartPace{Rate: []float64{0, 0.2, 0.5, 1, 5}[rng.IntN(5)], Concurrency: rng.IntN(5),
				Deadline: []time.Duration{0, 4 * time.Second, 20 * time.Second, 2 * time.Minute}[rng.IntN(4)]}
			what = fmt.Sprintf("node %s paces its starts %+v", id, p)
			s.SetStartPace(id, p)
		case op >= 115:
			if len(live) == 0 {
				continue
			}
			id := pick(slices.Sorted(maps.Keys(live)))
			what = "start done of " + id
			s.StartDone(id)
			s.StartDone(id)
		case op >= 104:
			// The ranges span 40000 to 40007: some ports in range, some
			// of them sessions', some out of it.
			id := fmt.Sprintf("n%02d", rng.IntN(maxNodes))
			var held []int
			for range rng.IntN(4) {
				held = append(held, 39999+rng.IntN(10))
			}
			what = fmt.Sprintf("node %s holds %v outside", id, held)
			s.SetHeldPorts(id, held)
			// An unknown node's report is dropped, as are ports out of
			// the node's range, which it keeps should the range change.
			s.mu.RLock()
			if n := s.nodes[id]; n != nil {
				outside[id] = inRange(held, n.PortMin, n.PortMax)
			}
			s.mu.RUnlock()
		case op >= 100:
			if len(live) == 0 {
				continue
			}
			id := pick(slices.Sorted(maps.Keys(live)))
			s.mu.RLock()
			r := s.reserved[id]
			s.mu.RUnlock()
			old := make([]arena.Port, len(r.ports))
			for i, hp := range r.ports {
				old[i] = arena.Port{Protocol: arena.UDP, Container: i + 1, Host: hp}
			}
			free := r.node.ports.free
			what = fmt.Sprintf("move the ports %v of %s on node %s with %d free", r.ports, id, r.node.ID, free)
			moved, err := s.MovePorts(id, old)
			switch {
			case free < len(old):
				if arena.ErrorCode(err) != arena.EUNAVAILABLE {
					t.Fatalf("step %d: %s: %v, want unavailable", step, what, err)
				}
			case err != nil:
				t.Fatalf("step %d: %s: %v", step, what, err)
			default:
				for i, p := range moved {
					if p.Protocol != old[i].Protocol || p.Container != old[i].Container ||
						slices.ContainsFunc(old, func(o arena.Port) bool { return o.Host == p.Host }) ||
						slices.Contains(outside[r.node.ID], p.Host) {
						t.Fatalf("step %d: %s: moved to %+v", step, what, moved)
					}
				}
			}
		case op >= 88 && op < 100:
			res := arena.Resources{MilliCPU: int64(500 * rng.IntN(5)), MemoryMB: int64(512 * rng.IntN(5))}
			ports := rng.IntN(4)
			regions := pickRegions()
			what = fmt.Sprintf("available locations for %+v and %d ports in regions %v", res, ports, regions)
			got, want := s.AvailableLocations(res, ports, regions), referenceAvailable(s, res, ports, regions)
			if !equalLocations(got, want) {
				t.Fatalf("step %d: %s: got %+v, want %+v", step, what, got, want)
			}
		}
		s.mu.RLock()
		err := invariants(s, true)
		reserved := len(s.reserved)
		s.mu.RUnlock()
		if err != nil {
			t.Fatalf("step %d, after %s: %v", step, what, err)
		}
		if reserved != len(live) {
			t.Fatalf("step %d, after %s: %d reservations, %d live sessions", step, what, reserved, len(live))
		}
	}
	// A run that never placed, or never ran out of room, proves little.
	if placed < steps/20 || refused < steps/20 {
		t.Fatalf("only %d placed and %d refused in %d steps", placed, refused, steps)
	}
}

// inRange returns the ports from lo to hi.
func inRange(ports []int, lo, hi int) []int {
	return slices.DeleteFunc(slices.Clone(ports), func(p int) bool { return p < lo || p > hi })
}
