package main

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/arena-hq/arena/config"
	"github.com/arena-hq/arena/fleet"
	"github.com/arena-hq/arena/postgres"
)

func runServer(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var (
		o                               stackOptions
		cfgPath, logFormat, logLevel    string
		heartbeatTimeout, nodeLostAfter string
		leaderLease, resyncTimeout      string
	)
	fs := newFlagSet("arena server", stdout, "")
	fs.StringVar(&cfgPath, "config", "", "config file (env ARENA_CONFIG; default: the built-in config/arena.yaml)")
	fs.StringVar(&o.listen, "listen", "", "address of the Session API and the agent protocol (env ARENA_LISTEN; default 127.0.0.1:8080)")
	fs.StringVar(&o.data, "data", "", "data directory (env ARENA_DATA; default ./data)")
	fs.StringVar(&o.store, "store", "", "postgres://… to keep the state in PostgreSQL, shared by several replicas (env ARENA_STORE; default: SQLite in the data directory)")
	fs.StringVar(&o.advertise, "advertise", "", "URL the other replicas forward requests to (env ARENA_ADVERTISE; default: the listen address)")
	fs.StringVar(&o.metricsListen, "metrics-listen", "", "address to serve Prometheus metrics on at /metrics (env ARENA_METRICS_LISTEN; default: none)")
	fs.StringVar(&o.token, "token", "", "an admin token of the default organisation, made sure of at every start (env ARENA_TOKEN; default: the first start makes one and shows it once)")
	fs.StringVar(&o.joinToken, "join-token", "", "secret agents join with (env ARENA_JOIN_TOKEN; default: generated once and kept in DATA/join-token)")
	fs.StringVar(&heartbeatTimeout, "heartbeat-timeout", "", "silence after which a node's sessions are unreachable (env ARENA_HEARTBEAT_TIMEOUT; default 15s)")
	fs.StringVar(&nodeLostAfter, "node-lost-after", "", "unreachability after which a node's sessions are given up (env ARENA_NODE_LOST_AFTER; default 5m)")
	fs.StringVar(&leaderLease, "leader-lease", "", "with --store postgres://…: how long the leader's lease lasts from its last renewal, about how long the replicas stay without a leader when it freezes or loses the database; 1s to 1m (env ARENA_LEADER_LEASE, config leaderLease; default 3s)")
	fs.StringVar(&resyncTimeout, "resync-timeout", "", "after a start or a takeover, how long placement waits for the agents of the nodes last seen alive (env ARENA_RESYNC_TIMEOUT, config resyncTimeout; default: the heartbeat timeout)")
	fs.StringVar(&logFormat, "log-format", "", "text or json (env ARENA_LOG_FORMAT; default text)")
	fs.StringVar(&logLevel, "log-level", "", "debug, info, warn or error (env ARENA_LOG_LEVEL; default info)")
	if err := parseNoArgs(fs, args); err != nil {
		return err
	}
	cfg, err := config.Load(pick(cfgPath, os.Getenv("ARENA_CONFIG")))
	if err != nil {
		return err
	}
	o.listen = pick(o.listen, os.Getenv("ARENA_LISTEN"), cfg.Listen, "127.0.0.1:8080")
	o.data = pick(o.data, os.Getenv("ARENA_DATA"), cfg.Data, "data")
	o.token = pick(o.token, os.Getenv("ARENA_TOKEN"))
	o.store = pick(o.store, os.Getenv("ARENA_STORE"), cfg.Store)
	o.advertise = pick(o.advertise, os.Getenv("ARENA_ADVERTISE"))
	o.metricsListen = pick(o.metricsListen, os.Getenv("ARENA_METRICS_LISTEN"), cfg.MetricsListen)
	o.secretKey = pick(os.Getenv("ARENA_SECRET_KEY"), cfg.SecretKey)
	o.rateLimit, o.rateBurst = cfg.RateLimit.PerSecond, cfg.RateLimit.Burst
	if o.heartbeatTimeout, err = duration("heartbeat-timeout", pick(heartbeatTimeout, os.Getenv("ARENA_HEARTBEAT_TIMEOUT")), fleet.DefaultHeartbeatTimeout); err != nil {
		return err
	}
	if o.nodeLostAfter, err = duration("node-lost-after", pick(nodeLostAfter, os.Getenv("ARENA_NODE_LOST_AFTER")), fleet.DefaultNodeLostAfter); err != nil {
		return err
	}
	if o.leaderLease, err = duration("leader-lease", pick(leaderLease, os.Getenv("ARENA_LEADER_LEASE")), cmp.Or(time.Duration(cfg.LeaderLease), postgres.DefaultLease)); err != nil {
		return err
	}
	if o.leaderLease < postgres.MinLease || o.leaderLease > postgres.MaxLease {
		return fmt.Errorf("--leader-lease %s is not from %s to %s", o.leaderLease, postgres.MinLease, postgres.MaxLease)
	}
	if o.resyncTimeout, err = duration("resync-timeout", pick(resyncTimeout, os.Getenv("ARENA_RESYNC_TIMEOUT")), cmp.Or(time.Duration(cfg.ResyncTimeout), o.heartbeatTimeout)); err != nil {
		return err
	}
	log, err := newLogger(stderr, pick(logFormat, os.Getenv("ARENA_LOG_FORMAT"), "text"), pick(logLevel, os.Getenv("ARENA_LOG_LEVEL"), "info"))
	if err != nil {
		return err
	}
	if err := os.MkdirAll(o.data, 0o700); err != nil {
		return err
	}
	joinFile := filepath.Join(o.data, "join-token")
	givenJoin := pick(o.joinToken, os.Getenv("ARENA_JOIN_TOKEN"))
	_, statErr := os.Stat(joinFile)
	if o.joinToken, err = secretFile(joinFile, givenJoin); err != nil {
		return err
	}
	// The join token is a secret: shown when made, at the first start,
	// and never again, since a service's output is kept in its logs.
	join, joinArg := "(given with --join-token)", "JOIN_TOKEN"
	switch {
	case givenJoin == "" && errors.Is(statErr, os.ErrNotExist):
		join, joinArg = o.joinToken+"\n               shown this once; kept in "+joinFile, o.joinToken
	case givenJoin == "":
		join, joinArg = "(kept in "+joinFile+")", `"$(cat `+joinFile+`)"`
	}
	o.announce = func(token string) {
		fmt.Fprintf(stdout, "This replica leads now, and made the installation's first admin token:\n  Token:       %s\n               shown this once: Arena keeps only its hash. Store it now.\n", token)
	}
	st, err := startControlPlane(ctx, cfg, o, log)
	if err != nil {
		return err
	}
	token := "(given with --token)"
	switch {
	case st.NewToken:
		token = st.Token + "\n               shown this once: Arena keeps only its hash. Store it now."
	case o.token == "" && st.leader() == nil:
		token = "(another replica leads; its first start showed the token)"
	case o.token == "":
		token = "(made at the first start; arena token create makes more)"
	}
	fmt.Fprintf(stdout, "Arena server is running.\n  API:         %s\n  Admin panel: %s/ui/\n  Token:       %s\n  Join token:  %s\n  Add a node:  arena agent --server %s --join-token %s --location LOCATION --region REGION --public-ip IP\n",
		st.URL, st.URL, token, join, st.URL, joinArg)
	if st.MetricsURL != "" {
		fmt.Fprintf(stdout, "  Metrics:     %s/metrics\n", st.MetricsURL)
	}
	log.Info("arena server ready", "api", st.URL, "data", o.data, "leading", st.leader() != nil)
	return st.serve(ctx, log)
}

// duration parses a flag's duration; empty takes def.
func duration(name, value string, def time.Duration) (time.Duration, error) {
	if value == "" {
		return def, nil
	}
	d, err := time.ParseDuration(value)
	if err != nil || d <= 0 {
		return 0, fmt.Errorf("--%s %q is not a positive duration like 15s", name, value)
	}
	return d, nil
}
