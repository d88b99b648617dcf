package metrics_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/arena-hq/arena"
	"github.com/arena-hq/arena/docker"
	"github.com/arena-hq/arena/docker/dockertest"
	"github.com/arena-hq/arena/metrics"
)

// A Registry is what a docker.Runtime reports its calls to.
var _ docker.CallObserver = (*metrics.Registry)(nil)

// serve serves r's handler over real HTTP and returns its URL.
func serve(t *testing.T, r *metrics.Registry) string {
	t.Helper()
	srv := httptest.NewServer(r.Handler())
	t.Cleanup(srv.Close)
	return srv.URL
}

// scrape fetches the exposition at url and parses it.
func scrape(t *testing.T, url string) map[string]*dto.MetricFamily {
	t.Helper()
	res, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		t.Fatalf("scrape answered %s", res.Status)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	return fams
}

// series returns the metric of family name whose labels are exactly labels
// ("k=v" each), or nil.
func series(fams map[string]*dto.MetricFamily, name string, labels ...string) *dto.Metric {
	f, ok := fams[name]
	if !ok {
		return nil
	}
	for _, m := range f.GetMetric() {
		var got []string
		for _, l := range m.GetLabel() {
			got = append(got, l.GetName()+"="+l.GetValue())
		}
		if strings.Join(got, ",") == strings.Join(labels, ",") {
			return m
		}
	}
	return nil
}

// value returns the value of a counter or gauge series, or the count of a
// histogram's, failing the test when there is no such series.
func value(t *testing.T, fams map[string]*dto.MetricFamily, name string, labels ...string) float64 {
	t.Helper()
	m := series(fams, name, labels...)
	switch {
	case m == nil:
		t.Fatalf("no series %s%v", name, labels)
	case m.Counter != nil:
		return m.GetCounter().GetValue()
	case m.Gauge != nil:
		return m.GetGauge().GetValue()
	case m.Histogram != nil:
		return float64(m.GetHistogram().GetSampleCount())
	}
	t.Fatalf("series %s%v is of an unexpected type", name, labels)
	return 0
}

func wantValue(t *testing.T, fams map[string]*dto.MetricFamily, want float64, name string, labels ...string) {
	t.Helper()
	if got := value(t, fams, name, labels...); got != want {
		t.Errorf("%s%v = %v, want %v", name, labels, got, want)
	}
}

// allocationBuckets are the upper bounds of arena_allocation_seconds.
var allocationBuckets = []string{"0.0001", "0.00025", "0.0005", "0.001", "0.0025", "0.005", "0.01", "0.025", "0.05", "0.1", "0.25", "0.5", "1", "+Inf"}

// allocationSeries returns the exposition of one series of
// arena_allocation_seconds whose observations are seconds.
func allocationSeries(result string, seconds ...float64) string {
	var b strings.Builder
	var sum float64
	for _, s := range seconds {
		sum += s
	}
	for _, le := range allocationBuckets {
		n := 0
		for _, s := range seconds {
			if bound, err := strconv.ParseFloat(le, 64); err != nil || s <= bound {
				n++ // +Inf does not parse
			}
		}
		fmt.Fprintf(&b, "arena_allocation_seconds_bucket{result=%q,le=%q} %d\n", result, le, n)
	}
	fmt.Fprintf(&b, "arena_allocation_seconds_sum{result=%q} %v\n", result, sum)
	fmt.Fprintf(&b, "arena_allocation_seconds_count{result=%q} %d\n", result, len(seconds))
	return b.String()
}

func TestScrape(t *testing.T) {
	t.Parallel()
	r := metrics.New()
	url := serve(t, r)

	r.ObserveAllocation(250*time.Millisecond, metrics.AllocationPlaced)
	r.ObserveAllocation(500*time.Millisecond, metrics.AllocationPlaced)
	r.ObserveAllocation(1500*time.Millisecond, metrics.AllocationUnavailable)
	r.ObserveAllocation(300*time.Microsecond, "bogus") // counts as error
	r.ObserveAllocation(5*time.Millisecond, metrics.AllocationResult(arena.Errorf(arena.ENOTFOUND, "no such location")))

	done1 := r.AgentConnected()
	done2 := r.AgentConnected()
	_ = r.AgentConnected()
	done1()
	done1() // a second call changes nothing
	done2()
	r.AgentHeartbeat()
	r.AgentHeartbeat()

	r.DockerCall("start", time.Now().Add(-time.Second), nil)
	r.DockerCall("inspect", time.Now(), arena.Errorf(arena.ENOTFOUND, "no such container"))
	r.DockerCall("inspect", time.Now(), errors.New("plain"))

	r.HTTPRequest("POST /session", 201, 3*time.Millisecond)
	r.HTTPRequest("POST /session", 201, 4*time.Millisecond)
	r.HTTPRequest("GET /session/{id}", 404, time.Millisecond)
	r.HTTPRequest("", 404, time.Millisecond)

	r.Error(arena.Errorf(arena.EINVALID, "bad"))
	r.Error(arena.Errorf(arena.EINVALID, "bad"))
	r.Error(errors.New("plain"))
	r.Error(nil)

	r.WebhookDelivery(metrics.WebhookDelivered)
	r.WebhookDelivery(metrics.WebhookGivenUp)
	r.WebhookDelivery("bogus") // counts as failed

	// The exposition over HTTP, exactly, for the families whose values do
	// not depend on the clock.
	want := `
# HELP arena_allocation_seconds Latency of placing a session (POST /session), by result: placed, unavailable, invalid or error.
# TYPE arena_allocation_seconds histogram
` + allocationSeries("error", 0.0003) +
		allocationSeries("invalid", 0.005) +
		allocationSeries("placed", 0.25, 0.5) +
		allocationSeries("unavailable", 1.5) + `
# HELP arena_agent_connections Agents with an open assignment stream.
# TYPE arena_agent_connections gauge
arena_agent_connections 1
# HELP arena_agent_heartbeats_total Heartbeats received from agents.
# TYPE arena_agent_heartbeats_total counter
arena_agent_heartbeats_total 2
# HELP arena_http_requests_total HTTP requests served, by route pattern and status code.
# TYPE arena_http_requests_total counter
arena_http_requests_total{code="201",route="POST /session"} 2
arena_http_requests_total{code="404",route="GET /session/{id}"} 1
arena_http_requests_total{code="404",route="unmatched"} 1
# HELP arena_errors_total Errors answered, by arena error code.
# TYPE arena_errors_total counter
arena_errors_total{code="internal"} 1
arena_errors_total{code="invalid"} 2
# HELP arena_webhook_deliveries_total Webhook deliveries, by result: delivered, failed, given_up or dropped.
# TYPE arena_webhook_deliveries_total counter
arena_webhook_deliveries_total{result="delivered"} 1
arena_webhook_deliveries_total{result="failed"} 1
arena_webhook_deliveries_total{result="given_up"} 1
`
	if err := testutil.ScrapeAndCompare(url, strings.NewReader(want),
		"arena_allocation_seconds", "arena_agent_connections", "arena_agent_heartbeats_total",
		"arena_http_requests_total", "arena_errors_total", "arena_webhook_deliveries_total",
	); err != nil {
		t.Error(err)
	}

	// The families whose values depend on the clock.
	fams := scrape(t, url)
	wantValue(t, fams, 1, "arena_docker_call_seconds", "op=start", "result=ok")
	wantValue(t, fams, 1, "arena_docker_call_seconds", "op=inspect", "result=not_found")
	wantValue(t, fams, 1, "arena_docker_call_seconds", "op=inspect", "result=internal")
	if sum := series(fams, "arena_docker_call_seconds", "op=start", "result=ok").GetHistogram().GetSampleSum(); sum < 1 {
		t.Errorf("start took %vs, want at least 1s", sum)
	}
	wantValue(t, fams, 2, "arena_http_request_seconds", "route=POST /session")
	wantValue(t, fams, 1, "arena_http_request_seconds", "route=GET /session/{id}")
	wantValue(t, fams, 1, "arena_http_request_seconds", "route=unmatched")
	if sum := series(fams, "arena_http_request_seconds", "route=POST /session").GetHistogram().GetSampleSum(); math.Abs(sum-0.007) > 1e-9 {
		t.Errorf("POST /session took %vs in all, want 0.007s", sum)
	}

	// The Go runtime's and the process's collectors.
	for _, name := range []string{"go_goroutines", "process_cpu_seconds_total"} {
		if _, ok := fams[name]; !ok {
			t.Errorf("no %s", name)
		}
	}
	for name, f := range fams {
		if strings.HasPrefix(name, "arena_") && f.GetHelp() == "" {
			t.Errorf("%s has no help text", name)
		}
	}
}

// TestAllocation checks that Allocation times from start and classifies err.
func TestAllocation(t *testing.T) {
	t.Parallel()
	r := metrics.New()
	r.Allocation(time.Now().Add(-time.Second), arena.Errorf(arena.ENOTFOUND, "no such location"))
	r.Allocation(time.Now(), nil)
	fams := scrape(t, serve(t, r))
	wantValue(t, fams, 1, "arena_allocation_seconds", "result=invalid")
	wantValue(t, fams, 1, "arena_allocation_seconds", "result=placed")
	if sum := series(fams, "arena_allocation_seconds", "result=invalid").GetHistogram().GetSampleSum(); sum < 1 {
		t.Errorf("the placement took %vs, want at least 1s", sum)
	}
}

func TestAllocationResult(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		err  error
		want string
	}{
		{nil, metrics.AllocationPlaced},
		{arena.Errorf(arena.EUNAVAILABLE, "no capacity"), metrics.AllocationUnavailable},
		{arena.Errorf(arena.EINVALID, "bad"), metrics.AllocationInvalid},
		{arena.Errorf(arena.ENOTFOUND, "no location"), metrics.AllocationInvalid},
		{arena.Errorf(arena.ECONFLICT, "id taken"), metrics.AllocationInvalid},
		{arena.Errorf(arena.EUNAUTHORIZED, "no"), metrics.AllocationInvalid},
		{arena.Internal(errors.New("disk"), "storing"), metrics.AllocationError},
		{errors.New("plain"), metrics.AllocationError},
		{context.Canceled, metrics.AllocationError},
	} {
		if got := metrics.AllocationResult(tt.err); got != tt.want {
			t.Errorf("AllocationResult(%v) = %q, want %q", tt.err, got, tt.want)
		}
	}
}

func TestNilRegistry(t *testing.T) {
	t.Parallel()
	var r *metrics.Registry
	r.ObserveAllocation(time.Millisecond, metrics.AllocationPlaced)
	r.Allocation(time.Now(), nil)
	r.AgentConnected()()
	r.AgentHeartbeat()
	r.DockerCall("start", time.Now(), nil)
	r.HTTPRequest("POST /session", 201, time.Millisecond)
	r.Error(errors.New("x"))
	r.WebhookDelivery(metrics.WebhookDelivered)
	r.SetSessionSource(func() []metrics.SessionCount { t.Error("session source called"); return nil })
	r.SetNodeSource(func() []metrics.NodeSample { t.Error("node source called"); return nil })
	r.SetPoolSource(func() []arena.PoolStatus { t.Error("pool source called"); return nil })

	res, err := http.Get(serve(t, r))
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusNotFound {
		t.Errorf("a nil registry's handler answered %s, want 404", res.Status)
	}

	// Code instrumented through the docker.Observer interface with a nil
	// Registry works too.
	var o docker.CallObserver = r
	o.DockerCall("stop", time.Now(), nil)
}

func TestSessionSource(t *testing.T) {
	t.Parallel()
	r := metrics.New()
	url := serve(t, r)

	fams := scrape(t, url)
	if _, ok := fams["arena_sessions"]; ok {
		t.Error("arena_sessions reported without a source")
	}

	var calls atomic.Int32
	var mu sync.Mutex
	counts := []metrics.SessionCount{
		{State: "running", Location: "eu-1", N: 3},
		{State: "started", Location: "eu-1", N: 1},
		{State: "running", Location: "us-1", N: 2},
		{State: "running", Location: "eu-1", N: 1}, // added to the first
	}
	r.SetSessionSource(func() []metrics.SessionCount {
		calls.Add(1)
		mu.Lock()
		defer mu.Unlock()
		return counts
	})
	if n := calls.Load(); n != 0 {
		t.Fatalf("source called %d times before a scrape", n)
	}

	fams = scrape(t, url)
	if n := calls.Load(); n != 1 {
		t.Errorf("source called %d times by a scrape, want 1", n)
	}
	wantValue(t, fams, 4, "arena_sessions", "location=eu-1", "state=running")
	wantValue(t, fams, 1, "arena_sessions", "location=eu-1", "state=started")
	wantValue(t, fams, 2, "arena_sessions", "location=us-1", "state=running")

	// Each scrape asks again: what changed shows, what is gone goes.
	mu.Lock()
	counts = []metrics.SessionCount{{State: "running", Location: "eu-1", N: 5}}
	mu.Unlock()
	const want = `
# HELP arena_sessions Active sessions, by state and location.
# TYPE arena_sessions gauge
arena_sessions{location="eu-1",state="running"} 5
`
	if err := testutil.ScrapeAndCompare(url, strings.NewReader(want), "arena_sessions"); err != nil {
		t.Error(err)
	}
	if n := calls.Load(); n != 2 {
		t.Errorf("source called %d times by two scrapes, want 2", n)
	}

	r.SetSessionSource(nil)
	if _, ok := scrape(t, url)["arena_sessions"]; ok {
		t.Error("arena_sessions reported after the source was removed")
	}
}

func TestNodeSource(t *testing.T) {
	t.Parallel()
	r := metrics.New()
	url := serve(t, r)

	nodes := []arena.NodeStatus{{
		Node: arena.Node{ID: "n1", Region: "eu", Location: "eu-1", Class: arena.ClassMetal,
			Capacity: arena.Resources{MilliCPU: 8000, MemoryMB: 16384}},
		State: "ready", Used: arena.Resources{MilliCPU: 1500, MemoryMB: 2048}, FreePorts: 990, Sessions: 3,
	}}
	var calls atomic.Int32
	var mu sync.Mutex
	r.SetNodeSource(func() []metrics.NodeSample {
		calls.Add(1)
		mu.Lock()
		defer mu.Unlock()
		return metrics.NodeSamples(nodes)
	})

	const ready = `class="metal",location="eu-1",node="n1",region="eu",state="ready"`
	want := func(labels string) string {
		return `
# HELP arena_node_capacity_millicpu CPU a node offers to sessions, in thousandths of a core.
# TYPE arena_node_capacity_millicpu gauge
arena_node_capacity_millicpu{` + labels + `} 8000
# HELP arena_node_capacity_memory_mb Memory a node offers to sessions, in MiB.
# TYPE arena_node_capacity_memory_mb gauge
arena_node_capacity_memory_mb{` + labels + `} 16384
# HELP arena_node_used_millicpu CPU reserved by a node's sessions, in thousandths of a core.
# TYPE arena_node_used_millicpu gauge
arena_node_used_millicpu{` + labels + `} 1500
# HELP arena_node_used_memory_mb Memory reserved by a node's sessions, in MiB.
# TYPE arena_node_used_memory_mb gauge
arena_node_used_memory_mb{` + labels + `} 2048
# HELP arena_node_free_ports Host ports of a node's range that neither a session nor anything else on the node holds.
# TYPE arena_node_free_ports gauge
arena_node_free_ports{` + labels + `} 990
# HELP arena_node_sessions Sessions placed on a node.
# TYPE arena_node_sessions gauge
arena_node_sessions{` + labels + `} 3
`
	}
	names := []string{
		"arena_node_capacity_millicpu", "arena_node_capacity_memory_mb", "arena_node_used_millicpu",
		"arena_node_used_memory_mb", "arena_node_free_ports", "arena_node_sessions",
	}
	if err := testutil.ScrapeAndCompare(url, strings.NewReader(want(ready)), names...); err != nil {
		t.Error(err)
	}
	if n := calls.Load(); n != 1 {
		t.Errorf("source called %d times by a scrape, want 1", n)
	}

	// A node that changes state moves to the series of its new state, and
	// one listed twice is reported once.
	mu.Lock()
	nodes[0].State = "draining"
	nodes = append(nodes, nodes[0])
	nodes[1].Used = arena.Resources{}
	mu.Unlock()
	draining := strings.Replace(ready, "ready", "draining", 1)
	if err := testutil.ScrapeAndCompare(url, strings.NewReader(want(draining)), names...); err != nil {
		t.Error(err)
	}
	if n := calls.Load(); n != 2 {
		t.Errorf("source called %d times by two scrapes, want 2", n)
	}
}

// TestPoolSource: a warm pool reports its size, and its sessions by node
// and state; a pool listed twice is reported once.
func TestPoolSource(t *testing.T) {
	t.Parallel()
	r := metrics.New()
	url := serve(t, r)
	spec := arena.PoolSpec{OrgID: "studio", Application: "duel", WarmPool: arena.WarmPool{Location: "eu", Size: 3}}
	status := arena.PoolStatus{PoolSpec: spec, Ready: 2, Warming: 1, Nodes: []arena.PoolNodeStatus{{NodeID: "n1", Ready: 2}, {NodeID: "n2", Warming: 1}}}
	r.SetPoolSource(func() []arena.PoolStatus { return []arena.PoolStatus{status, status} })
	const want = `
# HELP arena_warm_pool_size Sessions a warm pool keeps started and ready.
# TYPE arena_warm_pool_size gauge
arena_warm_pool_size{application="duel",org="studio",pool="duel:@eu"} 3
# HELP arena_warm_pool_sessions Sessions waiting in a warm pool, by node and state: ready to claim, or warming (starting).
# TYPE arena_warm_pool_sessions gauge
arena_warm_pool_sessions{application="duel",node="n1",org="studio",pool="duel:@eu",state="ready"} 2
arena_warm_pool_sessions{application="duel",node="n1",org="studio",pool="duel:@eu",state="warming"} 0
arena_warm_pool_sessions{application="duel",node="n2",org="studio",pool="duel:@eu",state="ready"} 0
arena_warm_pool_sessions{application="duel",node="n2",org="studio",pool="duel:@eu",state="warming"} 1
`
	if err := testutil.ScrapeAndCompare(url, strings.NewReader(want), "arena_warm_pool_size", "arena_warm_pool_sessions"); err != nil {
		t.Error(err)
	}
	r.SetPoolSource(nil)
	if _, ok := scrape(t, url)["arena_warm_pool_size"]; ok {
		t.Error("arena_warm_pool_size reported after the source was removed")
	}
}

// TestCloud: orders and joins count as they happen, and the machines, by
// region, provider and state, and their cost as the source says at each
// scrape; deleted and failed machines are none.
func TestCloud(t *testing.T) {
	t.Parallel()
	r := metrics.New()
	url := serve(t, r)
	r.MachineOrdered("hetzner", nil)
	r.MachineOrdered("hetzner", arena.Errorf(arena.EUNAVAILABLE, "out of capacity"))
	r.MachineJoined("hetzner", 42)
	r.SetCloudSource(func() []*arena.CloudMachine {
		return []*arena.CloudMachine{
			{Region: "europe", Provider: "hetzner", State: arena.MachineReady, CostPerHour: 0.04},
			{Region: "europe", Provider: "hetzner", State: arena.MachineJoining, CostPerHour: 0.04},
			{Region: "europe", Provider: "hetzner", State: arena.MachineFailed, CostPerHour: 0.04},
		}
	})
	const want = `
# HELP arena_cloud_orders_total Cloud machines ordered, by provider and result: ok or the arena error code of the provider's refusal.
# TYPE arena_cloud_orders_total counter
arena_cloud_orders_total{provider="hetzner",result="ok"} 1
arena_cloud_orders_total{provider="hetzner",result="unavailable"} 1
# HELP arena_cloud_machines Cloud machines Arena manages, by region, provider and state.
# TYPE arena_cloud_machines gauge
arena_cloud_machines{provider="hetzner",region="europe",state="joining"} 1
arena_cloud_machines{provider="hetzner",region="europe",state="ready"} 1
# HELP arena_cloud_cost_per_hour What a region's cloud machines that exist, or are on their way, cost an hour.
# TYPE arena_cloud_cost_per_hour gauge
arena_cloud_cost_per_hour{region="europe"} 0.08
`
	if err := testutil.ScrapeAndCompare(url, strings.NewReader(want), "arena_cloud_orders_total", "arena_cloud_machines", "arena_cloud_cost_per_hour"); err != nil {
		t.Error(err)
	}
	joins := scrape(t, url)["arena_cloud_join_seconds"]
	if joins == nil || len(joins.Metric) != 1 || joins.Metric[0].GetHistogram().GetSampleCount() != 1 || joins.Metric[0].GetHistogram().GetSampleSum() != 42 {
		t.Errorf("arena_cloud_join_seconds: %v; want one join of 42s", joins)
	}
}

// TestConcurrentUse runs every method from several goroutines while
// scraping, for the race detector, and checks that nothing was lost.
func TestConcurrentUse(t *testing.T) {
	t.Parallel()
	r := metrics.New()
	url := serve(t, r)
	const workers, each = 8, 50

	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for range each {
				r.ObserveAllocation(time.Millisecond, metrics.AllocationPlaced)
				r.AgentConnected()()
				r.AgentHeartbeat()
				r.DockerCall("inspect", time.Now(), nil)
				r.HTTPRequest("GET /session", 200, time.Millisecond)
				r.Error(arena.Errorf(arena.ENOTFOUND, "x"))
				r.WebhookDelivery(metrics.WebhookDelivered)
				r.SetSessionSource(func() []metrics.SessionCount { return []metrics.SessionCount{{"running", "eu-1", 1}} })
			}
		})
	}
	wg.Go(func() {
		for range 5 {
			res, err := http.Get(url)
			if err != nil {
				t.Error(err)
				return
			}
			_, _ = io.Copy(io.Discard, res.Body)
			res.Body.Close()
		}
	})
	wg.Wait()

	fams := scrape(t, url)
	const n = workers * each
	wantValue(t, fams, n, "arena_allocation_seconds", "result=placed")
	wantValue(t, fams, 0, "arena_agent_connections")
	wantValue(t, fams, n, "arena_agent_heartbeats_total")
	wantValue(t, fams, n, "arena_docker_call_seconds", "op=inspect", "result=ok")
	wantValue(t, fams, n, "arena_http_requests_total", "code=200", "route=GET /session")
	wantValue(t, fams, n, "arena_errors_total", "code=not_found")
	wantValue(t, fams, n, "arena_webhook_deliveries_total", "result=delivered")
	wantValue(t, fams, 1, "arena_sessions", "location=eu-1", "state=running")
}

// TestDockerRuntime reports the calls of a real docker.Runtime.
func TestDockerRuntime(t *testing.T) {
	t.Parallel()
	r := metrics.New()
	rt := docker.NewRuntime(dockertest.Runtime(t).Client(), docker.WithMetrics(r))
	ctx := context.Background()
	if err := rt.Ping(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := rt.Inspect(ctx, "arena-test-missing-"+dockertest.RandomID()); arena.ErrorCode(err) != arena.ENOTFOUND {
		t.Fatalf("Inspect of a missing container: %v", err)
	}
	fams := scrape(t, serve(t, r))
	wantValue(t, fams, 1, "arena_docker_call_seconds", "op=ping", "result=ok")
	wantValue(t, fams, 1, "arena_docker_call_seconds", "op=inspect", "result=not_found")
}
