package config

import (
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/arena-hq/arena"
)

func TestDefault(t *testing.T) {
	c, err := Load("")
	if err != nil {
		t.Fatal(err)
	}
	apps, err := c.Apps()
	if err != nil {
		t.Fatal(err)
	}
	if len(apps) == 0 || apps[0].Name != "echo" || apps[0].OrgID != "dev" || apps[0].Network != arena.NetworkBridge {
		t.Fatalf("default applications: %+v", apps)
	}
	if lo, hi, _ := c.Ports(); lo != 32768 || hi != 60299 {
		t.Fatalf("port range %d-%d", lo, hi)
	}
	if rates := c.PriceList(); len(rates) != 1 || rates[0].Resources != apps[0].Resources || rates[0].PerHour <= 0 {
		t.Fatalf("default rates %+v", rates)
	}
	if c.Currency != "EUR" {
		t.Fatalf("default currency %q", c.Currency)
	}
	if time.Duration(c.ArtifactRetention) != 24*time.Hour || c.ArtifactMaxMB != 100 {
		t.Fatalf("artifact settings %v %d", c.ArtifactRetention, c.ArtifactMaxMB)
	}
	if c.Region(c.Node.Location) != "local" {
		t.Fatalf("node location %q has no region", c.Node.Location)
	}
	// The demo with host networking runs confined, as an example to copy;
	// the other keeps its artifact in its root.
	confined := arena.ContainerSecurity{User: "65534:65534", ReadOnlyRootFS: true, Tmpfs: []string{"/tmp"}}
	if len(apps) != 2 || !reflect.DeepEqual(apps[0].Security, arena.ContainerSecurity{}) ||
		apps[1].Name != "echo-host" || !reflect.DeepEqual(apps[1].Security, confined) || !slices.Equal(apps[1].Args, []string{"--term-file", "/tmp/arena-terminated"}) {
		t.Fatalf("default applications' security: %+v", apps)
	}
}

// TestDocumentedSettings parses the example file with its commented-out
// application settings switched on, so that what it documents is valid.
func TestDocumentedSettings(t *testing.T) {
	text := string(Default)
	for _, key := range []string{"limits", "regions", "tagKeep", "nodePool", "user", "readOnlyRootFilesystem", "tmpfs"} {
		commented := "    # " + key + ":"
		if strings.Count(text, commented) != 1 {
			t.Fatalf("the example documents %q %d times, want once", commented, strings.Count(text, commented))
		}
		text = strings.Replace(text, commented, "    "+key+":", 1)
	}
	c, err := Parse([]byte(text))
	if err != nil {
		t.Fatal(err)
	}
	apps, err := c.Apps()
	if err != nil {
		t.Fatal(err)
	}
	a := apps[0]
	if a.Limits != (arena.Resources{MilliCPU: 500, MemoryMB: 128}) || !reflect.DeepEqual(a.Regions, []string{c.Region(c.Node.Location)}) ||
		a.TagKeep != 3 || a.NodePool != "default" {
		t.Fatalf("documented settings read as limits %+v, regions %v, tagKeep %d, nodePool %q", a.Limits, a.Regions, a.TagKeep, a.NodePool)
	}
	if want := (arena.ContainerSecurity{User: "65534:65534", ReadOnlyRootFS: true, Tmpfs: []string{"/tmp"}}); !reflect.DeepEqual(a.Security, want) {
		t.Fatalf("documented security reads as %+v, want %+v", a.Security, want)
	}
}

func TestApplicationSettings(t *testing.T) {
	app := func(extra string) string {
		return "applications:\n  - name: a\n    repository: r\n    tags: [{name: v1, priority: 1}]\n    resources: {milliCpu: 250, memoryMb: 64}\n" + extra
	}
	tests := []struct {
		name string
		yaml string
		want arena.Application
	}{
		{"none", app(""), arena.Application{}},
		{"limits", app("    limits: {milliCpu: 1000, memoryMb: 256}\n"),
			arena.Application{Limits: arena.Resources{MilliCPU: 1000, MemoryMB: 256}}},
		{"regions", app("    regions: [europe, us-east]\n"), arena.Application{Regions: []string{"europe", "us-east"}}},
		{"tagKeep", app("    tagKeep: 2\n"), arena.Application{TagKeep: 2}},
		{"nodePool", app("    nodePool: metal-eu\n"), arena.Application{NodePool: "metal-eu"}},
		{"a uid as a number", app("    user: 1000\n"), arena.Application{Security: arena.ContainerSecurity{User: "1000"}}},
		{"a uid and gid unquoted", app("    user: 1000:1000\n"), arena.Application{Security: arena.ContainerSecurity{User: "1000:1000"}}},
		{"a user name", app("    user: games\n"), arena.Application{Security: arena.ContainerSecurity{User: "games"}}},
		{"read-only with tmpfs", app("    readOnlyRootFilesystem: true\n    tmpfs: [/tmp, /var/cache/game]\n"),
			arena.Application{Security: arena.ContainerSecurity{ReadOnlyRootFS: true, Tmpfs: []string{"/tmp", "/var/cache/game"}}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := Parse([]byte(tt.yaml))
			if err != nil {
				t.Fatal(err)
			}
			apps, err := c.Apps()
			if err != nil {
				t.Fatal(err)
			}
			a := apps[0]
			if a.Limits != tt.want.Limits || !reflect.DeepEqual(a.Regions, tt.want.Regions) || a.TagKeep != tt.want.TagKeep || a.NodePool != tt.want.NodePool {
				t.Fatalf("limits %+v, regions %v, tagKeep %d, nodePool %q; want %+v, %v, %d, %q",
					a.Limits, a.Regions, a.TagKeep, a.NodePool, tt.want.Limits, tt.want.Regions, tt.want.TagKeep, tt.want.NodePool)
			}
			if !reflect.DeepEqual(a.Security, tt.want.Security) {
				t.Fatalf("security %+v, want %+v", a.Security, tt.want.Security)
			}
			if a.Resources != (arena.Resources{MilliCPU: 250, MemoryMB: 64}) {
				t.Fatalf("resources %+v changed", a.Resources)
			}
		})
	}
}

func TestLoadFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "arena.yaml")
	if err := os.WriteFile(path, []byte("portRange: 40000-40010\napplications: []\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	if lo, hi, _ := c.Ports(); lo != 40000 || hi != 40010 {
		t.Fatalf("port range %d-%d", lo, hi)
	}
	if _, err := Load(filepath.Join(t.TempDir(), "missing.yaml")); err == nil {
		t.Fatal("a missing file loaded")
	}
}

func TestRegistryCredentials(t *testing.T) {
	t.Setenv("ARENA_TEST_REGISTRY_PASSWORD", "from-env")
	c, err := Parse([]byte(`
applications:
  - {name: a, repository: registry.example/a, tags: [{name: v1}], resources: {milliCpu: 1, memoryMb: 1}, registry: {username: u, password: inline}}
  - {name: b, repository: registry.example/b, tags: [{name: v1}], resources: {milliCpu: 1, memoryMb: 1}, registry: {username: u, passwordEnv: ARENA_TEST_REGISTRY_PASSWORD}}
  - {name: c, repository: c, tags: [{name: v1}], resources: {milliCpu: 1, memoryMb: 1}}
`))
	if err != nil {
		t.Fatal(err)
	}
	apps, err := c.Apps()
	if err != nil {
		t.Fatal(err)
	}
	want := []*arena.RegistryAuth{{Username: "u", Password: "inline"}, {Username: "u", Password: "from-env"}, nil}
	for i, a := range apps {
		if !reflect.DeepEqual(a.Registry, want[i]) {
			t.Errorf("%s: registry %#v, want %#v", a.Name, a.Registry, want[i])
		}
	}
	if s := fmt.Sprintf("%v %+v %#v", apps[0].Registry, *apps[0].Registry, apps[0].Registry); strings.Contains(s, "inline") {
		t.Errorf("printing the credentials shows the password: %s", s)
	}
}

func TestQuotas(t *testing.T) {
	tests := []struct {
		name, yaml string
		want       map[string]arena.Quota
	}{
		{"none", "portRange: 40000-40010\n", map[string]arena.Quota{}},
		{"both bounds", "quotas: [{org: acme, maxSessions: 10, maxMilliCpu: 4000}]\n", map[string]arena.Quota{"acme": {MaxSessions: 10, MaxMilliCPU: 4000}}},
		{"one bound each", "quotas:\n  - {org: a, maxSessions: 3}\n  - {org: b, maxMilliCpu: 500}\n",
			map[string]arena.Quota{"a": {MaxSessions: 3}, "b": {MaxMilliCPU: 500}}},
		{"no bound, owned all the same", "quotas: [{org: a}]\n", map[string]arena.Quota{"a": {}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := Parse([]byte(tt.yaml))
			if err != nil {
				t.Fatal(err)
			}
			got, err := c.OrgQuotas()
			if err != nil || !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("OrgQuotas = %v, %v; want %v", got, err, tt.want)
			}
		})
	}
}

// TestQuotaExample checks that the quotas the default file shows, commented
// out, are a valid setting.
func TestQuotaExample(t *testing.T) {
	var example []string
	for _, line := range strings.Split(string(Default), "\n") {
		if strings.HasPrefix(line, "# quotas:") || (len(example) > 0 && strings.HasPrefix(line, "#   ")) {
			example = append(example, strings.TrimPrefix(line, "# "))
		} else if len(example) > 0 {
			break
		}
	}
	if len(example) < 2 {
		t.Fatalf("no quotas example in arena.yaml: %q", example)
	}
	c, err := Parse([]byte(strings.Join(example, "\n")))
	if err != nil {
		t.Fatalf("the example does not parse: %v\n%s", err, strings.Join(example, "\n"))
	}
	if q, err := c.OrgQuotas(); err != nil || len(q) != 1 || q["dev"] == (arena.Quota{}) {
		t.Fatalf("the example's quotas: %v, %v", q, err)
	}
}

// TestScalingPolicies: a region's policy of the file, with its defaults.
func TestScalingPolicies(t *testing.T) {
	c, err := Parse([]byte(`
cloud:
  providers: [{name: local, type: local}]
  regions:
    - region: europe
      maxNodes: 3
      maxCostPerHour: 1.5
      idleTimeout: 2m
      buffer: {sessions: 2, application: echo}
      offers: [{provider: local, location: local-cloud, instanceType: small, costPerHour: 0.1, milliCpu: 2000, memoryMb: 4096}]
`))
	if err != nil {
		t.Fatal(err)
	}
	got, err := c.ScalingPolicies()
	if err != nil {
		t.Fatal(err)
	}
	want := []arena.ScalingPolicy{{Region: "europe", MaxNodes: 3, MaxCostPerHour: 1.5, IdleTimeout: 2 * time.Minute,
		ScaleUpCooldown: arena.DefaultScaleCooldown, ScaleDownCooldown: arena.DefaultScaleCooldown, JoinTimeout: arena.DefaultJoinTimeout,
		Buffer: arena.ScalingBuffer{Sessions: 2, OrgID: "dev", Application: "echo"},
		Offers: []arena.MachineOffer{{Provider: "local", Location: "local-cloud", InstanceType: "small", CostPerHour: 0.1, Capacity: arena.Resources{MilliCPU: 2000, MemoryMB: 4096}}}}}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("policies\n%+v\nwant\n%+v", got, want)
	}
}

func TestParseErrors(t *testing.T) {
	app := func(extra string) string {
		return "applications:\n  - name: a\n    repository: r\n    tags: [{name: v1, priority: 1}]\n    resources: {milliCpu: 1, memoryMb: 1}\n" + extra
	}
	tests := []struct {
		name, yaml, want string
	}{
		{"unknown key", "listn: x\n", "listn"},
		{"bad port range", "portRange: 9-2\n", "portRange"},
		{"bad placement", "placement: random\n", "placement"},
		{"missing repository", "applications:\n  - name: a\n", "repository"},
		{"no tags", "applications:\n  - name: a\n    repository: r\n", "tag"},
		{"empty tags", strings.Replace(app(""), "    tags: [{name: v1, priority: 1}]\n", "    tags: []\n", 1), "tags must list at least one tag"},
		{"bad network", app("    network: overlay\n"), "network"},
		{"pool without a location", app("    warmPools: [{size: 2}]\n"), "warmPools[0].location must name a location or region"},
		{"empty pool", app("    warmPools: [{location: l, size: 0}]\n"), "warmPools[0].size must be between 1 and 100"},
		{"pool of an unknown tag", app("    warmPools: [{location: l, size: 1, tag: v9}]\n"), `warmPools[0].tag names tag "v9"`},
		{"bad readiness", app("    readiness: {mode: probe}\n"), "readiness.mode"},
		{"a cloud provider of an unknown type", "cloud:\n  providers: [{name: x, type: vsphere}]\n", "type must be one of"},
		{"a cloud provider's credential from an unset variable", "cloud:\n  providers: [{name: h, type: hetzner, credentialsEnv: {token: ARENA_TEST_UNSET_TOKEN}}]\n", "ARENA_TEST_UNSET_TOKEN, which is not set"},
		{"a credential given twice", "cloud:\n  providers: [{name: h, type: hetzner, credentials: {token: a}, credentialsEnv: {token: HOME}}]\n", "both in credentials and in credentialsEnv"},
		{"two providers of one name", "cloud:\n  providers: [{name: h, type: hetzner}, {name: h, type: aws}]\n", "the name is taken"},
		{"an offer of no provider", "cloud:\n  regions: [{region: europe, maxNodes: 1, offers: [{provider: nope, location: l, milliCpu: 1, memoryMb: 1}]}]\n", `no provider named "nope"`},
		{"a region without offers", "cloud:\n  providers: [{name: local, type: local}]\n  regions: [{region: europe, maxNodes: 1}]\n", "at least one offer"},
		{"minNodes above maxNodes", "cloud:\n  providers: [{name: local, type: local}]\n  regions: [{region: europe, minNodes: 2, maxNodes: 1, offers: [{provider: local, location: l, milliCpu: 1, memoryMb: 1}]}]\n", "maxNodes"},
		{"a buffer of sessions of no application", "cloud:\n  providers: [{name: local, type: local}]\n  regions: [{region: europe, maxNodes: 1, buffer: {sessions: 2}, offers: [{provider: local, location: l, milliCpu: 1, memoryMb: 1}]}]\n", "names their organisation and application"},
		{"bad port", app("    ports: [{container: 0, protocol: tcp}]\n"), "port"},
		{"bad protocol", app("    ports: [{container: 1, protocol: sctp}]\n"), "port"},
		{"bad grace", app("    stopGrace: soon\n"), "duration"},
		{"negative backoff", "restart: {backoff: -1s}\n", "duration"},
		{"limits below the reservation", app("    limits: {milliCpu: 1000, memoryMb: 0}\n"), "limits"},
		{"unknown key in limits", app("    limits: {cpu: 1000}\n"), "cpu"},
		{"bad region", app("    regions: [Europe]\n"), "regions[0]"},
		{"a region twice", app("    regions: [europe, europe]\n"), "regions[1]"},
		{"regions not a list", app("    regions: europe\n"), "into []string"},
		{"negative tagKeep", app("    tagKeep: -1\n"), "tagKeep"},
		{"more tags than tagKeep", strings.Replace(app("    tagKeep: 1\n"), "}]", "}, {name: v2}]", 1), "tagKeep (1)"},
		{"bad nodePool", app("    nodePool: 'metal pool'\n"), "nodePool"},
		{"relative artifact path", app("    artifacts: [replays]\n"), "artifact"},
		{"bad user", app("    user: 'root:'\n"), "user must be a uid"},
		{"user not a scalar", app("    user: [1000]\n"), "into string"},
		{"readOnlyRootFilesystem not a bool", app("    readOnlyRootFilesystem: yes please\n"), "into bool"},
		{"relative tmpfs", app("    tmpfs: [tmp]\n"), "tmpfs[0] must be a clean absolute path"},
		{"tmpfs not a list", app("    tmpfs: /tmp\n"), "into []string"},
		{"tmpfs over /proc", app("    tmpfs: [/proc]\n"), "tmpfs[0] must not be within /proc"},
		{"an artifact on a tmpfs", app("    tmpfs: [/tmp]\n    artifacts: [/tmp/replay.dem]\n"), "artifacts[0] lies on tmpfs /tmp"},
		{"negative artifact cap", "artifactMaxMb: -1\n", "artifactMaxMb"},
		{"bad rate", "rates: [{milliCpu: 0, memoryMb: 1, perHour: 1}]\n", "rates"},
		{"currency in small letters", "currency: eur\n", "currency \"eur\" must be an ISO 4217 code"},
		{"currency as a symbol", "currency: €\n", "ISO 4217"},
		{"currency of four letters", "currency: EURO\n", "ISO 4217"},
		{"no resources", "applications:\n  - name: a\n    repository: r\n    tags: [{name: v1}]\n", "resources"},
		{"registry without username", app("    registry: {password: p}\n"), "registry.username"},
		{"registry without password", app("    registry: {username: u}\n"), "exactly one of password and passwordEnv"},
		{"registry with both passwords", app("    registry: {username: u, password: p, passwordEnv: P}\n"), "exactly one"},
		{"registry password from an unset variable", app("    registry: {username: u, passwordEnv: ARENA_TEST_UNSET_PASSWORD}\n"), "ARENA_TEST_UNSET_PASSWORD"},
		{"quota without org", "quotas: [{maxSessions: 1}]\n", "quotas[0] (): org is required"},
		{"quota of a malformed org", "quotas: [{org: Studio X, maxSessions: 1}]\n", "quotas[0] (Studio X): org may contain only"},
		{"quota defined twice", "quotas: [{org: a, maxSessions: 1}, {org: a, maxMilliCpu: 1}]\n", "quotas[1] (a): defined twice"},
		{"negative quota", "quotas: [{org: a, maxSessions: -1}]\n", "maxSessions must be between 0"},
		{"quota past its bound", "quotas: [{org: a, maxMilliCpu: 1000000001}]\n", "maxMilliCpu must be between 0"},
		{"unknown quota key", "quotas: [{org: a, maxCpu: 1}]\n", "maxCpu"},
		{"a repository in capitals", strings.Replace(app(""), "repository: r\n", "repository: UPPER/case\n", 1), "repository"},
		{"a repository Docker refuses", strings.Replace(app(""), "repository: r\n", "repository: "+strings.Repeat("0123456789abcdef", 4)+"\n", 1), "repository must be an image repository Docker can pull"},
		{"unknown http key", "http: {timeout: 1s}\n", "timeout"},
		{"a bad http timeout", "http: {readTimeout: soon}\n", "duration"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse([]byte(tt.yaml))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("got %v, want an error mentioning %q", err, tt.want)
			}
		})
	}
}

func TestHTTPSettings(t *testing.T) {
	c, err := Parse([]byte("http: {readHeaderTimeout: 2s, readTimeout: 5s, writeTimeout: 1m, idleTimeout: 90s, maxHeaderBytes: 8192}\n"))
	if err != nil {
		t.Fatal(err)
	}
	want := HTTPServer{ReadHeaderTimeout: Duration(2 * time.Second), ReadTimeout: Duration(5 * time.Second),
		WriteTimeout: Duration(time.Minute), IdleTimeout: Duration(90 * time.Second), MaxHeaderBytes: 8192}
	if c.HTTP != want {
		t.Errorf("http = %+v, want %+v", c.HTTP, want)
	}
	// The example documents every key, commented out.
	for _, key := range []string{"readHeaderTimeout", "readTimeout", "writeTimeout", "idleTimeout", "maxHeaderBytes"} {
		if !strings.Contains(string(Default), "#   "+key+":") {
			t.Errorf("the example does not document http.%s", key)
		}
	}
}
