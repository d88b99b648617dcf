package session_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/arena-hq/arena"
)

// TestStartBackpressure: the control plane counts the sessions it placed
// on a node that the node has not started, and with the pace the node's
// agent says, refuses a session the node could not start in time, as
// unavailable for the moment with when to try again; a session the node
// started or that was stopped makes room.
func TestStartBackpressure(t *testing.T) {
	ctx := context.Background()
	h := newHarness(t, 10)
	h.stop() // the test speaks for the agent
	// A start every 2 s, one at a time, within 20 s: a session is taken
	// while it would start within 10 s, five in the queue.
	pace := &arena.StartQueue{Rate: 0.5, Concurrency: 1, Timeout: 20 * time.Second}
	if err := h.fleet.Heartbeat(ctx, arena.Heartbeat{NodeID: "n1", Starts: pace}); err != nil {
		t.Fatal(err)
	}
	var placed []*arena.Session
	for range 5 {
		placed = append(placed, h.create(arena.SessionRequest{}))
	}
	refused := func() *arena.Error {
		t.Helper()
		_, err := h.srv.CreateSession(ctx, org, arena.SessionRequest{Image: "game", Location: "europe"})
		var ae *arena.Error
		if !errors.As(err, &ae) || ae.Code != arena.EUNAVAILABLE {
			t.Fatalf("create: %v, want unavailable", err)
		}
		return ae
	}
	if ae := refused(); ae.RetryAfter != 2*time.Second {
		t.Errorf("retry after %s, want 2s: the sixth would start in 12 s", ae.RetryAfter)
	}
	st := h.fleet.Nodes()[0]
	if st.Pending != 5 || st.StartWait != 12*time.Second || st.Starts == nil || st.Starts.Rate != 0.5 {
		t.Errorf("node: %d pending, start wait %s, starts %+v; want 5, 12s and the agent's word", st.Pending, st.StartWait, st.Starts)
	}

	// The node started one: room for one more.
	report(t, h, arena.SessionReport{SessionID: placed[0].ID, NodeID: "n1", State: arena.SessionRunning, At: time.Now()})
	h.create(arena.SessionRequest{})
	refused()
	// One stopped before it ran: room for one more.
	if err := h.srv.StopSession(ctx, org, placed[1].Name); err != nil {
		t.Fatal(err)
	}
	h.create(arena.SessionRequest{})
	refused()
	// A faster node takes more.
	pace.Rate = 10
	if err := h.fleet.Heartbeat(ctx, arena.Heartbeat{NodeID: "n1", Starts: pace}); err != nil {
		t.Fatal(err)
	}
	h.create(arena.SessionRequest{})
}
