package metrics

import (
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/arena-hq/arena"
)

// SessionCount is how many sessions are in one state at one location.
type SessionCount struct {
	State    string // an arena.SessionState
	Location string
	N        int
}

// NodeSample is one node's capacity and usage at scrape time.
type NodeSample struct {
	Node     string // the node's id
	Region   string
	Location string
	Class    string // metal or cloud
	State    string // ready, draining, unreachable or waiting (arena.NodeStatus.State)

	CapacityMilliCPU int64
	CapacityMemoryMB int64
	UsedMilliCPU     int64
	UsedMemoryMB     int64
	FreePorts        int
	Sessions         int
}

// NodeSamples converts the control plane's view of its nodes.
func NodeSamples(nodes []arena.NodeStatus) []NodeSample {
	out := make([]NodeSample, len(nodes))
	for i, n := range nodes {
		out[i] = NodeSample{
			Node: n.ID, Region: n.Region, Location: n.Location, Class: string(n.Class), State: n.State,
			CapacityMilliCPU: n.Capacity.MilliCPU, CapacityMemoryMB: n.Capacity.MemoryMB,
			UsedMilliCPU: n.Used.MilliCPU, UsedMemoryMB: n.Used.MemoryMB,
			FreePorts: n.FreePorts, Sessions: n.Sessions,
		}
	}
	return out
}

// SetSessionSource makes arena_sessions report what f returns, asked at each
// scrape, so that nothing has to keep gauges in step with the sessions. A
// state and location that f leaves out has no series; counts f returns for
// the same pair are added up. nil stops reporting; a later call replaces f.
func (r *Registry) SetSessionSource(f func() []SessionCount) {
	if r == nil {
		return
	}
	r.sessions.source.Store(&f)
}

// SetNodeSource makes the arena_node_* gauges report what f returns, asked
// at each scrape (e.g. NodeSamples of the control plane's nodes). A node
// that f returns twice is reported once, as first returned. nil stops
// reporting; a later call replaces f.
func (r *Registry) SetNodeSource(f func() []NodeSample) {
	if r == nil {
		return
	}
	r.nodes.source.Store(&f)
}

// sessionCollector reports arena_sessions from a callback.
type sessionCollector struct {
	desc   *prometheus.Desc
	source atomic.Pointer[func() []SessionCount]
}

func (c *sessionCollector) Describe(ch chan<- *prometheus.Desc) { ch <- c.desc }

func (c *sessionCollector) Collect(ch chan<- prometheus.Metric) {
	f := c.source.Load()
	if f == nil || *f == nil {
		return
	}
	type key struct{ state, location string }
	counts := map[key]int{}
	var order []key
	for _, sc := range (*f)() {
		k := key{sc.State, sc.Location}
		if _, ok := counts[k]; !ok {
			order = append(order, k)
		}
		counts[k] += sc.N
	}
	for _, k := range order {
		ch <- prometheus.MustNewConstMetric(c.desc, prometheus.GaugeValue, float64(counts[k]), k.state, k.location)
	}
}

// nodeCollector reports the arena_node_* gauges from a callback.
type nodeCollector struct {
	capacityCPU, capacityMemory, usedCPU, usedMemory, freePorts, sessions *prometheus.Desc

	source atomic.Pointer[func() []NodeSample]
}

func newNodeCollector() *nodeCollector {
	labels := []string{"node", "region", "location", "class", "state"}
	desc := func(name, help string) *prometheus.Desc { return prometheus.NewDesc(name, help, labels, nil) }
	return &nodeCollector{
		capacityCPU:    desc("arena_node_capacity_millicpu", "CPU a node offers to sessions, in thousandths of a core."),
		capacityMemory: desc("arena_node_capacity_memory_mb", "Memory a node offers to sessions, in MiB."),
		usedCPU:        desc("arena_node_used_millicpu", "CPU reserved by a node's sessions, in thousandths of a core."),
		usedMemory:     desc("arena_node_used_memory_mb", "Memory reserved by a node's sessions, in MiB."),
		freePorts:      desc("arena_node_free_ports", "Host ports of a node's range that neither a session nor anything else on the node holds."),
		sessions:       desc("arena_node_sessions", "Sessions placed on a node."),
	}
}

func (c *nodeCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.capacityCPU, c.capacityMemory, c.usedCPU, c.usedMemory, c.freePorts, c.sessions} {
		ch <- d
	}
}

func (c *nodeCollector) Collect(ch chan<- prometheus.Metric) {
	f := c.source.Load()
	if f == nil || *f == nil {
		return
	}
	seen := map[string]bool{}
	for _, n := range (*f)() {
		if seen[n.Node] {
			continue
		}
		seen[n.Node] = true
		labels := []string{n.Node, n.Region, n.Location, n.Class, n.State}
		for _, m := range []struct {
			desc *prometheus.Desc
			v    float64
		}{
			{c.capacityCPU, float64(n.CapacityMilliCPU)},
			{c.capacityMemory, float64(n.CapacityMemoryMB)},
			{c.usedCPU, float64(n.UsedMilliCPU)},
			{c.usedMemory, float64(n.UsedMemoryMB)},
			{c.freePorts, float64(n.FreePorts)},
			{c.sessions, float64(n.Sessions)},
		} {
			ch <- prometheus.MustNewConstMetric(m.desc, prometheus.GaugeValue, m.v, labels...)
		}
	}
}

// SetPoolSource makes the arena_warm_pool_* gauges report what f returns,
// asked at each scrape (the control plane's arena.PoolStatus). nil stops
// reporting; a later call replaces f.
func (r *Registry) SetPoolSource(f func() []arena.PoolStatus) {
	if r == nil {
		return
	}
	r.pools.source.Store(&f)
}

// poolCollector reports the arena_warm_pool_* gauges from a callback.
type poolCollector struct {
	size, sessions *prometheus.Desc
	source         atomic.Pointer[func() []arena.PoolStatus]
}

func newPoolCollector() *poolCollector {
	return &poolCollector{
		size: prometheus.NewDesc("arena_warm_pool_size", "Sessions a warm pool keeps started and ready.",
			[]string{"org", "application", "pool"}, nil),
		sessions: prometheus.NewDesc("arena_warm_pool_sessions", "Sessions waiting in a warm pool, by node and state: ready to claim, or warming (starting).",
			[]string{"org", "application", "pool", "node", "state"}, nil),
	}
}

func (c *poolCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.size
	ch <- c.sessions
}

func (c *poolCollector) Collect(ch chan<- prometheus.Metric) {
	f := c.source.Load()
	if f == nil || *f == nil {
		return
	}
	seen := map[[2]string]bool{}
	for _, p := range (*f)() {
		k := [2]string{p.OrgID, p.Key()}
		if seen[k] {
			continue
		}
		seen[k] = true
		ch <- prometheus.MustNewConstMetric(c.size, prometheus.GaugeValue, float64(p.Size), p.OrgID, p.Application, p.Key())
		for _, n := range p.Nodes {
			ch <- prometheus.MustNewConstMetric(c.sessions, prometheus.GaugeValue, float64(n.Ready), p.OrgID, p.Application, p.Key(), n.NodeID, "ready")
			ch <- prometheus.MustNewConstMetric(c.sessions, prometheus.GaugeValue, float64(n.Warming), p.OrgID, p.Application, p.Key(), n.NodeID, "warming")
		}
	}
}
