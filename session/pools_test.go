package session_test

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/arena-hq/arena"
	"github.com/arena-hq/arena/agent"
	"github.com/arena-hq/arena/tenant"
	"github.com/arena-hq/arena/webhook"
)

// withPools gives the test applications' first, game, the pools given.
func withPools(pools ...arena.WarmPool) func(*testConfig) {
	return func(c *testConfig) {
		apps := testApps()
		apps[0].Pools = pools
		c.Catalog = tenant.NewStaticCatalog(apps)
	}
}

// pooled counts the sessions waiting, started and ready, in the warm pools.
func (h *harness) pooled(tb testing.TB) int {
	tb.Helper()
	all, err := h.store.ListSessions(context.Background(), arena.SessionQuery{OrgID: org, ActiveOnly: true})
	if err != nil {
		tb.Fatal(err)
	}
	return countPooled(all, true)
}

// countPooled counts the sessions of list waiting in warm pools: those
// ready to claim alone, or every one.
func countPooled(list []*arena.Session, readyOnly bool) int {
	n := 0
	for _, s := range list {
		if s.Pool != "" && (!readyOnly || s.State == arena.SessionRunning) {
			n++
		}
	}
	return n
}

// TestWarmPool: a pool fills to its size with sessions nobody sees; a
// create claims one, running in its own answer under the caller's id, told
// of by webhooks, billed and timed from the claim; the pool replenishes; an
// empty pool falls back to a cold start; pooled sessions outlive a restart
// of the control plane.
func TestWarmPool(t *testing.T) {
	rec := &recorder{}
	h := newHarness(t, 10, withEvents(rec), withPools(arena.WarmPool{Location: "europe", Size: 2}))
	ctx := context.Background()
	waitFor(t, func() bool { return h.pooled(t) == 2 })
	if list, _ := h.srv.ListSessions(ctx, org, arena.SessionFilter{}); len(list) != 0 {
		t.Fatalf("pooled sessions are listed: %+v", list)
	}
	rec.mu.Lock()
	told := len(rec.events)
	rec.mu.Unlock()
	if told != 0 {
		t.Fatalf("webhooks told of pooled sessions: %d events", told)
	}
	lines, err := h.srv.Usage(ctx, org, time.Now().Add(-time.Hour), time.Now().Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if len(lines) != 1 || lines[0].Sessions != 0 || lines[0].Seconds != 0 || lines[0].PoolSessions != 2 {
		t.Fatalf("usage of a full pool: %+v; want its 2 sessions apart from the billed ones", lines)
	}

	before := time.Now()
	s, err := h.srv.CreateSession(ctx, org, arena.SessionRequest{ID: "warm-1", Image: "game", Location: "europe", Labels: map[string]string{"mode": "duel"}, TTL: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	if s.State != arena.SessionRunning || s.PublicID() != "warm-1" || s.Pool != "" || s.ClaimedAt.Before(before) || len(s.Ports) == 0 || s.Labels["mode"] != "duel" {
		t.Fatalf("claimed %+v; want warm-1 running at once, with its ports and labels", s)
	}
	if !s.RunningAt.Equal(s.ClaimedAt) {
		t.Fatalf("billed from %v, claimed at %v", s.RunningAt, s.ClaimedAt)
	}
	if found, err := h.srv.FindSession(ctx, org, "warm-1"); err != nil || found.ID != s.ID {
		t.Fatalf("find the claimed session: %+v, %v", found, err)
	}
	if stored, err := h.store.FindSessionByName(ctx, org, "warm-1"); err != nil || stored.ID != s.ID || stored.Pool != "" {
		t.Fatalf("the store's claimed session: %+v, %v", stored, err)
	}
	checkEvents(t, rec, org, "warm-1", webhook.EventSessionStarted, webhook.EventSessionRunning)
	waitFor(t, func() bool { return h.pooled(t) == 2 })

	// The pool holds two, and what replenishes it is not ready yet: a
	// third create starts cold.
	h.rt.SetDeafNew(true)
	for _, id := range []string{"warm-2", "warm-3"} {
		if c, err := h.srv.CreateSession(ctx, org, arena.SessionRequest{ID: id, Image: "game", Location: "europe"}); err != nil || c.State != arena.SessionRunning {
			t.Fatalf("claim %s: %+v, %v", id, c, err)
		}
	}
	cold, err := h.srv.CreateSession(ctx, org, arena.SessionRequest{ID: "cold-1", Image: "game", Location: "europe"})
	if err != nil || cold.State != arena.SessionStarted || !cold.ClaimedAt.IsZero() {
		t.Fatalf("with the pool empty: %+v, %v; want a cold start", cold, err)
	}
	h.rt.SetDeafNew(false)

	if err := h.srv.StopSession(ctx, org, "warm-1"); err != nil {
		t.Fatal(err)
	}
	stopped := h.waitState("warm-1", arena.SessionStopped)
	usage, err := h.store.ListUsage(ctx, org)
	if err != nil {
		t.Fatal(err)
	}
	for _, u := range usage {
		if u.SessionID == stopped.ID && (!u.Start.Equal(stopped.ClaimedAt) || !u.PoolStart.Equal(stopped.CreatedAt) || !u.PoolEnd.Equal(stopped.ClaimedAt)) {
			t.Fatalf("billed from %v, in the pool %v to %v; claimed at %v, started at %v", u.Start, u.PoolStart, u.PoolEnd, stopped.ClaimedAt, stopped.CreatedAt)
		}
	}

	waitFor(t, func() bool { return h.pooled(t) == 2 })
	h.restartServer()
	waitFor(t, func() bool { return h.pooled(t) == 2 })
	if c, err := h.srv.CreateSession(ctx, org, arena.SessionRequest{ID: "warm-4", Image: "game", Location: "ams"}); err != nil || c.State != arena.SessionRunning {
		t.Fatalf("claim after a restart, by location: %+v, %v", c, err)
	}
}

// TestWarmPoolShrinks: a pool made smaller, or no longer configured, stops
// the sessions it holds beyond its size, unbilled.
func TestWarmPoolShrinks(t *testing.T) {
	h := newHarness(t, 10, withPools(arena.WarmPool{Location: "europe", Size: 3}))
	waitFor(t, func() bool { return h.pooled(t) == 3 })
	withPools(arena.WarmPool{Location: "europe", Size: 1})(&h.cfg)
	h.restartServer()
	waitFor(t, func() bool { return h.pooled(t) == 1 })
	withPools()(&h.cfg)
	h.restartServer()
	waitFor(t, func() bool { return h.pooled(t) == 0 })
	all, err := h.store.ListSessions(context.Background(), arena.SessionQuery{OrgID: org})
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool {
		active, _ := h.store.ListSessions(context.Background(), arena.SessionQuery{OrgID: org, ActiveOnly: true})
		return len(active) == 0
	})
	usage, err := h.store.ListUsage(context.Background(), org)
	if err != nil {
		t.Fatal(err)
	}
	if len(usage) != 3 {
		t.Fatalf("%d usage rows, want the pool's 3", len(usage))
	}
	for _, u := range usage {
		if u.Seconds != 0 || !u.Start.IsZero() {
			t.Errorf("a pooled session never claimed was billed: %+v", u)
		}
		if u.PoolStart.IsZero() || !u.PoolEnd.After(u.PoolStart) {
			t.Errorf("a pooled session never claimed has no time in the pool: %+v", u)
		}
	}
	if len(all) != 3 {
		t.Fatalf("%d sessions, want the pool's 3", len(all))
	}
}

// TestWarmPoolFollowsTheDefaultTag: when the application's default tag
// changes, the pool's sessions of the old tag, which no create would claim,
// give way to sessions of the new one.
func TestWarmPoolFollowsTheDefaultTag(t *testing.T) {
	h := newHarness(t, 10, withPools(arena.WarmPool{Location: "europe", Size: 2}))
	waitFor(t, func() bool { return h.pooled(t) == 2 })
	apps := testApps()
	apps[0].Tags = []arena.Tag{{Name: "v1", Priority: 9}, {Name: "v2", Priority: 5}}
	apps[0].Pools = []arena.WarmPool{{Location: "europe", Size: 2}}
	h.cfg.Catalog = tenant.NewStaticCatalog(apps)
	h.restartServer()
	deadline := time.Now().Add(30 * time.Second)
	for {
		all, err := h.store.ListSessions(context.Background(), arena.SessionQuery{OrgID: org, ActiveOnly: true})
		if err != nil {
			t.Fatal(err)
		}
		var seen []string
		for _, s := range all {
			if s.Pool != "" && s.Tag == "v1" && s.State == arena.SessionRunning {
				continue
			}
			seen = append(seen, fmt.Sprintf("%s %s pooled=%v", s.Tag, s.State, s.Pool != ""))
		}
		if len(seen) == 0 && len(all) == 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("active sessions %d, of which not pooled, ready and of v1: %v", len(all), seen)
		}
		time.Sleep(10 * time.Millisecond) // polling the store, as waitFor does
	}
	c, err := h.srv.CreateSession(context.Background(), org, arena.SessionRequest{ID: "new-default", Image: "game", Location: "europe"})
	if err != nil || c.State != arena.SessionRunning || c.Tag != "v1" {
		t.Fatalf("claim of the new default: %+v, %v", c, err)
	}
}

// TestWarmPoolConcurrentClaims: creates at once claim each pooled session
// once: as many are warm as the pool held, the others start cold.
func TestWarmPoolConcurrentClaims(t *testing.T) {
	h := newHarness(t, 20, withPools(arena.WarmPool{Location: "europe", Size: 5}))
	waitFor(t, func() bool { return h.pooled(t) == 5 })
	h.rt.SetDeafNew(true) // what replenishes the pool is not ready to claim
	var wg sync.WaitGroup
	got := make([]*arena.Session, 10)
	errs := make([]error, 10)
	for i := range got {
		wg.Go(func() {
			got[i], errs[i] = h.srv.CreateSession(context.Background(), org, arena.SessionRequest{Image: "game", Location: "europe"})
		})
	}
	wg.Wait()
	warm := map[string]bool{}
	for i, s := range got {
		if errs[i] != nil {
			t.Fatal(errs[i])
		}
		if !s.ClaimedAt.IsZero() {
			if warm[s.ID] {
				t.Fatalf("session %s claimed twice", s.ID)
			}
			warm[s.ID] = true
		}
	}
	if len(warm) != 5 {
		t.Fatalf("%d creates were warm, want the pool's 5", len(warm))
	}
}

// TestWarmPoolLaunch: a pool in launch mode waits in the launcher; a claim
// hands it the request's env and args, with the caller's id, and the
// session, created at the claim, runs and is billed once its game server
// serves; an agent restarted after the claim does not hand it twice.
func TestWarmPoolLaunch(t *testing.T) {
	rec := &recorder{}
	h := newHarness(t, 10, withEvents(rec), withPools(arena.WarmPool{Location: "europe", Size: 1, Mode: arena.PoolLaunch}))
	ctx := context.Background()
	waitFor(t, func() bool { return h.pooled(t) == 1 })
	h.rt.SetDeafNew(true) // what replenishes the pool stays out of the way

	before := time.Now()
	s, err := h.srv.CreateSession(ctx, org, arena.SessionRequest{ID: "launched-1", Image: "game", Location: "europe",
		Env: map[string]string{"MODE": "duel"}, Args: []string{"-map", "dust"}})
	if err != nil {
		t.Fatal(err)
	}
	if s.State != arena.SessionStarted || !s.Launcher || s.ClaimedAt.Before(before) || !s.RunningAt.IsZero() {
		t.Fatalf("claimed %+v; want it started at the claim, to run once ready", s)
	}
	running := h.waitState("launched-1", arena.SessionRunning)
	if running.RunningAt.Before(s.ClaimedAt) {
		t.Fatalf("billed from %v, before its claim at %v", running.RunningAt, s.ClaimedAt)
	}
	claim, ok := h.rt.Claim(s.ID)
	if !ok {
		t.Fatal("the launcher was handed no claim")
	}
	want := []string{"/game-server", "-map", "dust"}
	if !slices.Equal(claim.Argv, want) {
		t.Errorf("argv %q, want %q", claim.Argv, want)
	}
	for _, kv := range []string{"MODE=duel", "KEEP=app", arena.EnvSessionID + "=launched-1", "PATH=/usr/bin:/bin"} {
		if !slices.Contains(claim.Env, kv) {
			t.Errorf("the claim's env %q lacks %s", claim.Env, kv)
		}
	}
	checkEvents(t, rec, org, "launched-1", webhook.EventSessionStarted, webhook.EventSessionRunning)

	// A restarted agent adopts the container and leaves its launcher be.
	h.stop()
	h.startAgent()
	if got := h.waitState("launched-1", arena.SessionRunning); !got.RunningAt.Equal(running.RunningAt) {
		t.Fatalf("after an agent restart: running since %v, was %v", got.RunningAt, running.RunningAt)
	}
	if err := h.srv.StopSession(ctx, org, "launched-1"); err != nil {
		t.Fatal(err)
	}
	h.waitState("launched-1", arena.SessionStopped)
	waitFor(t, func() bool {
		_, err := os.Stat(filepath.Join(h.dir, "launch", "sessions", arena.ContainerNameOf(s.ID)))
		return errors.Is(err, fs.ErrNotExist)
	})
}

// TestWarmPoolClaimsOnTheBestNode: of a pool spread over a metal node and a
// cloud one, claims take the metal node's sessions first, as placement
// would have started them there.
func TestWarmPoolClaimsOnTheBestNode(t *testing.T) {
	h := newHarness(t, 2, withPools(arena.WarmPool{Location: "europe", Size: 4}))
	ctx, cancel := context.WithCancel(context.Background())
	cloud := h.node
	cloud.ID, cloud.Class, cloud.Capacity = "cloud-1", arena.ClassCloud, arena.Resources{MilliCPU: 1000, MemoryMB: 1000}
	if err := h.fleet.RegisterNode(ctx, cloud); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = agent.New(agent.Config{Node: cloud, ControlPlane: h.srv.Agents(), Runtime: h.rt, RetryInterval: 10 * time.Millisecond,
			HeartbeatInterval: 20 * time.Millisecond, LauncherDir: filepath.Join(h.dir, "launch-cloud")}).Run(ctx)
	}()
	t.Cleanup(func() {
		cancel()
		<-done
	})
	waitFor(t, func() bool { return h.pooled(t) == 4 })
	h.rt.SetDeafNew(true) // what replenishes the pool is not ready to claim
	for i, want := range []string{h.node.ID, h.node.ID, cloud.ID, cloud.ID} {
		s, err := h.srv.CreateSession(context.Background(), org, arena.SessionRequest{Image: "game", Location: "europe"})
		if err != nil {
			t.Fatal(err)
		}
		if s.ClaimedAt.IsZero() || s.NodeID != want {
			t.Fatalf("claim %d: on %s, claimed %v; want a claim on %s", i, s.NodeID, !s.ClaimedAt.IsZero(), want)
		}
	}
}
