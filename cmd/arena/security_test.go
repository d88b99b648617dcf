package main

import (
	"fmt"
	"maps"
	"strings"
	"testing"

	"github.com/arena-hq/arena"
	"github.com/arena-hq/arena/client"
	"github.com/arena-hq/arena/config"
	"github.com/arena-hq/arena/docker/dockertest"
	"github.com/arena-hq/arena/http/apitest"
)

// newDefaultStack starts Arena on the built-in configuration, its demo
// applications running the test's echo image, on a node and port range of
// the test's own.
func newDefaultStack(tb testing.TB) *testStack {
	tb.Helper()
	cfg, err := config.Parse(config.Default)
	if err != nil {
		tb.Fatal(err)
	}
	repo, tag, _ := strings.Cut(dockertest.EchoImage(tb), ":")
	lo, hi := freePortRange(tb, 8)
	cfg.PortRange, cfg.DemoImage = fmt.Sprintf("%d-%d", lo, hi), ""
	cfg.Node.ID, cfg.Node.MilliCPU, cfg.Node.MemoryMB = dockertest.NodeID(tb), 4000, 4096
	for i := range cfg.Applications {
		cfg.Applications[i].Repository, cfg.Applications[i].Tags = repo, []arena.Tag{{Name: tag, Priority: 1}}
	}
	s := &testStack{
		tb: tb, cfg: cfg, checker: apitest.NewChecker(tb),
		opts: devOptions{listen: "127.0.0.1:0", data: tb.TempDir(), devToken: testToken, publicIP: "127.0.0.1"},
	}
	s.start()
	tb.Cleanup(func() {
		if s.stack != nil {
			s.Close()
		}
	})
	return s
}

// TestConfinedDemo runs the built-in configuration's confined demo, as
// `arena dev` does: it runs as nobody, cannot write its root filesystem,
// writes to its tmpfs, and on DELETE stops gracefully, its term file
// written there.
func TestConfinedDemo(t *testing.T) {
	s := newDefaultStack(t)
	c := s.create(client.SessionRequest{Image: "echo-host"})
	s.waitStatus(c.ID, "running")
	tcp := hostPort(c, arena.TCP)
	for _, ask := range []struct{ line, want string }{
		{"ID", "uid=65534 gid=65534"},
		{"WRITE /probe", "error: open /probe: read-only file system"},
		{"WRITE /tmp/probe", "ok"},
	} {
		if got := dockertest.AskTCP(t, tcp, ask.line); got != ask.want {
			t.Errorf("%s answered %q, want %q", ask.line, got, ask.want)
		}
	}
	if err := s.api().Sessions().Stop(t.Context(), c.ID); err != nil {
		t.Fatalf("DELETE: %v", err)
	}
	s.waitStatus(c.ID, "exited")
	if sess := s.session(c.ID); sess.ExitCode != 0 || sess.StopReason != arena.StopDeleted {
		t.Fatalf("stopped with code %d, reason %s; want a graceful stop", sess.ExitCode, sess.StopReason)
	}
}

// TestConfinedApplication makes an application through the admin API that
// runs as a user of its own on a read-only root with two tmpfs mounts, and
// finds its session's container so on the engine and from inside.
func TestConfinedApplication(t *testing.T) {
	s := newStackWith(t, 4, "")
	repo, tag, _ := strings.Cut(dockertest.EchoImage(t), ":")
	app := map[string]any{
		"name": "locked", "repository": repo, "tags": []map[string]any{{"name": tag, "priority": 1}},
		"ports": []map[string]any{{"container": 7777, "protocol": "tcp"}}, "resources": map[string]any{"milliCpu": 100, "memoryMb": 64},
		"limits": map[string]any{"milliCpu": 200, "memoryMb": 96},
		"user":   "1000:1000", "readOnlyRootFilesystem": true, "tmpfs": []string{"/tmp", "/scratch"},
		"args": []string{"--term-file", "/tmp/arena-terminated"},
	}
	if _, err := s.api().Admin().CreateApplication(t.Context(), s.cfg.OrgID, app); err != nil {
		t.Fatalf("creating the application: %v", err)
	}
	c := s.create(client.SessionRequest{Image: "locked"})
	s.waitStatus(c.ID, "running")

	cs := s.containers()
	if len(cs) != 1 {
		t.Fatalf("containers %+v, want the session's", cs)
	}
	res := dockertest.Inspect(t, cs[0].ID)
	want := map[string]string{"/tmp": "rw,nosuid,nodev,exec,mode=1777,size=96m", "/scratch": "rw,nosuid,nodev,exec,mode=1777,size=96m"}
	if cfg, hc := res.Config, res.HostConfig; cfg.User != "1000:1000" || !hc.ReadonlyRootfs || !maps.Equal(hc.Tmpfs, want) {
		t.Fatalf("user %q, read-only root %v, tmpfs %v; want 1000:1000, true, %v", cfg.User, hc.ReadonlyRootfs, hc.Tmpfs, want)
	}
	tcp := hostPort(c, arena.TCP)
	for _, ask := range []struct{ line, want string }{
		{"ID", "uid=1000 gid=1000"},
		{"WRITE /probe", "error: open /probe: read-only file system"},
		{"WRITE /tmp/probe", "ok"},
		{"WRITE /scratch/probe", "ok"},
	} {
		if got := dockertest.AskTCP(t, tcp, ask.line); got != ask.want {
			t.Errorf("%s answered %q, want %q", ask.line, got, ask.want)
		}
	}
}
