package main

import (
	"context"
	"log/slog"
	"net"
	nethttp "net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/arena-hq/arena"
	"github.com/arena-hq/arena/config"
	"github.com/arena-hq/arena/http"
	"github.com/arena-hq/arena/rpc"
	"github.com/arena-hq/arena/scheduler"
	"github.com/arena-hq/arena/server"
	"github.com/arena-hq/arena/sqlite"
)

// stackOptions configure a control plane process.
type stackOptions struct {
	listen, data string
	// token is the admin token of the default organisation; tokenFile keeps
	// a generated one in the data directory.
	token, tokenFile string
	// joinToken admits agents; empty admits none.
	joinToken                       string
	heartbeatTimeout, nodeLostAfter time.Duration
}

// stack is a running control plane: store, server, Session API and agent
// protocol on one listener, and in `arena dev` also a local agent.
type stack struct {
	URL   string
	Token string
	Node  arena.Node

	srv     *server.Server
	store   *sqlite.Store
	served  chan error
	closers []func() error
}

// Close stops what the stack started, in reverse order. Session containers
// keep running; the next start adopts them.
func (st *stack) Close() error {
	var first error
	for i := len(st.closers) - 1; i >= 0; i-- {
		if err := st.closers[i](); err != nil && first == nil {
			first = err
		}
	}
	st.closers = nil
	return first
}

func startControlPlane(ctx context.Context, cfg *config.Config, o stackOptions, log *slog.Logger) (st *stack, err error) {
	st = &stack{served: make(chan error, 1)}
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
	if st.Token, err = ensureToken(ctx, store, cfg.OrgID, o.data, o.tokenFile, o.token); err != nil {
		return nil, err
	}
	apps, err := cfg.Apps()
	if err != nil {
		return nil, err
	}
	joinHash := ""
	if o.joinToken != "" {
		joinHash = arena.HashToken(o.joinToken)
	}
	st.srv = server.New(server.Config{
		Store: store, Catalog: server.NewStaticCatalog(apps),
		Scheduler: scheduler.New(scheduler.Policy(cfg.Placement)), Logger: log,
		JoinTokenHash: joinHash, HeartbeatTimeout: o.heartbeatTimeout, NodeLostAfter: o.nodeLostAfter, Rates: cfg.PriceList(),
	})
	if err := st.srv.Open(ctx); err != nil {
		return nil, err
	}
	st.closers = append(st.closers, func() error { st.srv.Close(); return nil })

	ln, err := net.Listen("tcp", o.listen)
	if err != nil {
		return nil, err
	}
	api := http.NewHandler(st.srv, st.srv, st.srv, log.With("component", "http"))
	rpcPath, rpcHandler := rpc.NewHandler(st.srv, rpc.WithHandlerLogger(log.With("component", "rpc")))
	mux := nethttp.NewServeMux()
	mux.Handle(rpcPath, rpcHandler)
	mux.Handle("/", api)
	hs := &nethttp.Server{
		Handler:           mux,
		ReadHeaderTimeout: 10 * time.Second,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	go func() { st.served <- hs.Serve(ln) }()
	st.closers = append(st.closers, func() error {
		// Agents' assignment streams never end by themselves: end them, so
		// that requests in flight get their chance to finish.
		st.srv.DisconnectAgents()
		shutdownCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		err := hs.Shutdown(shutdownCtx)
		_ = hs.Close()
		return err
	})
	st.URL = "http://" + ln.Addr().String()
	if strings.HasPrefix(ln.Addr().String(), "[::]") || strings.HasPrefix(ln.Addr().String(), "0.0.0.0") {
		st.URL = "http://" + net.JoinHostPort("127.0.0.1", portOf(ln.Addr()))
	}
	return st, nil
}

func portOf(a net.Addr) string {
	_, port, _ := net.SplitHostPort(a.String())
	return port
}

// serve runs until ctx ends (a signal) or the API stops serving, then closes
// the stack.
func (st *stack) serve(ctx context.Context, log *slog.Logger) error {
	select {
	case <-ctx.Done():
		log.Info("shutting down")
		return st.Close()
	case err := <-st.served:
		st.Close()
		return err
	}
}
