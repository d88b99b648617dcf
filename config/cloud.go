package config

import (
	"cmp"
	"fmt"
	"slices"
	"time"

	"github.com/arena-hq/arena"
)

// Cloud is how Arena adds and retires cloud capacity itself: the providers
// it may order machines from and, per region, the scaling policy.
type Cloud struct {
	// Servers are the control plane's URLs new machines' agents join; the
	// advertised or listen address when empty.
	Servers []string `yaml:"servers"`
	// AgentURL is where a cloud machine's boot script fetches the arena
	// binary; empty for an image that has it installed.
	AgentURL string `yaml:"agentUrl"`
	// Interval is how often the scaler looks (default 2s); CallTimeout
	// bounds each call to a provider (default 1m).
	Interval    Duration        `yaml:"interval"`
	CallTimeout Duration        `yaml:"callTimeout"`
	Providers   []CloudProvider `yaml:"providers"`
	Regions     []Scaling       `yaml:"regions"`
}

// CloudProvider is a provider Arena may order machines from.
type CloudProvider struct {
	Name string `yaml:"name"`
	// Type is local: machines as agent processes on this machine, for
	// development and tests.
	Type string `yaml:"type"`
	// Dir keeps a local provider's machines (default <data>/machines);
	// Binary is the arena executable its agents run (default this one);
	// PortBase and PortsPerMachine give each its own host ports.
	Dir             string `yaml:"dir"`
	Binary          string `yaml:"binary"`
	PortBase        int    `yaml:"portBase"`
	PortsPerMachine int    `yaml:"portsPerMachine"`
}

// Scaling is one region's scaling policy, as arena.ScalingPolicy.
type Scaling struct {
	Region            string   `yaml:"region"`
	Offers            []Offer  `yaml:"offers"`
	Buffer            Buffer   `yaml:"buffer"`
	MinNodes          int      `yaml:"minNodes"`
	MaxNodes          int      `yaml:"maxNodes"`
	MaxCostPerHour    float64  `yaml:"maxCostPerHour"`
	ScaleUpCooldown   Duration `yaml:"scaleUpCooldown"`
	ScaleDownCooldown Duration `yaml:"scaleDownCooldown"`
	IdleTimeout       Duration `yaml:"idleTimeout"`
	JoinTimeout       Duration `yaml:"joinTimeout"`
}

// Offer is a kind of machine a provider adds, as arena.MachineOffer.
type Offer struct {
	Provider     string  `yaml:"provider"`
	Region       string  `yaml:"region"`
	Location     string  `yaml:"location"`
	InstanceType string  `yaml:"instanceType"`
	Image        string  `yaml:"image"`
	CostPerHour  float64 `yaml:"costPerHour"`
	MilliCPU     int64   `yaml:"milliCpu"`
	MemoryMB     int64   `yaml:"memoryMb"`
}

// Buffer is the free room a region keeps: sessions of an application (of
// org, the file's organisation when empty), or milliCpu and memoryMb.
type Buffer struct {
	Sessions    int    `yaml:"sessions"`
	Org         string `yaml:"org"`
	Application string `yaml:"application"`
	MilliCPU    int64  `yaml:"milliCpu"`
	MemoryMB    int64  `yaml:"memoryMb"`
}

// Defaults of the scaling policies.
const (
	defaultIdleTimeout = 10 * time.Minute
	defaultJoinTimeout = 10 * time.Minute
	defaultCooldown    = 30 * time.Second
)

// ScalingPolicies returns the file's scaling policies, checked against its
// providers.
func (c *Config) ScalingPolicies() ([]arena.ScalingPolicy, error) {
	names := map[string]bool{}
	for i, p := range c.Cloud.Providers {
		switch {
		case p.Name == "":
			return nil, fmt.Errorf("cloud.providers[%d] needs a name", i)
		case names[p.Name]:
			return nil, fmt.Errorf("cloud.providers[%d]: %s is named twice", i, p.Name)
		case p.Type != "local":
			return nil, fmt.Errorf("cloud.providers[%d] (%s): type must be local", i, p.Name)
		}
		names[p.Name] = true
	}
	var out []arena.ScalingPolicy
	seen := map[string]bool{}
	for i, r := range c.Cloud.Regions {
		where := fmt.Sprintf("cloud.regions[%d] (%s)", i, r.Region)
		if r.Region == "" || seen[r.Region] {
			return nil, fmt.Errorf("%s: needs a region of its own", where)
		}
		seen[r.Region] = true
		p := arena.ScalingPolicy{
			Region: r.Region, MinNodes: r.MinNodes, MaxNodes: r.MaxNodes, MaxCostPerHour: r.MaxCostPerHour,
			ScaleUpCooldown: pickDuration(r.ScaleUpCooldown, defaultCooldown), ScaleDownCooldown: pickDuration(r.ScaleDownCooldown, defaultCooldown),
			IdleTimeout: pickDuration(r.IdleTimeout, defaultIdleTimeout), JoinTimeout: pickDuration(r.JoinTimeout, defaultJoinTimeout),
			Buffer: arena.ScalingBuffer{Sessions: r.Buffer.Sessions, OrgID: r.Buffer.Org, Application: r.Buffer.Application,
				Resources: arena.Resources{MilliCPU: r.Buffer.MilliCPU, MemoryMB: r.Buffer.MemoryMB}},
		}
		if p.Buffer.OrgID == "" {
			p.Buffer.OrgID = c.OrgID
		}
		switch {
		case len(r.Offers) == 0:
			return nil, fmt.Errorf("%s: needs at least one offer", where)
		case r.MinNodes < 0 || r.MaxNodes < 1 || r.MinNodes > r.MaxNodes:
			return nil, fmt.Errorf("%s: maxNodes must be at least 1 and at least minNodes", where)
		case r.Buffer.Sessions < 0 || r.Buffer.MilliCPU < 0 || r.Buffer.MemoryMB < 0 || r.MaxCostPerHour < 0:
			return nil, fmt.Errorf("%s: the buffer and the cost ceiling must not be negative", where)
		case r.Buffer.Sessions > 0 && r.Buffer.Application == "":
			return nil, fmt.Errorf("%s: a buffer in sessions names their application", where)
		}
		for j, o := range r.Offers {
			if !names[o.Provider] {
				return nil, fmt.Errorf("%s: offers[%d] names provider %q, which cloud.providers lacks", where, j, o.Provider)
			}
			if o.Location == "" || o.MilliCPU <= 0 || o.MemoryMB <= 0 || o.CostPerHour < 0 {
				return nil, fmt.Errorf("%s: offers[%d] needs a location, milliCpu and memoryMb, and a cost not negative", where, j)
			}
			p.Offers = append(p.Offers, arena.MachineOffer{Provider: o.Provider, Region: o.Region, Location: o.Location,
				InstanceType: o.InstanceType, Image: o.Image, CostPerHour: o.CostPerHour, Capacity: arena.Resources{MilliCPU: o.MilliCPU, MemoryMB: o.MemoryMB}})
		}
		out = append(out, p)
	}
	slices.SortFunc(out, func(a, b arena.ScalingPolicy) int { return cmp.Compare(a.Region, b.Region) })
	return out, nil
}

func pickDuration(d Duration, def time.Duration) time.Duration {
	if d > 0 {
		return time.Duration(d)
	}
	return def
}
