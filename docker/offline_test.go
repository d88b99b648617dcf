package docker_test

import (
	"context"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/moby/moby/client"

	"github.com/arena-hq/arena"
	"github.com/arena-hq/arena/docker"
)

// These tests need no Docker Engine.

// runtimeAt returns a runtime on the engine socket at path.
func runtimeAt(t *testing.T, path string, opts ...docker.Option) *docker.Runtime {
	t.Helper()
	cli, err := client.New(client.WithHost("unix://" + path))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cli.Close() })
	return docker.NewRuntime(cli, opts...)
}

// hungEngine listens on a unix socket and never answers, like an engine
// that hangs.
func hungEngine(t *testing.T) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "docker.sock")
	l, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	var conns []net.Conn
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			conns = append(conns, c)
		}
	}()
	t.Cleanup(func() {
		l.Close()
		<-done
		for _, c := range conns {
			c.Close()
		}
	})
	return path
}

// runtimeCalls calls every method of the runtime that talks to the engine.
func runtimeCalls(rt *docker.Runtime) map[string]func(context.Context) error {
	spec := arena.ContainerSpec{Name: "x", Image: "x", Labels: map[string]string{arena.LabelNode: "n"}}
	return map[string]func(context.Context) error{
		"ping":    rt.Ping,
		"start":   func(ctx context.Context) error { _, err := rt.Start(ctx, spec); return err },
		"restart": func(ctx context.Context) error { return rt.Restart(ctx, "x") },
		"stop":    func(ctx context.Context) error { return rt.Stop(ctx, "x", time.Second) },
		"remove":  func(ctx context.Context) error { return rt.Remove(ctx, "x") },
		"inspect": func(ctx context.Context) error { _, err := rt.Inspect(ctx, "x"); return err },
		"list":    func(ctx context.Context) error { _, err := rt.List(ctx, "n"); return err },
		"exits":   func(ctx context.Context) error { _, err := rt.Exits(ctx, "n"); return err },
		"logs": func(ctx context.Context) error {
			rc, err := rt.Logs(ctx, "x", true)
			if err == nil {
				rc.Close()
			}
			return err
		},
		"image": func(ctx context.Context) error { _, err := rt.ImageExists(ctx, "x"); return err },
	}
}

func TestEngineUnreachable(t *testing.T) {
	t.Parallel()
	rt := runtimeAt(t, filepath.Join(t.TempDir(), "missing.sock"))
	for name, call := range runtimeCalls(rt) {
		t.Run(name, func(t *testing.T) {
			wantCode(t, call(context.Background()), arena.EUNAVAILABLE)
		})
	}
}

func TestEngineHung(t *testing.T) {
	t.Parallel()
	const timeout = 200 * time.Millisecond
	rt := runtimeAt(t, hungEngine(t), docker.WithCallTimeout(timeout))
	for name, call := range runtimeCalls(rt) {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			began := time.Now()
			err := call(context.Background())
			took := time.Since(began)
			wantCode(t, err, arena.EUNAVAILABLE)
			// Stop's deadline covers its grace period (1s) on top of the timeout.
			want := timeout
			if name == "stop" {
				want += time.Second
			}
			// Concurrent calls may queue behind the client's API version
			// negotiation, hence the generous upper bound.
			if took < want || took > want+10*time.Second {
				t.Errorf("gave up after %s, want about %s", took, want)
			}
		})
	}
}

func TestBuildImageRejects(t *testing.T) {
	t.Parallel()
	rt := runtimeAt(t, filepath.Join(t.TempDir(), "missing.sock"))

	notELF := filepath.Join(t.TempDir(), "script")
	if err := os.WriteFile(notELF, []byte("#!/bin/sh\necho hi\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		path string
	}{
		{"missing file", filepath.Join(t.TempDir(), "nothing")},
		{"not elf", notELF},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := rt.BuildImage(context.Background(), "arena-test/x:1", tt.path, nil)
			wantCode(t, err, arena.EINVALID)
			t.Log(err)
		})
	}
}

// TestStartTakesTheCallersDeadline: a start is bounded by its caller's
// deadline when that is later than the call timeout (a loaded engine may
// take longer than a call's timeout to create a container), and by the call
// timeout otherwise.
func TestStartTakesTheCallersDeadline(t *testing.T) {
	t.Parallel()
	const timeout = 200 * time.Millisecond
	rt := runtimeAt(t, hungEngine(t), docker.WithCallTimeout(timeout))
	spec := arena.ContainerSpec{Name: "x", Image: "x", Labels: map[string]string{arena.LabelNode: "n"}}
	for _, tc := range []struct {
		name     string
		deadline time.Duration // of the caller; 0 for none
		want     time.Duration
	}{
		{"no deadline", 0, timeout},
		{"a later deadline", 5 * timeout, 5 * timeout},
		{"an earlier deadline", timeout / 2, timeout / 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			if tc.deadline > 0 {
				var cancel context.CancelFunc
				ctx, cancel = context.WithTimeout(ctx, tc.deadline)
				defer cancel()
			}
			began := time.Now()
			_, err := rt.Start(ctx, spec)
			took := time.Since(began)
			wantCode(t, err, arena.EUNAVAILABLE)
			if took < tc.want || took > tc.want+10*time.Second {
				t.Errorf("gave up after %s, want about %s", took, tc.want)
			}
		})
	}
}
