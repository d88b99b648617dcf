package cluster

import (
	"bufio"
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	nethttp "net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/arena-hq/arena"
	"github.com/arena-hq/arena/http"
)

// self is the address of the replica under test, which nothing dials: a
// replica never forwards to itself.
const self = "http://self.invalid"

// statusUnavailable is what the Session API answers EUNAVAILABLE with, as
// the Gameye API does.
const statusUnavailable = 420

// testLeader is a leading replica over loopback. It answers a request with
// its name and the body it got, /readyz as ready says, and /stream with a
// line, then one more each time more is sent on, until the request ends.
type testLeader struct {
	*httptest.Server
	name  string
	ready func(w nethttp.ResponseWriter)
	more  chan string
	// ended is closed once a stream's request has ended.
	ended   chan struct{}
	endOnce sync.Once
}

func newTestLeader(tb testing.TB, name string) *testLeader {
	tb.Helper()
	ld := &testLeader{name: name, more: make(chan string), ended: make(chan struct{}), ready: func(w nethttp.ResponseWriter) {
		writeReadiness(w, nethttp.StatusOK, http.Readiness{Status: "ready", Role: "leader"})
	}}
	ld.Server = httptest.NewServer(nethttp.HandlerFunc(func(w nethttp.ResponseWriter, r *nethttp.Request) {
		switch r.URL.Path {
		case "/readyz":
			ld.ready(w)
		case "/stream":
			defer ld.endOnce.Do(func() { close(ld.ended) })
			rc := nethttp.NewResponseController(w)
			fmt.Fprintf(w, "%s streams\n", ld.name)
			_ = rc.Flush()
			for {
				select {
				case line := <-ld.more:
					fmt.Fprintln(w, line)
					_ = rc.Flush()
				case <-r.Context().Done():
					return
				}
			}
		default:
			body, _ := io.ReadAll(r.Body)
			fmt.Fprintf(w, "%s got %q", ld.name, body)
		}
	}))
	tb.Cleanup(ld.Close)
	return ld
}

func writeReadiness(w nethttp.ResponseWriter, status int, rd http.Readiness) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(rd)
}

// deadURL is the address of a listener that was closed: connecting to it
// is refused.
func deadURL(tb testing.TB) string {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	url := "http://" + ln.Addr().String()
	ln.Close()
	return url
}

// testForwarder is a forwarder served over loopback, reading who leads
// from its leases in the background.
type testForwarder struct {
	*forwarder
	url string
	// arrived has the time each request reached the forwarder.
	arrived chan time.Time
}

// startForwarder starts a forwarder over l whose requests wait for a
// leader up to wait; zero waits up to waitTimeout.
func startForwarder(tb testing.TB, l *fakeLeases, wait time.Duration) *testForwarder {
	tb.Helper()
	f := &testForwarder{forwarder: newForwarder(l, self, slog.New(slog.DiscardHandler)), arrived: make(chan time.Time, 16)}
	f.wait = cmp.Or(wait, waitTimeout)
	srv := httptest.NewServer(nethttp.HandlerFunc(func(w nethttp.ResponseWriter, r *nethttp.Request) {
		f.arrived <- time.Now()
		f.ServeHTTP(w, r)
	}))
	f.url = srv.URL
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		f.watch(ctx)
	}()
	// The watch ends what is still forwarded, so that the server's Close
	// does not wait for streams.
	tb.Cleanup(func() { cancel(); <-done; srv.Close() })
	return f
}

// viewed is who leads as the forwarder last read it.
func (f *forwarder) viewed() leaderView {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.view
}

// arrival waits for a request to reach the forwarder.
func (f *testForwarder) arrival(tb testing.TB) time.Time {
	tb.Helper()
	select {
	case at := <-f.arrived:
		return at
	case <-time.After(waitTimeout):
		tb.Fatal("the request did not reach the forwarder")
		return time.Time{}
	}
}

// answer is what a client got.
type answer struct {
	status int
	body   string
	header nethttp.Header
	err    error
}

// send sends a request in the background; the channel has its answer.
func send(method, url, body string) <-chan answer {
	ch := make(chan answer, 1)
	go func() {
		req, err := nethttp.NewRequest(method, url, strings.NewReader(body))
		if err != nil {
			ch <- answer{err: err}
			return
		}
		resp, err := nethttp.DefaultClient.Do(req)
		if err != nil {
			ch <- answer{err: err}
			return
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		ch <- answer{status: resp.StatusCode, body: string(b), header: resp.Header, err: err}
	}()
	return ch
}

// await waits for an answer sent.
func await(tb testing.TB, ch <-chan answer) answer {
	tb.Helper()
	select {
	case a := <-ch:
		if a.err != nil {
			tb.Fatal(a.err)
		}
		return a
	case <-time.After(waitTimeout):
		tb.Fatal("no answer")
		return answer{}
	}
}

// readsMore waits until the forwarder has read the leases n more times.
func readsMore(tb testing.TB, l *fakeLeases, n int) {
	tb.Helper()
	from := l.readCount()
	eventually(tb, fmt.Sprintf("%d more reads of the lease", n), func() bool { return l.readCount() >= from+n })
}

// readLine reads a line of a stream, or why it ended.
func readLine(tb testing.TB, rd *bufio.Reader) (string, error) {
	tb.Helper()
	type line struct {
		s   string
		err error
	}
	ch := make(chan line, 1)
	go func() {
		s, err := rd.ReadString('\n')
		ch <- line{strings.TrimSuffix(s, "\n"), err}
	}()
	select {
	case l := <-ch:
		return l.s, l.err
	case <-time.After(waitTimeout):
		tb.Fatal("the stream neither went on nor ended")
		return "", nil
	}
}

func TestForwarderWaitsForALeader(t *testing.T) {
	expired := LeaderStatus{URL: "http://old.invalid", Epoch: 1}
	cases := []struct {
		name string
		// err fails reading the lease.
		err  error
		wait time.Duration
		// then ends the wait, once the request waits; nil lets it run out.
		then   func(f *testForwarder, l *fakeLeases, next *testLeader)
		status int
		want   string
	}{
		{
			name: "a replica taking the lead over",
			then: func(f *testForwarder, l *fakeLeases, next *testLeader) {
				l.set(LeaderStatus{URL: next.URL, Epoch: 2, Held: true}, nil)
			},
			status: nethttp.StatusOK, want: `next got "hello"`,
		},
		{
			name: "this replica taking the lead",
			then: func(f *testForwarder, l *fakeLeases, next *testLeader) {
				f.serveLocally(nethttp.HandlerFunc(func(w nethttp.ResponseWriter, r *nethttp.Request) {
					body, _ := io.ReadAll(r.Body)
					fmt.Fprintf(w, "local got %q", body)
				}))
			},
			status: nethttp.StatusOK, want: `local got "hello"`,
		},
		{
			name: "no leader within the wait", wait: 200 * time.Millisecond,
			status: statusUnavailable, want: "no control plane leads right now",
		},
		{
			name: "a lease that cannot be read", wait: 200 * time.Millisecond,
			err:    arena.Errorf(arena.EUNAVAILABLE, "the database does not answer"),
			status: statusUnavailable, want: "this replica cannot read who leads from the database",
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			next := newTestLeader(t, "next")
			l := newFakeLeases(expired, tc.err)
			f := startForwarder(t, l, tc.wait)
			readsMore(t, l, 1)
			got := send("POST", f.url+"/session", "hello")
			at := f.arrival(t)
			if tc.then != nil {
				readsMore(t, l, 2)
				select {
				case a := <-got:
					t.Fatalf("answered while no replica leads: %d %s %v", a.status, a.body, a.err)
				default:
				}
				tc.then(f, l, next)
			}
			a := await(t, got)
			if a.status != tc.status || !strings.Contains(a.body, tc.want) {
				t.Fatalf("answer %d %s, want %d with %q", a.status, a.body, tc.status, tc.want)
			}
			if tc.then == nil {
				if since := time.Since(at); since < tc.wait {
					t.Errorf("answered after %s, before the wait of %s ran out", since, tc.wait)
				}
				if ra := a.header.Get("Retry-After"); ra != "1" {
					t.Errorf("Retry-After %q, want 1", ra)
				}
			}
		})
	}
}

func TestForwarderEndsRequestsWhenTheLeadChanges(t *testing.T) {
	cases := []struct {
		name string
		next func(old, other *testLeader) LeaderStatus
		ends bool
	}{
		{
			name: "another replica takes the lead over",
			next: func(old, other *testLeader) LeaderStatus { return LeaderStatus{URL: other.URL, Epoch: 2, Held: true} },
			ends: true,
		},
		{
			name: "the leader begins another term",
			next: func(old, other *testLeader) LeaderStatus { return LeaderStatus{URL: old.URL, Epoch: 2, Held: true} },
			ends: true,
		},
		{
			name: "the leader's lease expires",
			next: func(old, other *testLeader) LeaderStatus { return LeaderStatus{URL: old.URL, Epoch: 1} },
			ends: true,
		},
		{
			name: "the leader renews its lease",
			next: func(old, other *testLeader) LeaderStatus { return LeaderStatus{URL: old.URL, Epoch: 1, Held: true} },
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			old, other := newTestLeader(t, "old"), newTestLeader(t, "other")
			l := newFakeLeases(LeaderStatus{URL: old.URL, Epoch: 1, Held: true}, nil)
			f := startForwarder(t, l, 0)
			resp, err := nethttp.Get(f.url + "/stream")
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			rd := bufio.NewReader(resp.Body)
			if line, err := readLine(t, rd); line != "old streams" || err != nil {
				t.Fatalf("the stream began with %q, %v", line, err)
			}
			l.set(tc.next(old, other), nil)
			if tc.ends {
				if line, err := readLine(t, rd); err == nil {
					t.Fatalf("the stream went on with %q", line)
				}
				select {
				case <-old.ended:
				case <-time.After(waitTimeout):
					t.Fatal("the leader's request did not end")
				}
				return
			}
			readsMore(t, l, 2)
			old.more <- "more"
			if line, err := readLine(t, rd); line != "more" || err != nil {
				t.Fatalf("the stream went on with %q, %v", line, err)
			}
			select {
			case <-old.ended:
				t.Fatal("the leader's request ended")
			default:
			}
		})
	}
}

func TestForwarderRetriesAtTheNextLeader(t *testing.T) {
	refused := deadURL
	cases := []struct {
		name string
		// first is the address of the leader first named.
		first func(tb testing.TB) string
		body  string
		// retried tells that the request is to reach the next leader.
		retried bool
	}{
		{name: "a leader that refuses connections", first: refused, body: "hello", retried: true},
		{name: "a body of the API's largest", first: refused, body: strings.Repeat("x", maxRetriedBody), retried: true},
		{
			// Too large to keep for a second leader: it streams to the
			// first.
			name: "a body beyond the API's largest", first: refused, body: strings.Repeat("x", maxRetriedBody+1),
		},
		{
			// Part of the request may have reached it: it is not sent
			// again.
			name: "a leader that breaks off mid-request", body: "hello",
			first: func(tb testing.TB) string {
				tb.Helper()
				srv := httptest.NewServer(nethttp.HandlerFunc(func(w nethttp.ResponseWriter, r *nethttp.Request) {
					if conn, _, err := nethttp.NewResponseController(w).Hijack(); err == nil {
						conn.Close()
					}
				}))
				tb.Cleanup(srv.Close)
				return srv.URL
			},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			next := newTestLeader(t, "next")
			l := newFakeLeases(LeaderStatus{URL: tc.first(t), Epoch: 1, Held: true}, nil)
			f := startForwarder(t, l, 0)
			eventually(t, "the forwarder reads the leader", func() bool { return f.viewed().url != "" })
			got := send("POST", f.url+"/session", tc.body)
			f.arrival(t)
			if tc.retried {
				// It waits for the next leader, looking again meanwhile.
				readsMore(t, l, 2)
				l.set(LeaderStatus{URL: next.URL, Epoch: 2, Held: true}, nil)
			}
			a := await(t, got)
			switch want := fmt.Sprintf("next got %q", tc.body); {
			case tc.retried && (a.status != nethttp.StatusOK || a.body != want):
				t.Fatalf("answer %d %.200s, want the next leader's %.200s", a.status, a.body, want)
			case !tc.retried && (a.status != statusUnavailable || !strings.Contains(a.body, "the leading control plane did not answer")):
				t.Fatalf("answer %d %.200s, want %d: the leader did not answer", a.status, a.body, statusUnavailable)
			case !tc.retried && a.header.Get("Retry-After") != "1":
				t.Errorf("Retry-After %q, want 1", a.header.Get("Retry-After"))
			}
		})
	}
}

func TestForwarderReadyz(t *testing.T) {
	notReady := func(w nethttp.ResponseWriter) {
		writeReadiness(w, nethttp.StatusServiceUnavailable, http.Readiness{Status: "unavailable", Role: "leader", Reason: "waiting for the agents"})
	}
	following := func(w nethttp.ResponseWriter) {
		writeReadiness(w, nethttp.StatusOK, http.Readiness{Status: "ready", Role: "follower"})
	}
	cases := []struct {
		name string
		path string
		// status is what the leases say, given the leader's address.
		status func(leader string) LeaderStatus
		err    error
		// ready answers the leader's /readyz; nil keeps the default.
		ready func(w nethttp.ResponseWriter)
		// dead names a leader that refuses connections.
		dead   bool
		code   int
		reason string
	}{
		{
			name: "a ready leader", path: "/readyz",
			status: func(leader string) LeaderStatus { return LeaderStatus{URL: leader, Epoch: 3, Held: true} },
			code:   nethttp.StatusOK,
		},
		{
			name: "a leader that is not ready", path: "/readyz",
			status: func(leader string) LeaderStatus { return LeaderStatus{URL: leader, Epoch: 3, Held: true} },
			ready:  notReady,
			code:   nethttp.StatusServiceUnavailable, reason: "is not ready: waiting for the agents",
		},
		{
			name: "a named leader that follows", path: "/readyz",
			status: func(leader string) LeaderStatus { return LeaderStatus{URL: leader, Epoch: 3, Held: true} },
			ready:  following,
			code:   nethttp.StatusServiceUnavailable, reason: "which the database names, does not lead",
		},
		{
			name: "a leader that cannot be reached", path: "/readyz", dead: true,
			status: func(leader string) LeaderStatus { return LeaderStatus{URL: leader, Epoch: 3, Held: true} },
			code:   nethttp.StatusServiceUnavailable, reason: "is not ready",
		},
		{
			name: "an expired lease", path: "/readyz",
			status: func(leader string) LeaderStatus { return LeaderStatus{URL: leader, Epoch: 3} },
			code:   nethttp.StatusServiceUnavailable, reason: "no replica holds the lead",
		},
		{
			// It forwards, so it does not lead: its lease has yet to expire.
			name: "this replica's own lease", path: "/readyz",
			status: func(string) LeaderStatus { return LeaderStatus{URL: self, Epoch: 3, Held: true} },
			code:   nethttp.StatusServiceUnavailable, reason: "no replica holds the lead",
		},
		{
			name: "a lease that cannot be read", path: "/readyz",
			status: func(string) LeaderStatus { return LeaderStatus{} },
			err:    arena.Errorf(arena.EUNAVAILABLE, "the database does not answer"),
			code:   nethttp.StatusServiceUnavailable, reason: "cannot read the leader from the database: the database does not answer",
		},
		{
			name: "liveness whatever leads", path: "/healthz",
			status: func(string) LeaderStatus { return LeaderStatus{} },
			err:    arena.Errorf(arena.EUNAVAILABLE, "the database does not answer"),
			code:   nethttp.StatusOK,
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ld := newTestLeader(t, "leader")
			if tc.ready != nil {
				ld.ready = tc.ready
			}
			leader := ld.URL
			if tc.dead {
				leader = deadURL(t)
			}
			l := newFakeLeases(tc.status(leader), tc.err)
			f := newForwarder(l, self, slog.New(slog.DiscardHandler))
			f.look(context.Background())
			srv := httptest.NewServer(f)
			defer srv.Close()
			a := await(t, send("GET", srv.URL+tc.path, ""))
			if a.status != tc.code {
				t.Fatalf("%s answered %d %s, want %d", tc.path, a.status, a.body, tc.code)
			}
			if tc.path != "/readyz" {
				return
			}
			var rd http.Readiness
			if err := json.Unmarshal([]byte(a.body), &rd); err != nil {
				t.Fatalf("%s: %v", a.body, err)
			}
			if rd.Role != "follower" || !strings.Contains(rd.Reason, tc.reason) || (tc.reason == "") != (rd.Reason == "") {
				t.Errorf("readiness %+v, want a follower's with reason %q", rd, tc.reason)
			}
			if want := tc.status(leader); tc.err == nil && want.Held && want.URL != self && rd.Leader != leader {
				t.Errorf("readiness names %q as leader, want %q", rd.Leader, leader)
			}
		})
	}
}
