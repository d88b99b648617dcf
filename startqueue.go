package arena

import "time"

// StartQueue is how a node's agent keeps up with starting containers. The
// agent starts at most Concurrency containers at a time, as many as its
// engine sustains; the sessions beyond wait their turn, each within its
// start deadline (Timeout) from when the agent took it on. Placement reads
// Rate and Timeout to tell how long a new session would wait on the node,
// and takes none there that would wait past its deadline.
type StartQueue struct {
	// Queued counts the sessions waiting for a turn to start, InFlight
	// those whose container the engine is creating and starting now.
	Queued   int
	InFlight int
	// Concurrency is how many starts the agent runs at once.
	Concurrency int
	// Timeout is each start's deadline, its wait in the queue included.
	Timeout time.Duration
	// Rate is how many starts a second the node made while it was
	// starting any, over its recent starts; zero before its first. It is
	// what the node did at the load it had, so it errs low, never high,
	// of what it can do.
	Rate float64
	// Samples is how many recent starts the figures below cover.
	Samples int
	// Latency is the engine's create and start of one container, Wait the
	// time a session waited for its turn: medians and 99th percentiles of
	// the recent starts.
	LatencyP50, LatencyP99 time.Duration
	WaitP50, WaitP99       time.Duration
}

// Bounds of what a node may say of its start queue, so that a figure off
// by orders of magnitude cannot starve or flood placement.
const (
	MaxStartRate    = 10_000 // starts a second
	MaxStartTimeout = time.Hour
	// MaxStartConcurrency bounds a node's starts at once, set or said:
	// far more than an engine has cores only make each slower.
	MaxStartConcurrency = 256
)
