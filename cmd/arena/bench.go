package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	nethttp "net/http"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"text/tabwriter"
	"time"

	"github.com/arena-hq/arena"
	"github.com/arena-hq/arena/agent"
	"github.com/arena-hq/arena/client"
	"github.com/arena-hq/arena/fleet"
	"github.com/arena-hq/arena/http"
	"github.com/arena-hq/arena/scheduler"
	"github.com/arena-hq/arena/session"
	"github.com/arena-hq/arena/sim"
	"github.com/arena-hq/arena/sqlite"
	"github.com/arena-hq/arena/tenant"
)

type benchOptions struct {
	target, token, location, image string
	serve                          string
	// store and replicas run the in-process control plane as replicas on
	// PostgreSQL; targets are then every replica's URL, taken in turn.
	store    string
	replicas int
	// reads are the numbers of clients of the GET /session runs.
	reads           []int
	targets         []string
	nodes, sessions int
	concurrency     []int
	rates           []int
	duration        time.Duration
	startups        int
	// warm and warmBurst measure claims from warm pools (benchwarm.go).
	warm, warmBurst int
	// floorImage is the image of the engine's own starts next to
	// --startups: the one arena dev runs.
	floorImage string
}

func runBench(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var o benchOptions
	var conc, rates, parallel, queueConc string
	var starts startBenchOptions
	var startsMode, scaleSim bool
	var simBuffers string
	var bootDelay time.Duration
	fs := newFlagSet("arena bench", stdout, "")
	fs.BoolVar(&startsMode, "starts", false, "measure container starts on the local Docker Engine instead: the engine's own create and start (the floor) and Arena's, against --parallel, then a --burst through the agent's start queue")
	fs.BoolVar(&scaleSim, "scale-sim", false, "replay a day of demand against simulated metal and a simulated cloud provider with Arena's scaler, in accelerated time, once per --sim-buffer")
	fs.StringVar(&simBuffers, "sim-buffer", "0,100,300", "with --scale-sim: comma-separated buffers, in sessions, to replay the day with")
	fs.DurationVar(&bootDelay, "boot-delay", time.Minute, "with --scale-sim: how long after its order a simulated machine joins")
	fs.StringVar(&parallel, "parallel", "1,2,4,8,16", "with --starts: comma-separated numbers of starts at once")
	fs.IntVar(&starts.count, "count", 32, "with --starts: containers started at each parallelism (at least the parallelism)")
	fs.IntVar(&starts.burst, "burst", 64, "with --starts: sessions handed to the agent's start queue at once; 0 for none")
	fs.StringVar(&queueConc, "queue-concurrency", strconv.Itoa(agent.DefaultStartConcurrency), "with --starts: comma-separated start concurrencies of the agent to run the burst at")
	fs.StringVar(&o.target, "target", "", "URL of a running Arena to measure; empty runs an in-process control plane on SQLite with simulated nodes")
	fs.StringVar(&o.token, "token", os.Getenv("ARENA_TOKEN"), "API token for --target (env ARENA_TOKEN)")
	fs.StringVar(&o.location, "location", "local", "location or region of the sessions (the simulated nodes' region is local)")
	fs.StringVar(&o.image, "image", "echo", "application of the sessions")
	fs.IntVar(&o.nodes, "nodes", 10, "simulated nodes (without --target), in one region over 20 locations and 4 providers")
	fs.IntVar(&o.sessions, "sessions", 0, "live sessions to place before measuring (without --target), as a fleet in use would hold")
	fs.StringVar(&conc, "concurrency", "1,4,16,64", "closed-loop runs: comma-separated numbers of concurrent clients")
	fs.StringVar(&rates, "rate", "250,500,1000", "open-loop runs: comma-separated creates per second")
	fs.DurationVar(&o.duration, "duration", 5*time.Second, "length of each run")
	fs.IntVar(&o.startups, "startups", 0, "with --target: also measure POST to running for this many sessions, one at a time, next to the local engine's own starts of --floor-image")
	fs.IntVar(&o.warm, "warm", 0, "with --target: also measure POST to running for this many sessions claimed from warm pools, one at a time, in modes claim and launch (pools of an application of the bench's own, copied from --image, set through the admin API)")
	fs.IntVar(&o.warmBurst, "warm-burst", 0, "with --warm: also claim this many sessions at once from a full pool of as many")
	fs.StringVar(&o.floorImage, "floor-image", "arena-echo:latest", "with --startups: the image the local engine's own starts run, when it holds it (the demo image arena dev builds)")
	fs.StringVar(&o.serve, "serve", "", "only serve the simulated control plane on this address (for a load generator in another process) and print its URL and token")
	fs.StringVar(&o.store, "store", "", "postgres://… : run the in-process control plane as --replicas replicas on PostgreSQL (in a schema of the run's own), requests spread over them")
	fs.IntVar(&o.replicas, "replicas", 1, "replicas with --store")
	readConc := fs.String("reads", "", "comma-separated client counts of closed-loop GET /session/{id} runs, spread over the replicas as the creates are")
	if err := parseNoArgs(fs, args); err != nil {
		return err
	}
	var err error
	if scaleSim {
		buffers, err := intListZero(simBuffers)
		if err != nil {
			return fmt.Errorf("--sim-buffer: %w", err)
		}
		return runScaleSim(buffers, bootDelay, stdout)
	}
	if startsMode {
		if starts.parallelism, err = intList(parallel); err != nil {
			return fmt.Errorf("--parallel: %w", err)
		}
		if starts.queueConcurrency, err = intList(queueConc); err != nil {
			return fmt.Errorf("--queue-concurrency: %w", err)
		}
		return runStartBench(ctx, starts, stdout, stderr)
	}
	if o.concurrency, err = intList(conc); err != nil {
		return fmt.Errorf("--concurrency: %w", err)
	}
	if o.rates, err = intList(rates); err != nil {
		return fmt.Errorf("--rate: %w", err)
	}
	if o.reads, err = intList(*readConc); err != nil {
		return fmt.Errorf("--reads: %w", err)
	}
	var serverSide *latencies
	external := o.target != ""
	if o.store != "" {
		if external {
			return fmt.Errorf("--store runs replicas in process: it does not go with --target")
		}
		rs, err := startReplicaBench(ctx, o, stderr)
		if err != nil {
			return err
		}
		defer rs.Close()
		o.targets, o.token = rs.urls, rs.token
		fmt.Fprintf(stdout, "in-process control plane: %d replica(s) on PostgreSQL, %d simulated nodes on the leader, HTTP over loopback\n", o.replicas, o.nodes)
	} else if !external {
		if o.startups > 0 || o.warm > 0 {
			return fmt.Errorf("--startups and --warm need --target: simulated sessions start at once")
		}
		unlimited := arena.Resources{MilliCPU: 1 << 40, MemoryMB: 1 << 40}
		st, err := startSimServer(ctx, o.nodes, unlimited, o.serve)
		if err != nil {
			return err
		}
		defer st.Close()
		o.target, o.token, serverSide = st.URL, st.Token, st.Latency
		if err := st.prefill(ctx, o.sessions, stdout); err != nil {
			return err
		}
		if o.serve != "" {
			fmt.Fprintf(stdout, "simulated control plane: %d nodes\n  API:    %s\n  Token:  %s\n", o.nodes, o.target, o.token)
			<-ctx.Done()
			s := serverSide.take()
			fmt.Fprintf(stdout, "server-side POST /session: %d requests, p50 %s, p90 %s, p99 %s, max %s\n",
				len(s.d), ms(s.pct(50)), ms(s.pct(90)), ms(s.pct(99)), ms(s.pct(100)))
			return nil
		}
		fmt.Fprintf(stdout, "in-process control plane: SQLite store, %d simulated nodes, HTTP over loopback\n", o.nodes)
	}
	if len(o.targets) == 0 {
		o.targets = []string{o.target}
	}
	b := &bencher{o: o, keep: external, client: &nethttp.Client{
		Timeout:   30 * time.Second,
		Transport: &nethttp.Transport{MaxIdleConns: 1024, MaxIdleConnsPerHost: 1024},
	}}
	defer b.cleanup(stderr)
	if len(o.concurrency)+len(o.rates)+len(o.reads) == 0 {
		return b.startups(ctx, stdout)
	}
	tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "run\tcreated\tfailed\tcreates/s\tp50\tp90\tp99\tmax\tserver p50\tserver p99\t")
	row := func(name string, r runResult) {
		srv := [2]string{"-", "-"}
		if serverSide != nil {
			s := serverSide.take()
			srv = [2]string{ms(s.pct(50)), ms(s.pct(99))}
		}
		fmt.Fprintf(tw, "%s\t%d\t%d\t%.0f\t%s\t%s\t%s\t%s\t%s\t%s\t\n", name, r.ok, r.failed, float64(r.ok)/r.elapsed.Seconds(),
			ms(r.lat.pct(50)), ms(r.lat.pct(90)), ms(r.lat.pct(99)), ms(r.lat.pct(100)), srv[0], srv[1])
	}
	closed := map[int]float64{}
	for _, c := range o.concurrency {
		serverSide.take()
		r := b.closedLoop(ctx, c)
		closed[c] = float64(r.ok) / r.elapsed.Seconds()
		row(fmt.Sprintf("concurrency %d", c), r)
	}
	for _, r := range o.rates {
		serverSide.take()
		row(fmt.Sprintf("rate %d/s", r), b.openLoop(ctx, r))
	}
	for _, c := range o.reads {
		r, err := b.readLoop(ctx, c)
		if err != nil {
			return err
		}
		fmt.Fprintf(tw, "reads, %d clients\t%d\t%d\t%.0f/s\t%s\t%s\t%s\t%s\t-\t-\t\n", c, r.ok, r.failed, float64(r.ok)/r.elapsed.Seconds(),
			ms(r.lat.pct(50)), ms(r.lat.pct(90)), ms(r.lat.pct(99)), ms(r.lat.pct(100)))
	}
	tw.Flush()
	if !external && len(o.concurrency) > 0 {
		if err := printFloor(ctx, o, closed, stdout); err != nil {
			return err
		}
	}
	return b.startups(ctx, stdout)
}

// startups runs the cold starts and the warm claims asked for.
func (b *bencher) startups(ctx context.Context, stdout io.Writer) error {
	if b.o.startups > 0 {
		if err := b.startup(ctx, stdout); err != nil {
			return err
		}
	}
	if b.o.warm > 0 {
		w, err := newWarmBench(ctx, b.o)
		if err != nil {
			return err
		}
		return w.run(ctx, b.o.warm, b.o.warmBurst, stdout)
	}
	return nil
}

// intListZero is intList that takes 0 too.
func intListZero(s string) ([]int, error) {
	var out []int
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f == "" {
			continue
		}
		n, err := strconv.Atoi(f)
		if err != nil || n < 0 {
			return nil, fmt.Errorf("%q is not a number of at least 0", f)
		}
		out = append(out, n)
	}
	return out, nil
}

func intList(s string) ([]int, error) {
	var out []int
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f == "" {
			continue
		}
		n, err := strconv.Atoi(f)
		if err != nil || n < 1 {
			return nil, fmt.Errorf("%q is not a positive number", f)
		}
		out = append(out, n)
	}
	return out, nil
}

// simServer is a control plane on a temporary SQLite store with simulated
// nodes, serving the Session API on loopback.
type simServer struct {
	URL   string
	Token string
	// Latency records how long the handler took over each POST /session.
	Latency *latencies

	fleet   *fleet.Fleet
	srv     *session.Service
	closers []func()
}

// simApp is the application simulated sessions run: 10 millicores each.
var simApp = arena.Resources{MilliCPU: 10, MemoryMB: 10}

// startSimServer starts nodes simulated nodes of the given capacity (each
// with the full port range) and the API on listen (any loopback port when empty).
func startSimServer(ctx context.Context, nodes int, capacity arena.Resources, listen string) (st *simServer, err error) {
	return startSimServerPriced(ctx, nodes, capacity, listen, nil, "")
}

// startSimServerPriced is startSimServer with usage priced at rates, in
// currency (the API's default when empty).
func startSimServerPriced(ctx context.Context, nodes int, capacity arena.Resources, listen string, rates []arena.Rate, currency string) (st *simServer, err error) {
	st = &simServer{Latency: &latencies{}}
	defer undoOnError(&err, st.Close)
	dir, err := os.MkdirTemp("", "arena-bench-")
	if err != nil {
		return nil, err
	}
	st.closers = append(st.closers, func() { os.RemoveAll(dir) })
	store, err := sqlite.Open(ctx, filepath.Join(dir, "arena.db"))
	if err != nil {
		return nil, err
	}
	st.closers = append(st.closers, func() { store.Close() })
	const org = "bench"
	st.Token = arena.NewTokenSecret()
	if err := store.CreateOrganization(ctx, &arena.Organization{ID: org, Name: org, Environment: arena.EnvProduction, CreatedAt: time.Now()}); err != nil {
		return nil, err
	}
	if err := store.CreateToken(ctx, &arena.Token{ID: "bench", OrgID: org, Name: "bench", Hash: arena.HashToken(st.Token), CreatedAt: time.Now(), Scopes: []string{arena.ScopeAdmin, arena.ScopeOperator},
		// A load generator must meet the server, not the rate limit.
		RateLimit: 1e6, RateBurst: 1e6}); err != nil {
		return nil, err
	}
	app := &arena.Application{
		OrgID: org, Name: "echo", Repository: "arena-echo", Tags: []arena.Tag{{Name: "latest", Priority: 1}},
		Ports:   []arena.PortSpec{{Container: 7777, Protocol: arena.TCP}, {Container: 7777, Protocol: arena.UDP}},
		Network: arena.NetworkBridge, Resources: simApp,
	}
	catalog := tenant.NewStaticCatalog([]*arena.Application{app})
	fl := fleet.New(fleet.Config{Store: store, Catalog: catalog, Scheduler: scheduler.New(scheduler.Spread)})
	srv := session.New(session.Config{Store: store, Catalog: catalog, Fleet: fl, Rates: rates})
	tenants := tenant.New(store, fl.Placer(), nil, nil)
	if err := fl.Open(ctx); err != nil {
		return nil, err
	}
	st.closers = append(st.closers, fl.Close)
	if err := srv.Open(ctx); err != nil {
		return nil, err
	}
	st.closers = append(st.closers, srv.Close)
	st.fleet, st.srv = fl, srv
	rt := sim.New()
	agentCtx, cancelAgents := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	st.closers = append(st.closers, func() {
		cancelAgents()
		wg.Wait()
	})
	for i := 0; i < nodes; i++ {
		n := arena.Node{
			ID: fmt.Sprintf("sim-%d", i), Region: "local", Location: fmt.Sprintf("local-%d", i%20), Provider: fmt.Sprintf("p%d", i%4),
			Class: arena.ClassMetal, PublicIP: "127.0.0.1", Capacity: capacity, PortMin: 1024, PortMax: 65535,
		}
		if err := fl.RegisterNode(ctx, n); err != nil {
			return nil, err
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			_ = agent.New(agent.Config{Node: n, ControlPlane: srv.Agents(), Runtime: rt}).Run(agentCtx)
		}()
	}
	h := http.NewHandler(srv, tenants, fl, slog.New(slog.DiscardHandler), http.WithTenants(tenants),
		http.WithApplications(tenant.NewApplications(catalog, nil, nil)), http.WithCurrency(currency))
	timed := nethttp.HandlerFunc(func(w nethttp.ResponseWriter, r *nethttp.Request) {
		start := time.Now()
		h.ServeHTTP(w, r)
		if r.Method == nethttp.MethodPost && r.URL.Path == "/session" {
			st.Latency.add(time.Since(start))
		}
	})
	if listen == "" {
		listen = "127.0.0.1:0"
	}
	ln, err := net.Listen("tcp", listen)
	if err != nil {
		return nil, err
	}
	hs := http.NewServer(timed, http.ServerConfig{})
	go func() { _ = hs.Serve(ln) }()
	st.closers = append(st.closers, func() { _ = hs.Close() })
	st.URL = "http://" + ln.Addr().String()
	return st, nil
}

// prefill places n sessions through the control plane, untimed, then prints
// the heap in use: the control plane's with the simulated nodes'.
func (st *simServer) prefill(ctx context.Context, n int, stdout io.Writer) error {
	if n <= 0 {
		return nil
	}
	start := time.Now()
	var (
		wg    sync.WaitGroup
		next  atomic.Int64
		first error
		once  sync.Once
	)
	for w := 0; w < 8; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for next.Add(1) <= int64(n) && ctx.Err() == nil {
				if _, err := st.srv.CreateSession(ctx, "bench", arena.SessionRequest{Location: "local", Image: "echo"}); err != nil {
					once.Do(func() { first = err })
					return
				}
			}
		}()
	}
	wg.Wait()
	if first != nil {
		return fmt.Errorf("placing the live sessions: %w", first)
	}
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	fmt.Fprintf(stdout, "%d live sessions placed in %s; heap in use %d MiB (control plane, store cache and simulated nodes)\n",
		n, time.Since(start).Round(time.Millisecond), m.HeapInuse>>20)
	return nil
}

// Close stops everything startSimServer started, in reverse order.
func (st *simServer) Close() {
	for i := len(st.closers) - 1; i >= 0; i-- {
		st.closers[i]()
	}
	st.closers = nil
}

type bencher struct {
	o      benchOptions
	client *nethttp.Client
	// keep collects the ids of created sessions to delete at the end, when
	// they run on a real Arena.
	keep    bool
	mu      sync.Mutex
	created []string
	// turn picks the next of several targets.
	turn atomic.Int64
}

type runResult struct {
	ok, failed int
	elapsed    time.Duration
	lat        *latencies
}

// create posts one session and returns its id.
func (b *bencher) create(ctx context.Context) (string, error) {
	body, _ := json.Marshal(map[string]any{"location": b.o.location, "image": b.o.image})
	target := b.o.targets[int(b.turn.Add(1))%len(b.o.targets)]
	req, err := nethttp.NewRequestWithContext(ctx, nethttp.MethodPost, target+"/session", bytes.NewReader(body))
	if err != nil {
		return "", err
	}
	req.Header.Set("Authorization", "Bearer "+b.o.token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := b.client.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != nethttp.StatusCreated {
		return "", fmt.Errorf("POST /session: %s: %s", resp.Status, data)
	}
	var out struct {
		ID string `json:"id"`
	}
	if err := json.Unmarshal(data, &out); err != nil {
		return "", err
	}
	if b.keep {
		b.mu.Lock()
		b.created = append(b.created, out.ID)
		b.mu.Unlock()
	}
	return out.ID, nil
}

// closedLoop runs c clients that each create sessions back to back.
func (b *bencher) closedLoop(ctx context.Context, c int) runResult {
	return b.backToBack(ctx, c, func(ctx context.Context, _ int) error {
		_, err := b.create(ctx)
		return err
	})
}

// backToBack runs op from c clients, each sending its next as soon as the
// last was answered, for the run's duration; op's second argument counts
// the client's calls, from the client's number.
func (b *bencher) backToBack(ctx context.Context, c int, op func(ctx context.Context, n int) error) runResult {
	ctx, cancel := context.WithTimeout(ctx, b.o.duration)
	defer cancel()
	res := runResult{lat: &latencies{}}
	var mu sync.Mutex
	var wg sync.WaitGroup
	start := time.Now()
	for w := range c {
		wg.Go(func() {
			for n := w; ctx.Err() == nil; n++ {
				t := time.Now()
				err := op(ctx, n)
				d := time.Since(t)
				mu.Lock()
				if err == nil {
					res.ok++
					res.lat.add(d)
				} else if ctx.Err() == nil {
					res.failed++
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	res.elapsed = time.Since(start)
	return res
}

// readLoop creates a hundred sessions, then reads them back with c
// clients sending GET /session/{id} back to back, spread over the targets,
// as polling matchmakers do.
func (b *bencher) readLoop(ctx context.Context, c int) (runResult, error) {
	var ids []string
	for range 100 {
		id, err := b.create(ctx)
		if err != nil {
			return runResult{}, err
		}
		ids = append(ids, id)
	}
	return b.backToBack(ctx, c, func(ctx context.Context, n int) error { return b.read(ctx, ids[n%len(ids)]) }), nil
}

// read gets one session from the next target.
func (b *bencher) read(ctx context.Context, id string) error {
	target := b.o.targets[int(b.turn.Add(1))%len(b.o.targets)]
	req, err := nethttp.NewRequestWithContext(ctx, nethttp.MethodGet, target+"/session/"+url.PathEscape(id), nil)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+b.o.token)
	resp, err := b.client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	if resp.StatusCode != nethttp.StatusOK {
		return fmt.Errorf("GET /session/%s: %s", id, resp.Status)
	}
	return nil
}

// openLoop sends creates at a fixed rate whatever the answers' latency, the
// way independent matchmakers do; it shows latency under a given load.
func (b *bencher) openLoop(ctx context.Context, rate int) runResult {
	res := runResult{lat: &latencies{}}
	var mu sync.Mutex
	var wg sync.WaitGroup
	interval := time.Second / time.Duration(rate)
	n := int(b.o.duration / interval)
	start := time.Now()
	for i := 0; i < n && ctx.Err() == nil; i++ {
		if wait := time.Until(start.Add(time.Duration(i) * interval)); wait > 0 {
			time.Sleep(wait) // pacing the load, not synchronising
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			t := time.Now()
			_, err := b.create(ctx)
			d := time.Since(t)
			mu.Lock()
			defer mu.Unlock()
			if err == nil {
				res.ok++
				res.lat.add(d)
			} else {
				res.failed++
			}
		}()
	}
	wg.Wait()
	res.elapsed = time.Since(start)
	return res
}

// cleanup deletes the sessions that load runs created on a real Arena.
func (b *bencher) cleanup(stderr io.Writer) {
	b.mu.Lock()
	ids := b.created
	b.created = nil
	b.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for _, id := range ids {
		if err := b.delete(ctx, id); err != nil {
			fmt.Fprintf(stderr, "cleanup: %v\n", err)
		}
	}
}

func (b *bencher) forget(id string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.created = slices.DeleteFunc(b.created, func(c string) bool { return c == id })
}

// startup measures, one session at a time, how long a real session takes
// from POST /session to the status "running", then deletes it. When a
// Docker Engine answers here and holds floorImage, each session alternates
// with the engine's own create and start of the same container with
// Arena's settings and the wait for its game server to serve: the floor a
// cold start competes against, measured in the same run.
func (b *bencher) startup(ctx context.Context, stdout io.Writer) error {
	lat := &latencies{}
	app := b.application(ctx)
	floor, closeFloor := newStartupFloor(ctx, b.o.floorImage, app)
	defer closeFloor()
	for i := 0; i < b.o.startups; i++ {
		if floor != nil {
			if err := floor.once(ctx); err != nil {
				return fmt.Errorf("the engine's own start: %w", err)
			}
		}
		start := time.Now()
		id, err := b.create(ctx)
		if err != nil {
			return err
		}
		for {
			status, err := b.status(ctx, id)
			if err != nil {
				return err
			}
			if status == "running" {
				break
			}
			if time.Since(start) > time.Minute || status == "exited" || status == "dead" {
				return fmt.Errorf("session %s is %s after %v", id, status, time.Since(start))
			}
			// The polling interval of the measurement, within a token's
			// default rate limit of 100 requests a second: looking more
			// often loads this machine enough to slow what it measures.
			time.Sleep(10 * time.Millisecond)
		}
		lat.add(time.Since(start))
		// One session at a time: each starts on the same, otherwise idle node.
		if err := b.delete(ctx, id); err != nil {
			return err
		}
		b.forget(id)
	}
	fmt.Fprintf(stdout, "POST /session to running, %d sessions: median %s, p90 %s, max %s\n",
		b.o.startups, ms(lat.pct(50)), ms(lat.pct(90)), ms(lat.pct(100)))
	if floor != nil {
		settings := "Arena's settings, the application's resources and limits"
		if app == nil {
			settings = "Arena's settings, 100m reserved, 500m limit: the token cannot read the application's"
		}
		fmt.Fprintf(stdout, "the engine's own create and start of the same container (%s), interleaved: median %s, p90 %s\n",
			settings, ms(floor.started.pct(50)), ms(floor.started.pct(90)))
		fmt.Fprintf(stdout, "  and until its game server serves on its ports: median %s, p90 %s; Arena takes %.2fx that\n",
			ms(floor.served.pct(50)), ms(floor.served.pct(90)), float64(lat.pct(50))/float64(floor.served.pct(50)))
	}
	return nil
}

// application returns the application of the sessions measured, for the
// floor to run its container as theirs; nil when the token cannot read it.
func (b *bencher) application(ctx context.Context) *client.Application {
	c := client.New(b.o.targets[0], b.o.token)
	who, err := c.Admin().WhoAmI(ctx)
	if err != nil {
		return nil
	}
	a, err := c.Admin().GetApplication(ctx, who.Organization.ID, b.o.image)
	if err != nil {
		return nil
	}
	return &a
}

func (b *bencher) status(ctx context.Context, id string) (string, error) {
	req, _ := nethttp.NewRequestWithContext(ctx, nethttp.MethodGet, b.o.target+"/session/"+id, nil)
	req.Header.Set("Authorization", "Bearer "+b.o.token)
	resp, err := b.client.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	var out struct {
		Status string `json:"status"`
	}
	if resp.StatusCode == 420 {
		return "", nil // rate limited: look again at the next poll
	}
	if resp.StatusCode != nethttp.StatusOK {
		return "", fmt.Errorf("GET /session/%s: %s", id, resp.Status)
	}
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		return "", err
	}
	return out.Status, nil
}

func (b *bencher) delete(ctx context.Context, id string) error {
	req, _ := nethttp.NewRequestWithContext(ctx, nethttp.MethodDelete, b.o.target+"/session/"+id, nil)
	req.Header.Set("Authorization", "Bearer "+b.o.token)
	resp, err := b.client.Do(req)
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode != nethttp.StatusNoContent {
		return fmt.Errorf("DELETE /session/%s: %s", id, resp.Status)
	}
	return nil
}

// latencies collects durations; a nil *latencies ignores everything.
type latencies struct {
	mu sync.Mutex
	d  []time.Duration
}

func (l *latencies) add(d time.Duration) {
	if l == nil {
		return
	}
	l.mu.Lock()
	l.d = append(l.d, d)
	l.mu.Unlock()
}

// take returns the durations collected so far and starts afresh.
func (l *latencies) take() *latencies {
	if l == nil {
		return nil
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	out := &latencies{d: l.d}
	l.d = nil
	return out
}

func (l *latencies) pct(p int) time.Duration {
	if l == nil || len(l.d) == 0 {
		return 0
	}
	s := slices.Clone(l.d)
	slices.Sort(s)
	i := (len(s)*p + 99) / 100
	return s[max(0, min(i, len(s))-1)]
}

func ms(d time.Duration) string {
	return fmt.Sprintf("%.2fms", float64(d.Microseconds())/1000)
}

// printFloor measures the store's own floor at each concurrency of the
// closed-loop runs, in the same run, and prints Arena's creates/s beside
// it.
func printFloor(ctx context.Context, o benchOptions, closed map[int]float64, stdout io.Writer) error {
	var (
		floor storeFloor
		err   error
		what  = "SQLite (WAL, one insert a transaction)"
	)
	if o.store != "" {
		floor, err = newPGFloor(ctx, o.store)
		what = "PostgreSQL (pipelined BEGIN, fence FOR SHARE, one insert, COMMIT)"
	} else {
		floor, err = newSQLiteFloor()
	}
	if err != nil {
		return fmt.Errorf("the store's floor: %w", err)
	}
	defer floor.Close()
	fmt.Fprintf(stdout, "\nthe store's floor: %s, same concurrency and duration\n", what)
	tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "clients\tfloor tx/s\tArena creates/s\tratio\t")
	for _, c := range o.concurrency {
		tx, err := floor.run(ctx, c, o.duration)
		if err != nil {
			return fmt.Errorf("the store's floor at %d clients: %w", c, err)
		}
		fmt.Fprintf(tw, "%d\t%.0f\t%.0f\t%.2f\t\n", c, tx, closed[c], closed[c]/tx)
	}
	return tw.Flush()
}
