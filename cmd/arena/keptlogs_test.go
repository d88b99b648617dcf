package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/arena-hq/arena"
	"github.com/arena-hq/arena/config"
	"github.com/arena-hq/arena/docker/dockertest"
)

// TestKeptLogsEndToEnd: on the real Docker Engine, what a session's game
// server wrote stays readable through GET /logs after its container is
// removed (it exited, was deleted, or crash-looped through restarts), until
// the artifacts' retention has passed.
func TestKeptLogsEndToEnd(t *testing.T) {
	const retention = 15 * time.Second
	s := newStackConfig(t, 8, "", func(c *config.Config) { c.ArtifactRetention = config.Duration(retention) })

	// kept waits until the session's container is gone, then reads its
	// output with and without follow: both answer what was kept, and end.
	kept := func(t *testing.T, id string) string {
		t.Helper()
		dockertest.Eventually(t, dockertest.Timeout, func() error {
			for _, c := range s.containers() {
				if c.SessionID == arena.SessionKey(s.cfg.OrgID, id) {
					return fmt.Errorf("container %s is still there", c.ID)
				}
			}
			return nil
		})
		status, body := s.call("GET", "/logs?id="+id, nil)
		if status != 200 {
			t.Fatalf("GET /logs of stopped session %s: %d %s", id, status, body)
		}
		followed, fbody := s.call("GET", "/logs?id="+id+"&follow=true", nil)
		if followed != 200 || string(fbody) != string(body) {
			t.Fatalf("GET /logs?follow=true of stopped session %s: %d %q, want the kept %q", id, followed, fbody, body)
		}
		return string(body)
	}

	tests := []struct {
		name string
		// stop makes the session end, after it started when running.
		body    map[string]any
		running bool
		stop    func(t *testing.T, c created)
		status  string
		// want are lines the kept output holds, each as many times as said.
		want map[string]int
	}{
		{
			name: "the process exits", body: map[string]any{"id": "kept-exit"}, running: true,
			stop: func(t *testing.T, c created) {
				dockertest.AskTCP(t, hostPort(c, arena.TCP), "EXIT 4")
			},
			status: "exited",
			want:   map[string]int{"echo server listening": 1, "EXIT 4": 1, "exiting with code 4 as asked": 1},
		},
		{
			name: "the session is deleted", body: map[string]any{"id": "kept-delete"}, running: true,
			stop: func(t *testing.T, c created) {
				if status, body := s.call("DELETE", "/session/"+c.ID, nil); status != 204 {
					t.Fatalf("DELETE: %d %s", status, body)
				}
			},
			status: "exited",
			want:   map[string]int{"echo server listening": 1, "terminated": 1},
		},
		{
			// The engine keeps one container across restarts, and its
			// output with it: every run's is kept.
			name: "a crash loop through restarts",
			body: map[string]any{"id": "kept-crashloop", "restart": true, "args": []string{"--exit-after", "0s", "--exit-code", "2"}},
			stop: func(*testing.T, created) {}, status: "dead",
			want: map[string]int{"echo server listening": 3, "exiting with code 2 after 0s": 3},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := s.create(tt.body)
			if tt.running {
				s.waitStatus(c.ID, "running")
			}
			tt.stop(t, c)
			s.waitStatus(c.ID, tt.status)
			out := kept(t, c.ID)
			for line, n := range tt.want {
				if got := strings.Count(out, line); got != n {
					t.Errorf("%q appears %d times, want %d, in the kept output:\n%s", line, got, n, out)
				}
			}
		})
	}

	// Past the retention the output is gone, from the API and the disk.
	file := filepath.Join(s.opts.data, "artifacts", arena.SessionKey(s.cfg.OrgID, "kept-exit")+".log")
	if _, err := os.Stat(file); err != nil {
		t.Fatalf("the kept output is not where expected: %v", err)
	}
	dockertest.Eventually(t, retention+dockertest.Timeout, func() error {
		if status, body := s.call("GET", "/logs?id=kept-exit", nil); status != 404 {
			return fmt.Errorf("GET /logs past the retention: %d %q", status, body)
		}
		return nil
	})
	if _, err := os.Stat(file); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("the expired output is still on disk: %v", err)
	}
	if status, body := s.call("GET", "/session/kept-exit?all=true", nil); status != 200 {
		t.Fatalf("the session itself is forgotten: %d %s", status, body)
	}
}
