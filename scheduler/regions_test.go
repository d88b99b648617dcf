package scheduler

import (
	"slices"
	"testing"

	"github.com/arena-hq/arena"
)

// TestPlaceInRegions places sessions held to regions, among them in
// locations whose nodes span regions: nodes of other regions are passed
// over, and a location with none of the regions' nodes is not found.
func TestPlaceInRegions(t *testing.T) {
	// ams spans two regions; a, the fullest-to-be and first by id, is the
	// node pack would pick without regions.
	nodes := []arena.Node{
		nd("a", "ams", "europe", "A", arena.ClassMetal, 2),
		nd("b", "ams", "eu-west", "A", arena.ClassMetal, 2),
		nd("n", "nyc", "america", "A", arena.ClassMetal, 1),
	}
	tests := []struct {
		name     string
		setup    func(s *Scheduler)
		location string
		regions  []string
		want     string // the node, or the error code
	}{
		{"no regions: any", nil, "ams", nil, "a"},
		{"empty regions: any", nil, "ams", []string{}, "a"},
		{"the location's other region", nil, "ams", []string{"eu-west"}, "b"},
		{"one of several regions", nil, "ams", []string{"asia", "eu-west"}, "b"},
		{"both of the location's regions", nil, "ams", []string{"eu-west", "europe"}, "a"},
		{"a region by its name", nil, "america", []string{"america"}, "n"},
		{"a region outside the regions", nil, "america", []string{"europe"}, arena.ENOTFOUND},
		{"a location outside the regions", nil, "nyc", []string{"europe", "eu-west"}, arena.ENOTFOUND},
		{"a region no node is in", nil, "ams", []string{"mars"}, arena.ENOTFOUND},
		{"the region's node is full", func(s *Scheduler) {
			place(t, s, "fills-b-1", "eu-west")
			place(t, s, "fills-b-2", "eu-west")
		}, "ams", []string{"eu-west"}, arena.EUNAVAILABLE},
		{"the region's node is draining", func(s *Scheduler) {
			d := nodes[1]
			d.Draining = true
			s.UpsertNode(d, true)
		}, "ams", []string{"eu-west"}, arena.EUNAVAILABLE},
		{"the region's node is unhealthy", func(s *Scheduler) { s.SetHealthy("b", false) }, "ams", []string{"eu-west"}, arena.EUNAVAILABLE},
		{"the other region's node being full does not matter", func(s *Scheduler) {
			place(t, s, "fills-a-1", "europe")
			place(t, s, "fills-a-2", "europe")
		}, "ams", []string{"eu-west"}, "b"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := New(Pack)
			for _, n := range nodes {
				s.UpsertNode(n, true)
			}
			if tt.setup != nil {
				tt.setup(s)
			}
			before := s.Nodes()
			p, err := s.Place(Request{SessionID: "s", Location: tt.location, Resources: oneCore, Ports: twoPorts, Regions: tt.regions})
			got := p.Node.ID
			if err != nil {
				got = arena.ErrorCode(err)
				if after := s.Nodes(); !equalUsage(before, after) {
					t.Errorf("a refused placement changed the nodes:\n%+v\n%+v", before, after)
				}
			}
			if got != tt.want {
				t.Fatalf("placed on %q (%v), want %q", got, err, tt.want)
			}
			if err == nil && len(tt.regions) > 0 && !slices.Contains(tt.regions, p.Node.Region) {
				t.Fatalf("placed in region %q, outside %v", p.Node.Region, tt.regions)
			}
		})
	}
}

func equalUsage(a, b []NodeUsage) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i].ID != b[i].ID || a[i].Used != b[i].Used || a[i].Sessions != b[i].Sessions || a[i].FreePorts != b[i].FreePorts {
			return false
		}
	}
	return true
}

// TestAvailableLocationsInRegions lists where a session held to regions
// fits: a location spanning regions is listed for those of its nodes in
// them alone.
func TestAvailableLocationsInRegions(t *testing.T) {
	withIP := func(n arena.Node, ip string) arena.Node { n.PublicIP = ip; return n }
	s := New(Pack)
	for _, n := range []arena.Node{
		withIP(nd("a", "ams", "europe", "A", arena.ClassMetal, 2), "192.0.2.1"),
		withIP(nd("b", "ams", "eu-west", "A", arena.ClassMetal, 2), "192.0.2.2"),
		withIP(nd("f", "fra", "europe", "A", arena.ClassMetal, 2), "192.0.2.3"),
		withIP(nd("n", "nyc", "america", "A", arena.ClassMetal, 2), "198.51.100.1"),
	} {
		s.UpsertNode(n, true)
	}
	tests := []struct {
		name    string
		regions []string
		want    []arena.AvailableLocation
	}{
		{"any region", nil, []arena.AvailableLocation{
			{Location: "ams", Region: "eu-west", IPs: []string{"192.0.2.2"}},
			{Location: "ams", Region: "europe", IPs: []string{"192.0.2.1"}},
			{Location: "fra", Region: "europe", IPs: []string{"192.0.2.3"}},
			{Location: "nyc", Region: "america", IPs: []string{"198.51.100.1"}},
		}},
		{"one region", []string{"europe"}, []arena.AvailableLocation{
			{Location: "ams", Region: "europe", IPs: []string{"192.0.2.1"}},
			{Location: "fra", Region: "europe", IPs: []string{"192.0.2.3"}},
		}},
		{"a location's other region", []string{"eu-west"}, []arena.AvailableLocation{
			{Location: "ams", Region: "eu-west", IPs: []string{"192.0.2.2"}},
		}},
		{"two regions", []string{"america", "eu-west"}, []arena.AvailableLocation{
			{Location: "ams", Region: "eu-west", IPs: []string{"192.0.2.2"}},
			{Location: "nyc", Region: "america", IPs: []string{"198.51.100.1"}},
		}},
		{"a region no node is in", []string{"mars"}, []arena.AvailableLocation{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := s.AvailableLocations(oneCore, 2, tt.regions)
			if !equalLocations(got, tt.want) {
				t.Fatalf("got %+v\nwant %+v", got, tt.want)
			}
			if ref := referenceAvailable(s, oneCore, 2, tt.regions); !equalLocations(got, ref) {
				t.Fatalf("got %+v\nreference %+v", got, ref)
			}
		})
	}
}
