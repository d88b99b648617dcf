package session_test

import (
	"context"
	"fmt"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/arena-hq/arena"
	"github.com/arena-hq/arena/agent"
	"github.com/arena-hq/arena/fleet"
	"github.com/arena-hq/arena/scheduler"
	"github.com/arena-hq/arena/session"
	"github.com/arena-hq/arena/sim"
	"github.com/arena-hq/arena/sqlite"
	"github.com/arena-hq/arena/tenant"
)

const org = "org-a"

// harness is a control plane on a real SQLite store with one agent on a
// simulated runtime.
type harness struct {
	tb  testing.TB
	cfg testConfig
	// mute drops the agent's heartbeats while its connection stays up, as a
	// paused machine or a slow spell would.
	mute  atomic.Bool
	dir   string
	store *sqlite.Store
	srv   *session.Service
	fleet *fleet.Fleet
	// tenants shares the control plane's store and placement.
	tenants *tenant.Service
	rt      *sim.Runtime
	node    arena.Node
	stop    func() // stops the agent
	// held are the ports sockets on the agent's machine hold.
	heldMu sync.Mutex
	held   []int
}

// setHeld makes ports held on the agent's machine, as other sockets would.
func (h *harness) setHeld(ports ...int) {
	h.heldMu.Lock()
	defer h.heldMu.Unlock()
	h.held = ports
}

func (h *harness) heldPorts(lo, hi int) ([]int, error) {
	h.heldMu.Lock()
	defer h.heldMu.Unlock()
	return append([]int(nil), h.held...), nil
}

func testApps() []*arena.Application {
	return []*arena.Application{{
		OrgID: org, Name: "game", Repository: "game", Tags: []arena.Tag{{Name: "v1", Priority: 1}, {Name: "v2", Priority: 5}},
		Ports:     []arena.PortSpec{{Container: 7777, Protocol: arena.UDP}},
		Network:   arena.NetworkBridge,
		Resources: arena.Resources{MilliCPU: 100, MemoryMB: 100},
		Env:       map[string]string{"MODE": "default", "KEEP": "app"},
	}, {
		OrgID: org, Name: "keeper", Repository: "keeper", Tags: []arena.Tag{{Name: "v1"}},
		Network: arena.NetworkBridge, Resources: arena.Resources{MilliCPU: 100, MemoryMB: 100},
		ArtifactPaths: []string{"/replays", "/var/log/game.log"},
	}, {
		OrgID: org, Name: "hostgame", Repository: "hostgame", Tags: []arena.Tag{{Name: "v1"}},
		Ports:     []arena.PortSpec{{Container: 7777, Protocol: arena.TCP}, {Container: 7778, Protocol: arena.UDP}},
		Network:   arena.NetworkHost,
		Resources: arena.Resources{MilliCPU: 100, MemoryMB: 100},
	}, {
		// An application made through the Gameye API has no tag until one
		// is enabled.
		OrgID: org, Name: "untagged", Repository: "untagged",
		Network: arena.NetworkBridge, Resources: arena.Resources{MilliCPU: 100, MemoryMB: 100},
	}}
}

// testConfig is what a test sets of its harness's control plane: the
// sessions' configuration, and the fleet's. The catalog is the sessions'
// for both.
type testConfig struct {
	session.Config
	Fleet fleet.Config
	// Wrap, when set, is the sessions' view of the store.
	Wrap func(arena.Store) arena.Store
}

// closeServer closes the control plane, sessions then fleet, as a process
// that stops does.
func (h *harness) closeServer() {
	h.srv.Close()
	h.fleet.Close()
}

func newHarness(tb testing.TB, capacity int64, configure ...func(*testConfig)) *harness {
	tb.Helper()
	h := &harness{tb: tb, dir: tb.TempDir(), rt: sim.New()}
	for _, c := range configure {
		c(&h.cfg)
	}
	h.node = arena.Node{
		ID: "n1", Region: "europe", Location: "ams", Provider: "p", Class: arena.ClassMetal, PublicIP: "192.0.2.1",
		Capacity: arena.Resources{MilliCPU: capacity * 100, MemoryMB: capacity * 100}, PortMin: 40000, PortMax: 49999,
	}
	h.openServer()
	h.startAgent()
	tb.Cleanup(func() {
		h.stop()
		h.closeServer()
		h.store.Close()
	})
	return h
}

func (h *harness) openServer() {
	h.tb.Helper()
	ctx := context.Background()
	st, err := sqlite.Open(ctx, filepath.Join(h.dir, "arena.db"))
	if err != nil {
		h.tb.Fatal(err)
	}
	h.store = st
	for _, id := range []string{org, "org-b"} {
		if err := st.CreateOrganization(ctx, &arena.Organization{ID: id, Name: id}); err != nil && arena.ErrorCode(err) != arena.ECONFLICT {
			h.tb.Fatal(err)
		}
	}
	cfg, fcfg := h.cfg.Config, h.cfg.Fleet
	if cfg.Catalog == nil {
		cfg.Catalog = tenant.NewStaticCatalog(testApps())
	}
	fcfg.Store, fcfg.Catalog, fcfg.Scheduler = st, cfg.Catalog, scheduler.New(scheduler.Pack)
	h.fleet = fleet.New(fcfg)
	cfg.Store, cfg.Fleet = st, h.fleet
	if h.cfg.Wrap != nil {
		cfg.Store = h.cfg.Wrap(st)
	}
	h.tenants = tenant.New(st, h.fleet.Placer(), nil, nil)
	if err := h.tenants.LoadQuotas(ctx); err != nil {
		h.tb.Fatal(err)
	}
	h.srv = session.New(cfg)
	if err := h.fleet.Open(ctx); err != nil {
		h.tb.Fatal(err)
	}
	if err := h.srv.Open(ctx); err != nil {
		h.tb.Fatal(err)
	}
	if err := h.fleet.RegisterNode(ctx, h.node); err != nil {
		h.tb.Fatal(err)
	}
}

// restartServer replaces the control plane with a new one on the same store,
// as after a crash of the server process; the agent reconnects to it.
func (h *harness) restartServer() {
	h.tb.Helper()
	h.stop()
	h.closeServer()
	h.store.Close()
	h.openServer()
	h.startAgent()
}

func (h *harness) startAgent() {
	ctx, cancel := context.WithCancel(context.Background())
	a := agent.New(agent.Config{
		Node: h.node, ControlPlane: mutable{h.srv.Agents(), &h.mute}, Runtime: h.rt,
		RestartBackoff: 10 * time.Millisecond, MaxRestartBackoff: 20 * time.Millisecond,
		CrashLoopLimit: 3, StableAfter: time.Minute, RetryInterval: 10 * time.Millisecond,
		ResyncInterval: 50 * time.Millisecond, HeartbeatInterval: 20 * time.Millisecond,
		ArtifactDir: filepath.Join(h.dir, "artifacts"), HeldPorts: h.heldPorts, LauncherDir: filepath.Join(h.dir, "launch"),
	})
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = a.Run(ctx)
	}()
	h.stop = func() {
		cancel()
		<-done
	}
}

// mutable is the control plane as the agent sees it, with heartbeats that
// vanish while mute is set.
type mutable struct {
	*session.Agents
	mute *atomic.Bool
}

func (m mutable) Heartbeat(ctx context.Context, hb arena.Heartbeat) error {
	if m.mute.Load() {
		return nil
	}
	return m.Agents.Heartbeat(ctx, hb)
}

func (h *harness) create(req arena.SessionRequest) *arena.Session {
	h.tb.Helper()
	if req.Image == "" {
		req.Image = "game"
	}
	if req.Location == "" {
		req.Location = "europe"
	}
	s, err := h.srv.CreateSession(context.Background(), org, req)
	if err != nil {
		h.tb.Fatalf("create: %v", err)
	}
	return s
}

// waitState polls until the session reaches state, failing after a deadline.
func (h *harness) waitState(id string, state arena.SessionState) *arena.Session {
	h.tb.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		s, err := h.srv.FindSession(context.Background(), org, id)
		if err != nil {
			h.tb.Fatalf("find %s: %v", id, err)
		}
		if s.State == state {
			return s
		}
		if time.Now().After(deadline) {
			h.tb.Fatalf("session %s is %s, want %s", id, s.State, state)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestLifecycle(t *testing.T) {
	h := newHarness(t, 10)
	ctx := context.Background()
	s := h.create(arena.SessionRequest{ID: "s1", Env: map[string]string{"MODE": "ranked", arena.EnvSessionID: "spoof"}, Labels: map[string]string{"match": "42"}})
	if s.State != arena.SessionStarted || s.Host != "192.0.2.1" || s.Tag != "v2" || s.Image != "game:v2" || len(s.Ports) != 1 {
		t.Fatalf("created session %+v", s)
	}
	h.waitState("s1", arena.SessionRunning)
	spec, ok := h.rt.Spec(arena.SessionKey(org, "s1"))
	if !ok {
		t.Fatal("no container")
	}
	wantEnv := map[string]string{"MODE": "ranked", "KEEP": "app", arena.EnvSessionID: "s1", arena.EnvHost: "192.0.2.1"}
	for k, v := range wantEnv {
		if spec.Env[k] != v {
			t.Errorf("env %s = %q, want %q", k, spec.Env[k], v)
		}
	}
	if spec.Labels[arena.LabelSession] != arena.SessionKey(org, "s1") || spec.Labels[arena.LabelNode] != "n1" || spec.Ports[0] != s.Ports[0] {
		t.Errorf("container spec %+v", spec)
	}
	if err := h.srv.StopSession(ctx, org, "s1"); err != nil {
		t.Fatal(err)
	}
	// Whether or not the container has gone yet, a second stop is a conflict.
	if err := h.srv.StopSession(ctx, org, "s1"); arena.ErrorCode(err) != arena.ECONFLICT {
		t.Fatalf("stop while stopping: %v, want conflict", err)
	}
	stopped := h.waitState("s1", arena.SessionStopped)
	if stopped.StopReason != arena.StopDeleted || stopped.Status() != "exited" || stopped.RunningAt.IsZero() || stopped.StoppedAt.Before(stopped.RunningAt) {
		t.Fatalf("stopped session %+v", stopped)
	}
	if err := h.srv.StopSession(ctx, org, "s1"); arena.ErrorCode(err) != arena.ECONFLICT {
		t.Fatalf("second stop: %v, want conflict", err)
	}
	usage, err := h.store.ListUsage(ctx, org)
	if err != nil || len(usage) != 1 || usage[0].SessionID != arena.SessionKey(org, "s1") || usage[0].Seconds < 1 {
		t.Fatalf("usage %+v, %v", usage, err)
	}
	if cs, _ := h.rt.List(ctx, "n1"); len(cs) != 0 {
		t.Fatalf("containers left: %+v", cs)
	}
	if n := nodeUsage(t, h.fleet); n.Sessions != 0 || n.FreePorts != 10000 {
		t.Fatalf("node still holds resources: %+v", n)
	}
}

func nodeUsage(tb testing.TB, srv *fleet.Fleet) arena.NodeStatus {
	tb.Helper()
	nodes := srv.Nodes()
	if len(nodes) != 1 {
		tb.Fatalf("nodes: %+v", nodes)
	}
	return nodes[0]
}

func TestHostNetworkingEnv(t *testing.T) {
	h := newHarness(t, 10)
	s := h.create(arena.SessionRequest{Image: "hostgame"})
	h.waitState(s.Name, arena.SessionRunning)
	spec, _ := h.rt.Spec(s.ID)
	if spec.Network != arena.NetworkHost {
		t.Fatalf("network %q", spec.Network)
	}
	for _, p := range s.Ports {
		if got := spec.Env[arena.PortEnv(p)]; got != fmt.Sprint(p.Host) {
			t.Errorf("%s = %q, want %d", arena.PortEnv(p), got, p.Host)
		}
	}
	if _, ok := spec.Env["GAMEYE_PORT_TCP_7777"]; !ok {
		t.Errorf("no GAMEYE_PORT_TCP_7777 in %v", spec.Env)
	}
}

func TestProcessExits(t *testing.T) {
	tests := []struct {
		name       string
		restart    bool
		crashes    int
		wantState  arena.SessionState
		wantReason arena.StopReason
		wantStatus string
	}{
		{name: "exit stops the session", crashes: 1, wantState: arena.SessionStopped, wantReason: arena.StopExited, wantStatus: "exited"},
		{name: "restart on crash", restart: true, crashes: 1, wantState: arena.SessionRunning},
		{name: "crash loop gives up", restart: true, crashes: 4, wantState: arena.SessionStopped, wantReason: arena.StopCrashLoop, wantStatus: "dead"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, 10)
			s := h.create(arena.SessionRequest{Restart: tt.restart})
			first := h.waitState(s.Name, arena.SessionRunning)
			for i := 0; i < tt.crashes; i++ {
				waitFor(t, func() bool { return h.rt.Crash(s.ID, 3) == nil })
				if i < tt.crashes-1 || tt.wantState == arena.SessionRunning {
					waitFor(t, func() bool {
						got, _ := h.srv.FindSession(context.Background(), org, s.Name)
						return got.Restarts == i+1
					})
				}
			}
			got := h.waitState(s.Name, tt.wantState)
			if got.StopReason != tt.wantReason {
				t.Errorf("stop reason %q, want %q", got.StopReason, tt.wantReason)
			}
			// A restarted session keeps its crash's exit code: its last.
			if got.ExitCode != 3 || (tt.wantState == arena.SessionStopped && got.Status() != tt.wantStatus) {
				t.Errorf("exit code %d status %s", got.ExitCode, got.Status())
			}
			// Restarts do not restart billing: it runs from the first run.
			if !got.RunningAt.Equal(first.RunningAt) {
				t.Errorf("billing start moved from %v to %v", first.RunningAt, got.RunningAt)
			}
			if tt.wantState == arena.SessionStopped {
				if u := onlyUsage(t, h); !u.Start.Equal(first.RunningAt) || !u.End.Equal(got.StoppedAt) {
					t.Errorf("usage %+v, ran %v to %v", u, first.RunningAt, got.StoppedAt)
				}
			}
		})
	}
}

func waitFor(tb testing.TB, cond func() bool) {
	tb.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			tb.Fatal("condition not met before the deadline")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestTTL(t *testing.T) {
	h := newHarness(t, 10)
	s := h.create(arena.SessionRequest{TTL: time.Second})
	got := h.waitState(s.Name, arena.SessionStopped)
	if got.StopReason != arena.StopTTL {
		t.Fatalf("reason %q", got.StopReason)
	}
	if life := got.StoppedAt.Sub(got.CreatedAt); life < time.Second {
		t.Fatalf("stopped after %v, before its ttl", life)
	}
	// Billing ends when the ttl expires, not when the process is gone.
	u := onlyUsage(t, h)
	if !u.End.Equal(got.StoppingAt) || u.End.Sub(got.CreatedAt) < time.Second || u.Seconds != got.BilledSeconds(got.StoppedAt) {
		t.Fatalf("usage %+v of %+v", u, got)
	}
}

func TestCreateErrors(t *testing.T) {
	h := newHarness(t, 1)
	h.create(arena.SessionRequest{ID: "taken"})
	tests := []struct {
		name string
		org  string
		req  arena.SessionRequest
		want string
	}{
		{"unknown image", org, arena.SessionRequest{Location: "europe", Image: "nope"}, arena.ENOTFOUND},
		{"other organisation's image", "org-b", arena.SessionRequest{Location: "europe", Image: "game"}, arena.ENOTFOUND},
		{"unknown version", org, arena.SessionRequest{Location: "europe", Image: "game", Version: "v9"}, arena.ENOTFOUND},
		{"image without tags", org, arena.SessionRequest{Location: "europe", Image: "untagged"}, arena.ENOTFOUND},
		{"version of an image without tags", org, arena.SessionRequest{Location: "europe", Image: "untagged", Version: "v1"}, arena.ENOTFOUND},
		{"unknown location", org, arena.SessionRequest{Location: "mars", Image: "game"}, arena.ENOTFOUND},
		{"duplicate id", org, arena.SessionRequest{ID: "taken", Location: "europe", Image: "game", Version: "v1"}, arena.ECONFLICT},
		{"no capacity", org, arena.SessionRequest{Location: "ams", Image: "game"}, arena.EUNAVAILABLE},
		{"invalid", org, arena.SessionRequest{Location: "", Image: "game", TTL: -time.Second}, arena.EINVALID},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := h.srv.CreateSession(context.Background(), tt.org, tt.req)
			if got := arena.ErrorCode(err); got != tt.want {
				t.Fatalf("got %v (%s), want %s", err, got, tt.want)
			}
		})
	}
	if n := nodeUsage(t, h.fleet); n.Sessions != 1 {
		t.Fatalf("failed creates left reservations: %+v", n)
	}
}

// TestRetriedCreate: a create retried with the same id and body (its first
// answer lost) gets the same session; a different body is a conflict.
func TestRetriedCreate(t *testing.T) {
	h := newHarness(t, 10)
	ctx := context.Background()
	req := arena.SessionRequest{ID: "retry", Location: "europe", Image: "game", Env: map[string]string{"A": "1"}, Labels: map[string]string{}}
	first := h.create(req)
	again, err := h.srv.CreateSession(ctx, org, req)
	if err != nil || again.ID != first.ID || again.Ports[0] != first.Ports[0] || again.NodeID != first.NodeID {
		t.Fatalf("retry: %+v, %v", again, err)
	}
	req.Labels = nil // absent and empty mean the same
	if _, err := h.srv.CreateSession(ctx, org, req); err != nil {
		t.Fatalf("retry with an absent instead of an empty map: %v", err)
	}
	req.Env["A"] = "2"
	if _, err := h.srv.CreateSession(ctx, org, req); arena.ErrorCode(err) != arena.ECONFLICT {
		t.Fatalf("different body with the same id: %v", err)
	}
	if n := nodeUsage(t, h.fleet); n.Sessions != 1 {
		t.Fatalf("retries reserved more: %+v", n)
	}
	// Once the session stops, its ports may serve another session: a retry
	// must not send players there, so the id is simply taken.
	h.waitState("retry", arena.SessionRunning)
	if err := h.srv.StopSession(ctx, org, "retry"); err != nil {
		t.Fatal(err)
	}
	req.Env["A"] = "1"
	if _, err := h.srv.CreateSession(ctx, org, req); arena.ErrorCode(err) != arena.ECONFLICT {
		t.Fatalf("retry while stopping: %v", err)
	}
	h.waitState("retry", arena.SessionStopped)
	if _, err := h.srv.CreateSession(ctx, org, req); arena.ErrorCode(err) != arena.ECONFLICT {
		t.Fatalf("retry after stop: %v", err)
	}
}

// TestConcurrentRetries sends one create many times at once, as an impatient
// client might: all get the one session.
func TestConcurrentRetries(t *testing.T) {
	h := newHarness(t, 10)
	req := arena.SessionRequest{ID: "burst", Location: "europe", Image: "game"}
	var wg sync.WaitGroup
	errs := make(chan error, 20)
	for i := 0; i < 20; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s, err := h.srv.CreateSession(context.Background(), org, req)
			if err == nil && s.Name != "burst" {
				err = fmt.Errorf("got session %s", s.Name)
			}
			errs <- err
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
	if n := nodeUsage(t, h.fleet); n.Sessions != 1 {
		t.Fatalf("%d reservations for one session", n.Sessions)
	}
}

func TestTenantIsolation(t *testing.T) {
	h := newHarness(t, 10)
	s := h.create(arena.SessionRequest{})
	ctx := context.Background()
	if _, err := h.srv.FindSession(ctx, "org-b", s.Name); arena.ErrorCode(err) != arena.ENOTFOUND {
		t.Errorf("find: %v", err)
	}
	if err := h.srv.StopSession(ctx, "org-b", s.Name); arena.ErrorCode(err) != arena.ENOTFOUND {
		t.Errorf("stop: %v", err)
	}
	for _, all := range []bool{false, true} {
		list, err := h.srv.ListSessions(ctx, "org-b", arena.SessionFilter{All: all})
		if err != nil || len(list) != 0 {
			t.Errorf("list all=%v: %v %v", all, list, err)
		}
	}
}

func TestListFilters(t *testing.T) {
	h := newHarness(t, 10)
	ctx := context.Background()
	a := h.create(arena.SessionRequest{ID: "a", Labels: map[string]string{"mode": "ranked"}})
	h.create(arena.SessionRequest{ID: "b", Version: "v1", Labels: map[string]string{"mode": "casual"}})
	h.create(arena.SessionRequest{ID: "c"})
	h.waitState("c", arena.SessionRunning)
	if err := h.srv.StopSession(ctx, org, "c"); err != nil {
		t.Fatal(err)
	}
	h.waitState("c", arena.SessionStopped)
	tests := []struct {
		name string
		f    arena.SessionFilter
		want []string
	}{
		{"active", arena.SessionFilter{}, []string{"a", "b"}},
		{"all", arena.SessionFilter{All: true}, []string{"a", "b", "c"}},
		{"label", arena.SessionFilter{Labels: map[string]string{"mode": "ranked"}}, []string{"a"}},
		{"tag", arena.SessionFilter{Tag: "v1"}, []string{"b"}},
		{"location", arena.SessionFilter{Location: "ams"}, []string{"a", "b"}},
		{"region", arena.SessionFilter{Location: "europe"}, []string{"a", "b"}},
		{"other location", arena.SessionFilter{Location: "fra"}, nil},
		{"host", arena.SessionFilter{Host: a.Host}, []string{"a", "b"}},
		{"image", arena.SessionFilter{Image: "hostgame"}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			list, err := h.srv.ListSessions(ctx, org, tt.f)
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, s := range list {
				got = append(got, s.Name)
			}
			if fmt.Sprint(got) != fmt.Sprint(tt.want) {
				t.Fatalf("got %v, want %v", got, tt.want)
			}
		})
	}
}

// TestConcurrentCreates races 200 creates for room for 100 through the whole
// control plane and its store: exactly 100 sessions hold the room, with a
// warm pool or without, and no port is booked twice.
func TestConcurrentCreates(t *testing.T) {
	tests := []struct {
		name string
		pool int
	}{
		{"cold", 0},
		// The pool's 20 are claimed; what replenishes it, placed while
		// the creates race and never ready, holds the room it took.
		{"a warm pool of 20", 20},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var configure []func(*testConfig)
			if tt.pool > 0 {
				configure = append(configure, withPools(arena.WarmPool{Location: "ams", Size: tt.pool}))
			}
			h := newHarness(t, 100, configure...)
			waitFor(t, func() bool { return h.pooled(t) == tt.pool })
			h.rt.SetDeafNew(true)
			var (
				wg    sync.WaitGroup
				mu    sync.Mutex
				codes = map[string]int{}
				warm  = 0
				ports = map[int]string{}
			)
			for range 200 {
				wg.Go(func() {
					s, err := h.srv.CreateSession(context.Background(), org, arena.SessionRequest{Location: "ams", Image: "game"})
					mu.Lock()
					defer mu.Unlock()
					codes[arena.ErrorCode(err)]++
					if err != nil {
						return
					}
					if !s.ClaimedAt.IsZero() {
						warm++
					}
					for _, p := range s.Ports {
						if other, dup := ports[p.Host]; dup {
							t.Errorf("port %d double-booked by %s and %s", p.Host, other, s.ID)
						}
						ports[p.Host] = s.ID
					}
				})
			}
			wg.Wait()
			active, err := h.store.ListSessions(context.Background(), arena.SessionQuery{OrgID: org, ActiveOnly: true})
			if err != nil {
				t.Fatal(err)
			}
			pooled := countPooled(active, false)
			created := codes[""]
			if created+pooled != 100 || codes[arena.EUNAVAILABLE] != 200-created || warm != tt.pool || len(active) != 100 {
				t.Fatalf("outcomes %v, %d of them warm, %d active of which %d pooled; want 100 holding the room, %d warm",
					codes, warm, len(active), pooled, tt.pool)
			}
			list, _ := h.srv.ListSessions(context.Background(), org, arena.SessionFilter{})
			if len(list) != created {
				t.Fatalf("%d sessions listed, %d created", len(list), created)
			}
		})
	}
}

func TestServerRestartKeepsSessions(t *testing.T) {
	h := newHarness(t, 2)
	ctx := context.Background()
	s1 := h.create(arena.SessionRequest{ID: "keep"})
	h.waitState("keep", arena.SessionRunning)
	h.create(arena.SessionRequest{ID: "ttl", TTL: 2 * time.Second})
	h.restartServer()
	got := h.waitState("keep", arena.SessionRunning)
	if got.Ports[0] != s1.Ports[0] || got.RunningAt.IsZero() {
		t.Fatalf("after restart: %+v", got)
	}
	// The node is full again: the restored reservations count.
	if _, err := h.srv.CreateSession(ctx, org, arena.SessionRequest{Location: "europe", Image: "game"}); arena.ErrorCode(err) != arena.EUNAVAILABLE {
		t.Fatalf("create on a full node after restart: %v", err)
	}
	// The TTL timer was re-armed from the store.
	if got := h.waitState("ttl", arena.SessionStopped); got.StopReason != arena.StopTTL {
		t.Fatalf("ttl session: %+v", got)
	}
	if cs, _ := h.rt.List(ctx, "n1"); len(cs) != 1 {
		t.Fatalf("containers after restart: %d, want 1", len(cs))
	}
	// Billing runs through the restart: from the first run to the stop.
	if err := h.srv.StopSession(ctx, org, "keep"); err != nil {
		t.Fatal(err)
	}
	stopped := h.waitState("keep", arena.SessionStopped)
	usage, err := h.store.ListUsage(ctx, org)
	if err != nil {
		t.Fatal(err)
	}
	for _, u := range usage {
		if u.SessionID == arena.SessionKey(org, "keep") && (!u.Start.Equal(got.RunningAt) || !u.End.Equal(stopped.StoppingAt)) {
			t.Fatalf("usage across the restart %+v, ran from %v", u, got.RunningAt)
		}
	}
}

func TestAgentRestartReconciles(t *testing.T) {
	h := newHarness(t, 10)
	ctx := context.Background()
	h.create(arena.SessionRequest{ID: "alive"})
	h.create(arena.SessionRequest{ID: "dies"})
	h.waitState("alive", arena.SessionRunning)
	h.waitState("dies", arena.SessionRunning)

	h.stop()
	if err := h.rt.Crash(arena.SessionKey(org, "dies"), 7); err != nil {
		t.Fatal(err)
	}
	// A leftover of this node that the control plane does not know, and a
	// container of another node that must be left alone.
	if _, err := h.rt.Start(ctx, arena.ContainerSpec{Name: "leftover", Labels: map[string]string{arena.LabelNode: "n1", arena.LabelSession: "ghost"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := h.rt.Start(ctx, arena.ContainerSpec{Name: "foreign", Labels: map[string]string{arena.LabelNode: "n2", arena.LabelSession: "other"}}); err != nil {
		t.Fatal(err)
	}
	h.startAgent()

	dead := h.waitState("dies", arena.SessionStopped)
	if dead.ExitCode != 7 || dead.StopReason != arena.StopExited {
		t.Fatalf("died while the agent was down: %+v", dead)
	}
	waitFor(t, func() bool { cs, _ := h.rt.List(ctx, "n1"); return len(cs) == 1 })
	if cs, _ := h.rt.List(ctx, "n1"); cs[0].SessionID != arena.SessionKey(org, "alive") || !cs[0].Running {
		t.Fatalf("node containers %+v", cs)
	}
	if cs, _ := h.rt.List(ctx, "n2"); len(cs) != 1 {
		t.Fatal("the agent touched another node's container")
	}
	if got := h.waitState("alive", arena.SessionRunning); got.Restarts != 0 {
		t.Fatalf("adopted session %+v", got)
	}
}

// BenchmarkCreateSession measures the control plane's part of POST /session:
// validation, placement and the store write, with a simulated node.
func BenchmarkCreateSession(b *testing.B) {
	for _, par := range []int{1, 16} {
		b.Run(fmt.Sprintf("clients=%d", par), func(b *testing.B) {
			h := newHarness(b, 1<<30)
			ctx := context.Background()
			b.SetParallelism(par)
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					s, err := h.srv.CreateSession(ctx, org, arena.SessionRequest{Location: "europe", Image: "game"})
					if err != nil {
						b.Fatal(err)
					}
					if err := h.srv.StopSession(ctx, org, s.Name); err != nil {
						b.Fatal(err)
					}
				}
			})
		})
	}
}

// TestBilling drives reports by hand (no agent) to check where billing
// starts and ends.
func TestBilling(t *testing.T) {
	ctx := context.Background()
	t.Run("ends when the stop is asked for, not after the grace period", func(t *testing.T) {
		h := newHarness(t, 10)
		h.stop()
		s := h.create(arena.SessionRequest{})
		ranAt := time.Now().Add(-10 * time.Second)
		report(t, h, arena.SessionReport{SessionID: s.ID, NodeID: "n1", State: arena.SessionRunning, At: ranAt})
		if err := h.srv.StopSession(ctx, org, s.Name); err != nil {
			t.Fatal(err)
		}
		stopping := h.waitState(s.Name, arena.SessionStopping)
		report(t, h, arena.SessionReport{SessionID: s.ID, NodeID: "n1", State: arena.SessionStopped, At: stopping.StoppingAt.Add(30 * time.Second)})
		u := onlyUsage(t, h)
		if !u.End.Equal(stopping.StoppingAt) || u.Seconds != int64(stopping.StoppingAt.Sub(ranAt).Seconds())+1 {
			t.Fatalf("usage %+v, stop asked at %v", u, stopping.StoppingAt)
		}
	})
	t.Run("starts when the process started, even if only the stop report says so", func(t *testing.T) {
		h := newHarness(t, 10)
		h.stop()
		s := h.create(arena.SessionRequest{})
		started := time.Now().Add(-5 * time.Second)
		report(t, h, arena.SessionReport{SessionID: s.ID, NodeID: "n1", State: arena.SessionStopped, ExitCode: 1, At: started.Add(5 * time.Second), StartedAt: started})
		if u := onlyUsage(t, h); u.Seconds != 5 || !u.Start.Equal(started) {
			t.Fatalf("usage %+v", u)
		}
	})
	t.Run("never ran, never billed", func(t *testing.T) {
		h := newHarness(t, 10)
		h.stop()
		s := h.create(arena.SessionRequest{})
		report(t, h, arena.SessionReport{SessionID: s.ID, NodeID: "n1", State: arena.SessionStopped, Reason: arena.StopFailed, ExitCode: -1})
		if u := onlyUsage(t, h); u.Seconds != 0 || !u.Start.IsZero() || !u.End.IsZero() {
			t.Fatalf("usage %+v", u)
		}
	})
	t.Run("another node cannot report", func(t *testing.T) {
		h := newHarness(t, 10)
		h.stop()
		s := h.create(arena.SessionRequest{})
		err := h.srv.Report(ctx, arena.SessionReport{SessionID: s.ID, NodeID: "n2", State: arena.SessionStopped})
		if arena.ErrorCode(err) != arena.ENOTFOUND {
			t.Fatalf("report from another node: %v", err)
		}
		if got := h.waitState(s.Name, arena.SessionStarted); got.State != arena.SessionStarted {
			t.Fatal("state changed")
		}
	})
}

func report(tb testing.TB, h *harness, r arena.SessionReport) {
	tb.Helper()
	if err := h.srv.Report(context.Background(), r); err != nil {
		tb.Fatalf("report %+v: %v", r, err)
	}
}

func onlyUsage(tb testing.TB, h *harness) *arena.Usage {
	tb.Helper()
	usage, err := h.store.ListUsage(context.Background(), org)
	if err != nil || len(usage) != 1 {
		tb.Fatalf("usage %+v, %v", usage, err)
	}
	return usage[0]
}

// TestLegacySessionIDs covers sessions stored before ids were per
// organisation, keyed by their API id alone and with no name (the stores'
// migration names them by their id, as a store does a session given no
// name): they stay reachable by that id for their organisation only, can be
// stopped, and keep their id taken.
func TestLegacySessionIDs(t *testing.T) {
	h := newHarness(t, 2)
	ctx := context.Background()
	now := time.Now().UTC().Truncate(time.Millisecond)
	legacy := func(id string, state arena.SessionState) *arena.Session {
		return &arena.Session{
			ID: id, OrgID: org, Application: "game", Tag: "v1", Image: "game:v1", Region: "europe", Location: "ams",
			NodeID: "n1", Host: "192.0.2.1", Network: arena.NetworkBridge, Labels: map[string]string{},
			Resources: arena.Resources{MilliCPU: 100, MemoryMB: 100}, State: state, ExitCode: -1,
			CreatedAt: now, UpdatedAt: now,
		}
	}
	for _, s := range []*arena.Session{legacy("old-stopped", arena.SessionStopped), legacy("old-active", arena.SessionStarted)} {
		if err := h.store.CreateSession(ctx, s); err != nil {
			t.Fatal(err)
		}
	}
	h.restartServer()
	h.waitState("old-active", arena.SessionRunning)

	for _, id := range []string{"old-stopped", "old-active"} {
		t.Run(id, func(t *testing.T) {
			if s, err := h.srv.FindSession(ctx, org, id); err != nil || s.PublicID() != id {
				t.Errorf("find by its id: %v, %v", s, err)
			}
			if _, err := h.srv.FindSession(ctx, "org-b", id); arena.ErrorCode(err) != arena.ENOTFOUND {
				t.Errorf("another organisation finds it: %v", err)
			}
			_, err := h.srv.CreateSession(ctx, org, arena.SessionRequest{ID: id, Image: "game", Location: "europe"})
			if arena.ErrorCode(err) != arena.ECONFLICT {
				t.Errorf("a new session took its id: %v", err)
			}
		})
	}
	if err := h.srv.StopSession(ctx, org, "old-active"); err != nil {
		t.Fatal(err)
	}
	if s := h.waitState("old-active", arena.SessionStopped); s.StopReason != arena.StopDeleted {
		t.Errorf("stopped with %s, want deleted", s.StopReason)
	}
}

// TestSessionLimits: a session carries its application's limits, or the
// reservation when it has none, and its container is given both; placement
// books the reservation alone.
func TestSessionLimits(t *testing.T) {
	reserved := arena.Resources{MilliCPU: 100, MemoryMB: 100}
	apps := append(testApps(), &arena.Application{
		OrgID: org, Name: "burst", Repository: "burst", Tags: []arena.Tag{{Name: "v1"}}, Network: arena.NetworkBridge,
		Resources: reserved, Limits: arena.Resources{MilliCPU: 400, MemoryMB: 300},
	})
	h := newHarness(t, 2, func(c *testConfig) { c.Catalog = tenant.NewStaticCatalog(apps) })
	tests := []struct {
		name, image string
		want        arena.Resources
	}{
		{"no limits", "game", reserved},
		{"limits", "burst", arena.Resources{MilliCPU: 400, MemoryMB: 300}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := h.create(arena.SessionRequest{Image: tt.image})
			if s.Limits != tt.want || s.Resources != reserved {
				t.Fatalf("session limits %+v, resources %+v; want %+v, %+v", s.Limits, s.Resources, tt.want, reserved)
			}
			if stored := h.waitState(s.Name, arena.SessionRunning); stored.Limits != tt.want {
				t.Fatalf("stored limits %+v, want %+v", stored.Limits, tt.want)
			}
			if spec, ok := h.rt.Spec(s.ID); !ok || spec.Limits != tt.want || spec.Resources != reserved {
				t.Fatalf("container spec %+v (found %v)", spec, ok)
			}
		})
	}
	// The node holds two reservations: the limits above them book nothing.
	if n := nodeUsage(t, h.fleet); n.Used != (arena.Resources{MilliCPU: 200, MemoryMB: 200}) {
		t.Fatalf("node use %+v, want the two reservations", n.Used)
	}
	if _, err := h.srv.CreateSession(context.Background(), org, arena.SessionRequest{Location: "europe", Image: "burst"}); arena.ErrorCode(err) != arena.EUNAVAILABLE {
		t.Fatalf("a third session on a node of two reservations: %v, want no capacity", err)
	}
}

// TestSessionSecurity: a session runs as its application says when it is
// created, and keeps that whatever the application becomes.
func TestSessionSecurity(t *testing.T) {
	confined := &arena.Application{
		OrgID: org, Name: "confined", Repository: "confined", Tags: []arena.Tag{{Name: "v1"}}, Network: arena.NetworkBridge,
		Resources: arena.Resources{MilliCPU: 100, MemoryMB: 100},
		Security:  arena.ContainerSecurity{User: "65534:65534", ReadOnlyRootFS: true, Tmpfs: []string{"/tmp", "/run/game"}},
	}
	h := newHarness(t, 3, func(c *testConfig) { c.Catalog = tenant.NewStaticCatalog(append(testApps(), confined)) })
	tests := []struct {
		name, image string
		want        arena.ContainerSecurity
	}{
		{"the image as it is", "game", arena.ContainerSecurity{}},
		{"confined", "confined", arena.ContainerSecurity{User: "65534:65534", ReadOnlyRootFS: true, Tmpfs: []string{"/tmp", "/run/game"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := h.create(arena.SessionRequest{Image: tt.image})
			if !reflect.DeepEqual(s.Security, tt.want) {
				t.Fatalf("session security %+v, want %+v", s.Security, tt.want)
			}
			if stored := h.waitState(s.Name, arena.SessionRunning); !reflect.DeepEqual(stored.Security, tt.want) {
				t.Fatalf("stored security %+v, want %+v", stored.Security, tt.want)
			}
			if spec, ok := h.rt.Spec(s.ID); !ok || !reflect.DeepEqual(spec.Security, tt.want) {
				t.Fatalf("container spec %+v (found %v), want security %+v", spec, ok, tt.want)
			}
		})
	}
	// The session holds a copy: what happens to the application later
	// does not reach a session that runs.
	s := h.create(arena.SessionRequest{Image: "confined"})
	confined.Security.Tmpfs[0] = "/changed"
	if got, err := h.srv.FindSession(context.Background(), org, s.Name); err != nil || got.Security.Tmpfs[0] != "/tmp" {
		t.Fatalf("session after its application changed: %+v %v", got, err)
	}
}

// TestRegions: an application held to regions is placed, listed and
// checked for tags only where it may run; anywhere else is answered as not
// found and changes nothing. The harness's node is in location ams of
// region europe.
func TestRegions(t *testing.T) {
	app := func(name string, regions ...string) *arena.Application {
		return &arena.Application{
			OrgID: org, Name: name, Repository: name, Tags: []arena.Tag{{Name: "v1"}}, Network: arena.NetworkBridge,
			Ports: []arena.PortSpec{{Container: 7777, Protocol: arena.UDP}}, Resources: arena.Resources{MilliCPU: 100, MemoryMB: 100},
			Regions: regions,
		}
	}
	apps := append(testApps(), app("eu-only", "europe"), app("asia-only", "asia"), app("asia-or-eu", "asia", "europe"))
	h := newHarness(t, 10, func(c *testConfig) { c.Catalog = tenant.NewStaticCatalog(apps) })
	ctx := context.Background()

	t.Run("create", func(t *testing.T) {
		tests := []struct {
			image, location string
			want            string // the error code, "" for placed
		}{
			{"eu-only", "europe", ""},
			{"eu-only", "ams", ""},
			{"asia-or-eu", "ams", ""},
			{"game", "ams", ""},
			{"asia-only", "europe", arena.ENOTFOUND},
			{"asia-only", "ams", arena.ENOTFOUND},
			{"eu-only", "mars", arena.ENOTFOUND},
		}
		for _, tt := range tests {
			t.Run(tt.image+" in "+tt.location, func(t *testing.T) {
				before := nodeUsage(t, h.fleet).Sessions
				s, err := h.srv.CreateSession(ctx, org, arena.SessionRequest{Image: tt.image, Location: tt.location})
				if got := arena.ErrorCode(err); got != tt.want {
					t.Fatalf("got %v (%s), want %q", err, got, tt.want)
				}
				if err != nil {
					if n := nodeUsage(t, h.fleet).Sessions; n != before {
						t.Fatalf("a refused create left %d sessions, not %d", n, before)
					}
					return
				}
				if s.Region != "europe" || s.NodeID != "n1" {
					t.Fatalf("placed in region %q on %q", s.Region, s.NodeID)
				}
			})
		}
	})

	t.Run("the message names the image and the location", func(t *testing.T) {
		_, err := h.srv.CreateSession(ctx, org, arena.SessionRequest{Image: "asia-only", Location: "europe"})
		if want := `image "asia-only" does not run in location "europe"`; err == nil || !strings.Contains(err.Error(), want) {
			t.Fatalf("got %v, want %s", err, want)
		}
	})

	t.Run("a refused id stays free", func(t *testing.T) {
		_, err := h.srv.CreateSession(ctx, org, arena.SessionRequest{ID: "elsewhere", Image: "asia-only", Location: "europe"})
		if arena.ErrorCode(err) != arena.ENOTFOUND {
			t.Fatalf("got %v, want not found", err)
		}
		if s := h.create(arena.SessionRequest{ID: "elsewhere", Image: "eu-only"}); s.Name != "elsewhere" {
			t.Fatalf("created %+v", s)
		}
	})

	t.Run("available locations", func(t *testing.T) {
		for image, want := range map[string]int{"game": 1, "eu-only": 1, "asia-or-eu": 1, "asia-only": 0} {
			t.Run(image, func(t *testing.T) {
				locs, err := h.fleet.AvailableLocations(ctx, org, image)
				if err != nil || len(locs) != want || (want == 1 && locs[0].Location != "ams") {
					t.Errorf("%+v, %v; want %d locations", locs, err, want)
				}
			})
		}
	})

	t.Run("tag status", func(t *testing.T) {
		for image, want := range map[string]string{"eu-only": "", "asia-or-eu": "", "asia-only": arena.ENOTFOUND} {
			t.Run(image, func(t *testing.T) {
				if _, err := h.fleet.TagStatus(ctx, org, "europe", image, "v1"); arena.ErrorCode(err) != want {
					t.Errorf("got %v, want %q", err, want)
				}
			})
		}
	})
}

// TestStopMessage: why a node stopped a session by itself is kept with the
// session, in the store too, bounded and valid UTF-8.
func TestStopMessage(t *testing.T) {
	long := strings.Repeat("é", 600) + "\xff"
	for _, tc := range []struct {
		name, msg, want string
	}{
		{"a failed start", "start deadline passed (start timeout 2m0s): the engine failed 3 attempts for the moment", "start deadline passed (start timeout 2m0s): the engine failed 3 attempts for the moment"},
		{"a stop that was asked for", "", ""},
		{"the engine's words, overlong", long, strings.Repeat("é", 512) + "…"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, 10)
			h.stop()
			s := h.create(arena.SessionRequest{})
			report(t, h, arena.SessionReport{SessionID: s.ID, NodeID: "n1", State: arena.SessionStopped, Reason: arena.StopFailed, ExitCode: -1, Message: tc.msg})
			got := h.waitState(s.Name, arena.SessionStopped)
			if got.StopMessage != tc.want {
				t.Errorf("stop message = %q, want %q", got.StopMessage, tc.want)
			}
			h.restartServer()
			if again := h.waitState(s.Name, arena.SessionStopped); again.StopMessage != tc.want {
				t.Errorf("stop message after a restart = %q, want %q", again.StopMessage, tc.want)
			}
		})
	}
}

// readCounter counts the look-ups of single sessions in the store.
type readCounter struct {
	arena.Store
	reads atomic.Int64
}

func (c *readCounter) FindSession(ctx context.Context, id string) (*arena.Session, error) {
	c.reads.Add(1)
	return c.Store.FindSession(ctx, id)
}

func (c *readCounter) FindSessionByName(ctx context.Context, orgID, name string) (*arena.Session, error) {
	c.reads.Add(1)
	return c.Store.FindSessionByName(ctx, orgID, name)
}

// TestStoreReads: creating a session and stopping one read the store for
// a session at most once, whatever the form of its id; an active session
// is stopped from memory.
func TestStoreReads(t *testing.T) {
	counter := &readCounter{}
	h := newHarness(t, 4, func(c *testConfig) {
		c.Wrap = func(st arena.Store) arena.Store { counter.Store = st; return counter }
	})
	ctx := context.Background()
	stopped := h.create(arena.SessionRequest{ID: "done"})
	if err := h.srv.StopSession(ctx, org, stopped.PublicID()); err != nil {
		t.Fatal(err)
	}
	h.waitState("done", arena.SessionStopped)
	tests := []struct {
		name string
		do   func() error
		max  int64
	}{
		{"create with a new id", func() error {
			_, err := h.srv.CreateSession(ctx, org, arena.SessionRequest{ID: "fresh", Image: "game", Location: "europe"})
			return err
		}, 1},
		{"create with an id of the past", func() error {
			_, err := h.srv.CreateSession(ctx, org, arena.SessionRequest{ID: "done", Image: "game", Location: "europe"})
			if arena.ErrorCode(err) != arena.ECONFLICT {
				return fmt.Errorf("got %v, want a conflict", err)
			}
			return nil
		}, 1},
		{"create with no id", func() error {
			_, err := h.srv.CreateSession(ctx, org, arena.SessionRequest{Image: "game", Location: "europe"})
			return err
		}, 0},
		{"stop an active session", func() error { return h.srv.StopSession(ctx, org, "fresh") }, 0},
		{"stop a stopped session", func() error {
			if err := h.srv.StopSession(ctx, org, "done"); arena.ErrorCode(err) != arena.ECONFLICT {
				return fmt.Errorf("got %v, want a conflict", err)
			}
			return nil
		}, 1},
		{"stop an unknown session", func() error {
			if err := h.srv.StopSession(ctx, org, "nobody"); arena.ErrorCode(err) != arena.ENOTFOUND {
				return fmt.Errorf("got %v, want not found", err)
			}
			return nil
		}, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := counter.reads.Load()
			if err := tt.do(); err != nil {
				t.Fatal(err)
			}
			if got := counter.reads.Load() - before; got > tt.max {
				t.Errorf("%d reads of a session, want at most %d", got, tt.max)
			}
		})
	}
}
