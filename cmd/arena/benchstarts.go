package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/arena-hq/arena"
	"github.com/arena-hq/arena/agent"
	"github.com/arena-hq/arena/client"
	"github.com/arena-hq/arena/docker"
)

// startBenchOptions are the settings of arena bench --starts.
type startBenchOptions struct {
	// parallelism are the numbers of starts run at once on the engine.
	parallelism []int
	// count is how many containers each level starts, at least its
	// parallelism.
	count int
	// burst is how many sessions arrive at once at the agent's queue, run
	// at each of queueConcurrency.
	burst            int
	queueConcurrency []int
}

// runStartBench measures container starts on the local engine: the
// engine's own create and start of a bare container (the floor), Arena's
// runtime with Arena's container settings, both against parallelism, and a
// burst of sessions through the agent's start queue.
func runStartBench(ctx context.Context, o startBenchOptions, stdout, stderr io.Writer) error {
	rt, err := docker.New()
	if err != nil {
		return err
	}
	defer rt.Close()
	pctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	err = rt.Ping(pctx)
	cancel()
	if err != nil {
		return err
	}
	id := benchID()
	image := "arena-bench/echo:" + id
	exe, err := os.Executable()
	if err != nil {
		return err
	}
	bctx, cancel := context.WithTimeout(ctx, docker.DefaultBuildTimeout)
	err = rt.BuildImage(bctx, image, exe, []string{"/" + filepath.Base(exe), "echo"})
	cancel()
	if err != nil {
		return fmt.Errorf("building the bench image: %w", err)
	}
	defer func() {
		rctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		_ = rt.RemoveImage(rctx, image)
	}()
	engine, _ := rt.Engine(ctx)
	fmt.Fprintf(stdout, "container starts on the local engine (Docker %s, %s storage, %d CPUs), image %s\n",
		engine.Version, engine.Storage, engine.CPUs, image)

	b := &startBench{rt: rt, image: image, node: "bench-" + id, nextPort: 42000}
	defer b.cleanup()
	tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "parallel\tstarts\tengine starts/s\tengine p50\tengine p99\tarena starts/s\tarena p50\tarena p99\t")
	for _, p := range o.parallelism {
		n := max(o.count, p)
		floor, err := b.level(ctx, p, n, b.rawStart)
		if err != nil {
			return err
		}
		own, err := b.level(ctx, p, n, b.arenaStart)
		if err != nil {
			return err
		}
		fmt.Fprintf(tw, "%d\t%d\t%.1f\t%s\t%s\t%.1f\t%s\t%s\t\n", p, n,
			floor.rate(), ms(floor.lat.pct(50)), ms(floor.lat.pct(99)), own.rate(), ms(own.lat.pct(50)), ms(own.lat.pct(99)))
	}
	tw.Flush()

	if o.burst <= 0 {
		return nil
	}
	fmt.Fprintf(stdout, "\na burst of %d sessions at once through the agent's start queue (Arena's runtime, start timeout %s)\n", o.burst, agent.DefaultStartTimeout)
	tw = tabwriter.NewWriter(stdout, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "concurrency\tstarted\tfailed\tstarts/s\tqueue wait p50\tqueue wait p99\tstart p50\tstart p99\tto running p99\t")
	for _, c := range o.queueConcurrency {
		r, err := b.burst(ctx, c, o.burst)
		if err != nil {
			return err
		}
		for _, f := range r.failures {
			fmt.Fprintf(stderr, "concurrency %d: a session failed: %s\n", c, f)
		}
		q := r.queue
		fmt.Fprintf(tw, "%d\t%d\t%d\t%.1f\t%s\t%s\t%s\t%s\t%s\t\n", c, r.started, r.failed, float64(r.started)/r.elapsed.Seconds(),
			ms(q.WaitP50), ms(q.WaitP99), ms(q.LatencyP50), ms(q.LatencyP99), ms(r.running.pct(99)))
	}
	tw.Flush()
	return nil
}

func benchID() string {
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

type startBench struct {
	rt       *docker.Runtime
	image    string
	node     string
	mu       sync.Mutex
	seq      int
	nextPort int
}

type levelResult struct {
	n       int
	elapsed time.Duration
	lat     *latencies
}

func (r levelResult) rate() float64 { return float64(r.n) / r.elapsed.Seconds() }

// level starts n containers with start, p at a time, then removes them.
func (b *startBench) level(ctx context.Context, p, n int, start func(context.Context) (string, error)) (levelResult, error) {
	res := levelResult{n: n, lat: &latencies{}}
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		first error
		ids   []string
		next  = make(chan struct{}, n)
	)
	for range n {
		next <- struct{}{}
	}
	close(next)
	began := time.Now()
	for range p {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range next {
				t := time.Now()
				id, err := start(ctx)
				d := time.Since(t)
				mu.Lock()
				if err != nil && first == nil {
					first = err
				}
				if err == nil {
					ids = append(ids, id)
					res.lat.add(d)
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	res.elapsed = time.Since(began)
	b.remove(ids)
	return res, first
}

// rawStart is the engine's own create and start of a bare container of
// the image: no ports, limits, init or confinement.
func (b *startBench) rawStart(ctx context.Context) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	defer cancel()
	return b.rt.StartBare(ctx, b.name(), b.image, map[string]string{arena.LabelNode: b.node})
}

// arenaStart is Arena's runtime starting a session's container as the
// agent does: published TCP and UDP ports, reservation and limits, init,
// no capabilities, bounded logs.
func (b *startBench) arenaStart(ctx context.Context) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	defer cancel()
	return b.rt.Start(ctx, b.spec())
}

func (b *startBench) name() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.seq++
	return fmt.Sprintf("arena-bench-%s-%d", b.node, b.seq)
}

// spec is a session's container spec with two free host ports.
func (b *startBench) spec() arena.ContainerSpec {
	name := b.name()
	port := b.freePort()
	return arena.ContainerSpec{
		Name: name, Image: b.image,
		Env:    map[string]string{arena.EnvSessionID: name},
		Labels: map[string]string{arena.LabelNode: b.node, arena.LabelSession: name},
		Ports: []arena.Port{
			{Protocol: arena.TCP, Container: 7777, Host: port},
			{Protocol: arena.UDP, Container: 7777, Host: port},
		},
		Resources: arena.Resources{MilliCPU: 100, MemoryMB: 64},
		Limits:    arena.Resources{MilliCPU: 500, MemoryMB: 128},
	}
}

// freePort returns the next port from 42000 up that is free for TCP and
// UDP on the machine now.
func (b *startBench) freePort() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	for ; b.nextPort < 60000; b.nextPort++ {
		p := b.nextPort
		l, err := net.Listen("tcp", ":"+strconv.Itoa(p))
		if err != nil {
			continue
		}
		u, err := net.ListenPacket("udp", ":"+strconv.Itoa(p))
		l.Close()
		if err != nil {
			continue
		}
		u.Close()
		b.nextPort++
		return p
	}
	b.nextPort = 42000
	return b.nextPort
}

// remove removes the containers, untimed.
func (b *startBench) remove(ids []string) {
	var wg sync.WaitGroup
	sem := make(chan struct{}, 4)
	for _, id := range ids {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			_ = b.rt.Remove(ctx, id)
		}()
	}
	wg.Wait()
}

// cleanup removes whatever the bench left of its node's containers.
func (b *startBench) cleanup() {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cs, err := b.rt.List(ctx, b.node)
	if err != nil {
		return
	}
	ids := make([]string, 0, len(cs))
	for _, c := range cs {
		ids = append(ids, c.ID)
	}
	b.remove(ids)
}

type burstResult struct {
	started, failed int
	// elapsed is from the burst to the last session running.
	elapsed  time.Duration
	failures []string
	queue    arena.StartQueue
	// running is each session's time from its assignment to its report
	// that it runs: what the caller waits.
	running *latencies
}

// burst hands an agent of the bench's node n sessions at once and waits
// until each runs or failed, then stops them all.
func (b *startBench) burst(ctx context.Context, concurrency, n int) (burstResult, error) {
	res := burstResult{running: &latencies{}}
	cp := &benchControlPlane{assignments: make(chan arena.Assignment, 4), reports: make(chan arena.SessionReport, 4*n)}
	a := agent.New(agent.Config{
		Node: arena.Node{ID: b.node}, ControlPlane: cp, Runtime: b.rt, StartConcurrency: concurrency,
		// Nothing of the bench's is on the control plane's clock.
		HeartbeatInterval: time.Hour, ResyncInterval: time.Hour,
	})
	actx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- a.Run(actx) }()
	defer func() {
		stop()
		<-done
	}()
	cp.assignments <- arena.Assignment{Full: true}
	sessions := make([]*arena.Session, n)
	for i := range sessions {
		spec := b.spec()
		sessions[i] = &arena.Session{
			ID: spec.Labels[arena.LabelSession], OrgID: "bench", NodeID: b.node, Image: b.image, State: arena.SessionStarted,
			Network: arena.NetworkBridge, Ports: spec.Ports, Env: spec.Env, Resources: spec.Resources, Limits: spec.Limits,
		}
	}
	began := time.Now()
	cp.assignments <- arena.Assignment{Sessions: sessions}
	seen := map[string]bool{}
	timeout := time.NewTimer(agent.DefaultStartTimeout + time.Minute)
	defer timeout.Stop()
	for len(seen) < n {
		select {
		case r := <-cp.reports:
			if seen[r.SessionID] {
				continue
			}
			seen[r.SessionID] = true
			if r.State == arena.SessionRunning {
				res.started++
				res.elapsed = time.Since(began)
				res.running.add(res.elapsed)
			} else {
				res.failed++
				res.failures = append(res.failures, r.Message)
			}
		case <-timeout.C:
			return res, errors.New("the burst's sessions neither ran nor failed in time")
		case <-ctx.Done():
			return res, ctx.Err()
		}
	}
	res.queue = a.StartQueue()
	// Stop them, untimed, and wait for the agent to say each stopped.
	for _, s := range sessions {
		s.State = arena.SessionStopping
		s.StopGrace = time.Second
	}
	cp.assignments <- arena.Assignment{Sessions: sessions}
	stopped := map[string]bool{}
	for len(stopped) < n {
		select {
		case r := <-cp.reports:
			if r.State == arena.SessionStopped {
				stopped[r.SessionID] = true
			}
		case <-timeout.C:
			return res, errors.New("the burst's sessions did not stop in time")
		}
	}
	return res, nil
}

// benchControlPlane hands the agent the bench's assignments and takes its
// reports.
type benchControlPlane struct {
	assignments chan arena.Assignment
	reports     chan arena.SessionReport
}

func (c *benchControlPlane) Assignments(ctx context.Context, nodeID string) (<-chan arena.Assignment, error) {
	return c.assignments, nil
}

func (c *benchControlPlane) Report(ctx context.Context, r arena.SessionReport) error {
	select {
	case c.reports <- r:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (c *benchControlPlane) Heartbeat(ctx context.Context, hb arena.Heartbeat) error { return nil }

func (c *benchControlPlane) PushLogs(ctx context.Context, ch arena.LogChunk) (bool, error) {
	return false, nil
}

// startupFloor is the floor of a cold start: the engine's own create and
// start of a session's container with Arena's settings, then the wait
// until its game server serves on its ports, as readiness waits.
type startupFloor struct {
	*startBench
	started, served *latencies
	// app, when known, is the application of the sessions measured: its
	// container's resources, limits, network and confinement are the
	// floor's too, since a game server starts as fast as its CPU limit
	// lets it.
	app *client.Application
}

// newStartupFloor returns the floor of a cold start on the local engine of
// the sessions of app (nil for Arena's defaults), or nil when no engine
// answers or it lacks image.
func newStartupFloor(ctx context.Context, image string, app *client.Application) (*startupFloor, func()) {
	rt, err := docker.New()
	if err != nil {
		return nil, func() {}
	}
	cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if ok, err := rt.ImageExists(cctx, image); err != nil || !ok {
		rt.Close()
		return nil, func() {}
	}
	b := &startBench{rt: rt, image: image, node: "bench-" + benchID(), nextPort: 42000}
	return &startupFloor{startBench: b, started: &latencies{}, served: &latencies{}, app: app}, func() {
		b.cleanup()
		rt.Close()
	}
}

// once starts one container, times it until started and until served,
// and removes it.
func (f *startupFloor) once(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	defer cancel()
	spec := f.spec()
	if a := f.app; a != nil {
		spec.Resources, spec.Limits, spec.Network = a.Resources, a.Resources, arena.NetworkMode(a.Network)
		if a.Limits != nil {
			spec.Limits = *a.Limits
		}
		spec.Security = arena.ContainerSecurity{User: a.User, ReadOnlyRootFS: a.ReadOnlyRootFilesystem, Tmpfs: a.Tmpfs}
	}
	began := time.Now()
	id, err := f.rt.Start(ctx, spec)
	if err != nil {
		return err
	}
	defer f.remove([]string{id})
	f.started.add(time.Since(began))
	for {
		s, err := f.rt.Serving(ctx, id)
		if err != nil {
			return err
		}
		if len(s.Missing(spec.Network, spec.Ports)) == 0 {
			f.served.add(time.Since(began))
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(time.Millisecond): // the agent's pace of looking just after a start
		}
	}
}
