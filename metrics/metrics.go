// Package metrics owns Arena's Prometheus metrics: a Registry of its own
// (never the global default one, so that tests and several servers in one
// process do not collide), typed methods for each instrumentation point, and
// the handler that exposes them, meant for a listener of its own.
//
// Callers never touch Prometheus types. A nil *Registry is valid: its
// methods do nothing, so instrumented code runs the same without metrics.
package metrics

import (
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/arena-hq/arena"
)

// Results of a placement (POST /session), the result label of
// arena_allocation_seconds.
const (
	AllocationPlaced      = "placed"      // the session was placed
	AllocationUnavailable = "unavailable" // no capacity, or rate limited
	AllocationInvalid     = "invalid"     // the caller's fault: invalid, unknown image or location, id taken, unauthorized
	AllocationError       = "error"       // a fault of Arena's own
)

// Results of a webhook delivery, the result label of
// arena_webhook_deliveries_total.
const (
	WebhookDelivered = "delivered" // the receiver accepted it
	WebhookFailed    = "failed"    // one attempt failed; it will be retried
	WebhookGivenUp   = "given_up"  // every attempt failed
	WebhookDropped   = "dropped"   // never attempted, e.g. its queue was full
)

// resultOK is the result label of a Docker call that succeeded; a failed
// one has its arena error code.
const resultOK = "ok"

// unmatchedRoute is the route label of a request that matched no route.
const unmatchedRoute = "unmatched"

var (
	// Placement takes well under a millisecond in memory and a few
	// milliseconds with the store's write.
	allocationBuckets = []float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1}
	// Engine calls range from an inspect of a millisecond to a pull of
	// minutes.
	dockerBuckets = []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 120, 300}
	httpBuckets   = []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10}
)

// Registry owns Arena's metrics. It is safe for concurrent use; the zero
// value is not usable: call New. A nil *Registry does nothing.
type Registry struct {
	reg *prometheus.Registry

	allocation   *prometheus.HistogramVec
	agentConns   prometheus.Gauge
	heartbeats   prometheus.Counter
	dockerCalls  *prometheus.HistogramVec
	httpRequests *prometheus.CounterVec
	httpSeconds  *prometheus.HistogramVec
	errors       *prometheus.CounterVec
	webhooks     *prometheus.CounterVec
	sessions     *sessionCollector
	nodes        *nodeCollector
	pools        *poolCollector
	cloud        *cloudMetrics
}

// New returns a Registry holding every Arena metric and the Go runtime's and
// process's collectors.
func New() *Registry {
	r := &Registry{
		reg: prometheus.NewRegistry(),
		allocation: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "arena_allocation_seconds",
			Help:    "Latency of placing a session (POST /session), by result: placed, unavailable, invalid or error.",
			Buckets: allocationBuckets,
		}, []string{"result"}),
		agentConns: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "arena_agent_connections",
			Help: "Agents with an open assignment stream.",
		}),
		heartbeats: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "arena_agent_heartbeats_total",
			Help: "Heartbeats received from agents.",
		}),
		dockerCalls: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "arena_docker_call_seconds",
			Help:    "Latency of calls to the Docker Engine, by operation and result (ok or an arena error code).",
			Buckets: dockerBuckets,
		}, []string{"op", "result"}),
		httpRequests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "arena_http_requests_total",
			Help: "HTTP requests served, by route pattern and status code.",
		}, []string{"route", "code"}),
		httpSeconds: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "arena_http_request_seconds",
			Help:    "Latency of HTTP requests, by route pattern.",
			Buckets: httpBuckets,
		}, []string{"route"}),
		errors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "arena_errors_total",
			Help: "Errors answered, by arena error code.",
		}, []string{"code"}),
		webhooks: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "arena_webhook_deliveries_total",
			Help: "Webhook deliveries, by result: delivered, failed, given_up or dropped.",
		}, []string{"result"}),
		sessions: &sessionCollector{desc: prometheus.NewDesc(
			"arena_sessions",
			"Active sessions, by state and location.",
			[]string{"state", "location"}, nil,
		)},
		nodes: newNodeCollector(),
		pools: newPoolCollector(),
		cloud: newCloudMetrics(),
	}
	r.reg.MustRegister(
		r.allocation, r.agentConns, r.heartbeats, r.dockerCalls,
		r.httpRequests, r.httpSeconds, r.errors, r.webhooks,
		r.sessions, r.nodes, r.pools, r.cloud,
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	)
	return r
}

// Handler serves the registry's metrics in the Prometheus exposition
// formats, for a listener of its own. A nil Registry's handler answers 404.
func (r *Registry) Handler() http.Handler {
	if r == nil {
		return http.NotFoundHandler()
	}
	return promhttp.HandlerFor(r.reg, promhttp.HandlerOpts{
		// A collector that fails leaves the others' metrics served;
		// promhttp_metric_handler_errors_total counts the failures.
		ErrorHandling: promhttp.ContinueOnError,
		Registry:      r.reg,
	})
}

// ObserveAllocation records how long placing a session took and its result,
// one of the Allocation* constants; any other result counts as
// AllocationError.
func (r *Registry) ObserveAllocation(d time.Duration, result string) {
	if r == nil {
		return
	}
	switch result {
	case AllocationPlaced, AllocationUnavailable, AllocationInvalid, AllocationError:
	default:
		result = AllocationError
	}
	r.allocation.WithLabelValues(result).Observe(d.Seconds())
}

// Allocation records a placement that began at start and ended with err,
// classified by AllocationResult.
func (r *Registry) Allocation(start time.Time, err error) {
	if r == nil {
		return
	}
	r.ObserveAllocation(time.Since(start), AllocationResult(err))
}

// AllocationResult classifies the outcome of a placement by err's arena
// code: placed for nil, unavailable for EUNAVAILABLE, error for EINTERNAL
// (or no arena code), and invalid for the caller's faults.
func AllocationResult(err error) string {
	switch arena.ErrorCode(err) {
	case "":
		return AllocationPlaced
	case arena.EUNAVAILABLE:
		return AllocationUnavailable
	case arena.EINVALID, arena.ENOTFOUND, arena.ECONFLICT, arena.EUNAUTHORIZED, arena.EFORBIDDEN, arena.EQUOTA:
		return AllocationInvalid
	}
	return AllocationError
}

// AgentConnected counts an agent's assignment stream as open until the
// returned function is called, which is safe to call more than once.
func (r *Registry) AgentConnected() (disconnected func()) {
	if r == nil {
		return func() {}
	}
	r.agentConns.Inc()
	var once sync.Once
	return func() { once.Do(r.agentConns.Dec) }
}

// AgentHeartbeat counts a heartbeat received from an agent.
func (r *Registry) AgentHeartbeat() {
	if r == nil {
		return
	}
	r.heartbeats.Inc()
}

// DockerCall records a call to the Docker Engine of operation op (start,
// stop, remove, inspect, list, logs, copy, pull, ...) that began at start and
// ended with err: its result is ok, or err's arena error code. It makes
// *Registry a docker.Observer.
func (r *Registry) DockerCall(op string, start time.Time, err error) {
	if r == nil {
		return
	}
	result := resultOK
	if err != nil {
		result = arena.ErrorCode(err)
	}
	r.dockerCalls.WithLabelValues(op, result).Observe(time.Since(start).Seconds())
}

// HTTPRequest records a request served by route, the pattern of the mux
// that matched it (e.g. "POST /session", never the raw path; "" for none),
// with status code and latency d.
func (r *Registry) HTTPRequest(route string, code int, d time.Duration) {
	if r == nil {
		return
	}
	if route == "" {
		route = unmatchedRoute
	}
	r.httpRequests.WithLabelValues(route, strconv.Itoa(code)).Inc()
	r.httpSeconds.WithLabelValues(route).Observe(d.Seconds())
}

// Error counts an error answered to a caller by its arena code
// (arena.ErrorCode); nil is not counted.
func (r *Registry) Error(err error) {
	if r == nil || err == nil {
		return
	}
	r.errors.WithLabelValues(arena.ErrorCode(err)).Inc()
}

// WebhookDelivery counts a webhook delivery with its result, one of the
// Webhook* constants; any other result counts as WebhookFailed.
func (r *Registry) WebhookDelivery(result string) {
	if r == nil {
		return
	}
	switch result {
	case WebhookDelivered, WebhookFailed, WebhookGivenUp, WebhookDropped:
	default:
		result = WebhookFailed
	}
	r.webhooks.WithLabelValues(result).Inc()
}
