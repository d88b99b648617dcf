// Package provider makes the driver of a cloud provider from the settings
// and credentials Arena keeps of it: one map of each, the same for the
// config file, the admin API and the store, checked here against what
// each type of provider takes.
package provider

import (
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/arena-hq/arena"
	"github.com/arena-hq/arena/provider/aws"
	"github.com/arena-hq/arena/provider/digitalocean"
	"github.com/arena-hq/arena/provider/hetzner"
	"github.com/arena-hq/arena/provider/local"
)

// Defaults are what a local provider uses where its settings say nothing:
// the control plane's data directory and executable.
type Defaults struct {
	LocalDir    string
	LocalBinary string
}

// kind is what one type of provider takes.
type kind struct {
	settings    []string
	credentials []string
	required    []string // of either
}

// Kinds lists, by type, the settings and credentials each takes: lists
// (sshKeys, securityGroupIds) are comma-separated.
var kinds = map[string]kind{
	arena.ProviderLocal: {settings: []string{"dir", "binary", "portBase", "portsPerMachine", "stopGrace"}},
	arena.ProviderHetzner: {settings: []string{"endpoint", "sshKeys", "timeout", "maxRetries"},
		credentials: []string{"token"}, required: []string{"token"}},
	arena.ProviderAWS: {settings: []string{"region", "endpoint", "subnetId", "securityGroupIds", "keyName", "timeout", "maxRetries"},
		credentials: []string{"accessKeyId", "secretAccessKey", "sessionToken"}, required: []string{"region", "accessKeyId", "secretAccessKey"}},
	arena.ProviderDigitalOcean: {settings: []string{"endpoint", "sshKeys", "vpcUuid", "timeout", "maxRetries"},
		credentials: []string{"token"}, required: []string{"token"}},
}

// Settings returns the names of the settings and of the credentials a
// type of provider takes, for documentation and help.
func Settings(typ string) (settings, credentials []string) {
	k := kinds[typ]
	return slices.Clone(k.settings), slices.Clone(k.credentials)
}

// New returns the driver of p, its credentials in the clear. It makes no
// call; EINVALID names every setting that is unknown, missing or wrong.
func New(p *arena.CloudProvider, d Defaults) (arena.Provider, error) {
	k, ok := kinds[p.Type]
	if !ok {
		return nil, arena.Invalid(arena.Violation{Field: "type", Description: fmt.Sprintf("must be one of %v", arena.ProviderTypes)})
	}
	var v []arena.Violation
	for _, name := range slices.Sorted(maps.Keys(p.Settings)) {
		switch {
		case slices.Contains(k.credentials, name):
			v = append(v, arena.Violation{Field: "settings." + name, Description: "is a credential: give it among the credentials, which are sealed"})
		case !slices.Contains(k.settings, name):
			v = append(v, arena.Violation{Field: "settings." + name, Description: fmt.Sprintf("a %s provider takes %v", p.Type, k.settings)})
		}
	}
	for _, name := range slices.Sorted(maps.Keys(p.Credentials)) {
		if !slices.Contains(k.credentials, name) {
			v = append(v, arena.Violation{Field: "credentials." + name, Description: fmt.Sprintf("a %s provider takes credentials %v", p.Type, k.credentials)})
		}
	}
	for _, name := range k.required {
		if p.Settings[name] == "" && p.Credentials[name] == "" {
			field := "settings." + name
			if slices.Contains(k.credentials, name) {
				field = "credentials." + name
			}
			v = append(v, arena.Violation{Field: field, Description: "is required"})
		}
	}
	r := reader{settings: p.Settings}
	timeout := r.duration("timeout")
	retries := r.integer("maxRetries")
	v = append(v, r.violations...)
	if len(v) > 0 {
		return nil, arena.Invalid(v...)
	}
	s, c := p.Settings, p.Credentials
	switch p.Type {
	case arena.ProviderLocal:
		dir := s["dir"]
		if dir == "" {
			dir = d.LocalDir
		}
		binary := s["binary"]
		if binary == "" {
			binary = d.LocalBinary
		}
		base, per, grace := r.integer("portBase"), r.integer("portsPerMachine"), r.duration("stopGrace")
		if len(r.violations) > 0 {
			return nil, arena.Invalid(r.violations...)
		}
		return local.New(local.Config{Name: p.Name, Binary: binary, Dir: dir, PortBase: base, PortsPerMachine: per, StopGrace: grace})
	case arena.ProviderHetzner:
		return hetzner.New(hetzner.Config{Name: p.Name, Token: c["token"], Endpoint: s["endpoint"], SSHKeys: list(s["sshKeys"]),
			Timeout: timeout, MaxRetries: retries})
	case arena.ProviderAWS:
		return aws.New(aws.Config{Name: p.Name, Region: s["region"], AccessKeyID: c["accessKeyId"], SecretAccessKey: c["secretAccessKey"],
			SessionToken: c["sessionToken"], Endpoint: s["endpoint"], SubnetID: s["subnetId"], SecurityGroupIDs: list(s["securityGroupIds"]),
			KeyName: s["keyName"], Timeout: timeout, MaxRetries: retries})
	default: // arena.ProviderDigitalOcean
		return digitalocean.New(digitalocean.Config{Name: p.Name, Token: c["token"], Endpoint: s["endpoint"], SSHKeys: list(s["sshKeys"]),
			VPCUUID: s["vpcUuid"], Timeout: timeout, MaxRetries: retries})
	}
}

// reader reads typed settings, collecting what is wrong.
type reader struct {
	settings   map[string]string
	violations []arena.Violation
}

func (r *reader) duration(name string) time.Duration {
	raw := r.settings[name]
	if raw == "" {
		return 0
	}
	d, err := time.ParseDuration(raw)
	if err != nil || d < 0 {
		r.violations = append(r.violations, arena.Violation{Field: "settings." + name, Description: "a duration such as 30s"})
	}
	return d
}

func (r *reader) integer(name string) int {
	raw := r.settings[name]
	if raw == "" {
		return 0
	}
	n, err := strconv.Atoi(raw)
	if err != nil || n < -1 || n > 1<<20 {
		r.violations = append(r.violations, arena.Violation{Field: "settings." + name, Description: "a whole number"})
	}
	return n
}

func list(raw string) []string {
	var out []string
	for _, item := range strings.Split(raw, ",") {
		if item = strings.TrimSpace(item); item != "" {
			out = append(out, item)
		}
	}
	return out
}
