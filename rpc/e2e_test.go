package rpc_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/arena-hq/arena"
	"github.com/arena-hq/arena/agent"
	"github.com/arena-hq/arena/fleet"
	"github.com/arena-hq/arena/rpc"
	"github.com/arena-hq/arena/scheduler"
	"github.com/arena-hq/arena/session"
	"github.com/arena-hq/arena/sim"
	"github.com/arena-hq/arena/sqlite"
	"github.com/arena-hq/arena/tenant"
)

const org = "org-a"

// cluster is the real control plane on SQLite, served over loopback HTTP,
// with the real agent of one node on a simulated runtime dialling in.
type cluster struct {
	srv   *session.Service
	fleet *fleet.Fleet
	http  *httptest.Server
	rt    *sim.Runtime
	node  arena.Node
	cred  string
}

func newCluster(t *testing.T) *cluster {
	t.Helper()
	ctx := context.Background()
	st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "arena.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	if err := st.CreateOrganization(ctx, &arena.Organization{ID: org, Name: org}); err != nil {
		t.Fatal(err)
	}
	apps := []*arena.Application{{
		OrgID: org, Name: "game", Repository: "game", Tags: []arena.Tag{{Name: "v1", Priority: 1}},
		Ports:     []arena.PortSpec{{Container: 7777, Protocol: arena.UDP}},
		Network:   arena.NetworkBridge,
		Resources: arena.Resources{MilliCPU: 100, MemoryMB: 100},
	}}
	catalog := tenant.NewStaticCatalog(apps)
	fl := fleet.New(fleet.Config{
		Store: st, Catalog: catalog, Scheduler: scheduler.New(scheduler.Pack), JoinTokenHash: arena.HashToken(joinToken),
	})
	srv := session.New(session.Config{Store: st, Catalog: catalog, Fleet: fl})
	if err := fl.Open(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(fl.Close)
	if err := srv.Open(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Close)

	path, h := rpc.NewHandler(srv.Agents(), rpc.WithKeepaliveInterval(20*time.Millisecond))
	mux := http.NewServeMux()
	mux.Handle(path, h)
	hs := httptest.NewServer(mux)
	t.Cleanup(hs.Close)

	c := &cluster{srv: srv, fleet: fl, http: hs, rt: sim.New(), node: arena.Node{
		ID: "n1", Region: "europe", Location: "ams", Provider: "p", Class: arena.ClassMetal, PublicIP: "192.0.2.1",
		Capacity: arena.Resources{MilliCPU: 1000, MemoryMB: 1000}, PortMin: 40000, PortMax: 40099,
	}}
	client := rpc.NewClient(hs.URL)
	if err := client.Join(ctx, joinToken, c.node); err != nil {
		t.Fatalf("join: %v", err)
	}
	c.cred = client.Credential()
	if c.cred == "" {
		t.Fatal("join returned no credential")
	}

	runCtx, cancel := context.WithCancel(context.Background())
	a := agent.New(agent.Config{
		Node: c.node, ControlPlane: client, Runtime: c.rt,
		RestartBackoff: 10 * time.Millisecond, MaxRestartBackoff: 20 * time.Millisecond,
		StableAfter: time.Minute, RetryInterval: 10 * time.Millisecond, MaxRetryInterval: 50 * time.Millisecond,
		ResyncInterval: 50 * time.Millisecond, HeartbeatInterval: 20 * time.Millisecond,
	})
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = a.Run(runCtx)
	}()
	// Registered before the server closes, so run after it: the agent stops
	// before the control plane and its store go away.
	t.Cleanup(func() {
		cancel()
		<-done
	})
	return c
}

func (c *cluster) create(t *testing.T, req arena.SessionRequest) {
	t.Helper()
	req.Image, req.Location = "game", "europe"
	if _, err := c.srv.CreateSession(context.Background(), org, req); err != nil {
		t.Fatalf("create %s: %v", req.ID, err)
	}
}

func (c *cluster) waitFor(t *testing.T, id string, ok func(*arena.Session) bool) *arena.Session {
	t.Helper()
	var s *arena.Session
	eventually(t, "session "+id, func() bool {
		var err error
		s, err = c.srv.FindSession(context.Background(), org, id)
		return err == nil && ok(s)
	})
	return s
}

func inState(state arena.SessionState) func(*arena.Session) bool {
	return func(s *arena.Session) bool { return s.State == state }
}

func TestEndToEnd(t *testing.T) {
	c := newCluster(t)
	ctx := context.Background()

	t.Run("a session runs on the remote node and stops", func(t *testing.T) {
		c.create(t, arena.SessionRequest{ID: "s1", Env: map[string]string{"MODE": "ranked"}, Labels: map[string]string{"match": "42"}})
		s := c.waitFor(t, "s1", inState(arena.SessionRunning))
		spec, ok := c.rt.Spec(arena.SessionKey(org, "s1"))
		if !ok || spec.Env["MODE"] != "ranked" || spec.Env[arena.EnvHost] != "192.0.2.1" || spec.Labels[arena.LabelNode] != "n1" || spec.Ports[0] != s.Ports[0] {
			t.Fatalf("container spec %+v", spec)
		}
		if err := c.srv.StopSession(ctx, org, "s1"); err != nil {
			t.Fatal(err)
		}
		stopped := c.waitFor(t, "s1", inState(arena.SessionStopped))
		if stopped.StopReason != arena.StopDeleted || stopped.RunningAt.IsZero() {
			t.Fatalf("stopped session %+v", stopped)
		}
		eventually(t, "the container's removal", func() bool {
			cs, err := c.rt.List(ctx, "n1")
			return err == nil && len(cs) == 0
		})
	})

	t.Run("crashes and restarts are reported", func(t *testing.T) {
		c.create(t, arena.SessionRequest{ID: "s2", Restart: true})
		c.waitFor(t, "s2", inState(arena.SessionRunning))
		if err := c.rt.Crash(arena.SessionKey(org, "s2"), 3); err != nil {
			t.Fatal(err)
		}
		c.waitFor(t, "s2", func(s *arena.Session) bool { return s.State == arena.SessionRunning && s.Restarts == 1 })

		c.create(t, arena.SessionRequest{ID: "s3"})
		c.waitFor(t, "s3", inState(arena.SessionRunning))
		if err := c.rt.Crash(arena.SessionKey(org, "s3"), 7); err != nil {
			t.Fatal(err)
		}
		s3 := c.waitFor(t, "s3", inState(arena.SessionStopped))
		if s3.StopReason != arena.StopExited || s3.ExitCode != 7 {
			t.Fatalf("crashed session %+v", s3)
		}
	})

	t.Run("heartbeats keep the node ready", func(t *testing.T) {
		before := time.Now()
		eventually(t, "a heartbeat", func() bool {
			n := c.fleet.Nodes()
			return len(n) == 1 && n[0].State == "ready" && n[0].LastSeen.After(before)
		})
	})

	t.Run("the agent reconnects after its connections are cut", func(t *testing.T) {
		c.http.CloseClientConnections()
		c.create(t, arena.SessionRequest{ID: "s4"})
		c.waitFor(t, "s4", inState(arena.SessionRunning))
	})

	t.Run("a session's output comes from the remote node", func(t *testing.T) {
		if err := c.rt.Write(arena.SessionKey(org, "s4"), "hello from s4\n"); err != nil {
			t.Fatal(err)
		}
		rc, err := c.srv.Logs(ctx, org, "s4", false)
		if err != nil {
			t.Fatal(err)
		}
		out, err := io.ReadAll(rc)
		rc.Close()
		if err != nil || !strings.Contains(string(out), "hello from s4\n") {
			t.Fatalf("output %q, %v", out, err)
		}

		rc, err = c.srv.Logs(ctx, org, "s4", true)
		if err != nil {
			t.Fatal(err)
		}
		defer rc.Close()
		// Following: what the process prints later arrives too, even when
		// it takes more than one chunk.
		later := strings.Repeat("x", 40<<10) + "\n"
		if err := c.rt.Write(arena.SessionKey(org, "s4"), later); err != nil {
			t.Fatal(err)
		}
		want := string(out) + later
		got := make([]byte, len(want))
		if _, err := io.ReadFull(rc, got); err != nil || string(got) != want {
			t.Fatalf("followed output: %d bytes, %v; want %d bytes", len(got), err, len(want))
		}
	})

	t.Run("joining", func(t *testing.T) {
		tests := []struct {
			name       string
			token      string
			credential string
			wantCode   string
			wantCred   string
		}{
			{"a wrong join token is refused", "wrong", "", arena.EUNAUTHORIZED, ""},
			{"another machine cannot take the node's id", joinToken, "", arena.EUNAUTHORIZED, ""},
			{"the node rejoins with its credential and keeps it", joinToken, c.cred, "", c.cred},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				client := rpc.NewClient(c.http.URL, rpc.WithCredential(tt.credential))
				if err := client.Join(ctx, tt.token, c.node); arena.ErrorCode(err) != tt.wantCode {
					t.Fatalf("join: %v, want code %q", err, tt.wantCode)
				}
				if client.Credential() != tt.wantCred {
					t.Fatalf("credential %q, want %q", client.Credential(), tt.wantCred)
				}
			})
		}
	})

	t.Run("another node's credential cannot speak for the node", func(t *testing.T) {
		other := rpc.NewClient(c.http.URL)
		n2 := c.node
		n2.ID, n2.PublicIP = "n2", "192.0.2.2"
		if err := other.Join(ctx, joinToken, n2); err != nil {
			t.Fatal(err)
		}
		// s4 runs on n1: it was placed while n1 was the only node.
		for name, err := range map[string]error{
			"heartbeat":                 other.Heartbeat(ctx, arena.Heartbeat{NodeID: "n1"}),
			"report as n1":              other.Report(ctx, arena.SessionReport{SessionID: arena.SessionKey(org, "s4"), NodeID: "n1", State: arena.SessionStopped, Reason: arena.StopExited}),
			"report about n1's session": other.Report(ctx, arena.SessionReport{SessionID: arena.SessionKey(org, "s4"), NodeID: "n2", State: arena.SessionStopped, Reason: arena.StopExited}),
			"logs as n1": func() error {
				_, err := other.PushLogs(ctx, arena.LogChunk{RequestID: "r1", NodeID: "n1", Data: []byte("forged")})
				return err
			}(),
		} {
			if arena.ErrorCode(err) != arena.EUNAUTHORIZED {
				t.Errorf("%s: %v, want unauthorized", name, err)
			}
		}
		if _, err := other.Assignments(ctx, "n1"); arena.ErrorCode(err) != arena.EUNAUTHORIZED {
			t.Errorf("watch: %v, want unauthorized", err)
		}
		if s, err := c.srv.FindSession(ctx, org, "s4"); err != nil || s.State != arena.SessionRunning || s.NodeID != "n1" {
			t.Fatalf("session s4 after the forged reports: %+v, %v", s, err)
		}
	})
}
