package session_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/arena-hq/arena"
)

// TestResyncAfterStart: a control plane that starts (or takes the lead)
// waits for the agents of the nodes the store last saw alive before it
// places, for at most the resync timeout, rather than answering that there
// is no room while they reconnect.
func TestResyncAfterStart(t *testing.T) {
	remote := arena.Node{ID: "remote", Region: "us", Location: "iad", Provider: "aws", Class: arena.ClassCloud, PublicIP: "198.51.100.7",
		Capacity: arena.Resources{MilliCPU: 1000, MemoryMB: 1000}, PortMin: 30000, PortMax: 30010}
	// start gives a control plane the remote node, heard and saved as
	// alive, and replaces it by a new one on the same store, once the node
	// has been silent for silentFor; the harness's own node reconnects.
	start := func(t *testing.T, resync, silentFor time.Duration) *harness {
		t.Helper()
		h := newHarness(t, 10, func(c *testConfig) {
			c.Fleet.HeartbeatTimeout, c.Fleet.NodeLostAfter, c.Fleet.ResyncTimeout = time.Second, time.Hour, resync
		})
		ctx := context.Background()
		if err := h.fleet.RegisterNode(ctx, remote); err != nil {
			t.Fatal(err)
		}
		beat := time.Now()
		if err := h.fleet.Heartbeat(ctx, arena.Heartbeat{NodeID: remote.ID}); err != nil {
			t.Fatal(err)
		}
		waitFor(t, func() bool { seen, _ := h.store.LastSeen(ctx); return !seen[remote.ID].Before(beat) })
		waitFor(t, func() bool { return time.Since(beat) >= silentFor })
		h.restartServer()
		return h
	}
	create := func(h *harness, ctx context.Context) (*arena.Session, error) {
		return h.srv.CreateSession(ctx, org, arena.SessionRequest{Location: "us", Image: "game"})
	}

	t.Run("waits for a node seen alive", func(t *testing.T) {
		h := start(t, time.Minute, 0)
		if err := h.srv.Ready(context.Background()); arena.ErrorCode(err) != arena.EUNAVAILABLE {
			t.Fatalf("Ready while a node has not reported: %v, want %s", err, arena.EUNAVAILABLE)
		}
		type result struct {
			s   *arena.Session
			err error
		}
		done := make(chan result, 1)
		go func() {
			s, err := create(h, context.Background())
			done <- result{s, err}
		}()
		// The create waits; an answer before the node reports is wrong.
		select {
		case r := <-done:
			t.Fatalf("the create did not wait for the node: %+v, %v", r.s, r.err)
		case <-time.After(100 * time.Millisecond):
		}
		if err := h.fleet.Heartbeat(context.Background(), arena.Heartbeat{NodeID: remote.ID}); err != nil {
			t.Fatal(err)
		}
		select {
		case r := <-done:
			if r.err != nil || r.s.NodeID != remote.ID {
				t.Fatalf("the create after the node reported: %+v, %v", r.s, r.err)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("the create still waits after the node reported")
		}
		if err := h.srv.Ready(context.Background()); err != nil {
			t.Fatalf("Ready once resynced: %v", err)
		}
	})

	t.Run("bounded by the resync timeout", func(t *testing.T) {
		h := start(t, 300*time.Millisecond, 0)
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		// The node never reports: placement goes on without it.
		if _, err := create(h, ctx); arena.ErrorCode(err) != arena.EUNAVAILABLE || !strings.Contains(arena.ErrorMessage(err), "no capacity") {
			t.Fatalf("a create with the node still silent: %v, want no capacity", err)
		}
		if err := h.srv.Ready(ctx); err != nil {
			t.Fatalf("Ready after the resync timeout: %v", err)
		}
	})

	t.Run("bounded by the caller", func(t *testing.T) {
		h := start(t, time.Minute, 0)
		ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
		defer cancel()
		if _, err := create(h, ctx); arena.ErrorCode(err) != arena.EUNAVAILABLE || !strings.Contains(arena.ErrorMessage(err), "report") {
			t.Fatalf("a create whose caller gives up: %v, want the resync named", err)
		}
	})

	t.Run("a node silent for long is not waited for", func(t *testing.T) {
		h := start(t, time.Minute, 2*time.Second)
		// The harness's own node reports at once; the silent one would
		// hold placement for the minute.
		waitFor(t, func() bool { return h.srv.Ready(context.Background()) == nil })
		if _, err := create(h, context.Background()); arena.ErrorCode(err) != arena.EUNAVAILABLE || !strings.Contains(arena.ErrorMessage(err), "no capacity") {
			t.Fatalf("a create with only a long-silent node: %v, want no capacity at once", err)
		}
	})
}

// TestJoinIsSavedAsSeen: a node that has just joined is in the store as
// seen at once, not a heartbeat timeout later, so that a control plane
// taking over right after waits for it instead of placing without it.
func TestJoinIsSavedAsSeen(t *testing.T) {
	h := newHarness(t, 10, func(c *testConfig) { c.Fleet.HeartbeatTimeout = time.Hour })
	ctx := context.Background()
	before := time.Now()
	n := arena.Node{ID: "joined", Region: "us", Location: "iad", Provider: "aws", Class: arena.ClassCloud, PublicIP: "198.51.100.8",
		Capacity: arena.Resources{MilliCPU: 1000, MemoryMB: 1000}, PortMin: 31000, PortMax: 31010}
	if err := h.fleet.RegisterNode(ctx, n); err != nil {
		t.Fatal(err)
	}
	seen, err := h.store.LastSeen(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if got := seen[n.ID]; got.Before(before.Add(-time.Second)) {
		t.Fatalf("the store saw the node that joined at %v, want about %v", got, before)
	}
}
