// Package agent runs on every node: it receives the desired state of its
// node's sessions from the control plane, makes the container runtime match it
// and reports what actually happens (running, crashed, restarted, exited).
//
// The agent is level-triggered: each session has at most one worker at a
// time, which compares the latest desired state with what it knows of the
// container and acts. Containers carry the session and node labels, so after
// a restart the agent adopts its running containers, reports those that died
// while it was away and removes its own leftovers, never anyone else's.
package agent

import (
	"context"
	"log/slog"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/arena-hq/arena"
)

// ControlPlane is the agent's view of the control plane. session.Agents
// implements it in process; the agent protocol carries it between machines.
type ControlPlane interface {
	// Assignments streams the node's desired state, starting with a full list.
	Assignments(ctx context.Context, nodeID string) (<-chan arena.Assignment, error)
	// Report tells the control plane what happened to a session.
	Report(ctx context.Context, r arena.SessionReport) error
	// Heartbeat tells the control plane that the node is alive, and how far
	// it is with the wanted images; a node that stops sending them is taken
	// for lost.
	Heartbeat(ctx context.Context, hb arena.Heartbeat) error
	// PushLogs sends a piece of a session's output for a LogRequest. more
	// is false once nobody reads it any more: the agent stops sending. The
	// chunk's data is the agent's buffer, valid only during the call.
	PushLogs(ctx context.Context, c arena.LogChunk) (more bool, err error)
}

// Config holds what an Agent is built from. Zero durations take defaults.
type Config struct {
	Node         arena.Node
	ControlPlane ControlPlane
	Runtime      Runtime
	Logger       *slog.Logger
	// Installation labels the containers the agent starts; those of
	// another installation are left alone. Empty labels none and adopts
	// only unlabelled ones.
	Installation string
	// BindIP is the host address bridge-mode ports are published on; all when empty.
	BindIP string
	// StopGrace is the SIGTERM-to-SIGKILL delay for sessions that set none.
	StopGrace time.Duration
	// RestartBackoff is the delay before the first restart of a crashed
	// process; it doubles per consecutive crash up to MaxRestartBackoff.
	RestartBackoff    time.Duration
	MaxRestartBackoff time.Duration
	// CrashLoopLimit is how many consecutive crashes of a process that ran
	// less than StableAfter make the agent give up (stop reason crashloop).
	CrashLoopLimit int
	StableAfter    time.Duration
	// ResyncInterval is how often the agent compares its view with the
	// runtime's, to catch exits whose events were lost.
	ResyncInterval time.Duration
	// ArtifactDir keeps the artifacts and the output of stopped sessions
	// for download; empty keeps none. ArtifactMaxBytes caps one session's
	// artifacts and ArtifactRetention is how long both are kept.
	ArtifactDir       string
	ArtifactMaxBytes  int64
	ArtifactRetention time.Duration
	// LogMaxBytes is how much of a stopped session's output is kept: the
	// last so many bytes.
	LogMaxBytes int64
	// StateDir keeps what the agent must remember across its restarts:
	// which images on the node are private. Empty remembers nothing.
	StateDir string
	// RetryInterval is the pause before retrying a failed control-plane
	// call; reconnecting backs off from it, doubling up to MaxRetryInterval.
	RetryInterval    time.Duration
	MaxRetryInterval time.Duration
	// HeartbeatInterval is how often the agent says it is alive. After
	// MissedHeartbeats failures in a row it reconnects: the connection may
	// hang without failing, as behind a network partition.
	HeartbeatInterval time.Duration
	MissedHeartbeats  int
	// HeldPorts returns, ascending, the ports from lo to hi that sockets on
	// the machine hold (procnet.HeldPorts on the host's tables). The agent
	// reports those of the node's range that are not its containers' in
	// its heartbeats, so that placement avoids them. Nil reports none held.
	HeldPorts func(lo, hi int) ([]int, error)
	// PortMoveWait is how long a session whose start found a host port
	// taken waits for the control plane to give it other ports before it
	// fails like any start that fails. A control plane moves it within a
	// heartbeat or two; one that predates moves never does.
	PortMoveWait time.Duration
	// StartConcurrency is how many containers the agent starts at once
	// (DefaultStartConcurrency when zero): the sessions beyond wait their
	// turn, first come first served, rather than all press on an engine
	// that cannot start them as fast.
	StartConcurrency int
	// StartTimeout is each start's deadline (DefaultStartTimeout when
	// zero), from when the agent takes the session on: the wait for a
	// turn counts, since the caller waits too, and so does each retry of a
	// start the engine failed for the moment; a pull of a missing image
	// does not. A session not started by then fails with the reason.
	StartTimeout time.Duration
	// ReadyInterval is how often the agent looks whether a started game
	// server serves on its ports yet (DefaultReadyInterval when zero).
	ReadyInterval time.Duration
	// LauncherDir holds the launcher of warm pools in launch mode and the
	// directories it is mounted from (see launch.go); empty fails the
	// sessions of such pools.
	LauncherDir string
}

// DefaultReadyInterval is the pause between two looks at the ports of a
// game server that has not bound them in its first second (see ready.go):
// one that loads for seconds is looked at a few times a second.
const DefaultReadyInterval = 50 * time.Millisecond

func (c *Config) setDefaults() {
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&c.StopGrace, 10*time.Second)
	def(&c.RestartBackoff, time.Second)
	def(&c.MaxRestartBackoff, 30*time.Second)
	def(&c.StableAfter, 30*time.Second)
	def(&c.ResyncInterval, 15*time.Second)
	def(&c.RetryInterval, time.Second)
	def(&c.MaxRetryInterval, 30*time.Second)
	def(&c.HeartbeatInterval, 5*time.Second)
	def(&c.PortMoveWait, time.Minute)
	def(&c.ReadyInterval, DefaultReadyInterval)
	def(&c.ArtifactRetention, DefaultArtifactRetention)
	if c.ArtifactMaxBytes <= 0 {
		c.ArtifactMaxBytes = DefaultArtifactMaxBytes
	}
	if c.LogMaxBytes <= 0 {
		c.LogMaxBytes = DefaultLogMaxBytes
	}
	if c.CrashLoopLimit <= 0 {
		c.CrashLoopLimit = 5
	}
	if c.MissedHeartbeats <= 0 {
		c.MissedHeartbeats = 3
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.StartConcurrency <= 0 {
		c.StartConcurrency = DefaultStartConcurrency
	}
	c.StartConcurrency = min(c.StartConcurrency, arena.MaxStartConcurrency)
	def(&c.StartTimeout, DefaultStartTimeout)
}

// Agent reconciles one node. Create it with New and call Run.
type Agent struct {
	cfg Config
	rt  Runtime
	cp  ControlPlane
	log *slog.Logger

	mu       sync.Mutex
	sessions map[string]*local
	// finished keeps the final reports of forgotten sessions for a while, to
	// answer a control plane that still lists one (a lost acknowledgement, a
	// stale assignment) without starting anything.
	finished map[string]finishedSession
	// conflicts are the host ports of the sessions that wait for other
	// ones, by session id, for the heartbeats to list.
	conflicts map[string][]int
	wg        sync.WaitGroup
	ctx       context.Context
	images    *images
	// starts runs the containers' starts, StartConcurrency at a time.
	starts *startQueue
	// portsChanged asks for a heartbeat now: a session waits for ports.
	portsChanged chan struct{}
	// connected asks for a heartbeat now, and conns counts the assignment
	// streams: a new one may lead to another control plane (a takeover,
	// another replica), which places nothing on the node until it hears
	// from it, and has none of the port reports the last one took.
	connected chan struct{}
	conns     atomic.Int64
	// launcherOnce installs the launcher the first time a session needs
	// it; launcherErr is why it could not be.
	launcherOnce sync.Once
	launcherErr  error
}

type finishedSession struct {
	report arena.SessionReport
	at     time.Time
}

// finishedRetention is how long a forgotten session's final report is kept.
const finishedRetention = 10 * time.Minute

// local is the agent's view of one session.
type local struct {
	id string

	// Inputs, guarded by pmu: set by the agent's loops, taken by the worker.
	pmu        sync.Mutex
	desired    *arena.Session
	newDesired bool
	observed   *arena.Container // from a listing, for adoption
	exits      []arena.ContainerExit
	dirty      bool
	working    bool
	// abortWait, set while a start waits for the session's image, ends
	// that wait: a stop must not wait for a pull.
	abortWait context.CancelFunc
	// bound are the host ports of the session's container while it has
	// one: the heartbeats leave them out of what others hold.
	bound []int

	// Worker state: touched only by the single worker.
	containerID  string
	running      bool
	runningSince time.Time
	// ready tells that the game server of the running container is ready
	// for players (see ready.go), since readyAt. readyBy is when its wait
	// for it ends. firstReady is when it was first ready, a crash and
	// restart since or not: the session is billed from then.
	ready      bool
	readyAt    time.Time
	readyBy    time.Time
	firstReady time.Time
	crashes    int
	restarts   int
	restartAt  time.Time
	artifacts  []string // paths to keep when the session stops
	// conflict is set while the session waits for other host ports.
	conflict *portConflict
	// startBy is the deadline of the session's start, set when the agent
	// first goes to start it.
	startBy time.Time
	// launched tells that the launcher of the session's container, of a
	// warm pool in launch mode, was handed the claim.
	launched bool
	// final is the stop report; acked once the control plane has taken it.
	final *arena.SessionReport
	acked bool
}

// New returns an agent for cfg.Node.
func New(cfg Config) *Agent {
	cfg.setDefaults()
	log := cfg.Logger.With("node", cfg.Node.ID)
	return &Agent{
		cfg: cfg, rt: cfg.Runtime, cp: cfg.ControlPlane, sessions: map[string]*local{}, finished: map[string]finishedSession{},
		conflicts: map[string][]int{}, portsChanged: make(chan struct{}, 1), connected: make(chan struct{}, 1),
		log: log, starts: newStartQueue(cfg.StartConcurrency),
		images: newImages(cfg.Runtime, log, cfg.RetryInterval, cfg.MaxRetryInterval, cfg.ResyncInterval, cfg.StateDir),
	}
}

// Run reconciles until ctx ends, reconnecting to the control plane and the
// runtime's event stream whenever either breaks. It waits for running
// workers before returning; containers keep running.
func (a *Agent) Run(ctx context.Context) error {
	a.ctx = ctx
	defer a.wg.Wait()
	// Heartbeats run for the agent's whole life, apart from the streams:
	// waiting to reconnect must not make the node look dead.
	silent := make(chan error, 1)
	a.wg.Add(1)
	go func() {
		defer a.wg.Done()
		a.heartbeats(ctx, silent)
	}()
	a.wg.Add(1)
	go func() {
		defer a.wg.Done()
		a.images.run(ctx, &a.wg)
	}()
	backoff := a.cfg.RetryInterval
	for {
		began := time.Now()
		err := a.session(ctx, silent)
		if ctx.Err() != nil {
			return nil
		}
		if time.Since(began) > a.cfg.MaxRetryInterval {
			backoff = a.cfg.RetryInterval // it was a working connection: start over
		}
		// Jitter keeps a fleet of agents from reconnecting in lockstep after
		// the control plane restarts.
		wait := backoff/2 + rand.N(backoff/2+1)
		a.log.Warn("agent connection lost; retrying", "err", err, "in", wait)
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(wait):
		}
		backoff = min(2*backoff, a.cfg.MaxRetryInterval)
	}
}

// maxBeatTimeout bounds one heartbeat's call.
const maxBeatTimeout = 3 * time.Second

// heartbeats beats until ctx ends. After MissedHeartbeats failures in a row
// it tells the current connection, through silent, to start over: a
// connection can hang without failing, as behind a network partition.
func (a *Agent) heartbeats(ctx context.Context, silent chan<- error) {
	t := time.NewTicker(a.cfg.HeartbeatInterval)
	defer t.Stop()
	// A beat may take longer than the interval on a busy machine; only
	// several failed in a row mean the control plane cannot hear us. But
	// one that hangs (a frozen replica) is given up within a few seconds,
	// whatever the interval, so that the client moves on to a replica that
	// answers.
	timeout := max(min(a.cfg.HeartbeatInterval, maxBeatTimeout), time.Second)
	missed := 0
	var ports portReport
	for {
		if conn := a.conns.Load(); conn != ports.conn {
			ports.ackedOK, ports.conn = false, conn
		}
		starts := a.StartQueue()
		hb := arena.Heartbeat{NodeID: a.cfg.Node.ID, Images: a.images.report(), Ports: a.portReport(&ports), Starts: &starts}
		beatCtx, cancel := context.WithTimeout(ctx, timeout)
		err := a.cp.Heartbeat(beatCtx, hb)
		cancel()
		ports.delivered(hb.Ports, err == nil)
		switch {
		case ctx.Err() != nil:
			return
		case err != nil:
			missed++
			a.log.Warn("heartbeat failed", "err", err, "missed", missed)
			if missed >= a.cfg.MissedHeartbeats {
				missed = 0
				select {
				case silent <- err:
				default:
				}
			}
		default:
			missed = 0
		}
		// After a failure the client has moved on to another replica, if
		// it has any: beat again soon, since a control plane that has just
		// taken the lead places nothing on the node until it hears from it.
		var soon <-chan time.Time
		if err != nil {
			soon = time.After(min(a.cfg.RetryInterval, a.cfg.HeartbeatInterval))
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-soon:
		case <-a.images.changed:
			// An image's state changed: say so now, so that placement and
			// GET /tag learn of a pulled image without waiting a beat.
		case <-a.portsChanged:
			// A session waits for other ports: ask for them now.
		case <-a.starts.measured:
			// The first start ended: placement learns the node's pace now
			// rather than guess it for a beat.
		case <-a.connected:
		}
	}
}

// StartQueue returns how the agent keeps up with starting containers: what
// its heartbeats tell the control plane.
func (a *Agent) StartQueue() arena.StartQueue {
	return a.starts.report(a.cfg.StartTimeout)
}

// session is one connection's life: exits first, so that no exit after the
// first listing can be missed, then assignments.
func (a *Agent) session(ctx context.Context, silent <-chan error) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	// A silence noticed between connections is old news.
	select {
	case <-silent:
	default:
	}
	exits, err := a.rt.Exits(ctx, a.cfg.Node.ID)
	if err != nil {
		return err
	}
	assignments, err := a.cp.Assignments(ctx, a.cfg.Node.ID)
	if err != nil {
		return err
	}
	a.conns.Add(1)
	select {
	case a.connected <- struct{}{}:
	default:
	}
	resync := time.NewTicker(a.cfg.ResyncInterval)
	defer resync.Stop()
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case err := <-silent:
			return err
		case as, ok := <-assignments:
			if !ok {
				return arena.Errorf(arena.EUNAVAILABLE, "assignment stream ended")
			}
			if err := a.assign(ctx, as); err != nil {
				return err
			}
		case ex, ok := <-exits:
			if !ok {
				return arena.Errorf(arena.EUNAVAILABLE, "runtime event stream ended")
			}
			a.exited(ex)
		case <-resync.C:
			a.pruneFinished()
			a.pruneArtifacts()
			if err := a.resync(ctx); err != nil {
				a.log.Warn("resync failed", "err", err)
			}
		}
	}
}

func (a *Agent) assign(ctx context.Context, as arena.Assignment) error {
	for _, req := range as.LogRequests {
		a.wg.Add(1)
		go func() {
			defer a.wg.Done()
			a.sendLogs(req)
		}()
	}
	if as.Full {
		a.images.want(as.Images)
	}
	if !as.Full {
		for _, d := range as.Sessions {
			l := a.local(d.ID, true)
			l.pmu.Lock()
			l.setDesired(d)
			l.pmu.Unlock()
			a.kick(l)
		}
		return nil
	}
	containers, err := a.list(ctx)
	if err != nil {
		return err
	}
	bySession := map[string]arena.Container{}
	for _, c := range containers {
		bySession[c.SessionID] = c
	}
	wanted := map[string]bool{}
	for _, d := range as.Sessions {
		wanted[d.ID] = true
	}
	// Forget and remove what the control plane no longer lists before
	// starting anything: a given-up session's container may hold ports that
	// a new session has been given.
	a.mu.Lock()
	for id, l := range a.sessions {
		l.pmu.Lock()
		idle := !l.working
		l.pmu.Unlock()
		if !wanted[id] && idle {
			delete(a.sessions, id)
		}
	}
	a.mu.Unlock()
	for _, c := range containers {
		if !wanted[c.SessionID] && a.local(c.SessionID, false) == nil {
			a.log.Info("removing leftover container", "container", c.ID, "session", c.SessionID)
			// A session given up while its node was away ends here: what
			// its container wrote is all there is to tell why.
			a.keepLogs(ctx, c.SessionID, c.ID)
			if err := a.rt.Remove(ctx, c.ID); err != nil {
				a.log.Warn("cannot remove leftover container", "container", c.ID, "err", err)
			} else {
				a.removeLaunchDir(c.Name)
			}
		}
	}
	for _, d := range as.Sessions {
		l := a.local(d.ID, true)
		l.pmu.Lock()
		l.setDesired(d)
		if c, ok := bySession[d.ID]; ok {
			l.observed = &c
		}
		l.pmu.Unlock()
		a.kick(l)
	}
	return nil
}

func (a *Agent) exited(ex arena.ContainerExit) {
	l := a.local(ex.SessionID, false)
	if l == nil {
		return
	}
	l.pmu.Lock()
	l.exits = append(l.exits, ex)
	l.pmu.Unlock()
	a.kick(l)
}

// list returns the node's containers of this installation. One labelled for
// another installation is not the agent's to adopt or remove; one without
// the label is from before installations were labelled, and is.
func (a *Agent) list(ctx context.Context) ([]arena.Container, error) {
	containers, err := a.rt.List(ctx, a.cfg.Node.ID)
	if err != nil {
		return nil, err
	}
	mine := containers[:0]
	for _, c := range containers {
		if inst := c.Labels[arena.LabelInstallation]; inst == "" || inst == a.cfg.Installation {
			mine = append(mine, c)
		}
	}
	return mine, nil
}

// resync hands every session the runtime's current view of its container, so
// that an exit whose event was lost is still seen.
func (a *Agent) resync(ctx context.Context) error {
	containers, err := a.list(ctx)
	if err != nil {
		return err
	}
	for _, c := range containers {
		if c.Running {
			continue
		}
		if a.over(c.SessionID) {
			// A session that ended, whose container the engine made after
			// all: a create that finished after its start gave up on it.
			a.log.Info("removing a container of a session that ended", "container", c.ID, "session", c.SessionID)
			if err := a.rt.Remove(ctx, c.ID); err != nil {
				a.log.Warn("cannot remove a container of a session that ended", "container", c.ID, "err", err)
			}
			continue
		}
		a.exited(arena.ContainerExit{ContainerID: c.ID, SessionID: c.SessionID, ExitCode: c.ExitCode, At: c.FinishedAt})
	}
	return nil
}

// over reports whether the session ended and was forgotten: its final
// report taken and its container removed.
func (a *Agent) over(id string) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	_, tracked := a.sessions[id]
	_, ended := a.finished[id]
	return ended && !tracked
}

// setDesired takes d as the state the control plane wants; a stop ends a
// start's wait for the image. l.pmu must be held.
func (l *local) setDesired(d *arena.Session) {
	l.desired, l.newDesired = d, true
	if l.abortWait != nil && stopping(d) {
		l.abortWait()
	}
}

func stopping(d *arena.Session) bool {
	return d.State == arena.SessionStopping || d.State == arena.SessionStopped
}

// imageWait returns the context a start waits for the session's image in:
// it ends with ctx or when a stop of the session arrives, already arrived
// included. Call the returned function when the wait is over.
func (l *local) imageWait(ctx context.Context) (context.Context, func()) {
	wait, cancel := context.WithCancel(ctx)
	l.pmu.Lock()
	l.abortWait = cancel
	if l.newDesired && stopping(l.desired) {
		cancel()
	}
	l.pmu.Unlock()
	return wait, func() {
		l.pmu.Lock()
		l.abortWait = nil
		l.pmu.Unlock()
		cancel()
	}
}

func (a *Agent) local(id string, create bool) *local {
	a.mu.Lock()
	defer a.mu.Unlock()
	l, ok := a.sessions[id]
	if !ok && create {
		l = &local{id: id}
		if f, ok := a.finished[id]; ok {
			// Known to be over: only its report may need sending again.
			l.final = &f.report
			delete(a.finished, id)
		}
		a.sessions[id] = l
	}
	return l
}

// forget drops a finished session whose report the control plane has taken
// and whose container is gone, keeping its report for a while.
func (a *Agent) forget(l *local) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.sessions[l.id] == l {
		delete(a.sessions, l.id)
	}
	a.finished[l.id] = finishedSession{report: *l.final, at: time.Now()}
}

// pruneFinished drops the reports of sessions forgotten long ago.
func (a *Agent) pruneFinished() {
	a.mu.Lock()
	defer a.mu.Unlock()
	for id, f := range a.finished {
		if time.Since(f.at) > finishedRetention {
			delete(a.finished, id)
		}
	}
}

// kick makes sure a worker will look at l's latest inputs.
func (a *Agent) kick(l *local) {
	l.pmu.Lock()
	l.dirty = true
	if l.working {
		l.pmu.Unlock()
		return
	}
	l.working = true
	l.pmu.Unlock()
	a.wg.Add(1)
	go func() {
		defer a.wg.Done()
		for {
			l.pmu.Lock()
			if !l.dirty || a.ctx.Err() != nil {
				l.working = false
				l.pmu.Unlock()
				return
			}
			l.dirty = false
			d, fresh, obs, exits := l.desired, l.newDesired, l.observed, l.exits
			l.newDesired, l.observed, l.exits = false, nil, nil
			l.pmu.Unlock()
			if d != nil {
				a.reconcile(l, d, fresh, obs, exits)
			}
		}
	}()
}

// kickAfter looks at l again after d, as for a backoff or a retry.
func (a *Agent) kickAfter(l *local, d time.Duration) {
	a.wg.Add(1)
	go func() {
		defer a.wg.Done()
		select {
		case <-time.After(d):
			a.kick(l)
		case <-a.ctx.Done():
		}
	}()
}
