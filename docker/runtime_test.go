package docker_test

import (
	"archive/tar"
	"context"
	"io"
	"maps"
	"net"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/network"
	"github.com/moby/moby/client"

	"github.com/arena-hq/arena"
	"github.com/arena-hq/arena/docker"
	"github.com/arena-hq/arena/docker/dockertest"
)

func TestMain(m *testing.M) { dockertest.Main(m) }

// start starts spec and fails the test if that fails.
func start(tb testing.TB, rt *docker.Runtime, spec arena.ContainerSpec) string {
	tb.Helper()
	id, err := rt.Start(context.Background(), spec)
	if err != nil {
		tb.Fatalf("Start(%s): %v", spec.Name, err)
	}
	return id
}

// inspectRaw returns the engine's own view of a container, for what
// arena.Container does not carry.
func inspectRaw(tb testing.TB, rt *docker.Runtime, id string) container.InspectResponse {
	tb.Helper()
	res, err := rt.Client().ContainerInspect(context.Background(), id, client.ContainerInspectOptions{})
	if err != nil {
		tb.Fatalf("inspecting %s: %v", id, err)
	}
	return res.Container
}

// readFile returns the content of a file in a container, or ok=false when
// it does not exist.
func readFile(tb testing.TB, rt *docker.Runtime, id, path string) (content string, ok bool) {
	tb.Helper()
	res, err := rt.Client().CopyFromContainer(context.Background(), id, client.CopyFromContainerOptions{SourcePath: path})
	if cerrdefs.IsNotFound(err) {
		return "", false
	}
	if err != nil {
		tb.Fatalf("copying %s from %s: %v", path, id, err)
	}
	defer res.Content.Close()
	tr := tar.NewReader(res.Content)
	if _, err := tr.Next(); err != nil {
		tb.Fatalf("reading the archive of %s: %v", path, err)
	}
	b, err := io.ReadAll(tr)
	if err != nil {
		tb.Fatal(err)
	}
	return string(b), true
}

func wantCode(tb testing.TB, err error, code string) {
	tb.Helper()
	if got := arena.ErrorCode(err); got != code {
		tb.Fatalf("error code = %q (%v), want %q", got, err, code)
	}
}

func TestStartBridge(t *testing.T) {
	t.Parallel()
	rt := dockertest.Runtime(t)
	node := dockertest.NodeID(t)
	tcpPort, udpPort := dockertest.FreePort(t), dockertest.FreePort(t)

	spec := dockertest.EchoSpec(t, node)
	spec.BindIP = "127.0.0.1"
	spec.Ports = []arena.Port{
		{Protocol: arena.TCP, Container: dockertest.EchoPort, Host: tcpPort},
		{Protocol: arena.UDP, Container: dockertest.EchoPort, Host: udpPort},
	}
	spec.Args = []string{"--port", strconv.Itoa(dockertest.EchoPort), "--exit-code", "0"}
	spec.Env["FOO"] = "bar baz"
	spec.Labels["io.arena.test"] = "yes"
	spec.Resources = arena.Resources{MilliCPU: 500, MemoryMB: 64}
	before := time.Now()
	id := start(t, rt, spec)

	tcpAddr := net.JoinHostPort("127.0.0.1", strconv.Itoa(tcpPort))
	udpAddr := net.JoinHostPort("127.0.0.1", strconv.Itoa(udpPort))

	t.Run("udp echo", func(t *testing.T) {
		if got := dockertest.AskUDP(t, udpAddr, "ping"); got != "ping" {
			t.Errorf("udp echo = %q, want ping", got)
		}
	})
	for _, tt := range []struct {
		name, line, want string
	}{
		{"tcp echo", "hello", "hello"},
		{"env", "ENV FOO", "bar baz"},
		{"session env", "ENV " + arena.EnvSessionID, spec.Labels[arena.LabelSession]},
		{"args", "ARGS", strings.Join(spec.Args, " ")},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if got := dockertest.AskTCP(t, tcpAddr, tt.line); got != tt.want {
				t.Errorf("%q answered %q, want %q", tt.line, got, tt.want)
			}
		})
	}

	t.Run("inspect", func(t *testing.T) {
		c, err := rt.Inspect(context.Background(), id)
		if err != nil {
			t.Fatal(err)
		}
		if c.ID != id || c.Name != spec.Name || !c.Running {
			t.Errorf("Inspect = %+v, want id %s, name %s, running", c, id, spec.Name)
		}
		if c.SessionID != spec.Labels[arena.LabelSession] || c.NodeID != node {
			t.Errorf("session, node = %q, %q; want %q, %q", c.SessionID, c.NodeID, spec.Labels[arena.LabelSession], node)
		}
		if c.Labels["io.arena.test"] != "yes" {
			t.Errorf("labels = %v", c.Labels)
		}
		if c.StartedAt.Before(before.Add(-time.Second)) || !c.FinishedAt.IsZero() {
			t.Errorf("started %v, finished %v; want started after %v and not finished", c.StartedAt, c.FinishedAt, before)
		}
	})

	t.Run("host config", func(t *testing.T) {
		hc := inspectRaw(t, rt, id).HostConfig
		if hc.NanoCPUs != 500_000_000 || hc.Memory != 64<<20 || hc.MemorySwap != 64<<20 {
			t.Errorf("cpu, memory, swap = %d, %d, %d", hc.NanoCPUs, hc.Memory, hc.MemorySwap)
		}
		if hc.PidsLimit == nil || *hc.PidsLimit != docker.DefaultPidsLimit {
			t.Errorf("pids limit = %v", hc.PidsLimit)
		}
		if hc.Privileged || !slices.Equal(hc.CapDrop, []string{"ALL"}) || !slices.Equal(hc.SecurityOpt, []string{"no-new-privileges"}) || hc.Init == nil || !*hc.Init {
			t.Errorf("privileged %v, cap drop %v, security opt %v, init %v", hc.Privileged, hc.CapDrop, hc.SecurityOpt, hc.Init)
		}
		if !hc.RestartPolicy.IsNone() {
			t.Errorf("restart policy = %+v", hc.RestartPolicy)
		}
		if hc.LogConfig.Type != "json-file" || hc.LogConfig.Config["max-size"] == "" || hc.LogConfig.Config["max-file"] == "" {
			t.Errorf("log config = %+v", hc.LogConfig)
		}
		udp, _ := network.PortFrom(dockertest.EchoPort, network.UDP)
		if b := hc.PortBindings[udp]; len(b) != 1 || b[0].HostIP.String() != "127.0.0.1" || b[0].HostPort != strconv.Itoa(udpPort) {
			t.Errorf("udp bindings = %+v", b)
		}
	})
}

// TestLimitsAndReservation starts containers with and without limits and
// reads back what the engine applies: the limit (or, without one, the
// reservation) as the hard cap, and the reservation as CPU shares and a
// memory reservation.
func TestLimitsAndReservation(t *testing.T) {
	t.Parallel()
	rt := dockertest.Runtime(t)
	node := dockertest.NodeID(t)
	tests := []struct {
		name                     string
		reserved, limits         arena.Resources
		nanoCPUs, memory, shares int64
		memoryReservation        int64
	}{
		// As before limits: capped at the reservation.
		{"no limits", arena.Resources{MilliCPU: 500, MemoryMB: 64}, arena.Resources{},
			500_000_000, 64 << 20, 512, 64 << 20},
		{"limits above the reservation", arena.Resources{MilliCPU: 500, MemoryMB: 64}, arena.Resources{MilliCPU: 2000, MemoryMB: 256},
			2_000_000_000, 256 << 20, 512, 64 << 20},
		{"limits equal to the reservation", arena.Resources{MilliCPU: 1000, MemoryMB: 64}, arena.Resources{MilliCPU: 1000, MemoryMB: 64},
			1_000_000_000, 64 << 20, 1024, 64 << 20},
		{"a reservation of a few millicores", arena.Resources{MilliCPU: 1, MemoryMB: 16}, arena.Resources{MilliCPU: 100, MemoryMB: 32},
			100_000_000, 32 << 20, 2, 16 << 20},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			spec := dockertest.EchoSpec(t, node)
			spec.Resources, spec.Limits = tt.reserved, tt.limits
			id := start(t, rt, spec)
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			res, err := rt.Client().ContainerInspect(ctx, id, client.ContainerInspectOptions{})
			if err != nil {
				t.Fatal(err)
			}
			hc := res.Container.HostConfig
			if hc.NanoCPUs != tt.nanoCPUs || hc.Memory != tt.memory || hc.MemorySwap != tt.memory {
				t.Errorf("cap: cpu, memory, swap = %d, %d, %d; want %d, %d, %d", hc.NanoCPUs, hc.Memory, hc.MemorySwap, tt.nanoCPUs, tt.memory, tt.memory)
			}
			if hc.CPUShares != tt.shares || hc.MemoryReservation != tt.memoryReservation {
				t.Errorf("reservation: cpu shares, memory = %d, %d; want %d, %d", hc.CPUShares, hc.MemoryReservation, tt.shares, tt.memoryReservation)
			}
			if !res.Container.State.Running {
				t.Errorf("the container does not run: %+v", res.Container.State)
			}
		})
	}
}

// TestSecurity starts echo servers as the image is built and confined to a
// user, a read-only root and a tmpfs, and checks both what the engine was
// told and what the process inside can do: whom it runs as, where it may
// write, and the tmpfs's size and options.
func TestSecurity(t *testing.T) {
	t.Parallel()
	rt := dockertest.Runtime(t)
	node := dockertest.NodeID(t)
	tests := []struct {
		name   string
		sec    arena.ContainerSecurity
		limits arena.Resources
		// id is what ID answers; root and tmp what WRITE answers at / and
		// in /tmp.
		id, root, tmp string
		// size is the size of the tmpfs at /tmp as the kernel has it, empty
		// for none, and tmpfs the engine's mounts.
		size  string
		tmpfs map[string]string
	}{
		{"the image as it is", arena.ContainerSecurity{}, arena.Resources{},
			"uid=0 gid=0", "ok", "error: open /tmp/probe: no such file or directory", "", nil},
		{"a user alone", arena.ContainerSecurity{User: "65534:65534"}, arena.Resources{},
			"uid=65534 gid=65534", "error: open /probe: permission denied", "error: open /tmp/probe: no such file or directory",
			"", nil},
		// Each tmpfs is sized at the memory limit, not the reservation.
		{"confined", arena.ContainerSecurity{User: "65534:65534", ReadOnlyRootFS: true, Tmpfs: []string{"/tmp", "/var/game"}},
			arena.Resources{MilliCPU: 200, MemoryMB: 128},
			"uid=65534 gid=65534", "error: open /probe: read-only file system", "ok",
			"size=131072k",
			map[string]string{"/tmp": "rw,nosuid,nodev,exec,mode=1777,size=128m", "/var/game": "rw,nosuid,nodev,exec,mode=1777,size=128m"}},
		{"root on a read-only root", arena.ContainerSecurity{ReadOnlyRootFS: true, Tmpfs: []string{"/tmp"}}, arena.Resources{},
			"uid=0 gid=0", "error: open /probe: read-only file system", "ok",
			"size=65536k", map[string]string{"/tmp": "rw,nosuid,nodev,exec,mode=1777,size=64m"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			port := dockertest.FreePort(t)
			spec := dockertest.EchoSpec(t, node)
			spec.BindIP = "127.0.0.1"
			spec.Ports = []arena.Port{{Protocol: arena.TCP, Container: dockertest.EchoPort, Host: port}}
			spec.Resources = arena.Resources{MilliCPU: 100, MemoryMB: 64}
			spec.Limits = tt.limits
			spec.Security = tt.sec
			id := start(t, rt, spec)

			c := inspectRaw(t, rt, id)
			if c.Config.User != tt.sec.User || c.HostConfig.ReadonlyRootfs != tt.sec.ReadOnlyRootFS || !maps.Equal(c.HostConfig.Tmpfs, tt.tmpfs) {
				t.Errorf("user %q, read-only root %v, tmpfs %v; want %q, %v, %v",
					c.Config.User, c.HostConfig.ReadonlyRootfs, c.HostConfig.Tmpfs, tt.sec.User, tt.sec.ReadOnlyRootFS, tt.tmpfs)
			}
			// The confinement every container has stays whatever the user.
			if hc := c.HostConfig; hc.Privileged || !slices.Equal(hc.CapDrop, []string{"ALL"}) || !slices.Equal(hc.SecurityOpt, []string{"no-new-privileges"}) ||
				hc.PidsLimit == nil || *hc.PidsLimit != docker.DefaultPidsLimit || hc.Init == nil || !*hc.Init {
				t.Errorf("privileged %v, cap drop %v, security opt %v, pids limit %v, init %v", hc.Privileged, hc.CapDrop, hc.SecurityOpt, hc.PidsLimit, hc.Init)
			}

			addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
			for _, ask := range []struct{ line, want string }{
				{"ID", tt.id},
				{"WRITE /probe", tt.root},
				{"WRITE /tmp/probe", tt.tmp},
			} {
				if got := dockertest.AskTCP(t, addr, ask.line); got != ask.want {
					t.Errorf("%s answered %q, want %q", ask.line, got, ask.want)
				}
			}
			mount := dockertest.AskTCP(t, addr, "MOUNT /tmp")
			if tt.size == "" {
				if mount != "error: no filesystem is mounted at /tmp" {
					t.Errorf("MOUNT /tmp answered %q, want no filesystem", mount)
				}
			} else if fs, opts, _ := strings.Cut(mount, " "); fs != "tmpfs" || !hasAll(strings.Split(opts, ","), "rw", "nosuid", "nodev", tt.size) ||
				slices.Contains(strings.Split(opts, ","), "noexec") {
				t.Errorf("MOUNT /tmp answered %q, want a tmpfs rw, nosuid, nodev, not noexec, of %s", mount, tt.size)
			}
			if len(tt.sec.Tmpfs) > 1 {
				if got := dockertest.AskTCP(t, addr, "WRITE /var/game/probe"); got != "ok" {
					t.Errorf("WRITE on the second tmpfs answered %q", got)
				}
			}
		})
	}
}

// hasAll reports whether list holds every one of want.
func hasAll(list []string, want ...string) bool {
	for _, w := range want {
		if !slices.Contains(list, w) {
			return false
		}
	}
	return true
}

func TestCPUShares(t *testing.T) {
	tests := []struct {
		name     string
		milliCPU int64
		want     int64
	}{
		{"nothing reserved", 0, 0},
		{"one core is the engine's default weight", 1000, 1024},
		{"a tenth of a core", 100, 102},
		{"the kernel's least weight", 1, 2},
		{"the kernel's greatest weight", 1_000_000, 262144},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := docker.CPUShares(tt.milliCPU); got != tt.want {
				t.Errorf("CPUShares(%d) = %d, want %d", tt.milliCPU, got, tt.want)
			}
		})
	}
}

func TestHostNetwork(t *testing.T) {
	t.Parallel()
	rt := dockertest.Runtime(t)
	node := dockertest.NodeID(t)
	tcpPort, udpPort := dockertest.FreePort(t), dockertest.FreePort(t)

	spec := dockertest.EchoSpec(t, node)
	spec.Network = arena.NetworkHost
	spec.Ports = []arena.Port{
		{Protocol: arena.TCP, Container: dockertest.EchoPort, Host: tcpPort},
		{Protocol: arena.UDP, Container: dockertest.EchoPort, Host: udpPort},
	}
	spec.Env["GAMEYE_PORT_TCP_7777"] = strconv.Itoa(tcpPort)
	spec.Env["GAMEYE_PORT_UDP_7777"] = strconv.Itoa(udpPort)
	id := start(t, rt, spec)

	if got := dockertest.AskTCP(t, net.JoinHostPort("127.0.0.1", strconv.Itoa(tcpPort)), "hello"); got != "hello" {
		t.Errorf("tcp echo = %q", got)
	}
	if got := dockertest.AskUDP(t, net.JoinHostPort("127.0.0.1", strconv.Itoa(udpPort)), "ping"); got != "ping" {
		t.Errorf("udp echo = %q", got)
	}
	hc := inspectRaw(t, rt, id).HostConfig
	if hc.NetworkMode != network.NetworkHost || len(hc.PortBindings) != 0 {
		t.Errorf("network %q, bindings %v; want host and none", hc.NetworkMode, hc.PortBindings)
	}
}

func TestStop(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		args  []string
		grace time.Duration
		// early stops the container without waiting for its signal handler.
		early        bool
		wantCode     int
		wantTermFile bool
	}{
		{name: "sigterm", grace: 20 * time.Second, wantCode: 0, wantTermFile: true},
		{name: "kill after grace", args: []string{"--ignore-term"}, grace: time.Second, wantCode: 137},
		// The init process forwards SIGTERM to a server that has no handler
		// yet, which it kills (143): without one, PID 1 would drop it and the
		// stop would end in a kill (137) after the grace period.
		{name: "sigterm before the handler", args: []string{"--start-delay", "1h"}, grace: 5 * time.Second, early: true, wantCode: 143},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			rt := dockertest.Runtime(t)
			spec := dockertest.EchoSpec(t, dockertest.NodeID(t))
			spec.Args = tt.args
			id := start(t, rt, spec)
			if !tt.early {
				dockertest.WaitLog(t, rt, id, "echo server listening")
			}

			began := time.Now()
			if err := rt.Stop(context.Background(), id, tt.grace); err != nil {
				t.Fatalf("Stop: %v", err)
			}
			took := time.Since(began)
			c, err := rt.Inspect(context.Background(), id)
			if err != nil {
				t.Fatal(err)
			}
			if c.Running || c.ExitCode != tt.wantCode {
				t.Errorf("after Stop: running %v, exit code %d; want stopped with %d", c.Running, c.ExitCode, tt.wantCode)
			}
			if tt.wantCode == 137 && took < tt.grace {
				t.Errorf("killed after %s, before the grace period of %s", took, tt.grace)
			}
			if tt.wantCode != 137 && took >= tt.grace {
				t.Errorf("stopping took %s: SIGTERM was not handled", took)
			}
			content, ok := readFile(t, rt, id, "/arena-terminated")
			if ok != tt.wantTermFile || (ok && content != "terminated\n") {
				t.Errorf("term file: exists %v, content %q; want exists %v", ok, content, tt.wantTermFile)
			}
			if err := rt.Stop(context.Background(), id, tt.grace); err != nil {
				t.Errorf("stopping a stopped container: %v", err)
			}
		})
	}
}

func TestExitsAndRestart(t *testing.T) {
	t.Parallel()
	rt := dockertest.Runtime(t)
	node := dockertest.NodeID(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	exits, err := rt.Exits(ctx, node)
	if err != nil {
		t.Fatalf("Exits: %v", err)
	}
	next := func(t *testing.T) arena.ContainerExit {
		t.Helper()
		select {
		case e, ok := <-exits:
			if !ok {
				t.Fatal("exit stream closed")
			}
			return e
		case <-time.After(dockertest.Timeout):
			t.Fatal("no exit reported")
			return arena.ContainerExit{}
		}
	}

	// A container of another node exits first: its exit must not show up.
	other := dockertest.EchoSpec(t, dockertest.NodeID(t))
	other.Args = []string{"--exit-after", "0s", "--exit-code", "9"}
	dockertest.WaitExited(t, rt, start(t, rt, other))

	port := dockertest.FreePort(t)
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	spec := dockertest.EchoSpec(t, node)
	spec.BindIP = "127.0.0.1"
	spec.Ports = []arena.Port{{Protocol: arena.TCP, Container: dockertest.EchoPort, Host: port}}
	id := start(t, rt, spec)

	for round := 1; round <= 2; round++ {
		t.Run("round "+strconv.Itoa(round), func(t *testing.T) {
			before := time.Now()
			if got := dockertest.AskTCP(t, addr, "EXIT 3"); got != "bye 3" {
				t.Fatalf("EXIT 3 answered %q", got)
			}
			e := next(t)
			want := arena.ContainerExit{ContainerID: id, SessionID: spec.Labels[arena.LabelSession], ExitCode: 3}
			if e.ContainerID != want.ContainerID || e.SessionID != want.SessionID || e.ExitCode != want.ExitCode {
				t.Errorf("exit = %+v, want %+v", e, want)
			}
			if e.At.Before(before.Add(-time.Second)) || e.At.After(time.Now().Add(time.Second)) || e.At.Nanosecond() == 0 {
				t.Errorf("exit at %v, want a precise time after %v", e.At, before)
			}
			c, err := rt.Inspect(context.Background(), id)
			if err != nil {
				t.Fatal(err)
			}
			if c.Running || c.ExitCode != 3 || c.FinishedAt.IsZero() {
				t.Errorf("after the exit: %+v", c)
			}
			if err := rt.Restart(context.Background(), id); err != nil {
				t.Fatalf("Restart: %v", err)
			}
			// The same host port reaches the restarted process.
			if got := dockertest.AskTCP(t, addr, "back"); got != "back" {
				t.Errorf("after restart: %q", got)
			}
		})
	}

	t.Run("closed with ctx", func(t *testing.T) {
		cancel()
		deadline := time.After(dockertest.Timeout)
		for {
			select {
			case _, ok := <-exits:
				if !ok {
					return
				}
			case <-deadline:
				t.Fatal("exit stream not closed after ctx ended")
			}
		}
	})
}

func TestList(t *testing.T) {
	t.Parallel()
	rt := dockertest.Runtime(t)
	nodeA, nodeB := dockertest.NodeID(t), dockertest.NodeID(t)

	running := dockertest.EchoSpec(t, nodeA)
	exited := dockertest.EchoSpec(t, nodeA)
	exited.Args = []string{"--exit-after", "0s", "--exit-code", "5"}
	otherNode := dockertest.EchoSpec(t, nodeB)
	runningID := start(t, rt, running)
	exitedID := start(t, rt, exited)
	otherID := start(t, rt, otherNode)
	dockertest.WaitExited(t, rt, exitedID)

	// A container without Arena's labels, as someone else's would be.
	foreign, err := rt.Client().ContainerCreate(context.Background(), client.ContainerCreateOptions{
		Name:   "arena-test-foreign-" + dockertest.RandomID(),
		Config: &container.Config{Image: dockertest.EchoImage(t)},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = rt.Remove(context.Background(), foreign.ID) })

	tests := []struct {
		node string
		want map[string]arena.Container
	}{
		{nodeA, map[string]arena.Container{
			runningID: {ID: runningID, Name: running.Name, SessionID: running.Labels[arena.LabelSession], NodeID: nodeA, Running: true},
			exitedID:  {ID: exitedID, Name: exited.Name, SessionID: exited.Labels[arena.LabelSession], NodeID: nodeA, ExitCode: 5},
		}},
		{nodeB, map[string]arena.Container{
			otherID: {ID: otherID, Name: otherNode.Name, SessionID: otherNode.Labels[arena.LabelSession], NodeID: nodeB, Running: true},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.node, func(t *testing.T) {
			got, err := rt.List(context.Background(), tt.node)
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(tt.want) {
				t.Fatalf("List = %d containers %+v, want %d", len(got), got, len(tt.want))
			}
			for _, c := range got {
				w, ok := tt.want[c.ID]
				if !ok {
					t.Errorf("unexpected container %+v", c)
					continue
				}
				if c.Name != w.Name || c.SessionID != w.SessionID || c.NodeID != w.NodeID || c.Running != w.Running || (!w.Running && c.ExitCode != w.ExitCode) {
					t.Errorf("container = %+v, want %+v", c, w)
				}
				if c.StartedAt.IsZero() {
					t.Errorf("container %s has no start time", c.Name)
				}
			}
		})
	}

	t.Run("no node", func(t *testing.T) {
		_, err := rt.List(context.Background(), "")
		wantCode(t, err, arena.EINVALID)
	})
}

func TestStartErrors(t *testing.T) {
	t.Parallel()
	rt := dockertest.Runtime(t)
	node := dockertest.NodeID(t)
	taken := dockertest.EchoSpec(t, node)
	start(t, rt, taken)

	tests := []struct {
		name   string
		modify func(*arena.ContainerSpec)
		code   string
	}{
		{"missing image", func(s *arena.ContainerSpec) { s.Image = "arena-test/missing:" + dockertest.RandomID() }, arena.ENOTFOUND},
		{"name taken", func(s *arena.ContainerSpec) { s.Name = taken.Name }, arena.ECONFLICT},
		{"no node label", func(s *arena.ContainerSpec) { delete(s.Labels, arena.LabelNode) }, arena.EINVALID},
		{"bad protocol", func(s *arena.ContainerSpec) {
			s.Ports = []arena.Port{{Protocol: "sctp", Container: 1, Host: dockertest.FreePort(t)}}
		}, arena.EINVALID},
		{"bad bind ip", func(s *arena.ContainerSpec) {
			s.BindIP = "localhost"
			s.Ports = []arena.Port{{Protocol: arena.TCP, Container: 1, Host: dockertest.FreePort(t)}}
		}, arena.EINVALID},
		{"bad network", func(s *arena.ContainerSpec) { s.Network = "overlay" }, arena.EINVALID},
		{"cpu limit below the reservation", func(s *arena.ContainerSpec) {
			s.Resources, s.Limits = arena.Resources{MilliCPU: 500, MemoryMB: 64}, arena.Resources{MilliCPU: 250, MemoryMB: 128}
		}, arena.EINVALID},
		{"memory limit below the reservation", func(s *arena.ContainerSpec) {
			s.Resources, s.Limits = arena.Resources{MilliCPU: 500, MemoryMB: 64}, arena.Resources{MilliCPU: 1000}
		}, arena.EINVALID},
		{"bad user", func(s *arena.ContainerSpec) { s.Security.User = "root:" }, arena.EINVALID},
		{"relative tmpfs", func(s *arena.ContainerSpec) { s.Security.Tmpfs = []string{"tmp"} }, arena.EINVALID},
		{"tmpfs with options", func(s *arena.ContainerSpec) { s.Security.Tmpfs = []string{"/tmp,size=100g"} }, arena.EINVALID},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			spec := dockertest.EchoSpec(t, node)
			tt.modify(&spec)
			id, err := rt.Start(context.Background(), spec)
			if err == nil {
				t.Fatalf("Start succeeded with container %s", id)
			}
			wantCode(t, err, tt.code)
		})
	}
}

// TestStartUnknownUser checks that a container whose user the image does
// not know fails to start, saying why (for the agent's log), and is
// removed again.
func TestStartUnknownUser(t *testing.T) {
	t.Parallel()
	rt := dockertest.Runtime(t)
	node := dockertest.NodeID(t)
	spec := dockertest.EchoSpec(t, node)
	spec.Security.User = "games" // the echo image is FROM scratch: no /etc/passwd
	if id, err := rt.Start(context.Background(), spec); err == nil || !strings.Contains(err.Error(), "games") {
		t.Fatalf("Start = %s, %v; want an error naming the user", id, err)
	}
	_, err := rt.Inspect(context.Background(), spec.Name)
	wantCode(t, err, arena.ENOTFOUND)
}

// TestStartOnATakenPort: a start whose host port is taken, by a socket on
// the host or by another container, is EPORTINUSE, and the container created
// but not started is removed again.
func TestStartOnATakenPort(t *testing.T) {
	t.Parallel()
	rt := dockertest.Runtime(t)
	node := dockertest.NodeID(t)
	tests := []struct {
		name string
		// take holds a port for the duration of the test and returns it.
		take     func(t *testing.T) int
		protocol arena.Protocol
	}{
		{"tcp, by a listener on the host", func(t *testing.T) int {
			l, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { l.Close() })
			return l.Addr().(*net.TCPAddr).Port
		}, arena.TCP},
		{"tcp, by an outgoing connection", func(t *testing.T) int {
			l, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { l.Close() })
			c, err := net.Dial("tcp", l.Addr().String())
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { c.Close() })
			return c.LocalAddr().(*net.TCPAddr).Port
		}, arena.TCP},
		{"udp, by a socket on the host", func(t *testing.T) int {
			u, err := net.ListenPacket("udp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { u.Close() })
			return u.LocalAddr().(*net.UDPAddr).Port
		}, arena.UDP},
		{"udp, by another container", func(t *testing.T) int {
			port := dockertest.FreePort(t)
			other := dockertest.EchoSpec(t, node)
			other.BindIP = "127.0.0.1"
			other.Ports = []arena.Port{{Protocol: arena.UDP, Container: dockertest.EchoPort, Host: port}}
			start(t, rt, other)
			return port
		}, arena.UDP},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			port := tt.take(t)
			spec := dockertest.EchoSpec(t, node)
			spec.BindIP = "127.0.0.1"
			spec.Ports = []arena.Port{{Protocol: tt.protocol, Container: dockertest.EchoPort, Host: port}}
			id, err := rt.Start(context.Background(), spec)
			if err == nil {
				t.Fatalf("Start succeeded on a host port in use, as %s", id)
			}
			wantCode(t, err, arena.EPORTINUSE)
			_, err = rt.Inspect(context.Background(), spec.Name)
			wantCode(t, err, arena.ENOTFOUND)
		})
	}
}

func TestRemove(t *testing.T) {
	t.Parallel()
	rt := dockertest.Runtime(t)
	node := dockertest.NodeID(t)
	tests := []struct {
		name string
		args []string
	}{
		{"running", nil},
		{"exited", []string{"--exit-after", "0s"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			spec := dockertest.EchoSpec(t, node)
			spec.Args = tt.args
			id := start(t, rt, spec)
			if err := rt.Remove(context.Background(), id); err != nil {
				t.Fatalf("Remove: %v", err)
			}
			_, err := rt.Inspect(context.Background(), id)
			wantCode(t, err, arena.ENOTFOUND)
			if err := rt.Remove(context.Background(), id); err != nil {
				t.Errorf("removing a removed container: %v", err)
			}
		})
	}
}

func TestUnknownContainer(t *testing.T) {
	t.Parallel()
	rt := dockertest.Runtime(t)
	id := "arena-test-missing-" + dockertest.RandomID()
	ctx := context.Background()
	tests := []struct {
		name string
		call func() error
	}{
		{"inspect", func() error { _, err := rt.Inspect(ctx, id); return err }},
		{"restart", func() error { return rt.Restart(ctx, id) }},
		{"stop", func() error { return rt.Stop(ctx, id, time.Second) }},
		{"logs", func() error { _, err := rt.Logs(ctx, id, false); return err }},
		{"logs follow", func() error { _, err := rt.Logs(ctx, id, true); return err }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			wantCode(t, tt.call(), arena.ENOTFOUND)
		})
	}
}

func TestImageExists(t *testing.T) {
	t.Parallel()
	rt := dockertest.Runtime(t)
	tests := []struct {
		ref  string
		want bool
	}{
		{dockertest.EchoImage(t), true},
		{"arena-test/missing:" + dockertest.RandomID(), false},
	}
	for _, tt := range tests {
		t.Run(tt.ref, func(t *testing.T) {
			got, err := rt.ImageExists(context.Background(), tt.ref)
			if err != nil || got != tt.want {
				t.Errorf("ImageExists(%s) = %v, %v; want %v", tt.ref, got, err, tt.want)
			}
		})
	}
}

// TestBuildImageOfADynamicBinary runs a dynamically linked executable of
// this host in an image built from it, as `arena dev` does with an arena
// binary built with cgo on.
func TestBuildImageOfADynamicBinary(t *testing.T) {
	t.Parallel()
	rt := dockertest.Runtime(t)
	bin := ""
	for _, name := range []string{"env"} {
		if p, err := exec.LookPath(name); err == nil {
			bin = p
		}
	}
	if bin == "" {
		t.Fatal("no env executable on this host")
	}
	ref := "arena-test/dynamic:" + dockertest.RandomID()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if err := rt.BuildImage(ctx, ref, bin, []string{"/env", "BUNDLED=yes"}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		_ = rt.RemoveImage(ctx, ref)
	})
	spec := dockertest.EchoSpec(t, dockertest.NodeID(t))
	spec.Image = ref
	id := start(t, rt, spec)
	if c := dockertest.WaitExited(t, rt, id); c.ExitCode != 0 {
		t.Fatalf("exit code %d; output %q", c.ExitCode, dockertest.Logs(t, rt, id))
	}
	if out := dockertest.Logs(t, rt, id); !strings.Contains(out, "BUNDLED=yes") {
		t.Fatalf("output %q", out)
	}
}
