// Package fleet keeps Arena's nodes: their joining and credentials, their
// heartbeats and liveness, drain and removal, and placement over them. It
// is the only owner of the scheduler and the one home of node state: the
// sessions' side asks it to place and release, and hears from it, through
// Sessions, what the nodes' changes mean for the sessions they run.
package fleet

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/arena-hq/arena"
	"github.com/arena-hq/arena/scheduler"
)

// Config holds what a Fleet is built from.
type Config struct {
	Store     arena.NodeStore
	Catalog   arena.Catalog
	Scheduler *scheduler.Scheduler
	Logger    *slog.Logger
	// Now is the clock; time.Now when nil.
	Now func() time.Time
	// JoinTokenHash is the hash of the secret agents present to join; empty
	// refuses every agent that dials in, but those of machines below.
	JoinTokenHash string
	// Machines, when set, admits the agents of the cloud machines Arena
	// made, each with the single-use token made for its node.
	Machines JoinTokens
	// HeartbeatTimeout is how long a node may be silent before its sessions
	// are unreachable; NodeLostAfter how long after that they are given up.
	// Zero takes the defaults.
	HeartbeatTimeout time.Duration
	NodeLostAfter    time.Duration
	// ResyncTimeout bounds how long placement waits after Open for the
	// agents of the nodes the store last saw alive to report (see
	// resync.go); zero takes the heartbeat timeout.
	ResyncTimeout time.Duration
	// Observer receives measurements, e.g. for Prometheus; nil takes none.
	Observer Observer
	// Installation identifies this control plane to its agents, which label
	// their containers with it; replicas of one installation share it.
	Installation string
}

// JoinTokens spends the join tokens of the machines Arena made
// (arena.MachineStore implements it).
type JoinTokens interface {
	// UseJoinToken spends the token whose hash is given, for nodeID, at
	// now: EUNAUTHORIZED unless it is that node's, unspent and unexpired.
	UseJoinToken(ctx context.Context, hash, nodeID string, now time.Time) error
}

// Observer receives the fleet's measurements. metrics.Registry implements it.
type Observer interface {
	AgentHeartbeat()
}

type noObserver struct{}

func (noObserver) AgentHeartbeat() {}

// Sessions is what the fleet tells the sessions' side of what happens to
// nodes, and asks it of the sessions they run. The fleet calls it holding
// none of its locks.
type Sessions interface {
	// NodeRegistered tells that a node joined or registered again: what
	// its active sessions hold is to be reserved anew (Placer.Restore).
	NodeRegistered(nodeID string)
	// NodeBack tells that a node silent past the heartbeat timeout reports
	// again: its agent must learn what is now believed of its sessions.
	NodeBack(nodeID string)
	// NodeSilent tells that a node has not reported for the heartbeat
	// timeout, since the time given: its sessions are unreachable.
	NodeSilent(nodeID string, since time.Time)
	// NodeLost tells that a node has been silent for NodeLostAfter since
	// its last heartbeat, given: its sessions are given up.
	NodeLost(nodeID string, lastSeen time.Time)
	// PortConflict passes on a node's word that a session could not start
	// because a host port given to it is taken.
	PortConflict(ctx context.Context, nodeID string, c arena.PortConflict)
	// ActiveOn counts the node's active sessions.
	ActiveOn(nodeID string) int
	// Running returns, by image reference, the nodes that run one of the
	// organisation's sessions of it.
	Running(orgID string) map[string]map[string]bool
}

// noSessions is the Sessions of a fleet that runs none.
type noSessions struct{}

func (noSessions) NodeRegistered(string)                                    {}
func (noSessions) NodeBack(string)                                          {}
func (noSessions) NodeSilent(string, time.Time)                             {}
func (noSessions) NodeLost(string, time.Time)                               {}
func (noSessions) PortConflict(context.Context, string, arena.PortConflict) {}
func (noSessions) ActiveOn(string) int                                      { return 0 }
func (noSessions) Running(string) map[string]map[string]bool                { return nil }

// Fleet is the installation's nodes. It is safe for concurrent use.
type Fleet struct {
	store        arena.NodeStore
	catalog      arena.Catalog
	sched        *scheduler.Scheduler
	placer       *Placer
	log          *slog.Logger
	now          func() time.Time
	obs          Observer
	sessions     Sessions
	installation string
	joinHash     string
	machines     JoinTokens

	heartbeatTimeout time.Duration
	nodeLostAfter    time.Duration
	// resync holds placement back after Open until the nodes report (see
	// resync.go).
	resync *resync
	// nodeOps serialises changes of nodes (join, register, drain, remove)
	// from their checks to their records in the store and in memory.
	nodeOps     sync.Mutex
	nmu         sync.Mutex
	nodes       map[string]*node
	credentials map[string]string // credential hash -> node id
	// refused are the creates placement refused for want of room.
	refused refusals

	closed      chan struct{}
	watcherDone chan struct{}
}

// New returns a fleet; Open loads its nodes.
func New(c Config) *Fleet {
	f := &Fleet{
		store: c.Store, catalog: c.Catalog, sched: c.Scheduler, log: c.Logger, now: c.Now, obs: c.Observer, sessions: noSessions{},
		installation: c.Installation, joinHash: c.JoinTokenHash, machines: c.Machines,
		heartbeatTimeout: c.HeartbeatTimeout, nodeLostAfter: c.NodeLostAfter,
		nodes: map[string]*node{}, credentials: map[string]string{},
		closed: make(chan struct{}), watcherDone: make(chan struct{}),
	}
	f.placer = &Placer{fleet: f, sched: c.Scheduler}
	if f.heartbeatTimeout <= 0 {
		f.heartbeatTimeout = DefaultHeartbeatTimeout
	}
	if f.nodeLostAfter <= 0 {
		f.nodeLostAfter = DefaultNodeLostAfter
	}
	if f.log == nil {
		f.log = slog.New(slog.DiscardHandler)
	}
	resyncTimeout := c.ResyncTimeout
	if resyncTimeout <= 0 {
		resyncTimeout = f.heartbeatTimeout
	}
	f.resync = newResync(resyncTimeout, f.log)
	if f.now == nil {
		f.now = time.Now
	}
	if f.obs == nil {
		f.obs = noObserver{}
	}
	return f
}

// Attach makes s the sessions the fleet tells of its nodes' changes; it is
// called once, before Open.
func (f *Fleet) Attach(s Sessions) { f.sessions = s }

// Placer returns the placement of sessions on the fleet's nodes.
func (f *Fleet) Placer() *Placer { return f.placer }

// Open loads the nodes from the store and starts watching their
// heartbeats. Placement waits, for at most the resync timeout, until the
// nodes the store last saw alive report.
func (f *Fleet) Open(ctx context.Context) error {
	awaited, err := f.loadNodes(ctx)
	if err != nil {
		return err
	}
	go f.watchNodes()
	f.resync.start(awaited, f.closed)
	return nil
}

// Close stops the heartbeat watch.
func (f *Fleet) Close() {
	close(f.closed)
	<-f.watcherDone
}

// Installation is the id agents label their containers with.
func (f *Fleet) Installation() string { return f.installation }

// Knows reports whether a node is part of the installation.
func (f *Fleet) Knows(nodeID string) bool {
	f.nmu.Lock()
	defer f.nmu.Unlock()
	_, ok := f.nodes[nodeID]
	return ok
}

// Size returns how many nodes the fleet has.
func (f *Fleet) Size() int {
	f.nmu.Lock()
	defer f.nmu.Unlock()
	return len(f.nodes)
}
