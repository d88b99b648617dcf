package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	nethttp "net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/arena-hq/arena"
	"github.com/arena-hq/arena/client"
	"github.com/arena-hq/arena/config"
	"github.com/arena-hq/arena/docker/dockertest"
	"github.com/arena-hq/arena/http/apitest"
)

// TestStartupFailures runs the real binary into each failure a first start
// meets: it must say what went wrong in one line and exit 1, never panic.
func TestStartupFailures(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the arena binary")
	}
	bin := arenaBinary(t)
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	refusingEngine := fakeEngine(t, "no space left on device")

	tests := []struct {
		name   string
		listen string
		env    []string
		demo   bool // whether the config's demo application needs the demo image
		want   string
	}{
		{"port in use", taken.Addr().String(), nil, false, "address already in use"},
		{"no Docker Engine", "127.0.0.1:0", []string{"DOCKER_HOST=unix://" + filepath.Join(t.TempDir(), "none.sock")}, false, "docker engine does not answer"},
		{"demo image cannot be built", "127.0.0.1:0", []string{"DOCKER_HOST=unix://" + refusingEngine}, true, "no space left on device"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			// The built-in configuration, with a demo image of the test's
			// own that its application needs or not.
			demo := "arena-echo-test:" + dockertest.RandomID()
			r := []string{"demoImage: arena-echo:latest", "demoImage: " + demo}
			if tt.demo {
				r = append(r, "repository: arena-echo\n", "repository: arena-echo-test\n", "- name: latest", "- name: "+strings.Split(demo, ":")[1])
			}
			cfg := strings.NewReplacer(r...).Replace(string(config.Default))
			path := filepath.Join(dir, "arena.yaml")
			if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer cancel()
			cmd := exec.CommandContext(ctx, bin, "dev", "--config", path, "--data", filepath.Join(dir, "data"), "--listen", tt.listen)
			cmd.Env = append(os.Environ(), tt.env...)
			var stdout, stderr bytes.Buffer
			cmd.Stdout, cmd.Stderr = &stdout, &stderr
			err := cmd.Run()
			var exit *exec.ExitError
			if !errors.As(err, &exit) || exit.ExitCode() != 1 {
				t.Fatalf("exit %v, want code 1; stderr:\n%s", err, stderr.String())
			}
			out := stderr.String()
			if strings.Contains(out, "panic") || strings.Contains(out, "goroutine ") {
				t.Fatalf("panicked:\n%s", out)
			}
			lines := strings.Split(strings.TrimSpace(out), "\n")
			last := lines[len(lines)-1]
			if !strings.HasPrefix(last, "arena: ") || !strings.Contains(strings.ToLower(last), tt.want) {
				t.Fatalf("last line %q, want an arena: line naming %q; stderr:\n%s", last, tt.want, out)
			}
		})
	}
}

// fakeEngine serves the little of the Docker Engine API that arena dev
// needs before it builds the demo image, refusing the build with reason,
// on a Unix socket whose path it returns.
func fakeEngine(tb testing.TB, reason string) string {
	tb.Helper()
	// Unix socket paths are short: not under the test's long temp dir.
	dir, err := os.MkdirTemp("", "arena-engine-")
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { os.RemoveAll(dir) })
	sock := filepath.Join(dir, "docker.sock")
	ln, err := net.Listen("unix", sock)
	if err != nil {
		tb.Fatal(err)
	}
	mux := nethttp.NewServeMux()
	mux.HandleFunc("/_ping", func(w nethttp.ResponseWriter, r *nethttp.Request) {
		w.Header().Set("Api-Version", "1.47")
		fmt.Fprint(w, "OK")
	})
	mux.HandleFunc("/", func(w nethttp.ResponseWriter, r *nethttp.Request) {
		w.Header().Set("Content-Type", "application/json")
		switch {
		case strings.Contains(r.URL.Path, "/images/") && strings.HasSuffix(r.URL.Path, "/json"):
			w.WriteHeader(nethttp.StatusNotFound)
			fmt.Fprint(w, `{"message":"No such image"}`)
		case strings.HasSuffix(r.URL.Path, "/build"):
			json.NewEncoder(w).Encode(map[string]any{"error": reason, "errorDetail": map[string]string{"message": reason}})
		default:
			w.WriteHeader(nethttp.StatusInternalServerError)
			fmt.Fprintf(w, `{"message":"the fake engine serves no %s %s"}`, r.Method, r.URL.Path)
		}
	})
	srv := &nethttp.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go srv.Serve(ln)
	tb.Cleanup(func() { srv.Close() })
	return sock
}

// TestStartingAnswers503 holds a control plane in its start, as arena dev
// does until its node is registered: the API says 503 with Retry-After, in
// the contract's error body, and serves once the start is done.
func TestStartingAnswers503(t *testing.T) {
	cfg, err := config.Parse(config.Default)
	if err != nil {
		t.Fatal(err)
	}
	st, err := startControlPlane(context.Background(), cfg, stackOptions{listen: "127.0.0.1:0", data: t.TempDir(), token: testToken, holdReady: true}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	s := &testStack{tb: t, checker: apitest.NewChecker(t), stack: st}

	for _, path := range []string{"/session", "/region", "/readyz"} {
		req, _ := nethttp.NewRequest("GET", st.URL+path, nil)
		req.Header.Set("Authorization", "Bearer "+testToken)
		resp, err := nethttp.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body := s.checker.CheckResponse(t, resp)
		if resp.StatusCode != 503 {
			t.Fatalf("GET %s while starting: %d %s", path, resp.StatusCode, body)
		}
		if after, err := strconv.Atoi(resp.Header.Get("Retry-After")); err != nil || after < 1 {
			t.Fatalf("GET %s: Retry-After %q", path, resp.Header.Get("Retry-After"))
		}
		if path != "/readyz" && !strings.Contains(string(body), `"statusCode":503`) {
			t.Fatalf("GET %s: body %s", path, body)
		}
	}
	if _, err := s.api().Sessions().Create(t.Context(), client.SessionRequest{Location: "local", Image: "echo"}); arena.ErrorCode(err) != arena.ENOTREADY {
		t.Fatalf("POST /session while starting: %v, want %s", err, arena.ENOTREADY)
	}
	if status, body := s.call("GET", "/healthz", nil); status != 200 {
		t.Fatalf("GET /healthz while starting: %d %s", status, body)
	}

	st.ready()
	if _, err := s.api().Sessions().List(t.Context(), client.ListOptions{}); err != nil {
		t.Fatalf("GET /session once started: %v", err)
	}
}

// TestDevNodeIdentity gives each data directory a node id of its own, kept
// across restarts, so that two arena dev on one engine never adopt or remove
// each other's containers.
func TestDevNodeIdentity(t *testing.T) {
	a := newStack(t, 4)
	c := a.create(client.SessionRequest{Location: "local", Image: "echo"})
	a.waitStatus(c.ID, "running")

	cfg := *a.cfg
	cfg.Node.ID = ""
	lo, hi := freePortRange(t, 4)
	cfg.PortRange = fmt.Sprintf("%d-%d", lo, hi)
	b := &testStack{tb: t, cfg: &cfg, checker: apitest.NewChecker(t),
		opts: devOptions{listen: "127.0.0.1:0", data: t.TempDir(), devToken: testToken, publicIP: "127.0.0.1"}}
	b.start()
	first := b.Node.ID
	if !strings.HasPrefix(first, "local-") || first == a.Node.ID {
		t.Fatalf("default node id %q (the other installation's is %q)", first, a.Node.ID)
	}
	b.Close()
	b.start()
	defer b.Close()
	if b.Node.ID != first {
		t.Fatalf("node id %q after a restart, want %q", b.Node.ID, first)
	}
	other := &testStack{tb: t, cfg: &cfg, checker: apitest.NewChecker(t),
		opts: devOptions{listen: "127.0.0.1:0", data: t.TempDir(), devToken: testToken, publicIP: "127.0.0.1"}}
	other.start()
	defer other.Close()
	if other.Node.ID == first {
		t.Fatalf("two data directories share node id %q", first)
	}
	// A session running on b proves that b's agent has reconciled the full
	// assignment it starts with, which is when it removes leftovers of its
	// own: the first installation's session must have been left alone.
	mine := b.create(client.SessionRequest{Location: "local", Image: "echo"})
	b.waitStatus(mine.ID, "running")
	if d, _ := a.describe(c.ID); d.Status != "running" {
		t.Fatalf("the first installation's session %s is %s", c.ID, d.Status)
	}
	cs := a.containers()
	if len(cs) != 1 {
		t.Fatalf("%d containers of the first installation, want 1", len(cs))
	}
	if got := cs[0].Labels[arena.LabelInstallation]; got == "" || got != a.Installation || got == b.Installation {
		t.Fatalf("container labelled installation %q; installations %q and %q", got, a.Installation, b.Installation)
	}
	if err := b.api().Sessions().Stop(t.Context(), mine.ID); err != nil {
		t.Fatalf("DELETE: %v", err)
	}
	b.waitStatus(mine.ID, "exited")
}

// TestReplicaBenchTakesPoolParameters starts arena bench's replicas on a
// store URL that sizes the pool, as the README suggests: the parameter is
// the pool's, not one to send to the server.
func TestReplicaBenchTakesPoolParameters(t *testing.T) {
	base := os.Getenv("ARENA_POSTGRES_URL")
	if base == "" {
		if os.Getenv("ARENA_REQUIRE_POSTGRES") == "1" {
			t.Fatal("ARENA_POSTGRES_URL is not set")
		}
		t.Skip("ARENA_POSTGRES_URL is not set")
	}
	sep := "?"
	if strings.Contains(base, "?") {
		sep = "&"
	}
	var stderr bytes.Buffer
	rb, err := startReplicaBench(context.Background(), benchOptions{store: base + sep + "pool_max_conns=4", replicas: 2, nodes: 1, sessions: 10}, &stderr)
	if err != nil {
		t.Fatalf("%v\n%s", err, stderr.String())
	}
	rb.Close()
	if len(rb.urls) != 2 {
		t.Fatalf("replicas %v", rb.urls)
	}
}
