package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/arena-hq/arena"
	"github.com/arena-hq/arena/agent"
	"github.com/arena-hq/arena/config"
	"github.com/arena-hq/arena/docker"
	"github.com/arena-hq/arena/http"
	"github.com/arena-hq/arena/metrics"
	"github.com/arena-hq/arena/rpc"
)

type agentOptions struct {
	config, joinToken, nodeID, region, location, provider, class        string
	publicIP, bindIP, cpu, memory, portRange, data, logFormat, logLevel string
	heartbeat, metricsListen                                            string
	startConcurrency, startTimeout                                      string
	servers                                                             serversFlag
}

// serversFlag is --server, which may be given more than once and hold
// several addresses, comma-separated.
type serversFlag []string

func (f *serversFlag) String() string { return strings.Join(*f, ",") }

// Set implements flag.Value, checking the addresses at once, so that a bad
// one is a command line not understood.
func (f *serversFlag) Set(v string) error {
	if _, err := rpc.ParseServers(v); err != nil {
		return errors.New(arena.ErrorMessage(err))
	}
	*f = append(*f, v)
	return nil
}

func runAgent(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var o agentOptions
	fs := newFlagSet("arena agent", stdout, "")
	for _, f := range []struct {
		p          *string
		name, help string
	}{
		{&o.config, "config", "agent config file (env ARENA_AGENT_CONFIG)"},
		{&o.joinToken, "join-token", "the control plane's join token (env ARENA_JOIN_TOKEN)"},
		{&o.nodeID, "node-id", "this node's id (env ARENA_NODE_ID; default: the host name)"},
		{&o.region, "region", "region of the node, e.g. europe (env ARENA_REGION)"},
		{&o.location, "location", "location of the node, e.g. eu-ams-1 (env ARENA_LOCATION)"},
		{&o.provider, "provider", "infrastructure provider, e.g. hetzner (env ARENA_PROVIDER; default local)"},
		{&o.class, "class", "metal or cloud (env ARENA_CLASS; default metal)"},
		{&o.publicIP, "public-ip", "address players connect to (env ARENA_PUBLIC_IP)"},
		{&o.bindIP, "bind-ip", "host address bridge ports are published on (env ARENA_BIND_IP; default all)"},
		{&o.cpu, "cpu", "CPU cores sessions may reserve (env ARENA_CPU; default: detected)"},
		{&o.memory, "memory", "MiB of memory sessions may reserve (env ARENA_MEMORY; default: detected)"},
		{&o.portRange, "port-range", "host ports for sessions, LOW-HIGH (env ARENA_PORT_RANGE; default 32768-60299)"},
		{&o.data, "data", "directory for the node's credential (env ARENA_DATA; default ./agent-data)"},
		{&o.heartbeat, "heartbeat-interval", "how often to tell the control plane the node is alive (env ARENA_HEARTBEAT_INTERVAL; default 5s; keep it well under the server's --heartbeat-timeout)"},
		{&o.startConcurrency, "start-concurrency", fmt.Sprintf("containers to start at once; more sessions wait their turn (env ARENA_START_CONCURRENCY; default %d)", agent.DefaultStartConcurrency)},
		{&o.startTimeout, "start-timeout", fmt.Sprintf("deadline of each session's start, its wait for a turn included (env ARENA_START_TIMEOUT; default %s)", agent.DefaultStartTimeout)},
		{&o.metricsListen, "metrics-listen", "address to serve Prometheus metrics (Docker call latency) on at /metrics (env ARENA_METRICS_LISTEN; default: none)"},
		{&o.logFormat, "log-format", "text or json (env ARENA_LOG_FORMAT; default text)"},
		{&o.logLevel, "log-level", "debug, info, warn or error (env ARENA_LOG_LEVEL; default info)"},
	} {
		fs.StringVar(f.p, f.name, "", f.help)
	}
	fs.Var(&o.servers, "server", "`URL` of the control plane, or of each of its replicas: comma-separated or the flag repeated, "+
		"e.g. --server http://cp-1:8080,http://cp-2:8080; a host name counts as every address it resolves to. "+
		"Calls stay on one replica while it works and move to the next when it cannot be reached "+
		"(env ARENA_SERVER, comma-separated)")
	if err := parseNoArgs(fs, args); err != nil {
		return err
	}
	file, err := config.LoadAgent(pick(o.config, os.Getenv("ARENA_AGENT_CONFIG")))
	if err != nil {
		return err
	}
	log, err := newLogger(stderr, pick(o.logFormat, os.Getenv("ARENA_LOG_FORMAT"), "text"), pick(o.logLevel, os.Getenv("ARENA_LOG_LEVEL"), "info"))
	if err != nil {
		return err
	}
	node, err := agentNode(o, file)
	if err != nil {
		return err
	}
	joinToken := pick(o.joinToken, os.Getenv("ARENA_JOIN_TOKEN"), file.JoinToken)
	if joinToken == "" {
		return fmt.Errorf("--server and --join-token are required")
	}
	servers, err := agentServers(o.servers, os.Getenv("ARENA_SERVER"), file.Server)
	if err != nil {
		return err
	}
	data := pick(o.data, os.Getenv("ARENA_DATA"), file.Data, "agent-data")
	if err := os.MkdirAll(data, 0o700); err != nil {
		return err
	}
	// The node's credential is made here and kept before the first join, so
	// that a join whose answer is lost can simply be repeated.
	credPath := filepath.Join(data, node.ID+".credential")
	cred, err := secretFile(credPath, "")
	if err != nil {
		return err
	}
	client, err := rpc.NewClientOf(servers, rpc.WithCredential(cred), rpc.WithClientLogger(log.With("component", "rpc")))
	if err != nil {
		return err
	}
	if err := join(ctx, client, joinToken, node, log); err != nil {
		return err
	}
	if got := client.Credential(); got != cred {
		if err := writeFileAtomic(credPath, []byte(got)); err != nil {
			return err
		}
	}
	reg := metrics.New()
	if addr := pick(o.metricsListen, os.Getenv("ARENA_METRICS_LISTEN")); addr != "" {
		stop, _, err := serveMetrics(addr, reg, http.ServerConfig{Logger: log}, log)
		if err != nil {
			return err
		}
		defer stop()
	}
	rt, err := docker.New(docker.WithMetrics(reg))
	if err != nil {
		return err
	}
	defer rt.Close()
	// The replica the join went through, which the calls stay on.
	fmt.Fprintf(stdout, "Arena agent of node %s (%s/%s, %s, %s) is connected to %s\n", node.ID, node.Region, node.Location, node.Provider, node.Class, client.Server())
	beat, err := duration("heartbeat-interval", pick(o.heartbeat, os.Getenv("ARENA_HEARTBEAT_INTERVAL"), file.HeartbeatInterval), 5*time.Second)
	if err != nil {
		return err
	}
	starts, err := startConcurrency(pick(o.startConcurrency, os.Getenv("ARENA_START_CONCURRENCY")), file.StartConcurrency)
	if err != nil {
		return err
	}
	startTimeout, err := duration("start-timeout", pick(o.startTimeout, os.Getenv("ARENA_START_TIMEOUT"), file.StartTimeout), agent.DefaultStartTimeout)
	if err != nil {
		return err
	}
	cfg := &config.Config{BindIP: pick(o.bindIP, os.Getenv("ARENA_BIND_IP"), file.BindIP), Restart: file.Restart,
		ArtifactRetention: file.ArtifactRetention, ArtifactMaxMB: file.ArtifactMaxMB}
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	cp := &rejoiningClient{Client: client, joinToken: joinToken, node: node, credPath: credPath, log: log, fatal: cancel}
	ac := agentConfig(cfg, node, cp, rt, log)
	ac.Installation = client.Installation()
	ac.HeartbeatInterval = beat
	ac.StartConcurrency, ac.StartTimeout = starts, startTimeout
	ac.ArtifactDir = filepath.Join(data, "artifacts")
	ac.StateDir, ac.LauncherDir = data, launcherDir(data)
	if err := agent.New(ac).Run(ctx); err != nil {
		return err
	}
	if cause := context.Cause(ctx); cause != nil && cause != context.Canceled {
		return cause
	}
	return nil
}

// agentServers returns the control plane's addresses: those of the --server
// flags, else of ARENA_SERVER, else of the config file.
func agentServers(flags []string, env string, file config.Servers) ([]string, error) {
	from, values := "--server", flags
	switch {
	case len(values) > 0:
	case env != "":
		from, values = "ARENA_SERVER", []string{env}
	case len(file) > 0:
		from, values = "the config file's server", file
	default:
		return nil, fmt.Errorf("--server and --join-token are required")
	}
	servers, err := rpc.ParseServers(values...)
	if err != nil {
		return nil, fmt.Errorf("%s: %s", from, arena.ErrorMessage(err))
	}
	return servers, nil
}

// startConcurrency reads --start-concurrency, or else the file's value, or
// else the default.
func startConcurrency(flag string, file int) (int, error) {
	n := file
	if flag != "" {
		var err error
		if n, err = strconv.Atoi(flag); err != nil {
			n = -1
		}
	}
	switch {
	case flag == "" && file == 0:
		return agent.DefaultStartConcurrency, nil
	case n < 1 || n > arena.MaxStartConcurrency:
		return 0, fmt.Errorf("--start-concurrency (startConcurrency in the file) must be a whole number from 1 to %d", arena.MaxStartConcurrency)
	}
	return n, nil
}

// rejoiningClient joins again when the control plane no longer accepts the
// node's credential, as after its store was restored from a backup. If the
// join is refused too, the agent cannot work: it stops with the reason
// instead of retrying forever.
type rejoiningClient struct {
	*rpc.Client
	joinToken, credPath string
	node                arena.Node
	log                 *slog.Logger
	fatal               context.CancelCauseFunc
}

// Heartbeat implements agent.ControlPlane.
func (c *rejoiningClient) Heartbeat(ctx context.Context, hb arena.Heartbeat) error {
	err := c.Client.Heartbeat(ctx, hb)
	if arena.ErrorCode(err) != arena.EUNAUTHORIZED {
		return err
	}
	c.log.Warn("the control plane refused the node's credential; joining again", "err", err)
	// The join must not be cut short by the connection's end: a half-done
	// one would leave the node bound to a credential nobody kept.
	jctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
	defer cancel()
	if jerr := c.Client.Join(jctx, c.joinToken, c.node); jerr != nil {
		if code := arena.ErrorCode(jerr); code == arena.EUNAUTHORIZED || code == arena.EINVALID {
			c.fatal(fmt.Errorf("the control plane refused node %s: %s", c.node.ID, arena.ErrorMessage(jerr)))
		}
		return jerr
	}
	if werr := writeFileAtomic(c.credPath, []byte(c.Client.Credential())); werr != nil {
		c.fatal(werr)
		return werr
	}
	return nil
}

// join admits the node, retrying with backoff while the control plane cannot
// be reached; a refusal is final.
func join(ctx context.Context, client *rpc.Client, joinToken string, n arena.Node, log *slog.Logger) error {
	wait := time.Second
	for {
		err := client.Join(ctx, joinToken, n)
		switch arena.ErrorCode(err) {
		case "":
			return nil
		case arena.EUNAUTHORIZED, arena.EINVALID:
			return fmt.Errorf("the control plane refused node %s: %s", n.ID, arena.ErrorMessage(err))
		}
		log.Warn("cannot join the control plane; retrying", "err", err, "in", wait)
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(wait):
		}
		wait = min(2*wait, 30*time.Second)
	}
}

// agentNode describes this node from flags, environment and file, detecting
// what is not given.
func agentNode(o agentOptions, f *config.Agent) (arena.Node, error) {
	host, _ := os.Hostname()
	n := arena.Node{
		ID:       pick(o.nodeID, os.Getenv("ARENA_NODE_ID"), f.NodeID, host),
		Region:   pick(o.region, os.Getenv("ARENA_REGION"), f.Region),
		Location: pick(o.location, os.Getenv("ARENA_LOCATION"), f.Location),
		Provider: pick(o.provider, os.Getenv("ARENA_PROVIDER"), f.Provider, "local"),
		Class:    arena.NodeClass(pick(o.class, os.Getenv("ARENA_CLASS"), f.Class, string(arena.ClassMetal))),
		PublicIP: pick(o.publicIP, os.Getenv("ARENA_PUBLIC_IP"), f.PublicIP),
		Capacity: agent.DetectCapacity(),
	}
	if n.Region == "" || n.Location == "" || n.PublicIP == "" {
		return n, fmt.Errorf("--region, --location and --public-ip are required")
	}
	if _, err := netip.ParseAddr(n.PublicIP); err != nil {
		return n, fmt.Errorf("--public-ip %q is not an IP address", n.PublicIP)
	}
	if v := pick(o.cpu, os.Getenv("ARENA_CPU")); v != "" || f.CPU > 0 {
		cores := f.CPU
		if v != "" {
			var err error
			if cores, err = strconv.ParseFloat(v, 64); err != nil {
				return n, fmt.Errorf("--cpu %q is not a number of cores", v)
			}
		}
		if cores <= 0 {
			return n, fmt.Errorf("--cpu must be positive")
		}
		n.Capacity.MilliCPU = int64(cores * 1000)
	}
	if v := pick(o.memory, os.Getenv("ARENA_MEMORY")); v != "" || f.MemoryMB > 0 {
		mem := f.MemoryMB
		if v != "" {
			var err error
			if mem, err = strconv.ParseInt(v, 10, 64); err != nil || mem <= 0 {
				return n, fmt.Errorf("--memory %q is not a positive number of MiB", v)
			}
		}
		n.Capacity.MemoryMB = mem
	}
	ports := &config.Config{PortRange: pick(o.portRange, os.Getenv("ARENA_PORT_RANGE"), f.PortRange, "32768-60299")}
	lo, hi, err := ports.Ports()
	if err != nil {
		return n, err
	}
	n.PortMin, n.PortMax = lo, hi
	return n, nil
}

// launcherDir is where the agent of data keeps the launcher of warm pools
// in launch mode: absolute, since the engine mounts it from there.
func launcherDir(data string) string {
	dir, err := filepath.Abs(filepath.Join(data, "launch"))
	if err != nil {
		return "" // such pools' sessions then fail, saying why
	}
	return dir
}
