package scheduler

import (
	"maps"
	"slices"
)

// Regions returns the regions of the known nodes, sorted: where sessions
// can be asked for, whether or not a node there has room right now.
func (s *Scheduler) Regions() []string {
	s.mu.RLock()
	set := make(map[string]bool)
	for _, n := range s.nodes {
		if n.Region != "" {
			set[n.Region] = true
		}
	}
	s.mu.RUnlock()
	return slices.Sorted(maps.Keys(set))
}
