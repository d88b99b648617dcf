package docker_test

import (
	"archive/tar"
	"context"
	"io"
	"testing"
	"time"

	"github.com/arena-hq/arena"
	"github.com/arena-hq/arena/docker"
	"github.com/arena-hq/arena/docker/dockertest"
)

// untar reads a tar stream to its end and returns its entries' contents by
// name, in the order they came.
func untar(tb testing.TB, r io.Reader) (names []string, contents map[string]string) {
	tb.Helper()
	contents = make(map[string]string)
	tr := tar.NewReader(r)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return names, contents
		}
		if err != nil {
			tb.Fatalf("reading the archive: %v", err)
		}
		b, err := io.ReadAll(tr)
		if err != nil {
			tb.Fatalf("reading %s from the archive: %v", h.Name, err)
		}
		names = append(names, h.Name)
		contents[h.Name] = string(b)
	}
}

func TestCopyFrom(t *testing.T) {
	t.Parallel()
	rt := dockertest.Runtime(t)
	spec := dockertest.EchoSpec(t, dockertest.NodeID(t))
	id := start(t, rt, spec)
	dockertest.WaitLog(t, rt, id, "echo server listening")
	if err := rt.Stop(context.Background(), id, 20*time.Second); err != nil {
		t.Fatalf("Stop: %v", err)
	}

	for _, ref := range []struct{ name, container string }{
		{"by id", id},
		{"by name", spec.Name},
	} {
		t.Run(ref.name, func(t *testing.T) {
			rc, err := rt.CopyFrom(context.Background(), ref.container, "/arena-terminated")
			if err != nil {
				t.Fatalf("CopyFrom: %v", err)
			}
			names, contents := untar(t, rc)
			if err := rc.Close(); err != nil {
				t.Errorf("Close: %v", err)
			}
			if len(names) != 1 || names[0] != "arena-terminated" || contents["arena-terminated"] != "terminated\n" {
				t.Errorf("archive entries %q with contents %q; want one entry %q with %q",
					names, contents, "arena-terminated", "terminated\n")
			}
			if _, err := rc.Read(make([]byte, 1)); err == nil {
				t.Error("Read after Close succeeded")
			}
		})
	}

	// Once the engine has answered, only the caller's ctx limits reading:
	// the call timeout must not cut the stream.
	t.Run("read after the call timeout", func(t *testing.T) {
		// Long enough for a busy engine to answer the call itself.
		const timeout = 2 * time.Second
		short := docker.NewRuntime(rt.Client(), docker.WithCallTimeout(timeout))
		rc, err := short.CopyFrom(context.Background(), id, "/arena-terminated")
		if err != nil {
			t.Fatalf("CopyFrom: %v", err)
		}
		defer rc.Close()
		time.Sleep(2 * timeout)
		_, contents := untar(t, rc)
		if got := contents["arena-terminated"]; got != "terminated\n" {
			t.Errorf("content %q, want %q", got, "terminated\n")
		}
	})

	t.Run("unknown path", func(t *testing.T) {
		_, err := rt.CopyFrom(context.Background(), id, "/arena-missing-"+dockertest.RandomID())
		wantCode(t, err, arena.ENOTFOUND)
	})
	t.Run("unknown container", func(t *testing.T) {
		_, err := rt.CopyFrom(context.Background(), "arena-test-missing-"+dockertest.RandomID(), "/arena-terminated")
		wantCode(t, err, arena.ENOTFOUND)
	})
}
