package main

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
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
	"github.com/arena-hq/arena/web"
)

// stackOptions configure a control plane process.
type stackOptions struct {
	listen, data string
	// token is an admin token of the default organisation, made sure of at
	// every start; tokenFile keeps a generated one in the data directory
	// (arena dev). With neither, a first start makes one and shows it once.
	token, tokenFile string
	// secretKey seals the registry passwords in the store (base64 of 32
	// bytes); empty keeps a generated one in the data directory.
	secretKey string
	// rateLimit and rateBurst are the default per-token request rate.
	rateLimit float64
	rateBurst int
	// joinToken admits agents; empty admits none.
	joinToken                       string
	heartbeatTimeout, nodeLostAfter time.Duration
}

// stack is a running control plane: store, server, Session API and agent
// protocol on one listener, and in `arena dev` also a local agent.
type stack struct {
	URL string
	// Token is the admin token, when this start knows it: given, kept in
	// the data directory, or made now (NewToken) at the first start.
	Token    string
	NewToken bool
	Node     arena.Node

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
	apps, err := cfg.Apps()
	if err != nil {
		return nil, err
	}
	sealer, err := loadSealer(filepath.Join(o.data, "secret.key"), o.secretKey)
	if err != nil {
		return nil, err
	}
	catalog, err := server.NewAppCatalog(ctx, store, sealer)
	if err != nil {
		return nil, err
	}
	if err := catalog.SyncConfig(ctx, apps); err != nil {
		return nil, fmt.Errorf("applications of the config file: %w", err)
	}
	joinHash := ""
	if o.joinToken != "" {
		joinHash = arena.HashToken(o.joinToken)
	}
	st.srv = server.New(server.Config{
		Store: store, Catalog: catalog,
		Scheduler: scheduler.New(scheduler.Policy(cfg.Placement)), Logger: log,
		JoinTokenHash: joinHash, HeartbeatTimeout: o.heartbeatTimeout, NodeLostAfter: o.nodeLostAfter, Rates: cfg.PriceList(),
	})
	if err := st.srv.Open(ctx); err != nil {
		return nil, err
	}
	if st.Token, st.NewToken, err = bootstrapToken(ctx, st.srv, cfg.OrgID, o); err != nil {
		return nil, err
	}
	st.closers = append(st.closers, func() error { st.srv.Close(); return nil })

	ln, err := net.Listen("tcp", o.listen)
	if err != nil {
		return nil, err
	}
	limit, burst := o.rateLimit, o.rateBurst
	if limit <= 0 {
		limit = http.DefaultRateLimit
	}
	if burst <= 0 {
		burst = http.DefaultRateBurst
	}
	api := http.NewHandler(st.srv, st.srv, st.srv, log.With("component", "http"), http.WithTenants(st.srv), http.WithRateLimit(limit, burst))
	rpcPath, rpcHandler := rpc.NewHandler(st.srv, rpc.WithHandlerLogger(log.With("component", "rpc")))
	mux := nethttp.NewServeMux()
	mux.Handle(rpcPath, rpcHandler)
	mux.Handle(web.Prefix, web.Handler())
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

// bootstrapToken makes sure the installation has an admin token of the
// default organisation, with the admin and operator scopes, and returns it
// when known: the one given, the one kept in the data directory, or one made
// at the first start (created is then true), which is shown that once.
func bootstrapToken(ctx context.Context, srv *server.Server, orgID string, o stackOptions) (token string, created bool, err error) {
	scopes := []string{arena.ScopeAdmin, arena.ScopeOperator}
	switch {
	case o.token != "":
		_, err = srv.EnsureToken(ctx, orgID, "admin", o.token, scopes)
		return o.token, false, err
	case o.tokenFile != "":
		if token, err = secretFile(filepath.Join(o.data, o.tokenFile), ""); err != nil {
			return "", false, err
		}
		_, err = srv.EnsureToken(ctx, orgID, "dev", token, scopes)
		return token, false, err
	}
	has, err := srv.HasTokens(ctx)
	if err != nil || has {
		return "", false, err
	}
	token = arena.NewTokenSecret()
	_, err = srv.EnsureToken(ctx, orgID, "admin", token, scopes)
	return token, err == nil, err
}

// loadSealer returns the sealer of the store's secrets: its key is given
// (base64), or kept at path, made the first time. Replicas sharing a
// database must share the key.
func loadSealer(path, given string) (*server.Sealer, error) {
	if given == "" {
		b, err := os.ReadFile(path)
		switch {
		case errors.Is(err, os.ErrNotExist):
			key := make([]byte, server.SealerKeySize)
			_, _ = rand.Read(key)
			given = base64.StdEncoding.EncodeToString(key)
			if err := writeFileAtomic(path, []byte(given+"\n")); err != nil {
				return nil, err
			}
		case err != nil:
			return nil, err
		default:
			given = strings.TrimSpace(string(b))
		}
	}
	key, err := base64.StdEncoding.DecodeString(given)
	if err != nil {
		return nil, fmt.Errorf("the secret key must be base64 of %d bytes: %w", server.SealerKeySize, err)
	}
	return server.NewSealer(key)
}
