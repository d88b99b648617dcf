package digitalocean

import (
	"context"
	"maps"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/arena-hq/arena"
	"github.com/arena-hq/arena/provider/internal/fakeapi"
)

const testToken = "dop_v1_secret_token_0123456789abcdef"

// newProvider returns a provider of the fake with retries fast enough for
// tests; change adjusts its config.
func newProvider(tb testing.TB, f *fakeapi.Server, change ...func(*Config)) *Provider {
	tb.Helper()
	return fakeapi.NewDriver(tb, New, Config{Name: "do-ams", Token: testToken, Endpoint: f.URL, MaxRetries: 2,
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

// tags are the droplet tags of labels(node), with a tag of the account's
// own that is no label.
func tags(node string) []string {
	return []string{"arena-installation:inst-1", "arena-node:" + node, "team-games"}
}

func testSpec() arena.MachineSpec {
	return arena.MachineSpec{Name: "arena-n1", NodeID: "n1", Region: "ams3", InstanceType: "s-2vcpu-4gb", Image: "ubuntu-24-04-x64",
		UserData: "#cloud-config\nruncmd: [arena agent]\n", Labels: labels("n1")}
}

// created is the API's answer to a droplet create.
func created(id int, node string) fakeapi.Answer {
	return fakeapi.Answer{Status: http.StatusAccepted, Body: map[string]any{"droplet": droplet(id, "arena-"+node, "203.0.113.7", tags(node)),
		"links": map[string]any{"actions": []any{map[string]any{"id": 1, "rel": "create", "href": "https://api.example/v2/actions/1"}}}}}
}

func TestCreate(t *testing.T) {
	tests := []struct {
		name     string
		change   func(*Config)
		wantKeys []any
		wantVPC  string
	}{
		{name: "keys and VPC", change: func(c *Config) {
			c.SSHKeys, c.VPCUUID = []string{"7", "3b:16:bf:e4:8b:00:8b:b8:59:8c:a9:d3:f0:19:45:fa"}, "vpc-1"
		}, wantKeys: []any{float64(7), "3b:16:bf:e4:8b:00:8b:b8:59:8c:a9:d3:f0:19:45:fa"}, wantVPC: "vpc-1"},
		{name: "defaults", change: func(*Config) {}, wantKeys: []any{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := fakeapi.New(t, func(_ int, r fakeapi.Request) fakeapi.Answer {
				if r.Method == http.MethodPost && r.Path == "/v2/droplets" {
					return created(42, "n1")
				}
				return apiError(http.StatusNotFound, "not_found", "The resource you were accessing could not be found.")
			})
			m, err := newProvider(t, f, tt.change).Create(t.Context(), testSpec())
			if err != nil {
				t.Fatal(err)
			}
			fakeapi.WantMachine(t, m, arena.Machine{ID: "42", Name: "arena-n1", Labels: labels("n1"), Status: "new",
				PublicIP: "203.0.113.7", CreatedAt: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)})

			reqs := f.Requests()
			if len(reqs) != 1 {
				t.Fatalf("%d requests, want the create alone: %+v", len(reqs), reqs)
			}
			create := reqs[0]
			if create.Method != http.MethodPost || create.Path != "/v2/droplets" {
				t.Fatalf("create = %s %s, want POST /v2/droplets", create.Method, create.Path)
			}
			if got := create.Header.Get("Authorization"); got != "Bearer "+testToken {
				t.Errorf("Authorization = %q", got)
			}
			var body struct {
				Name     string   `json:"name"`
				Region   string   `json:"region"`
				Size     string   `json:"size"`
				Image    any      `json:"image"`
				UserData string   `json:"user_data"`
				Tags     []string `json:"tags"`
				SSHKeys  []any    `json:"ssh_keys"`
				VPCUUID  string   `json:"vpc_uuid"`
			}
			create.Decode(t, &body)
			spec := testSpec()
			if body.Name != spec.Name || body.Region != spec.Region || body.Size != spec.InstanceType || body.Image != spec.Image ||
				body.UserData != spec.UserData || body.VPCUUID != tt.wantVPC {
				t.Errorf("create body = %+v, want the spec's fields and VPC %q", body, tt.wantVPC)
			}
			if want := []string{"arena-installation:inst-1", "arena-node:n1"}; !slices.Equal(body.Tags, want) {
				t.Errorf("tags = %q, want %q", body.Tags, want)
			}
			if !slices.Equal(body.SSHKeys, tt.wantKeys) {
				t.Errorf("ssh_keys = %#v, want %#v", body.SSHKeys, tt.wantKeys)
			}
		})
	}
}

func TestList(t *testing.T) {
	var f *fakeapi.Server
	f = fakeapi.New(t, func(_ int, r fakeapi.Request) fakeapi.Answer {
		if r.Method != http.MethodGet || r.Path != "/v2/droplets" {
			return apiError(http.StatusNotFound, "not_found", "The resource you were accessing could not be found.")
		}
		if r.Query.Get("page") == "2" {
			// The filter is by the installation's tag alone: droplets of
			// other nodes come back too, and are dropped by the provider.
			return page(f, []any{droplet(3, "arena-n1", "203.0.113.3", tags("n1")), droplet(4, "arena-n4", "203.0.113.4", tags("n4"))}, 1, 0)
		}
		return page(f, []any{droplet(1, "arena-n1", "203.0.113.1", tags("n1")), droplet(2, "arena-n2", "203.0.113.2", tags("n2"))}, 0, 2)
	})
	p := newProvider(t, f)

	machines, err := p.List(t.Context(), labels("n1"))
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, m := range machines {
		ids = append(ids, m.ID)
		if !maps.Equal(m.Labels, labels("n1")) || m.Name != "arena-n1" || m.PublicIP == "" {
			t.Errorf("machine %s: name %q, labels %v, address %q", m.ID, m.Name, m.Labels, m.PublicIP)
		}
	}
	if !slices.Equal(ids, []string{"1", "3"}) {
		t.Errorf("ids = %v, want node n1's [1 3] of both pages", ids)
	}
	reqs := f.Requests()
	if len(reqs) != 2 {
		t.Fatalf("%d requests, want 2 pages", len(reqs))
	}
	for i, r := range reqs {
		if got, want := r.Query.Get("tag_name"), "arena-installation:inst-1"; got != want {
			t.Errorf("request %d: tag_name = %q, want %q", i, got, want)
		}
		if got := r.Query.Get("per_page"); got != "200" {
			t.Errorf("request %d: per_page = %q, want 200", i, got)
		}
		if got := r.Header.Get("Authorization"); got != "Bearer "+testToken {
			t.Errorf("request %d: Authorization = %q", i, got)
		}
	}
	if reqs[0].Query.Get("page") != "1" || reqs[1].Query.Get("page") != "2" {
		t.Errorf("pages asked = %q, %q", reqs[0].Query.Get("page"), reqs[1].Query.Get("page"))
	}
}

func TestListLinksThatDoNotAdvance(t *testing.T) {
	// Every page links to page 2 and none back: the provider cannot tell
	// which page it got, and stops rather than asking forever.
	var f *fakeapi.Server
	f = fakeapi.New(t, func(int, fakeapi.Request) fakeapi.Answer {
		return page(f, []any{droplet(1, "arena-n1", "203.0.113.1", tags("n1"))}, 0, 2)
	})
	_, err := newProvider(t, f).List(t.Context(), labels("n1"))
	wantCode(t, err, arena.EINTERNAL)
	if n := len(f.Requests()); n != 2 {
		t.Errorf("%d requests, want 2", n)
	}
}

func TestListFilterTag(t *testing.T) {
	tests := []struct {
		name    string
		labels  map[string]string
		wantTag string
		wantIDs []string
	}{
		{name: "installation", labels: map[string]string{arena.MachineLabelInstallation: "inst-1"}, wantTag: "arena-installation:inst-1",
			wantIDs: []string{"1", "2"}},
		{name: "first key without the installation", labels: map[string]string{arena.MachineLabelNode: "n2", "pool": "eu"},
			wantTag: "arena-node:n2", wantIDs: []string{"2"}},
		{name: "no labels lists all", labels: nil, wantIDs: []string{"1", "2", "3"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var f *fakeapi.Server
			f = fakeapi.New(t, func(int, fakeapi.Request) fakeapi.Answer {
				return page(f, []any{
					droplet(1, "arena-n1", "203.0.113.1", tags("n1")),
					droplet(2, "arena-n2", "203.0.113.2", append(tags("n2"), "pool:eu")),
					droplet(3, "web", "203.0.113.3", []string{"web"}),
				}, 0, 0)
			})
			machines, err := newProvider(t, f).List(t.Context(), tt.labels)
			if err != nil {
				t.Fatal(err)
			}
			var ids []string
			for _, m := range machines {
				ids = append(ids, m.ID)
			}
			if !slices.Equal(ids, tt.wantIDs) {
				t.Errorf("ids = %v, want %v", ids, tt.wantIDs)
			}
			reqs := f.Requests()
			if len(reqs) != 1 {
				t.Fatalf("%d requests, want 1", len(reqs))
			}
			if got, ok := reqs[0].Query["tag_name"]; tt.wantTag == "" && ok || tt.wantTag != "" && (len(got) != 1 || got[0] != tt.wantTag) {
				t.Errorf("tag_name = %q, want %q", got, tt.wantTag)
			}
		})
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
		{name: "deleted", id: "42", answer: fakeapi.Answer{Status: http.StatusNoContent}, wantCalls: []string{"DELETE /v2/droplets/42"}},
		{name: "not found", id: "43", answer: apiError(http.StatusNotFound, "not_found", "The resource you were accessing could not be found."),
			wantCode: arena.ENOTFOUND, wantCalls: []string{"DELETE /v2/droplets/43"}},
		{name: "not a number", id: "i-0abc", wantCode: arena.EINVALID},
		{name: "zero", id: "0", wantCode: arena.EINVALID},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := fakeapi.New(t, fakeapi.Always(tt.answer))
			err := newProvider(t, f).Delete(t.Context(), tt.id)
			wantCode(t, err, tt.wantCode)
			if got := f.Calls(); !slices.Equal(got, tt.wantCalls) {
				t.Errorf("requests = %q, want %q", got, tt.wantCalls)
			}
			for i, r := range f.Requests() {
				if got := r.Header.Get("Authorization"); got != "Bearer "+testToken {
					t.Errorf("request %d: Authorization = %q", i, got)
				}
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
		// (MaxRetries 2: 429 and 5xx but 501), 1 where it does not.
		tries int
		// reason is part of the error's message: the status, where the
		// retries ran out, and not an unreachable API.
		reason string
	}{
		{name: "rate limit persists", answer: apiError(http.StatusTooManyRequests, "too_many_requests", "API Rate limit exceeded."),
			want: arena.EUNAVAILABLE, tries: 3, reason: "rate limited"},
		{name: "server error persists", answer: apiError(http.StatusInternalServerError, "server_error", "Server was unable to give you a response."),
			want: arena.EUNAVAILABLE, tries: 3, reason: "HTTP 500"},
		{name: "bad gateway persists", answer: fakeapi.Answer{Status: http.StatusBadGateway, Body: "<html>bad gateway</html>"}, want: arena.EUNAVAILABLE, tries: 3, reason: "HTTP 502"},
		{name: "5xx without a body", answer: fakeapi.Answer{Status: http.StatusServiceUnavailable}, want: arena.EUNAVAILABLE, tries: 3, reason: "HTTP 503"},
		{name: "not implemented", answer: apiError(http.StatusNotImplemented, "not_implemented", "no"), want: arena.EUNAVAILABLE, tries: 1, reason: "HTTP 501"},
		{name: "unauthorized", answer: apiError(http.StatusUnauthorized, "unauthorized", "Unable to authenticate you."), want: arena.EUNAUTHORIZED, tries: 1},
		{name: "forbidden", answer: apiError(http.StatusForbidden, "forbidden", "You do not have access for the attempted action."),
			want: arena.EUNAUTHORIZED, tries: 1},
		{name: "401 without a body", answer: fakeapi.Answer{Status: http.StatusUnauthorized, Body: "no"}, want: arena.EUNAUTHORIZED, tries: 1},
		{name: "invalid size", answer: apiError(http.StatusUnprocessableEntity, "unprocessable_entity", "You specified an invalid size for Droplet creation."),
			want: arena.EINVALID, tries: 1},
		{name: "droplet limit", answer: apiError(http.StatusUnprocessableEntity, "unprocessable_entity",
			"creating this/these droplet(s) will exceed your droplet limit"), want: arena.EUNAVAILABLE, tries: 1, reason: "no capacity"},
		{name: "size sold out", answer: apiError(http.StatusUnprocessableEntity, "unprocessable_entity", "Size is not available in this region."),
			want: arena.EUNAVAILABLE, tries: 1, reason: "no capacity"},
		{name: "unknown image", answer: apiError(http.StatusNotFound, "not_found", "The image you specified could not be found."),
			want: arena.EINVALID, tries: 1},
		{name: "bad request", answer: apiError(http.StatusBadRequest, "bad_request", "bad"), want: arena.EINVALID, tries: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := fakeapi.New(t, fakeapi.Always(tt.answer))
			_, err := newProvider(t, f).Create(t.Context(), testSpec())
			wantCode(t, err, tt.want)
			if n := len(f.Requests()); n != tt.tries {
				t.Errorf("%d requests, want %d", n, tt.tries)
			}
			if msg := arena.ErrorMessage(err); !strings.Contains(msg, tt.reason) {
				t.Errorf("message %q, want it to say %q", msg, tt.reason)
			}
		})
	}
}

func TestRateLimitOnceIsRetried(t *testing.T) {
	var f *fakeapi.Server
	f = fakeapi.New(t, func(n int, _ fakeapi.Request) fakeapi.Answer {
		if n == 0 {
			return apiError(http.StatusTooManyRequests, "too_many_requests", "API Rate limit exceeded.")
		}
		return page(f, []any{droplet(1, "arena-n1", "203.0.113.1", tags("n1"))}, 0, 0)
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
		f := fakeapi.New(t, fakeapi.Always(apiError(http.StatusTooManyRequests, "too_many_requests", "API Rate limit exceeded.")))
		p := newProvider(t, f, func(c *Config) {
			c.Timeout, c.MaxRetries, c.RetryWait, c.RetryMaxWait = timeout, 10, time.Minute, time.Minute
		})
		return func(ctx context.Context) {
			_, err := p.Create(ctx, testSpec())
			wantCode(t, err, arena.EUNAVAILABLE)
			if n := len(f.Requests()); n != 1 {
				t.Errorf("%d requests, want 1 before the deadline cut the wait", n)
			}
		}
	})
}

func TestInvalidLabels(t *testing.T) {
	tests := []struct {
		name   string
		labels map[string]string
	}{
		{name: "colon in a key", labels: map[string]string{"arena:node": "n1"}},
		{name: "dot in a value", labels: map[string]string{arena.MachineLabelNode: "n1.eu"}},
		{name: "space in a value", labels: map[string]string{arena.MachineLabelInstallation: "inst 1"}},
		{name: "slash in a key", labels: map[string]string{"arena/node": "n1"}},
		{name: "empty key", labels: map[string]string{"": "n1"}},
		{name: "longer than a tag", labels: map[string]string{arena.MachineLabelNode: strings.Repeat("n", 250)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := fakeapi.New(t, fakeapi.Always(created(42, "n1")))
			p := newProvider(t, f)
			spec := testSpec()
			spec.Labels = tt.labels
			_, err := p.Create(t.Context(), spec)
			wantCode(t, err, arena.EINVALID)
			_, err = p.List(t.Context(), tt.labels)
			wantCode(t, err, arena.EINVALID)
			if n := len(f.Requests()); n != 0 {
				t.Errorf("%d requests, want none", n)
			}
		})
	}
}

func TestLabels(t *testing.T) {
	tests := []struct {
		name string
		tags []string
		want map[string]string
	}{
		{name: "labels", tags: []string{"arena-installation:inst-1", "arena-node:n1"}, want: labels("n1")},
		{name: "plain tags are no labels", tags: []string{"web", "arena-node:n1", ":x"}, want: map[string]string{arena.MachineLabelNode: "n1"}},
		{name: "value with a colon", tags: []string{"zone:ams3:a", "empty:"}, want: map[string]string{"zone": "ams3:a", "empty": ""}},
		{name: "none", tags: nil, want: map[string]string{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Labels(tt.tags); !maps.Equal(got, tt.want) {
				t.Errorf("Labels(%q) = %v, want %v", tt.tags, got, tt.want)
			}
		})
	}
	t.Run("round trip", func(t *testing.T) {
		in := map[string]string{arena.MachineLabelInstallation: "inst-1", arena.MachineLabelNode: "n1", "zone": "ams3:a", "pool_id": "Eu_1"}
		tags, err := Tags(in)
		if err != nil {
			t.Fatal(err)
		}
		if got := Labels(tags); !maps.Equal(got, in) {
			t.Errorf("Labels(Tags(%v)) = %v", in, got)
		}
	})
}

func TestEndpointPath(t *testing.T) {
	f := fakeapi.New(t, fakeapi.Always(fakeapi.Answer{Status: http.StatusNoContent}))
	p := newProvider(t, f, func(c *Config) { c.Endpoint = f.URL + "/proxy" })
	if err := p.Delete(t.Context(), "42"); err != nil {
		t.Fatal(err)
	}
	if got, want := f.Calls(), []string{"DELETE /proxy/v2/droplets/42"}; !slices.Equal(got, want) {
		t.Errorf("requests = %q, want %q", got, want)
	}
}

func TestNoRetries(t *testing.T) {
	f := fakeapi.New(t, fakeapi.Always(apiError(http.StatusTooManyRequests, "too_many_requests", "API Rate limit exceeded.")))
	_, err := newProvider(t, f, func(c *Config) { c.MaxRetries = -1 }).Create(t.Context(), testSpec())
	wantCode(t, err, arena.EUNAVAILABLE)
	if n := len(f.Requests()); n != 1 {
		t.Errorf("%d requests, want 1", n)
	}
}

func TestUnreachable(t *testing.T) {
	f := fakeapi.New(t, fakeapi.Always(created(42, "n1")))
	p := newProvider(t, f)
	f.Close()
	_, err := p.Create(t.Context(), testSpec())
	wantCode(t, err, arena.EUNAVAILABLE)
	if msg := arena.ErrorMessage(err); !strings.Contains(msg, "unreachable") {
		t.Errorf("message %q, want an unreachable API", msg)
	}
}

func TestNewNeedsToken(t *testing.T) {
	_, err := New(Config{})
	wantCode(t, err, arena.EINVALID)
}
