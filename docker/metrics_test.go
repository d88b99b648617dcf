package docker_test

import (
	"context"
	"io"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/arena-hq/arena"
	"github.com/arena-hq/arena/docker"
	"github.com/arena-hq/arena/docker/dockertest"
)

// call is one observation of a recorder.
type call struct {
	op, result string
	took       time.Duration
}

// recorder is a docker.Observer that keeps what it is told.
type recorder struct {
	mu    sync.Mutex
	calls []call
}

func (r *recorder) DockerCall(op string, start time.Time, err error) {
	result := "ok"
	if err != nil {
		result = arena.ErrorCode(err)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.calls = append(r.calls, call{op, result, time.Since(start)})
}

// take returns the calls observed since the last take, as "op result".
func (r *recorder) take(tb testing.TB) []string {
	tb.Helper()
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for _, c := range r.calls {
		if c.took < 0 || c.took > time.Minute {
			tb.Errorf("%s took %s", c.op, c.took)
		}
		out = append(out, c.op+" "+c.result)
	}
	r.calls = nil
	return out
}

func wantCalls(tb testing.TB, rec *recorder, want ...string) {
	tb.Helper()
	if got := rec.take(tb); !slices.Equal(got, want) {
		tb.Errorf("observed %q, want %q", got, want)
	}
}

func TestMetricsObserveCalls(t *testing.T) {
	t.Parallel()
	rec := &recorder{}
	rt := docker.NewRuntime(dockertest.Runtime(t).Client(), docker.WithMetrics(rec))
	node := dockertest.NodeID(t)
	ctx := context.Background()

	spec := dockertest.EchoSpec(t, node)
	id, err := rt.Start(ctx, spec)
	if err != nil {
		t.Fatal(err)
	}
	wantCalls(t, rec, "start ok")

	if _, err := rt.Inspect(ctx, id); err != nil {
		t.Fatal(err)
	}
	wantCalls(t, rec, "inspect ok")

	cs, err := rt.List(ctx, node)
	if err != nil || len(cs) != 1 {
		t.Fatalf("List = %v, %v; want one container", cs, err)
	}
	// List inspects each container it finds.
	wantCalls(t, rec, "inspect ok", "list ok")

	logs, err := rt.Logs(ctx, id, false)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, logs)
	logs.Close()
	wantCalls(t, rec, "logs ok")

	if err := rt.Stop(ctx, id, 0); err != nil {
		t.Fatal(err)
	}
	wantCalls(t, rec, "stop ok")

	if err := rt.Remove(ctx, id); err != nil {
		t.Fatal(err)
	}
	wantCalls(t, rec, "remove ok")

	// Failures carry their arena code.
	if _, err := rt.Inspect(ctx, id); arena.ErrorCode(err) != arena.ENOTFOUND {
		t.Fatalf("Inspect of a removed container: %v", err)
	}
	wantCalls(t, rec, "inspect not_found")

	if _, err := rt.CopyFrom(ctx, id, "/"); arena.ErrorCode(err) != arena.ENOTFOUND {
		t.Fatalf("CopyFrom a removed container: %v", err)
	}
	wantCalls(t, rec, "copy not_found")

	missing := dockertest.EchoSpec(t, node)
	missing.Image = "arena-test/missing:" + dockertest.RandomID()
	if _, err := rt.Start(ctx, missing); arena.ErrorCode(err) != arena.ENOTFOUND {
		t.Fatalf("Start of a missing image: %v", err)
	}
	wantCalls(t, rec, "start not_found")

	if ok, err := rt.ImageExists(ctx, missing.Image); ok || err != nil {
		t.Fatalf("ImageExists(missing) = %v, %v", ok, err)
	}
	wantCalls(t, rec, "image_exists ok")

	// A call refused before it reaches the engine is not one.
	invalid := dockertest.EchoSpec(t, node)
	invalid.Network = "overlay"
	if _, err := rt.Start(ctx, invalid); arena.ErrorCode(err) != arena.EINVALID {
		t.Fatalf("Start of an invalid spec: %v", err)
	}
	if _, err := rt.List(ctx, ""); arena.ErrorCode(err) != arena.EINVALID {
		t.Fatalf("List without a node: %v", err)
	}
	wantCalls(t, rec)

	exitsCtx, cancel := context.WithCancel(ctx)
	if _, err := rt.Exits(exitsCtx, node); err != nil {
		t.Fatal(err)
	}
	cancel()
	wantCalls(t, rec, "ping ok", "events ok")
}

// TestMetricsUnreachable needs no engine: every call to one that cannot be
// reached is observed as unavailable.
func TestMetricsUnreachable(t *testing.T) {
	t.Parallel()
	rec := &recorder{}
	rt := runtimeAt(t, filepath.Join(t.TempDir(), "missing.sock"), docker.WithMetrics(rec))
	want := map[string][]string{
		"ping":    {"ping unavailable"},
		"start":   {"start unavailable"},
		"restart": {"restart unavailable"},
		"stop":    {"stop unavailable"},
		"remove":  {"remove unavailable"},
		"inspect": {"inspect unavailable"},
		"list":    {"list unavailable"},
		"exits":   {"ping unavailable"}, // Exits gives up before subscribing
		"logs":    {"logs unavailable"},
		"image":   {"image_exists unavailable"},
	}
	for name, call := range runtimeCalls(rt) {
		if err := call(context.Background()); arena.ErrorCode(err) != arena.EUNAVAILABLE {
			t.Errorf("%s: %v, want unavailable", name, err)
		}
		w, ok := want[name]
		if !ok {
			t.Fatalf("no observations expected of %s", name)
		}
		wantCalls(t, rec, w...)
	}
}
