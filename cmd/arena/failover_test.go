package main

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"io"
	nethttp "net/http"
	"net/url"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/arena-hq/arena"
	"github.com/arena-hq/arena/client"
	"github.com/arena-hq/arena/docker/dockertest"
	"github.com/arena-hq/arena/http/apitest"
	"github.com/arena-hq/arena/postgres"
)

// failoverBound is how soon after a fault of the leader a create succeeds
// again, as the README states it for a lease L (3 s by default) and agents
// beating every beat: a new leader within 1.5 L; placement once the agents
// have reported to it, which those that talked to the faulted leader do
// once a beat has failed there (the beat's own timeout, at most 3 s) and
// the client has moved on (the agent's retry interval, 1 s); and a second
// for starting the control plane and forwarding.
func failoverBound(beat time.Duration) time.Duration {
	timeout := max(min(beat, 3*time.Second), time.Second)
	return max(postgres.DefaultLease*3/2, beat+timeout+min(time.Second, beat)) + time.Second
}

// testBeat is the agents' heartbeat interval in the failover tests, unless
// a case asks for the default.
const testBeat = 200 * time.Millisecond

// faultFor is how long a fault that ends lasts.
const faultFor = 10 * time.Second

// probeClient asks the replicas without the test's failing on a transport
// error: a faulted replica may not answer at all.
var probeClient = &nethttp.Client{Timeout: 15 * time.Second}

// TestFailover faults the leader of three replicas, each reaching
// PostgreSQL through a TCP proxy of its own, with two agents: killed with
// SIGKILL, frozen with SIGSTOP for 10 s, and cut off from the database (its
// connections held open and every byte dropped) for 10 s. Each time creates
// succeed again within failoverBound; no session is lost or placed twice,
// no host port is booked twice, the TTLs that fall due fire once, the
// faulted replica writes nothing from the fault on and comes back as a
// follower.
func TestFailover(t *testing.T) {
	faults := []struct {
		name string
		// inject faults the replica; heal, when not nil, ends the fault
		// once faultFor has passed.
		inject, heal func(t *testing.T, r *failoverReplica)
		// lasting tells that the leader's lease outlives the fault's
		// start, so that the followers must say they are not ready
		// before another replica takes over; otherwise the leader's
		// connections end with it, and another takes over before its lease
		// would have expired.
		lasting bool
		// beat is the agents' heartbeat interval; the server's heartbeat
		// timeout is three of them (the defaults' ratio), at least 2 s.
		beat time.Duration
	}{
		{
			name:   "leader killed",
			inject: func(t *testing.T, r *failoverReplica) { r.kill() },
			heal:   func(t *testing.T, r *failoverReplica) { r.restart(t) },
		},
		{
			name:    "leader frozen",
			inject:  func(t *testing.T, r *failoverReplica) { r.signal(t, syscall.SIGSTOP) },
			heal:    func(t *testing.T, r *failoverReplica) { r.signal(t, syscall.SIGCONT) },
			lasting: true,
		},
		{
			// With the agents' default heartbeats, an agent that talked to
			// the frozen leader is heard by the new one only once a beat
			// has timed out: that is the longest wait of all.
			name:    "leader frozen, agents beating every 5s",
			inject:  func(t *testing.T, r *failoverReplica) { r.signal(t, syscall.SIGSTOP) },
			heal:    func(t *testing.T, r *failoverReplica) { r.signal(t, syscall.SIGCONT) },
			lasting: true,
			beat:    5 * time.Second,
		},
		{
			name:    "leader cut off from the database",
			inject:  func(t *testing.T, r *failoverReplica) { r.db.cut() },
			heal:    func(t *testing.T, r *failoverReplica) { r.db.heal() },
			lasting: true,
		},
	}
	for _, tc := range faults {
		t.Run(tc.name, func(t *testing.T) {
			beat := cmp.Or(tc.beat, testBeat)
			bound := failoverBound(beat)
			c := newFailoverCluster(t, beat)
			first := c.waitLeader(c.replicas...)
			if first != c.replicas[0] {
				t.Fatalf("the first replica started does not lead: %s does", first.url)
			}
			// Each agent is given every replica, the first agent the leader
			// first: it must move on when the fault strikes.
			for i := range 2 {
				var urls []string
				for j := range c.replicas {
					urls = append(urls, c.replicas[(i+j)%len(c.replicas)].url)
				}
				c.startAgent(t, i, strings.Join(urls, ","))
			}
			c.waitNodes(t)

			var ids []string
			for i := range 4 {
				ids = append(ids, c.mustCreate(t, c.replicas[i%3], fmt.Sprint("before-", i), 0))
			}
			// One falls due after the fault is over, one during it.
			ids = append(ids, c.mustCreate(t, c.replicas[1], "ttl-after", 20))
			ids = append(ids, c.mustCreate(t, c.replicas[2], "ttl-during", 5))
			for _, id := range ids {
				c.via(c.replicas[1]).waitStatus(id, "running")
			}

			_, epoch := leaderRow(t, c.store)
			began := time.Now()
			tc.inject(t, first)
			// By the database's clock, once the fault has struck: a write
			// the leader began before (its periodic saves) is not one
			// after it.
			faultAt := c.dbNow(t)
			// Reads wait for no leader: a follower answers them from the
			// database throughout the fault, at once.
			for _, id := range []string{"before-0", "before-1"} {
				began := time.Now()
				status, body := c.via(c.replicas[2]).call("GET", "/session/"+id, nil)
				if took := time.Since(began); status != 200 || took > time.Second {
					t.Errorf("GET /session/%s on a follower during the fault: %d after %s (%s); want 200 at once", id, status, took, body)
				}
			}
			// Creates go on throughout the fault; every one accepted must
			// end running. They start after it, so that none of them is a
			// write of the faulted leader's after faultAt.
			stopLoad := c.load(t)
			if tc.lasting {
				c.unreadyBeforeTakeover(t, c.replicas[1], epoch)
			}
			// The first create after the fault, retried as a client would.
			probe := c.retryCreate(t, c.replicas[1], "after-0")
			took := time.Since(began)
			var since time.Time
			c.query(t, func(conn *pgx.Conn) error {
				return conn.QueryRow(context.Background(), `SELECT since FROM arena_leader`).Scan(&since)
			})
			t.Logf("%s: a new leader after %.2fs, the first create succeeded after %.2fs (bound %s)",
				tc.name, since.Sub(faultAt).Seconds(), took.Seconds(), bound)
			if !tc.lasting && since.Sub(faultAt) >= postgres.DefaultLease {
				t.Errorf("taken over %s after the fault, once the lease had expired: the dead leader's connection was not seen gone", since.Sub(faultAt))
			}
			if took > bound {
				t.Errorf("the first create after the fault took %s, beyond the bound of %s", took, bound)
			}
			ids = append(ids, probe, c.mustCreate(t, c.replicas[2], "after-1", 0))
			second := c.waitLeader(c.replicas[1], c.replicas[2])

			if tc.heal != nil {
				<-time.After(time.Until(began.Add(faultFor)))
				tc.heal(t, first)
			}
			accepted := stopLoad()
			t.Logf("%s: %d sessions created under load throughout the fault", tc.name, len(accepted))
			ids = append(ids, accepted...)
			// The faulted replica follows the new leader.
			if lead := c.waitLeader(c.replicas...); lead != second {
				t.Fatalf("%s leads after the fault, not %s", lead.url, second.url)
			}
			if n := c.writesBy(t, first, faultAt); n != 0 {
				t.Errorf("the faulted replica wrote %d rows after the fault", n)
			}

			c.via(c.replicas[0]).waitStatus("ttl-during", "exited")
			c.via(c.replicas[1]).waitStatus("ttl-after", "exited")
			live := slices.DeleteFunc(slices.Clone(ids), func(id string) bool { return strings.HasPrefix(id, "ttl-") })
			for _, r := range c.replicas {
				for _, id := range live {
					c.via(r).waitStatus(id, "running")
				}
			}
			c.checkOnce(t, ids, []string{"ttl-during", "ttl-after"})
		})
	}
}

// failoverCluster is three arena server replicas on one PostgreSQL schema,
// each through a proxy of its own, and the agents of the test.
type failoverCluster struct {
	t        *testing.T
	store    string // the schema's URL, straight to the database
	dir      string
	cfgPath  string
	join     string
	checker  *apitest.Checker
	replicas []*failoverReplica
	nodes    []string
	// beat is the agents' heartbeat interval.
	beat time.Duration
}

// failoverReplica is one replica, with the proxy its database connections
// go through.
type failoverReplica struct {
	*replica
	db   *partitionProxy
	args []string
	// app is the application_name its connections have.
	app string
}

func newFailoverCluster(t *testing.T, beat time.Duration) *failoverCluster {
	t.Helper()
	c := &failoverCluster{t: t, store: postgresURL(t), dir: t.TempDir(), join: "join-" + dockertest.RandomID(), checker: apitest.NewChecker(t), beat: beat}
	c.cfgPath = writeReplicaConfig(t, c.dir)
	direct, err := url.Parse(c.store)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		proxy := newPartitionProxy(t, direct.Host)
		u := *direct
		u.Host = proxy.addr()
		q := u.Query()
		app := fmt.Sprint("arena-replica-", i)
		q.Set("application_name", app)
		u.RawQuery = q.Encode()
		r := &failoverReplica{db: proxy, app: app, args: []string{"server", "--config", c.cfgPath,
			"--data", filepath.Join(c.dir, fmt.Sprint("replica-", i)), "--listen", "127.0.0.1:0", "--store", u.String(),
			"--token", clusterToken, "--join-token", c.join, "--heartbeat-timeout", max(2*time.Second, 3*beat).String(), "--log-level", "warn"}}
		r.restart(t)
		c.replicas = append(c.replicas, r)
		if i == 0 {
			// The schema is there now: record who writes what.
			c.audit(t)
		}
	}
	return c
}

// restart starts the replica's process (again), on the address it had.
func (r *failoverReplica) restart(t *testing.T) {
	t.Helper()
	args := slices.Clone(r.args)
	if r.replica != nil {
		args[slices.Index(args, "--listen")+1] = strings.TrimPrefix(r.url, "http://")
	}
	p := startProc(t, args...)
	r.replica = &replica{proc: p, url: p.field("API")}
}

func (r *failoverReplica) signal(t *testing.T, sig syscall.Signal) {
	t.Helper()
	if err := r.cmd.Process.Signal(sig); err != nil {
		t.Fatal(err)
	}
	if sig == syscall.SIGSTOP {
		// A stopped process is still killed at the end, but it must not be
		// left stopped should the test fail before it is continued.
		t.Cleanup(func() { _ = r.cmd.Process.Signal(syscall.SIGCONT) })
	}
}

// startAgent starts the i-th agent, dialing servers (comma-separated).
func (c *failoverCluster) startAgent(t *testing.T, i int, server string) {
	t.Helper()
	id := dockertest.NodeID(t)
	c.nodes = append(c.nodes, id)
	lo, hi := freePortRange(t, 48)
	startProc(t, "agent", "--server", server, "--join-token", c.join, "--node-id", id,
		"--region", "europe", "--location", "ams", "--provider", fmt.Sprint("p", i), "--class", "metal",
		"--public-ip", "127.0.0.1", "--cpu", "4", "--memory", "4096",
		"--port-range", fmt.Sprintf("%d-%d", lo, hi), "--data", filepath.Join(c.dir, fmt.Sprint("agent-", i)),
		"--heartbeat-interval", c.beat.String(), "--log-level", "warn")
}

func (c *failoverCluster) via(r *failoverReplica) *testStack {
	return &testStack{tb: c.t, token: clusterToken, checker: c.checker, stack: &stack{URL: r.url}}
}

// waitNodes waits until both nodes take sessions.
func (c *failoverCluster) waitNodes(t *testing.T) {
	t.Helper()
	dockertest.Eventually(t, dockertest.Timeout, func() error {
		nodes, err := c.via(c.replicas[1]).api().Nodes().List(t.Context())
		if err != nil || countNodes(nodes, func(n client.Node) bool { return n.State == "ready" }) != 2 {
			return fmt.Errorf("nodes: %v %s", err, nodes.Raw())
		}
		return nil
	})
}

// ready asks a replica's /readyz, briefly: a frozen one does not answer.
func (c *failoverCluster) ready(r *failoverReplica) (int, readiness, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	req, err := nethttp.NewRequestWithContext(ctx, "GET", r.url+"/readyz", nil)
	if err != nil {
		return 0, readiness{}, err
	}
	resp, err := probeClient.Do(req)
	if err != nil {
		return 0, readiness{}, err
	}
	defer resp.Body.Close()
	var rd readiness
	err = json.NewDecoder(io.LimitReader(resp.Body, 64<<10)).Decode(&rd)
	return resp.StatusCode, rd, err
}

// waitLeader waits until the replicas agree on one of them as leader, all
// ready, and returns it.
func (c *failoverCluster) waitLeader(live ...*failoverReplica) *failoverReplica {
	c.t.Helper()
	var lead *failoverReplica
	dockertest.Eventually(c.t, dockertest.Timeout, func() error {
		lead = nil
		said := map[*failoverReplica]readiness{}
		for _, r := range live {
			status, rd, err := c.ready(r)
			switch {
			case err != nil:
				return fmt.Errorf("readyz of %s: %v", r.url, err)
			case status != 200 || rd.Status != "ready":
				return fmt.Errorf("%s is not ready: %+v", r.url, rd)
			case rd.Role == "leader" && lead != nil:
				return fmt.Errorf("two leaders")
			case rd.Role == "leader":
				lead = r
			}
			said[r] = rd
		}
		if lead == nil {
			return fmt.Errorf("no leader")
		}
		for r, rd := range said {
			if r != lead && rd.Leader != lead.url {
				return fmt.Errorf("%s follows %q, not %s", r.url, rd.Leader, lead.url)
			}
		}
		return nil
	})
	return lead
}

// unreadyBeforeTakeover waits until the follower r answers /readyz 503
// while the database still names the leader of epoch, and fails should a
// takeover come first: a leader that froze or lost the database cannot
// place, whatever its lease says.
func (c *failoverCluster) unreadyBeforeTakeover(t *testing.T, r *failoverReplica, epoch int64) {
	t.Helper()
	deadline := time.Now().Add(dockertest.Timeout)
	for {
		// The epoch first: a 503 that came after a takeover then fails no
		// check, while one before it is caught.
		_, now := leaderRow(t, c.store)
		status, rd, err := c.ready(r)
		if now != epoch {
			t.Fatalf("a takeover (epoch %d) before %s said it was not ready; last %d %+v %v", now, r.url, status, rd, err)
		}
		if err == nil && status == 503 && rd.Status != "ready" {
			t.Logf("while the leader of epoch %d is faulted, %s answers 503: %s", epoch, r.url, rd.Reason)
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s still ready: %d %+v %v", r.url, status, rd, err)
		}
		// A pause between looks, so that they do not load the database
		// whose takeover is timed; the look is the condition, not this.
		<-time.After(20 * time.Millisecond)
	}
}

// mustCreate creates a session through r, with a TTL in seconds when ttl > 0.
func (c *failoverCluster) mustCreate(t *testing.T, r *failoverReplica, id string, ttl int) string {
	t.Helper()
	req := client.SessionRequest{Location: "ams", Image: "echo", ID: id, TTL: int64(max(ttl, 0))}
	if _, err := c.via(r).api().Sessions().Create(t.Context(), req); err != nil {
		t.Fatalf("create %s through %s: %v", id, r.url, err)
	}
	return id
}

// retryCreate creates a session through r as a client does that retries
// what failed with the same id, so that a create whose answer was lost is
// not made twice; it returns the id once the create succeeded.
func (c *failoverCluster) retryCreate(t *testing.T, r *failoverReplica, id string) string {
	t.Helper()
	if err := c.createRetrying(r, id, t.Logf); err != nil {
		t.Fatal(err)
	}
	return id
}

// createRetrying is retryCreate for any goroutine: it says why it gave up,
// after a minute.
func (c *failoverCluster) createRetrying(r *failoverReplica, id string, logf func(string, ...any)) error {
	sessions := client.New(r.url, clusterToken, client.WithHTTPClient(probeClient), client.WithTimeout(15*time.Second)).Sessions()
	deadline := time.Now().Add(time.Minute)
	for attempt := 1; ; attempt++ {
		_, err := sessions.Create(context.Background(), client.SessionRequest{Location: "ams", Image: "echo", ID: id})
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("create %s: no success within a minute; last %v", id, err)
		}
		logf("create %s, attempt %d: %v", id, attempt, err)
		// Every attempt is answered, however the fault ended it: a pause
		// between them keeps the log short, not the test in step.
		<-time.After(100 * time.Millisecond)
	}
}

// load creates a session every loadEvery through the replicas the test does
// not fault, as a matchmaker would, each retried with its id until it is
// accepted, until the function it returns is called; that returns the ids
// accepted. The test's end calls it too, so that no create outlives the
// test.
func (c *failoverCluster) load(t *testing.T) (stop func() []string) {
	quit, out := make(chan struct{}), make(chan []string, 1)
	go func() {
		var ids []string
		tick := time.NewTicker(loadEvery)
		defer tick.Stop()
		for i := 0; ; i++ {
			id := fmt.Sprint("load-", i)
			if err := c.createRetrying(c.replicas[1+i%2], id, func(string, ...any) {}); err != nil {
				t.Error(err)
			} else {
				ids = append(ids, id)
			}
			select {
			case <-quit:
				out <- ids
				return
			case <-tick.C:
			}
		}
	}()
	stop = sync.OnceValue(func() []string {
		close(quit)
		return <-out
	})
	t.Cleanup(func() { stop() })
	return stop
}

// loadEvery paces the failover tests' background creates: a steady load
// the engine of a 2-core machine keeps up with.
const loadEvery = 500 * time.Millisecond

// dbNow is the database's clock, which the audit's times are on.
func (c *failoverCluster) dbNow(t *testing.T) time.Time {
	t.Helper()
	var now time.Time
	c.query(t, func(conn *pgx.Conn) error {
		return conn.QueryRow(context.Background(), `SELECT clock_timestamp()`).Scan(&now)
	})
	return now
}

func (c *failoverCluster) query(t *testing.T, f func(*pgx.Conn) error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), dockertest.Timeout)
	defer cancel()
	conn, err := pgx.Connect(ctx, c.store)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	if err := f(conn); err != nil {
		t.Fatal(err)
	}
}

// audit records every write of sessions and usage rows with the
// application_name of the connection that made it: each replica's is its
// own.
func (c *failoverCluster) audit(t *testing.T) {
	t.Helper()
	c.query(t, func(conn *pgx.Conn) error {
		_, err := conn.Exec(context.Background(), `
CREATE TABLE test_audit (
    app       text NOT NULL,
    at        timestamptz NOT NULL DEFAULT clock_timestamp(),
    tbl       text NOT NULL,
    id        text,
    old_state text,
    new_state text,
    reason    text
);
CREATE FUNCTION test_audit() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    n jsonb := CASE WHEN TG_OP = 'DELETE' THEN NULL ELSE to_jsonb(NEW) END;
    o jsonb := CASE WHEN TG_OP = 'INSERT' THEN NULL ELSE to_jsonb(OLD) END;
BEGIN
    INSERT INTO test_audit (app, tbl, id, old_state, new_state, reason)
    VALUES (current_setting('application_name'), TG_TABLE_NAME, coalesce(n, o)->>TG_ARGV[0], o->>'state', n->>'state',
        n->'doc'->>'stopReason');
    RETURN NULL;
END
$$;
CREATE TRIGGER test_audit AFTER INSERT OR UPDATE OR DELETE ON sessions FOR EACH ROW EXECUTE FUNCTION test_audit('id');
CREATE TRIGGER test_audit AFTER INSERT OR UPDATE OR DELETE ON usage FOR EACH ROW EXECUTE FUNCTION test_audit('session_id');`)
		return err
	})
}

// writesBy counts the rows of sessions and usage the replica wrote after at.
func (c *failoverCluster) writesBy(t *testing.T, r *failoverReplica, at time.Time) int {
	t.Helper()
	var n int
	c.query(t, func(conn *pgx.Conn) error {
		return conn.QueryRow(context.Background(), `SELECT count(*) FROM test_audit WHERE app = $1 AND at > $2`, r.app, at).Scan(&n)
	})
	return n
}

// checkOnce checks the store and the engine: exactly the sessions ids
// exist, each active one with one container on distinct host ports, and
// each of ttls stopped once, by its TTL, billed once.
func (c *failoverCluster) checkOnce(t *testing.T, ids, ttls []string) {
	t.Helper()
	ctx := context.Background()
	var keys []string
	for _, id := range ids {
		keys = append(keys, arena.SessionKey("dev", id))
	}
	var stored, ports []string
	c.query(t, func(conn *pgx.Conn) error {
		rows, err := conn.Query(ctx, `SELECT id FROM sessions ORDER BY id`)
		if err != nil {
			return err
		}
		if stored, err = pgx.CollectRows(rows, pgx.RowTo[string]); err != nil {
			return err
		}
		rows, err = conn.Query(ctx, `SELECT p->>'host' FROM sessions s, jsonb_array_elements(s.doc->'ports') p WHERE s.state <> 'stopped'`)
		if err != nil {
			return err
		}
		ports, err = pgx.CollectRows(rows, pgx.RowTo[string])
		return err
	})
	slices.Sort(keys)
	if !slices.Equal(stored, keys) {
		t.Errorf("sessions in the store: %v, want %v", stored, keys)
	}
	slices.Sort(ports)
	if len(slices.Compact(slices.Clone(ports))) != len(ports) {
		t.Errorf("host ports of the active sessions: %v, some booked twice", ports)
	}
	// Each active session runs in one container, and a stopped one in none.
	dockertest.Eventually(t, dockertest.Timeout, func() error {
		running := map[string]int{}
		for _, node := range c.nodes {
			cs, err := dockertest.Runtime(t).List(ctx, node)
			if err != nil {
				return err
			}
			for _, ct := range cs {
				if ct.Running {
					running[ct.SessionID]++
				}
			}
		}
		for _, k := range keys {
			want := 1
			if slices.ContainsFunc(ttls, func(id string) bool { return arena.SessionKey("dev", id) == k }) {
				want = 0
			}
			if running[k] != want {
				return fmt.Errorf("session %s runs in %d containers, want %d (%v)", k, running[k], want, running)
			}
			delete(running, k)
		}
		if len(running) > 0 {
			return fmt.Errorf("containers of no session: %v", running)
		}
		return nil
	})
	for _, id := range ttls {
		var stops, bills int
		c.query(t, func(conn *pgx.Conn) error {
			return conn.QueryRow(ctx, `SELECT count(*) FILTER (WHERE tbl = 'sessions' AND new_state = 'stopping' AND old_state IS DISTINCT FROM 'stopping'),
				count(*) FILTER (WHERE tbl = 'usage') FROM test_audit WHERE id = $1`, arena.SessionKey("dev", id)).Scan(&stops, &bills)
		})
		reason, usages := stopRecord(t, c.store, id)
		if reason != "ttl" || usages != 1 || stops != 1 || bills != 1 {
			t.Errorf("session %s: stopped for %q, asked to stop %d times, billed %d times (%d usage rows); want ttl, once each", id, reason, stops, bills, usages)
		}
	}
}
