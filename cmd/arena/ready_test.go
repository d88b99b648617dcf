package main

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/arena-hq/arena"
	"github.com/arena-hq/arena/client"
	"github.com/arena-hq/arena/docker/dockertest"
)

// readinessApps are applications of the echo image whose game servers load
// before they bind (--start-delay), one of them for ever, and serve on TCP
// alone, UDP alone, or the host's network.
func readinessApps(tb testing.TB) string {
	tb.Helper()
	repo, tag, _ := strings.Cut(dockertest.EchoImage(tb), ":")
	app := func(name, extra string) string {
		return fmt.Sprintf(`
  - name: %s
    repository: %s
    tags: [{name: %q, priority: 1}]
    resources: {milliCpu: 100, memoryMb: 64}
    stopGrace: 1s
%s`, name, repo, tag, extra)
	}
	both := "    ports: [{container: 7777, protocol: tcp}, {container: 7777, protocol: udp}]\n"
	return app("slow", both+"    args: [--start-delay, 1500ms]\n") +
		app("deaf", both+"    args: [--start-delay, 1h]\n    readiness: {timeout: 1s}\n") +
		app("tcp-only", "    ports: [{container: 7777, protocol: tcp}]\n") +
		app("udp-only", "    ports: [{container: 7777, protocol: udp}]\n") +
		app("host-slow", both+"    network: host\n    args: [--start-delay, 1s]\n")
}

// TestReadinessOnTheEngine: a session is created while its game server
// loads, running once it binds its ports, and billed from then; one whose
// game server never binds fails at its readiness timeout, unbilled; TCP
// alone, UDP alone and host networking are running once they serve.
func TestReadinessOnTheEngine(t *testing.T) {
	s := newStackWith(t, 20, readinessApps(t))

	t.Run("billed from the bind", func(t *testing.T) {
		c := s.create(client.SessionRequest{ID: "slow-1", Image: "slow"})
		var started time.Time
		dockertest.Eventually(t, dockertest.Timeout, func() error {
			for _, ct := range s.containers() {
				if ct.SessionID == arena.SessionKey(s.cfg.OrgID, "slow-1") && ct.Running {
					started = ct.StartedAt
					return nil
				}
			}
			return fmt.Errorf("the container of slow-1 is not running yet")
		})
		if d, err := s.describe("slow-1"); err != nil || d.Status != "created" {
			t.Fatalf("while its game server loads: %+v, %v; want created", d, err)
		}
		s.waitStatus("slow-1", "running")
		if got := dockertest.AskUDP(t, hostPort(c, arena.UDP), "ready"); got != "ready" {
			t.Fatalf("udp echo once running = %q", got)
		}
		if err := s.api().Sessions().Stop(t.Context(), "slow-1"); err != nil {
			t.Fatal(err)
		}
		s.waitStatus("slow-1", "exited")
		usage, err := s.store.ListUsage(t.Context(), s.cfg.OrgID)
		if err != nil {
			t.Fatal(err)
		}
		for _, u := range usage {
			if u.SessionID == arena.SessionKey(s.cfg.OrgID, "slow-1") {
				if u.Start.Sub(started) < 1400*time.Millisecond || u.Seconds > int64(time.Since(started.Add(1400*time.Millisecond)).Seconds())+1 {
					t.Fatalf("billed %ds from %v; its process started at %v, and bound its ports 1.5s later", u.Seconds, u.Start, started)
				}
				return
			}
		}
		t.Fatalf("no usage of slow-1 in %+v", usage)
	})

	t.Run("never binds", func(t *testing.T) {
		s.create(client.SessionRequest{ID: "deaf-1", Image: "deaf"})
		d := s.waitStatus("deaf-1", "dead")
		sess := s.session("deaf-1")
		if sess.StopReason != arena.StopFailed || !strings.Contains(sess.StopMessage, "7777/tcp, 7777/udp") || !sess.RunningAt.IsZero() || d.RunningAt != 0 {
			t.Fatalf("stopped %+v (%q), running at %v; want failed on both ports, never running", sess.StopReason, sess.StopMessage, sess.RunningAt)
		}
	})

	for _, image := range []string{"tcp-only", "udp-only", "host-slow"} {
		t.Run(image, func(t *testing.T) {
			s.create(client.SessionRequest{ID: image + "-1", Image: image})
			s.waitStatus(image+"-1", "running")
		})
	}
}

// TestWarmPoolOnTheEngine: a pool of the echo server fills on the engine;
// a create claims its session, which echoes at once on the ports of the
// create's answer, and the pool fills again.
func TestWarmPoolOnTheEngine(t *testing.T) {
	repo, tag, _ := strings.Cut(dockertest.EchoImage(t), ":")
	s := newStackWith(t, 20, fmt.Sprintf(`
  - name: warm
    repository: %s
    tags: [{name: %q, priority: 1}]
    ports: [{container: 7777, protocol: tcp}, {container: 7777, protocol: udp}]
    resources: {milliCpu: 100, memoryMb: 64}
    stopGrace: 1s
    pools: [{location: local, size: 1}]
`, repo, tag))
	ready := func() int {
		all, err := s.store.ListSessions(t.Context(), arena.SessionQuery{OrgID: s.cfg.OrgID, ActiveOnly: true})
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for _, sess := range all {
			if sess.Pool != "" && sess.State == arena.SessionRunning {
				n++
			}
		}
		return n
	}
	dockertest.Eventually(t, dockertest.Timeout, func() error {
		if n := ready(); n != 1 {
			return fmt.Errorf("%d sessions ready in the pool", n)
		}
		return nil
	})
	cold := s.create(client.SessionRequest{ID: "cold-1", Image: "echo"})
	if d := s.waitStatus(cold.ID, "running"); d.Warm {
		t.Fatalf("a cold start described as warm: %+v", d)
	}
	c := s.create(client.SessionRequest{ID: "warm-1", Image: "warm"})
	if got := dockertest.AskUDP(t, hostPort(c, arena.UDP), "warm"); got != "warm" {
		t.Fatalf("udp echo of the claimed session = %q", got)
	}
	if d, err := s.describe("warm-1"); err != nil || d.Status != "running" || !d.Warm {
		t.Fatalf("the claimed session: %+v, %v; want running, and warm", d, err)
	}
	dockertest.Eventually(t, dockertest.Timeout, func() error {
		if n := ready(); n != 1 {
			return fmt.Errorf("%d sessions ready in the pool", n)
		}
		return nil
	})
}
