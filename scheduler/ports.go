package scheduler

import "github.com/arena-hq/arena"

// portAllocator hands out host ports of one node. A port is never handed out
// twice while held; a cursor moves on past each allocation so that a port just
// released is the last to be reused, giving stale clients time to give up on it.
type portAllocator struct {
	min, max int
	used     []bool
	free     int
	cursor   int
}

func newPortAllocator(min, max int) *portAllocator {
	n := max - min + 1
	if n < 0 {
		n = 0
	}
	return &portAllocator{min: min, max: max, used: make([]bool, n), free: n}
}

// allocate reserves n ports, or none and false when fewer than n are free.
func (p *portAllocator) allocate(n int) ([]int, bool) {
	if n > p.free {
		return nil, false
	}
	if n == 0 {
		return nil, true
	}
	ports := make([]int, 0, n)
	for i := 0; len(ports) < n; i++ {
		idx := (p.cursor + i) % len(p.used)
		if !p.used[idx] {
			p.used[idx] = true
			ports = append(ports, p.min+idx)
		}
	}
	p.free -= n
	p.cursor = (ports[n-1] - p.min + 1) % len(p.used)
	return ports, true
}

// hold marks specific ports as used, as when rebuilding from the store. It
// holds every port it can and returns those it cannot: out of range, or
// already held.
func (p *portAllocator) hold(ports []int) (refused []int) {
	for _, port := range ports {
		idx := port - p.min
		if idx < 0 || idx >= len(p.used) || p.used[idx] {
			refused = append(refused, port)
			continue
		}
		p.used[idx] = true
		p.free--
	}
	return refused
}

func (p *portAllocator) release(ports []int) {
	for _, port := range ports {
		idx := port - p.min
		if idx >= 0 && idx < len(p.used) && p.used[idx] {
			p.used[idx] = false
			p.free++
		}
	}
}

func hostPorts(ports []arena.Port) []int {
	out := make([]int, len(ports))
	for i, p := range ports {
		out[i] = p.Host
	}
	return out
}
