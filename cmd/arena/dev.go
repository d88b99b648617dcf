package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/arena-hq/arena"
	"github.com/arena-hq/arena/agent"
	"github.com/arena-hq/arena/config"
	"github.com/arena-hq/arena/docker"
)

type devOptions struct {
	config, listen, data, devToken, publicIP, logFormat, logLevel string
	metricsListen                                                 string
}

func runDev(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var o devOptions
	fs := flag.NewFlagSet("arena dev", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&o.config, "config", "", "config file (env ARENA_CONFIG; default: the built-in config/arena.yaml)")
	fs.StringVar(&o.listen, "listen", "", "API listen address (env ARENA_LISTEN; default 127.0.0.1:8080)")
	fs.StringVar(&o.data, "data", "", "data directory (env ARENA_DATA; default ./data)")
	fs.StringVar(&o.devToken, "dev-token", "", "API token of the dev organisation (env ARENA_DEV_TOKEN; default: generated once and kept in the data directory)")
	fs.StringVar(&o.publicIP, "public-ip", "", "host address that sessions advertise (env ARENA_PUBLIC_IP; default 127.0.0.1)")
	fs.StringVar(&o.metricsListen, "metrics-listen", "", "address to serve Prometheus metrics on at /metrics (env ARENA_METRICS_LISTEN; default: none)")
	fs.StringVar(&o.logFormat, "log-format", "", "text or json (env ARENA_LOG_FORMAT; default text)")
	fs.StringVar(&o.logLevel, "log-level", "", "debug, info, warn or error (env ARENA_LOG_LEVEL; default info)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments: %v", fs.Args())
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
		secretKey: pick(os.Getenv("ARENA_SECRET_KEY"), cfg.SecretKey), rateLimit: cfg.RateLimit.PerSecond, rateBurst: cfg.RateLimit.Burst}, log)
	if err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			st.Close()
		}
	}()
	rt, err := docker.New(docker.WithMetrics(st.metrics))
	if err != nil {
		return nil, err
	}
	st.closers = append(st.closers, rt.Close)
	apps, err := cfg.Apps()
	if err != nil {
		return nil, err
	}
	if err := ensureDemoImage(ctx, rt, cfg.DemoImage, apps, log); err != nil {
		return nil, err
	}
	if st.Node, err = devNode(cfg, o.publicIP); err != nil {
		return nil, err
	}
	if err := st.srv.RegisterNode(ctx, st.Node); err != nil {
		return nil, err
	}
	agentCtx, stopAgent := context.WithCancel(context.Background())
	agentDone := make(chan error, 1)
	ac := agentConfig(cfg, st.Node, st.srv, rt, log)
	ac.ArtifactDir = filepath.Join(o.data, "artifacts")
	ac.StateDir = o.data
	ag := agent.New(ac)
	go func() { agentDone <- ag.Run(agentCtx) }()
	st.closers = append(st.closers, func() error {
		// The agent stops; containers keep running and are adopted next time.
		stopAgent()
		return <-agentDone
	})
	log.Info("arena dev ready", "api", st.URL, "data", o.data, "node", st.Node.ID)
	return st, nil
}

// agentConfig is the agent's configuration from the config file.
func agentConfig(cfg *config.Config, n arena.Node, cp agent.ControlPlane, rt agent.Runtime, log *slog.Logger) agent.Config {
	return agent.Config{
		Node: n, ControlPlane: cp, Runtime: rt, BindIP: cfg.BindIP, Logger: log.With("component", "agent"),
		RestartBackoff: time.Duration(cfg.Restart.Backoff), MaxRestartBackoff: time.Duration(cfg.Restart.MaxBackoff),
		CrashLoopLimit: cfg.Restart.CrashLoopLimit, StableAfter: time.Duration(cfg.Restart.StableAfter),
		ArtifactRetention: time.Duration(cfg.ArtifactRetention), ArtifactMaxBytes: cfg.ArtifactMaxMB << 20,
	}
}

// secretFile returns given if set; otherwise the secret kept at path,
// generating and keeping one the first time.
func secretFile(path, given string) (string, error) {
	if given != "" {
		return given, nil
	}
	b, err := os.ReadFile(path)
	switch {
	case err == nil && strings.TrimSpace(string(b)) != "":
		return strings.TrimSpace(string(b)), nil
	case err == nil:
		return "", fmt.Errorf("%s is empty: remove it to have a new secret made", path)
	case errors.Is(err, os.ErrNotExist):
		secret := arena.NewTokenSecret()
		return secret, writeFileAtomic(path, []byte(secret+"\n"))
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

func devNode(cfg *config.Config, publicIP string) (arena.Node, error) {
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
		ID: pick(cfg.Node.ID, "local"), Region: region, Location: cfg.Node.Location, Provider: pick(cfg.Node.Provider, "local"),
		Class: class, PublicIP: publicIP, Capacity: capacity, PortMin: lo, PortMax: hi,
	}, nil
}
