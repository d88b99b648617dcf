package metrics

import (
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/arena-hq/arena"
)

// Machines take minutes to boot and join.
var joinBuckets = []float64{1, 5, 10, 20, 30, 45, 60, 90, 120, 180, 300, 600, 1200}

// cloudMetrics are the scaler's: its orders and how long machines took to
// join, as they happen, and its machines by state and their cost, asked at
// each scrape.
type cloudMetrics struct {
	orders   *prometheus.CounterVec
	joins    *prometheus.HistogramVec
	machines *prometheus.Desc
	cost     *prometheus.Desc
	source   atomic.Pointer[func() []*arena.CloudMachine]
}

func newCloudMetrics() *cloudMetrics {
	return &cloudMetrics{
		orders: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "arena_cloud_orders_total",
			Help: "Cloud machines ordered, by provider and result: ok or the arena error code of the provider's refusal.",
		}, []string{"provider", "result"}),
		joins: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "arena_cloud_join_seconds", Help: "Time from a cloud machine's order to its node joining, by provider.", Buckets: joinBuckets,
		}, []string{"provider"}),
		machines: prometheus.NewDesc("arena_cloud_machines", "Cloud machines Arena manages, by region, provider and state.",
			[]string{"region", "provider", "state"}, nil),
		cost: prometheus.NewDesc("arena_cloud_cost_per_hour", "What a region's cloud machines that exist, or are on their way, cost an hour.",
			[]string{"region"}, nil),
	}
}

func (c *cloudMetrics) Describe(ch chan<- *prometheus.Desc) {
	c.orders.Describe(ch)
	c.joins.Describe(ch)
	ch <- c.machines
	ch <- c.cost
}

func (c *cloudMetrics) Collect(ch chan<- prometheus.Metric) {
	c.orders.Collect(ch)
	c.joins.Collect(ch)
	f := c.source.Load()
	if f == nil || *f == nil {
		return
	}
	type key struct{ region, provider, state string }
	counts := map[key]int{}
	cost := map[string]float64{}
	for _, m := range (*f)() {
		if m.State == arena.MachineDeleted || m.State == arena.MachineFailed {
			continue // kept for the record, not machines
		}
		counts[key{m.Region, m.Provider, string(m.State)}]++
		cost[m.Region] += m.CostPerHour
	}
	for k, n := range counts {
		ch <- prometheus.MustNewConstMetric(c.machines, prometheus.GaugeValue, float64(n), k.region, k.provider, k.state)
	}
	for region, v := range cost {
		ch <- prometheus.MustNewConstMetric(c.cost, prometheus.GaugeValue, v, region)
	}
}

// SetCloudSource makes arena_cloud_machines and arena_cloud_cost_per_hour
// report the machines f returns, asked at each scrape. nil stops reporting.
func (r *Registry) SetCloudSource(f func() []*arena.CloudMachine) {
	if r == nil {
		return
	}
	r.cloud.source.Store(&f)
}

// MachineOrdered counts an order of a cloud machine from provider; err is
// the provider's refusal, nil when it took the order.
func (r *Registry) MachineOrdered(provider string, err error) {
	if r == nil {
		return
	}
	result := "ok"
	if err != nil {
		result = arena.ErrorCode(err)
	}
	r.cloud.orders.WithLabelValues(provider, result).Inc()
}

// MachineJoined measures how long a machine of provider took from its
// order to its node joining, in seconds.
func (r *Registry) MachineJoined(provider string, seconds float64) {
	if r == nil {
		return
	}
	r.cloud.joins.WithLabelValues(provider).Observe(seconds)
}
