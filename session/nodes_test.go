package session_test

import (
	"context"
	"maps"
	"testing"
	"time"

	"github.com/arena-hq/arena"
	"github.com/arena-hq/arena/fleet"
	"github.com/arena-hq/arena/scheduler"
	"github.com/arena-hq/arena/tenant"
)

func fastLiveness(c *testConfig) {
	c.Fleet.HeartbeatTimeout = 150 * time.Millisecond
	c.Fleet.NodeLostAfter = time.Hour
}

// TestNodeSilentAndBack: a node that stops heartbeating takes no sessions and
// its sessions are unreachable, billed up to its last heartbeat; when it comes
// back its agent restores the truth.
func TestNodeSilentAndBack(t *testing.T) {
	h := newHarness(t, 10, fastLiveness)
	ctx := context.Background()
	s := h.create(arena.SessionRequest{ID: "s"})
	ran := h.waitState("s", arena.SessionRunning)
	waitFor(t, func() bool { return nodeUsage(t, h.fleet).LastSeen.After(ran.RunningAt) })

	h.stop() // the agent dies; the container runs on
	lost := h.waitState("s", arena.SessionUnreachable)
	if lost.Status() != "server_unreachable" || lost.UnreachableSince.IsZero() {
		t.Fatalf("unreachable session %+v", lost)
	}
	if _, err := h.srv.CreateSession(ctx, org, arena.SessionRequest{Location: "europe", Image: "game"}); arena.ErrorCode(err) != arena.EUNAVAILABLE {
		t.Fatalf("create on a silent node: %v", err)
	}
	if n := nodeUsage(t, h.fleet); n.State != "unreachable" {
		t.Fatalf("node state %q", n.State)
	}
	if lost.UnreachableSince.Before(lost.RunningAt) {
		t.Fatalf("silent since %v, before it ran at %v", lost.UnreachableSince, lost.RunningAt)
	}
	billedWhileLost := lost.BilledSeconds(time.Now().Add(time.Hour))
	if want := lost.BilledSeconds(lost.UnreachableSince); billedWhileLost != want {
		t.Fatalf("billing did not pause at the last heartbeat: %d, want %d", billedWhileLost, want)
	}

	h.startAgent()
	back := h.waitState("s", arena.SessionRunning)
	if !back.UnreachableSince.IsZero() || back.Ports[0] != s.Ports[0] {
		t.Fatalf("session back %+v", back)
	}
	if n := nodeUsage(t, h.fleet); n.State != "ready" {
		t.Fatalf("node state %q", n.State)
	}
	h.create(arena.SessionRequest{ID: "after"})
}

// TestNodeLost: sessions of a node silent past NodeLostAfter end at its last
// heartbeat, and what they held is freed; a stop asked for meanwhile is kept.
func TestNodeLost(t *testing.T) {
	h := newHarness(t, 2, func(c *testConfig) {
		c.Fleet.HeartbeatTimeout = 150 * time.Millisecond
		// Long enough for the test to ask for a stop while it is unreachable.
		c.Fleet.NodeLostAfter = 2 * time.Second
	})
	ctx := context.Background()
	h.create(arena.SessionRequest{ID: "a"})
	h.create(arena.SessionRequest{ID: "b"})
	ran := h.waitState("a", arena.SessionRunning)
	h.waitState("b", arena.SessionRunning)
	// A heartbeat after the sessions ran, so that they have time to bill.
	waitFor(t, func() bool { return nodeUsage(t, h.fleet).LastSeen.After(ran.RunningAt) })
	h.stop()
	h.waitState("a", arena.SessionUnreachable)
	if err := h.srv.StopSession(ctx, org, "b"); err != nil {
		t.Fatalf("stopping a session of a silent node: %v", err)
	}
	a := h.waitState("a", arena.SessionStopped)
	b := h.waitState("b", arena.SessionStopped)
	if a.StopReason != arena.StopLost || a.Status() != "dead" || !a.StoppedAt.Equal(a.UnreachableSince) {
		t.Fatalf("lost session %+v", a)
	}
	if b.StopReason != arena.StopDeleted {
		t.Fatalf("the stop intent was lost: %+v", b)
	}
	if n := nodeUsage(t, h.fleet); n.Sessions != 0 {
		t.Fatalf("lost sessions still hold the node: %+v", n)
	}
	usage, err := h.store.ListUsage(ctx, org)
	if err != nil || len(usage) != 2 {
		t.Fatalf("usage %+v %v", usage, err)
	}
	for _, u := range usage {
		if u.End.After(a.UnreachableSince) {
			t.Errorf("usage of %s billed past the last heartbeat: %+v", u.SessionID, u)
		}
	}
	// The agent comes back: the given-up containers are leftovers now.
	h.startAgent()
	waitFor(t, func() bool { cs, _ := h.rt.List(ctx, "n1"); return len(cs) == 0 })
}

func TestJoinNode(t *testing.T) {
	h := newHarness(t, 1, func(c *testConfig) { c.Fleet.JoinTokenHash = arena.HashToken("join-secret") })
	ctx := context.Background()
	n := arena.Node{ID: "remote", Region: "us", Location: "iad", Provider: "aws", Class: arena.ClassCloud, PublicIP: "198.51.100.7",
		Capacity: arena.Resources{MilliCPU: 1000, MemoryMB: 1000}, PortMin: 30000, PortMax: 30010}

	if _, err := h.fleet.JoinNode(ctx, "wrong", n, ""); arena.ErrorCode(err) != arena.EUNAUTHORIZED {
		t.Fatalf("bad join token: %v", err)
	}
	bad := n
	bad.Class = "gpu"
	if _, err := h.fleet.JoinNode(ctx, "join-secret", bad, ""); arena.ErrorCode(err) != arena.EINVALID {
		t.Fatalf("bad node: %v", err)
	}
	cred, err := h.fleet.JoinNode(ctx, "join-secret", n, "")
	if err != nil || cred == "" {
		t.Fatalf("join: %q %v", cred, err)
	}
	if id, err := h.fleet.AuthenticateNode(ctx, cred); err != nil || id != "remote" {
		t.Fatalf("authenticate: %q %v", id, err)
	}
	for _, c := range []string{"", "forged"} {
		if _, err := h.fleet.AuthenticateNode(ctx, c); arena.ErrorCode(err) != arena.EUNAUTHORIZED {
			t.Fatalf("credential %q: %v", c, err)
		}
	}
	// Taking over the id needs its credential; re-joining with it keeps it.
	if _, err := h.fleet.JoinNode(ctx, "join-secret", n, ""); arena.ErrorCode(err) != arena.EUNAUTHORIZED {
		t.Fatalf("join as a registered node without its credential: %v", err)
	}
	joined := nodeStatus(t, h.fleet, "remote").JoinedAt
	if joined.IsZero() || time.Since(joined) > time.Minute {
		t.Fatalf("a node joined at %v, want about now", joined)
	}
	if again, err := h.fleet.JoinNode(ctx, "join-secret", n, cred); err != nil || again != "" {
		t.Fatalf("re-join: %q %v", again, err)
	}
	if got := nodeStatus(t, h.fleet, "remote").JoinedAt; !got.Equal(joined) {
		t.Fatalf("joined at %v after joining again, want the first join's %v", got, joined)
	}
	// A new node may choose its credential, so that a join whose answer was
	// lost can be repeated; a short one is refused.
	own := n
	own.ID, own.Region, own.Location = "chooser", "eu", "fra"
	if _, err := h.fleet.JoinNode(ctx, "join-secret", own, "short"); arena.ErrorCode(err) != arena.EINVALID {
		t.Fatalf("short credential: %v", err)
	}
	chosen := arena.NewTokenSecret()
	for i := 0; i < 2; i++ {
		if got, err := h.fleet.JoinNode(ctx, "join-secret", own, chosen); err != nil || got != "" {
			t.Fatalf("join %d with a chosen credential: %q %v", i, got, err)
		}
	}
	if id, err := h.fleet.AuthenticateNode(ctx, chosen); err != nil || id != "chooser" {
		t.Fatalf("authenticate with a chosen credential: %q %v", id, err)
	}
	// Nodes and their credentials survive a restart of the control plane.
	h.restartServer()
	if id, err := h.fleet.AuthenticateNode(ctx, cred); err != nil || id != "remote" {
		t.Fatalf("authenticate after restart: %q %v", id, err)
	}
	var remote arena.NodeStatus
	for _, st := range h.fleet.Nodes() {
		if st.ID == "remote" {
			remote = st
		}
	}
	if remote.State != "waiting" || remote.CredentialHash != "" || remote.Region != "us" || !remote.JoinedAt.Equal(joined) {
		t.Fatalf("remote node after restart: %+v; want it joined at %v", remote, joined)
	}
	// Placement waits for every node seen alive before the restart; both
	// report here, well within a heartbeat timeout of the create.
	for _, id := range []string{"remote", "chooser"} {
		if err := h.fleet.Heartbeat(ctx, arena.Heartbeat{NodeID: id}); err != nil {
			t.Fatal(err)
		}
	}
	if err := h.fleet.Heartbeat(ctx, arena.Heartbeat{NodeID: "nobody"}); arena.ErrorCode(err) != arena.ENOTFOUND {
		t.Fatalf("heartbeat of an unknown node: %v", err)
	}
	s := h.create(arena.SessionRequest{Location: "us"})
	if s.NodeID != "remote" || s.Host != "198.51.100.7" {
		t.Fatalf("placed on %s", s.NodeID)
	}
}

// nodeStatus returns the status of the node of an id.
func nodeStatus(tb testing.TB, srv *fleet.Fleet, id string) arena.NodeStatus {
	tb.Helper()
	for _, st := range srv.Nodes() {
		if st.ID == id {
			return st
		}
	}
	tb.Fatalf("no node %s", id)
	return arena.NodeStatus{}
}

func TestDrainNode(t *testing.T) {
	h := newHarness(t, 10)
	ctx := context.Background()
	s := h.create(arena.SessionRequest{})
	h.waitState(s.Name, arena.SessionRunning)
	if err := h.fleet.DrainNode(ctx, "n1", true); err != nil {
		t.Fatal(err)
	}
	if _, err := h.srv.CreateSession(ctx, org, arena.SessionRequest{Location: "ams", Image: "game"}); arena.ErrorCode(err) != arena.EUNAVAILABLE {
		t.Fatalf("create on a draining node: %v", err)
	}
	if n := nodeUsage(t, h.fleet); n.State != "draining" || n.Sessions != 1 {
		t.Fatalf("draining node %+v", n)
	}
	h.restartServer() // draining is remembered
	h.waitState(s.Name, arena.SessionRunning)
	if _, err := h.srv.CreateSession(ctx, org, arena.SessionRequest{Location: "ams", Image: "game"}); arena.ErrorCode(err) != arena.EUNAVAILABLE {
		t.Fatalf("create on a draining node after restart: %v", err)
	}
	if err := h.fleet.DrainNode(ctx, "n1", false); err != nil {
		t.Fatal(err)
	}
	h.create(arena.SessionRequest{})
	if err := h.fleet.DrainNode(ctx, "nope", true); arena.ErrorCode(err) != arena.ENOTFOUND {
		t.Fatalf("drain unknown node: %v", err)
	}
}

// TestNodeBackWithoutReconnect: a node that goes silent while its connection
// stays up (a paused machine) gets its sessions back when it speaks again,
// without reconnecting.
func TestNodeBackWithoutReconnect(t *testing.T) {
	h := newHarness(t, 10, fastLiveness)
	h.create(arena.SessionRequest{ID: "s"})
	ran := h.waitState("s", arena.SessionRunning)
	waitFor(t, func() bool { return nodeUsage(t, h.fleet).LastSeen.After(ran.RunningAt) })
	h.mute.Store(true)
	h.waitState("s", arena.SessionUnreachable)
	h.mute.Store(false)
	if back := h.waitState("s", arena.SessionRunning); !back.UnreachableSince.IsZero() {
		t.Fatalf("session back %+v", back)
	}
}

// TestLostNodeStillListening: when a silent node's sessions are given up,
// an agent that still hears the control plane stops their containers, whose
// ports may serve other sessions now.
func TestLostNodeStillListening(t *testing.T) {
	h := newHarness(t, 10, func(c *testConfig) {
		c.Fleet.HeartbeatTimeout = 150 * time.Millisecond
		c.Fleet.NodeLostAfter = 300 * time.Millisecond
	})
	ctx := context.Background()
	h.create(arena.SessionRequest{ID: "s"})
	h.waitState("s", arena.SessionRunning)
	h.mute.Store(true)
	if got := h.waitState("s", arena.SessionStopped); got.StopReason != arena.StopLost {
		t.Fatalf("given-up session %+v", got)
	}
	waitFor(t, func() bool { cs, _ := h.rt.List(ctx, "n1"); return len(cs) == 0 })
}

func TestRemoveNode(t *testing.T) {
	h := newHarness(t, 10)
	ctx := context.Background()
	h.create(arena.SessionRequest{ID: "s"})
	h.waitState("s", arena.SessionRunning)
	if err := h.fleet.RemoveNode(ctx, "n1"); arena.ErrorCode(err) != arena.ECONFLICT {
		t.Fatalf("removing a node with a session: %v", err)
	}
	if err := h.srv.StopSession(ctx, org, "s"); err != nil {
		t.Fatal(err)
	}
	h.waitState("s", arena.SessionStopped)
	h.stop()
	if err := h.fleet.RemoveNode(ctx, "n1"); err != nil {
		t.Fatal(err)
	}
	if err := h.fleet.RemoveNode(ctx, "n1"); arena.ErrorCode(err) != arena.ENOTFOUND {
		t.Fatalf("removing twice: %v", err)
	}
	if len(h.fleet.Nodes()) != 0 {
		t.Fatalf("nodes after removal: %+v", h.fleet.Nodes())
	}
	if _, err := h.srv.CreateSession(ctx, org, arena.SessionRequest{Location: "ams", Image: "game"}); arena.ErrorCode(err) != arena.ENOTFOUND {
		t.Fatalf("create in the removed node's location: %v", err)
	}
	h.startAgent() // for the harness' cleanup
}

// TestSilentAcrossRestart: a node that died while the control plane was
// down is billed up to its last heartbeat before the restart, not up to the
// restart.
func TestSilentAcrossRestart(t *testing.T) {
	h := newHarness(t, 10, fastLiveness)
	ctx := context.Background()
	remote := arena.Node{ID: "remote", Region: "us", Location: "iad", Provider: "aws", Class: arena.ClassCloud, PublicIP: "198.51.100.7",
		Capacity: arena.Resources{MilliCPU: 1000, MemoryMB: 1000}, PortMin: 30000, PortMax: 30010}
	if err := h.fleet.RegisterNode(ctx, remote); err != nil {
		t.Fatal(err)
	}
	s := h.create(arena.SessionRequest{Location: "us"})
	ran := time.Now().Add(-time.Minute)
	report(t, h, arena.SessionReport{SessionID: s.ID, NodeID: "remote", State: arena.SessionRunning, At: ran})
	if err := h.fleet.Heartbeat(ctx, arena.Heartbeat{NodeID: "remote"}); err != nil {
		t.Fatal(err)
	}
	// Wait until the heartbeat is saved, then let time pass with the
	// control plane down, as it would while the node dies.
	var saved time.Time
	waitFor(t, func() bool { seen, _ := h.store.LastSeen(ctx); saved = seen["remote"]; return saved.After(ran) })
	h.stop()
	h.closeServer()
	waitFor(t, func() bool { return time.Since(saved) > 300*time.Millisecond })
	h.store.Close()
	h.openServer()
	h.startAgent()

	lost := h.waitState(s.Name, arena.SessionUnreachable)
	if !lost.UnreachableSince.Equal(saved) {
		t.Fatalf("unreachable since %v, want the saved heartbeat %v", lost.UnreachableSince, saved)
	}
}

// TestTagStatus checks what GET /tag answers from the nodes' image reports,
// for the organisation asking: another organisation's pull of a private
// image is not its own.
func TestTagStatus(t *testing.T) {
	h := newHarness(t, 2)
	ctx := context.Background()
	h.mute.Store(true) // the test speaks for the node
	for _, tc := range []struct {
		name    string
		images  []arena.NodeImage
		version string
		want    arena.TagStatus
	}{
		{"present", []arena.NodeImage{{Ref: "game:v1", State: arena.ImagePresent}}, "v1",
			arena.TagStatus{Exists: true, State: arena.ImagePresent, Nodes: 1, Present: 1}},
		{"present, another organisation refused", []arena.NodeImage{{Ref: "game:v1", State: arena.ImagePresent, Refused: []string{"org-b"}}}, "v1",
			arena.TagStatus{Exists: true, State: arena.ImagePresent, Nodes: 1, Present: 1}},
		{"present, this organisation refused", []arena.NodeImage{{Ref: "game:v1", State: arena.ImagePresent, Refused: []string{org}}}, "v1",
			arena.TagStatus{State: arena.ImageFailed, Nodes: 1, Failed: 1, Error: "the registry refused the organisation's credentials for game:v1"}},
		{"pulling", []arena.NodeImage{{Ref: "game:v2", State: arena.ImagePulling}}, "v2",
			arena.TagStatus{State: arena.ImagePulling, Nodes: 1, Pulling: 1}},
		{"failed", []arena.NodeImage{{Ref: "game:v2", State: arena.ImageFailed, Error: "manifest unknown"}}, "v2",
			arena.TagStatus{State: arena.ImageFailed, Nodes: 1, Failed: 1, Error: "manifest unknown"}},
		{"not a tag of the application", []arena.NodeImage{{Ref: "game:v9", State: arena.ImagePresent}}, "v9",
			arena.TagStatus{State: arena.TagMissing, Nodes: 1}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// Beat until the answer reflects it: a beat of the agent's may
			// have been on its way when the test took over.
			deadline := time.Now().Add(10 * time.Second)
			for {
				if err := h.fleet.Heartbeat(ctx, arena.Heartbeat{NodeID: "n1", Images: tc.images}); err != nil {
					t.Fatal(err)
				}
				got, err := h.fleet.TagStatus(ctx, org, "europe", "game", tc.version)
				if err != nil {
					t.Fatal(err)
				}
				if got == tc.want {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("got %+v, want %+v", got, tc.want)
				}
				time.Sleep(5 * time.Millisecond)
			}
		})
	}
	t.Run("a running session's image is present whatever the reports say", func(t *testing.T) {
		if err := h.fleet.Heartbeat(ctx, arena.Heartbeat{NodeID: "n1"}); err != nil {
			t.Fatal(err)
		}
		h.create(arena.SessionRequest{ID: "holds-v1", Version: "v1"})
		h.waitState("holds-v1", arena.SessionRunning)
		want := arena.TagStatus{Exists: true, State: arena.ImagePresent, Nodes: 1, Present: 1}
		if got, err := h.fleet.TagStatus(ctx, org, "europe", "game", "v1"); err != nil || got != want {
			t.Fatalf("got %+v, %v; want %+v", got, err, want)
		}
		if err := h.srv.StopSession(ctx, org, "holds-v1"); err != nil {
			t.Fatal(err)
		}
		h.waitState("holds-v1", arena.SessionStopped)
		if got, _ := h.fleet.TagStatus(ctx, org, "europe", "game", "v1"); got.Exists {
			t.Fatalf("a stopped session still counts: %+v", got)
		}
	})
	for name, tc := range map[string]struct{ org, region, image string }{
		"another organisation's image": {"org-b", "europe", "game"},
		"an unknown region":            {org, "mars", "game"},
		"an unknown image":             {org, "europe", "nope"},
	} {
		t.Run(name, func(t *testing.T) {
			if _, err := h.fleet.TagStatus(ctx, tc.org, tc.region, tc.image, "v1"); arena.ErrorCode(err) != arena.ENOTFOUND {
				t.Fatalf("got %v, want not found", err)
			}
		})
	}
}

// TestPullStatus checks the admin view of an application's tags: each
// tag's image over the nodes of the application's regions.
func TestPullStatus(t *testing.T) {
	h := newHarness(t, 2)
	ctx := context.Background()
	h.mute.Store(true) // the test speaks for the node
	app, err := tenant.NewStaticCatalog(testApps()).Application(org, "game")
	if err != nil {
		t.Fatal(err)
	}
	elsewhere := app.Clone()
	elsewhere.Regions = []string{"asia"}
	images := []arena.NodeImage{{Ref: "game:v1", State: arena.ImagePresent}, {Ref: "game:v2", State: arena.ImageFailed, Error: "manifest unknown"}}
	tests := []struct {
		name string
		app  *arena.Application
		want map[string]arena.TagStatus
	}{
		{"every region", app, map[string]arena.TagStatus{
			"v1": {Exists: true, State: arena.ImagePresent, Nodes: 1, Present: 1},
			"v2": {State: arena.ImageFailed, Nodes: 1, Failed: 1, Error: "manifest unknown"},
		}},
		{"a region without nodes", elsewhere, map[string]arena.TagStatus{
			"v1": {State: arena.TagMissing},
			"v2": {State: arena.TagMissing},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// Beat until the answer reflects it: a beat of the agent's may
			// have been on its way when the test took over.
			deadline := time.Now().Add(10 * time.Second)
			for {
				if err := h.fleet.Heartbeat(ctx, arena.Heartbeat{NodeID: "n1", Images: images}); err != nil {
					t.Fatal(err)
				}
				got := h.fleet.PullStatus(org, tt.app)
				if maps.Equal(got, tt.want) {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("got %+v, want %+v", got, tt.want)
				}
				time.Sleep(5 * time.Millisecond)
			}
		})
	}
}

// TestJoinWithAMachineToken: the agent of a machine Arena made joins with
// the token made for its node: once, as that node alone, before the token
// expires; the same agent joins again with its credential, and the
// cluster's own secret still admits other nodes.
func TestJoinWithAMachineToken(t *testing.T) {
	h := newHarness(t, 1)
	st := h.store
	ctx := context.Background()
	now := time.Now()
	for _, m := range []*arena.CloudMachine{
		{NodeID: "cloud-1", State: arena.MachineJoining, JoinTokenHash: arena.HashToken("token-1"), JoinExpires: now.Add(time.Hour), CreatedAt: now, UpdatedAt: now},
		{NodeID: "cloud-2", State: arena.MachineJoining, JoinTokenHash: arena.HashToken("token-2"), JoinExpires: now.Add(-time.Second), CreatedAt: now, UpdatedAt: now},
	} {
		if err := st.CreateMachine(ctx, m); err != nil {
			t.Fatal(err)
		}
	}
	// A fleet of its own on the harness's store, which keeps the machines.
	fl := fleet.New(fleet.Config{Store: h.store, Catalog: tenant.NewStaticCatalog(testApps()), Scheduler: scheduler.New(scheduler.Pack),
		JoinTokenHash: arena.HashToken("join-secret"), Machines: h.store})
	if err := fl.Open(ctx); err != nil {
		t.Fatal(err)
	}
	defer fl.Close()
	node := func(id string) arena.Node {
		return arena.Node{ID: id, Region: "europe", Location: "ams", Provider: "local", Class: arena.ClassCloud, PublicIP: "192.0.2.9",
			Capacity: arena.Resources{MilliCPU: 1000, MemoryMB: 1000}, PortMin: 30000, PortMax: 30010}
	}
	credential := arena.NewTokenSecret()
	tests := []struct {
		name, secret, node, credential string
		ok                             bool
	}{
		{"another node's token", "token-1", "cloud-2", "", false},
		{"an expired token", "token-2", "cloud-2", "", false},
		{"its own token", "token-1", "cloud-1", credential, true},
		{"its own token, spent, without its credential", "token-1", "cloud-1", "", false},
		{"its own token, spent, with its credential", "token-1", "cloud-1", credential, true},
		{"the cluster's secret, for another node", "join-secret", "metal-9", "", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := fl.JoinNode(ctx, tt.secret, node(tt.node), tt.credential)
			if tt.ok != (err == nil) || (err != nil && arena.ErrorCode(err) != arena.EUNAUTHORIZED) {
				t.Fatalf("join %s with %s: %v; want ok %v, else unauthorized", tt.node, tt.secret, err, tt.ok)
			}
		})
	}
}
