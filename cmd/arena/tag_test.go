package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/arena-hq/arena"
	"github.com/arena-hq/arena/client"
	"github.com/arena-hq/arena/docker/dockertest"
	"github.com/arena-hq/arena/registry/registrytest"
)

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

	sessions := s.api().Sessions()
	lookup := func(image, version string) client.TagStatus {
		t.Helper()
		a, err := sessions.Tag(t.Context(), "europe", image, version)
		if err != nil {
			t.Fatalf("GET /tag/europe/%s/%s: %v", image, version, err)
		}
		return a
	}
	waitTag := func(image, status string) client.TagStatus {
		t.Helper()
		var a client.TagStatus
		dockertest.Eventually(t, dockertest.Timeout, func() error {
			if a = lookup(image, tag); a.Status != status {
				return fmt.Errorf("GET /tag/europe/%s/%s: %s, want status %s", image, tag, a.Raw(), status)
			}
			return nil
		})
		return a
	}

	if a := waitTag("private", "pulling"); a.Exists || a.Nodes.Total != 1 || a.Nodes.Pulling != 1 {
		t.Fatalf("while pulling: %+v", a)
	}
	if has, err := rt.ImageExists(context.Background(), ref); err != nil || has {
		t.Fatalf("the image is on the node before the registry let it go: %v %v", has, err)
	}
	// A session asked for meanwhile waits for the pull rather than failing.
	c := s.create(client.SessionRequest{Image: "private"})
	if d, _ := s.describe(c.ID); d.Status == "running" {
		t.Fatalf("session running before its image arrived: %+v", d)
	}
	if err := runTag(context.Background(), []string{"europe", "private", tag, "--server", s.URL, "--token", testToken}, io.Discard, io.Discard); err != errTagAbsent {
		t.Fatalf("arena tag while pulling: %v, want %v", err, errTagAbsent)
	}

	reg.Release()
	if a := waitTag("private", "present"); !a.Exists || a.Nodes.Present != 1 {
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

	a := waitTag("locked", "failed")
	if a.Exists || a.Nodes.Failed != 1 || !strings.Contains(a.Error, "unauthorized") || strings.Contains(a.Error, lockedPassword) {
		t.Fatalf("with a wrong password: %+v", a)
	}
	if a := lookup("private", "no-such-tag"); a.Exists || a.Status != "missing" {
		t.Fatalf("a tag the application does not have: %+v", a)
	}
	if _, err := sessions.Tag(t.Context(), "asia", "private", tag); arena.ErrorCode(err) != arena.ENOTFOUND {
		t.Fatalf("unknown region: %v, want %s", err, arena.ENOTFOUND)
	}
	if _, err := sessions.Tag(t.Context(), "europe", "nope", tag); arena.ErrorCode(err) != arena.ENOTFOUND {
		t.Fatalf("unknown image: %v, want %s", err, arena.ENOTFOUND)
	}
}
