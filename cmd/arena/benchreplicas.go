package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/arena-hq/arena"
	"github.com/arena-hq/arena/agent"
	"github.com/arena-hq/arena/config"
	"github.com/arena-hq/arena/sim"
)

// replicaBench is arena bench's control plane of several replicas on one
// PostgreSQL, in process, in a schema of the run's own.
type replicaBench struct {
	urls    []string
	token   string
	closers []func()
}

func (rb *replicaBench) Close() {
	for i := len(rb.closers) - 1; i >= 0; i-- {
		rb.closers[i]()
	}
}

// startReplicaBench starts o.replicas replicas and o.nodes simulated nodes,
// whose agents talk to the leader in process: the figures are the API's,
// forwarding and fenced writes included, not the agent protocol's.
func startReplicaBench(ctx context.Context, o benchOptions, stderr io.Writer) (rb *replicaBench, err error) {
	rb = &replicaBench{token: arena.NewTokenSecret()}
	defer undoOnError(&err, rb.Close)
	schema := fmt.Sprintf("arena_bench_%d", time.Now().UnixNano())
	admin := func(sql string) error {
		actx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		// The pool's own parameters (pool_max_conns, …) are the replicas'
		// business: parsed as a pool's URL, they are not sent to the server.
		pc, err := pgxpool.ParseConfig(o.store)
		if err != nil {
			return err
		}
		conn, err := pgx.ConnectConfig(actx, pc.ConnConfig)
		if err != nil {
			return err
		}
		defer conn.Close(actx)
		_, err = conn.Exec(actx, sql)
		return err
	}
	if err := admin("CREATE SCHEMA " + schema); err != nil {
		return nil, fmt.Errorf("creating the run's schema: %w", err)
	}
	rb.closers = append(rb.closers, func() {
		if err := admin("DROP SCHEMA " + schema + " CASCADE"); err != nil {
			fmt.Fprintf(stderr, "dropping schema %s: %v\n", schema, err)
		}
	})
	u, err := url.Parse(o.store)
	if err != nil {
		return nil, err
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	cfg, err := config.Parse([]byte(`
placement: spread
rateLimit: {perSecond: 1000000, burst: 1000000}
applications:
  - name: echo
    repository: arena-echo
    tags: [{name: latest, priority: 1}]
    ports: [{container: 7777, protocol: tcp}, {container: 7777, protocol: udp}]
    resources: {milliCpu: 10, memoryMb: 10}
`))
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "arena-bench-")
	if err != nil {
		return nil, err
	}
	rb.closers = append(rb.closers, func() { os.RemoveAll(dir) })
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelError}))
	var leader *stack
	for i := range max(o.replicas, 1) {
		st, err := startControlPlane(ctx, cfg, stackOptions{
			listen: "127.0.0.1:0", data: filepath.Join(dir, fmt.Sprint(i)), store: u.String(), token: rb.token,
			secretKey: "YmVuY2gtcmVwbGljYXMtc2hhcmUtdGhpcy1rZXkhISE=", rateLimit: 1e6, rateBurst: 1e6,
		}, log)
		if err != nil {
			return nil, err
		}
		rb.closers = append(rb.closers, func() { st.Close() })
		rb.urls = append(rb.urls, st.URL)
		if st.leader() != nil {
			leader = st
		}
	}
	if leader == nil {
		return nil, fmt.Errorf("no replica took the lead")
	}
	cp := leader.leader()
	rt := sim.New()
	agentCtx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	rb.closers = append(rb.closers, func() { cancel(); wg.Wait() })
	for i := range o.nodes {
		n := arena.Node{
			ID: fmt.Sprintf("sim-%d", i), Region: "local", Location: fmt.Sprintf("local-%d", i%20), Provider: fmt.Sprintf("p%d", i%4),
			Class: arena.ClassMetal, PublicIP: "127.0.0.1", Capacity: arena.Resources{MilliCPU: 1 << 40, MemoryMB: 1 << 40}, PortMin: 1024, PortMax: 65535,
		}
		if err := cp.fleet.RegisterNode(ctx, n); err != nil {
			return nil, err
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			_ = agent.New(agent.Config{Node: n, ControlPlane: cp.srv.Agents(), Runtime: rt}).Run(agentCtx)
		}()
	}
	return rb, nil
}
