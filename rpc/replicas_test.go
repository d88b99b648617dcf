package rpc_test

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/arena-hq/arena"
	arenahttp "github.com/arena-hq/arena/http"
	"github.com/arena-hq/arena/rpc"
)

// How a test replica answers.
const (
	serving     = iota
	unavailable // as a follower that reaches no leader answers
	hanging     // accepts and never answers
	notFound    // a plain 404, as a server that is no control plane
	starting    // 503, as a replica whose store is still loading answers
	resetting   // resets the connection of every request, as a process dying under it
)

// testReplica is one control plane replica on loopback.
type testReplica struct {
	url  string
	addr string
	fake *fakeControlPlane
	srv  *httptest.Server
	mode atomic.Int32
	hits atomic.Int64

	mu    sync.Mutex
	hosts []string // the Host header of every request
}

// startReplica serves fake's agent service on addr ("127.0.0.1:0" for any
// port), over TLS if tls is set.
func startReplica(t *testing.T, addr string, tls bool) *testReplica {
	t.Helper()
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	r := &testReplica{fake: newFake(), addr: ln.Addr().String()}
	path, h := rpc.NewHandler(r.fake)
	release := make(chan struct{})
	mux := http.NewServeMux()
	mux.Handle(path, h)
	r.srv = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		r.hits.Add(1)
		r.mu.Lock()
		r.hosts = append(r.hosts, req.Host)
		r.mu.Unlock()
		switch r.mode.Load() {
		case unavailable:
			w.Header().Set("Retry-After", "1")
			arenahttp.WriteError(w, req, arena.Errorf(arena.EUNAVAILABLE, "no control plane leads right now; retry shortly"))
		case hanging:
			select {
			case <-req.Context().Done():
			case <-release:
			}
		case notFound:
			http.NotFound(w, req)
		case resetting:
			conn, _, err := http.NewResponseController(w).Hijack()
			if err != nil {
				panic(err)
			}
			_ = conn.(*net.TCPConn).SetLinger(0) // an RST rather than a FIN
			conn.Close()
		case starting:
			w.Header().Set("Retry-After", "1")
			arenahttp.WriteError(w, req, arena.Errorf(arena.ENOTREADY, "Arena is starting; retry shortly"))
		default:
			mux.ServeHTTP(w, req)
		}
	}))
	r.srv.Listener.Close()
	r.srv.Listener = ln
	if tls {
		r.srv.StartTLS()
	} else {
		r.srv.Start()
	}
	r.url = r.srv.URL
	t.Cleanup(r.srv.Close)
	t.Cleanup(func() { close(release) })
	return r
}

// down closes the replica: its port refuses connections.
func (r *testReplica) down() { r.srv.Close() }

func (r *testReplica) Hosts() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.hosts)
}

// replicas starts n plain replicas on ports of their own.
func replicas(t *testing.T, n int) []*testReplica {
	t.Helper()
	var rs []*testReplica
	for range n {
		rs = append(rs, startReplica(t, "127.0.0.1:0", false))
	}
	return rs
}

func urls(rs ...*testReplica) []string {
	var out []string
	for _, r := range rs {
		out = append(out, r.url)
	}
	return out
}

func newClientOf(t *testing.T, servers []string, opts ...rpc.ClientOption) *rpc.Client {
	t.Helper()
	c, err := rpc.NewClientOf(servers, append([]rpc.ClientOption{rpc.WithCredential("cred-n1")}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// everyCall makes each call of the agent protocol once through c, failing
// the test on an error.
func everyCall(t *testing.T, c *rpc.Client) {
	t.Helper()
	ctx := context.Background()
	if err := c.Heartbeat(ctx, arena.Heartbeat{NodeID: "n1"}); err != nil {
		t.Fatalf("heartbeat: %v", err)
	}
	if err := c.Report(ctx, arena.SessionReport{SessionID: "s1", NodeID: "n1", State: arena.SessionRunning}); err != nil {
		t.Fatalf("report: %v", err)
	}
	if _, err := c.PushLogs(ctx, arena.LogChunk{RequestID: "r1", NodeID: "n1", Data: []byte("x")}); err != nil {
		t.Fatalf("push logs: %v", err)
	}
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	if _, err := c.Assignments(wctx, "n1"); err != nil {
		t.Fatalf("assignments: %v", err)
	}
	if err := c.Join(ctx, joinToken, arena.Node{ID: "n1"}); err != nil {
		t.Fatalf("join: %v", err)
	}
}

func TestClientMovesOnFromADownReplica(t *testing.T) {
	tests := []struct {
		name string
		fail func(*testReplica)
		// firstFails: the first call spends its time on the first replica
		// and fails; the next goes to the second.
		firstFails bool
	}{
		{"refusing connections", (*testReplica).down, false},
		{"answering unavailable", func(r *testReplica) { r.mode.Store(unavailable) }, false},
		{"still starting", func(r *testReplica) { r.mode.Store(starting) }, false},
		{"resetting connections", func(r *testReplica) { r.mode.Store(resetting) }, false},
		{"not answering in time", func(r *testReplica) { r.mode.Store(hanging) }, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rs := replicas(t, 2)
			c := newClientOf(t, urls(rs...))
			tt.fail(rs[0])
			timeout := 10 * time.Second
			if tt.firstFails {
				timeout = 300 * time.Millisecond
			}
			ctx, cancel := context.WithTimeout(context.Background(), timeout)
			defer cancel()
			err := c.Heartbeat(ctx, arena.Heartbeat{NodeID: "n1"})
			switch {
			case tt.firstFails && arena.ErrorCode(err) != arena.EUNAVAILABLE:
				t.Fatalf("the call that timed out: %v, want unavailable", err)
			case !tt.firstFails && err != nil:
				t.Fatalf("a call with a live replica left: %v", err)
			}
			before := rs[0].hits.Load()
			everyCall(t, c)
			if got := rs[0].hits.Load(); got != before {
				t.Errorf("the down replica got %d more requests after the client moved on", got-before)
			}
			if got := rs[1].fake.Calls(); !slices.Contains(got, "assignments") || !slices.Contains(got, "push logs") {
				t.Errorf("the second replica got %v", got)
			}
			if got := c.Server(); got != rs[1].url {
				t.Errorf("Server() = %s, want %s", got, rs[1].url)
			}
		})
	}
}

func TestClientSticksToAWorkingReplica(t *testing.T) {
	rs := replicas(t, 3)
	c := newClientOf(t, urls(rs...))
	ctx := context.Background()
	for range 3 {
		everyCall(t, c)
	}
	if a, b, cc := rs[0].hits.Load(), rs[1].hits.Load(), rs[2].hits.Load(); a == 0 || b != 0 || cc != 0 {
		t.Fatalf("requests per replica %d, %d, %d: want all on the first", a, b, cc)
	}
	// The first fails once and recovers: the client stays where it went.
	rs[0].mode.Store(unavailable)
	if err := c.Heartbeat(ctx, arena.Heartbeat{NodeID: "n1"}); err != nil {
		t.Fatal(err)
	}
	rs[0].mode.Store(serving)
	first := rs[0].hits.Load()
	for range 3 {
		everyCall(t, c)
	}
	if got := rs[0].hits.Load(); got != first {
		t.Errorf("the recovered first replica got %d more requests; the client should stick to the second", got-first)
	}
	if rs[2].hits.Load() != 0 {
		t.Errorf("the third replica got %d requests while the second worked", rs[2].hits.Load())
	}
	if got := c.Server(); got != rs[1].url {
		t.Errorf("Server() = %s, want %s", got, rs[1].url)
	}
}

// TestClientStreamFollowsTheCalls: when a call finds the replica down, the
// assignment stream on it ends, so that the agent watches again where its
// other calls go.
func TestClientStreamFollowsTheCalls(t *testing.T) {
	rs := replicas(t, 2)
	c := newClientOf(t, urls(rs...))
	ch, err := c.Assignments(t.Context(), "n1")
	if err != nil {
		t.Fatal(err)
	}
	next(t, ch)
	rs[0].mode.Store(unavailable)
	if err := c.Heartbeat(context.Background(), arena.Heartbeat{NodeID: "n1"}); err != nil {
		t.Fatal(err)
	}
	select {
	case _, ok := <-ch:
		if ok {
			t.Fatal("an assignment instead of the stream's end")
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the stream on the replica the client left goes on")
	}
	ch, err = c.Assignments(t.Context(), "n1")
	if err != nil {
		t.Fatal(err)
	}
	next(t, ch)
	if got := rs[1].fake.Calls(); !slices.Equal(got, []string{"heartbeat", "assignments"}) {
		t.Fatalf("the second replica got %v", got)
	}
}

// TestClientTriesEachReplicaOncePerCall: with every replica down a call
// fails after one round, for the agent to back off.
func TestClientTriesEachReplicaOncePerCall(t *testing.T) {
	rs := replicas(t, 3)
	for _, r := range rs {
		r.mode.Store(unavailable)
	}
	c := newClientOf(t, urls(rs...))
	for round := 1; round <= 2; round++ {
		err := c.Heartbeat(context.Background(), arena.Heartbeat{NodeID: "n1"})
		if arena.ErrorCode(err) != arena.EUNAVAILABLE {
			t.Fatalf("round %d: %v, want unavailable", round, err)
		}
		for i, r := range rs {
			if got := r.hits.Load(); got != int64(round) {
				t.Fatalf("round %d: replica %d got %d requests in all, want %d", round, i, got, round)
			}
		}
	}
	if _, err := c.Assignments(t.Context(), "n1"); arena.ErrorCode(err) != arena.EUNAVAILABLE {
		t.Fatalf("watch: %v, want unavailable", err)
	}
	for i, r := range rs {
		if got := r.hits.Load(); got != 3 {
			t.Fatalf("replica %d got %d requests in all, want 3", i, got)
		}
	}
}

// TestClientKeepsItsReplicaOnRefusals: an answer of the control plane,
// a refused credential above all, is no dead replica.
func TestClientKeepsItsReplicaOnRefusals(t *testing.T) {
	tests := []struct {
		name     string
		mode     int32
		call     func(*rpc.Client) error
		wantCode string
	}{
		{"unknown credential", serving, func(c *rpc.Client) error {
			c.SetCredential("cred-unknown")
			return c.Heartbeat(context.Background(), arena.Heartbeat{NodeID: "n1"})
		}, arena.EUNAUTHORIZED},
		{"another node's credential", serving, func(c *rpc.Client) error {
			return c.Heartbeat(context.Background(), arena.Heartbeat{NodeID: "n2"})
		}, arena.EUNAUTHORIZED},
		{"wrong join token", serving, func(c *rpc.Client) error {
			return c.Join(context.Background(), "wrong", arena.Node{ID: "n1"})
		}, arena.EUNAUTHORIZED},
		{"watch refused", serving, func(c *rpc.Client) error {
			_, err := c.Assignments(t.Context(), "n2")
			return err
		}, arena.EUNAUTHORIZED},
		{"another node's session", serving, func(c *rpc.Client) error {
			return c.Report(context.Background(), arena.SessionReport{SessionID: "s2", NodeID: "n1"})
		}, arena.EUNAUTHORIZED},
		{"not a control plane", notFound, func(c *rpc.Client) error {
			return c.Heartbeat(context.Background(), arena.Heartbeat{NodeID: "n1"})
		}, arena.EINTERNAL},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rs := replicas(t, 2)
			rs[0].mode.Store(tt.mode)
			c := newClientOf(t, urls(rs...))
			if err := tt.call(c); arena.ErrorCode(err) != tt.wantCode {
				t.Fatalf("got %v, want %s", err, tt.wantCode)
			}
			if got := rs[1].hits.Load(); got != 0 {
				t.Fatalf("the second replica got %d requests", got)
			}
			if got := c.Server(); got != rs[0].url {
				t.Fatalf("Server() = %s, want %s", got, rs[0].url)
			}
		})
	}
}

// TestPushLogsIsSentOnce: a chunk goes to the next replica only if the
// first could not be connected to; one that may have arrived is not sent
// twice, though the next chunk goes to the next replica.
func TestPushLogsIsSentOnce(t *testing.T) {
	chunk := arena.LogChunk{RequestID: "r1", NodeID: "n1", Data: []byte("x")}
	t.Run("refused", func(t *testing.T) {
		rs := replicas(t, 2)
		rs[0].down()
		c := newClientOf(t, urls(rs...))
		if _, err := c.PushLogs(context.Background(), chunk); err != nil {
			t.Fatal(err)
		}
		if got := rs[1].fake.Chunks(); len(got) != 1 {
			t.Fatalf("the second replica got %d chunks", len(got))
		}
	})
	t.Run("answered unavailable", func(t *testing.T) {
		rs := replicas(t, 2)
		rs[0].mode.Store(unavailable)
		c := newClientOf(t, urls(rs...))
		if _, err := c.PushLogs(context.Background(), chunk); arena.ErrorCode(err) != arena.EUNAVAILABLE {
			t.Fatalf("got %v, want unavailable", err)
		}
		if got := rs[1].fake.Chunks(); len(got) != 0 {
			t.Fatalf("the chunk went to the second replica too")
		}
		if _, err := c.PushLogs(context.Background(), chunk); err != nil {
			t.Fatal(err)
		}
		if got := rs[1].fake.Chunks(); len(got) != 1 {
			t.Fatalf("the next chunk did not go to the second replica: %d chunks", len(got))
		}
	})
}

// fakeResolver answers lookups from a table the test changes.
type fakeResolver struct {
	mu      sync.Mutex
	records map[string][]string
	lookups int
}

func (r *fakeResolver) LookupHost(ctx context.Context, host string) ([]string, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.lookups++
	addrs, ok := r.records[host]
	if !ok {
		return nil, &net.DNSError{Err: "no such host", Name: host, IsNotFound: true}
	}
	return slices.Clone(addrs), nil
}

func (r *fakeResolver) set(host string, addrs ...string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.records[host] = addrs
}

func (r *fakeResolver) Lookups() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.lookups
}

// sharedPort starts a replica on each of the loopback addresses on one port,
// as replicas behind one DNS name listen.
func sharedPort(t *testing.T, tls bool, ips ...string) (string, []*testReplica) {
	t.Helper()
	for range 20 {
		first := startReplica(t, ips[0]+":0", tls)
		_, port, _ := net.SplitHostPort(first.addr)
		rs := []*testReplica{first}
		for _, ip := range ips[1:] {
			ln, err := net.Listen("tcp", net.JoinHostPort(ip, port))
			if err != nil {
				break // the port is taken there: try another
			}
			ln.Close()
			rs = append(rs, startReplica(t, net.JoinHostPort(ip, port), tls))
		}
		if len(rs) == len(ips) {
			return port, rs
		}
		for _, r := range rs {
			r.down()
		}
	}
	t.Fatal("no port free on every loopback address")
	return "", nil
}

// TestClientResolvesNames: a name that resolves to several addresses is
// several replicas, each dialled by its address and called by the name.
func TestClientResolvesNames(t *testing.T) {
	port, rs := sharedPort(t, false, "127.0.0.1", "127.0.0.2", "127.0.0.3")
	res := &fakeResolver{records: map[string][]string{"arena.test": {"127.0.0.1", "127.0.0.2"}}}
	name := "http://arena.test:" + port
	c := newClientOf(t, []string{name}, rpc.WithResolver(res), rpc.WithResolveEvery(0))

	for range 3 {
		everyCall(t, c)
	}
	if got, want := c.Server(), name+" (127.0.0.1:"+port+")"; got != want {
		t.Fatalf("Server() = %s, want %s", got, want)
	}
	if got := res.Lookups(); got != 1 {
		t.Fatalf("%d lookups while the first address worked, want 1", got)
	}
	for _, h := range rs[0].Hosts() {
		if h != "arena.test:"+port {
			t.Fatalf("a request with Host %q, want the name", h)
		}
	}

	t.Run("the first address goes down", func(t *testing.T) {
		rs[0].down()
		everyCall(t, c)
		if got, want := c.Server(), name+" (127.0.0.2:"+port+")"; got != want {
			t.Fatalf("Server() = %s, want %s", got, want)
		}
		if h := rs[1].Hosts(); len(h) == 0 || h[0] != "arena.test:"+port {
			t.Fatalf("the second address got Host %v", h)
		}
	})
	t.Run("the record changes", func(t *testing.T) {
		res.set("arena.test", "127.0.0.3")
		rs[1].down()
		everyCall(t, c)
		if got, want := c.Server(), name+" (127.0.0.3:"+port+")"; got != want {
			t.Fatalf("Server() = %s, want %s", got, want)
		}
	})
	t.Run("the name stops resolving", func(t *testing.T) {
		res.mu.Lock()
		delete(res.records, "arena.test")
		res.mu.Unlock()
		rs[2].mode.Store(unavailable)
		if err := c.Heartbeat(context.Background(), arena.Heartbeat{NodeID: "n1"}); arena.ErrorCode(err) != arena.EUNAVAILABLE {
			t.Fatalf("got %v, want unavailable", err)
		}
		rs[2].mode.Store(serving)
		// The address it had is kept.
		everyCall(t, c)
		if got, want := c.Server(), name+" (127.0.0.3:"+port+")"; got != want {
			t.Fatalf("Server() = %s, want %s", got, want)
		}
	})
}

// TestClientResolvesNamesOverTLS: the address dialled is the record's, the
// certificate checked and the server name sent are the URL's.
func TestClientResolvesNamesOverTLS(t *testing.T) {
	port, rs := sharedPort(t, true, "127.0.0.1", "127.0.0.2")
	// httptest's certificate is for example.com and 127.0.0.1 alone:
	// 127.0.0.2 only passes under the name.
	res := &fakeResolver{records: map[string][]string{"example.com": {"127.0.0.1", "127.0.0.2"}}}
	c := newClientOf(t, []string{"https://example.com:" + port}, rpc.WithResolver(res), rpc.WithHTTPClient(rs[0].srv.Client()))
	everyCall(t, c)
	rs[0].down()
	everyCall(t, c)
	if got, want := c.Server(), "https://example.com:"+port+" (127.0.0.2:"+port+")"; got != want {
		t.Fatalf("Server() = %s, want %s", got, want)
	}
	if h := rs[1].Hosts(); len(h) == 0 || h[0] != "example.com:"+port {
		t.Fatalf("the second address got Host %v", h)
	}
}

// TestClientResolvesLocalhost resolves a name for real.
func TestClientResolvesLocalhost(t *testing.T) {
	r := startReplica(t, "127.0.0.1:0", false)
	_, port, _ := net.SplitHostPort(r.addr)
	c := newClientOf(t, []string{"http://localhost:" + port})
	everyCall(t, c)
	// localhost may resolve to ::1 first, where nothing listens: the
	// client moves on to 127.0.0.1.
	if got, want := c.Server(), "http://localhost:"+port+" (127.0.0.1:"+port+")"; got != want {
		t.Fatalf("Server() = %s, want %s", got, want)
	}
	if h := r.Hosts(); h[0] != "localhost:"+port {
		t.Fatalf("Host %q, want the name", h[0])
	}
}

func TestParseServers(t *testing.T) {
	many := make([]string, rpc.MaxServers+1)
	for i := range many {
		many[i] = fmt.Sprintf("http://cp-%d:8080", i)
	}
	tests := []struct {
		name    string
		in      []string
		want    []string
		wantErr string
	}{
		{"one", []string{"http://cp-1:8080"}, []string{"http://cp-1:8080"}, ""},
		{"comma-separated", []string{"http://cp-1:8080, https://cp-2 ,http://[::1]:80"}, []string{"http://cp-1:8080", "https://cp-2", "http://[::1]:80"}, ""},
		{"repeated and mixed", []string{"http://cp-1:8080", "http://cp-2:8080,http://cp-3:8080"}, []string{"http://cp-1:8080", "http://cp-2:8080", "http://cp-3:8080"}, ""},
		{"duplicates count once", []string{"http://cp-1:8080", "http://cp-1:8080/"}, []string{"http://cp-1:8080"}, ""},
		{"a path prefix", []string{"https://example.com/arena/"}, []string{"https://example.com/arena"}, ""},
		{"empty", []string{"", " , "}, nil, "no control plane address"},
		{"not http", []string{"ftp://cp-1"}, nil, "not an http:// or https:// URL"},
		{"no scheme", []string{"cp-1:8080"}, nil, "not an http:// or https:// URL"},
		{"no host", []string{"http:///x"}, nil, "has no host"},
		{"a password", []string{"http://u:secret@cp-1"}, nil, "holds a user name"},
		{"a query", []string{"http://cp-1/?a=b"}, nil, "query or fragment"},
		{"too many", many, nil, "at most"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := rpc.ParseServers(tt.in...)
			if tt.wantErr != "" {
				if arena.ErrorCode(err) != arena.EINVALID || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("got %v, want an invalid error saying %q", err, tt.wantErr)
				}
				if strings.Contains(err.Error(), "secret") {
					t.Fatalf("the error shows the password: %v", err)
				}
				return
			}
			if err != nil || !slices.Equal(got, tt.want) {
				t.Fatalf("got %q, %v; want %q", got, err, tt.want)
			}
		})
	}
}
