package config

import (
	"cmp"
	"fmt"
	"maps"
	"os"
	"slices"
	"strconv"
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
	// EventsOrg is the organisation whose webhooks receive node.added and
	// node.retired; the file's organisation when empty.
	EventsOrg   string          `yaml:"eventsOrg"`
	Interval    Duration        `yaml:"interval"`
	CallTimeout Duration        `yaml:"callTimeout"`
	Providers   []CloudProvider `yaml:"providers"`
	Regions     []Scaling       `yaml:"regions"`
}

// CloudProvider is a provider Arena may order machines from.
type CloudProvider struct {
	Name string `yaml:"name"`
	// Type is local (machines as agent processes on this machine, for
	// development and tests), hetzner, aws or digitalocean.
	Type string `yaml:"type"`
	// Dir keeps a local provider's machines (default <data>/machines);
	// Binary is the arena executable its agents run (default this one);
	// PortBase and PortsPerMachine give each its own host ports. They are
	// settings of the same names.
	Dir             string `yaml:"dir"`
	Binary          string `yaml:"binary"`
	PortBase        int    `yaml:"portBase"`
	PortsPerMachine int    `yaml:"portsPerMachine"`
	// Settings are the driver's settings that are not secret, such as an
	// AWS provider's region or a Hetzner provider's sshKeys.
	Settings map[string]string `yaml:"settings"`
	// Credentials are its secrets, such as token; CredentialsEnv names,
	// for each, the environment variable that holds it instead, which keeps
	// it out of the file. Either way they are stored only sealed.
	Credentials    map[string]string `yaml:"credentials"`
	CredentialsEnv map[string]string `yaml:"credentialsEnv"`
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

// CloudProviders returns the file's providers, their credentials read
// from the environment where the file names a variable. What each type
// takes is checked when its driver is made.
func (c *Config) CloudProviders() ([]*arena.CloudProvider, error) {
	var out []*arena.CloudProvider
	names := map[string]bool{}
	for i, p := range c.Cloud.Providers {
		where := fmt.Sprintf("cloud.providers[%d] (%s)", i, p.Name)
		cp := &arena.CloudProvider{Name: p.Name, Type: p.Type, Settings: maps.Clone(p.Settings), Credentials: maps.Clone(p.Credentials)}
		if names[p.Name] {
			return nil, fmt.Errorf("%s: the name is taken by another provider", where)
		}
		names[p.Name] = true
		set := func(k, v string) {
			if v != "" {
				if cp.Settings == nil {
					cp.Settings = map[string]string{}
				}
				cp.Settings[k] = v
			}
		}
		set("dir", p.Dir)
		set("binary", p.Binary)
		if p.PortBase != 0 {
			set("portBase", strconv.Itoa(p.PortBase))
		}
		if p.PortsPerMachine != 0 {
			set("portsPerMachine", strconv.Itoa(p.PortsPerMachine))
		}
		for _, k := range slices.Sorted(maps.Keys(p.CredentialsEnv)) {
			env := p.CredentialsEnv[k]
			if _, both := p.Credentials[k]; both {
				return nil, fmt.Errorf("%s: credential %s is given both in credentials and in credentialsEnv", where, k)
			}
			v, ok := os.LookupEnv(env)
			if !ok || v == "" {
				return nil, fmt.Errorf("%s: credentialsEnv.%s names %s, which is not set", where, k, env)
			}
			if cp.Credentials == nil {
				cp.Credentials = map[string]string{}
			}
			cp.Credentials[k] = v
		}
		if err := cp.Validate(); err != nil {
			return nil, fmt.Errorf("%s: %s", where, violations(err))
		}
		out = append(out, cp)
	}
	return out, nil
}

// ScalingPolicies returns the file's scaling policies, checked against its
// providers.
func (c *Config) ScalingPolicies() ([]arena.ScalingPolicy, error) {
	providers, err := c.CloudProviders()
	if err != nil {
		return nil, err
	}
	names := map[string]bool{}
	for _, p := range providers {
		names[p.Name] = true
	}
	var out []arena.ScalingPolicy
	seen := map[string]bool{}
	for i, r := range c.Cloud.Regions {
		where := fmt.Sprintf("cloud.regions[%d] (%s)", i, r.Region)
		if seen[r.Region] {
			return nil, fmt.Errorf("%s: needs a region of its own", where)
		}
		seen[r.Region] = true
		p := arena.ScalingPolicy{
			Region: r.Region, MinNodes: r.MinNodes, MaxNodes: r.MaxNodes, MaxCostPerHour: r.MaxCostPerHour,
			ScaleUpCooldown: pickDuration(r.ScaleUpCooldown, arena.DefaultScaleCooldown), ScaleDownCooldown: pickDuration(r.ScaleDownCooldown, arena.DefaultScaleCooldown),
			IdleTimeout: pickDuration(r.IdleTimeout, arena.DefaultIdleTimeout), JoinTimeout: pickDuration(r.JoinTimeout, arena.DefaultJoinTimeout),
			Buffer: arena.ScalingBuffer{Sessions: r.Buffer.Sessions, OrgID: r.Buffer.Org, Application: r.Buffer.Application,
				Resources: arena.Resources{MilliCPU: r.Buffer.MilliCPU, MemoryMB: r.Buffer.MemoryMB}},
		}
		if p.Buffer.OrgID == "" {
			p.Buffer.OrgID = c.OrgID
		}
		for _, o := range r.Offers {
			p.Offers = append(p.Offers, arena.MachineOffer{Provider: o.Provider, Region: o.Region, Location: o.Location,
				InstanceType: o.InstanceType, Image: o.Image, CostPerHour: o.CostPerHour, Capacity: arena.Resources{MilliCPU: o.MilliCPU, MemoryMB: o.MemoryMB}})
		}
		if err := p.Validate(func(name string) bool { return names[name] }); err != nil {
			return nil, fmt.Errorf("%s: %s", where, violations(err))
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
