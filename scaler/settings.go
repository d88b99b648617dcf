package scaler

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sync"
	"time"

	"github.com/arena-hq/arena"
)

// Sealer encrypts the providers' credentials for the store, bound to a
// context (tenant.Sealer implements it).
type Sealer interface {
	Seal(plaintext []byte, context string) []byte
	Open(sealed []byte, context string) ([]byte, error)
}

// SettingsStore is what Settings keeps its records in: the machines are
// read so that a provider with live machines is not removed.
type SettingsStore interface {
	arena.ScalingStore
	ListMachines(ctx context.Context) ([]*arena.CloudMachine, error)
}

// BuildFunc returns the driver of a provider, its credentials in the
// clear; EINVALID when its settings do not make one. It makes no call.
type BuildFunc func(p *arena.CloudProvider) (arena.Provider, error)

// Settings are the scaling policies and the cloud providers as the store
// keeps them: defined in the config file or through the admin API, and
// read by the scaler at every look, so that a change applies without a
// restart and a new leader scales as the last one did. Credentials reach
// the store only sealed, and leave Settings only to a driver.
type Settings struct {
	store  SettingsStore
	sealer Sealer
	build  BuildFunc
	now    func() time.Time

	// writing serialises changes, so that a provider is not deleted while a
	// policy that names it is put.
	writing sync.Mutex
	mu      sync.Mutex
	built   map[string]builtProvider
}

// builtProvider is a driver, kept while its record is unchanged.
type builtProvider struct {
	updated  time.Time
	provider arena.Provider
}

// NewSettings returns the settings kept in store.
func NewSettings(store SettingsStore, sealer Sealer, build BuildFunc) *Settings {
	return &Settings{store: store, sealer: sealer, build: build, now: time.Now, built: map[string]builtProvider{}}
}

// sealContext binds a provider's sealed credentials to its name.
func sealContext(name string) string { return "cloud-provider/" + name }

// SyncConfig makes the store's settings of the config file those given:
// it adds and replaces them, and removes the ones the file no longer has.
// Settings made through the API are left alone; one the file names too is
// a conflict.
func (s *Settings) SyncConfig(ctx context.Context, policies []arena.ScalingPolicy, providers []*arena.CloudProvider) error {
	s.writing.Lock()
	defer s.writing.Unlock()
	storedProviders, err := s.store.ListCloudProviders(ctx)
	if err != nil {
		return err
	}
	storedPolicies, err := s.store.ListScalingPolicies(ctx)
	if err != nil {
		return err
	}
	now := s.now().UTC()
	names := map[string]bool{}
	for _, p := range providers {
		names[p.Name] = true
		next, err := s.prepare(p, nil, arena.SourceConfig, now)
		if err != nil {
			return err
		}
		if i := slices.IndexFunc(storedProviders, func(q *arena.CloudProvider) bool { return q.Name == p.Name }); i >= 0 {
			if storedProviders[i].Source != arena.SourceConfig {
				return arena.Errorf(arena.ECONFLICT, "provider %s of the config file exists already, created through the API", p.Name)
			}
			next.CreatedAt = storedProviders[i].CreatedAt
		}
		if err := s.store.PutCloudProvider(ctx, next); err != nil {
			return err
		}
	}
	for _, q := range storedProviders {
		if q.Source != arena.SourceConfig {
			names[q.Name] = true
		}
	}
	regions := map[string]bool{}
	for _, p := range policies {
		regions[p.Region] = true
		if err := p.Validate(func(name string) bool { return names[name] }); err != nil {
			return err
		}
		if i := slices.IndexFunc(storedPolicies, func(q *arena.ScalingPolicy) bool { return q.Region == p.Region }); i >= 0 && storedPolicies[i].Source != arena.SourceConfig {
			return arena.Errorf(arena.ECONFLICT, "the scaling policy of region %s of the config file exists already, created through the API", p.Region)
		}
		p.Source, p.UpdatedAt = arena.SourceConfig, now
		if err := s.store.PutScalingPolicy(ctx, &p); err != nil {
			return err
		}
	}
	for _, q := range storedPolicies {
		if q.Source == arena.SourceConfig && !regions[q.Region] {
			if err := s.store.DeleteScalingPolicy(ctx, q.Region); err != nil && arena.ErrorCode(err) != arena.ENOTFOUND {
				return err
			}
		}
	}
	for _, q := range storedProviders {
		if q.Source == arena.SourceConfig && !names[q.Name] {
			// One still offered by a policy of the API's, or with live
			// machines, stays until it is not: a start must not fail on it.
			if err := s.deleteProvider(ctx, q.Name); err != nil && arena.ErrorCode(err) != arena.ECONFLICT {
				return err
			}
		}
	}
	return nil
}

// prepare checks p by building its driver and returns the record to
// store: credentials sealed, those p leaves out kept from old.
func (s *Settings) prepare(p, old *arena.CloudProvider, source string, now time.Time) (*arena.CloudProvider, error) {
	next := *p
	next.Settings, next.Credentials = maps.Clone(p.Settings), maps.Clone(p.Credentials)
	if old != nil {
		// A change of settings need not carry the secrets again; naming a
		// credential with an empty value removes it.
		for k, v := range old.Credentials {
			if _, given := next.Credentials[k]; !given {
				if next.Credentials == nil {
					next.Credentials = map[string]string{}
				}
				next.Credentials[k] = v
			}
		}
		maps.DeleteFunc(next.Credentials, func(_, v string) bool { return v == "" })
	}
	if err := next.Validate(); err != nil {
		return nil, err
	}
	if _, err := s.build(&next); err != nil {
		return nil, err
	}
	next.SealedCredentials = nil
	if len(next.Credentials) > 0 {
		data, _ := json.Marshal(next.Credentials) // strings only: cannot fail
		next.SealedCredentials = s.sealer.Seal(data, sealContext(next.Name))
	}
	next.Credentials = nil
	next.Source, next.CreatedAt, next.UpdatedAt = source, now, now
	if old != nil {
		next.CreatedAt = old.CreatedAt
	}
	return &next, nil
}

// open returns p with its credentials in the clear.
func (s *Settings) open(p *arena.CloudProvider) (*arena.CloudProvider, error) {
	out := *p
	out.Credentials = nil
	if len(p.SealedCredentials) == 0 {
		return &out, nil
	}
	data, err := s.sealer.Open(p.SealedCredentials, sealContext(p.Name))
	if err != nil {
		return nil, err
	}
	if err := json.Unmarshal(data, &out.Credentials); err != nil {
		return nil, arena.Internal(err, "decoding the credentials of provider "+p.Name)
	}
	return &out, nil
}

// Policies returns every scaling policy, by region.
func (s *Settings) Policies(ctx context.Context) ([]arena.ScalingPolicy, error) {
	stored, err := s.store.ListScalingPolicies(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]arena.ScalingPolicy, 0, len(stored))
	for _, p := range stored {
		out = append(out, *p)
	}
	return out, nil
}

// PutPolicy creates or replaces the policy of p's region; ECONFLICT for a
// policy of the config file.
func (s *Settings) PutPolicy(ctx context.Context, p arena.ScalingPolicy) (arena.ScalingPolicy, error) {
	s.writing.Lock()
	defer s.writing.Unlock()
	providers, err := s.store.ListCloudProviders(ctx)
	if err != nil {
		return arena.ScalingPolicy{}, err
	}
	if err := p.Validate(func(name string) bool {
		return slices.ContainsFunc(providers, func(q *arena.CloudProvider) bool { return q.Name == name })
	}); err != nil {
		return arena.ScalingPolicy{}, err
	}
	stored, err := s.store.ListScalingPolicies(ctx)
	if err != nil {
		return arena.ScalingPolicy{}, err
	}
	i := slices.IndexFunc(stored, func(q *arena.ScalingPolicy) bool { return q.Region == p.Region })
	switch {
	case i >= 0 && stored[i].Source == arena.SourceConfig:
		return arena.ScalingPolicy{}, arena.Errorf(arena.ECONFLICT, "the scaling policy of region %s is defined in the config file; change it there", p.Region)
	case i < 0 && len(stored) >= arena.MaxScalingPolicies:
		return arena.ScalingPolicy{}, arena.Errorf(arena.ECONFLICT, "at most %d regions are scaled", arena.MaxScalingPolicies)
	}
	p.Source, p.UpdatedAt = arena.SourceAPI, s.now().UTC()
	if err := s.store.PutScalingPolicy(ctx, &p); err != nil {
		return arena.ScalingPolicy{}, err
	}
	return p, nil
}

// DeletePolicy stops scaling a region: the scaler drains its machines
// once idle and retires them once empty, ordering none. ENOTFOUND without a
// policy, ECONFLICT for one of the config file.
func (s *Settings) DeletePolicy(ctx context.Context, region string) error {
	s.writing.Lock()
	defer s.writing.Unlock()
	stored, err := s.store.ListScalingPolicies(ctx)
	if err != nil {
		return err
	}
	i := slices.IndexFunc(stored, func(q *arena.ScalingPolicy) bool { return q.Region == region })
	switch {
	case i < 0:
		return arena.Errorf(arena.ENOTFOUND, "no scaling policy for region %s", region)
	case stored[i].Source == arena.SourceConfig:
		return arena.Errorf(arena.ECONFLICT, "the scaling policy of region %s is defined in the config file; remove it there", region)
	}
	return s.store.DeleteScalingPolicy(ctx, region)
}

// Providers returns every provider, by name, with the values of its
// credentials blanked: their names are what may be shown.
func (s *Settings) Providers(ctx context.Context) ([]*arena.CloudProvider, error) {
	stored, err := s.store.ListCloudProviders(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]*arena.CloudProvider, 0, len(stored))
	for _, p := range stored {
		opened, err := s.open(p)
		if err != nil {
			return nil, err
		}
		out = append(out, blank(opened))
	}
	return out, nil
}

// blank returns p without its secrets: its credentials' names only.
func blank(p *arena.CloudProvider) *arena.CloudProvider {
	out := *p
	out.SealedCredentials = nil
	out.Credentials = make(map[string]string, len(p.Credentials))
	for k := range p.Credentials {
		out.Credentials[k] = ""
	}
	return &out
}

// PutProvider creates or replaces a provider, its credentials given in
// the clear and sealed for the store; credentials it leaves out are kept.
// EINVALID when its driver cannot be made of it, ECONFLICT for one of the
// config file, and EINVALID for a local provider, which only the config
// file may define. The answer is blanked as Providers'.
func (s *Settings) PutProvider(ctx context.Context, p *arena.CloudProvider) (*arena.CloudProvider, error) {
	s.writing.Lock()
	defer s.writing.Unlock()
	stored, err := s.store.ListCloudProviders(ctx)
	if err != nil {
		return nil, err
	}
	var old *arena.CloudProvider
	i := slices.IndexFunc(stored, func(q *arena.CloudProvider) bool { return q.Name == p.Name })
	switch {
	case i >= 0 && stored[i].Source == arena.SourceConfig:
		return nil, arena.Errorf(arena.ECONFLICT, "provider %s is defined in the config file; change it there", p.Name)
	case i >= 0:
		if old, err = s.open(stored[i]); err != nil {
			return nil, err
		}
		if old.Type != p.Type {
			old = nil // another kind's credentials mean nothing to it
		}
	case len(stored) >= arena.MaxCloudProviders:
		return nil, arena.Errorf(arena.ECONFLICT, "at most %d providers", arena.MaxCloudProviders)
	}
	switch {
	case p.Type == arena.ProviderLocal:
		// Its settings name a program the control plane runs: that is the
		// host's operator's to say, not an API caller's.
		return nil, arena.Invalid(arena.Violation{Field: "type", Description: "a local provider runs programs on the control plane's machine: define it in the config file"})
	case p.Settings["endpoint"] != "":
		// The stored credentials go wherever the endpoint points: sending
		// them elsewhere is the host's operator's to say as well.
		return nil, arena.Invalid(arena.Violation{Field: "settings.endpoint", Description: "a provider's API endpoint is set in the config file only, since its credentials are sent there"})
	}
	next, err := s.prepare(p, old, arena.SourceAPI, s.now().UTC())
	if err != nil {
		return nil, err
	}
	if i >= 0 {
		if err := s.unchangedWhileLive(ctx, stored[i], next); err != nil {
			return nil, err
		}
	}
	if err := s.store.PutCloudProvider(ctx, next); err != nil {
		return nil, err
	}
	opened, err := s.open(next)
	if err != nil {
		return nil, err
	}
	return blank(opened), nil
}

// unchangedWhileLive refuses a change of what finds a provider's machines
// (its type, region, endpoint or account) while it has live ones: their
// deletes would go where they are not, and they would run on unseen.
func (s *Settings) unchangedWhileLive(ctx context.Context, old, next *arena.CloudProvider) error {
	was, err := s.open(old)
	if err != nil {
		return err
	}
	now, err := s.open(next)
	if err != nil {
		return err
	}
	if was.Type == now.Type && maps.Equal(was.Credentials, now.Credentials) &&
		was.Settings["region"] == now.Settings["region"] && was.Settings["endpoint"] == now.Settings["endpoint"] {
		return nil
	}
	m, err := s.liveMachine(ctx, old.Name)
	if err != nil || m == nil {
		return err
	}
	return arena.Errorf(arena.ECONFLICT, "provider %s has machine %s, %s: its type, region, endpoint and credentials stay until it has none", old.Name, m.NodeID, m.State)
}

// liveMachine returns one of the provider's machines that is not deleted
// or failed, nil when it has none.
func (s *Settings) liveMachine(ctx context.Context, name string) (*arena.CloudMachine, error) {
	machines, err := s.store.ListMachines(ctx)
	if err != nil {
		return nil, err
	}
	for _, m := range machines {
		if m.Provider == name && m.State != arena.MachineDeleted && m.State != arena.MachineFailed {
			return m, nil
		}
	}
	return nil, nil
}

// DeleteProvider removes a provider: ECONFLICT while a policy offers its
// machines or one of them is live, or when the config file defines it.
func (s *Settings) DeleteProvider(ctx context.Context, name string) error {
	s.writing.Lock()
	defer s.writing.Unlock()
	stored, err := s.store.ListCloudProviders(ctx)
	if err != nil {
		return err
	}
	i := slices.IndexFunc(stored, func(q *arena.CloudProvider) bool { return q.Name == name })
	switch {
	case i < 0:
		return arena.Errorf(arena.ENOTFOUND, "no cloud provider named %s", name)
	case stored[i].Source == arena.SourceConfig:
		return arena.Errorf(arena.ECONFLICT, "provider %s is defined in the config file; remove it there", name)
	}
	return s.deleteProvider(ctx, name)
}

func (s *Settings) deleteProvider(ctx context.Context, name string) error {
	policies, err := s.store.ListScalingPolicies(ctx)
	if err != nil {
		return err
	}
	for _, p := range policies {
		if slices.ContainsFunc(p.Offers, func(o arena.MachineOffer) bool { return o.Provider == name }) {
			return arena.Errorf(arena.ECONFLICT, "the scaling policy of region %s offers machines of provider %s", p.Region, name)
		}
	}
	m, err := s.liveMachine(ctx, name)
	if err != nil {
		return err
	}
	if m != nil {
		return arena.Errorf(arena.ECONFLICT, "provider %s still has machine %s, %s", name, m.NodeID, m.State)
	}
	if err := s.store.DeleteCloudProvider(ctx, name); err != nil {
		return err
	}
	s.mu.Lock()
	delete(s.built, name)
	s.mu.Unlock()
	return nil
}

// Current returns the policies and the drivers of the providers, built
// once per change of a provider's record. A provider whose driver cannot
// be made is left out, and said in the error, so that it stops no other.
func (s *Settings) Current(ctx context.Context) ([]arena.ScalingPolicy, map[string]arena.Provider, error) {
	policies, err := s.Policies(ctx)
	if err != nil {
		return nil, nil, err
	}
	stored, err := s.store.ListCloudProviders(ctx)
	if err != nil {
		return nil, nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make(map[string]arena.Provider, len(stored))
	var errs []error
	for _, p := range stored {
		if b, ok := s.built[p.Name]; ok && b.updated.Equal(p.UpdatedAt) {
			out[p.Name] = b.provider
			continue
		}
		opened, err := s.open(p)
		var prov arena.Provider
		if err == nil {
			prov, err = s.build(opened)
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("provider %s: %w", p.Name, err))
			continue
		}
		s.built[p.Name] = builtProvider{updated: p.UpdatedAt, provider: prov}
		out[p.Name] = prov
	}
	for name := range s.built {
		if _, ok := out[name]; !ok {
			delete(s.built, name)
		}
	}
	return policies, out, errors.Join(errs...)
}
