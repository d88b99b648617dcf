// Package config reads Arena's configuration file: the applications and
// locations a control plane offers and the settings of `arena dev`.
package config

import (
	"bytes"
	_ "embed"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/arena-hq/arena"
	"github.com/arena-hq/arena/imageref"
)

// Default is the configuration used when no file is named; it is also the
// checked-in example, config/arena.yaml.
//
//go:embed arena.yaml
var Default []byte

// Config is the content of a configuration file.
type Config struct {
	Listen string `yaml:"listen"`
	Data   string `yaml:"data"`
	// Store is a postgres:// URL to keep the state in PostgreSQL; empty
	// keeps it in SQLite in the data directory.
	Store string `yaml:"store"`
	// LeaderLease is how long the leading replica's lease on a PostgreSQL
	// store lasts from its last renewal (default 3s, from 1s to 1m): about
	// how long the replicas stay without a leader when it freezes or loses
	// the database. Replicas should share it.
	LeaderLease Duration `yaml:"leaderLease"`
	// ResyncTimeout bounds how long a control plane that starts, or takes
	// the lead, waits before placing for the agents of the nodes last seen
	// alive to report (default: the heartbeat timeout).
	ResyncTimeout Duration `yaml:"resyncTimeout"`
	// MetricsListen serves Prometheus metrics at /metrics; empty serves none.
	MetricsListen string `yaml:"metricsListen"`
	PublicIP      string `yaml:"publicIP"`
	BindIP        string `yaml:"bindIP"`
	PortRange     string `yaml:"portRange"`
	Placement     string `yaml:"placement"`
	// DemoImage is built from the arena executable itself (which runs the
	// echo game server as `arena echo`) when an application needs it and the
	// engine lacks it, so that the quickstart needs no registry.
	DemoImage string `yaml:"demoImage"`
	// Restart tunes how the agent restarts crashed sessions (restart: true).
	Restart Restart `yaml:"restart"`
	// ArtifactRetention is how long a stopped session's artifacts are kept
	// (default 24h); ArtifactMaxMB caps one session's (default 100).
	ArtifactRetention Duration `yaml:"artifactRetention"`
	ArtifactMaxMB     int64    `yaml:"artifactMaxMb"`
	// OrgID owns the applications that name no organisation.
	OrgID        string           `yaml:"org"`
	Node         Node             `yaml:"node"`
	Locations    []arena.Location `yaml:"locations"`
	Applications []Application    `yaml:"applications"`
	// Cloud is the cloud capacity Arena adds and retires itself.
	Cloud Cloud `yaml:"cloud"`
	// Rates price an hour of a session per resource profile, for usage reports.
	Rates []Rate `yaml:"rates"`
	// Currency is the ISO 4217 code of the rates' currency, which usage
	// reports name; empty leaves it to the API's default, EUR.
	Currency string `yaml:"currency"`
	// RateLimit is the default request rate of an API token.
	RateLimit RateLimit `yaml:"rateLimit"`
	// HTTP bounds what a slow or idle client may hold of the API's server.
	HTTP HTTPServer `yaml:"http"`
	// SecretKey seals registry passwords in the store: base64 of 32 bytes.
	// Empty keeps a generated key in the data directory.
	SecretKey string `yaml:"secretKey"`
	// Quotas bound organisations' active sessions. Each quota the file
	// names is applied at every start and belongs to the file: the admin
	// API cannot change it.
	Quotas []Quota `yaml:"quotas"`
}

// Quota is an organisation's quota as the file describes it; a zero or
// absent bound is no bound.
type Quota struct {
	Org         string `yaml:"org"`
	MaxSessions int    `yaml:"maxSessions"`
	MaxMilliCPU int64  `yaml:"maxMilliCpu"`
}

// OrgQuotas returns the configured quotas by organisation, checked.
func (c *Config) OrgQuotas() (map[string]arena.Quota, error) {
	out := make(map[string]arena.Quota, len(c.Quotas))
	for i, q := range c.Quotas {
		where := fmt.Sprintf("quotas[%d] (%s)", i, q.Org)
		if bad := arena.ValidName("org", q.Org); bad != nil {
			return nil, fmt.Errorf("%s: org %s", where, bad.Description)
		}
		if _, dup := out[q.Org]; dup {
			return nil, fmt.Errorf("%s: defined twice", where)
		}
		quota := arena.Quota{MaxSessions: q.MaxSessions, MaxMilliCPU: q.MaxMilliCPU}
		if err := quota.Validate(); err != nil {
			return nil, fmt.Errorf("%s: %s", where, violations(err))
		}
		out[q.Org] = quota
	}
	return out, nil
}

// violations joins an EINVALID's violations into one line.
func violations(err error) string {
	var parts []string
	for _, v := range arena.ErrorViolations(err) {
		parts = append(parts, v.Field+" "+v.Description)
	}
	return strings.Join(parts, "; ")
}

// RateLimit is a request rate with bursts; zero values take Arena's defaults.
type RateLimit struct {
	PerSecond float64 `yaml:"perSecond"`
	Burst     int     `yaml:"burst"`
}

// HTTPServer tunes the timeouts and limits of the control plane's HTTP
// server; zero values take Arena's defaults (see http.ServerConfig).
type HTTPServer struct {
	// ReadHeaderTimeout bounds sending a request's headers, ReadTimeout
	// its headers and body.
	ReadHeaderTimeout Duration `yaml:"readHeaderTimeout"`
	ReadTimeout       Duration `yaml:"readTimeout"`
	// WriteTimeout bounds an answer; a streamed one (followed logs,
	// artifacts, the agents' streams) has it for each write instead.
	WriteTimeout Duration `yaml:"writeTimeout"`
	// IdleTimeout is how long a kept-alive connection may wait for its next request.
	IdleTimeout Duration `yaml:"idleTimeout"`
	// MaxHeaderBytes bounds a request's line and headers.
	MaxHeaderBytes int `yaml:"maxHeaderBytes"`
}

// Rate is the hourly price of a resource profile.
type Rate struct {
	MilliCPU int64   `yaml:"milliCpu"`
	MemoryMB int64   `yaml:"memoryMb"`
	PerHour  float64 `yaml:"perHour"`
}

// PriceList returns the rates as the domain has them.
func (c *Config) PriceList() []arena.Rate {
	out := make([]arena.Rate, len(c.Rates))
	for i, r := range c.Rates {
		out[i] = arena.Rate{Resources: arena.Resources{MilliCPU: r.MilliCPU, MemoryMB: r.MemoryMB}, PerHour: r.PerHour}
	}
	return out
}

// Restart tunes the agent's restarts of crashed processes.
type Restart struct {
	// Backoff is the delay before the first restart; it doubles per crash up to MaxBackoff.
	Backoff    Duration `yaml:"backoff"`
	MaxBackoff Duration `yaml:"maxBackoff"`
	// CrashLoopLimit consecutive crashes of a process that ran less than
	// StableAfter make the agent give up on the session.
	CrashLoopLimit int      `yaml:"crashLoopLimit"`
	StableAfter    Duration `yaml:"stableAfter"`
}

// Duration is a time.Duration written as "1s", "500ms", "2m".
type Duration time.Duration

// UnmarshalYAML implements yaml.Unmarshaler.
func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	v, err := time.ParseDuration(n.Value)
	if err != nil || v < 0 {
		return fmt.Errorf("line %d: %q is not a duration like 1s or 500ms", n.Line, n.Value)
	}
	*d = Duration(v)
	return nil
}

// Node describes the node `arena dev` runs on.
type Node struct {
	ID       string `yaml:"id"`
	Location string `yaml:"location"`
	Provider string `yaml:"provider"`
	Class    string `yaml:"class"`
	MilliCPU int64  `yaml:"milliCpu"`
	MemoryMB int64  `yaml:"memoryMb"`
	// StartConcurrency is how many containers the node's agent starts at
	// once and StartTimeout each start's deadline, as arena agent's
	// --start-concurrency and --start-timeout; zero takes the defaults.
	StartConcurrency int      `yaml:"startConcurrency"`
	StartTimeout     Duration `yaml:"startTimeout"`
}

// Application is an application as the file describes it.
type Application struct {
	Name       string            `yaml:"name"`
	Org        string            `yaml:"org"`
	Repository string            `yaml:"repository"`
	Tags       []arena.Tag       `yaml:"tags"`
	Ports      []arena.PortSpec  `yaml:"ports"`
	Network    arena.NetworkMode `yaml:"network"`
	// Resources is the reservation placement books per session; Limits,
	// when set, caps the container above it instead of at it.
	Resources arena.Resources `yaml:"resources"`
	Limits    arena.Resources `yaml:"limits"`
	// Regions are where sessions may be placed; empty for anywhere.
	Regions []string `yaml:"regions"`
	// TagKeep bounds how many tags the application keeps; 0 for MaxTags.
	TagKeep int `yaml:"tagKeep"`
	// NodePool is kept and shown, not used for placement.
	NodePool  string            `yaml:"nodePool"`
	Env       map[string]string `yaml:"env"`
	Args      []string          `yaml:"args"`
	StopGrace Duration          `yaml:"stopGrace"`
	// Artifacts are absolute paths kept when a session stops, for download.
	Artifacts []string `yaml:"artifacts"`
	// User is whom the game server runs as ("1000", "1000:1000", or names
	// the image knows); empty for the image's USER. ReadOnlyRootFilesystem
	// makes its root read-only, and Tmpfs lists the paths where it gets a
	// writable tmpfs of its own.
	User                   string   `yaml:"user"`
	ReadOnlyRootFilesystem bool     `yaml:"readOnlyRootFilesystem"`
	Tmpfs                  []string `yaml:"tmpfs"`
	// Pools are its warm pools: sessions kept started and ready in a
	// location (or region) for creates there to claim at once.
	Pools []Pool `yaml:"warmPools"`
	// Readiness is when its game server is ready for players: on its
	// ports (the default) or its process, within a timeout, past which
	// the session fails unless runOnTimeout.
	Readiness Readiness `yaml:"readiness"`
	// Registry holds the credentials of a private registry.
	Registry *Registry `yaml:"registry"`
}

// Pool is a warm pool of an application: size sessions of tag (the
// default tag when empty) kept ready in location; mode is claim (the
// default) or launch.
type Pool struct {
	Location string         `yaml:"location"`
	Tag      string         `yaml:"tag"`
	Size     int            `yaml:"size"`
	Mode     arena.PoolMode `yaml:"mode"`
}

// Readiness is an application's readiness as the file describes it.
type Readiness struct {
	Mode         arena.ReadinessMode `yaml:"mode"`
	Timeout      Duration            `yaml:"timeout"`
	RunOnTimeout bool                `yaml:"runOnTimeout"`
}

// Registry is the login of a private registry. The password is given
// directly or, to keep it out of the file, as the name of an environment
// variable holding it.
type Registry struct {
	Username    string `yaml:"username"`
	Password    string `yaml:"password"`
	PasswordEnv string `yaml:"passwordEnv"`
}

// auth returns the credentials the registry entry names.
func (r *Registry) auth(where string) (*arena.RegistryAuth, error) {
	if r == nil {
		return nil, nil
	}
	switch {
	case r.Username == "":
		return nil, fmt.Errorf("%s: registry.username is required", where)
	case (r.Password == "") == (r.PasswordEnv == ""):
		return nil, fmt.Errorf("%s: registry needs exactly one of password and passwordEnv", where)
	case r.PasswordEnv != "":
		pw, ok := os.LookupEnv(r.PasswordEnv)
		if !ok || pw == "" {
			return nil, fmt.Errorf("%s: registry.passwordEnv names %s, which is not set", where, r.PasswordEnv)
		}
		return &arena.RegistryAuth{Username: r.Username, Password: pw}, nil
	}
	return &arena.RegistryAuth{Username: r.Username, Password: r.Password}, nil
}

// Load reads the file at path, or the default configuration when path is empty.
func Load(path string) (*Config, error) {
	data := Default
	if path != "" {
		var err error
		if data, err = os.ReadFile(path); err != nil {
			return nil, err
		}
	}
	c, err := Parse(data)
	if err != nil && path != "" {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return c, err
}

// Parse decodes and checks a configuration; unknown keys are errors, so that
// a misspelt setting is not silently ignored.
func Parse(data []byte) (*Config, error) {
	c := &Config{}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(c); err != nil {
		return nil, err
	}
	if c.PortRange == "" {
		c.PortRange = "32768-60299"
	}
	if c.OrgID == "" {
		c.OrgID = "dev"
	}
	if c.Placement == "" {
		c.Placement = "pack"
	}
	if _, _, err := c.Ports(); err != nil {
		return nil, err
	}
	if c.Placement != "pack" && c.Placement != "spread" {
		return nil, fmt.Errorf("placement must be pack or spread, not %q", c.Placement)
	}
	if _, err := c.Apps(); err != nil {
		return nil, err
	}
	if _, err := c.OrgQuotas(); err != nil {
		return nil, err
	}
	if _, err := c.ScalingPolicies(); err != nil {
		return nil, err
	}
	if c.RateLimit.PerSecond < 0 || c.RateLimit.Burst < 0 {
		return nil, fmt.Errorf("rateLimit.perSecond and rateLimit.burst must not be negative")
	}
	if c.ArtifactMaxMB < 0 {
		return nil, fmt.Errorf("artifactMaxMb must not be negative")
	}
	if c.Node.StartConcurrency < 0 || c.Node.StartConcurrency > arena.MaxStartConcurrency {
		return nil, fmt.Errorf("node.startConcurrency must be from 1 to %d, or 0 for the default", arena.MaxStartConcurrency)
	}
	for i, r := range c.Rates {
		if r.MilliCPU <= 0 || r.MemoryMB <= 0 || r.PerHour < 0 {
			return nil, fmt.Errorf("rates[%d]: milliCpu and memoryMb must be positive and perHour not negative", i)
		}
	}
	if c.Currency != "" && !isCurrencyCode(c.Currency) {
		return nil, fmt.Errorf("currency %q must be an ISO 4217 code of three capital letters, such as EUR or USD", c.Currency)
	}
	return c, nil
}

// isCurrencyCode tells whether s has the form of an ISO 4217 code; which
// codes exist is not Arena's to know.
func isCurrencyCode(s string) bool {
	if len(s) != 3 {
		return false
	}
	for _, r := range s {
		if r < 'A' || r > 'Z' {
			return false
		}
	}
	return true
}

// Ports returns the host port range.
func (c *Config) Ports() (lo, hi int, err error) {
	a, b, ok := strings.Cut(c.PortRange, "-")
	lo, err1 := strconv.Atoi(strings.TrimSpace(a))
	hi, err2 := strconv.Atoi(strings.TrimSpace(b))
	if !ok || err1 != nil || err2 != nil || lo < 1 || hi > 65535 || lo > hi {
		return 0, 0, fmt.Errorf("portRange %q must be LOW-HIGH within 1-65535", c.PortRange)
	}
	return lo, hi, nil
}

// Region returns the region of a configured location, or "" if it is unknown.
func (c *Config) Region(location string) string {
	for _, l := range c.Locations {
		if l.Name == location {
			return l.Region
		}
	}
	return ""
}

// Apps returns the configured applications, checked.
func (c *Config) Apps() ([]*arena.Application, error) {
	var out []*arena.Application
	seen := map[string]bool{}
	for i, a := range c.Applications {
		where := fmt.Sprintf("applications[%d] (%s)", i, a.Name)
		app := &arena.Application{
			OrgID: a.Org, Name: a.Name, Repository: a.Repository, Tags: a.Tags, Ports: a.Ports,
			Network: a.Network, Resources: a.Resources, Limits: a.Limits, Regions: a.Regions, TagKeep: a.TagKeep,
			NodePool: a.NodePool, Env: a.Env, Args: a.Args, ArtifactPaths: a.Artifacts,
			Security:  arena.ContainerSecurity{User: a.User, ReadOnlyRootFS: a.ReadOnlyRootFilesystem, Tmpfs: a.Tmpfs},
			Readiness: arena.Readiness{Mode: a.Readiness.Mode, Timeout: time.Duration(a.Readiness.Timeout), RunOnTimeout: a.Readiness.RunOnTimeout},
		}
		for _, p := range a.Pools {
			app.Pools = append(app.Pools, arena.WarmPool{Location: p.Location, Tag: p.Tag, Size: p.Size, Mode: p.Mode})
		}
		if app.OrgID == "" {
			app.OrgID = c.OrgID
		}
		app.StopGrace = time.Duration(a.StopGrace)
		auth, err := a.Registry.auth(where)
		if err != nil {
			return nil, err
		}
		app.Registry = auth
		app.Source = arena.SourceConfig
		var parts []string
		bad := map[string]bool{}
		for _, v := range arena.ErrorViolations(app.Validate()) {
			parts = append(parts, v.Field+" "+v.Description)
			bad[v.Field] = true
		}
		// As the engine and the registry client will parse them: an image
		// no node can pull is refused at start, not pulled forever.
		for _, v := range imageref.Application(app) {
			if !bad[v.Field] {
				parts = append(parts, v.Field+" "+v.Description)
			}
		}
		// The API may make an application without tags and enable one later;
		// one of the file can get a tag only here, so without one it could
		// never run.
		if len(app.Tags) == 0 {
			parts = append(parts, "tags must list at least one tag")
		}
		// The API's applications may name a tag they enable later; the
		// file's tags are all they will ever have.
		for j, p := range a.Pools {
			if p.Tag != "" && !app.HasTag(p.Tag) {
				parts = append(parts, fmt.Sprintf("warmPools[%d].tag names tag %q, which the application lacks", j, p.Tag))
			}
		}
		if len(parts) > 0 {
			return nil, fmt.Errorf("%s: %s", where, strings.Join(parts, "; "))
		}
		if seen[app.OrgID+"/"+app.Name] {
			return nil, fmt.Errorf("%s: defined twice", where)
		}
		seen[app.OrgID+"/"+app.Name] = true
		out = append(out, app)
	}
	return out, nil
}
