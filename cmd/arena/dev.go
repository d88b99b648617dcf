package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/arena-hq/arena"
	"github.com/arena-hq/arena/agent"
	"github.com/arena-hq/arena/config"
	"github.com/arena-hq/arena/docker"
	"github.com/arena-hq/arena/procnet"
)

type devOptions struct {
	config, listen, data, devToken, publicIP, logFormat, logLevel string
	metricsListen                                                 string
	// heldPorts replaces the agent's look at the host's sockets; nil
	// keeps it. Tests use it to hide a port from placement.
	heldPorts func(lo, hi int) ([]int, error)
}

func runDev(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var o devOptions
	fs := newFlagSet("arena dev", stdout, "")
	fs.StringVar(&o.config, "config", "", "config file (env ARENA_CONFIG; default: the built-in config/arena.yaml)")
	fs.StringVar(&o.listen, "listen", "", "API listen address (env ARENA_LISTEN; default 127.0.0.1:8080)")
	fs.StringVar(&o.data, "data", "", "data directory (env ARENA_DATA; default ./data)")
	fs.StringVar(&o.devToken, "dev-token", "", "API token of the dev organisation (env ARENA_DEV_TOKEN; default: generated once and kept in the data directory)")
	fs.StringVar(&o.publicIP, "public-ip", "", "host address that sessions advertise (env ARENA_PUBLIC_IP; default 127.0.0.1)")
	fs.StringVar(&o.metricsListen, "metrics-listen", "", "address to serve Prometheus metrics on at /metrics (env ARENA_METRICS_LISTEN; default: none)")
	fs.StringVar(&o.logFormat, "log-format", "", "text or json (env ARENA_LOG_FORMAT; default text)")
	fs.StringVar(&o.logLevel, "log-level", "", "debug, info, warn or error (env ARENA_LOG_LEVEL; default info)")
	if err := parseNoArgs(fs, args); err != nil {
		return err
	}
	cfg, err := config.Load(pick(o.config, os.Getenv("ARENA_CONFIG")))
	if err != nil {
		return err
	}
	o.listen = pick(o.listen, os.Getenv("ARENA_LISTEN"), cfg.Listen, "127.0.0.1:8080")
	o.data = pick(o.data, os.Getenv("ARENA_DATA"), cfg.Data, "data")
	o.devToken = pick(o.devToken, os.Getenv("ARENA_DEV_TOKEN"))
	o.metricsListen = pick(o.metricsListen, os.Getenv("ARENA_METRICS_LISTEN"), cfg.MetricsListen)
	o.publicIP = pick(o.publicIP, os.Getenv("ARENA_PUBLIC_IP"), cfg.PublicIP, "127.0.0.1")
	log, err := newLogger(stderr, pick(o.logFormat, os.Getenv("ARENA_LOG_FORMAT"), "text"), pick(o.logLevel, os.Getenv("ARENA_LOG_LEVEL"), "info"))
	if err != nil {
		return err
	}
	if net.ParseIP(o.publicIP) == nil {
		return fmt.Errorf("public IP %q is not an IP address", o.publicIP)
	}
	return dev(ctx, cfg, o, log, stdout)
}

func dev(ctx context.Context, cfg *config.Config, o devOptions, log *slog.Logger, stdout io.Writer) error {
	st, err := startDev(ctx, cfg, o, log)
	if err != nil {
		return err
	}
	// The token is shown when it is made, once: stdout is often a log
	// (a service manager's journal, a container's output), and a secret in
	// a log is a secret given to whoever reads it. Later starts say where
	// it is kept.
	token, bearer := st.Token, st.Token
	switch {
	case o.devToken != "":
		token, bearer = "(given with --dev-token or ARENA_DEV_TOKEN)", "$TOKEN"
	case !st.NewToken:
		file := filepath.Join(o.data, "dev-token")
		token, bearer = "kept in "+file, "$(cat "+file+")"
	}
	fmt.Fprintf(stdout, "Arena is running.\n  API:    %s\n  Panel:  %s/ui/\n  Token:  %s\n  Try:    curl -H \"Authorization: Bearer %s\" -H 'Content-Type: application/json' -d '{\"location\":\"%s\",\"image\":\"echo\"}' %s/session\n",
		st.URL, st.URL, token, bearer, st.Node.Location, st.URL)
	return st.serve(ctx, log)
}

// startDev starts the control plane and one agent in process, on the local
// Docker Engine.
func startDev(ctx context.Context, cfg *config.Config, o devOptions, log *slog.Logger) (st *stack, err error) {
	st, err = startControlPlane(ctx, cfg, stackOptions{listen: o.listen, data: o.data, token: o.devToken, tokenFile: "dev-token", metricsListen: o.metricsListen,
		secretKey: pick(os.Getenv("ARENA_SECRET_KEY"), cfg.SecretKey), rateLimit: cfg.RateLimit.PerSecond, rateBurst: cfg.RateLimit.Burst, holdReady: true}, log)
	if err != nil {
		return nil, err
	}
	defer undoOnError(&err, ignoreError(st.Close))
	rt, err := docker.New(docker.WithMetrics(st.metrics))
	if err != nil {
		return nil, err
	}
	st.closers = append(st.closers, rt.Close)
	// Without an engine the local node can run nothing: say so now rather
	// than serve an API whose every session fails.
	if err := rt.Ping(ctx); err != nil {
		return nil, fmt.Errorf("the Docker Engine does not answer (set DOCKER_HOST if it is not the default): %s", arena.ErrorMessage(err))
	}
	apps, err := cfg.Apps()
	if err != nil {
		return nil, err
	}
	if err := ensureDemoImage(ctx, rt, cfg.DemoImage, apps, log); err != nil {
		return nil, err
	}
	nodeID, err := devNodeID(cfg, o.data)
	if err != nil {
		return nil, err
	}
	if st.Node, err = devNode(cfg, nodeID, o.publicIP); err != nil {
		return nil, err
	}
	if err := st.cp.fleet.RegisterNode(ctx, st.Node); err != nil {
		return nil, err
	}
	agentCtx, stopAgent := context.WithCancel(context.Background())
	agentDone := make(chan error, 1)
	ac := agentConfig(cfg, st.Node, st.cp.srv.Agents(), rt, log)
	ac.Installation = st.Installation
	ac.ArtifactDir = filepath.Join(o.data, "artifacts")
	ac.StateDir, ac.LauncherDir = o.data, launcherDir(o.data)
	if o.heldPorts != nil {
		ac.HeldPorts = o.heldPorts
	}
	ag := agent.New(ac)
	go func() { agentDone <- ag.Run(agentCtx) }()
	st.closers = append(st.closers, func() error {
		// The agent stops; containers keep running and are adopted next time.
		stopAgent()
		return <-agentDone
	})
	st.ready()
	log.Info("arena dev ready", "api", st.URL, "data", o.data, "node", st.Node.ID)
	return st, nil
}

// agentConfig is the agent's configuration from the config file.
func agentConfig(cfg *config.Config, n arena.Node, cp agent.ControlPlane, rt agent.Runtime, log *slog.Logger) agent.Config {
	return agent.Config{
		Node: n, ControlPlane: cp, Runtime: rt, BindIP: cfg.BindIP, Logger: log.With("component", "agent"),
		RestartBackoff: time.Duration(cfg.Restart.Backoff), MaxRestartBackoff: time.Duration(cfg.Restart.MaxBackoff),
		CrashLoopLimit: cfg.Restart.CrashLoopLimit, StableAfter: time.Duration(cfg.Restart.StableAfter),
		StartConcurrency: cfg.Node.StartConcurrency, StartTimeout: time.Duration(cfg.Node.StartTimeout),
		ArtifactRetention: time.Duration(cfg.ArtifactRetention), ArtifactMaxBytes: cfg.ArtifactMaxMB << 20,
		// The agent runs on the host, so that these are the host's sockets.
		HeldPorts: func(lo, hi int) ([]int, error) { return procnet.HeldPorts(procnet.Dir, lo, hi) },
	}
}

// secretFile returns given if set; otherwise the secret kept at path,
// generating and keeping one the first time.
func secretFile(path, given string) (string, error) {
	return keptValue(path, given, arena.NewTokenSecret)
}

// keptValue returns given if set; otherwise the value kept at path, made by
// fresh and kept there the first time.
func keptValue(path, given string, fresh func() string) (string, error) {
	if given != "" {
		return given, nil
	}
	b, err := os.ReadFile(path)
	switch {
	case err == nil && strings.TrimSpace(string(b)) != "":
		return strings.TrimSpace(string(b)), nil
	case err == nil:
		return "", fmt.Errorf("%s is empty: remove it to have a new one made", path)
	case errors.Is(err, os.ErrNotExist):
		v := fresh()
		return v, writeFileAtomic(path, []byte(v+"\n"))
	}
	return "", err
}

// writeFileAtomic replaces path with data, readable by its owner only, so
// that a crash leaves either the old content or the new, never a part.
func writeFileAtomic(path string, data []byte) error {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name()) // after a successful rename there is nothing left to remove
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(f.Name(), path)
}

// ensureDemoImage builds the demo image from this executable, which runs the
// echo server as `arena echo`, when an application needs it and it is missing.
func ensureDemoImage(ctx context.Context, rt *docker.Runtime, demoImage string, apps []*arena.Application, log *slog.Logger) error {
	needed := false
	for _, a := range apps {
		for _, t := range a.Tags {
			needed = needed || (demoImage != "" && a.ImageRef(t.Name) == demoImage)
		}
	}
	if !needed {
		return nil
	}
	if ok, err := rt.ImageExists(ctx, demoImage); err != nil || ok {
		return err
	}
	exe, err := os.Executable()
	if err != nil {
		return err
	}
	log.Info("building the demo image", "image", demoImage, "from", exe)
	if err := rt.BuildImage(ctx, demoImage, exe, []string{"/" + filepath.Base(exe), "echo"}); err != nil {
		return fmt.Errorf("building the demo image %s: %w", demoImage, err)
	}
	return nil
}

// devNodeID is the local node's id: the config file's, or one made at the
// first start and kept in the data directory. The agent adopts and removes
// containers by their node label, so two installations on one engine must
// never share an id, as they would with a fixed default.
func devNodeID(cfg *config.Config, data string) (string, error) {
	if cfg.Node.ID != "" {
		return cfg.Node.ID, nil
	}
	return keptValue(filepath.Join(data, "node-id"), "", func() string { return "local-" + uuid.NewString()[:8] })
}

func devNode(cfg *config.Config, id, publicIP string) (arena.Node, error) {
	lo, hi, err := cfg.Ports()
	if err != nil {
		return arena.Node{}, err
	}
	region := cfg.Region(cfg.Node.Location)
	if region == "" {
		return arena.Node{}, fmt.Errorf("node location %q is not among the configured locations", cfg.Node.Location)
	}
	capacity := agent.DetectCapacity()
	if cfg.Node.MilliCPU > 0 {
		capacity.MilliCPU = cfg.Node.MilliCPU
	}
	if cfg.Node.MemoryMB > 0 {
		capacity.MemoryMB = cfg.Node.MemoryMB
	}
	class := arena.NodeClass(pick(cfg.Node.Class, string(arena.ClassMetal)))
	return arena.Node{
		ID: id, Region: region, Location: cfg.Node.Location, Provider: pick(cfg.Node.Provider, "local"),
		Class: class, PublicIP: publicIP, Capacity: capacity, PortMin: lo, PortMax: hi,
	}, nil
}
