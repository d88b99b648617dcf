package scaler

import (
	"bytes"
	"context"
	"maps"
	"slices"
	"sync"
	"testing"

	"github.com/arena-hq/arena"
	"github.com/arena-hq/arena/sqlite"
	"github.com/arena-hq/arena/tenant"
)

const secretToken = "hcloud-very-secret-token"

// builds records the providers a Settings made drivers of, refusing one
// without a token as a real driver does.
type builds struct {
	mu  sync.Mutex
	got []arena.CloudProvider
}

func (b *builds) build(p *arena.CloudProvider) (arena.Provider, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.got = append(b.got, *p)
	if p.Type == arena.ProviderHetzner && p.Credentials["token"] == "" {
		return nil, arena.Invalid(arena.Violation{Field: "credentials.token", Description: "is required"})
	}
	return newFakeProvider(p.Name), nil
}

func (b *builds) count() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.got)
}

func newSettings(t *testing.T) (*Settings, *sqlite.Store, *builds) {
	t.Helper()
	st, err := sqlite.Open(context.Background(), t.TempDir()+"/arena.db")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	sealer, err := tenant.NewSealer(bytes.Repeat([]byte{7}, tenant.SealerKeySize))
	if err != nil {
		t.Fatal(err)
	}
	b := &builds{}
	return NewSettings(st, sealer, b.build), st, b
}

func hetznerProvider(name string) *arena.CloudProvider {
	return &arena.CloudProvider{Name: name, Type: arena.ProviderHetzner, Settings: map[string]string{"sshKeys": "deploy"},
		Credentials: map[string]string{"token": secretToken}}
}

func offerOf(provider string) arena.ScalingPolicy {
	return policy(func(p *arena.ScalingPolicy) {
		p.Offers = []arena.MachineOffer{{Provider: provider, Location: "cloud-1", InstanceType: "cx22", CostPerHour: 0.01,
			Capacity: arena.Resources{MilliCPU: 2000, MemoryMB: 4096}}}
	})
}

// TestSettingsSealCredentials: the store keeps a provider's credentials
// only sealed, the API's answers name them without their values, and the
// driver gets them in the clear.
func TestSettingsSealCredentials(t *testing.T) {
	s, st, b := newSettings(t)
	ctx := context.Background()
	saved, err := s.PutProvider(ctx, hetznerProvider("hetzner"))
	if err != nil {
		t.Fatal(err)
	}
	if saved.Credentials["token"] != "" || !slices.Equal(saved.CredentialNames(), []string{"token"}) || saved.SealedCredentials != nil {
		t.Fatalf("the answer shows %+v; want the credential's name alone", saved)
	}
	stored, err := st.ListCloudProviders(ctx)
	if err != nil || len(stored) != 1 {
		t.Fatalf("stored %v, %v", stored, err)
	}
	if len(stored[0].SealedCredentials) == 0 || bytes.Contains(stored[0].SealedCredentials, []byte(secretToken)) || stored[0].Credentials != nil {
		t.Fatalf("the store holds %+v; want the token sealed", stored[0])
	}
	listed, err := s.Providers(ctx)
	if err != nil || len(listed) != 1 || listed[0].Credentials["token"] != "" || listed[0].Settings["sshKeys"] != "deploy" {
		t.Fatalf("Providers: %+v, %v", listed, err)
	}
	before := b.count()
	if _, providers, err := s.Current(ctx); err != nil || providers["hetzner"] == nil {
		t.Fatalf("Current: %v, %v", providers, err)
	}
	if last := b.got[len(b.got)-1]; b.count() != before+1 || last.Credentials["token"] != secretToken {
		t.Fatalf("the driver was made of %+v; want the token in the clear", last)
	}
	// A sealed value is bound to its provider: copied onto another, it
	// does not open.
	other := *stored[0]
	other.Name = "copied"
	if err := st.PutCloudProvider(ctx, &other); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Providers(ctx); err == nil {
		t.Fatal("credentials sealed for one provider opened for another")
	}
}

// TestSettingsPutProvider: a change may leave the credentials out and
// keep them, an empty value removes one, a change of type drops them, and
// a provider its driver refuses is not stored.
func TestSettingsPutProvider(t *testing.T) {
	tests := []struct {
		name     string
		change   *arena.CloudProvider
		wantCode string
		// wantToken is the token the driver is then made with.
		wantToken string
	}{
		{name: "settings alone keep the token", change: &arena.CloudProvider{Name: "hetzner", Type: arena.ProviderHetzner, Settings: map[string]string{"sshKeys": "other"}},
			wantToken: secretToken},
		{name: "a new token replaces it", change: &arena.CloudProvider{Name: "hetzner", Type: arena.ProviderHetzner, Credentials: map[string]string{"token": "new"}},
			wantToken: "new"},
		{name: "an empty token removes it, which the driver refuses", change: &arena.CloudProvider{Name: "hetzner", Type: arena.ProviderHetzner, Credentials: map[string]string{"token": ""}},
			wantCode: arena.EINVALID},
		{name: "another type starts without them", change: &arena.CloudProvider{Name: "hetzner", Type: arena.ProviderAWS,
			Settings: map[string]string{"region": "eu-central-1"}}},
		{name: "a local provider, which runs programs here", change: &arena.CloudProvider{Name: "hetzner", Type: arena.ProviderLocal}, wantCode: arena.EINVALID},
		{name: "an unknown type", change: &arena.CloudProvider{Name: "hetzner", Type: "vsphere"}, wantCode: arena.EINVALID},
		{name: "a bad name", change: &arena.CloudProvider{Name: "no/slash", Type: arena.ProviderHetzner, Credentials: map[string]string{"token": "t"}}, wantCode: arena.EINVALID},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, st, b := newSettings(t)
			ctx := context.Background()
			if _, err := s.PutProvider(ctx, hetznerProvider("hetzner")); err != nil {
				t.Fatal(err)
			}
			before, _ := st.ListCloudProviders(ctx)
			_, err := s.PutProvider(ctx, tt.change)
			if arena.ErrorCode(err) != tt.wantCode && !(tt.wantCode == "" && err == nil) {
				t.Fatalf("PutProvider: %v, want %q", err, tt.wantCode)
			}
			if tt.wantCode != "" {
				after, _ := st.ListCloudProviders(ctx)
				if len(after) != 1 || !bytes.Equal(after[0].SealedCredentials, before[0].SealedCredentials) || !maps.Equal(after[0].Settings, before[0].Settings) {
					t.Fatalf("a refused change changed the store: %+v", after)
				}
				return
			}
			if _, _, err := s.Current(ctx); err != nil {
				t.Fatal(err)
			}
			if got := b.got[len(b.got)-1]; got.Credentials["token"] != tt.wantToken || got.Type != tt.change.Type {
				t.Fatalf("driver made of %+v; want type %s and token %q", got, tt.change.Type, tt.wantToken)
			}
		})
	}
}

// TestSettingsPolicies: a policy names providers that exist; a provider
// that a policy offers, or with live machines, cannot be deleted; the
// config file's settings change only through the file.
func TestSettingsPolicies(t *testing.T) {
	s, st, _ := newSettings(t)
	ctx := context.Background()
	if _, err := s.PutPolicy(ctx, offerOf("hetzner")); arena.ErrorCode(err) != arena.EINVALID {
		t.Fatalf("a policy of an unknown provider: %v, want EINVALID", err)
	}
	if _, err := s.PutProvider(ctx, hetznerProvider("hetzner")); err != nil {
		t.Fatal(err)
	}
	saved, err := s.PutPolicy(ctx, offerOf("hetzner"))
	if err != nil || saved.Source != arena.SourceAPI || saved.UpdatedAt.IsZero() {
		t.Fatalf("PutPolicy: %+v, %v", saved, err)
	}
	if err := s.DeleteProvider(ctx, "hetzner"); arena.ErrorCode(err) != arena.ECONFLICT {
		t.Fatalf("deleting a provider a policy offers: %v, want ECONFLICT", err)
	}
	if err := s.DeletePolicy(ctx, saved.Region); err != nil {
		t.Fatal(err)
	}
	if err := st.CreateMachine(ctx, &arena.CloudMachine{NodeID: "c1", Provider: "hetzner", State: arena.MachineReady, CreatedAt: t0, UpdatedAt: t0}); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteProvider(ctx, "hetzner"); arena.ErrorCode(err) != arena.ECONFLICT {
		t.Fatalf("deleting a provider with a live machine: %v, want ECONFLICT", err)
	}

	// The file's.
	local := &arena.CloudProvider{Name: "local", Type: arena.ProviderLocal}
	filePolicy := offerOf("local")
	filePolicy.Region = "file-region"
	if err := s.SyncConfig(ctx, []arena.ScalingPolicy{filePolicy}, []*arena.CloudProvider{local}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.PutPolicy(ctx, filePolicy); arena.ErrorCode(err) != arena.ECONFLICT {
		t.Errorf("changing the file's policy through the API: %v, want ECONFLICT", err)
	}
	if _, err := s.PutProvider(ctx, local); arena.ErrorCode(err) != arena.ECONFLICT {
		t.Errorf("changing the file's provider through the API: %v, want ECONFLICT", err)
	}
	if err := s.DeletePolicy(ctx, filePolicy.Region); arena.ErrorCode(err) != arena.ECONFLICT {
		t.Errorf("deleting the file's policy through the API: %v, want ECONFLICT", err)
	}
	if err := s.SyncConfig(ctx, nil, []*arena.CloudProvider{hetznerProvider("hetzner")}); arena.ErrorCode(err) != arena.ECONFLICT {
		t.Errorf("a file naming a provider made through the API: %v, want ECONFLICT", err)
	}
	// The file without them: they go, and what the API made stays.
	if err := s.SyncConfig(ctx, nil, nil); err != nil {
		t.Fatal(err)
	}
	providers, err := s.Providers(ctx)
	if err != nil || len(providers) != 1 || providers[0].Name != "hetzner" {
		t.Fatalf("after the file dropped its settings: %+v, %v; want the API's provider alone", providers, err)
	}
	if policies, err := s.Policies(ctx); err != nil || len(policies) != 0 {
		t.Fatalf("policies after the file dropped its own: %+v, %v", policies, err)
	}
}

// TestSettingsCurrent: a driver is made once per change of its record,
// and one that cannot be made leaves the others working.
func TestSettingsCurrent(t *testing.T) {
	s, st, b := newSettings(t)
	ctx := context.Background()
	for _, name := range []string{"a", "b"} {
		if _, err := s.PutProvider(ctx, hetznerProvider(name)); err != nil {
			t.Fatal(err)
		}
	}
	built := b.count()
	for range 3 {
		if _, providers, err := s.Current(ctx); err != nil || len(providers) != 2 {
			t.Fatalf("Current: %v, %v", providers, err)
		}
	}
	if n := b.count() - built; n != 2 {
		t.Fatalf("%d drivers made over three looks, want one per provider", n)
	}
	// A record the driver now refuses (written behind Settings' back).
	stored, _ := st.ListCloudProviders(ctx)
	broken := *stored[0]
	broken.SealedCredentials, broken.UpdatedAt = nil, broken.UpdatedAt.Add(1)
	if err := st.PutCloudProvider(ctx, &broken); err != nil {
		t.Fatal(err)
	}
	_, providers, err := s.Current(ctx)
	if err == nil || len(providers) != 1 || providers["b"] == nil {
		t.Fatalf("with provider a broken: %v, %v; want b alone and an error", providers, err)
	}
}

// TestSettingsGuardTheMachines: the API cannot point a provider's
// credentials elsewhere, nor change what finds a provider's machines while
// it has live ones; a config file that drops a provider in use keeps it.
func TestSettingsGuardTheMachines(t *testing.T) {
	s, st, _ := newSettings(t)
	ctx := context.Background()
	if _, err := s.PutProvider(ctx, hetznerProvider("hetzner")); err != nil {
		t.Fatal(err)
	}
	if err := st.CreateMachine(ctx, &arena.CloudMachine{NodeID: "c1", Provider: "hetzner", State: arena.MachineReady, CreatedAt: t0, UpdatedAt: t0}); err != nil {
		t.Fatal(err)
	}
	changes := []struct {
		name     string
		change   *arena.CloudProvider
		wantCode string
	}{
		{"another endpoint", &arena.CloudProvider{Name: "hetzner", Type: arena.ProviderHetzner, Settings: map[string]string{"endpoint": "https://elsewhere.example"}}, arena.EINVALID},
		{"another token", &arena.CloudProvider{Name: "hetzner", Type: arena.ProviderHetzner, Credentials: map[string]string{"token": "another"}}, arena.ECONFLICT},
		{"another type", &arena.CloudProvider{Name: "hetzner", Type: arena.ProviderAWS, Settings: map[string]string{"region": "eu-central-1"}}, arena.ECONFLICT},
		{"other SSH keys, the token kept", &arena.CloudProvider{Name: "hetzner", Type: arena.ProviderHetzner, Settings: map[string]string{"sshKeys": "other"}}, ""},
	}
	for _, c := range changes {
		t.Run(c.name, func(t *testing.T) {
			_, err := s.PutProvider(ctx, c.change)
			if arena.ErrorCode(err) != c.wantCode && !(c.wantCode == "" && err == nil) {
				t.Fatalf("PutProvider: %v, want %q", err, c.wantCode)
			}
		})
	}

	local := &arena.CloudProvider{Name: "local", Type: arena.ProviderLocal}
	if err := s.SyncConfig(ctx, nil, []*arena.CloudProvider{local}); err != nil {
		t.Fatal(err)
	}
	if err := st.CreateMachine(ctx, &arena.CloudMachine{NodeID: "c2", Provider: "local", State: arena.MachineDraining, CreatedAt: t0, UpdatedAt: t0}); err != nil {
		t.Fatal(err)
	}
	if err := s.SyncConfig(ctx, nil, nil); err != nil {
		t.Fatalf("a file without the provider of a live machine: %v", err)
	}
	providers, err := s.Providers(ctx)
	if err != nil || !slices.ContainsFunc(providers, func(p *arena.CloudProvider) bool { return p.Name == "local" }) {
		t.Fatalf("providers %+v, %v: want the one still in use kept", providers, err)
	}
}
