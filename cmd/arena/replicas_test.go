package main

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/arena-hq/arena"
	"github.com/arena-hq/arena/client"
	"github.com/arena-hq/arena/docker/dockertest"
	"github.com/arena-hq/arena/http/apitest"
)

// postgresURL returns a URL of the test PostgreSQL with a schema of the
// test's own as its search_path, dropped when the test ends. The test is
// skipped without ARENA_POSTGRES_URL, unless ARENA_REQUIRE_POSTGRES=1.
func postgresURL(tb testing.TB) string {
	tb.Helper()
	base := os.Getenv("ARENA_POSTGRES_URL")
	if base == "" {
		if os.Getenv("ARENA_REQUIRE_POSTGRES") == "1" {
			tb.Fatal("ARENA_POSTGRES_URL is not set")
		}
		tb.Skip("ARENA_POSTGRES_URL is not set")
	}
	schema := "arena_replicas_" + dockertest.RandomID()
	exec := func(sql string) {
		ctx, cancel := context.WithTimeout(context.Background(), dockertest.Timeout)
		defer cancel()
		conn, err := pgx.Connect(ctx, base)
		if err != nil {
			tb.Fatal(err)
		}
		defer conn.Close(ctx)
		if _, err := conn.Exec(ctx, sql); err != nil {
			tb.Fatal(err)
		}
	}
	exec("CREATE SCHEMA " + schema)
	tb.Cleanup(func() { exec("DROP SCHEMA " + schema + " CASCADE") })
	u, err := url.Parse(base)
	if err != nil {
		tb.Fatal(err)
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String()
}

// writeReplicaConfig writes the config file the replica tests' servers
// share into dir, and returns its path: the secret key replicas must share,
// no rate limit in the way, and the echo application.
func writeReplicaConfig(tb testing.TB, dir string) string {
	tb.Helper()
	image := dockertest.EchoImage(tb)
	repo, tag, _ := strings.Cut(image, ":")
	path := filepath.Join(dir, "arena.yaml")
	key := base64.StdEncoding.EncodeToString([]byte("replicas-share-this-32-byte-key!"))
	if err := os.WriteFile(path, fmt.Appendf(nil, `
secretKey: %s
rateLimit: {perSecond: 100000, burst: 100000}
applications:
  - name: echo
    repository: %s
    tags: [{name: %s, priority: 1}]
    ports: [{container: 7777, protocol: tcp}]
    resources: {milliCpu: 100, memoryMb: 64}
    stopGrace: 5s
`, key, repo, tag), 0o600); err != nil {
		tb.Fatal(err)
	}
	return path
}

// replica is one arena server process of a replicated control plane.
type replica struct {
	*proc
	url string
}

type readiness struct {
	Status, Role, Leader, Reason string
}

// TestReplicas runs three arena server replicas on one PostgreSQL with an
// agent dialing a follower: requests to any replica work, concurrent
// placements through all three never double-book a port or a core, and
// when the leader is killed with SIGKILL, or loses its database connection,
// another takes over without losing a session.
func TestReplicas(t *testing.T) {
	store := postgresURL(t)
	dir := t.TempDir()
	cfgPath := writeReplicaConfig(t, dir)
	joinToken := "join-" + dockertest.RandomID()
	start := func(i int) *replica {
		p := startProc(t, "server", "--config", cfgPath, "--data", filepath.Join(dir, fmt.Sprint("replica-", i)),
			"--listen", "127.0.0.1:0", "--store", store, "--token", clusterToken, "--join-token", joinToken,
			"--heartbeat-timeout", "2s", "--log-level", "warn")
		return &replica{proc: p, url: p.field("API")}
	}
	replicas := []*replica{start(0), start(1), start(2)}
	s := &testStack{tb: t, token: clusterToken, checker: apitest.NewChecker(t), stack: &stack{URL: replicas[1].url}}
	via := func(r *replica) *testStack {
		return &testStack{tb: t, token: clusterToken, checker: s.checker, stack: &stack{URL: r.url}}
	}
	ready := func(r *replica) readiness {
		t.Helper()
		status, body := via(r).call("GET", "/readyz", nil)
		var rd readiness
		if err := json.Unmarshal(body, &rd); err != nil || (status == 200) != (rd.Status == "ready") {
			t.Fatalf("readyz of %s: %d %s", r.url, status, body)
		}
		return rd
	}
	// agreed returns the leader the live replicas agree on: one says it
	// leads, the others that they follow it.
	agreed := func(live ...*replica) (*replica, error) {
		var lead *replica
		for _, r := range live {
			rd := ready(r)
			switch {
			case rd.Status != "ready":
				return nil, fmt.Errorf("%s is not ready", r.url)
			case rd.Role == "leader" && lead != nil:
				return nil, fmt.Errorf("two leaders")
			case rd.Role == "leader":
				lead = r
			}
		}
		if lead == nil {
			return nil, fmt.Errorf("no leader")
		}
		for _, r := range live {
			if rd := ready(r); r != lead && rd.Leader != lead.url {
				return nil, fmt.Errorf("%s follows %q", r.url, rd.Leader)
			}
		}
		return lead, nil
	}
	// leader waits until the live replicas agree on the leader the
	// database names, and returns it.
	leader := func(live ...*replica) *replica {
		t.Helper()
		var lead *replica
		dockertest.Eventually(t, dockertest.Timeout, func() error {
			var err error
			if lead, err = agreed(live...); err != nil {
				return err
			}
			if u, _ := leaderRow(t, store); u != lead.url {
				// A leader that lost the lead notices within a second.
				return fmt.Errorf("the database names %s, the replicas %s", u, lead.url)
			}
			return nil
		})
		return lead
	}
	first := leader(replicas...)
	if first != replicas[0] {
		t.Fatalf("the first replica started does not lead: %s does", first.url)
	}

	// Two agents dial the followers: their streams are forwarded to the
	// leader. (In production agents dial the load balancer.)
	for i, r := range []*replica{replicas[1], replicas[2]} {
		lo, hi := freePortRange(t, 12)
		startProc(t, "agent", "--server", r.url, "--join-token", joinToken, "--node-id", dockertest.NodeID(t),
			"--region", "europe", "--location", "ams", "--provider", fmt.Sprint("p", i), "--class", "metal",
			"--public-ip", "127.0.0.1", "--cpu", "0.5", "--memory", "1024",
			"--port-range", fmt.Sprintf("%d-%d", lo, hi), "--data", filepath.Join(dir, fmt.Sprint("agent-", i)),
			"--heartbeat-interval", "200ms", "--log-level", "warn")
	}
	waitReady := func() {
		t.Helper()
		dockertest.Eventually(t, dockertest.Timeout, func() error {
			nodes, err := s.api().Nodes().List(t.Context())
			if err != nil || countNodes(nodes, func(n client.Node) bool { return n.State == "ready" }) != 2 {
				return fmt.Errorf("nodes: %v %s", err, nodes.Raw())
			}
			return nil
		})
	}
	waitReady()

	// 15 creates at once, five through each replica, for room for 10 (two
	// nodes of half a core, 100 millicores each): exactly 10 are placed,
	// five a node, on distinct ports (the nodes share this machine's).
	var (
		mu      sync.Mutex
		placed  []client.CreatedSession
		refused int
		wg      sync.WaitGroup
	)
	for i := range 15 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, err := via(replicas[i%3]).api().Sessions().Create(t.Context(), client.SessionRequest{Location: "ams", Image: "echo"})
			mu.Lock()
			defer mu.Unlock()
			switch arena.ErrorCode(err) {
			case "":
				placed = append(placed, c)
			case arena.EUNAVAILABLE:
				refused++
			default:
				t.Errorf("create: %v", err)
			}
		}()
	}
	wg.Wait()
	var ports []int
	for _, c := range placed {
		ports = append(ports, c.Ports[0].Host)
	}
	slices.Sort(ports)
	if len(placed) != 10 || refused != 5 || len(slices.Compact(ports)) != 10 {
		t.Fatalf("placed %d on ports %v, refused %d; want 10 on distinct ports and 5 refused", len(placed), ports, refused)
	}
	nodes, err := s.api().Nodes().List(t.Context())
	if err != nil || countNodes(nodes, func(n client.Node) bool { return n.Sessions == 5 }) != 2 {
		t.Fatalf("the nodes do not hold five sessions each: %v %s", err, nodes.Raw())
	}
	for _, c := range placed {
		s.waitStatus(c.ID, "running")
	}

	// A session with a TTL, whose timer the first leader arms and, once it
	// is gone, the next must: it expires once, by its TTL.
	sessions := s.api().Sessions()
	if err := sessions.Stop(t.Context(), placed[9].ID); err != nil {
		t.Fatalf("stop: %v", err)
	}
	s.waitStatus(placed[9].ID, "exited")
	if _, err := sessions.Create(t.Context(), client.SessionRequest{Location: "ams", Image: "echo", ID: "expires", TTL: 6}); err != nil {
		t.Fatalf("the TTL session: %v", err)
	}
	placed = placed[:9]

	// SIGKILL the leader: another replica takes over and knows every session.
	first.kill()
	second := leader(replicas[1], replicas[2])
	waitReady()
	for _, c := range placed {
		if d := via(second).waitStatus(c.ID, "running"); d.Host != c.Host {
			t.Fatalf("after the takeover %+v", d)
		}
	}
	s.waitStatus("expires", "exited")
	if reason, usages := stopRecord(t, store, "expires"); reason != "ttl" || usages != 1 {
		t.Fatalf("the TTL session stopped for %q with %d usage records, want ttl and 1", reason, usages)
	}
	if err := sessions.Stop(t.Context(), placed[0].ID); err != nil {
		t.Fatalf("stop after the takeover: %v", err)
	}
	s.waitStatus(placed[0].ID, "exited")
	c, err := (&localCluster{testStack: s}).place("ams")
	if arena.ErrorCode(err) == arena.EUNAVAILABLE {
		t.Fatalf("no room after the takeover: the leader lost track of what was freed")
	}
	// Its port may be one freed by a stop, never one a live session holds.
	live := err == nil && slices.ContainsFunc(placed[1:], func(p client.CreatedSession) bool { return p.Ports[0].Host == c.Ports[0].Host })
	if err != nil || live {
		t.Fatalf("a create after the takeover: %v %+v", err, c)
	}
	s.waitStatus(c.ID, "running")

	// The new leader loses its database connection: it stops leading, and
	// one of the two takes the lead in a new term; nothing is lost, and
	// placing and stopping work again.
	_, before := leaderRow(t, store)
	terminateLeaderConnection(t, store)
	dockertest.Eventually(t, dockertest.Timeout, func() error {
		if _, epoch := leaderRow(t, store); epoch <= before {
			return fmt.Errorf("still in term %d", epoch)
		}
		return nil
	})
	third := leader(replicas[1], replicas[2])
	waitReady()
	for _, c := range append(placed[1:], c) {
		via(third).waitStatus(c.ID, "running")
	}
	if err := sessions.Stop(t.Context(), c.ID); err != nil {
		t.Fatalf("stop in the third term: %v", err)
	}
	s.waitStatus(c.ID, "exited")
	t.Logf("leaders: %s, then %s, then %s", first.url, second.url, third.url)
}

// countNodes counts the nodes of a list that are as want says.
func countNodes(l client.NodeList, want func(client.Node) bool) int {
	n := 0
	for _, node := range l.Nodes {
		if want(node) {
			n++
		}
	}
	return n
}

// leaderRow returns the leader's address and term as the database has them.
func leaderRow(tb testing.TB, store string) (string, int64) {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), dockertest.Timeout)
	defer cancel()
	conn, err := pgx.Connect(ctx, store)
	if err != nil {
		tb.Fatal(err)
	}
	defer conn.Close(ctx)
	var u string
	var epoch int64
	if err := conn.QueryRow(ctx, `SELECT url, epoch FROM arena_leader WHERE id = 1`).Scan(&u, &epoch); err != nil {
		tb.Fatal(err)
	}
	return u, epoch
}

// terminateLeaderConnection ends the database connection that holds the
// lead of the schema of store, as a network failure would.
func terminateLeaderConnection(tb testing.TB, store string) {
	tb.Helper()
	u, err := url.Parse(store)
	if err != nil {
		tb.Fatal(err)
	}
	schema := u.Query().Get("search_path")
	ctx, cancel := context.WithTimeout(context.Background(), dockertest.Timeout)
	defer cancel()
	conn, err := pgx.Connect(ctx, os.Getenv("ARENA_POSTGRES_URL"))
	if err != nil {
		tb.Fatal(err)
	}
	defer conn.Close(ctx)
	tag, err := conn.Exec(ctx, `SELECT pg_terminate_backend(pid) FROM pg_locks WHERE locktype = 'advisory'
		AND classid = $1 AND objid = (hashtext($2)::bigint & 4294967295)::oid AND granted`, int64(0x61726e61), schema)
	if err != nil || tag.RowsAffected() != 1 {
		tb.Fatalf("terminating the leader's connection: %v (%d rows)", err, tag.RowsAffected())
	}
}

// stopRecord returns why the dev organisation's session stopped and how many
// usage records it has, as the database holds them.
func stopRecord(tb testing.TB, store, id string) (reason string, usages int) {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), dockertest.Timeout)
	defer cancel()
	conn, err := pgx.Connect(ctx, store)
	if err != nil {
		tb.Fatal(err)
	}
	defer conn.Close(ctx)
	key := arena.SessionKey("dev", id)
	if err := conn.QueryRow(ctx, `SELECT doc->>'stopReason' FROM sessions WHERE id = $1`, key).Scan(&reason); err != nil {
		tb.Fatal(err)
	}
	if err := conn.QueryRow(ctx, `SELECT count(*) FROM usage WHERE session_id = $1`, key).Scan(&usages); err != nil {
		tb.Fatal(err)
	}
	return reason, usages
}
