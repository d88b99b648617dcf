package main

import (
	"encoding/json"
	"fmt"
	"io"
	nethttp "net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/arena-hq/arena/client"
	"github.com/arena-hq/arena/config"
	"github.com/arena-hq/arena/docker/dockertest"
	"github.com/arena-hq/arena/http/apitest"
)

// TestBurstStartsOrRefuses: a burst of 100 POST /session at once against
// one node of the real engine, more than it can start within the start
// deadline. Every session answered 201 ends running; every one the node
// could not have started in time is refused up front with 420 and
// Retry-After, never accepted and then given up on.
func TestBurstStartsOrRefuses(t *testing.T) {
	const (
		burst = 100
		// Short enough that the node cannot start the whole burst in
		// time, so that refusals happen.
		startTimeout = 20 * time.Second
	)
	s := newStackConfig(t, 2*burst+20, "", func(c *config.Config) {
		c.Node.StartTimeout = config.Duration(startTimeout)
		// Room for the whole burst: only the start queue may refuse.
		c.Node.MilliCPU, c.Node.MemoryMB = 100*burst+1000, 64*burst+1024
	})

	// A first session, so that the node has measured its pace, at the
	// load this machine has now, before the burst.
	first := s.create(client.SessionRequest{})
	s.waitStatus(first.ID, "running")
	dockertest.Eventually(t, dockertest.Timeout, func() error {
		rate, err := s.startRate()
		if err == nil && rate <= 0 {
			err = fmt.Errorf("the node has not said its start rate yet")
		}
		return err
	})

	type answer struct {
		status     int
		id         string
		retryAfter string
	}
	answers := make([]answer, burst)
	var wg sync.WaitGroup
	var mu sync.Mutex
	for i := range burst {
		wg.Add(1)
		go func() {
			defer wg.Done()
			status, header, body, ok := postEcho(t, s.checker, &mu, s.URL, testToken)
			if !ok {
				return
			}
			mu.Lock()
			defer mu.Unlock()
			a := answer{status: status, retryAfter: header.Get("Retry-After")}
			if a.status == 201 {
				var c client.CreatedSession
				if err := json.Unmarshal(body, &c); err != nil {
					t.Error(err)
				}
				a.id = c.ID
			}
			answers[i] = a
		}()
	}
	wg.Wait()

	accepted := map[string]bool{}
	refused := 0
	for i, a := range answers {
		switch a.status {
		case 201:
			accepted[a.id] = true
		case 420:
			refused++
			if secs, err := strconv.Atoi(a.retryAfter); err != nil || secs < 1 {
				t.Errorf("request %d: 420 with Retry-After %q, want whole seconds", i, a.retryAfter)
			}
		default:
			t.Errorf("request %d: HTTP %d, want 201 or 420", i, a.status)
		}
	}
	t.Logf("%d accepted, %d refused with 420", len(accepted), refused)
	if len(accepted) == 0 || refused == 0 {
		t.Fatalf("%d accepted and %d refused: want both, the node taking what it can start in time", len(accepted), refused)
	}

	// Every accepted session runs; none dies waiting for its start.
	dockertest.Eventually(t, startTimeout+dockertest.Timeout, func() error {
		list, err := s.api().Sessions().List(t.Context(), client.ListOptions{All: true})
		if err != nil {
			return fmt.Errorf("GET /session: %v", err)
		}
		running := 0
		for _, sess := range list.Sessions {
			if !accepted[sess.ID] {
				continue
			}
			switch sess.Status {
			case "running":
				running++
			case "dead", "exited":
				d, err := s.describe(sess.ID)
				if err != nil {
					t.Fatalf("GET /session/%s: %v", sess.ID, err)
				}
				t.Fatalf("session %s was accepted, then %s: %s: %s", sess.ID, sess.Status, d.StopReason, d.StopMessage)
			}
		}
		if running != len(accepted) {
			return fmt.Errorf("%d of %d accepted sessions running", running, len(accepted))
		}
		return nil
	})
}

// startRate returns the starts a second the node last said it makes, as
// the admin API shows it.
func (s *testStack) startRate() (float64, error) {
	nodes, err := s.api().Nodes().List(s.tb.Context())
	if err != nil {
		return 0, fmt.Errorf("GET /admin/v1/nodes: %v", err)
	}
	for _, n := range nodes.Nodes {
		if n.ID == s.Node.ID && n.Starts != nil {
			return n.Starts.RatePerSecond, nil
		}
	}
	return 0, fmt.Errorf("node %s shows no start queue", s.Node.ID)
}

// postEcho creates an echo session in the location "local" through url,
// from any goroutine, and checks the answer against the contract, the
// checker guarded by mu; ok is false when the request failed, as the test
// has been told.
func postEcho(tb testing.TB, checker *apitest.Checker, mu *sync.Mutex, url, token string) (status int, header nethttp.Header, body []byte, ok bool) {
	tb.Helper()
	req, err := nethttp.NewRequest("POST", url+"/session", strings.NewReader(`{"location":"local","image":"echo"}`))
	if err != nil {
		tb.Error(err)
		return 0, nil, nil, false
	}
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := nethttp.DefaultClient.Do(req)
	if err != nil {
		tb.Error(err)
		return 0, nil, nil, false
	}
	body, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	mu.Lock()
	defer mu.Unlock()
	checker.Check(tb, req, resp.StatusCode, resp.Header, body)
	return resp.StatusCode, resp.Header, body, true
}
