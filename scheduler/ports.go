package scheduler

import (
	"math/bits"

	"github.com/arena-hq/arena"
)

// portAllocator hands out host ports of one node. A port is never handed out
// twice while held; a cursor moves on past each allocation so that a port just
// released is the last to be reused, giving stale clients time to give up on it.
//
// Held ports are bits of a bitmap, 8 bytes per 64 ports (3.4 KB for the
// default range of 27,532 ports), so that ten thousand nodes cost tens of
// megabytes rather than hundreds, and a search skips 64 held ports at a time.
type portAllocator struct {
	// free is the number of ports not held. It comes first: placement reads
	// it on every node it looks at.
	free int
	min  int
	// size is the number of ports in the range.
	size int
	// cursor is the index where the next search starts.
	cursor int
	// words has bit i%64 of word i/64 set while port min+i is held. The bits
	// past size in the last word are always set, so that they never look free.
	words []uint64
}

func newPortAllocator(lo, hi int) portAllocator {
	size := max(hi-lo+1, 0)
	words := make([]uint64, (size+63)/64)
	if tail := size % 64; tail != 0 {
		words[len(words)-1] = ^uint64(0) << tail
	}
	return portAllocator{min: lo, size: size, free: size, words: words}
}

// allocate reserves n ports, or none and false when fewer than n are free.
// Ports come in order from the cursor, wrapping at the end of the range.
func (p *portAllocator) allocate(n int) ([]int, bool) {
	if n > p.free {
		return nil, false
	}
	if n == 0 {
		return nil, true
	}
	ports := make([]int, n)
	for k := range ports {
		i := p.nextFree(p.cursor)
		p.words[i>>6] |= 1 << (i & 63)
		ports[k] = p.min + i
		p.cursor = i + 1
		if p.cursor == p.size {
			p.cursor = 0
		}
	}
	p.free -= n
	return ports, true
}

// nextFree returns the index of the first free port at or after i, wrapping
// around. At least one port must be free.
func (p *portAllocator) nextFree(i int) int {
	w := i >> 6
	// Free bits of the first word, from i on. Should they run out, the search
	// wraps back to this word whole, which then covers the bits before i.
	m := ^p.words[w] &^ (1<<(i&63) - 1)
	for m == 0 {
		w++
		if w == len(p.words) {
			w = 0
		}
		m = ^p.words[w]
	}
	return w<<6 + bits.TrailingZeros64(m)
}

// held reports whether port is in range and held.
func (p *portAllocator) held(port int) bool {
	i := port - p.min
	return i >= 0 && i < p.size && p.words[i>>6]&(1<<(i&63)) != 0
}

// hold marks specific ports as used, as when rebuilding from the store. It
// holds every port it can and returns those it cannot: out of range, or
// already held.
func (p *portAllocator) hold(ports []int) (refused []int) {
	for _, port := range ports {
		i := port - p.min
		if i < 0 || i >= p.size || p.words[i>>6]&(1<<(i&63)) != 0 {
			refused = append(refused, port)
			continue
		}
		p.words[i>>6] |= 1 << (i & 63)
		p.free--
	}
	return refused
}

// release frees ports; those not held are ignored.
func (p *portAllocator) release(ports []int) {
	for _, port := range ports {
		if p.held(port) {
			i := port - p.min
			p.words[i>>6] &^= 1 << (i & 63)
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
