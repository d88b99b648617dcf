package scheduler

import (
	"fmt"
	"runtime"
	"slices"
	"testing"
	"time"

	"github.com/arena-hq/arena"
)

const (
	benchRegion    = "eu"
	benchLocations = 20
	benchSessions  = 100_000
)

var benchSession = arena.Resources{MilliCPU: 250, MemoryMB: 512}

// benchScheduler builds a region of nodes over 20 locations and 4 providers
// (three metal, one cloud) of 64 cores, 128 GB and the default port range,
// holding 100,000 sessions of a quarter core and two ports, placed half by
// region and half by location. It also returns the heap bytes a node and a
// session take.
func benchScheduler(b *testing.B, nodes int, policy Policy) (s *Scheduler, perNode, perSession float64) {
	b.Helper()
	heap := func() uint64 {
		var m runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&m)
		return m.HeapAlloc
	}
	start := heap()
	s = New(policy)
	for i := range nodes {
		provider := (i / benchLocations) % 4
		class := arena.ClassMetal
		if provider == 3 {
			class = arena.ClassCloud
		}
		s.UpsertNode(arena.Node{
			ID: fmt.Sprintf("node-%05d", i), Region: benchRegion, Location: fmt.Sprintf("loc-%02d", i%benchLocations),
			Provider: fmt.Sprintf("provider-%d", provider), Class: class,
			PublicIP: fmt.Sprintf("10.%d.%d.%d", i>>16&255, i>>8&255, i&255),
			Capacity: arena.Resources{MilliCPU: 64_000, MemoryMB: 131_072}, PortMin: 32768, PortMax: 60299,
		}, true)
	}
	withNodes := heap()
	for i := range benchSessions {
		area := benchRegion
		if i%2 == 1 {
			area = fmt.Sprintf("loc-%02d", i%benchLocations)
		}
		if _, err := s.Place(Request{SessionID: fmt.Sprintf("live-%d", i), Location: area, Resources: benchSession, Ports: twoPorts}); err != nil {
			b.Fatal(err)
		}
	}
	withSessions := heap()
	return s, float64(withNodes-start) / float64(nodes), float64(withSessions-withNodes) / benchSessions
}

// BenchmarkPlace places and releases one session at a time among 100,000
// live ones, so that the scheduler stays in the same state; an op is both.
func BenchmarkPlace(b *testing.B) {
	ids := make([]string, 1024)
	for i := range ids {
		ids[i] = fmt.Sprintf("bench-%d", i)
	}
	for _, nodes := range []int{1000, 10_000} {
		for _, policy := range []Policy{Pack, Spread} {
			b.Run(fmt.Sprintf("nodes=%d/%s", nodes, policy), func(b *testing.B) {
				s, perNode, perSession := benchScheduler(b, nodes, policy)
				for _, area := range []string{benchRegion, "loc-07"} {
					name := "region"
					if area != benchRegion {
						name = "location"
					}
					b.Run(name, func(b *testing.B) {
						var took []time.Duration
						for b.Loop() {
							id := ids[len(took)%len(ids)]
							start := time.Now()
							if _, err := s.Place(Request{SessionID: id, Location: area, Resources: benchSession, Ports: twoPorts}); err != nil {
								b.Fatal(err)
							}
							s.Release(id)
							took = append(took, time.Since(start))
						}
						slices.Sort(took)
						b.ReportMetric(float64(took[len(took)*99/100]), "p99-ns")
						b.ReportMetric(perNode, "heapB/node")
						b.ReportMetric(perSession, "heapB/session")
					})
				}
			})
		}
	}
}

// BenchmarkPlaceInRegions is BenchmarkPlace's region case with 10,000
// nodes for a session held to regions: to the nodes' own, last of three, so
// that every candidate is compared with each of them.
func BenchmarkPlaceInRegions(b *testing.B) {
	s, _, _ := benchScheduler(b, 10_000, Pack)
	regions := []string{"us-east", "asia", benchRegion}
	i := 0
	for b.Loop() {
		id := fmt.Sprintf("bench-%d", i%1024)
		i++
		if _, err := s.Place(Request{SessionID: id, Location: benchRegion, Resources: benchSession, Ports: twoPorts, Regions: regions}); err != nil {
			b.Fatal(err)
		}
		s.Release(id)
	}
}

// BenchmarkAvailableLocations lists where one more session fits, as a
// matchmaker would each cycle.
func BenchmarkAvailableLocations(b *testing.B) {
	s, _, _ := benchScheduler(b, 10_000, Pack)
	for b.Loop() {
		if got := s.AvailableLocations(benchSession, 2, nil); len(got) != benchLocations {
			b.Fatalf("%d locations", len(got))
		}
	}
}
