package http_test

import (
	"encoding/json"
	"net/http"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/arena-hq/arena"
)

// duelApp is a CreateApplicationRequestBody of the current revision.
const duelApp = `{"name":"duel","registry":"registry.example.com:5000","repository":"studio/duel","tagKeep":2,
	"networkMode":"bridge","limits":{"cpu":1,"ram":512},"reservation":{"cpu":0.5,"ram":256},
	"nodePool":"default","regions":["europe"],"ports":[{"requested":7777,"protocol":"udp","tls":false}]}`

func TestRegions(t *testing.T) {
	api := newTestAPI(t, nil)
	var got struct{ Regions []string }
	api.do(t, http.MethodGet, "/region", "").decodeJSON(t, &got)
	if !slices.Equal(got.Regions, []string{"europe", "us-east"}) {
		t.Fatalf("regions %v", got.Regions)
	}
}

func TestCreateContractToken(t *testing.T) {
	tests := []struct {
		name, body string
		status     int
		// fields are those of the violations of a 422.
		fields []string
	}{
		{"with the current revision's scopes", `{"name":"fleet","scopes":["session:start","session:read","session:stop"],"expires_after":"2h30m"}`, 201, nil},
		{"without expiry", `{"name":"fleet","scopes":["sessions:read"]}`, 201, nil},
		{"no scopes", `{"name":"fleet","scopes":[]}`, 422, []string{"scopes"}},
		{"missing name and scopes", `{}`, 422, []string{"name", "scopes"}},
		{"expiry in days", `{"name":"fleet","scopes":["session:read"],"expires_after":"7d"}`, 422, []string{"expires_after"}},
		{"an unknown field", `{"name":"fleet","scopes":["session:read"],"owner":"me"}`, 422, []string{"body"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			api := newTestAPI(t, nil)
			req := api.request(t, http.MethodPost, "/token", tt.body)
			req.Header.Set("Authorization", "Bearer "+orgAdminSecret)
			r := api.send(t, req)
			if r.status != tt.status {
				t.Fatalf("status %d, want %d; body %s", r.status, tt.status, r.body)
			}
			if tt.status != 201 {
				if got := r.wantError(t, tt.status, arena.EINVALID).fields(); !slices.Equal(got, tt.fields) {
					t.Fatalf("violations of %v, want %v", got, tt.fields)
				}
				return
			}
			var out struct{ Token string }
			r.decodeJSON(t, &out)
			if out.Token != "arena_secret-of-fleet" || r.header.Get("Cache-Control") != "no-store" {
				t.Fatalf("token %q, Cache-Control %q", out.Token, r.header.Get("Cache-Control"))
			}
		})
	}
}

func TestApplicationsOfTheContract(t *testing.T) {
	api := newTestAPI(t, nil)
	call := func(method, path, body string) response {
		t.Helper()
		req := api.request(t, method, path, body)
		req.Header.Set("Authorization", "Bearer "+scopedSecret(arena.ScopeApplicationWrite))
		return api.send(t, req)
	}
	if r := call(http.MethodPost, "/application", duelApp); r.status != 201 || strings.TrimSpace(string(r.body)) != "{}" {
		t.Fatalf("create: %d %s", r.status, r.body)
	}
	if r := call(http.MethodPost, "/application", duelApp); r.status == 201 {
		t.Fatalf("a second create of the same name: %d", r.status)
	}
	list := func() map[string]any {
		t.Helper()
		var out struct{ Applications []map[string]any }
		call(http.MethodGet, "/application", "").decodeJSON(t, &out)
		for _, a := range out.Applications {
			if a["name"] == "duel" {
				return a
			}
		}
		t.Fatalf("duel not listed: %+v", out)
		return nil
	}
	want := `{"limits":{"cpu":1,"ram":512},"name":"duel","networkMode":"bridge","nodePool":"default",` +
		`"ports":[{"protocol":"udp","requested":7777,"tls":false}],` +
		`"readOnlyRootFilesystem":false,"readiness":{"mode":"ports","runOnTimeout":false,"timeoutSeconds":60},"regions":["europe"],"registry":"registry.example.com:5000",` +
		`"repository":"studio/duel","reservation":{"cpu":0.5,"ram":256},"tagKeep":2,"tags":[],"tmpfs":[],"user":"","warmPools":[]}`
	if got, _ := json.Marshal(list()); string(got) != want {
		t.Fatalf("listed\n%s\nwant\n%s", got, want)
	}

	// An edit changes what it names and nothing else.
	if r := call(http.MethodPut, "/application/duel", `{"registry":"dockerhub","reservation":{"cpu":1,"ram":512},"regions":[]}`); r.status != 204 {
		t.Fatalf("edit: %d %s", r.status, r.body)
	}
	a := list()
	if a["registry"] != "dockerhub" || a["repository"] != "studio/duel" || a["networkMode"] != "bridge" || len(a["regions"].([]any)) != 0 {
		t.Fatalf("after the edit: %+v", a)
	}

	// Enabled tags go on top, and tagKeep retires the oldest.
	for _, tag := range []string{"1.0", "1.1", "1.2"} {
		if r := call(http.MethodPost, "/application/duel/tags", `{"tag":"`+tag+`"}`); r.status != 204 {
			t.Fatalf("enable %s: %d %s", tag, r.status, r.body)
		}
	}
	if tags, _ := json.Marshal(list()["tags"]); string(tags) != `[{"name":"1.1","priority":2},{"name":"1.2","priority":3}]` {
		t.Fatalf("tags after enabling three with tagKeep 2: %s", tags)
	}

	errors := []struct {
		name, method, path, body string
		status                   int
		code                     string
	}{
		{"a tag the registry lacks", http.MethodPost, "/application/duel/tags", `{"tag":"9.9"}`, 404, arena.ENOTFOUND},
		{"enable without a tag", http.MethodPost, "/application/duel/tags", `{}`, 422, arena.EINVALID},
		{"another organisation's application", http.MethodPost, "/application/their-game/tags", `{"tag":"1.0"}`, 404, arena.ENOTFOUND},
		{"edit another organisation's application", http.MethodPut, "/application/their-game", `{"tagKeep":1}`, 404, arena.ENOTFOUND},
		{"rename", http.MethodPut, "/application/duel", `{"name":"other"}`, 422, arena.EINVALID},
		{"GPUs", http.MethodPut, "/application/duel", `{"limits":{"cpu":1,"ram":512,"gpu":1}}`, 422, arena.EINVALID},
		{"TLS", http.MethodPut, "/application/duel", `{"ports":[{"requested":443,"protocol":"tcp","tls":true}]}`, 422, arena.EINVALID},
		{"a registry host in the repository", http.MethodPut, "/application/duel", `{"repository":"ghcr.io/studio/duel"}`, 422, arena.EINVALID},
		{"a malformed registry", http.MethodPut, "/application/duel", `{"registry":"not a host"}`, 422, arena.EINVALID},
		{"an unknown network mode", http.MethodPut, "/application/duel", `{"networkMode":"overlay"}`, 422, arena.EINVALID},
		{"a create missing fields", http.MethodPost, "/application", `{"name":"half"}`, 422, arena.EINVALID},
	}
	for _, tt := range errors {
		t.Run(tt.name, func(t *testing.T) {
			call(tt.method, tt.path, tt.body).wantError(t, tt.status, tt.code)
		})
	}
	if tags, _ := json.Marshal(list()["tags"]); string(tags) != `[{"name":"1.1","priority":2},{"name":"1.2","priority":3}]` {
		t.Fatalf("a refused request changed the tags: %s", tags)
	}
}

// TestApplicationSecurityOfTheContract takes an application's user,
// read-only root and tmpfs through the Gameye API's bodies, where they are
// Arena's additions: created with them, shown, and edited one at a time.
func TestApplicationSecurityOfTheContract(t *testing.T) {
	api := newTestAPI(t, nil)
	call := func(t *testing.T, method, path, body string) response {
		t.Helper()
		return api.doAs(t, arena.ScopeApplicationWrite, method, path, body)
	}
	type security struct {
		User                   string
		ReadOnlyRootFilesystem bool
		Tmpfs                  []string
	}
	listed := func(t *testing.T) security {
		t.Helper()
		var out struct{ Applications []map[string]any }
		call(t, http.MethodGet, "/application", "").decodeJSON(t, &out)
		for _, a := range out.Applications {
			if a["name"] == "duel" {
				b, _ := json.Marshal(map[string]any{"user": a["user"], "readOnlyRootFilesystem": a["readOnlyRootFilesystem"], "tmpfs": a["tmpfs"]})
				var sec security
				if err := json.Unmarshal(b, &sec); err != nil {
					t.Fatal(err)
				}
				return sec
			}
		}
		t.Fatalf("duel not listed: %+v", out)
		return security{}
	}
	create := strings.Replace(duelApp, `"nodePool"`, `"user":"65534:65534","readOnlyRootFilesystem":true,"tmpfs":["/tmp"],"nodePool"`, 1)
	if r := call(t, http.MethodPost, "/application", create); r.status != 201 {
		t.Fatalf("create: %d %s", r.status, r.body)
	}
	confined := security{User: "65534:65534", ReadOnlyRootFilesystem: true, Tmpfs: []string{"/tmp"}}
	if got := listed(t); !reflect.DeepEqual(got, confined) {
		t.Fatalf("created %+v, want %+v", got, confined)
	}

	tests := []struct {
		name   string
		body   string
		status int
		fields []string
		want   security
	}{
		{"an edit of other fields keeps them", `{"tagKeep":3}`, 204, nil, confined},
		{"another user alone", `{"user":"games:games"}`, 204, nil,
			security{User: "games:games", ReadOnlyRootFilesystem: true, Tmpfs: []string{"/tmp"}}},
		{"more tmpfs", `{"tmpfs":["/tmp","/var/cache/game"]}`, 204, nil,
			security{User: "games:games", ReadOnlyRootFilesystem: true, Tmpfs: []string{"/tmp", "/var/cache/game"}}},
		{"a bad user", `{"user":"games:"}`, 422, []string{"user"},
			security{User: "games:games", ReadOnlyRootFilesystem: true, Tmpfs: []string{"/tmp", "/var/cache/game"}}},
		{"a uid as a number", `{"user":1000}`, 422, []string{"user"},
			security{User: "games:games", ReadOnlyRootFilesystem: true, Tmpfs: []string{"/tmp", "/var/cache/game"}}},
		{"a relative tmpfs", `{"tmpfs":["/tmp","run"]}`, 422, []string{"tmpfs[1]"},
			security{User: "games:games", ReadOnlyRootFilesystem: true, Tmpfs: []string{"/tmp", "/var/cache/game"}}},
		{"back to the image as it is", `{"user":"","readOnlyRootFilesystem":false,"tmpfs":[]}`, 204, nil,
			security{Tmpfs: []string{}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := call(t, http.MethodPut, "/application/duel", tt.body)
			if tt.status == http.StatusNoContent {
				if r.status != http.StatusNoContent {
					t.Fatalf("edit: %d %s", r.status, r.body)
				}
			} else if got := r.wantError(t, tt.status, arena.EINVALID).fields(); !slices.Equal(got, tt.fields) {
				t.Fatalf("violations on %v, want %v", got, tt.fields)
			}
			if got := listed(t); !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("listed %+v, want %+v", got, tt.want)
			}
		})
	}
	// A create that asks for nothing runs the image as it is built.
	plain := strings.Replace(duelApp, `"name":"duel"`, `"name":"plain"`, 1)
	if r := call(t, http.MethodPost, "/application", plain); r.status != 201 {
		t.Fatalf("create without security settings: %d %s", r.status, r.body)
	}
}

func TestAvailableTags(t *testing.T) {
	api := newTestAPI(t, nil)
	req := api.request(t, http.MethodPost, "/application", duelApp)
	req.Header.Set("Authorization", "Bearer "+orgAdminSecret)
	if r := api.send(t, req); r.status != 201 {
		t.Fatalf("create: %d %s", r.status, r.body)
	}
	tests := []struct {
		query string
		// first and n describe the page: its first tag and its length.
		first string
		n     int
	}{
		{"", "v1", 20},
		{"?page=3", "v41", 5},
		{"?page=2&pageSize=10", "v11", 10},
		{"?pageSize=100", "v1", 45},
		{"?page=4", "", 0},
	}
	for _, tt := range tests {
		t.Run("page"+tt.query, func(t *testing.T) {
			req := api.request(t, http.MethodGet, "/application/duel/tags/available"+tt.query, "")
			req.Header.Set("Authorization", "Bearer "+orgAdminSecret)
			var out struct{ Tags []struct{ Version string } }
			api.send(t, req).decodeJSON(t, &out)
			if len(out.Tags) != tt.n || (tt.n > 0 && out.Tags[0].Version != tt.first) {
				t.Fatalf("page %+v, want %d tags from %q", out.Tags, tt.n, tt.first)
			}
		})
	}
	for _, q := range []string{"?page=0", "?pageSize=101", "?page=x", "?page=1&page=2"} {
		t.Run("invalid"+q, func(t *testing.T) {
			req := api.request(t, http.MethodGet, "/application/duel/tags/available"+q, "")
			req.Header.Set("Authorization", "Bearer "+orgAdminSecret)
			api.send(t, req).wantError(t, 422, arena.EINVALID)
		})
	}
	req = api.request(t, http.MethodGet, "/application/nope/tags/available", "")
	req.Header.Set("Authorization", "Bearer "+orgAdminSecret)
	api.send(t, req).wantError(t, 404, arena.ENOTFOUND)
}

// TestImageReferences checks that both APIs refuse, naming the field, an
// image that Docker or the registry client would refuse to pull, rather than
// accepting it with 201 and pulling it forever.
func TestImageReferences(t *testing.T) {
	hex64 := strings.Repeat("0123456789abcdef", 4)
	admin := func(repository, tag string) string {
		return `{"name":"g","repository":"` + repository + `","tags":[{"name":"` + tag + `","priority":1}],"resources":{"milliCpu":1,"memoryMb":1}}`
	}
	contract := func(registry, repository string) string {
		return strings.NewReplacer(`"registry.example.com:5000"`, `"`+registry+`"`, `"studio/duel"`, `"`+repository+`"`).Replace(duelApp)
	}
	tests := []struct {
		name, method, path, body string
		// field is the violation's, "" for a body that is accepted.
		field string
	}{
		{"admin: valid", http.MethodPost, "/admin/v1/orgs/" + testOrg + "/applications", admin("registry.example.com/studio/g", "v1"), ""},
		{"admin: a first component in capitals", http.MethodPost, "/admin/v1/orgs/" + testOrg + "/applications", admin("UPPER/case", "v1"), "repository"},
		{"admin: 64 hex digits", http.MethodPost, "/admin/v1/orgs/" + testOrg + "/applications", admin(hex64, "v1"), "repository"},
		{"admin: a bad tag", http.MethodPost, "/admin/v1/orgs/" + testOrg + "/applications", admin("studio/g", ".v1"), "tags[0].name"},
		{"admin: replaced with capitals", http.MethodPut, "/admin/v1/orgs/" + testOrg + "/applications/g", admin("studio/G", "v1"), "repository"},
		{"contract: valid", http.MethodPost, "/application", contract("dockerhub", "studio/duel"), ""},
		{"contract: a repository in capitals", http.MethodPost, "/application", contract("dockerhub", "UPPER/case"), "repository"},
		{"contract: a registry in capitals", http.MethodPost, "/application", contract("UPPER", "case"), "registry"},
		{"contract: a registry without a dot or port", http.MethodPost, "/application", contract("registry", "studio/duel"), "registry"},
		{"contract: 64 hex digits", http.MethodPost, "/application", contract("dockerhub", hex64), "repository"},
		{"contract: an edit in capitals", http.MethodPut, "/application/duel", `{"repository":"Studio/duel"}`, "repository"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			api := newTestAPI(t, nil)
			if tt.method == http.MethodPut {
				create := api.as(t, adminSecret, http.MethodPost, "/application", duelApp)
				if strings.HasPrefix(tt.path, "/admin/") {
					create = api.as(t, adminSecret, http.MethodPost, "/admin/v1/orgs/"+testOrg+"/applications", admin("studio/g", "v1"))
				}
				if create.status != 201 {
					t.Fatalf("creating the application: %d %s", create.status, create.body)
				}
			}
			r := api.as(t, adminSecret, tt.method, tt.path, tt.body)
			if tt.field == "" {
				if r.status != 201 {
					t.Fatalf("status = %d, want 201: %s", r.status, r.body)
				}
				return
			}
			e := r.wantError(t, http.StatusUnprocessableEntity, arena.EINVALID)
			if got := e.fields(); !slices.Equal(got, []string{tt.field}) {
				t.Errorf("violations = %+v, want one of %s", e.Violations, tt.field)
			}
		})
	}
}

// TestApplicationAdditionsOfTheContract takes an application's readiness
// and warm pools through the Gameye API's bodies, where they are Arena's
// additions: created without them, shown with their defaults, and edited;
// a bad one changes nothing.
func TestApplicationAdditionsOfTheContract(t *testing.T) {
	api := newTestAPI(t, nil)
	call := func(t *testing.T, method, path, body string) response {
		t.Helper()
		return api.doAs(t, arena.ScopeApplicationWrite, method, path, body)
	}
	listed := func(t *testing.T, key string) string {
		t.Helper()
		var out struct{ Applications []map[string]any }
		call(t, http.MethodGet, "/application", "").decodeJSON(t, &out)
		for _, a := range out.Applications {
			if a["name"] == "duel" {
				b, _ := json.Marshal(a[key]) // keys sorted
				return string(b)
			}
		}
		t.Fatalf("duel not listed: %+v", out)
		return ""
	}
	if r := call(t, http.MethodPost, "/application", duelApp); r.status != 201 {
		t.Fatalf("create: %d %s", r.status, r.body)
	}
	tests := []struct {
		name, key, body string
		status          int
		want            string
	}{
		{"readiness: the defaults", "readiness", "", 0, `{"mode":"ports","runOnTimeout":false,"timeoutSeconds":60}`},
		{"readiness: process", "readiness", `{"readiness":{"mode":"process"}}`, 204, `{"mode":"process","runOnTimeout":false,"timeoutSeconds":60}`},
		{"readiness: replaced whole, a timeout that runs, the mode back to its default", "readiness", `{"readiness":{"timeoutSeconds":5,"runOnTimeout":true}}`, 204, `{"mode":"ports","runOnTimeout":true,"timeoutSeconds":5}`},
		{"readiness: a bad mode", "readiness", `{"readiness":{"mode":"probe"}}`, 422, `{"mode":"ports","runOnTimeout":true,"timeoutSeconds":5}`},
		{"readiness: a timeout too long", "readiness", `{"readiness":{"timeoutSeconds":7200}}`, 422, `{"mode":"ports","runOnTimeout":true,"timeoutSeconds":5}`},
		{"warm pools: none", "warmPools", "", 0, `[]`},
		{"warm pools: set", "warmPools", `{"warmPools":[{"location":"rotterdam","size":3},{"location":"europe","tag":"v2","size":1,"mode":"launch"}]}`, 204,
			`[{"location":"rotterdam","mode":"claim","size":3,"tag":""},{"location":"europe","mode":"launch","size":1,"tag":"v2"}]`},
		{"warm pools: a size too large", "warmPools", `{"warmPools":[{"location":"rotterdam","size":1000}]}`, 422,
			`[{"location":"rotterdam","mode":"claim","size":3,"tag":""},{"location":"europe","mode":"launch","size":1,"tag":"v2"}]`},
		{"warm pools: two of one location and tag", "warmPools", `{"warmPools":[{"location":"a","size":1},{"location":"a","size":2}]}`, 422,
			`[{"location":"rotterdam","mode":"claim","size":3,"tag":""},{"location":"europe","mode":"launch","size":1,"tag":"v2"}]`},
		{"warm pools: a bad mode", "warmPools", `{"warmPools":[{"location":"a","size":1,"mode":"hot"}]}`, 422,
			`[{"location":"rotterdam","mode":"claim","size":3,"tag":""},{"location":"europe","mode":"launch","size":1,"tag":"v2"}]`},
		{"warm pools: removed", "warmPools", `{"warmPools":[]}`, 204, `[]`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.body != "" {
				if r := call(t, http.MethodPut, "/application/duel", tt.body); r.status != tt.status {
					t.Fatalf("PUT: %d %s, want %d", r.status, r.body, tt.status)
				}
			}
			if got := listed(t, tt.key); got != tt.want {
				t.Fatalf("%s %s, want %s", tt.key, got, tt.want)
			}
		})
	}
}

// doAs sends a request with a token of scope alone and checks its response.
func (a *testAPI) doAs(tb testing.TB, scope, method, path, body string) response {
	tb.Helper()
	req := a.request(tb, method, path, body)
	req.Header.Set("Authorization", "Bearer "+scopedSecret(scope))
	return a.send(tb, req)
}
