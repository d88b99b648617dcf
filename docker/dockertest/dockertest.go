// Package dockertest helps tests run containers on the local Docker Engine:
// a runtime, the echo game server image (built once per test process, with
// no registry), node ids whose containers are removed at the test's end, free
// host ports, and clients of the echo server that wait for it to answer.
//
// A test package that uses EchoImage runs its tests through Main, which
// removes the image at the end:
//
//	func TestMain(m *testing.M) { dockertest.Main(m) }
//
// Tests are skipped when no engine answers, unless ARENA_REQUIRE_DOCKER=1,
// which makes them fail instead (for CI, where skipping would hide a
// broken setup).
package dockertest

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/moby/moby/api/pkg/stdcopy"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/client"

	"github.com/arena-hq/arena"
	"github.com/arena-hq/arena/docker"
)

// EchoPackage is the Go package built into the echo image.
const EchoPackage = "github.com/arena-hq/arena/cmd/arena-echo"

// EchoPort is the echo server's default container port, TCP and UDP.
const EchoPort = 7777

// Timeout bounds each wait of this package for a container or a server.
const Timeout = 30 * time.Second

var (
	shared struct {
		once sync.Once
		rt   *docker.Runtime
		err  error
	}
	echo struct {
		once sync.Once
		ref  string
		err  error
	}
)

// sharedRuntime returns the process's runtime, or why there is none.
func sharedRuntime() (*docker.Runtime, error) {
	shared.once.Do(func() {
		rt, err := docker.New()
		if err != nil {
			shared.err = err
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := rt.Ping(ctx); err != nil {
			rt.Close()
			shared.err = err
			return
		}
		shared.rt = rt
	})
	return shared.rt, shared.err
}

// Runtime returns a runtime on the local engine, shared by the process's
// tests. It skips the test when no engine answers.
func Runtime(tb testing.TB) *docker.Runtime {
	tb.Helper()
	rt, err := sharedRuntime()
	if err != nil {
		if os.Getenv("ARENA_REQUIRE_DOCKER") == "1" {
			tb.Fatalf("docker engine: %v", err)
		}
		tb.Skipf("docker engine not available: %v", err)
	}
	return rt
}

// EchoImage returns the reference of an image of cmd/arena-echo, built from
// source the first time it is asked for in the process. The reference is
// unique to the process, so that test processes running at once never
// remove each other's image; Main removes it.
func EchoImage(tb testing.TB) string {
	tb.Helper()
	rt := Runtime(tb)
	echo.once.Do(func() {
		echo.ref = "arena-test/echo:" + RandomID()
		echo.err = buildEcho(rt, echo.ref)
	})
	if echo.err != nil {
		tb.Fatalf("building the echo image: %v", echo.err)
	}
	return echo.ref
}

func buildEcho(rt *docker.Runtime, ref string) error {
	dir, err := os.MkdirTemp("", "arena-echo-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	bin := filepath.Join(dir, "arena-echo")
	if err := BuildStatic(bin, EchoPackage); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	return rt.BuildImage(ctx, ref, bin, nil)
}

// BuildStatic builds the Go package pkg of the current module into a static
// Linux binary at out.
func BuildStatic(out, pkg string) error {
	goBin, err := exec.LookPath("go")
	if err != nil {
		return err
	}
	cmd := exec.Command(goBin, "build", "-trimpath", "-ldflags=-s -w", "-o", out, pkg)
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH="+runtime.GOARCH)
	if b, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("go build %s: %v\n%s", pkg, err, b)
	}
	return nil
}

// Main runs the tests of a package, then the cleanups, removes the echo
// image if a test built it, and exits.
func Main(m *testing.M, cleanups ...func()) {
	code := m.Run()
	for _, c := range cleanups {
		c()
	}
	if echo.ref != "" && echo.err == nil {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		if err := shared.rt.RemoveImage(ctx, echo.ref); err != nil {
			fmt.Fprintf(os.Stderr, "dockertest: removing %s: %v\n", echo.ref, err)
		}
		cancel()
	}
	if shared.rt != nil {
		shared.rt.Close()
	}
	os.Exit(code)
}

// RandomID returns 12 random hex digits, for names that must not collide
// with those of other tests and test processes.
func RandomID() string {
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// NodeID returns a node id unique to the test. Every container labelled
// with it is removed when the test ends, however the test ended, so a test
// that gives its containers this label leaves nothing behind and never sees
// another test's containers.
func NodeID(tb testing.TB) string {
	tb.Helper()
	rt := Runtime(tb)
	id := "test-" + RandomID()
	tb.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		// A process the test killed may have left a create in flight that
		// the engine finishes after a first look: look until two looks a
		// moment apart find nothing.
		for quiet := 0; quiet < 2 && ctx.Err() == nil; {
			cs, err := rt.List(ctx, id)
			if err != nil {
				tb.Errorf("listing the containers of node %s: %v", id, err)
				return
			}
			if len(cs) == 0 {
				quiet++
			} else {
				quiet = 0
			}
			for _, c := range cs {
				// A conflict is a removal already under way (an agent's):
				// the next looks tell whether it ended.
				if err := rt.Remove(ctx, c.ID); err != nil && arena.ErrorCode(err) != arena.ECONFLICT {
					tb.Errorf("removing container %s: %v", c.Name, err)
				}
			}
			if quiet < 2 {
				time.Sleep(200 * time.Millisecond) // a pause between looks, not a synchronisation
			}
		}
	})
	return id
}

// FreePort returns a port of 127.0.0.1 that is free for both TCP and UDP at
// the time of the call.
func FreePort(tb testing.TB) int {
	tb.Helper()
	for range 100 {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			tb.Fatal(err)
		}
		port := l.Addr().(*net.TCPAddr).Port
		u, err := net.ListenPacket("udp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
		l.Close()
		if err == nil {
			u.Close()
			return port
		}
	}
	tb.Fatal("no port free for both TCP and UDP")
	return 0
}

// Eventually calls cond until it returns nil, failing the test with cond's
// last error once timeout has passed.
func Eventually(tb testing.TB, timeout time.Duration, cond func() error) {
	tb.Helper()
	deadline := time.Now().Add(timeout)
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		err := cond()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			tb.Fatalf("condition not met within %s: %v", timeout, err)
		}
		<-tick.C
	}
}

// AskTCP sends line to the echo server at addr on a new connection and
// returns its answer, trying again until the server answers: a published
// port may accept connections before the process behind it listens.
func AskTCP(tb testing.TB, addr, line string) string {
	tb.Helper()
	var answer string
	Eventually(tb, Timeout, func() error {
		var err error
		answer, err = askTCP(addr, line)
		return err
	})
	return answer
}

func askTCP(addr, line string) (string, error) {
	c, err := net.DialTimeout("tcp", addr, 2*time.Second)
	if err != nil {
		return "", err
	}
	defer c.Close()
	if err := c.SetDeadline(time.Now().Add(2 * time.Second)); err != nil {
		return "", err
	}
	if _, err := io.WriteString(c, line+"\n"); err != nil {
		return "", err
	}
	answer, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		return "", err
	}
	return strings.TrimSuffix(answer, "\n"), nil
}

// AskUDP sends msg to the echo server at addr and returns the datagram it
// answers, sending again until one comes: UDP gives no sign of a server
// that does not listen yet, and may drop datagrams.
func AskUDP(tb testing.TB, addr, msg string) string {
	tb.Helper()
	c, err := net.Dial("udp", addr)
	if err != nil {
		tb.Fatal(err)
	}
	defer c.Close()
	buf := make([]byte, 64*1024)
	var answer string
	Eventually(tb, Timeout, func() error {
		if _, err := c.Write([]byte(msg)); err != nil {
			// An earlier datagram refused surfaces here; try again.
			return err
		}
		if err := c.SetReadDeadline(time.Now().Add(500 * time.Millisecond)); err != nil {
			return err
		}
		n, err := c.Read(buf)
		if err != nil {
			return err
		}
		answer = string(buf[:n])
		return nil
	})
	return answer
}

// Logs returns what container id wrote to stdout and stderr so far.
func Logs(tb testing.TB, rt *docker.Runtime, id string) string {
	tb.Helper()
	logs, err := logs(rt, id)
	if err != nil {
		tb.Fatalf("logs of %s: %v", id, err)
	}
	return logs
}

func logs(rt *docker.Runtime, id string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), Timeout)
	defer cancel()
	rc, err := rt.Client().ContainerLogs(ctx, id, client.ContainerLogsOptions{ShowStdout: true, ShowStderr: true})
	if err != nil {
		return "", err
	}
	defer rc.Close()
	var out strings.Builder
	if _, err := stdcopy.StdCopy(&out, &out, rc); err != nil {
		return "", err
	}
	return out.String(), nil
}

// WaitLog waits until container id has logged text. Waiting for the echo
// server's "echo server listening" line tells that its signal handlers are
// in place, which a test of stopping needs.
func WaitLog(tb testing.TB, rt *docker.Runtime, id, text string) {
	tb.Helper()
	Eventually(tb, Timeout, func() error {
		l, err := logs(rt, id)
		if err != nil {
			return err
		}
		if !strings.Contains(l, text) {
			return fmt.Errorf("%q not logged yet; logs:\n%s", text, l)
		}
		return nil
	})
}

// WaitExited waits until container id no longer runs and returns it.
func WaitExited(tb testing.TB, rt *docker.Runtime, id string) arena.Container {
	tb.Helper()
	var c arena.Container
	Eventually(tb, Timeout, func() error {
		var err error
		c, err = rt.Inspect(context.Background(), id)
		if err != nil {
			return err
		}
		if c.Running {
			return errors.New("still running")
		}
		return nil
	})
	return c
}

// EchoSpec returns the spec of an echo server container of node nodeID with
// a unique name and session id (in its labels and GAMEYE_SESSION_ID), on the
// bridge network without ports. The test adds what it needs.
func EchoSpec(tb testing.TB, nodeID string) arena.ContainerSpec {
	tb.Helper()
	session := "session-" + RandomID()
	return arena.ContainerSpec{
		Name:    "arena-test-" + RandomID(),
		Image:   EchoImage(tb),
		Env:     map[string]string{arena.EnvSessionID: session},
		Labels:  map[string]string{arena.LabelNode: nodeID, arena.LabelSession: session},
		Network: arena.NetworkBridge,
	}
}

// Inspect returns the engine's own description of a container, for tests
// that check what Arena asked of the engine beyond arena.Container.
func Inspect(tb testing.TB, id string) container.InspectResponse {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), Timeout)
	defer cancel()
	res, err := Runtime(tb).Client().ContainerInspect(ctx, id, client.ContainerInspectOptions{})
	if err != nil {
		tb.Fatalf("inspecting container %s: %v", id, err)
	}
	return res.Container
}
