package docker_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/arena-hq/arena"
	"github.com/arena-hq/arena/docker/dockertest"
	"github.com/arena-hq/arena/registry/registrytest"
)

// TestPullImage pulls from a private registry on loopback, as an agent
// pre-pulls an application's tags, and runs what it pulled.
func TestPullImage(t *testing.T) {
	rt := dockertest.Runtime(t)
	reg := registrytest.NewRegistry(t, "studio", "s3cret-pass")
	ref := reg.PushEcho(t, "game/echo", dockertest.RandomID())
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if err := rt.RemoveImage(ctx, ref); err != nil {
			t.Error(err)
		}
	})

	failures := []struct {
		name string
		ref  string
		auth *arena.RegistryAuth
		// want is a piece of the error message: the registry's reason.
		want string
	}{
		{"no credentials", ref, nil, "auth"},
		{"wrong password", ref, &arena.RegistryAuth{Username: "studio", Password: "wrong"}, "auth"},
		{"unknown tag", reg.Host + "/game/echo:missing", &arena.RegistryAuth{Username: "studio", Password: "s3cret-pass"}, "missing"},
		{"bad reference", "Not A Reference", nil, "reference"},
	}
	for _, tt := range failures {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), dockertest.Timeout)
			defer cancel()
			err := rt.PullImage(ctx, tt.ref, tt.auth)
			if err == nil {
				t.Fatal("pull succeeded")
			}
			t.Log(arena.ErrorCode(err), err)
			if !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error %q does not mention %q", err, tt.want)
			}
			if strings.Contains(err.Error(), "s3cret-pass") {
				t.Fatalf("error %q shows the password", err)
			}
			if has, err := rt.ImageExists(ctx, ref); err != nil || has {
				t.Fatalf("ImageExists after a failed pull = %v, %v", has, err)
			}
		})
	}

	t.Run("with credentials", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), dockertest.Timeout)
		defer cancel()
		if err := rt.PullImage(ctx, ref, &arena.RegistryAuth{Username: "studio", Password: "s3cret-pass"}); err != nil {
			t.Fatal(err)
		}
		if has, err := rt.ImageExists(ctx, ref); err != nil || !has {
			t.Fatalf("ImageExists after the pull = %v, %v", has, err)
		}
		// What was pulled runs.
		spec := dockertest.EchoSpec(t, dockertest.NodeID(t))
		spec.Image = ref
		id := start(t, rt, spec)
		dockertest.WaitLog(t, rt, id, "listening")
	})
}
