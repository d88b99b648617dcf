package provider

import (
	"strings"
	"testing"

	"github.com/arena-hq/arena"
)

// TestNew: each type's driver is made of its settings and credentials,
// and what a type does not take, lacks or cannot read is named.
func TestNew(t *testing.T) {
	tests := []struct {
		name string
		p    arena.CloudProvider
		// wantFields are the violations' fields; none for a driver made.
		wantFields []string
	}{
		{name: "local", p: arena.CloudProvider{Type: arena.ProviderLocal, Settings: map[string]string{"portBase": "41000", "stopGrace": "5s"}}},
		{name: "hetzner", p: arena.CloudProvider{Type: arena.ProviderHetzner, Settings: map[string]string{"sshKeys": "1, deploy"},
			Credentials: map[string]string{"token": "t"}}},
		{name: "aws", p: arena.CloudProvider{Type: arena.ProviderAWS, Settings: map[string]string{"region": "eu-central-1", "securityGroupIds": "sg-1,sg-2"},
			Credentials: map[string]string{"accessKeyId": "AKIA", "secretAccessKey": "s"}}},
		{name: "digitalocean", p: arena.CloudProvider{Type: arena.ProviderDigitalOcean, Settings: map[string]string{"timeout": "10s", "maxRetries": "-1"},
			Credentials: map[string]string{"token": "t"}}},
		{name: "unknown type", p: arena.CloudProvider{Type: "vsphere"}, wantFields: []string{"type"}},
		{name: "unknown setting", p: arena.CloudProvider{Type: arena.ProviderHetzner, Settings: map[string]string{"regoin": "x"},
			Credentials: map[string]string{"token": "t"}}, wantFields: []string{"settings.regoin"}},
		{name: "a credential among the settings", p: arena.CloudProvider{Type: arena.ProviderHetzner, Settings: map[string]string{"token": "t"}},
			wantFields: []string{"settings.token"}},
		{name: "a setting among the credentials", p: arena.CloudProvider{Type: arena.ProviderAWS, Settings: map[string]string{"region": "eu-central-1"},
			Credentials: map[string]string{"accessKeyId": "AKIA", "secretAccessKey": "s", "endpoint": "x"}}, wantFields: []string{"credentials.endpoint"}},
		{name: "missing credentials", p: arena.CloudProvider{Type: arena.ProviderAWS},
			wantFields: []string{"settings.region", "credentials.accessKeyId", "credentials.secretAccessKey"}},
		{name: "bad numbers", p: arena.CloudProvider{Type: arena.ProviderDigitalOcean, Settings: map[string]string{"timeout": "soon", "maxRetries": "many"},
			Credentials: map[string]string{"token": "t"}}, wantFields: []string{"settings.timeout", "settings.maxRetries"}},
		{name: "bad local port", p: arena.CloudProvider{Type: arena.ProviderLocal, Settings: map[string]string{"portBase": "low"}},
			wantFields: []string{"settings.portBase"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.p.Name = "p-" + strings.ReplaceAll(tt.name, " ", "-")
			got, err := New(&tt.p, Defaults{LocalDir: t.TempDir(), LocalBinary: "/bin/true"})
			if len(tt.wantFields) == 0 {
				if err != nil {
					t.Fatal(err)
				}
				if got.Name() != tt.p.Name {
					t.Fatalf("driver named %q, want %q", got.Name(), tt.p.Name)
				}
				return
			}
			var fields []string
			for _, v := range arena.ErrorViolations(err) {
				fields = append(fields, v.Field)
			}
			if arena.ErrorCode(err) != arena.EINVALID || strings.Join(fields, " ") != strings.Join(tt.wantFields, " ") {
				t.Fatalf("err %v with fields %v, want EINVALID naming %v", err, fields, tt.wantFields)
			}
		})
	}
}

// TestSettingsOfEveryType: every type of the domain has a driver here.
func TestSettingsOfEveryType(t *testing.T) {
	for _, typ := range arena.ProviderTypes {
		if _, ok := kinds[typ]; !ok {
			t.Errorf("no driver of type %s", typ)
		}
	}
}
