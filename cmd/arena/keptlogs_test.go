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
	"github.com/arena-hq/arena/client"
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
		sessions := s.api().Sessions()
		body, err := readStream(sessions.Logs(t.Context(), id))
		if err != nil {
			t.Fatalf("GET /logs of stopped session %s: %v", id, err)
		}
		fbody, err := readStream(sessions.FollowLogs(t.Context(), id))
		if err != nil || string(fbody) != string(body) {
			t.Fatalf("GET /logs?follow=true of stopped session %s: %v %q, want the kept %q", id, err, fbody, body)
		}
		return string(body)
	}

	tests := []struct {
		name string
		// stop makes the session end, after it started when running.
		req     client.SessionRequest
		running bool
		stop    func(t *testing.T, c client.CreatedSession)
		status  string
		// want are lines the kept output holds, each as many times as said.
		want map[string]int
	}{
		{
			name: "the process exits", req: client.SessionRequest{ID: "kept-exit"}, running: true,
			stop: func(t *testing.T, c client.CreatedSession) {
				dockertest.AskTCP(t, hostPort(c, arena.TCP), "EXIT 4")
			},
			status: "exited",
			want:   map[string]int{"echo server listening": 1, "EXIT 4": 1, "exiting with code 4 as asked": 1},
		},
		{
			name: "the session is deleted", req: client.SessionRequest{ID: "kept-delete"}, running: true,
			stop: func(t *testing.T, c client.CreatedSession) {
				if err := s.api().Sessions().Stop(t.Context(), c.ID); err != nil {
					t.Fatalf("DELETE: %v", err)
				}
			},
			status: "exited",
			want:   map[string]int{"echo server listening": 1, "terminated": 1},
		},
		{
			// The engine keeps one container across restarts, and its
			// output with it: every run's is kept.
			name: "a crash loop through restarts",
			req:  client.SessionRequest{ID: "kept-crashloop", Restart: true, Args: []string{"--exit-after", "0s", "--exit-code", "2"}},
			stop: func(*testing.T, client.CreatedSession) {}, status: "dead",
			want: map[string]int{"echo server listening": 3, "exiting with code 2 after 0s": 3},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := s.create(tt.req)
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
		if _, err := readStream(s.api().Sessions().Logs(t.Context(), "kept-exit")); arena.ErrorCode(err) != arena.ENOTFOUND {
			return fmt.Errorf("GET /logs past the retention: %v, want %s", err, arena.ENOTFOUND)
		}
		return nil
	})
	if _, err := os.Stat(file); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("the expired output is still on disk: %v", err)
	}
	if _, err := s.describe("kept-exit"); err != nil {
		t.Fatalf("the session itself is forgotten: %v", err)
	}
}
