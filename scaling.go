package arena

import (
	"fmt"
	"slices"
	"time"
)

// Types of cloud providers Arena has drivers of.
const (
	ProviderLocal        = "local"
	ProviderHetzner      = "hetzner"
	ProviderAWS          = "aws"
	ProviderDigitalOcean = "digitalocean"
)

// ProviderTypes lists every provider type, for validation and documentation.
var ProviderTypes = []string{ProviderLocal, ProviderHetzner, ProviderAWS, ProviderDigitalOcean}

// Defaults of a scaling policy's durations, where the config file or the
// admin API leaves them out.
const (
	DefaultScaleCooldown = 30 * time.Second
	DefaultIdleTimeout   = 10 * time.Minute
	DefaultJoinTimeout   = 10 * time.Minute
)

// Bounds of what the scaling settings hold, so that an API caller cannot
// make the scaler's every step expensive.
const (
	MaxScalingPolicies   = 64
	MaxCloudProviders    = 32
	MaxOffersPerPolicy   = 16
	MaxProviderSettings  = 32
	maxSettingLength     = 4096
	maxScalingNameLength = 63
)

// CloudProvider is a provider Arena may order machines from: its type,
// the settings of its driver and its credentials.
type CloudProvider struct {
	Name string
	Type string
	// Settings are the driver's settings that are not secret (its region,
	// endpoint, SSH keys...); they are shown to operators.
	Settings map[string]string
	// Credentials are the driver's secrets (an API token, an access key).
	// They are never returned nor logged: stores keep them only sealed, in
	// SealedCredentials, and the API answers with their names.
	Credentials       map[string]string
	SealedCredentials []byte
	// Source is where the provider is defined: SourceAPI or SourceConfig.
	Source    string
	CreatedAt time.Time
	UpdatedAt time.Time
}

// CredentialNames returns the names of p's credentials, sorted: what may be
// shown of them.
func (p *CloudProvider) CredentialNames() []string {
	names := make([]string, 0, len(p.Credentials))
	for k := range p.Credentials {
		names = append(names, k)
	}
	slices.Sort(names)
	return names
}

// Validate checks what every provider needs; a driver checks its own
// settings when it is built.
func (p *CloudProvider) Validate() error {
	var v []Violation
	if !validScalingName(p.Name) {
		v = append(v, Violation{Field: "name", Description: "a provider's name is 1 to 63 letters, digits, '.', '-' or '_'"})
	}
	if !slices.Contains(ProviderTypes, p.Type) {
		v = append(v, Violation{Field: "type", Description: fmt.Sprintf("must be one of %v", ProviderTypes)})
	}
	if len(p.Settings)+len(p.Credentials) > MaxProviderSettings {
		v = append(v, Violation{Field: "settings", Description: fmt.Sprintf("at most %d settings and credentials", MaxProviderSettings)})
	}
	for _, m := range []map[string]string{p.Settings, p.Credentials} {
		for k, val := range m {
			if k == "" || len(k) > maxScalingNameLength || len(val) > maxSettingLength {
				v = append(v, Violation{Field: "settings", Description: fmt.Sprintf("a setting's name is 1 to %d bytes and its value at most %d", maxScalingNameLength, maxSettingLength)})
				break
			}
		}
	}
	if len(v) > 0 {
		return Invalid(v...)
	}
	return nil
}

// Validate checks p; hasProvider tells whether an offer's provider exists.
func (p *ScalingPolicy) Validate(hasProvider func(name string) bool) error {
	var v []Violation
	add := func(field, desc string) { v = append(v, Violation{Field: field, Description: desc}) }
	if !validScalingName(p.Region) {
		add("region", "a region is 1 to 63 letters, digits, '.', '-' or '_'")
	}
	switch {
	case len(p.Offers) == 0:
		add("offers", "at least one offer is needed")
	case len(p.Offers) > MaxOffersPerPolicy:
		add("offers", fmt.Sprintf("at most %d offers", MaxOffersPerPolicy))
	}
	for i, o := range p.Offers {
		field := fmt.Sprintf("offers[%d]", i)
		if !hasProvider(o.Provider) {
			add(field+".provider", fmt.Sprintf("no provider named %q", o.Provider))
		}
		if o.Location == "" || o.Capacity.MilliCPU <= 0 || o.Capacity.MemoryMB <= 0 || o.CostPerHour < 0 {
			add(field, "needs a location, milliCpu and memoryMb, and a cost not negative")
		}
		if len(o.Region)+len(o.Location)+len(o.InstanceType)+len(o.Image) > maxSettingLength {
			add(field, "is too long")
		}
	}
	if p.MinNodes < 0 || p.MaxNodes < 1 || p.MinNodes > p.MaxNodes {
		add("maxNodes", "must be at least 1 and at least minNodes")
	}
	b := p.Buffer
	if b.Sessions < 0 || b.Resources.MilliCPU < 0 || b.Resources.MemoryMB < 0 || p.MaxCostPerHour < 0 {
		add("buffer", "the buffer and the cost ceiling must not be negative")
	}
	if b.Sessions > 0 && (b.Application == "" || b.OrgID == "") {
		add("buffer.application", "a buffer in sessions names their organisation and application")
	}
	for _, d := range []time.Duration{p.ScaleUpCooldown, p.ScaleDownCooldown, p.IdleTimeout, p.JoinTimeout} {
		if d < 0 {
			add("cooldowns", "durations must not be negative")
			break
		}
	}
	if len(v) > 0 {
		return Invalid(v...)
	}
	return nil
}

func validScalingName(s string) bool {
	if s == "" || len(s) > maxScalingNameLength {
		return false
	}
	for _, c := range s {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.') {
			return false
		}
	}
	return true
}
