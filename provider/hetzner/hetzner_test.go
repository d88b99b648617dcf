package hetzner

import (
	"context"
	"errors"
	"maps"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/arena-hq/arena"
)

const testToken = "hcloud-secret-token-0123456789"

// newProvider returns a provider of the fake with retries fast enough for
// tests; change adjusts its config.
func newProvider(tb testing.TB, f *fake, change ...func(*Config)) *Provider {
	tb.Helper()
	cfg := Config{Name: "hetzner-eu", Token: testToken, Endpoint: f.srv.URL + "/v1", MaxRetries: 2,
		RetryWait: time.Millisecond, RetryMaxWait: 2 * time.Millisecond}
	for _, c := range change {
		c(&cfg)
	}
	p, err := New(cfg)
	if err != nil {
		tb.Fatal(err)
	}
	return p
}

// wantCode fails unless err is an *arena.Error of code whose text holds no
// credentials.
func wantCode(tb testing.TB, err error, code string) {
	tb.Helper()
	var e *arena.Error
	if !errors.As(err, &e) {
		tb.Fatalf("err = %v (%T), want an *arena.Error of %s", err, err, code)
	}
	if e.Code != code {
		tb.Fatalf("code = %s, want %s (%v)", e.Code, code, err)
	}
	if strings.Contains(err.Error(), testToken) {
		tb.Fatalf("the error shows the token: %v", err)
	}
}

func labels(node string) map[string]string {
	return map[string]string{arena.MachineLabelInstallation: "inst-1", arena.MachineLabelNode: node}
}

func testSpec() arena.MachineSpec {
	return arena.MachineSpec{Name: "arena-n1", NodeID: "n1", Region: "fsn1", InstanceType: "cx22", Image: "ubuntu-24.04",
		UserData: "#cloud-config\nruncmd: [arena agent]\n", Labels: labels("n1")}
}

func TestCreate(t *testing.T) {
	f := newFake(t, func(_ int, r request) answer {
		switch {
		case r.Method == http.MethodGet && r.Path == "/v1/ssh_keys":
			return answer{http.StatusOK, map[string]any{"ssh_keys": []any{map[string]any{"id": 8, "name": "deploy", "fingerprint": "aa", "public_key": "ssh-ed25519 AAAA"}},
				"meta": map[string]any{"pagination": map[string]any{"page": 1, "per_page": 25, "next_page": nil, "last_page": 1, "total_entries": 1}}}}
		case r.Method == http.MethodPost && r.Path == "/v1/servers":
			return answer{http.StatusCreated, map[string]any{"server": server(42, "arena-n1", "203.0.113.7", labels("n1")),
				"action": action(1, "create_server"), "next_actions": []any{}, "root_password": nil}}
		}
		return apiError(http.StatusNotFound, "not_found")
	})
	p := newProvider(t, f, func(c *Config) { c.SSHKeys = []string{"7", "deploy"} })

	m, err := p.Create(t.Context(), testSpec())
	if err != nil {
		t.Fatal(err)
	}
	want := arena.Machine{ID: "42", Name: "arena-n1", Labels: labels("n1"), Status: "initializing", PublicIP: "203.0.113.7",
		CreatedAt: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}
	if m.ID != want.ID || m.Name != want.Name || m.Status != want.Status || m.PublicIP != want.PublicIP ||
		!m.CreatedAt.Equal(want.CreatedAt) || !maps.Equal(m.Labels, want.Labels) {
		t.Errorf("machine = %+v, want %+v", m, want)
	}

	reqs := f.requests()
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
	create.decode(t, &body)
	spec := testSpec()
	if body.Name != spec.Name || body.ServerType != spec.InstanceType || body.Image != spec.Image || body.Location != spec.Region ||
		body.UserData != spec.UserData || !maps.Equal(body.Labels, spec.Labels) || !slices.Equal(body.SSHKeys, []int64{7, 8}) {
		t.Errorf("create body = %+v, want the spec's fields and keys [7 8]", body)
	}
}

func TestList(t *testing.T) {
	page := func(servers []any, next any) answer {
		return answer{http.StatusOK, map[string]any{"servers": servers,
			"meta": map[string]any{"pagination": map[string]any{"page": 1, "per_page": 50, "next_page": next, "last_page": 2, "total_entries": 3}}}}
	}
	f := newFake(t, func(_ int, r request) answer {
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
	reqs := f.requests()
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
		answer   answer
		wantCode string
		wantPath string
	}{
		{name: "deleted", id: "42", answer: answer{http.StatusOK, map[string]any{"action": action(2, "delete_server")}}, wantPath: "/v1/servers/42"},
		{name: "not found", id: "43", answer: apiError(http.StatusNotFound, "not_found"), wantCode: arena.ENOTFOUND, wantPath: "/v1/servers/43"},
		{name: "not a number", id: "i-0abc", wantCode: arena.EINVALID},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFake(t, always(tt.answer))
			err := newProvider(t, f).Delete(t.Context(), tt.id)
			if tt.wantCode == "" && err != nil {
				t.Fatal(err)
			}
			if tt.wantCode != "" {
				wantCode(t, err, tt.wantCode)
			}
			reqs := f.requests()
			if tt.wantPath == "" {
				if len(reqs) != 0 {
					t.Errorf("%d requests, want none", len(reqs))
				}
				return
			}
			if len(reqs) != 1 || reqs[0].Method != http.MethodDelete || reqs[0].Path != tt.wantPath {
				t.Errorf("requests = %+v, want DELETE %s", reqs, tt.wantPath)
			}
		})
	}
}

func TestErrors(t *testing.T) {
	tests := []struct {
		name   string
		answer answer
		want   string
		// tries is how many requests the SDK makes: 3 where it retries
		// (MaxRetries 2), 1 where it does not.
		tries int
	}{
		{name: "rate limit persists", answer: apiError(http.StatusTooManyRequests, "rate_limit_exceeded"), want: arena.EUNAVAILABLE, tries: 3},
		{name: "bad gateway persists", answer: apiError(http.StatusBadGateway, "bad_gateway"), want: arena.EUNAVAILABLE, tries: 3},
		{name: "server error", answer: apiError(http.StatusInternalServerError, "server_error"), want: arena.EUNAVAILABLE, tries: 1},
		{name: "5xx without a body", answer: answer{http.StatusServiceUnavailable, "down for maintenance"}, want: arena.EUNAVAILABLE, tries: 1},
		{name: "out of capacity", answer: apiError(http.StatusPreconditionFailed, "resource_unavailable"), want: arena.EUNAVAILABLE, tries: 1},
		{name: "placement", answer: apiError(http.StatusPreconditionFailed, "placement_error"), want: arena.EUNAVAILABLE, tries: 1},
		{name: "unauthorized", answer: apiError(http.StatusUnauthorized, "unauthorized"), want: arena.EUNAUTHORIZED, tries: 1},
		{name: "forbidden", answer: apiError(http.StatusForbidden, "forbidden"), want: arena.EUNAUTHORIZED, tries: 1},
		{name: "401 without a body", answer: answer{http.StatusUnauthorized, "no"}, want: arena.EUNAUTHORIZED, tries: 1},
		{name: "invalid input", answer: apiError(http.StatusBadRequest, "invalid_input"), want: arena.EINVALID, tries: 1},
		{name: "unknown image", answer: apiError(http.StatusNotFound, "not_found"), want: arena.EINVALID, tries: 1},
		{name: "unknown code", answer: apiError(http.StatusUnprocessableEntity, "brand_new_code"), want: arena.EINVALID, tries: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFake(t, always(tt.answer))
			_, err := newProvider(t, f).Create(t.Context(), testSpec())
			wantCode(t, err, tt.want)
			if n := len(f.requests()); n != tt.tries {
				t.Errorf("%d requests, want %d", n, tt.tries)
			}
		})
	}
}

func TestRateLimitOnceIsRetried(t *testing.T) {
	f := newFake(t, func(n int, _ request) answer {
		if n == 0 {
			return apiError(http.StatusTooManyRequests, "rate_limit_exceeded")
		}
		return answer{http.StatusOK, map[string]any{"servers": []any{server(1, "arena-n1", "203.0.113.1", labels("n1"))},
			"meta": map[string]any{"pagination": map[string]any{"page": 1, "per_page": 50, "next_page": nil, "last_page": 1, "total_entries": 1}}}}
	})
	machines, err := newProvider(t, f).List(t.Context(), labels("n1"))
	if err != nil {
		t.Fatal(err)
	}
	if len(machines) != 1 || len(f.requests()) != 2 {
		t.Errorf("%d machines after %d requests, want 1 after 2", len(machines), len(f.requests()))
	}
}

func TestDeadline(t *testing.T) {
	slow := func(c *Config) { c.MaxRetries, c.RetryWait, c.RetryMaxWait = 10, time.Minute, time.Minute }
	tests := []struct {
		name   string
		ctx    func(testing.TB) context.Context
		change func(*Config)
	}{
		{name: "caller's deadline", ctx: func(tb testing.TB) context.Context {
			ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
			tb.Cleanup(cancel)
			return ctx
		}, change: slow},
		{name: "default timeout", ctx: func(testing.TB) context.Context { return context.Background() },
			change: func(c *Config) { slow(c); c.Timeout = 100 * time.Millisecond }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFake(t, always(apiError(http.StatusTooManyRequests, "rate_limit_exceeded")))
			start := time.Now()
			_, err := newProvider(t, f, tt.change).Create(tt.ctx(t), testSpec())
			wantCode(t, err, arena.EUNAVAILABLE)
			if d := time.Since(start); d > 10*time.Second {
				t.Errorf("took %v despite the deadline", d)
			}
		})
	}
}

func TestNewNeedsToken(t *testing.T) {
	_, err := New(Config{})
	wantCode(t, err, arena.EINVALID)
}
