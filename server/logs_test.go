package server_test

import (
	"bufio"
	"context"
	"io"
	"strings"
	"testing"

	"github.com/arena-hq/arena"
)

func TestLogs(t *testing.T) {
	h := newHarness(t, 10)
	ctx := context.Background()
	h.create(arena.SessionRequest{ID: "s"})
	h.waitState("s", arena.SessionRunning)
	if err := h.rt.Write("s", "first line\n"); err != nil {
		t.Fatal(err)
	}

	rc, err := h.srv.Logs(ctx, org, "s", false)
	if err != nil {
		t.Fatal(err)
	}
	all, err := io.ReadAll(rc)
	rc.Close()
	if err != nil || !strings.Contains(string(all), "first line") {
		t.Fatalf("logs %q, %v", all, err)
	}

	follow, err := h.srv.Logs(ctx, org, "s", true)
	if err != nil {
		t.Fatal(err)
	}
	defer follow.Close()
	lines := bufio.NewScanner(follow)
	readUntil := func(want string) {
		t.Helper()
		for lines.Scan() {
			if strings.Contains(lines.Text(), want) {
				return
			}
		}
		t.Fatalf("the stream ended (%v) before %q", lines.Err(), want)
	}
	readUntil("first line")
	if err := h.rt.Write("s", "second line\n"); err != nil {
		t.Fatal(err)
	}
	readUntil("second line")
	if err := h.srv.StopSession(ctx, org, "s"); err != nil {
		t.Fatal(err)
	}
	for lines.Scan() {
	}
	if err := lines.Err(); err != nil {
		t.Fatalf("the followed stream ended with %v, want a clean end when the session stopped", err)
	}

	h.waitState("s", arena.SessionStopped)
	for name, tc := range map[string]struct{ org, id string }{
		"stopped session":                {org, "s"},
		"another organisation's session": {"org-b", "s"},
		"unknown session":                {org, "nope"},
	} {
		t.Run(name, func(t *testing.T) {
			if _, err := h.srv.Logs(ctx, tc.org, tc.id, false); arena.ErrorCode(err) != arena.ENOTFOUND {
				t.Fatalf("got %v, want not found", err)
			}
		})
	}
}
