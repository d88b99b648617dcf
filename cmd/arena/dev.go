package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	nethttp "net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/arena-hq/arena"
	"github.com/arena-hq/arena/agent"
	"github.com/arena-hq/arena/config"
	"github.com/arena-hq/arena/docker"
	"github.com/arena-hq/arena/http"
	"github.com/arena-hq/arena/scheduler"
	"github.com/arena-hq/arena/server"
	"github.com/arena-hq/arena/sqlite"
)

type devOptions struct {
	config, listen, data, devToken, publicIP, logFormat, logLevel string
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
	fmt.Fprintf(stdout, "Arena is running.\n  API:    %s\n  Token:  %s\n  Try:    curl -H 'Authorization: Bearer %s' -d '{\"location\":\"%s\",\"image\":\"echo\"}' %s/session\n",
		st.URL, st.Token, st.Token, st.Node.Location, st.URL)
	select {
	case <-ctx.Done():
		log.Info("shutting down")
		return st.Close()
	case err := <-st.served:
		st.Close()
		return err
	}
}

// devStack is a running `arena dev`: control plane, agent and API.
type devStack struct {
	URL   string
	Token string
	Node  arena.Node

	store   *sqlite.Store
	served  chan error
	closers []func() error
}

// Close stops the API, the agent and the control plane, in that order. The
// session containers keep running; the next start adopts them.
func (d *devStack) Close() error {
	var first error
	for i := len(d.closers) - 1; i >= 0; i-- {
		if err := d.closers[i](); err != nil && first == nil {
			first = err
		}
	}
	d.closers = nil
	return first
}

func startDev(ctx context.Context, cfg *config.Config, o devOptions, log *slog.Logger) (st *devStack, err error) {
	st = &devStack{served: make(chan error, 1)}
	defer func() {
		if err != nil {
			st.Close()
		}
	}()
	if err := os.MkdirAll(o.data, 0o700); err != nil {
		return nil, err
	}
	store, err := sqlite.Open(ctx, filepath.Join(o.data, "arena.db"))
	if err != nil {
		return nil, err
	}
	st.store = store
	st.closers = append(st.closers, store.Close)
	if st.Token, err = ensureDevToken(ctx, store, cfg.OrgID, o.data, o.devToken); err != nil {
		return nil, err
	}

	rt, err := docker.New()
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
	srv := server.New(server.Config{
		Store: store, Catalog: server.NewStaticCatalog(apps),
		Scheduler: scheduler.New(scheduler.Policy(cfg.Placement)), Logger: log,
	})
	if err := srv.Open(ctx); err != nil {
		return nil, err
	}
	st.closers = append(st.closers, func() error { srv.Close(); return nil })
	if err := srv.RegisterNode(ctx, st.Node); err != nil {
		return nil, err
	}

	agentCtx, stopAgent := context.WithCancel(context.Background())
	agentDone := make(chan error, 1)
	ag := agent.New(agent.Config{
		Node: st.Node, ControlPlane: srv, Runtime: rt, BindIP: cfg.BindIP, Logger: log.With("component", "agent"),
		RestartBackoff: time.Duration(cfg.Restart.Backoff), MaxRestartBackoff: time.Duration(cfg.Restart.MaxBackoff),
		CrashLoopLimit: cfg.Restart.CrashLoopLimit, StableAfter: time.Duration(cfg.Restart.StableAfter),
	})
	go func() { agentDone <- ag.Run(agentCtx) }()
	st.closers = append(st.closers, func() error {
		stopAgent()
		return <-agentDone
	})

	ln, err := net.Listen("tcp", o.listen)
	if err != nil {
		return nil, err
	}
	hs := &nethttp.Server{
		Handler:           http.NewHandler(srv, srv, srv, log.With("component", "http")),
		ReadHeaderTimeout: 10 * time.Second,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	go func() { st.served <- hs.Serve(ln) }()
	st.closers = append(st.closers, func() error {
		shutdownCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		return hs.Shutdown(shutdownCtx)
	})
	st.URL = "http://" + ln.Addr().String()
	log.Info("arena dev ready", "api", st.URL, "data", o.data, "node", st.Node.ID)
	return st, nil
}

// ensureDevToken makes sure the dev organisation exists and accepts a token,
// which it returns. A token not given is generated once and kept in the data
// directory, so that restarts print the same one.
func ensureDevToken(ctx context.Context, store *sqlite.Store, orgID, dataDir, token string) (string, error) {
	if err := store.CreateOrganization(ctx, &arena.Organization{ID: orgID, Name: orgID}); err != nil && arena.ErrorCode(err) != arena.ECONFLICT {
		return "", err
	}
	path := filepath.Join(dataDir, "dev-token")
	if token == "" {
		b, err := os.ReadFile(path)
		switch {
		case err == nil:
			token = strings.TrimSpace(string(b))
		case errors.Is(err, os.ErrNotExist):
			token = arena.NewTokenSecret()
			if err := os.WriteFile(path, []byte(token+"\n"), 0o600); err != nil {
				return "", err
			}
		default:
			return "", err
		}
	}
	hash := arena.HashToken(token)
	if _, err := store.FindTokenByHash(ctx, hash); arena.ErrorCode(err) != arena.ENOTFOUND {
		return token, err
	}
	t := &arena.Token{ID: "dev-" + hash[:12], OrgID: orgID, Name: "dev", Hash: hash, CreatedAt: time.Now().UTC(), Scopes: []string{arena.ScopeAdmin}}
	return token, store.CreateToken(ctx, t)
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
