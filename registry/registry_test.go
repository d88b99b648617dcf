package registry_test

import (
	"context"
	"net"
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/arena-hq/arena"
	"github.com/arena-hq/arena/registry"
	"github.com/arena-hq/arena/registry/registrytest"
)

// push writes a small random image as repo:tag to the test registry.
func push(tb testing.TB, r *registrytest.Registry, repo string, tags ...string) {
	tb.Helper()
	img, err := random.Image(64, 1)
	if err != nil {
		tb.Fatal(err)
	}
	for _, tag := range tags {
		ref, err := name.ParseReference(r.Host + "/" + repo + ":" + tag)
		if err != nil {
			tb.Fatal(err)
		}
		if err := remote.Write(ref, img, remote.WithAuth(&authn.Basic{Username: r.User, Password: r.Password})); err != nil {
			tb.Fatal(err)
		}
	}
}

func TestTags(t *testing.T) {
	reg := registrytest.NewRegistry(t, "ci-bot", "s3cret-password")
	push(t, reg, "studio/duel", "1.0", "1.1", "latest")
	good := &arena.RegistryAuth{Username: "ci-bot", Password: "s3cret-password"}
	c := &registry.Client{}
	ctx := context.Background()

	tests := []struct {
		name string
		repo string
		auth *arena.RegistryAuth
		want []string
		code string
	}{
		{"with the application's login", reg.Host + "/studio/duel", good, []string{"1.0", "1.1", "latest"}, ""},
		{"without credentials", reg.Host + "/studio/duel", nil, nil, arena.ECONFLICT},
		{"with a wrong password", reg.Host + "/studio/duel", &arena.RegistryAuth{Username: "ci-bot", Password: "nope"}, nil, arena.ECONFLICT},
		{"an unknown repository", reg.Host + "/studio/none", good, nil, arena.ENOTFOUND},
		{"not a repository", "UPPER/Case", good, nil, arena.EINVALID},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := c.Tags(ctx, tt.repo, tt.auth)
			if code := arena.ErrorCode(err); code != tt.code {
				t.Fatalf("error %v (%q), want code %q", err, code, tt.code)
			}
			slices.Sort(got)
			if !slices.Equal(got, tt.want) {
				t.Fatalf("tags %v, want %v", got, tt.want)
			}
		})
	}
}

func TestHasTag(t *testing.T) {
	reg := registrytest.NewRegistry(t, "ci-bot", "s3cret-password")
	push(t, reg, "studio/duel", "1.0")
	good := &arena.RegistryAuth{Username: "ci-bot", Password: "s3cret-password"}
	c := &registry.Client{}
	tests := []struct {
		name, repo, tag string
		auth            *arena.RegistryAuth
		want            bool
		code            string
	}{
		{"a tag it has", reg.Host + "/studio/duel", "1.0", good, true, ""},
		{"a tag it lacks", reg.Host + "/studio/duel", "9.9", good, false, ""},
		{"a repository it lacks", reg.Host + "/studio/none", "1.0", good, false, ""},
		{"refused credentials", reg.Host + "/studio/duel", "1.0", nil, false, arena.ECONFLICT},
		{"a malformed tag", reg.Host + "/studio/duel", "bad tag", good, false, arena.EINVALID},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := c.HasTag(context.Background(), tt.repo, tt.tag, tt.auth)
			if code := arena.ErrorCode(err); code != tt.code || got != tt.want {
				t.Fatalf("HasTag = %v, %v (%q); want %v, code %q", got, err, code, tt.want, tt.code)
			}
		})
	}
}

// TestUnreachable checks that a registry that does not answer in time is a
// transient error, bounded by the client's timeout rather than the caller's.
func TestUnreachable(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	hold := make(chan struct{})
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-hold:
		case <-r.Context().Done():
		}
	})}
	go func() { _ = srv.Serve(l) }()
	t.Cleanup(func() { close(hold); srv.Close() })

	c := &registry.Client{Timeout: 200 * time.Millisecond}
	_, err = c.Tags(context.Background(), l.Addr().String()+"/studio/duel", nil)
	if arena.ErrorCode(err) != arena.EUNAVAILABLE {
		t.Fatalf("error %v, want unavailable", err)
	}
}
