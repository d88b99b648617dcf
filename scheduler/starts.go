package scheduler

import (
	"fmt"
	"math"
	"time"

	"github.com/arena-hq/arena"
)

// QueueStep is the unit in which placement compares how long a new session
// would wait for its start on each node: nodes a step or more behind others
// are passed over while those have room, and nodes within the same step are
// alike, ordered as ever.
const QueueStep = 5 * time.Second

// DefaultStartRate is the starts a second assumed of each of the starts a
// node runs at once, while it has not said how fast it makes them (before
// its first start ends, which its agent tells at once): a Docker Engine
// takes about a second for one under load.
const DefaultStartRate = 1.0

// StartPace is what a node's agent says of its starts: how many it makes a
// second, how many it runs at once and the deadline of each, its wait for a
// turn included. A zero Deadline paces nothing, as for an agent that does
// not say.
type StartPace struct {
	Rate        float64
	Concurrency int
	Deadline    time.Duration
}

// wait is how long one more session is expected to take to start on a node
// with pending sessions not started yet: all of them, then itself, at the
// node's rate.
func (p StartPace) wait(pending int) time.Duration {
	if p.Deadline <= 0 {
		return 0
	}
	rate := p.Rate
	if rate <= 0 {
		rate = DefaultStartRate * float64(max(p.Concurrency, 1))
	}
	secs := float64(pending+1) / rate
	return time.Duration(min(secs, float64(math.MaxInt64/2)/float64(time.Second)) * float64(time.Second))
}

// bound is the longest expected wait at which the node takes a new session:
// half its deadline. The rate is an estimate, made at the load the node
// had, and a burst slows each start further.
func (p StartPace) bound() time.Duration { return p.Deadline / 2 }

// SetStartPace records what a node's agent says of its starts, replacing
// what it said before. A rate or deadline out of arena's bounds is brought
// within them.
func (s *Scheduler) SetStartPace(nodeID string, p StartPace) {
	if math.IsNaN(p.Rate) || p.Rate < 0 {
		p.Rate = 0
	}
	p.Rate = min(p.Rate, arena.MaxStartRate)
	p.Concurrency = min(max(p.Concurrency, 0), arena.MaxStartConcurrency)
	p.Deadline = min(max(p.Deadline, 0), arena.MaxStartTimeout)
	s.mu.Lock()
	defer s.mu.Unlock()
	if n, ok := s.nodes[nodeID]; ok {
		n.pace = p
		n.refresh()
	}
}

// StartDone tells that a session's node has no start of it to make any
// more: its container runs, or a stop came first. Until then, or until it
// is released, the session counts among the node's pending starts. Calling
// it again does nothing.
func (s *Scheduler) StartDone(sessionID string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r, ok := s.reserved[sessionID]
	if !ok || !r.pending {
		return
	}
	r.pending = false
	s.reserved[sessionID] = r
	r.node.pending--
	r.node.refresh()
}

// behindError returns the error of a placement in area a that failed
// because every node with room for the session is too far behind with its
// starts, with how long until the first of them would start it in time;
// nil when some node lacks room for another reason.
func (s *Scheduler) behindError(a *area, f *fit, location string) error {
	retry, found := time.Duration(math.MaxInt64), false
	for _, groups := range a.groups {
		for _, g := range groups {
			for _, n := range g.nodes {
				if f.okBehind(n) {
					retry, found = min(retry, n.wait-n.pace.bound()), true
				}
			}
		}
	}
	if !found {
		return nil
	}
	// In whole seconds, rounded up, as Retry-After has it.
	retry = max((retry + time.Second - 1).Truncate(time.Second), time.Second)
	return &arena.Error{Code: arena.EUNAVAILABLE, RetryAfter: retry,
		Message: fmt.Sprintf("every node of %q with room for the session is too far behind with starting containers to start it in time; try again in %s", location, retry)}
}
