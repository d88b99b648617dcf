package http_test

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/arena-hq/arena"
	"github.com/arena-hq/arena/provider"
	"github.com/arena-hq/arena/scaler"
	"github.com/arena-hq/arena/sqlite"
	"github.com/arena-hq/arena/tenant"
)

// newScalingSettings returns the scaling settings of a store of its own,
// with the real drivers, which make no call until the scaler uses them.
func newScalingSettings(tb testing.TB) *scaler.Settings {
	tb.Helper()
	st, err := sqlite.Open(context.Background(), tb.TempDir()+"/arena.db")
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { st.Close() })
	sealer, err := tenant.NewSealer(bytes.Repeat([]byte{3}, tenant.SealerKeySize))
	if err != nil {
		tb.Fatal(err)
	}
	dir := tb.TempDir()
	return scaler.NewSettings(st, sealer, func(p *arena.CloudProvider) (arena.Provider, error) {
		return provider.New(p, provider.Defaults{LocalDir: dir, LocalBinary: "/bin/true"})
	})
}

// TestScalerSettingsAPI: providers and policies are made, changed and
// removed through the admin API, credentials are never answered, and bad
// input is refused with the field named and nothing stored.
func TestScalerSettingsAPI(t *testing.T) {
	api := newTestAPI(t, nil)
	const token = "hcloud-token-never-shown"
	admin := func(method, path, body string) response {
		t.Helper()
		req := api.request(t, method, path, body)
		req.Header.Set("Authorization", "Bearer "+adminSecret)
		r := api.send(t, req)
		if bytes.Contains(r.body, []byte(token)) {
			t.Fatalf("%s %s answered the token: %s", method, path, r.body)
		}
		return r
	}
	policy := `{"offers":[{"provider":"hetzner","region":"fsn1","location":"eu-cloud","instanceType":"cx22","costPerHour":0.01,"capacity":{"milliCpu":2000,"memoryMb":4096}}],"maxNodes":3,"buffer":{"resources":{"milliCpu":1000,"memoryMb":1024}}}`
	steps := []struct {
		name, method, path, body string
		status                   int
		// want is in the body answered.
		want string
	}{
		{"a policy of an unknown provider", http.MethodPut, "/admin/v1/scaler/policies/europe", policy, http.StatusUnprocessableEntity, `"field":"offers[0].provider"`},
		{"a provider without its token", http.MethodPut, "/admin/v1/scaler/providers/hetzner", `{"type":"hetzner"}`, http.StatusUnprocessableEntity, `"field":"credentials.token"`},
		{"a provider with a misspelt setting", http.MethodPut, "/admin/v1/scaler/providers/hetzner", `{"type":"hetzner","settings":{"sshKey":"a"},"credentials":{"token":"` + token + `"}}`, http.StatusUnprocessableEntity, `"field":"settings.sshKey"`},
		{"a provider of an unknown type", http.MethodPut, "/admin/v1/scaler/providers/vs", `{"type":"vsphere"}`, http.StatusUnprocessableEntity, `"field":"type"`},
		{"nothing was stored", http.MethodGet, "/admin/v1/scaler/providers", "", http.StatusOK, `{"providers":[]}`},
		{"a provider", http.MethodPut, "/admin/v1/scaler/providers/hetzner", `{"type":"hetzner","settings":{"sshKeys":"deploy"},"credentials":{"token":"` + token + `"}}`, http.StatusOK, `"credentials":["token"]`},
		{"its settings changed, its token kept", http.MethodPut, "/admin/v1/scaler/providers/hetzner", `{"type":"hetzner","settings":{"sshKeys":"other"}}`, http.StatusOK, `"credentials":["token"]`},
		{"listed without the token", http.MethodGet, "/admin/v1/scaler/providers", "", http.StatusOK, `"settings":{"sshKeys":"other"}`},
		{"a policy", http.MethodPut, "/admin/v1/scaler/policies/europe", policy, http.StatusOK, `"joinTimeoutSeconds":600`},
		{"a policy of a negative cooldown", http.MethodPut, "/admin/v1/scaler/policies/asia", strings.Replace(policy, `"maxNodes":3`, `"maxNodes":3,"scaleUpCooldownSeconds":-1`, 1), http.StatusUnprocessableEntity, `"field":"scaleUpCooldownSeconds"`},
		{"a policy of an unknown field", http.MethodPut, "/admin/v1/scaler/policies/asia", strings.Replace(policy, `"maxNodes"`, `"maxNode"`, 1), http.StatusUnprocessableEntity, `maxNode`},
		{"the provider a policy offers", http.MethodDelete, "/admin/v1/scaler/providers/hetzner", "", http.StatusConflict, `europe`},
		{"the policy removed", http.MethodDelete, "/admin/v1/scaler/policies/europe", "", http.StatusNoContent, ""},
		{"a policy that is not", http.MethodDelete, "/admin/v1/scaler/policies/europe", "", http.StatusNotFound, ""},
		{"then the provider", http.MethodDelete, "/admin/v1/scaler/providers/hetzner", "", http.StatusNoContent, ""},
		{"a provider that is not", http.MethodDelete, "/admin/v1/scaler/providers/hetzner", "", http.StatusNotFound, ""},
	}
	for _, st := range steps {
		r := admin(st.method, st.path, st.body)
		if r.status != st.status || !strings.Contains(string(r.body), st.want) {
			t.Fatalf("%s: %s %s → %d %s; want %d with %s", st.name, st.method, st.path, r.status, r.body, st.status, st.want)
		}
	}
	if r := api.do(t, http.MethodPut, "/admin/v1/scaler/providers/x", `{"type":"local"}`); r.status != http.StatusForbidden {
		t.Fatalf("a token without the operator scope: %d %s", r.status, r.body)
	}
}

// TestScalerSettingsAPIShowsProviders: the list names every credential
// and shows the settings as given.
func TestScalerSettingsAPIShowsProviders(t *testing.T) {
	api := newTestAPI(t, nil)
	req := api.request(t, http.MethodPut, "/admin/v1/scaler/providers/aws-eu",
		`{"type":"aws","settings":{"region":"eu-central-1"},"credentials":{"accessKeyId":"AKIAX","secretAccessKey":"very-secret"}}`)
	req.Header.Set("Authorization", "Bearer "+adminSecret)
	if r := api.send(t, req); r.status != http.StatusOK {
		t.Fatalf("put: %d %s", r.status, r.body)
	}
	req = api.request(t, http.MethodGet, "/admin/v1/scaler/providers", "")
	req.Header.Set("Authorization", "Bearer "+adminSecret)
	r := api.send(t, req)
	var out struct {
		Providers []struct {
			Name        string            `json:"name"`
			Type        string            `json:"type"`
			Settings    map[string]string `json:"settings"`
			Credentials []string          `json:"credentials"`
			Source      string            `json:"source"`
		} `json:"providers"`
	}
	if err := json.Unmarshal(r.body, &out); err != nil || len(out.Providers) != 1 {
		t.Fatalf("list %s: %v", r.body, err)
	}
	p := out.Providers[0]
	if p.Name != "aws-eu" || p.Type != "aws" || p.Settings["region"] != "eu-central-1" || p.Source != "api" ||
		!slices.Equal(p.Credentials, []string{"accessKeyId", "secretAccessKey"}) || bytes.Contains(r.body, []byte("very-secret")) {
		t.Fatalf("listed %s", r.body)
	}
}
