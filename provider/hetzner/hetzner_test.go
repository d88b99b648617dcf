package hetzner

import (
	"context"
	"maps"
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/arena-hq/arena"
	"github.com/arena-hq/arena/provider/internal/fakeapi"
)

const testToken = "hcloud-secret-token-0123456789"

// newProvider returns a provider of the fake with retries fast enough for
// tests; change adjusts its config.
func newProvider(tb testing.TB, f *fakeapi.Server, change ...func(*Config)) *Provider {
	tb.Helper()
	return fakeapi.NewDriver(tb, New, Config{Name: "hetzner-eu", Token: testToken, Endpoint: f.URL + "/v1", MaxRetries: 2,
		RetryWait: time.Millisecond, RetryMaxWait: 2 * time.Millisecond}, change...)
}

// wantCode fails unless err is an *arena.Error of code whose text shows
// no token.
func wantCode(tb testing.TB, err error, code string) {
	tb.Helper()
	fakeapi.WantCode(tb, err, code, testToken)
}

func labels(node string) map[string]string {
	return map[string]string{arena.MachineLabelInstallation: "inst-1", arena.MachineLabelNode: node}
}

func testSpec() arena.MachineSpec {
	return arena.MachineSpec{Name: "arena-n1", NodeID: "n1", Region: "fsn1", InstanceType: "cx22", Image: "ubuntu-24.04",
		UserData: "#cloud-config\nruncmd: [arena agent]\n", Labels: labels("n1")}
}

func TestCreate(t *testing.T) {
	f := fakeapi.New(t, func(_ int, r fakeapi.Request) fakeapi.Answer {
		switch {
		case r.Method == http.MethodGet && r.Path == "/v1/ssh_keys":
			return fakeapi.Answer{Status: http.StatusOK, Body: map[string]any{"ssh_keys": []any{map[string]any{"id": 8, "name": "deploy", "fingerprint": "aa", "public_key": "ssh-ed25519 AAAA"}},
				"meta": map[string]any{"pagination": map[string]any{"page": 1, "per_page": 25, "next_page": nil, "last_page": 1, "total_entries": 1}}}}
		case r.Method == http.MethodPost && r.Path == "/v1/servers":
			return fakeapi.Answer{Status: http.StatusCreated, Body: map[string]any{"server": server(42, "arena-n1", "203.0.113.7", labels("n1")),
				"action": action(1, "create_server"), "next_actions": []any{}, "root_password": nil}}
		}
		return apiError(http.StatusNotFound, "not_found")
	})
	p := newProvider(t, f, func(c *Config) { c.SSHKeys = []string{"7", "deploy"} })

	m, err := p.Create(t.Context(), testSpec())
	if err != nil {
		t.Fatal(err)
	}
	fakeapi.WantMachine(t, m, arena.Machine{ID: "42", Name: "arena-n1", Labels: labels("n1"), Status: "initializing",
		PublicIP: "203.0.113.7", CreatedAt: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)})

	reqs := f.Requests()
	if len(reqs) != 2 {
		t.Fatalf("%d requests, want the key lookup and the create: %+v", len(reqs), reqs)
	}
	if got := reqs[0].Query.Get("name"); reqs[0].Path != "/v1/ssh_keys" || got != "deploy" {
		t.Errorf("key lookup = %s %s?%v, want GET /v1/ssh_keys?name=deploy", reqs[0].Method, reqs[0].Path, reqs[0].Query)
	}
	create := reqs[1]
	if create.Method != http.MethodPost || create.Path != "/v1/servers" {
		t.Fatalf("create = %s %s, want POST /v1/servers", create.Method, create.Path)
	}
	if got := create.Header.Get("Authorization"); got != "Bearer "+testToken {
		t.Errorf("Authorization = %q", got)
	}
	var body struct {
		Name       string            `json:"name"`
		ServerType string            `json:"server_type"`
		Image      string            `json:"image"`
		Location   string            `json:"location"`
		UserData   string            `json:"user_data"`
		Labels     map[string]string `json:"labels"`
		SSHKeys    []int64           `json:"ssh_keys"`
	}
	create.Decode(t, &body)
	spec := testSpec()
	if body.Name != spec.Name || body.ServerType != spec.InstanceType || body.Image != spec.Image || body.Location != spec.Region ||
		body.UserData != spec.UserData || !maps.Equal(body.Labels, spec.Labels) || !slices.Equal(body.SSHKeys, []int64{7, 8}) {
		t.Errorf("create body = %+v, want the spec's fields and keys [7 8]", body)
	}
}

func TestList(t *testing.T) {
	page := func(servers []any, next any) fakeapi.Answer {
		return fakeapi.Answer{Status: http.StatusOK, Body: map[string]any{"servers": servers,
			"meta": map[string]any{"pagination": map[string]any{"page": 1, "per_page": 50, "next_page": next, "last_page": 2, "total_entries": 3}}}}
	}
	f := fakeapi.New(t, func(_ int, r fakeapi.Request) fakeapi.Answer {
		if r.Method != http.MethodGet || r.Path != "/v1/servers" {
			return apiError(http.StatusNotFound, "not_found")
		}
		if r.Query.Get("page") == "2" {
			return page([]any{server(3, "arena-n3", "203.0.113.3", labels("n3"))}, nil)
		}
		return page([]any{server(1, "arena-n1", "203.0.113.1", labels("n1")), server(2, "arena-n2", "203.0.113.2", labels("n2"))}, 2)
	})
	p := newProvider(t, f)

	machines, err := p.List(t.Context(), map[string]string{arena.MachineLabelNode: "n1", arena.MachineLabelInstallation: "inst-1"})
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, m := range machines {
		ids = append(ids, m.ID)
		if !maps.Equal(m.Labels, labels(m.NodeID())) || m.Name != "arena-"+m.NodeID() {
			t.Errorf("machine %s: name %q, labels %v", m.ID, m.Name, m.Labels)
		}
	}
	if !slices.Equal(ids, []string{"1", "2", "3"}) {
		t.Errorf("ids = %v, want both pages' [1 2 3]", ids)
	}
	reqs := f.Requests()
	if len(reqs) != 2 {
		t.Fatalf("%d requests, want 2 pages", len(reqs))
	}
	for i, r := range reqs {
		if got, want := r.Query.Get("label_selector"), "arena-installation=inst-1,arena-node=n1"; got != want {
			t.Errorf("request %d: label_selector = %q, want %q", i, got, want)
		}
	}
	if reqs[0].Query.Get("page") != "1" || reqs[1].Query.Get("page") != "2" {
		t.Errorf("pages asked = %q, %q", reqs[0].Query.Get("page"), reqs[1].Query.Get("page"))
	}
}

func TestDelete(t *testing.T) {
	tests := []struct {
		name     string
		id       string
		answer   fakeapi.Answer
		wantCode string
		// wantCalls are the requests the delete makes, none where it
		// refuses the id itself.
		wantCalls []string
	}{
		{name: "deleted", id: "42", answer: fakeapi.Answer{Status: http.StatusOK, Body: map[string]any{"action": action(2, "delete_server")}},
			wantCalls: []string{"DELETE /v1/servers/42"}},
		{name: "not found", id: "43", answer: apiError(http.StatusNotFound, "not_found"), wantCode: arena.ENOTFOUND,
			wantCalls: []string{"DELETE /v1/servers/43"}},
		{name: "not a number", id: "i-0abc", wantCode: arena.EINVALID},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := fakeapi.New(t, fakeapi.Always(tt.answer))
			err := newProvider(t, f).Delete(t.Context(), tt.id)
			wantCode(t, err, tt.wantCode)
			if got := f.Calls(); !slices.Equal(got, tt.wantCalls) {
				t.Errorf("requests = %q, want %q", got, tt.wantCalls)
			}
		})
	}
}

func TestErrors(t *testing.T) {
	tests := []struct {
		name   string
		answer fakeapi.Answer
		want   string
		// tries is how many requests the SDK makes: 3 where it retries
		// (MaxRetries 2), 1 where it does not.
		tries int
	}{
		{name: "rate limit persists", answer: apiError(http.StatusTooManyRequests, "rate_limit_exceeded"), want: arena.EUNAVAILABLE, tries: 3},
		{name: "bad gateway persists", answer: apiError(http.StatusBadGateway, "bad_gateway"), want: arena.EUNAVAILABLE, tries: 3},
		{name: "server error", answer: apiError(http.StatusInternalServerError, "server_error"), want: arena.EUNAVAILABLE, tries: 1},
		{name: "5xx without a body", answer: fakeapi.Answer{Status: http.StatusServiceUnavailable, Body: "down for maintenance"}, want: arena.EUNAVAILABLE, tries: 1},
		{name: "out of capacity", answer: apiError(http.StatusPreconditionFailed, "resource_unavailable"), want: arena.EUNAVAILABLE, tries: 1},
		{name: "placement", answer: apiError(http.StatusPreconditionFailed, "placement_error"), want: arena.EUNAVAILABLE, tries: 1},
		{name: "unauthorized", answer: apiError(http.StatusUnauthorized, "unauthorized"), want: arena.EUNAUTHORIZED, tries: 1},
		{name: "forbidden", answer: apiError(http.StatusForbidden, "forbidden"), want: arena.EUNAUTHORIZED, tries: 1},
		{name: "401 without a body", answer: fakeapi.Answer{Status: http.StatusUnauthorized, Body: "no"}, want: arena.EUNAUTHORIZED, tries: 1},
		{name: "invalid input", answer: apiError(http.StatusBadRequest, "invalid_input"), want: arena.EINVALID, tries: 1},
		{name: "unknown image", answer: apiError(http.StatusNotFound, "not_found"), want: arena.EINVALID, tries: 1},
		{name: "unknown code", answer: apiError(http.StatusUnprocessableEntity, "brand_new_code"), want: arena.EINVALID, tries: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := fakeapi.New(t, fakeapi.Always(tt.answer))
			_, err := newProvider(t, f).Create(t.Context(), testSpec())
			wantCode(t, err, tt.want)
			if n := len(f.Requests()); n != tt.tries {
				t.Errorf("%d requests, want %d", n, tt.tries)
			}
		})
	}
}

func TestRateLimitOnceIsRetried(t *testing.T) {
	f := fakeapi.New(t, func(n int, _ fakeapi.Request) fakeapi.Answer {
		if n == 0 {
			return apiError(http.StatusTooManyRequests, "rate_limit_exceeded")
		}
		return fakeapi.Answer{Status: http.StatusOK, Body: map[string]any{"servers": []any{server(1, "arena-n1", "203.0.113.1", labels("n1"))},
			"meta": map[string]any{"pagination": map[string]any{"page": 1, "per_page": 50, "next_page": nil, "last_page": 1, "total_entries": 1}}}}
	})
	machines, err := newProvider(t, f).List(t.Context(), labels("n1"))
	if err != nil {
		t.Fatal(err)
	}
	if len(machines) != 1 || len(f.Requests()) != 2 {
		t.Errorf("%d machines after %d requests, want 1 after 2", len(machines), len(f.Requests()))
	}
}

func TestDeadline(t *testing.T) {
	fakeapi.Deadline(t, func(t *testing.T, timeout time.Duration) func(context.Context) {
		f := fakeapi.New(t, fakeapi.Always(apiError(http.StatusTooManyRequests, "rate_limit_exceeded")))
		p := newProvider(t, f, func(c *Config) {
			c.Timeout, c.MaxRetries, c.RetryWait, c.RetryMaxWait = timeout, 10, time.Minute, time.Minute
		})
		return func(ctx context.Context) {
			_, err := p.Create(ctx, testSpec())
			wantCode(t, err, arena.EUNAVAILABLE)
		}
	})
}

func TestNewNeedsToken(t *testing.T) {
	_, err := New(Config{})
	wantCode(t, err, arena.EINVALID)
}
