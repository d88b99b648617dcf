package main

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	nethttp "net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/arena-hq/arena"
	"github.com/arena-hq/arena/cluster"
	"github.com/arena-hq/arena/config"
	"github.com/arena-hq/arena/fleet"
	"github.com/arena-hq/arena/http"
	"github.com/arena-hq/arena/metrics"
	"github.com/arena-hq/arena/postgres"
	"github.com/arena-hq/arena/registry"
	"github.com/arena-hq/arena/rpc"
	"github.com/arena-hq/arena/scaler"
	"github.com/arena-hq/arena/scheduler"
	"github.com/arena-hq/arena/session"
	"github.com/arena-hq/arena/sqlite"
	"github.com/arena-hq/arena/tenant"
	"github.com/arena-hq/arena/web"
	"github.com/arena-hq/arena/webhook"
)

// stackOptions configure a control plane process.
type stackOptions struct {
	listen, data string
	// store is empty for SQLite in the data directory, or a postgres:// URL:
	// then several replicas may share the database, one leading at a time,
	// and advertise is the URL the others forward requests to (the listen
	// address when empty).
	store, advertise string
	// self is the URL agents reach this process at: advertise, or the
	// listener's; the agents of cloud machines join there.
	self string
	// metricsListen serves Prometheus metrics on an address of its own;
	// empty serves none.
	metricsListen string
	// announce shows a first start's admin token made by a replica that
	// took the lead only after starting; nil shows nothing.
	announce func(token string)
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
	// resyncTimeout bounds how long placement waits, after the start or a
	// takeover, for the agents of the nodes last seen alive; zero takes
	// the heartbeat timeout.
	resyncTimeout time.Duration
	// leaderLease is the leader's lease on a PostgreSQL store; zero takes
	// postgres.DefaultLease.
	leaderLease time.Duration
	// holdReady keeps answering 503 once the control plane is up, until
	// the caller's own start (arena dev's local node) calls ready.
	holdReady bool
}

// stack is a running control plane process: store, Session API and agent
// protocol on one listener, metrics on another, and in `arena dev` also a
// local agent. With a shared PostgreSQL it is one replica: it leads, or it
// forwards every request to the replica that does.
type stack struct {
	URL        string
	MetricsURL string
	// Token is the admin token, when this start knows it: given, kept in
	// the data directory, or made now (NewToken) at the first start.
	Token    string
	NewToken bool
	Node     arena.Node
	// Installation is the id the installation's agents label containers
	// with.
	Installation string

	// srv is the leading control plane; it changes as a replica gains and
	// loses the lead, and is nil while another replica leads.
	srvMu   sync.Mutex
	cp      *controlPlane
	store   arena.Store
	metrics *metrics.Registry
	// handler serves the API once the stack is up: the control plane's,
	// or the replica's, which leads or forwards.
	handler nethttp.Handler
	// announce shows a first start's admin token made by a replica that
	// took the lead after starting; nil shows nothing.
	announce func(token string)
	served   chan error
	closers  []func() error
	// up is set once the stack serves its API; until then every request
	// is answered by starting.
	up       atomic.Bool
	starting nethttp.Handler
}

// ready ends the start: requests reach the API from now on.
func (st *stack) ready() { st.up.Store(true) }

// ServeHTTP answers 503 while the stack starts, then serves the API.
func (st *stack) ServeHTTP(w nethttp.ResponseWriter, r *nethttp.Request) {
	if !st.up.Load() {
		st.starting.ServeHTTP(w, r)
		return
	}
	st.handler.ServeHTTP(w, r)
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

// leader returns the control plane while this process leads, else nil.
func (st *stack) leader() *controlPlane {
	st.srvMu.Lock()
	defer st.srvMu.Unlock()
	return st.cp
}

func startControlPlane(ctx context.Context, cfg *config.Config, o stackOptions, log *slog.Logger) (st *stack, err error) {
	st = &stack{served: make(chan error, 1), metrics: metrics.New(), announce: o.announce, starting: http.Starting(time.Second)}
	defer undoOnError(&err, ignoreError(st.Close))
	if err := os.MkdirAll(o.data, 0o700); err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", o.listen)
	if err != nil {
		return nil, err
	}
	st.URL = listenURL(ln)
	o.self = pick(o.advertise, st.URL)
	// Serving starts now, so that a client during the start is told to
	// retry rather than left waiting in the listen queue.
	hs := http.NewServer(st, serverConfig(cfg.HTTP, log))
	go func() { st.served <- hs.Serve(ln) }()
	// A start that fails closes the listener here; a stack that started
	// shuts the server down gracefully below, before its store closes.
	st.closers = append(st.closers, func() error { _ = hs.Close(); return nil })
	var pg *postgres.Store
	// stopReplicating ends a replica's campaign and resigns its lead; it
	// runs first on Close, so that another replica takes over at once.
	var stopReplicating func() error
	if strings.HasPrefix(o.store, "postgres://") || strings.HasPrefix(o.store, "postgresql://") {
		var opts []postgres.Option
		if o.leaderLease > 0 {
			opts = append(opts, postgres.WithLease(o.leaderLease))
		}
		if pg, err = postgres.Open(ctx, o.store, opts...); err != nil {
			return nil, err
		}
		pg.SetLogger(log.With("component", "store"))
		st.store = pg
		st.closers = append(st.closers, pg.Close)
	} else if o.store != "" {
		return nil, fmt.Errorf("--store must be a postgres:// URL, or empty for SQLite in the data directory")
	} else {
		lite, err := sqlite.Open(ctx, filepath.Join(o.data, "arena.db"))
		if err != nil {
			return nil, err
		}
		st.store = lite
		st.closers = append(st.closers, lite.Close)
	}
	sealer, installation, err := loadSealer(filepath.Join(o.data, "secret.key"), o.secretKey)
	if err != nil {
		return nil, err
	}
	st.Installation = installation
	st.metrics.SetNodeSource(func() []metrics.NodeSample {
		if cp := st.leader(); cp != nil {
			return metrics.NodeSamples(cp.fleet.Nodes())
		}
		return nil
	})
	st.metrics.SetCloudSource(func() []*arena.CloudMachine {
		cp := st.leader()
		if cp == nil {
			return nil
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		s, err := cp.scaler.Status(ctx)
		if err != nil {
			return nil
		}
		return s.Machines
	})
	st.metrics.SetPoolSource(func() []arena.PoolStatus {
		if cp := st.leader(); cp != nil {
			return cp.srv.PoolStatus("")
		}
		return nil
	})
	st.metrics.SetSessionSource(func() []metrics.SessionCount {
		cp := st.leader()
		if cp == nil {
			return nil
		}
		var out []metrics.SessionCount
		for k, n := range cp.srv.SessionCounts() {
			out = append(out, metrics.SessionCount{State: k[0], Location: k[1], N: n})
		}
		return out
	})

	if o.metricsListen != "" {
		if err := st.serveMetrics(o.metricsListen, serverConfig(cfg.HTTP, log), log); err != nil {
			return nil, err
		}
	}
	// build makes the control plane of a process that leads: in a term of a
	// replica, or for good (term nil).
	build := func(term *postgres.Term) (*controlPlane, error) {
		var leading func() error
		store := st.store
		if term != nil {
			// Its writes are fenced with its own term: should it still be
			// closing when this replica leads again, it cannot write
			// under the next one.
			store = pg.Under(term)
			leading = func() error {
				if !term.Valid() {
					return arena.Errorf(arena.EUNAVAILABLE, "this replica's lease on the lead has run out")
				}
				return nil
			}
		}
		return newControlPlane(ctx, cfg, o, store, sealer, installation, st.metrics, leading, log)
	}

	if pg == nil {
		cp, err := build(nil)
		if err != nil {
			return nil, err
		}
		st.lead(cp)
		st.handler = cp.handler
	} else {
		// A replica that can lead at once does so before Start returns, so
		// that the first start hands over its admin token.
		// While it follows, a replica reads sessions from the database
		// itself: the leader writes them there before it answers.
		// Tokens are revoked through the leader: a follower looks them up
		// again after a second, so that a revocation reaches it by then.
		readAuth := tenant.New(st.store, nil, log, nil)
		readAuth.SetTokenCacheTTL(time.Second)
		reads := http.NewHandler(session.NewReader(st.store), readAuth, nil, log.With("component", "http"),
			http.WithRateLimit(o.rateLimit, o.rateBurst), http.WithObserver(st.metrics))
		rep, err := cluster.Start(ctx, cluster.Config{
			Elector: pgElector{pg}, Self: pick(o.advertise, st.URL), Logger: log,
			Reads: reads, ReadsLocally: http.IsSessionRead,
			Build: func(t cluster.Term) (cluster.ControlPlane, error) {
				// The elector's terms are the store's, which fence the writes.
				cp, err := build(t.(pgTerm).Term)
				if err != nil {
					return nil, err
				}
				return cp, nil
			},
			Serve: func(c cluster.ControlPlane, later bool) {
				cp, _ := c.(*controlPlane) // nil once the term has ended
				st.lead(cp)
				if cp != nil && later && cp.newToken && st.announce != nil {
					// The first start's token, made by a replica that took the
					// lead later: shown once, here.
					st.announce(cp.token)
				}
			},
		})
		if err != nil {
			return nil, err
		}
		st.handler = rep
		stopReplicating = func() error { rep.Close(); return nil }
	}

	st.closers = append(st.closers, func() error {
		// Agents' assignment streams never end by themselves: end them, so
		// that requests in flight get their chance to finish.
		if cp := st.leader(); cp != nil {
			cp.srv.DisconnectAgents()
		}
		shutdownCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		err := hs.Shutdown(shutdownCtx)
		_ = hs.Close()
		return err
	})
	st.closers = append(st.closers, func() error {
		st.srvMu.Lock()
		cp := st.cp
		st.cp = nil
		st.srvMu.Unlock()
		if cp != nil {
			cp.Close()
		}
		return nil
	})
	if stopReplicating != nil {
		st.closers = append(st.closers, stopReplicating)
	}
	if !o.holdReady {
		st.ready()
	}
	return st, nil
}

// lead makes cp the process's control plane; nil makes it none, once a
// replica's term has ended.
func (st *stack) lead(cp *controlPlane) {
	st.srvMu.Lock()
	defer st.srvMu.Unlock()
	st.cp = cp
	if cp != nil && cp.token != "" {
		st.Token, st.NewToken = cp.token, cp.newToken
	}
}

// serveMetrics serves Prometheus metrics on addr until the stack closes.
func (st *stack) serveMetrics(addr string, sc http.ServerConfig, log *slog.Logger) error {
	stop, url, err := serveMetrics(addr, st.metrics, sc, log)
	if err != nil {
		return err
	}
	st.MetricsURL = url
	st.closers = append(st.closers, func() error { stop(); return nil })
	return nil
}

// serveMetrics serves reg at /metrics on addr, on a listener of its own so
// that the API's port need not be reachable by the monitoring system, and
// returns what stops it and its URL.
func serveMetrics(addr string, reg *metrics.Registry, sc http.ServerConfig, log *slog.Logger) (stop func(), url string, err error) {
	ml, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, "", fmt.Errorf("metrics listener: %w", err)
	}
	mux := nethttp.NewServeMux()
	mux.Handle("GET /metrics", reg.Handler())
	ms := http.NewServer(mux, sc)
	go func() { _ = ms.Serve(ml) }()
	url = listenURL(ml)
	log.Info("serving metrics", "url", url+"/metrics")
	return func() { _ = ms.Close() }, url, nil
}

// controlPlane is the leading control plane of a process: the fleet, the
// sessions and the tenants over the store, its HTTP handler and the
// dispatcher of its webhooks.
type controlPlane struct {
	fleet    *fleet.Fleet
	srv      *session.Service
	tenants  *tenant.Service
	handler  nethttp.Handler
	token    string
	newToken bool
	webhooks *webhook.Dispatcher
	// stopWebhooks ends the dispatcher's Run, and the scaler's.
	stopWebhooks context.CancelFunc
	// scaler adds and retires cloud machines, in the regions that have a
	// scaling policy.
	scaler *scaler.Scaler
}

var _ cluster.ControlPlane = (*controlPlane)(nil)

// ServeHTTP serves the API while the process leads.
func (cp *controlPlane) ServeHTTP(w nethttp.ResponseWriter, r *nethttp.Request) {
	cp.handler.ServeHTTP(w, r)
}

// Close ends the agents' streams and stops the server, then the webhook
// dispatcher: deliveries not done stay in the store for the next leader,
// but events published and not yet fanned out to their endpoints are lost.
func (cp *controlPlane) Close() {
	cp.srv.DisconnectAgents()
	cp.srv.Close()
	cp.fleet.Close()
	cp.stopWebhooks()
	cp.webhooks.Close()
}

// newControlPlane builds the control plane of a process that leads;
// leading, when not nil, says whether it still may (a replica's term), and
// readiness asks it first.
func newControlPlane(ctx context.Context, cfg *config.Config, o stackOptions, store arena.Store, sealer *tenant.Sealer, installation string, reg *metrics.Registry, leading func() error, log *slog.Logger) (cp *controlPlane, err error) {
	apps, err := cfg.Apps()
	if err != nil {
		return nil, err
	}
	quotas, err := cfg.OrgQuotas()
	if err != nil {
		return nil, err
	}
	catalog, err := tenant.NewAppCatalog(ctx, store, sealer)
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
	// The dispatcher queues what the server publishes from the start, and
	// sends once it runs, at the end.
	hooks := tenant.NewWebhooks(store, sealer, log.With("component", "webhooks"))
	dispatcher, err := webhook.New(webhook.Config{Endpoints: hooks, Outbox: store, Logger: log.With("component", "webhooks"), Observe: reg.WebhookDelivery})
	if err != nil {
		return nil, err
	}
	fl := fleet.New(fleet.Config{
		Store: store, Catalog: catalog, Scheduler: scheduler.New(scheduler.Policy(cfg.Placement)), Logger: log,
		JoinTokenHash: joinHash, HeartbeatTimeout: o.heartbeatTimeout, NodeLostAfter: o.nodeLostAfter, ResyncTimeout: o.resyncTimeout,
		Observer: reg, Installation: installation, Machines: store,
	})
	cp = &controlPlane{webhooks: dispatcher, fleet: fl, tenants: tenant.New(store, fl.Placer(), log, nil), srv: session.New(session.Config{
		Store: store, Catalog: catalog, Fleet: fl, Logger: log, Rates: cfg.PriceList(), Observer: reg, Events: dispatcher,
	})}
	appAdmin := tenant.NewApplications(catalog, &registry.Client{}, log)
	if err := cp.tenants.LoadQuotas(ctx); err != nil {
		return nil, err
	}
	if err := fl.Open(ctx); err != nil {
		return nil, err
	}
	defer undoOnError(&err, fl.Close)
	if err := cp.srv.Open(ctx); err != nil {
		return nil, err
	}
	defer undoOnError(&err, cp.srv.Close)
	if err := cp.tenants.SyncQuotas(ctx, quotas); err != nil {
		return nil, fmt.Errorf("quotas of the config file: %w", err)
	}
	if cp.token, cp.newToken, err = bootstrapToken(ctx, cp.tenants, cfg.OrgID, o); err != nil {
		return nil, err
	}
	ready := cp.srv.Ready
	if leading != nil {
		ready = func(ctx context.Context) error {
			if err := leading(); err != nil {
				return err
			}
			return cp.srv.Ready(ctx)
		}
	}
	var settings *scaler.Settings
	if cp.scaler, settings, err = newScaler(ctx, cfg, o, store, sealer, fl, catalog, dispatcher, installation, reg, log); err != nil {
		return nil, err
	}
	apiOpts := []http.Option{
		http.WithTenants(cp.tenants), http.WithApplications(appAdmin), http.WithWebhooks(hooks), http.WithRateLimit(o.rateLimit, o.rateBurst), http.WithObserver(reg), http.WithReadiness(ready),
		http.WithCurrency(cfg.Currency), http.WithScaler(cp.scaler, settings)}
	api := http.NewHandler(cp.srv, cp.tenants, fl, log.With("component", "http"), apiOpts...)
	rpcPath, rpcHandler := rpc.NewHandler(cp.srv.Agents(), rpc.WithHandlerLogger(log.With("component", "rpc")))
	mux := nethttp.NewServeMux()
	mux.Handle(rpcPath, rpcHandler)
	mux.Handle(web.Prefix, web.Handler())
	mux.Handle("/", api)
	cp.handler = mux
	var runCtx context.Context
	runCtx, cp.stopWebhooks = context.WithCancel(context.Background())
	go func() { _ = dispatcher.Run(runCtx) }()
	go cp.scaler.Run(runCtx)
	return cp, nil
}

// serverConfig is the HTTP server configuration of the config file's
// settings; what they leave out takes the http package's defaults.
func serverConfig(c config.HTTPServer, log *slog.Logger) http.ServerConfig {
	return http.ServerConfig{
		ReadHeaderTimeout: time.Duration(c.ReadHeaderTimeout), ReadTimeout: time.Duration(c.ReadTimeout),
		WriteTimeout: time.Duration(c.WriteTimeout), IdleTimeout: time.Duration(c.IdleTimeout),
		MaxHeaderBytes: c.MaxHeaderBytes, Logger: log,
	}
}

// listenURL is the http:// URL of a listener, on loopback when it listens
// on every address.
func listenURL(ln net.Listener) string {
	if strings.HasPrefix(ln.Addr().String(), "[::]") || strings.HasPrefix(ln.Addr().String(), "0.0.0.0") {
		return "http://" + net.JoinHostPort("127.0.0.1", portOf(ln.Addr()))
	}
	return "http://" + ln.Addr().String()
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
func bootstrapToken(ctx context.Context, srv *tenant.Service, orgID string, o stackOptions) (token string, created bool, err error) {
	scopes := []string{arena.ScopeAdmin, arena.ScopeOperator}
	switch {
	case o.token != "":
		_, err = srv.EnsureToken(ctx, orgID, "admin", o.token, scopes)
		return o.token, false, err
	case o.tokenFile != "":
		path := filepath.Join(o.data, o.tokenFile)
		_, statErr := os.Stat(path)
		if token, err = secretFile(path, ""); err != nil {
			return "", false, err
		}
		_, err = srv.EnsureToken(ctx, orgID, "dev", token, scopes)
		return token, errors.Is(statErr, os.ErrNotExist) && err == nil, err
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
//
// The installation id comes from the key too: replicas share it for the
// same reason, and every data directory of its own has one of its own. It
// is a hash that says nothing of the key.
func loadSealer(path, given string) (_ *tenant.Sealer, installation string, err error) {
	if given == "" {
		b, err := os.ReadFile(path)
		switch {
		case errors.Is(err, os.ErrNotExist):
			key := make([]byte, tenant.SealerKeySize)
			_, _ = rand.Read(key)
			given = base64.StdEncoding.EncodeToString(key)
			if err := writeFileAtomic(path, []byte(given+"\n")); err != nil {
				return nil, "", err
			}
		case err != nil:
			return nil, "", err
		default:
			given = strings.TrimSpace(string(b))
		}
	}
	key, err := base64.StdEncoding.DecodeString(given)
	if err != nil {
		return nil, "", fmt.Errorf("the secret key must be base64 of %d bytes: %w", tenant.SealerKeySize, err)
	}
	sealer, err := tenant.NewSealer(key)
	if err != nil {
		return nil, "", err
	}
	sum := sha256.Sum256(append([]byte("arena installation\x00"), key...))
	return sealer, hex.EncodeToString(sum[:6]), nil
}
