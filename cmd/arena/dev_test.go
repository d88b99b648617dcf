package main

import (
	"archive/tar"
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"debug/elf"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	nethttp "net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/arena-hq/arena"
	"github.com/arena-hq/arena/client"
	"github.com/arena-hq/arena/config"
	"github.com/arena-hq/arena/docker/dockertest"
	"github.com/arena-hq/arena/http/apitest"
	"github.com/arena-hq/arena/procnet"
)

func TestMain(m *testing.M) {
	dockertest.Main(m, func() {
		if built.dir != "" {
			os.RemoveAll(built.dir)
		}
	})
}

const testToken = "test-token-0123456789"

// testStack is an `arena dev` started in process on the real Docker Engine,
// with a node of its own and a small port range of its own.
type testStack struct {
	*stack
	tb      testing.TB
	token   string // of every call that names none; testToken when empty
	cfg     *config.Config
	opts    devOptions
	checker *apitest.Checker
}

// freePortRange returns n consecutive ports that are free on 127.0.0.1 for
// TCP and UDP, below the kernel's ephemeral range so that nothing else takes
// them while the test runs, and that no socket holds at all: one an earlier
// test left in TIME_WAIT binds, but the agent reports it held, and
// placement keeps off it.
func freePortRange(tb testing.TB, n int) (int, int) {
	tb.Helper()
	for range 100 {
		base := 15000 + rand.IntN(15000)
		held, err := procnet.HeldPorts(procnet.Dir, base, base+n-1)
		ok := err == nil && len(held) == 0
		for p := base; p < base+n && ok; p++ {
			l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(p)))
			if err != nil {
				ok = false
				break
			}
			u, err := net.ListenPacket("udp", net.JoinHostPort("127.0.0.1", strconv.Itoa(p)))
			l.Close()
			if err != nil {
				ok = false
				break
			}
			u.Close()
		}
		if ok {
			return base, base + n - 1
		}
	}
	tb.Fatal("no free port range")
	return 0, 0
}

// newStack starts Arena with the echo image as applications "echo" (bridge)
// and "echo-host" (host networking); ports is the size of the node's range.
func newStack(tb testing.TB, ports int) *testStack {
	tb.Helper()
	return newStackWith(tb, ports, "")
}

// newStackWith is newStack with more applications, YAML list items
// indented as the file's applications are.
func newStackWith(tb testing.TB, ports int, moreApps string, configure ...func(*devOptions)) *testStack {
	tb.Helper()
	return newStackConfig(tb, ports, moreApps, nil, configure...)
}

// newStackConfig is newStackWith with the parsed config file changed by
// edit, when not nil, before Arena starts.
func newStackConfig(tb testing.TB, ports int, moreApps string, edit func(*config.Config), configure ...func(*devOptions)) *testStack {
	tb.Helper()
	cfg := testConfig(tb, ports, moreApps)
	if edit != nil {
		edit(cfg)
	}
	s := &testStack{tb: tb, cfg: cfg, checker: apitest.NewChecker(tb),
		opts: devOptions{listen: "127.0.0.1:0", data: tb.TempDir(), devToken: testToken, publicIP: "127.0.0.1"},
	}
	for _, c := range configure {
		c(&s.opts)
	}
	s.start()
	tb.Cleanup(func() {
		if s.stack != nil {
			s.Close()
		}
	})
	return s
}

// testConfig is the configuration of newStackWith: the echo image as
// applications "echo" and "echo-host" and moreApps, on a node of the
// test's own with a port range of ports.
func testConfig(tb testing.TB, ports int, moreApps string) *config.Config {
	tb.Helper()
	image := dockertest.EchoImage(tb)
	repo, tag, _ := strings.Cut(image, ":")
	lo, hi := freePortRange(tb, ports)
	yaml := fmt.Sprintf(`
portRange: %d-%d
demoImage: ""
rateLimit: {perSecond: 100000, burst: 100000}
restart: {backoff: 50ms, maxBackoff: 100ms, crashLoopLimit: 2, stableAfter: 1m}
node: {id: %s, location: local, class: metal, milliCpu: 4000, memoryMb: 4096}
locations: [{name: local, region: europe}]
applications:
  - name: echo
    repository: %[4]s
    tags: [{name: %[5]s, priority: 1}]
    ports: [{container: 7777, protocol: tcp}, {container: 7777, protocol: udp}]
    resources: {milliCpu: 100, memoryMb: 64}
    env: {FROM_APP: "yes"}
    stopGrace: 5s
    artifacts: [/arena-terminated]
  - name: echo-host
    repository: %[4]s
    tags: [{name: %[5]s, priority: 1}]
    ports: [{container: 7777, protocol: tcp}, {container: 7777, protocol: udp}]
    network: host
    resources: {milliCpu: 100, memoryMb: 64}
    stopGrace: 5s
%[6]s`, lo, hi, dockertest.NodeID(tb), repo, tag, moreApps)
	cfg, err := config.Parse([]byte(yaml))
	if err != nil {
		tb.Fatal(err)
	}
	return cfg
}

func (s *testStack) start() {
	s.tb.Helper()
	log := slog.New(slog.NewTextHandler(testWriter{s.tb}, &slog.HandlerOptions{Level: slog.LevelWarn}))
	st, err := startDev(context.Background(), s.cfg, s.opts, log)
	if err != nil {
		s.tb.Fatal(err)
	}
	s.stack = st
}

type testWriter struct{ tb testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.tb.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}

// call sends a request with the test token (or with token when given),
// checks the response against Arena's OpenAPI document and returns it.
func (s *testStack) call(method, path string, body any, token ...string) (int, []byte) {
	s.tb.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	default:
		data, err := json.Marshal(b)
		if err != nil {
			s.tb.Fatal(err)
		}
		rd = bytes.NewReader(data)
	}
	req, err := nethttp.NewRequest(method, s.URL+path, rd)
	if err != nil {
		s.tb.Fatal(err)
	}
	tok := pick(s.token, testToken)
	if len(token) > 0 {
		tok = token[0]
	}
	if tok != "" {
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	if rd != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := nethttp.DefaultClient.Do(req)
	if err != nil {
		s.tb.Fatal(err)
	}
	return resp.StatusCode, s.checker.CheckResponse(s.tb, resp)
}

// api is a client of the stack with the test token (or with token when
// given), whose every answer is checked against Arena's OpenAPI document
// as call's are.
func (s *testStack) api(token ...string) *client.Client {
	tok := pick(s.token, testToken)
	if len(token) > 0 {
		tok = token[0]
	}
	return client.New(s.URL, tok, client.WithHTTPClient(checkedClient(s.tb, s)))
}

// create places a session of req, in location local and of the echo
// application unless it names others.
func (s *testStack) create(req client.SessionRequest) client.CreatedSession {
	s.tb.Helper()
	req.Location = pick(req.Location, "local")
	req.Image = pick(req.Image, "echo")
	c, err := s.api().Sessions().Create(s.tb.Context(), req)
	if err != nil {
		s.tb.Fatalf("POST /session: %v", err)
	}
	return c
}

// describe describes the session id, stopped or not.
func (s *testStack) describe(id string) (client.Session, error) {
	return s.api().Sessions().Get(s.tb.Context(), id, client.GetOptions{All: true})
}

// waitStatus waits until the session reports the contract status want.
func (s *testStack) waitStatus(id, want string) client.Session {
	s.tb.Helper()
	var d client.Session
	dockertest.Eventually(s.tb, dockertest.Timeout, func() error {
		var err error
		if d, err = s.describe(id); err != nil || d.Status != want {
			return fmt.Errorf("session %s: %v, status %q, want %q", id, err, d.Status, want)
		}
		return nil
	})
	return d
}

// session returns the dev organisation's session id as the store has it.
func (s *testStack) session(id string) *arena.Session {
	s.tb.Helper()
	sess, err := s.store.FindSession(context.Background(), arena.SessionKey(s.cfg.OrgID, id))
	if err != nil {
		s.tb.Fatal(err)
	}
	return sess
}

func (s *testStack) containers() []arena.Container {
	s.tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cs, err := dockertest.Runtime(s.tb).List(ctx, s.Node.ID)
	if err != nil {
		s.tb.Fatal(err)
	}
	return cs
}

// download fetches what session kept at path and returns its files by
// name.
func (s *testStack) download(session, path string) map[string]string {
	s.tb.Helper()
	body, err := readStream(s.api().Sessions().Artifact(s.tb.Context(), session, path))
	if err != nil {
		s.tb.Fatalf("GET /artifacts of %s at %s: %v", session, path, err)
	}
	zr, err := gzip.NewReader(bytes.NewReader(body))
	if err != nil {
		s.tb.Fatal(err)
	}
	tr := tar.NewReader(zr)
	files := map[string]string{}
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return files
		}
		if err != nil {
			s.tb.Fatal(err)
		}
		b, _ := io.ReadAll(tr)
		files[h.Name] = string(b)
	}
}

// waitNoContainers waits until the node has no container left: the agent
// removes a container once its stop is recorded.
func (s *testStack) waitNoContainers() {
	s.tb.Helper()
	dockertest.Eventually(s.tb, dockertest.Timeout, func() error {
		if n := len(s.containers()); n != 0 {
			return fmt.Errorf("%d containers left", n)
		}
		return nil
	})
}

// readStream reads a stream a call returned, and closes it.
func readStream(rc io.ReadCloser, err error) ([]byte, error) {
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	return io.ReadAll(rc)
}

func hostPort(c client.CreatedSession, proto arena.Protocol) string {
	for _, p := range c.Ports {
		if p.Protocol == proto {
			return net.JoinHostPort(c.Host, strconv.Itoa(p.Host))
		}
	}
	return ""
}

// TestSessionEndToEnd is the quickstart: create a session, play on it over
// UDP and TCP, stop it, and find everything released and billed.
func TestSessionEndToEnd(t *testing.T) {
	s := newStack(t, 2) // room for exactly one echo session
	ctx := t.Context()
	// Sent as it is rather than through the client, which leaves empty
	// fields out: null ones are absent too.
	status, data := s.call("POST", "/session", map[string]any{
		"location": "local", "image": "echo",
		"id": "e2e-1", "env": map[string]string{"MATCH": "final"}, "args": []string{"--port", "7777"},
		"labels": map[string]string{"match": "42"}, "version": nil, "ttl": nil,
	})
	var c client.CreatedSession
	if err := json.Unmarshal(data, &c); status != 201 || err != nil {
		t.Fatalf("POST /session: %d %s", status, data)
	}
	if c.ID != "e2e-1" || c.Host != "127.0.0.1" || len(c.Ports) != 2 {
		t.Fatalf("created %+v", c)
	}
	d := s.waitStatus(c.ID, "running")
	if d.Image != "echo" || d.Location != "local" || d.Labels["match"] != "42" || len(d.Port) != 2 {
		t.Fatalf("described %+v", d)
	}
	if got := dockertest.AskUDP(t, hostPort(c, arena.UDP), "ping"); got != "ping" {
		t.Fatalf("UDP echo: %q", got)
	}
	tcp := hostPort(c, arena.TCP)
	for line, want := range map[string]string{
		"hello":                     "hello",
		"ENV MATCH":                 "final",
		"ENV FROM_APP":              "yes",
		"ENV " + arena.EnvSessionID: "e2e-1",
		"ENV " + arena.EnvHost:      "127.0.0.1",
		"ARGS":                      "--port 7777",
	} {
		if got := dockertest.AskTCP(t, tcp, line); got != want {
			t.Errorf("TCP %q: got %q, want %q", line, got, want)
		}
	}
	// Player tracking, as a matchmaker backfilling would use it.
	sessions := s.api().Sessions()
	if p, err := sessions.Join(ctx, c.ID, []string{"alice", "bob"}); err != nil || p.Count != 2 {
		t.Fatalf("join: %+v %v", p, err)
	}
	if p, err := sessions.Leave(ctx, "", []string{"bob"}); err != nil || p.Count != 1 {
		t.Fatalf("leave: %+v %v", p, err)
	}
	fewer := 2
	if l, err := sessions.List(ctx, client.ListOptions{PlayersFewer: &fewer, Location: "local"}); err != nil ||
		!slices.ContainsFunc(l.Sessions, func(s client.Session) bool { return s.PlayerCount == 1 }) {
		t.Fatalf("backfill filter: %v %s", err, l.Raw())
	}
	if d, err := sessions.Get(ctx, c.ID, client.GetOptions{}); err != nil || !slices.Equal(d.Players.Joined, []string{"alice"}) || d.Players.JoinedCount != 1 {
		t.Fatalf("described players: %+v %v", d.Players, err)
	}
	// The node's two ports are held: a second session has no room.
	if _, err := sessions.Create(ctx, client.SessionRequest{Location: "local", Image: "echo"}); arena.ErrorCode(err) != arena.EUNAVAILABLE {
		t.Fatalf("second session on a full node: %v, want %s", err, arena.EUNAVAILABLE)
	}

	if err := sessions.Stop(ctx, c.ID); err != nil {
		t.Fatalf("DELETE: %v", err)
	}
	dockertest.Eventually(t, dockertest.Timeout, func() error {
		if sess := s.session(c.ID); sess.State != arena.SessionStopped {
			return fmt.Errorf("state %s", sess.State)
		}
		return nil
	})
	s.waitNoContainers()
	if err := sessions.Stop(ctx, c.ID); arena.ErrorCode(err) != arena.ECONFLICT {
		t.Fatalf("second DELETE: %v, want %s", err, arena.ECONFLICT)
	}
	if _, err := sessions.Get(ctx, c.ID, client.GetOptions{}); arena.ErrorCode(err) != arena.ENOTFOUND {
		t.Fatalf("GET of a stopped session: %v, want %s", err, arena.ENOTFOUND)
	}
	if d, err := s.describe(c.ID); err != nil || d.Status != "exited" {
		t.Fatalf("GET ?all=true of a stopped session: %v %+v", err, d)
	}
	usage, err := s.store.ListUsage(context.Background(), s.cfg.OrgID)
	if err != nil || len(usage) != 1 || usage[0].SessionID != arena.SessionKey(s.cfg.OrgID, c.ID) || usage[0].Seconds < 1 || usage[0].End.Before(usage[0].Start) {
		t.Fatalf("usage %+v %v", usage, err)
	}
	// What the game server wrote on SIGTERM was kept for download.
	artifact := s.download(c.ID, "/arena-terminated")
	if artifact["arena-terminated"] != "terminated\n" {
		t.Fatalf("artifact %v", artifact)
	}
	saved := filepath.Join(t.TempDir(), "a.tar.gz")
	if err := runSession(context.Background(), []string{"artifact", c.ID, "/arena-terminated", "--out", saved, "--server", s.URL, "--token", testToken}, io.Discard, io.Discard); err != nil {
		t.Fatalf("arena session artifact: %v", err)
	}
	if info, err := os.Stat(saved); err != nil || info.Size() == 0 {
		t.Fatalf("downloaded artifact: %v %v", info, err)
	}
	if status, _ := s.call("GET", "/artifact?session="+c.ID+"&path=/nothing", nil); status != 404 {
		t.Fatalf("artifact at a path not kept: %d", status)
	}
	// The CLI reports it.
	var out bytes.Buffer
	if err := runUsage(context.Background(), []string{"--server", s.URL, "--token", testToken, "-o", "csv"}, &out, io.Discard); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), fmt.Sprintf("echo,local,100,64,1,%d,,,0,0\n", usage[0].Seconds)) {
		t.Fatalf("arena usage -o csv:\n%s", out.String())
	}
	// The ports are free again.
	again := s.create(client.SessionRequest{})
	s.waitStatus(again.ID, "running")
	if got := dockertest.AskUDP(t, hostPort(again, arena.UDP), "again"); got != "again" {
		t.Fatalf("UDP echo on reused ports: %q", got)
	}
}

func TestHostNetworking(t *testing.T) {
	s := newStack(t, 2)
	c := s.create(client.SessionRequest{Image: "echo-host"})
	s.waitStatus(c.ID, "running")
	tcp := hostPort(c, arena.TCP)
	_, port, _ := net.SplitHostPort(tcp)
	if got := dockertest.AskTCP(t, tcp, "ENV GAMEYE_PORT_TCP_7777"); got != port {
		t.Fatalf("GAMEYE_PORT_TCP_7777 = %q, want %s", got, port)
	}
	if got := dockertest.AskUDP(t, hostPort(c, arena.UDP), "host"); got != "host" {
		t.Fatalf("UDP echo with host networking: %q", got)
	}
}

func TestProcessLifecycle(t *testing.T) {
	s := newStack(t, 40)
	t.Run("ttl expiry stops the session", func(t *testing.T) {
		// Not watched for "running" on the way: on a busy machine the start
		// may take most of the TTL, and the store keeps that it ran anyway.
		c := s.create(client.SessionRequest{TTL: 3})
		dockertest.Eventually(t, dockertest.Timeout, func() error {
			if sess := s.session(c.ID); sess.State != arena.SessionStopped || sess.StopReason != arena.StopTTL {
				return fmt.Errorf("state %s reason %q", sess.State, sess.StopReason)
			}
			return nil
		})
		// The echo server exits 0 on SIGTERM: the stop was graceful.
		if sess := s.session(c.ID); sess.RunningAt.IsZero() || sess.ExitCode != 0 || sess.StoppedAt.Sub(sess.CreatedAt) < 3*time.Second {
			t.Fatalf("stopped session %+v", sess)
		}
	})
	t.Run("process exit stops the session", func(t *testing.T) {
		c := s.create(client.SessionRequest{})
		s.waitStatus(c.ID, "running")
		dockertest.AskTCP(t, hostPort(c, arena.TCP), "EXIT 4")
		d := s.waitStatus(c.ID, "exited")
		if sess := s.session(c.ID); sess.ExitCode != 4 || sess.StopReason != arena.StopExited {
			t.Fatalf("stopped %+v (%+v)", sess, d)
		}
	})
	t.Run("restart on crash", func(t *testing.T) {
		c := s.create(client.SessionRequest{Restart: true})
		s.waitStatus(c.ID, "running")
		dockertest.AskTCP(t, hostPort(c, arena.TCP), "EXIT 3")
		dockertest.Eventually(t, dockertest.Timeout, func() error {
			if sess := s.session(c.ID); sess.Restarts != 1 || sess.State != arena.SessionRunning {
				return fmt.Errorf("state %s restarts %d", sess.State, sess.Restarts)
			}
			return nil
		})
		// Same ports after the restart.
		dockertest.Eventually(t, dockertest.Timeout, func() error {
			conn, err := net.DialTimeout("tcp", hostPort(c, arena.TCP), time.Second)
			if err == nil {
				conn.Close()
			}
			return err
		})
		if got := dockertest.AskUDP(t, hostPort(c, arena.UDP), "back"); got != "back" {
			t.Fatalf("UDP echo after restart: %q", got)
		}
		if err := s.api().Sessions().Stop(t.Context(), c.ID); err != nil {
			t.Fatalf("DELETE: %v", err)
		}
		s.waitStatus(c.ID, "exited")
	})
	t.Run("crash loop gives up", func(t *testing.T) {
		c := s.create(client.SessionRequest{Restart: true, Args: []string{"--exit-after", "0s", "--exit-code", "2"}})
		d := s.waitStatus(c.ID, "dead")
		if sess := s.session(c.ID); sess.StopReason != arena.StopCrashLoop || sess.ExitCode != 2 || sess.Restarts != 2 {
			t.Fatalf("crash-looping session %+v (%+v)", sess, d)
		}
	})
	s.waitNoContainers()
}

func TestErrors(t *testing.T) {
	s := newStack(t, 2)
	s.waitStatus(s.create(client.SessionRequest{ID: "taken"}).ID, "running")
	tests := []struct {
		name   string
		method string
		path   string
		body   any
		token  []string
		want   int
	}{
		{"no token", "GET", "/session", nil, []string{""}, 401},
		{"bad token", "POST", "/session", map[string]any{"location": "local", "image": "echo"}, []string{"wrong"}, 401},
		{"unknown image", "POST", "/session", map[string]any{"location": "local", "image": "nope"}, nil, 404},
		{"unknown location", "POST", "/session", map[string]any{"location": "mars", "image": "echo"}, nil, 404},
		{"unknown version", "POST", "/session", map[string]any{"location": "local", "image": "echo", "version": "v9"}, nil, 404},
		{"duplicate id", "POST", "/session", map[string]any{"id": "taken", "location": "local", "image": "echo", "labels": map[string]string{"other": "request"}}, nil, 409},
		{"no capacity", "POST", "/session", map[string]any{"location": "europe", "image": "echo"}, nil, 420},
		{"missing fields", "POST", "/session", map[string]any{}, nil, 422},
		{"unknown field", "POST", "/session", map[string]any{"location": "local", "image": "echo", "colour": "red"}, nil, 422},
		{"wrong type", "POST", "/session", `{"location":"local","image":"echo","ttl":"soon"}`, nil, 422},
		{"negative ttl", "POST", "/session", map[string]any{"location": "local", "image": "echo", "ttl": -1}, nil, 422},
		{"unknown session", "GET", "/session/nope", nil, nil, 404},
		{"stop unknown session", "DELETE", "/session/nope", nil, nil, 404},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, body := s.call(tt.method, tt.path, tt.body, tt.token...)
			if status != tt.want {
				t.Fatalf("got %d %s, want %d", status, body, tt.want)
			}
			var e struct {
				StatusCode int    `json:"statusCode"`
				Message    string `json:"message"`
			}
			if err := json.Unmarshal(body, &e); err != nil || e.StatusCode != tt.want || e.Message == "" {
				t.Fatalf("error body %s (%v)", body, err)
			}
		})
	}
	// A retry of the request that created "taken" gets that session again.
	if c, err := s.api().Sessions().Create(t.Context(), client.SessionRequest{ID: "taken", Location: "local", Image: "echo"}); err != nil || c.ID != "taken" {
		t.Fatalf("retried create: %+v %v", c, err)
	}
	if n := len(s.containers()); n != 1 {
		t.Fatalf("failed or retried requests changed the node: %d containers", n)
	}
}

// TestRestartLosesNothing restarts control plane and agent while sessions
// run, and while one of them exits.
func TestRestartLosesNothing(t *testing.T) {
	s := newStack(t, 10)
	keep := s.create(client.SessionRequest{ID: "keep"})
	dies := s.create(client.SessionRequest{ID: "dies"})
	s.waitStatus(keep.ID, "running")
	s.waitStatus(dies.ID, "running")

	s.opts.listen = strings.TrimPrefix(s.URL, "http://")
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	// While Arena is down, one game server exits and the other keeps serving.
	dockertest.AskTCP(t, hostPort(dies, arena.TCP), "EXIT 5")
	if got := dockertest.AskUDP(t, hostPort(keep, arena.UDP), "alone"); got != "alone" {
		t.Fatalf("echo while Arena is down: %q", got)
	}
	s.stack = nil
	s.start()

	d := s.waitStatus(dies.ID, "exited")
	if sess := s.session(dies.ID); sess.ExitCode != 5 {
		t.Fatalf("session that died while Arena was down: %+v (%+v)", sess, d)
	}
	s.waitStatus(keep.ID, "running")
	if got := dockertest.AskUDP(t, hostPort(keep, arena.UDP), "still"); got != "still" {
		t.Fatalf("echo after restart: %q", got)
	}
	list, err := s.api().Sessions().List(t.Context(), client.ListOptions{})
	if err != nil || len(list.Sessions) != 1 || list.Sessions[0].ID != keep.ID {
		t.Fatalf("GET /session after restart: %v %s", err, list.Raw())
	}
	if err := s.api().Sessions().Stop(t.Context(), keep.ID); err != nil {
		t.Fatalf("DELETE after restart: %v", err)
	}
	s.waitNoContainers()
}

var built struct {
	once sync.Once
	dir  string
	err  error
}

// arenaBinary builds the arena command once per test process with a plain
// `go build`, as a user does (cgo on where Go has it on by default, so the
// binary is dynamically linked), and returns its path.
func arenaBinary(tb testing.TB) string {
	tb.Helper()
	built.once.Do(func() {
		if built.dir, built.err = os.MkdirTemp("", "arena-bin-"); built.err == nil {
			built.err = goBuild(filepath.Join(built.dir, "arena"), "github.com/arena-hq/arena/cmd/arena")
		}
	})
	if built.err != nil {
		tb.Fatal(built.err)
	}
	return filepath.Join(built.dir, "arena")
}

// goBuild builds pkg into out as `go build -o out pkg` does, with the
// environment as it is.
func goBuild(out, pkg string) error {
	cmd := exec.Command("go", "build", "-o", out, pkg)
	if b, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("go build %s: %v\n%s", pkg, err, b)
	}
	return nil
}

// TestQuickstart runs the real binary the way the README does, with its
// built-in configuration: the demo image is built offline from the binary.
func TestQuickstart(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the arena binary")
	}
	dir := t.TempDir()
	bin := arenaBinary(t)
	if cgo, _ := exec.Command("go", "env", "CGO_ENABLED").Output(); strings.TrimSpace(string(cgo)) == "1" {
		// What a plain build makes must be what this test runs: a binary
		// that a scratch image alone could not run.
		f, err := elf.Open(bin)
		if err != nil {
			t.Fatal(err)
		}
		dynamic := slices.ContainsFunc(f.Progs, func(p *elf.Prog) bool { return p.Type == elf.PT_INTERP })
		f.Close()
		if !dynamic {
			t.Fatal("a plain go build with cgo on made a static binary; the test proves nothing")
		}
	}
	// The built-in configuration, but with a node id, port range and demo
	// image of the test's own so that nothing of a real `arena dev` is touched.
	lo, hi := freePortRange(t, 4)
	demo := "arena-echo-test:" + dockertest.RandomID()
	cfg := strings.NewReplacer(
		"portRange: 32768-60299", fmt.Sprintf("portRange: %d-%d", lo, hi),
		"demoImage: arena-echo:latest", "demoImage: "+demo,
		"repository: arena-echo\n", "repository: "+strings.Split(demo, ":")[0]+"\n",
		"- name: latest", "- name: "+strings.Split(demo, ":")[1],
	).Replace(string(config.Default))
	cfgPath := filepath.Join(dir, "arena.yaml")
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		_ = dockertest.Runtime(t).RemoveImage(ctx, demo)
	})
	cmd := exec.Command(bin, "dev", "--config", cfgPath, "--data", filepath.Join(dir, "data"), "--listen", "127.0.0.1:0")
	cmd.Stderr = testWriter{t}
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-exited
	})
	// The first lines name the API and the token.
	var url, token string
	sc := bufio.NewScanner(out)
	for sc.Scan() && (url == "" || token == "") {
		f := strings.Fields(sc.Text())
		if len(f) == 2 && f[0] == "API:" {
			url = f[1]
		}
		if len(f) == 2 && f[0] == "Token:" {
			token = f[1]
		}
	}
	go io.Copy(io.Discard, out)
	if url == "" || token == "" {
		t.Fatalf("arena dev printed no API and token (%v)", sc.Err())
	}
	s := &testStack{tb: t, token: token, checker: apitest.NewChecker(t), stack: &stack{URL: url}}
	sessions := s.api().Sessions()
	c, err := sessions.Create(t.Context(), client.SessionRequest{Location: "local", Image: "echo"})
	if err != nil {
		t.Fatalf("POST /session: %v", err)
	}
	dockertest.Eventually(t, dockertest.Timeout, func() error {
		d, err := sessions.Get(t.Context(), c.ID, client.GetOptions{})
		if err != nil || d.Status != "running" {
			return fmt.Errorf("session: %v %s", err, d.Raw())
		}
		return nil
	})
	if got := dockertest.AskUDP(t, hostPort(c, arena.UDP), "quickstart"); got != "quickstart" {
		t.Fatalf("UDP echo: %q", got)
	}
	if err := sessions.Stop(t.Context(), c.ID); err != nil {
		t.Fatalf("DELETE: %v", err)
	}
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-exited:
		exited <- err
		if err != nil {
			t.Fatalf("arena dev exited with %v after SIGTERM", err)
		}
	case <-time.After(dockertest.Timeout):
		t.Fatal("arena dev did not exit after SIGTERM")
	}
}

// TestLogsEndToEnd reads a game server's output through the API: all of it
// so far, then following it live until the session stops.
func TestLogsEndToEnd(t *testing.T) {
	s := newStack(t, 2)
	c := s.create(client.SessionRequest{ID: "logs-1"})
	s.waitStatus(c.ID, "running")
	sessions := s.api().Sessions()
	dockertest.Eventually(t, dockertest.Timeout, func() error {
		body, err := readStream(sessions.Logs(t.Context(), c.ID))
		if err != nil || !strings.Contains(string(body), "echo server listening") {
			return fmt.Errorf("GET /logs: %v %q", err, body)
		}
		return nil
	})

	stream, err := sessions.FollowLogs(t.Context(), c.ID)
	if err != nil {
		t.Fatalf("follow: %v", err)
	}
	defer stream.Close()
	followed := followLines(t, stream)
	waitLine := followed.wait
	waitLine("echo server listening")
	dockertest.AskUDP(t, hostPort(c, arena.UDP), strings.Repeat("x", 37))
	waitLine("udp 37 bytes")
	if err := sessions.Stop(t.Context(), c.ID); err != nil {
		t.Fatalf("DELETE: %v", err)
	}
	waitLine("terminated")
	// The stream ends with the session.
	followed.waitEnd()
}

// followedLines reads a followed log stream line by line.
type followedLines struct {
	tb    testing.TB
	lines chan string
	// what names the stream in failures, e.g. with how long it has run.
	what func() string
}

// followLines starts reading body's lines.
func followLines(tb testing.TB, body io.Reader) *followedLines {
	f := &followedLines{tb: tb, lines: make(chan string, 100), what: func() string { return "the stream" }}
	go func() {
		defer close(f.lines)
		sc := bufio.NewScanner(body)
		for sc.Scan() {
			f.lines <- sc.Text()
		}
	}()
	return f
}

// wait fails the test unless a line containing want comes within
// dockertest.Timeout.
func (f *followedLines) wait(want string) {
	f.tb.Helper()
	deadline := time.After(dockertest.Timeout)
	for {
		select {
		case line, ok := <-f.lines:
			if !ok {
				f.tb.Fatalf("%s ended before %q", f.what(), want)
			}
			if strings.Contains(line, want) {
				return
			}
		case <-deadline:
			f.tb.Fatalf("no %q in the followed output", want)
		}
	}
}

// waitEnd fails the test unless the stream ends within dockertest.Timeout.
func (f *followedLines) waitEnd() {
	f.tb.Helper()
	deadline := time.After(dockertest.Timeout)
	for {
		select {
		case _, ok := <-f.lines:
			if !ok {
				return
			}
		case <-deadline:
			f.tb.Fatalf("%s did not end", f.what())
		}
	}
}
