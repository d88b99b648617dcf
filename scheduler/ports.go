package scheduler

import (
	"math/bits"
	"slices"
)

// portAllocator hands out host ports of one node. A port is never handed out
// twice while held; a cursor moves on past each allocation so that a port just
// released is the last to be reused, giving stale clients time to give up on it.
// Nor is a port handed out while something else on the node holds it, as its
// agent says (outside): an outgoing connection, another service.
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
	// words has bit i%64 of word i/64 set while port min+i is held by a
	// session or outside. The bits past size in the last word are always
	// set, so that they never look free.
	words []uint64
	// outside lists, by index ascending, the ports that something other
	// than the node's sessions holds, as the node's agent last said: short
	// (at most arena.MaxHeldPorts), so a lookup is a binary search. Their
	// bits are set in words, so that searching for a free port costs
	// nothing more.
	outside []outsidePort
}

// outsidePort is a port held outside. It may be a session's as well: a
// report that crossed the session's placement, or its own container seen by
// a scan. Releasing the session then leaves the port held until a report
// says it is free, and a report that frees it leaves it to the session.
type outsidePort struct {
	i       int32
	session bool
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

// findOutside returns where index i is, or would be, in p.outside.
func (p *portAllocator) findOutside(i int) (int, bool) {
	return slices.BinarySearchFunc(p.outside, int32(i), func(o outsidePort, i int32) int { return int(o.i - i) })
}

// held reports whether port is in range and held by a session.
func (p *portAllocator) held(port int) bool {
	i := port - p.min
	if i < 0 || i >= p.size || p.words[i>>6]&(1<<(i&63)) == 0 {
		return false
	}
	k, out := p.findOutside(i)
	return !out || p.outside[k].session
}

// hold marks specific ports as a session's, as when rebuilding from the
// store. It holds every port it can and returns those it cannot: out of
// range, or held by another session. A port held outside is the session's
// too: the session exists, whatever else holds its port.
func (p *portAllocator) hold(ports []int) (refused []int) {
	for _, port := range ports {
		i := port - p.min
		if i < 0 || i >= p.size {
			refused = append(refused, port)
			continue
		}
		if k, out := p.findOutside(i); out {
			if p.outside[k].session {
				refused = append(refused, port)
			}
			p.outside[k].session = true
			continue
		}
		if p.words[i>>6]&(1<<(i&63)) != 0 {
			refused = append(refused, port)
			continue
		}
		p.words[i>>6] |= 1 << (i & 63)
		p.free--
	}
	return refused
}

// release frees ports of a session; those no session holds are ignored,
// and those held outside stay held.
func (p *portAllocator) release(ports []int) {
	for _, port := range ports {
		if !p.held(port) {
			continue
		}
		i := port - p.min
		if k, out := p.findOutside(i); out {
			p.outside[k].session = false
			continue
		}
		p.words[i>>6] &^= 1 << (i & 63)
		p.free++
	}
}

// setOutside replaces the ports held outside with ports, ignoring those
// out of range.
func (p *portAllocator) setOutside(ports []int) {
	for _, o := range p.outside {
		if !o.session {
			p.words[o.i>>6] &^= 1 << (o.i & 63)
			p.free++
		}
	}
	p.outside = p.outside[:0]
	idx := make([]int, 0, len(ports))
	for _, port := range ports {
		if i := port - p.min; i >= 0 && i < p.size {
			idx = append(idx, i)
		}
	}
	slices.Sort(idx)
	for _, i := range slices.Compact(idx) {
		// Every bit still set is a session's now.
		session := p.words[i>>6]&(1<<(i&63)) != 0
		if !session {
			p.words[i>>6] |= 1 << (i & 63)
			p.free--
		}
		p.outside = append(p.outside, outsidePort{i: int32(i), session: session})
	}
	if len(p.outside) == 0 {
		p.outside = nil // a node without any costs nothing
	}
}

// outsidePorts returns the ports held outside.
func (p *portAllocator) outsidePorts() []int {
	out := make([]int, len(p.outside))
	for k, o := range p.outside {
		out[k] = p.min + int(o.i)
	}
	return out
}
