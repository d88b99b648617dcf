package main

import (
	"fmt"
	"io"
	nethttp "net/http"
	"strings"
	"testing"

	"github.com/arena-hq/arena/client"
	"github.com/arena-hq/arena/docker/dockertest"
)

// scrapeMetrics returns what the metrics listener at url serves.
func scrapeMetrics(tb testing.TB, url string) string {
	tb.Helper()
	resp, err := nethttp.Get(url + "/metrics")
	if err != nil {
		tb.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		tb.Fatal(err)
	}
	return string(body)
}

// TestMetrics scrapes arena dev's metrics listener after a session ran:
// placement, sessions by state, nodes, agent streams, requests and Docker
// calls are all there, from the real control plane, API and engine.
func TestMetrics(t *testing.T) {
	s := newStackWith(t, 4, "", func(o *devOptions) { o.metricsListen = "127.0.0.1:0" })
	if s.MetricsURL == "" {
		t.Fatal("no metrics listener")
	}
	c := s.create(client.SessionRequest{})
	s.waitStatus(c.ID, "running")
	_, _ = s.api().Sessions().Get(t.Context(), "nope", client.GetOptions{}) // a 404, counted by its code

	want := []string{
		`arena_allocation_seconds_count{result="placed"} 1`,
		`arena_sessions{location="local",state="running"} 1`,
		`arena_node_sessions{class="metal",location="local",node="` + s.Node.ID + `",region="europe",state="ready"} 1`,
		`arena_agent_connections 1`,
		`arena_http_requests_total{code="201",route="POST /session"} 1`,
		`arena_errors_total{code="not_found"}`,
		`arena_docker_call_seconds_count{op="start",result="ok"}`,
	}
	dockertest.Eventually(t, dockertest.Timeout, func() error {
		resp, err := nethttp.Get(s.MetricsURL + "/metrics")
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		body, err := io.ReadAll(resp.Body)
		if err != nil {
			return err
		}
		for _, w := range want {
			if !strings.Contains(string(body), w) {
				return fmt.Errorf("no %s in the metrics", w)
			}
		}
		return nil
	})
	// The API's own port serves no metrics.
	if status, _ := s.call("GET", "/metrics", nil); status != 404 {
		t.Fatalf("GET /metrics on the API: %d", status)
	}
}
