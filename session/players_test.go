package session_test

import (
	"context"
	"fmt"
	"math"
	"testing"
	"time"

	"github.com/arena-hq/arena"
)

func TestPlayers(t *testing.T) {
	h := newHarness(t, 10)
	ctx := context.Background()
	h.create(arena.SessionRequest{ID: "a"})
	h.create(arena.SessionRequest{ID: "b"})

	s, err := h.srv.JoinPlayers(ctx, org, "a", []string{"p1", "p2"})
	if err != nil || fmt.Sprint(s.Players) != "[p1 p2]" {
		t.Fatalf("join: %v %v", s, err)
	}
	if s, err = h.srv.JoinPlayers(ctx, org, "a", []string{"p2", "p3"}); err != nil || fmt.Sprint(s.Players) != "[p1 p2 p3]" {
		t.Fatalf("join again: %v %v", s, err)
	}
	if _, err := h.srv.JoinPlayers(ctx, org, "b", []string{"p4"}); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		run  func() error
		want string
	}{
		{"join another organisation's session", func() error { _, err := h.srv.JoinPlayers(ctx, "org-b", "a", []string{"x"}); return err }, arena.ENOTFOUND},
		{"join an unknown session", func() error { _, err := h.srv.JoinPlayers(ctx, org, "nope", []string{"x"}); return err }, arena.ENOTFOUND},
		{"join nobody", func() error { _, err := h.srv.JoinPlayers(ctx, org, "a", nil); return err }, arena.EINVALID},
		{"leave another organisation's session", func() error { _, err := h.srv.LeavePlayers(ctx, "org-b", "a", []string{"p1"}); return err }, arena.ENOTFOUND},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := arena.ErrorCode(tt.run()); got != tt.want {
				t.Fatalf("got %q, want %q", got, tt.want)
			}
		})
	}
	// Backfill: sessions with fewer than 3 players.
	lt := 3
	list, err := h.srv.ListSessions(ctx, org, arena.SessionFilter{PlayerCountLT: &lt})
	if err != nil || len(list) != 1 || list[0].Name != "b" {
		t.Fatalf("playerCount[lt]=3: %v %v", list, err)
	}

	changed, err := h.srv.LeavePlayers(ctx, org, "", []string{"p1", "p4", "ghost"})
	if err != nil || len(changed) != 2 {
		t.Fatalf("leave across sessions: %v %v", changed, err)
	}
	if changed, err := h.srv.LeavePlayers(ctx, org, "", []string{"p1"}); err != nil || len(changed) != 0 {
		t.Fatalf("leave again: %v %v", changed, err)
	}
	// Players are kept across a restart of the control plane.
	h.restartServer()
	got, err := h.srv.FindSession(ctx, org, "a")
	if err != nil || fmt.Sprint(got.Players) != "[p2 p3]" {
		t.Fatalf("after restart: %v %v", got, err)
	}
	h.waitState("a", arena.SessionRunning)
	if err := h.srv.StopSession(ctx, org, "a"); err != nil {
		t.Fatal(err)
	}
	h.waitState("a", arena.SessionStopped)
	if _, err := h.srv.JoinPlayers(ctx, org, "a", []string{"late"}); arena.ErrorCode(err) != arena.ENOTFOUND {
		t.Fatalf("join a stopped session: %v", err)
	}
}

func TestUsageReport(t *testing.T) {
	h := newHarness(t, 10, func(c *testConfig) {
		c.Rates = []arena.Rate{{Resources: arena.Resources{MilliCPU: 100, MemoryMB: 100}, PerHour: 3.6}}
	})
	h.stop() // reports by hand
	ctx := context.Background()
	s := h.create(arena.SessionRequest{ID: "done"})
	start := time.Now().Add(-10 * time.Second)
	report(t, h, arena.SessionReport{SessionID: s.ID, NodeID: "n1", State: arena.SessionRunning, At: start})
	report(t, h, arena.SessionReport{SessionID: s.ID, NodeID: "n1", State: arena.SessionStopped, At: start.Add(4 * time.Second)})
	live := h.create(arena.SessionRequest{ID: "live"})
	report(t, h, arena.SessionReport{SessionID: live.ID, NodeID: "n1", State: arena.SessionRunning, At: start})
	h.create(arena.SessionRequest{ID: "never-ran"})

	lines, err := h.srv.Usage(ctx, org, start.Add(-time.Hour), start.Add(time.Hour))
	if err != nil || len(lines) != 1 {
		t.Fatalf("usage %+v %v", lines, err)
	}
	l := lines[0]
	// 4 s stopped, and the live one's ~10 s so far.
	if l.Application != "game" || l.Sessions != 2 || l.Seconds < 14 || l.Seconds > 16 || !l.Priced || math.Abs(l.Cost-float64(l.Seconds)/1000) > 1e-9 {
		t.Fatalf("usage line %+v", l)
	}
	if lines, _ := h.srv.Usage(ctx, "org-b", start.Add(-time.Hour), start.Add(time.Hour)); len(lines) != 0 {
		t.Fatalf("another organisation's usage: %+v", lines)
	}
	if _, err := h.srv.Usage(ctx, org, start, start); arena.ErrorCode(err) != arena.EINVALID {
		t.Fatalf("empty period: %v", err)
	}
}
