package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	nethttp "net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/arena-hq/arena"
	"github.com/arena-hq/arena/client"
	"github.com/arena-hq/arena/config"
	"github.com/arena-hq/arena/docker/dockertest"
	"github.com/arena-hq/arena/http/apitest"
)

// slowClient is one kind of connection a slowloris attack keeps open.
type slowClient struct {
	name string
	n    int
	// open starts a connection's abuse: what it sends at once, then a
	// byte a second of trickle while the connection lasts.
	open    string
	trickle string
	// idle reads one answer, then sends nothing: a kept-alive connection
	// that is never used again.
	idle bool
	// within is how soon the server must close the connection, from its
	// start, and notBefore how long it must be held at least: a connection
	// refused at once proves nothing of the timeouts.
	within, notBefore time.Duration
}

// TestSlowloris attacks a control plane built as `arena server` builds it
// with a thousand slow connections on loopback: headers sent a byte a
// second, bodies sent a byte a second (with a token and without), and
// idle kept-alive connections, each reconnecting when the server closes
// it. Meanwhile ordinary requests must be answered within 100 ms, and
// every slow connection must be closed by the server within its timeout.
func TestSlowloris(t *testing.T) {
	if testing.Short() {
		t.Skip("holds a thousand connections for seconds")
	}
	const (
		readHeader, read, idle = time.Second, 2 * time.Second, 2 * time.Second
		// attackFor leaves the attackers half of it to open their
		// connections: on a machine busy with other tests, a thousand
		// dials under the race detector take seconds.
		attackFor = 10 * time.Second
		// slack is what a loaded machine may add to a timeout; within it
		// all, a connection is still closed well before the attack ends.
		slack  = 2 * time.Second
		budget = 100 * time.Millisecond
	)
	kinds := []slowClient{
		{name: "slow headers", n: 400, open: "GET /session HTTP/1.1\r\nHost: arena\r\n", trickle: "X-Slow: " + strings.Repeat("x", 60),
			within: readHeader + slack, notBefore: readHeader},
		{name: "slow body", n: 250, open: "POST /session HTTP/1.1\r\nHost: arena\r\nAuthorization: Bearer " + testToken +
			"\r\nContent-Type: application/json\r\nContent-Length: 400\r\n\r\n", trickle: `{"location":"` + strings.Repeat("x", 300),
			within: read + slack, notBefore: read},
		{name: "slow body without a token", n: 250, open: "POST /session HTTP/1.1\r\nHost: arena\r\nContent-Type: application/json\r\nContent-Length: 400\r\n\r\n",
			trickle: `{"location":"` + strings.Repeat("x", 300), within: slack},
		{name: "idle keep-alive", n: 200, open: "GET /healthz HTTP/1.1\r\nHost: arena\r\n\r\n", idle: true,
			within: idle + slack, notBefore: idle},
	}
	total, held := 0, 0
	for _, k := range kinds {
		total += k.n
		if k.notBefore > 0 {
			// The server must hold these a while; the others it may close
			// at once, so they are open only now and then.
			held += k.n
		}
	}
	needFiles(t, 2*total+512)

	cfg, err := config.Parse([]byte(`
demoImage: ""
applications: []
http: {readHeaderTimeout: 1s, readTimeout: 2s, idleTimeout: 2s, writeTimeout: 10s}
`))
	if err != nil {
		t.Fatal(err)
	}
	st, err := startControlPlane(context.Background(), cfg, stackOptions{listen: "127.0.0.1:0", data: t.TempDir(), token: testToken, rateLimit: 1e6, rateBurst: 1e6}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	addr := strings.TrimPrefix(st.URL, "http://")

	var (
		open, peak atomic.Int64
		mu         sync.Mutex
		lifetimes  = map[string][]time.Duration{}
		failures   []string
	)
	attackCtx, stopAttack := context.WithTimeout(context.Background(), attackFor)
	defer stopAttack()
	var attackers sync.WaitGroup
	for _, k := range kinds {
		for range k.n {
			attackers.Go(func() {
				for attackCtx.Err() == nil {
					next := time.Now().Add(500 * time.Millisecond)
					lived, closedByServer, err := k.attack(attackCtx, addr, &open, &peak)
					mu.Lock()
					switch {
					case err != nil:
						failures = append(failures, fmt.Sprintf("%s: %v", k.name, err))
					case closedByServer:
						lifetimes[k.name] = append(lifetimes[k.name], lived)
					}
					mu.Unlock()
					// Reconnect, but not in a loop as tight as a refusal
					// allows: this is a slow attack, not a flood.
					select {
					case <-attackCtx.Done():
					case <-time.After(time.Until(next)):
					}
				}
			})
		}
	}

	// Ordinary requests while the attack is in force, half on a kept-alive
	// connection and half on a new one each.
	deadline := time.Now().Add(attackFor / 2)
	for open.Load() < int64(held*9/10) {
		if time.Now().After(deadline) {
			t.Fatalf("the attack holds only %d connections, of %d it should hold", open.Load(), held)
		}
		time.Sleep(10 * time.Millisecond)
	}
	keepAlive := &nethttp.Client{Timeout: 5 * time.Second}
	fresh := &nethttp.Client{Timeout: 5 * time.Second, Transport: &nethttp.Transport{DisableKeepAlives: true}}
	var latencies []time.Duration
	for i := 0; attackCtx.Err() == nil; i++ {
		client := keepAlive
		if i%2 == 1 {
			client = fresh
		}
		req, _ := nethttp.NewRequest("GET", st.URL+"/session", nil)
		req.Header.Set("Authorization", "Bearer "+testToken)
		start := time.Now()
		resp, err := client.Do(req)
		if err != nil {
			t.Errorf("an ordinary request during the attack: %v", err)
			continue
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		latencies = append(latencies, time.Since(start))
		if resp.StatusCode != 200 {
			t.Errorf("an ordinary request during the attack: %s", resp.Status)
		}
		time.Sleep(20 * time.Millisecond)
	}
	attackers.Wait()

	if len(latencies) < 50 {
		t.Fatalf("only %d ordinary requests during the attack", len(latencies))
	}
	slices.Sort(latencies)
	at := func(q float64) time.Duration { return latencies[int(q*float64(len(latencies)-1))] }
	t.Logf("%d ordinary requests with %d slow connections open at most: p50 %v, p90 %v, p99 %v, max %v",
		len(latencies), peak.Load(), at(0.5), at(0.9), at(0.99), latencies[len(latencies)-1])
	// Most, not all: on a shared machine of two cores any one request may
	// be late for reasons that are not the attack's.
	if p := at(0.9); p > budget {
		t.Errorf("p90 of the ordinary requests is %v, over the budget of %v", p, budget)
	}
	if late := latencies[len(latencies)-1]; late > 20*budget {
		t.Errorf("an ordinary request took %v", late)
	}
	if len(failures) > 0 {
		t.Errorf("%d slow connections failed otherwise than by being closed, e.g. %s", len(failures), failures[0])
	}
	for _, k := range kinds {
		got := lifetimes[k.name]
		if len(got) < k.n/2 {
			t.Errorf("%s: the server closed %d connections of %d", k.name, len(got), k.n)
			continue
		}
		slices.Sort(got)
		t.Logf("%s: %d closed by the server, after %v to %v", k.name, len(got), got[0], got[len(got)-1])
		if longest := got[len(got)-1]; longest > k.within {
			t.Errorf("%s: a connection was held for %v, beyond %v", k.name, longest, k.within)
		}
		if shortest := got[0]; shortest < k.notBefore {
			t.Errorf("%s: a connection was closed after %v, before the timeout could have", k.name, shortest)
		}
	}
}

// attack opens one connection of the kind and abuses it until the server
// closes it (closedByServer, after lived) or ctx ends.
func (k slowClient) attack(ctx context.Context, addr string, open, peak *atomic.Int64) (lived time.Duration, closedByServer bool, err error) {
	// From before the dial: the server starts its timeouts later, when it
	// accepts the connection or has answered it, so that no connection
	// can seem closed before them, however late this goroutine runs.
	start := time.Now()
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		if ctx.Err() != nil {
			return 0, false, nil
		}
		return 0, false, err
	}
	defer c.Close()
	for n, p := open.Add(1), peak.Load(); n > p && !peak.CompareAndSwap(p, n); p = peak.Load() {
	}
	defer open.Add(-1)
	if _, err := io.WriteString(c, k.open); err != nil {
		return 0, false, err
	}
	if k.idle {
		buf := make([]byte, 4096)
		_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
		n, err := c.Read(buf)
		if err != nil || !strings.HasPrefix(string(buf[:n]), "HTTP/1.1 200") {
			return 0, false, fmt.Errorf("no answer to the first request: %q, %v", buf[:n], err)
		}
		_ = c.SetReadDeadline(time.Time{})
	}
	closed := make(chan struct{})
	go func() {
		// Whatever the server answers, the connection ends with EOF or a
		// reset when it closes it.
		_, _ = io.Copy(io.Discard, c)
		close(closed)
	}()
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for i := 0; ; i++ {
		select {
		case <-closed:
			return time.Since(start), true, nil
		case <-ctx.Done():
			c.Close()
			<-closed
			return 0, false, nil
		case <-tick.C:
			if i < len(k.trickle) {
				_, _ = c.Write([]byte{k.trickle[i]}) // fails once the server has closed: noticed above
			}
		}
	}
}

// needFiles makes sure the process may open n files, raising its soft
// limit towards the hard one when it must.
func needFiles(tb testing.TB, n int) {
	tb.Helper()
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		tb.Fatal(err)
	}
	if lim.Cur >= uint64(n) {
		return
	}
	if lim.Max < uint64(n) {
		tb.Fatalf("the test needs %d open files; the hard limit (ulimit -Hn) is %d", n, lim.Max)
	}
	lim.Cur = uint64(n)
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		tb.Fatalf("raising the limit of open files to %d: %v", n, err)
	}
}

// TestLogsFollowOutlivesTimeouts follows a game server's output through
// `arena dev` whose HTTP server has read and write timeouts of half a
// second: output written long after them still arrives on the stream.
func TestLogsFollowOutlivesTimeouts(t *testing.T) {
	const timeout = 500 * time.Millisecond
	s := &testStack{tb: t, cfg: testConfig(t, 2, ""), checker: apitest.NewChecker(t),
		opts: devOptions{listen: "127.0.0.1:0", data: t.TempDir(), devToken: testToken, publicIP: "127.0.0.1"}}
	s.cfg.HTTP = config.HTTPServer{ReadHeaderTimeout: config.Duration(timeout), ReadTimeout: config.Duration(timeout),
		WriteTimeout: config.Duration(timeout), IdleTimeout: config.Duration(timeout)}
	s.start()
	t.Cleanup(func() { s.Close() })
	c := s.create(client.SessionRequest{})
	s.waitStatus(c.ID, "running")

	sessions := s.api().Sessions()
	stream, err := sessions.FollowLogs(t.Context(), c.ID)
	if err != nil {
		t.Fatalf("follow: %v", err)
	}
	defer stream.Close()
	start := time.Now()
	followed := followLines(t, stream)
	followed.what = func() string { return fmt.Sprintf("the stream, after %v,", time.Since(start)) }
	waitLine := followed.wait
	waitLine("echo server listening")
	for _, n := range []int{11, 23} {
		// Time passing is what is tested: each packet's line is written
		// after both timeouts would have ended the stream.
		time.Sleep(3 * timeout)
		dockertest.AskUDP(t, hostPort(c, arena.UDP), strings.Repeat("x", n))
		waitLine(fmt.Sprintf("udp %d bytes", n))
	}
	if err := sessions.Stop(t.Context(), c.ID); err != nil {
		t.Fatalf("DELETE: %v", err)
	}
	waitLine("terminated")
}
