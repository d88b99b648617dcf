package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"reflect"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/arena-hq/arena"
	"github.com/arena-hq/arena/client"
	"github.com/arena-hq/arena/docker/dockertest"
)

// bothPorts are the echo server's ports, TCP and UDP 7777, in a config file.
const bothPorts = "    ports: [{container: 7777, protocol: tcp}, {container: 7777, protocol: udp}]\n"

// echoApp is an application, name, of the echo image for a config file, with
// extra lines of its own.
func echoApp(tb testing.TB, name, extra string) string {
	tb.Helper()
	repo, tag, _ := strings.Cut(dockertest.EchoImage(tb), ":")
	return fmt.Sprintf(`
  - name: %s
    repository: %s
    tags: [{name: %q, priority: 1}]
    resources: {milliCpu: 100, memoryMb: 64}
    stopGrace: 1s
%s`, name, repo, tag, extra)
}

// readinessApps are applications of the echo image whose game servers load
// before they bind (--start-delay), one of them for ever, and serve on TCP
// alone, UDP alone, or the host's network.
func readinessApps(tb testing.TB) string {
	tb.Helper()
	app := func(name, extra string) string { return echoApp(tb, name, extra) }
	return app("slow", bothPorts+"    args: [--start-delay, 1500ms]\n") +
		app("deaf", bothPorts+"    args: [--start-delay, 1h]\n    readiness: {timeout: 1s}\n") +
		app("tcp-only", "    ports: [{container: 7777, protocol: tcp}]\n") +
		app("udp-only", "    ports: [{container: 7777, protocol: udp}]\n") +
		app("host-slow", bothPorts+"    network: host\n    args: [--start-delay, 1s]\n")
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

// TestWarmPoolOnTheEngine: a pool of the echo server fills on the engine,
// as the admin API, the CLI and the metrics show; a create claims its
// session, which echoes at once on the ports of the create's answer; the
// next falls back to a cold start, and the pool fills again.
func TestWarmPoolOnTheEngine(t *testing.T) {
	s := newStackWith(t, 20, echoApp(t, "warm", bothPorts+"    warmPools: [{location: local, size: 1}]\n"), func(o *devOptions) { o.metricsListen = "127.0.0.1:0" })
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
	app, err := s.api().Admin().GetApplication(t.Context(), s.cfg.OrgID, "warm")
	if err != nil {
		t.Fatal(err)
	}
	want := client.WarmPool{Location: "local", Size: 1, Mode: "claim", Ready: 1, Nodes: []client.WarmPoolNode{{Node: s.Node.ID, Ready: 1}}}
	if len(app.WarmPools) != 1 || !reflect.DeepEqual(app.WarmPools[0], want) {
		t.Fatalf("the admin API's warm pools: %+v, want %+v", app.WarmPools, want)
	}
	out := mustCLI(t, "app", "get", "warm", "--server", s.URL, "--token", testToken)
	if !regexp.MustCompile(`(?m)^local\s+-\s+claim\s+1\s+1\s+0\s+` + regexp.QuoteMeta(s.Node.ID) + `=1/0$`).MatchString(out) {
		t.Fatalf("arena app get shows no full pool:\n%s", out)
	}
	metric := `arena_warm_pool_sessions{application="warm",node="` + s.Node.ID + `",org="` + s.cfg.OrgID + `",pool="warm:@local",state="ready"} 1`
	if body := scrapeMetrics(t, s.MetricsURL); !strings.Contains(body, metric) {
		t.Fatalf("no %s in the metrics:\n%s", metric, body)
	}
	cold := s.create(client.SessionRequest{ID: "cold-1", Image: "echo"})
	if d := s.waitStatus(cold.ID, "running"); d.Warm {
		t.Fatalf("a cold start described as warm: %+v", d)
	}
	c := s.create(client.SessionRequest{ID: "warm-1", Image: "warm"})
	if got := dockertest.AskUDP(t, hostPort(c, arena.UDP), "warm"); got != "warm" {
		t.Fatalf("udp echo of the claimed session = %q", got)
	}
	// The pool's one is taken, and what replenishes it takes an engine's
	// start: the next create starts cold.
	if d := s.waitStatus(s.create(client.SessionRequest{ID: "warm-2", Image: "warm"}).ID, "running"); d.Warm {
		t.Fatalf("a create right after the pool's one was claimed: %+v; want a cold start", d)
	}
	if d, err := s.describe("warm-1"); err != nil || d.Status != "running" || !d.Warm {
		t.Fatalf("the claimed session: %+v, %v; want running, and warm", d, err)
	}
	if out := mustCLI(t, "usage", "--server", s.URL, "--token", testToken); !strings.Contains(out, "WARM POOL HOURS") {
		t.Fatalf("arena usage shows no time in the warm pool:\n%s", out)
	}
	dockertest.Eventually(t, dockertest.Timeout, func() error {
		if n := ready(); n != 1 {
			return fmt.Errorf("%d sessions ready in the pool", n)
		}
		return nil
	})
}

// TestWarmPoolThroughTheAPI: a pool set through the admin API fills, and
// one resized through the Gameye API's application body follows at once,
// without a restart.
func TestWarmPoolThroughTheAPI(t *testing.T) {
	repo, tag, _ := strings.Cut(dockertest.EchoImage(t), ":")
	s := newStack(t, 20)
	admin := s.api().Admin()
	if _, err := admin.CreateApplication(t.Context(), s.cfg.OrgID, map[string]any{
		"name": "lobby", "repository": repo, "tags": []any{map[string]any{"name": tag, "priority": 1}},
		"ports": []any{map[string]any{"container": 7777, "protocol": "udp"}}, "resources": map[string]any{"milliCpu": 100, "memoryMb": 64},
		"stopGraceSeconds": 1, "warmPools": []any{map[string]any{"location": "local", "size": 2}},
	}); err != nil {
		t.Fatal(err)
	}
	waitPool := func(ready int) {
		t.Helper()
		dockertest.Eventually(t, dockertest.Timeout, func() error {
			app, err := admin.GetApplication(t.Context(), s.cfg.OrgID, "lobby")
			if err != nil {
				return err
			}
			if len(app.WarmPools) != 1 || app.WarmPools[0].Ready != ready || app.WarmPools[0].Warming != 0 {
				return fmt.Errorf("warm pools %+v, want %d ready", app.WarmPools, ready)
			}
			all, err := s.store.ListSessions(t.Context(), arena.SessionQuery{OrgID: s.cfg.OrgID, ActiveOnly: true})
			if err != nil {
				return err
			}
			if len(all) != ready {
				return fmt.Errorf("%d active sessions, want the pool's %d", len(all), ready)
			}
			return nil
		})
	}
	waitPool(2)
	if status, body := s.call("PUT", "/application/lobby", map[string]any{"warmPools": []any{map[string]any{"location": "local", "size": 1}}}); status != 204 {
		t.Fatalf("PUT /application/lobby: %d %s", status, body)
	}
	waitPool(1)
	if d := s.create(client.SessionRequest{ID: "lobby-1", Image: "lobby"}); !s.waitStatus(d.ID, "running").Warm {
		t.Fatal("the create was not claimed from the pool")
	}
}

// TestWarmPoolLaunchOnTheEngine: a pool in launch mode waits in the
// launcher on the engine, under a user of its own on a read-only root, and
// is adopted by Arena restarted; a claim starts the echo server in it with
// the request's env and args and the caller's id, running once it serves;
// the pool fills again.
func TestWarmPoolLaunchOnTheEngine(t *testing.T) {
	s := newStackWith(t, 20, echoApp(t, "launched", bothPorts+`    env: {FROM_APP: "yes"}
    user: "65534:65534"
    readOnlyRootFilesystem: true
    warmPools: [{location: local, size: 1, mode: launch}]
`))
	admin := s.api().Admin()
	waitReady := func() {
		t.Helper()
		dockertest.Eventually(t, dockertest.Timeout, func() error {
			app, err := admin.GetApplication(t.Context(), s.cfg.OrgID, "launched")
			if err != nil || len(app.WarmPools) != 1 || app.WarmPools[0].Ready != 1 {
				return fmt.Errorf("warm pools %+v, %v; want one ready", app.WarmPools, err)
			}
			return nil
		})
	}
	waitReady()
	// Arena restarted, agent and all, adopts the waiting container.
	before := s.containers()
	s.opts.listen = strings.TrimPrefix(s.URL, "http://")
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s.stack = nil
	s.start()
	waitReady()
	if after := s.containers(); len(after) != 1 || len(before) != 1 || after[0].ID != before[0].ID {
		t.Fatalf("the pool's containers: %+v before a restart, %+v after; want the one adopted", before, after)
	}
	status, body := s.call("POST", "/session", map[string]any{
		"id": "launched-1", "image": "launched", "location": "local",
		"env": map[string]string{"MATCH": "final"}, "args": []string{"--port", "7777"},
	})
	if status != 201 {
		t.Fatalf("POST /session: %d %s", status, body)
	}
	var c client.CreatedSession
	if err := json.Unmarshal(body, &c); err != nil {
		t.Fatal(err)
	}
	if d := s.waitStatus("launched-1", "running"); !d.Warm {
		t.Fatalf("the claimed session: %+v; want it warm", d)
	}
	tcp := hostPort(c, arena.TCP)
	for line, want := range map[string]string{
		"ENV MATCH":                 "final",
		"ENV FROM_APP":              "yes",
		"ENV " + arena.EnvSessionID: "launched-1",
		"ARGS":                      "--port 7777",
		"ID":                        "uid=65534 gid=65534",
	} {
		if got := dockertest.AskTCP(t, tcp, line); got != want {
			t.Errorf("TCP %q: got %q, want %q", line, got, want)
		}
	}
	if got := dockertest.AskUDP(t, hostPort(c, arena.UDP), "warm"); got != "warm" {
		t.Errorf("udp echo of the launched session = %q", got)
	}
	waitReady()
}

// TestWarmBench runs arena bench's warm claims against arena dev on the
// engine: claims in both modes and a burst print their figures, and the
// bench's applications and sessions are gone after it.
func TestWarmBench(t *testing.T) {
	s := newStack(t, 40)
	var out, errOut bytes.Buffer
	err := runBench(t.Context(), []string{"--target", s.URL, "--token", testToken, "--concurrency=", "--rate=", "--warm", "2", "--warm-burst", "3"}, &out, &errOut)
	if err != nil {
		t.Fatalf("arena bench: %v\n%s%s", err, out.String(), errOut.String())
	}
	for _, want := range []*regexp.Regexp{
		regexp.MustCompile(`warm pool, mode claim .*, 2 sessions: POST /session to running median \d+\.\d+ms`),
		regexp.MustCompile(`warm pool, mode launch .*, 2 sessions: POST /session to running median \d+\.\d+ms`),
		regexp.MustCompile(`a burst of 3 creates at once against a full pool of 3: all running within \d+\.\d+ms`),
	} {
		if !want.MatchString(out.String()) {
			t.Errorf("no line like %q in:\n%s", want, out.String())
		}
	}
	apps, err := s.api().Admin().ListApplications(t.Context(), s.cfg.OrgID)
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range apps.Applications {
		if strings.HasPrefix(a.Name, "bench-") {
			t.Errorf("the bench left application %s", a.Name)
		}
	}
	s.waitNoContainers()
}
