package server_test

import (
	"context"
	"fmt"
	"testing"

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
	if err != nil || len(list) != 1 || list[0].ID != "b" {
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
