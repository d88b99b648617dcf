package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/arena-hq/arena"
	"github.com/arena-hq/arena/client"
	"github.com/arena-hq/arena/docker/dockertest"
	"github.com/arena-hq/arena/http/apitest"
	"github.com/arena-hq/arena/rpc"
)

// proc is an arena process started by a test.
type proc struct {
	tb     testing.TB
	cmd    *exec.Cmd
	exited chan error
	lines  chan string
	// logs has the lines of its stderr, for tests that wait on what the
	// process logs; lines nobody reads in time are dropped.
	logs chan string
}

// startProc runs the arena binary with args; its stderr goes to the test log
// and to p.logs, its stdout lines to p.lines.
func startProc(tb testing.TB, args ...string) *proc {
	tb.Helper()
	p := &proc{tb: tb, cmd: exec.Command(arenaBinary(tb), args...), exited: make(chan error, 1), lines: make(chan string, 100), logs: make(chan string, 1000)}
	p.cmd.Stderr = prefixWriter{tb, args[0], p.logs}
	out, err := p.cmd.StdoutPipe()
	if err != nil {
		tb.Fatal(err)
	}
	if err := p.cmd.Start(); err != nil {
		tb.Fatal(err)
	}
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			select {
			case p.lines <- sc.Text():
			default:
			}
		}
		p.exited <- p.cmd.Wait()
	}()
	tb.Cleanup(p.kill)
	return p
}

type prefixWriter struct {
	tb     testing.TB
	prefix string
	lines  chan<- string
}

func (w prefixWriter) Write(b []byte) (int, error) {
	for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		w.tb.Log(w.prefix + ": " + line)
		select {
		case w.lines <- line:
		default:
		}
	}
	return len(b), nil
}

// field waits for the output line "NAME: value" and returns the value.
func (p *proc) field(name string) string {
	p.tb.Helper()
	deadline := time.After(dockertest.Timeout)
	for {
		select {
		case line := <-p.lines:
			if f := strings.Fields(line); len(f) >= 2 && f[0] == name+":" {
				return f[1]
			}
		case err := <-p.exited:
			p.exited <- err
			p.tb.Fatalf("%s exited (%v) before printing %s", p.cmd.Path, err, name)
		case <-deadline:
			p.tb.Fatalf("no %s line", name)
		}
	}
}

// kill ends the process at once, as a crash would.
func (p *proc) kill() {
	_ = p.cmd.Process.Kill()
	err := <-p.exited
	p.exited <- err
}

// waitExit waits for the process to exit by itself and returns its error.
func (p *proc) waitExit() error {
	p.tb.Helper()
	select {
	case err := <-p.exited:
		p.exited <- err
		return err
	case <-time.After(dockertest.Timeout):
		p.tb.Fatal("the process did not exit")
		return nil
	}
}

// localCluster is an `arena server` and `arena agent` processes on this machine,
// sharing the local Docker Engine, each agent with a node id of its own.
type localCluster struct {
	*testStack
	dir       string
	listen    string
	cfgPath   string
	server    *proc
	joinToken string
	agents    map[string]*proc
	nodeIDs   map[string]string // name -> node id
	tag       string            // the echo application's one tag
}

const clusterToken = "cluster-admin-token"

func newCluster(t *testing.T) *localCluster {
	t.Helper()
	image := dockertest.EchoImage(t)
	repo, tag, _ := strings.Cut(image, ":")
	c := &localCluster{dir: t.TempDir(), joinToken: "join-" + dockertest.RandomID(), agents: map[string]*proc{}, nodeIDs: map[string]string{}, tag: tag}
	c.cfgPath = filepath.Join(c.dir, "arena.yaml")
	cfg := fmt.Sprintf(`
applications:
  - name: echo
    repository: %s
    tags: [{name: %s, priority: 1}]
    ports: [{container: 7777, protocol: tcp}, {container: 7777, protocol: udp}]
    resources: {milliCpu: 100, memoryMb: 64}
    stopGrace: 5s
`, repo, tag)
	if err := os.WriteFile(c.cfgPath, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	c.listen = "127.0.0.1:0"
	c.startServer(t)
	return c
}

func (c *localCluster) startServer(t *testing.T) {
	t.Helper()
	c.server = startProc(t, "server", "--config", c.cfgPath, "--data", filepath.Join(c.dir, "server"), "--listen", c.listen,
		"--token", clusterToken, "--join-token", c.joinToken, "--heartbeat-timeout", "2s", "--log-level", "warn")
	url := c.server.field("API")
	c.listen = strings.TrimPrefix(url, "http://") // a restart keeps the address
	c.testStack = &testStack{tb: t, token: clusterToken, checker: apitest.NewChecker(t), stack: &stack{URL: url}}
}

// agentSpec describes one node of a cluster test.
type agentSpec struct {
	name, region, location, provider, class string
	milliCPU                                int64
	server                                  string // URL to dial; the server's when empty
}

func (c *localCluster) startAgent(t *testing.T, a agentSpec) {
	t.Helper()
	id, ok := c.nodeIDs[a.name]
	if !ok {
		id = dockertest.NodeID(t)
		c.nodeIDs[a.name] = id
	}
	server := a.server
	if server == "" {
		server = c.URL
	}
	lo, hi := freePortRange(t, 6)
	c.agents[a.name] = startProc(t, "agent", "--server", server, "--join-token", c.joinToken, "--node-id", id,
		"--region", a.region, "--location", a.location, "--provider", a.provider, "--class", a.class,
		"--public-ip", "127.0.0.1", "--cpu", fmt.Sprint(float64(a.milliCPU)/1000), "--memory", "1024",
		"--port-range", fmt.Sprintf("%d-%d", lo, hi), "--data", filepath.Join(c.dir, "agent-"+a.name),
		"--heartbeat-interval", "200ms", "--log-level", "warn")
	c.waitNode(a.name, "ready")
}

// nodes returns the admin API's view of the nodes by test name.
func (c *localCluster) nodes() map[string]client.Node {
	c.tb.Helper()
	list, err := c.api().Nodes().List(c.tb.Context())
	if err != nil {
		c.tb.Fatalf("GET /admin/v1/nodes: %v", err)
	}
	out := map[string]client.Node{}
	for _, n := range list.Nodes {
		for name, id := range c.nodeIDs {
			if id == n.ID {
				out[name] = n
			}
		}
	}
	return out
}

func (c *localCluster) waitNode(name, state string) {
	c.tb.Helper()
	dockertest.Eventually(c.tb, dockertest.Timeout, func() error {
		if got := c.nodes()[name].State; got != state {
			return fmt.Errorf("node %s is %q, want %q", name, got, state)
		}
		return nil
	})
}

// waitImage waits until n nodes of region report holding the echo image:
// placement prefers those that do, so spreading is only seen among equals.
func (c *localCluster) waitImage(region string, n int) {
	c.tb.Helper()
	dockertest.Eventually(c.tb, dockertest.Timeout, func() error {
		got, err := c.api().Sessions().Tag(c.tb.Context(), region, "echo", c.tag)
		if err != nil {
			return fmt.Errorf("GET /tag: %v", err)
		}
		if got.Nodes.Present != n {
			return fmt.Errorf("%d nodes of %s hold the image, want %d", got.Nodes.Present, region, n)
		}
		return nil
	})
}

// sessionsOn returns how many sessions each node holds, by test name.
func (c *localCluster) sessionsOn() map[string]int {
	out := map[string]int{}
	for name, n := range c.nodes() {
		out[name] = n.Sessions
	}
	return out
}

func (c *localCluster) place(location string) (client.CreatedSession, error) {
	return c.api().Sessions().Create(c.tb.Context(), client.SessionRequest{Location: location, Image: "echo"})
}

func (c *localCluster) mustPlace(location string) client.CreatedSession {
	c.tb.Helper()
	cr, err := c.place(location)
	if err != nil {
		c.tb.Fatalf("POST /session in %s: %v", location, err)
	}
	return cr
}

// TestClusterPlacement: agents of several regions, providers and classes
// as separate processes; placement honours region, class order, capacity
// and provider spreading.
func TestClusterPlacement(t *testing.T) {
	c := newCluster(t)
	for _, a := range []agentSpec{
		{name: "metal-a", region: "europe", location: "ams", provider: "pa", class: "metal", milliCPU: 200},
		{name: "metal-b", region: "europe", location: "ams", provider: "pb", class: "metal", milliCPU: 200},
		{name: "cloud", region: "europe", location: "fra", provider: "pc", class: "cloud", milliCPU: 1000},
		{name: "us", region: "us", location: "iad", provider: "pa", class: "metal", milliCPU: 1000},
	} {
		c.startAgent(t, a)
	}
	c.waitImage("europe", 3)
	// Room for two sessions on each metal node: the first two go one to
	// each provider, then metal fills up, then the cloud takes the rest.
	c.mustPlace("europe")
	c.mustPlace("europe")
	if got := c.sessionsOn(); got["metal-a"] != 1 || got["metal-b"] != 1 {
		t.Fatalf("two sessions were not spread over the two providers: %v", got)
	}
	c.mustPlace("ams")
	c.mustPlace("europe")
	if got := c.sessionsOn(); got["metal-a"] != 2 || got["metal-b"] != 2 || got["cloud"] != 0 {
		t.Fatalf("metal was not used first: %v", got)
	}
	if _, err := c.place("ams"); arena.ErrorCode(err) != arena.EUNAVAILABLE {
		t.Fatalf("a full location answered %v, want %s", err, arena.EUNAVAILABLE)
	}
	burst := c.mustPlace("europe")
	us := c.mustPlace("us")
	if got := c.sessionsOn(); got["cloud"] != 1 || got["us"] != 1 {
		t.Fatalf("cloud burst or region: %v", got)
	}
	for _, cr := range []client.CreatedSession{burst, us} {
		c.waitStatus(cr.ID, "running")
		if got := dockertest.AskUDP(t, hostPort(cr, arena.UDP), "hello"); got != "hello" {
			t.Fatalf("echo on %s: %q", cr.ID, got)
		}
	}
	// The output stays on the agent's node and comes through the agent.
	dockertest.Eventually(t, dockertest.Timeout, func() error {
		body, err := readStream(c.api().Sessions().Logs(t.Context(), us.ID))
		if err != nil || !strings.Contains(string(body), "echo server listening") {
			return fmt.Errorf("GET /logs: %v %q", err, body)
		}
		return nil
	})
	// Eventually: on a loaded machine an agent's heartbeat may come late
	// past the test's short heartbeat timeout, and its node count as
	// unreachable, until its next one.
	dockertest.Eventually(t, dockertest.Timeout, func() error {
		avail, err := c.api().Sessions().AvailableLocations(t.Context(), "echo")
		if err != nil {
			return fmt.Errorf("available locations: %v", err)
		}
		var ids []string
		for _, l := range avail.Locations {
			ids = append(ids, l.ID)
		}
		if fmt.Sprint(ids) != "[fra iad]" {
			return fmt.Errorf("available locations %v, want fra and iad (ams is full)", ids)
		}
		return nil
	})
}

// TestClusterNodeFailure kills an agent with SIGKILL: its sessions become
// server_unreachable and new ones go elsewhere; restarted, it adopts its
// containers and the control plane agrees.
func TestClusterNodeFailure(t *testing.T) {
	c := newCluster(t)
	c.startAgent(t, agentSpec{name: "metal", region: "europe", location: "ams", provider: "pa", class: "metal", milliCPU: 1000})
	c.startAgent(t, agentSpec{name: "cloud", region: "europe", location: "ams", provider: "pb", class: "cloud", milliCPU: 1000})
	s := c.mustPlace("ams")
	c.waitStatus(s.ID, "running")
	if got := c.sessionsOn(); got["metal"] != 1 {
		t.Fatalf("placed %v", got)
	}

	c.agents["metal"].kill()
	c.waitStatus(s.ID, "server_unreachable")
	c.waitNode("metal", "unreachable")
	if got := dockertest.AskUDP(t, hostPort(s, arena.UDP), "alive"); got != "alive" {
		t.Fatalf("the game server died with its agent: %q", got)
	}
	other := c.mustPlace("ams")
	if got := c.sessionsOn(); got["cloud"] != 1 {
		t.Fatalf("a new session did not avoid the lost node: %v", got)
	}

	c.startAgent(t, agentSpec{name: "metal", region: "europe", location: "ams", provider: "pa", class: "metal", milliCPU: 1000})
	c.waitStatus(s.ID, "running")
	if got := dockertest.AskUDP(t, hostPort(s, arena.UDP), "back"); got != "back" {
		t.Fatalf("echo after the agent came back: %q", got)
	}
	c.waitStatus(other.ID, "running")
	for _, id := range []string{s.ID, other.ID} {
		if err := c.api().Sessions().Stop(t.Context(), id); err != nil {
			t.Fatalf("DELETE %s: %v", id, err)
		}
		c.waitStatus(id, "exited")
	}
}

// TestClusterPartition cuts an agent off from the server without killing
// anything (its connections hang, as behind a partition) and heals it.
func TestClusterPartition(t *testing.T) {
	c := newCluster(t)
	proxy := newPartitionProxy(t, strings.TrimPrefix(c.URL, "http://"))
	c.startAgent(t, agentSpec{name: "metal", region: "europe", location: "ams", provider: "pa", class: "metal", milliCPU: 1000, server: "http://" + proxy.addr()})
	s := c.mustPlace("ams")
	c.waitStatus(s.ID, "running")

	proxy.cut()
	c.waitStatus(s.ID, "server_unreachable")
	if _, err := c.place("ams"); arena.ErrorCode(err) != arena.EUNAVAILABLE {
		t.Fatalf("placed on a partitioned node: %v, want %s", err, arena.EUNAVAILABLE)
	}
	proxy.heal()
	c.waitStatus(s.ID, "running")
	c.waitNode("metal", "ready")
	if got := dockertest.AskUDP(t, hostPort(s, arena.UDP), "healed"); got != "healed" {
		t.Fatalf("echo after the partition: %q", got)
	}
	c.mustPlace("ams")
}

// TestClusterServerRestart restarts the control plane while agents and game
// servers keep running: nothing is lost or duplicated.
func TestClusterServerRestart(t *testing.T) {
	c := newCluster(t)
	c.startAgent(t, agentSpec{name: "metal", region: "europe", location: "ams", provider: "pa", class: "metal", milliCPU: 1000})
	a, b := c.mustPlace("ams"), c.mustPlace("ams")
	c.waitStatus(a.ID, "running")
	c.waitStatus(b.ID, "running")

	c.server.kill()
	c.startServer(t)
	c.waitNode("metal", "ready")
	for _, cr := range []client.CreatedSession{a, b} {
		c.waitStatus(cr.ID, "running")
		if got := dockertest.AskUDP(t, hostPort(cr, arena.UDP), "still"); got != "still" {
			t.Fatalf("echo after the server restart: %q", got)
		}
	}
	if got := c.sessionsOn(); got["metal"] != 2 {
		t.Fatalf("sessions on the node after restart: %v", got)
	}
	third := c.mustPlace("ams")
	c.waitStatus(third.ID, "running")
	cs, err := dockertest.Runtime(t).List(context.Background(), c.nodeIDs["metal"])
	if err != nil || len(cs) != 3 {
		t.Fatalf("%d containers for 3 sessions (%v)", len(cs), err)
	}
}

// TestClusterAgentIdentity: an agent can only be the node whose credential
// it holds.
func TestClusterAgentIdentity(t *testing.T) {
	c := newCluster(t)
	c.startAgent(t, agentSpec{name: "metal", region: "europe", location: "ams", provider: "pa", class: "metal", milliCPU: 1000})
	id := c.nodeIDs["metal"]
	ctx := context.Background()
	node := arena.Node{ID: id, Region: "europe", Location: "ams", Provider: "pa", Class: arena.ClassMetal, PublicIP: "127.0.0.1",
		Capacity: arena.Resources{MilliCPU: 1000, MemoryMB: 1000}, PortMin: 20000, PortMax: 20010}

	// Another machine claiming the node's id, with the join token but
	// without the node's credential, is refused; so is a wrong join token.
	impostor := rpc.NewClient(c.URL)
	if err := impostor.Join(ctx, c.joinToken, node); arena.ErrorCode(err) != arena.EUNAUTHORIZED {
		t.Fatalf("joining as another node: %v", err)
	}
	if err := impostor.Join(ctx, "wrong", arena.Node{ID: "new-node"}); arena.ErrorCode(err) != arena.EUNAUTHORIZED {
		t.Fatalf("joining with a wrong token: %v", err)
	}
	// No credential, a forged one, or a real one used for another node.
	if err := impostor.Heartbeat(ctx, arena.Heartbeat{NodeID: id}); arena.ErrorCode(err) != arena.EUNAUTHORIZED {
		t.Fatalf("heartbeat without a credential: %v", err)
	}
	forged := rpc.NewClient(c.URL, rpc.WithCredential("arena_forged"))
	if err := forged.Heartbeat(ctx, arena.Heartbeat{NodeID: id}); arena.ErrorCode(err) != arena.EUNAUTHORIZED {
		t.Fatalf("heartbeat with a forged credential: %v", err)
	}
	other := rpc.NewClient(c.URL)
	stranger := node
	stranger.ID = "stranger-" + dockertest.RandomID()
	if err := other.Join(ctx, c.joinToken, stranger); err != nil {
		t.Fatal(err)
	}
	if err := other.Heartbeat(ctx, arena.Heartbeat{NodeID: id}); arena.ErrorCode(err) != arena.EUNAUTHORIZED {
		t.Fatalf("a node's credential used for another node's heartbeat: %v", err)
	}
	if err := other.Report(ctx, arena.SessionReport{SessionID: "x", NodeID: id, State: arena.SessionStopped}); arena.ErrorCode(err) != arena.EUNAUTHORIZED {
		t.Fatalf("a node's credential used for another node's report: %v", err)
	}
	// The same refusal from the command itself: it exits with an error.
	dup := startProc(t, "agent", "--server", c.URL, "--join-token", c.joinToken, "--node-id", id, "--region", "europe",
		"--location", "ams", "--public-ip", "127.0.0.1", "--data", t.TempDir())
	if err := dup.waitExit(); err == nil {
		t.Fatal("a second agent with the node's id but not its credential ran")
	}
	c.waitNode("metal", "ready")
}

// partitionProxy forwards TCP to a target until cut: then it holds every
// connection open and drops every byte sent either way, as a firewall that
// drops packets does: neither end sees the connection close.
type partitionProxy struct {
	tb     testing.TB
	ln     net.Listener
	target string

	mu    sync.Mutex
	isCut bool
	conns []net.Conn
}

func newPartitionProxy(tb testing.TB, target string) *partitionProxy {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	p := &partitionProxy{tb: tb, ln: ln, target: target}
	tb.Cleanup(func() {
		ln.Close()
		p.dropAll()
	})
	go p.serve()
	return p
}

func (p *partitionProxy) addr() string { return p.ln.Addr().String() }

func (p *partitionProxy) serve() {
	for {
		in, err := p.ln.Accept()
		if err != nil {
			return
		}
		p.mu.Lock()
		p.conns = append(p.conns, in)
		cut := p.isCut
		p.mu.Unlock()
		if cut {
			go discard(in) // accepted, never answered
			continue
		}
		out, err := net.Dial("tcp", p.target)
		if err != nil {
			in.Close()
			continue
		}
		p.mu.Lock()
		p.conns = append(p.conns, out)
		p.mu.Unlock()
		go p.pipe(in, out)
		go p.pipe(out, in)
	}
}

// pipe copies until either side fails; while the proxy is cut it drops
// what it reads, leaving the connections open and silent.
func (p *partitionProxy) pipe(dst, src net.Conn) {
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		p.mu.Lock()
		cut := p.isCut
		p.mu.Unlock()
		if cut {
			if err != nil {
				return
			}
			continue
		}
		if n > 0 {
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			// The other side sees the end as the network would carry it,
			// a reset (a process killed with data unread) included.
			dst.Close()
			return
		}
	}
}

// discard reads and drops everything c sends until it closes.
func discard(c net.Conn) { _, _ = io.Copy(io.Discard, c) }

func (p *partitionProxy) cut() {
	p.mu.Lock()
	p.isCut = true
	p.mu.Unlock()
}

// heal forwards again; connections from the cut stay dead, as they would
// after a real partition, and the agent opens new ones.
func (p *partitionProxy) heal() {
	p.dropAll()
	p.mu.Lock()
	p.isCut = false
	p.mu.Unlock()
}

func (p *partitionProxy) dropAll() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range p.conns {
		c.Close()
	}
	p.conns = nil
}

// TestClusterServerForgetsNode: a control plane that lost its store (say,
// restored from an old backup) no longer knows the node's credential; the
// agent joins again and carries on.
func TestClusterServerForgetsNode(t *testing.T) {
	c := newCluster(t)
	c.startAgent(t, agentSpec{name: "metal", region: "europe", location: "ams", provider: "pa", class: "metal", milliCPU: 1000})
	c.server.kill()
	if err := os.RemoveAll(filepath.Join(c.dir, "server")); err != nil {
		t.Fatal(err)
	}
	c.startServer(t)
	c.waitNode("metal", "ready")
	s := c.mustPlace("ams")
	c.waitStatus(s.ID, "running")
}
