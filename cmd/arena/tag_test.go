package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/arena-hq/arena/docker/dockertest"
	"github.com/arena-hq/arena/registry/registrytest"
)

type tagAnswer struct {
	Exists bool   `json:"exists"`
	Status string `json:"status"`
	Nodes  struct {
		Total, Present, Pulling, Failed int
	} `json:"nodes"`
	Error string `json:"error"`
}

// TestPrePullFromPrivateRegistry runs `arena dev` with applications on a
// private registry on loopback: the agent pulls their tags with the
// applications' credentials before any session asks, GET /tag follows it
// from pulling to present, and a wrong password shows as a failed pull.
func TestPrePullFromPrivateRegistry(t *testing.T) {
	rt := dockertest.Runtime(t)
	reg := registrytest.NewRegistry(t, "studio", "s3cret-pass")
	tag := dockertest.RandomID()
	ref := reg.PushEcho(t, "game/echo", tag)
	locked := reg.PushEcho(t, "game/locked", tag)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		for _, r := range []string{ref, locked} {
			if err := rt.RemoveImage(ctx, r); err != nil {
				t.Error(err)
			}
		}
	})
	reg.Hold() // the pull starts but cannot finish until Release
	// A password no message could contain by chance: it must appear in none.
	lockedPassword := "pw-" + dockertest.RandomID()

	s := newStackWith(t, 8, fmt.Sprintf(`
  - name: private
    repository: %s/game/echo
    tags: [{name: %[2]s, priority: 1}]
    ports: [{container: 7777, protocol: tcp}]
    resources: {milliCpu: 100, memoryMb: 64}
    registry: {username: studio, password: s3cret-pass}
  - name: locked
    repository: %[1]s/game/locked
    tags: [{name: %[2]s, priority: 1}]
    resources: {milliCpu: 100, memoryMb: 64}
    registry: {username: studio, password: %[3]s}
`, reg.Host, tag, lockedPassword))

	lookup := func(path string) tagAnswer {
		t.Helper()
		status, body := s.call("GET", path, nil)
		if status != 200 {
			t.Fatalf("GET %s: %d %s", path, status, body)
		}
		var a tagAnswer
		if err := json.Unmarshal(body, &a); err != nil {
			t.Fatal(err)
		}
		return a
	}
	waitTag := func(path, status string) tagAnswer {
		t.Helper()
		var a tagAnswer
		dockertest.Eventually(t, dockertest.Timeout, func() error {
			if a = lookup(path); a.Status != status {
				return fmt.Errorf("GET %s: %+v, want status %s", path, a, status)
			}
			return nil
		})
		return a
	}

	private := "/tag/europe/private/" + tag
	if a := waitTag(private, "pulling"); a.Exists || a.Nodes.Total != 1 || a.Nodes.Pulling != 1 {
		t.Fatalf("while pulling: %+v", a)
	}
	if has, err := rt.ImageExists(context.Background(), ref); err != nil || has {
		t.Fatalf("the image is on the node before the registry let it go: %v %v", has, err)
	}
	// A session asked for meanwhile waits for the pull rather than failing.
	c := s.create(map[string]any{"image": "private"})
	if d, _ := s.describe(c.ID); d.Status == "running" {
		t.Fatalf("session running before its image arrived: %+v", d)
	}
	if err := runTag(context.Background(), []string{"europe", "private", tag, "--server", s.URL, "--token", testToken}, io.Discard, io.Discard); err != errTagAbsent {
		t.Fatalf("arena tag while pulling: %v, want %v", err, errTagAbsent)
	}

	reg.Release()
	if a := waitTag(private, "present"); !a.Exists || a.Nodes.Present != 1 {
		t.Fatalf("after the pull: %+v", a)
	}
	s.waitStatus(c.ID, "running")
	if got := dockertest.AskTCP(t, fmt.Sprintf("127.0.0.1:%d", c.Ports[0].Host), "ENV GAMEYE_SESSION_ID"); !strings.Contains(got, c.ID) {
		t.Fatalf("the pulled game server answered %q", got)
	}
	var out bytes.Buffer
	if err := runTag(context.Background(), []string{"europe", "private", tag, "--wait", "10s", "--server", s.URL, "--token", testToken}, &out, io.Discard); err != nil {
		t.Fatalf("arena tag once present: %v", err)
	}
	if !strings.Contains(out.String(), "present") {
		t.Fatalf("arena tag printed:\n%s", out.String())
	}

	a := waitTag("/tag/europe/locked/"+tag, "failed")
	if a.Exists || a.Nodes.Failed != 1 || !strings.Contains(a.Error, "unauthorized") || strings.Contains(a.Error, lockedPassword) {
		t.Fatalf("with a wrong password: %+v", a)
	}
	if a := lookup("/tag/europe/private/no-such-tag"); a.Exists || a.Status != "missing" {
		t.Fatalf("a tag the application does not have: %+v", a)
	}
	if status, _ := s.call("GET", "/tag/asia/private/"+tag, nil); status != 404 {
		t.Fatalf("unknown region: %d", status)
	}
	if status, _ := s.call("GET", "/tag/europe/nope/"+tag, nil); status != 404 {
		t.Fatalf("unknown image: %d", status)
	}
}
