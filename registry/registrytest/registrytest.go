// Package registrytest serves an OCI registry on loopback for tests, with
// basic auth, holding Arena's echo image on demand.
package registrytest

import (
	"archive/tar"
	"bytes"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/tarball"

	"github.com/arena-hq/arena/docker/dockertest"
)

// Registry is an OCI registry on loopback that asks for a username and
// password, as a studio's private registry does. The engine talks plain HTTP
// to it because it treats registries on 127.0.0.0/8 as insecure ones.
type Registry struct {
	// Host is the registry's address, the first part of its image references.
	Host     string
	User     string
	Password string
	// Refused counts requests turned away for missing or wrong credentials.
	Refused atomic.Int64

	mu   sync.Mutex
	gate chan struct{} // closed, or open while blob downloads are held
}

var echoBinary struct {
	once sync.Once
	data []byte
	err  error
}

// NewRegistry starts a registry with one account, stopped when the test ends.
func NewRegistry(tb testing.TB, user, password string) *Registry {
	tb.Helper()
	r := &Registry{User: user, Password: password, gate: closedGate()}
	inner := registry.New(registry.Logger(log.New(io.Discard, "", 0)))
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	r.Host = l.Addr().String()
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if u, p, ok := req.BasicAuth(); !ok || u != r.User || p != r.Password {
			r.Refused.Add(1)
			w.Header().Set("WWW-Authenticate", `Basic realm="arena-test"`)
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusUnauthorized)
			_, _ = io.WriteString(w, `{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}`)
			return
		}
		if req.Method == http.MethodGet && strings.Contains(req.URL.Path, "/blobs/") {
			r.mu.Lock()
			gate := r.gate
			r.mu.Unlock()
			select {
			case <-gate:
			case <-req.Context().Done():
				return
			}
		}
		inner.ServeHTTP(w, req)
	})}
	go func() { _ = srv.Serve(l) }()
	tb.Cleanup(func() {
		r.Release()
		srv.Close()
	})
	return r
}

func closedGate() chan struct{} {
	c := make(chan struct{})
	close(c)
	return c
}

// Hold makes blob downloads wait until Release, so that a test can watch a
// pull in progress.
func (r *Registry) Hold() {
	r.mu.Lock()
	defer r.mu.Unlock()
	select {
	case <-r.gate:
		r.gate = make(chan struct{})
	default:
	}
}

// Release lets held and later blob downloads through.
func (r *Registry) Release() {
	r.mu.Lock()
	defer r.mu.Unlock()
	select {
	case <-r.gate:
	default:
		close(r.gate)
	}
}

// PushEcho pushes an image of cmd/arena-echo as repo:tag and returns its
// full reference. The image is assembled in the test process, with no
// engine and no base image, so it needs nothing from outside the machine.
func (r *Registry) PushEcho(tb testing.TB, repo, tag string) string {
	tb.Helper()
	bin := echoBin(tb)
	var layer bytes.Buffer
	tw := tar.NewWriter(&layer)
	if err := tw.WriteHeader(&tar.Header{Name: "arena-echo", Mode: 0o755, Size: int64(len(bin)), Typeflag: tar.TypeReg}); err != nil {
		tb.Fatal(err)
	}
	if _, err := tw.Write(bin); err != nil {
		tb.Fatal(err)
	}
	if err := tw.Close(); err != nil {
		tb.Fatal(err)
	}
	data := layer.Bytes()
	l, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(data)), nil })
	if err != nil {
		tb.Fatal(err)
	}
	img, err := mutate.AppendLayers(empty.Image, l)
	if err != nil {
		tb.Fatal(err)
	}
	cf, err := img.ConfigFile()
	if err != nil {
		tb.Fatal(err)
	}
	cf = cf.DeepCopy()
	cf.OS, cf.Architecture = "linux", runtime.GOARCH
	cf.Config = v1.Config{Entrypoint: []string{"/arena-echo"}}
	if img, err = mutate.ConfigFile(img, cf); err != nil {
		tb.Fatal(err)
	}
	ref := r.Host + "/" + repo + ":" + tag
	parsed, err := name.ParseReference(ref, name.Insecure)
	if err != nil {
		tb.Fatal(err)
	}
	if err := remote.Write(parsed, img, remote.WithAuth(&authn.Basic{Username: r.User, Password: r.Password})); err != nil {
		tb.Fatalf("pushing %s: %v", ref, err)
	}
	return ref
}

// echoBin returns the static echo server binary, built once per process.
func echoBin(tb testing.TB) []byte {
	tb.Helper()
	echoBinary.once.Do(func() {
		dir, err := os.MkdirTemp("", "arena-echo-")
		if err != nil {
			echoBinary.err = err
			return
		}
		defer os.RemoveAll(dir)
		bin := filepath.Join(dir, "arena-echo")
		if echoBinary.err = dockertest.BuildStatic(bin, dockertest.EchoPackage); echoBinary.err == nil {
			echoBinary.data, echoBinary.err = os.ReadFile(bin)
		}
	})
	if echoBinary.err != nil {
		tb.Fatalf("building the echo server: %v", echoBinary.err)
	}
	return echoBinary.data
}
