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

// TestAdminAPIIsolation sends every admin operation for another
// organisation with an organisation admin's token: each is 404, as if the
// organisation did not exist, and nothing is changed.
func TestAdminAPIIsolation(t *testing.T) {
	ops := []struct{ method, path, body string }{
		{http.MethodGet, "/admin/v1/orgs/other-org", ""},
		{http.MethodGet, "/admin/v1/orgs/other-org/users", ""},
		{http.MethodPost, "/admin/v1/orgs/other-org/users", `{"email":"a@b.c"}`},
		{http.MethodDelete, "/admin/v1/orgs/other-org/users/u-1", ""},
		{http.MethodGet, "/admin/v1/orgs/other-org/tokens", ""},
		{http.MethodPost, "/admin/v1/orgs/other-org/tokens", `{"name":"x"}`},
		{http.MethodDelete, "/admin/v1/orgs/other-org/tokens/t-1", ""},
		{http.MethodGet, "/admin/v1/orgs/other-org/applications", ""},
		{http.MethodPost, "/admin/v1/orgs/other-org/applications", `{"name":"g","repository":"r","tags":[{"name":"1","priority":1}],"resources":{"milliCpu":1,"memoryMb":1}}`},
		{http.MethodGet, "/admin/v1/orgs/other-org/applications/their-game", ""},
		{http.MethodPut, "/admin/v1/orgs/other-org/applications/their-game", `{"repository":"r","tags":[{"name":"1","priority":1}],"resources":{"milliCpu":1,"memoryMb":1}}`},
		{http.MethodDelete, "/admin/v1/orgs/other-org/applications/their-game", ""},
	}
	api := newTestAPI(t, nil)
	for _, op := range ops {
		t.Run(op.method+" "+op.path, func(t *testing.T) {
			req := api.request(t, op.method, op.path, op.body)
			req.Header.Set("Authorization", "Bearer "+orgAdminSecret)
			r := api.send(t, req)
			r.wantError(t, http.StatusNotFound, arena.ENOTFOUND)
			if strings.Contains(string(r.body), "their-secret") || strings.Contains(string(r.body), `"them"`) {
				t.Fatalf("the answer tells of the other organisation: %s", r.body)
			}
		})
	}
	// Nothing changed: the operator still finds the other organisation's application.
	req := api.request(t, http.MethodGet, "/admin/v1/orgs/other-org/applications/their-game", "")
	req.Header.Set("Authorization", "Bearer "+adminSecret)
	if r := api.send(t, req); r.status != http.StatusOK {
		t.Fatalf("operator: %d %s", r.status, r.body)
	}
}

func TestAdminAPI(t *testing.T) {
	api := newTestAPI(t, nil)
	call := func(secret, method, path, body string) response {
		t.Helper()
		req := api.request(t, method, path, body)
		req.Header.Set("Authorization", "Bearer "+secret)
		return api.send(t, req)
	}
	app := `{"name":"game","repository":"registry.example/studio/game","tags":[{"name":"1.0","priority":1},{"name":"2.0","priority":5}],
		"ports":[{"container":7777,"protocol":"udp"}],"resources":{"milliCpu":500,"memoryMb":256},
		"registry":{"username":"ci","password":"hunter2-registry"}}`
	tests := []struct {
		name, secret, method, path, body string
		status                           int
		// want is in the body; never is not.
		want, never string
	}{
		{"whoami", testSecret, http.MethodGet, "/admin/v1/whoami", "", 200, `"orgId":"` + testOrg, ""},
		{"session token is no admin", testSecret, http.MethodGet, "/admin/v1/orgs/" + testOrg + "/tokens", "", 403, "admin", ""},
		{"org admin lists its organisation alone", orgAdminSecret, http.MethodGet, "/admin/v1/orgs", "", 200, testOrg, "other-org"},
		{"operator lists every organisation", adminSecret, http.MethodGet, "/admin/v1/orgs", "", 200, "other-org", ""},
		{"org admin cannot create organisations", orgAdminSecret, http.MethodPost, "/admin/v1/orgs", `{"id":"new-org"}`, 403, "operator", ""},
		{"operator creates a sandbox", adminSecret, http.MethodPost, "/admin/v1/orgs", `{"id":"acme-sandbox","environment":"sandbox"}`, 201, `"environment":"sandbox"`, ""},
		{"bad organisation id", adminSecret, http.MethodPost, "/admin/v1/orgs", `{"id":"Not Valid"}`, 422, `"field":"id"`, ""},
		{"unknown field", adminSecret, http.MethodPost, "/admin/v1/orgs", `{"id":"x","colour":"red"}`, 422, "colour", ""},
		{"create application", orgAdminSecret, http.MethodPost, "/admin/v1/orgs/" + testOrg + "/applications", app, 201, `"defaultTag":"2.0"`, "hunter2"},
		{"read application", orgAdminSecret, http.MethodGet, "/admin/v1/orgs/" + testOrg + "/applications/game", "", 200, `"passwordSet":true`, "hunter2"},
		{"readiness defaults shown", orgAdminSecret, http.MethodGet, "/admin/v1/orgs/" + testOrg + "/applications/game", "", 200,
			`"readiness":{"mode":"ports","timeoutSeconds":60,"runOnTimeout":false}`, ""},
		{"readiness set", orgAdminSecret, http.MethodPost, "/admin/v1/orgs/" + testOrg + "/applications",
			`{"name":"lobby","repository":"r","tags":[{"name":"1","priority":1}],"resources":{"milliCpu":1,"memoryMb":1},"readiness":{"mode":"process","timeoutSeconds":5,"runOnTimeout":true}}`,
			201, `"readiness":{"mode":"process","timeoutSeconds":5,"runOnTimeout":true}`, ""},
		{"readiness refused", orgAdminSecret, http.MethodPost, "/admin/v1/orgs/" + testOrg + "/applications",
			`{"name":"bad","repository":"r","tags":[{"name":"1","priority":1}],"resources":{"milliCpu":1,"memoryMb":1},"readiness":{"mode":"probe","timeoutSeconds":0.5}}`,
			422, `"field":"readiness.timeoutSeconds"`, ""},
		{"warm pools set", orgAdminSecret, http.MethodPost, "/admin/v1/orgs/" + testOrg + "/applications",
			`{"name":"pooled","repository":"r","tags":[{"name":"1","priority":1}],"resources":{"milliCpu":1,"memoryMb":1},"warmPools":[{"location":"ams","size":2}]}`,
			201, `"warmPools":[{"location":"ams","tag":"","size":2,"mode":"claim","ready":0,"warming":0,"nodes":[]}]`, ""},
		{"warm pools refused", orgAdminSecret, http.MethodPost, "/admin/v1/orgs/" + testOrg + "/applications",
			`{"name":"bad","repository":"r","tags":[{"name":"1","priority":1}],"resources":{"milliCpu":1,"memoryMb":1},"warmPools":[{"location":"","size":2}]}`,
			422, `"field":"warmPools[0].location"`, ""},
		{"list applications", orgAdminSecret, http.MethodGet, "/admin/v1/orgs/" + testOrg + "/applications", "", 200, `"username":"ci"`, "hunter2"},
		{"update keeps the password", orgAdminSecret, http.MethodPut, "/admin/v1/orgs/" + testOrg + "/applications/game",
			`{"repository":"registry.example/studio/game","tags":[{"name":"3.0","priority":1}],"resources":{"milliCpu":500,"memoryMb":256}}`, 200, `"passwordSet":true`, "hunter2"},
		{"rename refused", orgAdminSecret, http.MethodPut, "/admin/v1/orgs/" + testOrg + "/applications/game",
			`{"name":"other","repository":"r","tags":[{"name":"1","priority":1}],"resources":{"milliCpu":1,"memoryMb":1}}`, 422, `"field":"name"`, ""},
		{"invalid application lists every violation", orgAdminSecret, http.MethodPost, "/admin/v1/orgs/" + testOrg + "/applications",
			`{"name":"Bad Name","repository":"","tags":[],"network":"overlay","resources":{"milliCpu":0,"memoryMb":0}}`, 422, `"field":"network"`, ""},
		{"token secret shown at creation", orgAdminSecret, http.MethodPost, "/admin/v1/orgs/" + testOrg + "/tokens", `{"name":"mm","scopes":["sessions:write"]}`, 201, `"secret":"arena_secret-of-mm"`, ""},
		{"token secret never listed", orgAdminSecret, http.MethodGet, "/admin/v1/orgs/" + testOrg + "/tokens", "", 200, `"name":"mm"`, "arena_secret"},
		{"revoke", orgAdminSecret, http.MethodDelete, "/admin/v1/orgs/" + testOrg + "/tokens/t-mm", "", 204, "", ""},
		{"revoke unknown", orgAdminSecret, http.MethodDelete, "/admin/v1/orgs/" + testOrg + "/tokens/nope", "", 404, "", ""},
		{"negative expiry", orgAdminSecret, http.MethodPost, "/admin/v1/orgs/" + testOrg + "/tokens", `{"name":"x","expiresInSeconds":-1}`, 422, "expiresInSeconds", ""},
		{"create user", orgAdminSecret, http.MethodPost, "/admin/v1/orgs/" + testOrg + "/users", `{"email":"ana@studio.example","name":"Ana"}`, 201, "ana@studio.example", ""},
		{"delete application", orgAdminSecret, http.MethodDelete, "/admin/v1/orgs/" + testOrg + "/applications/game", "", 204, "", ""},
		{"unknown organisation", adminSecret, http.MethodGet, "/admin/v1/orgs/nowhere/users", "", 404, "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := call(tt.secret, tt.method, tt.path, tt.body)
			if r.status != tt.status {
				t.Fatalf("status %d, want %d; body %s", r.status, tt.status, r.body)
			}
			if tt.want != "" && !strings.Contains(string(r.body), tt.want) {
				t.Fatalf("body lacks %s: %s", tt.want, r.body)
			}
			if tt.never != "" && strings.Contains(string(r.body), tt.never) {
				t.Fatalf("body shows %s: %s", tt.never, r.body)
			}
		})
	}
}

// TestAdminApplicationPlacement creates and replaces applications with
// limits, regions, tagKeep and nodePool, and without tags. A refused change
// names the field and leaves the stored application as it was.
func TestAdminApplicationPlacement(t *testing.T) {
	api := newTestAPI(t, nil)
	base := "/admin/v1/orgs/" + testOrg + "/applications"
	call := func(t *testing.T, method, path, body string) response {
		t.Helper()
		req := api.request(t, method, path, body)
		req.Header.Set("Authorization", "Bearer "+orgAdminSecret)
		return api.send(t, req)
	}
	type view struct {
		Tags       []arena.Tag
		DefaultTag string
		Resources  arena.Resources
		Limits     *arena.Resources
		Regions    []string
		TagKeep    int
		NodePool   string
	}
	read := func(t *testing.T, r response) view {
		t.Helper()
		var v view
		if err := json.Unmarshal(r.body, &v); err != nil {
			t.Fatalf("decoding %s: %v", r.body, err)
		}
		return v
	}
	const app = `"repository":"registry.example/studio/duel","resources":{"milliCpu":500,"memoryMb":256}`
	full := view{
		Tags: []arena.Tag{{Name: "1.0", Priority: 1}}, DefaultTag: "1.0", Resources: arena.Resources{MilliCPU: 500, MemoryMB: 256},
		Limits: &arena.Resources{MilliCPU: 2000, MemoryMB: 512}, Regions: []string{"europe", "us-east"}, TagKeep: 2, NodePool: "metal",
	}
	created := call(t, http.MethodPost, base, `{"name":"duel",`+app+`,"tags":[{"name":"1.0","priority":1}],
		"limits":{"milliCpu":2000,"memoryMb":512},"regions":["europe","us-east"],"tagKeep":2,"nodePool":"metal"}`)
	if created.status != http.StatusCreated || !reflect.DeepEqual(read(t, created), full) {
		t.Fatalf("created %d %s, want %+v", created.status, created.body, full)
	}

	tests := []struct {
		name   string
		body   string
		status int
		fields []string
		want   view
	}{
		{"no tags", `{` + app + `}`, 200, nil,
			view{Tags: []arena.Tag{}, Resources: full.Resources, Regions: []string{}}},
		{"limits null", `{` + app + `,"limits":null,"regions":[]}`, 200, nil,
			view{Tags: []arena.Tag{}, Resources: full.Resources, Regions: []string{}}},
		{"limits of zero", `{` + app + `,"limits":{"milliCpu":0,"memoryMb":0}}`, 200, nil,
			view{Tags: []arena.Tag{}, Resources: full.Resources, Regions: []string{}}},
		{"everything again", `{` + app + `,"tags":[{"name":"1.0","priority":1}],"limits":{"milliCpu":2000,"memoryMb":512},
			"regions":["europe","us-east"],"tagKeep":2,"nodePool":"metal"}`, 200, nil, full},
		{"limits below the reservation", `{` + app + `,"limits":{"milliCpu":100,"memoryMb":512}}`, 422, []string{"limits"}, full},
		{"limits of one resource", `{` + app + `,"limits":{"milliCpu":1000}}`, 422, []string{"limits"}, full},
		{"limits not an object", `{` + app + `,"limits":2000}`, 422, []string{"limits"}, full},
		{"bad region", `{` + app + `,"regions":["Europe West"]}`, 422, []string{"regions[0]"}, full},
		{"region twice", `{` + app + `,"regions":["asia","asia"]}`, 422, []string{"regions[1]"}, full},
		{"negative tagKeep", `{` + app + `,"tagKeep":-1}`, 422, []string{"tagKeep"}, full},
		{"more tags than tagKeep", `{` + app + `,"tags":[{"name":"1","priority":1},{"name":"2","priority":2}],"tagKeep":1}`, 422, []string{"tags"}, full},
		{"bad nodePool", `{` + app + `,"nodePool":"Metal Pool"}`, 422, []string{"nodePool"}, full},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := call(t, http.MethodPut, base+"/duel", tt.body)
			if tt.status == http.StatusOK {
				if r.status != http.StatusOK || !reflect.DeepEqual(read(t, r), tt.want) {
					t.Fatalf("replaced %d %s, want %+v", r.status, r.body, tt.want)
				}
			} else if got := r.wantError(t, tt.status, arena.EINVALID).fields(); !slices.Equal(got, tt.fields) {
				t.Fatalf("violations on %v, want %v", got, tt.fields)
			}
			if got := read(t, call(t, http.MethodGet, base+"/duel", "")); !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("stored %+v, want %+v", got, tt.want)
			}
		})
	}
}

// TestAdminApplicationPull: each tag of an application comes with how far
// the nodes are with its image, in GET /tag's form.
func TestAdminApplicationPull(t *testing.T) {
	api := newTestAPI(t, nil)
	base := "/admin/v1/orgs/" + testOrg + "/applications"
	call := func(method, path, body string) response {
		t.Helper()
		req := api.request(t, method, path, body)
		req.Header.Set("Authorization", "Bearer "+orgAdminSecret)
		return api.send(t, req)
	}
	if r := call(http.MethodPost, base, `{"name":"pulled","repository":"registry.example/studio/pulled","resources":{"milliCpu":1,"memoryMb":1},
		"tags":[{"name":"1.0","priority":1},{"name":"broken","priority":2}]}`); r.status != http.StatusCreated {
		t.Fatalf("create: %d %s", r.status, r.body)
	}
	type pull struct {
		Status string
		Nodes  struct{ Total, Present, Pulling, Failed int }
		Error  string
	}
	tests := []struct {
		name, path string
		apps       func(body []byte) ([]map[string]pull, error)
	}{
		{"one", base + "/pulled", func(b []byte) ([]map[string]pull, error) {
			var v struct{ Pull map[string]pull }
			err := json.Unmarshal(b, &v)
			return []map[string]pull{v.Pull}, err
		}},
		{"listed", base, func(b []byte) ([]map[string]pull, error) {
			var v struct {
				Applications []struct{ Pull map[string]pull }
			}
			err := json.Unmarshal(b, &v)
			var out []map[string]pull
			for _, a := range v.Applications {
				out = append(out, a.Pull)
			}
			return out, err
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := call(http.MethodGet, tt.path, "")
			pulls, err := tt.apps(r.body)
			if r.status != http.StatusOK || err != nil || len(pulls) != 1 {
				t.Fatalf("%d %s (%v)", r.status, r.body, err)
			}
			got := pulls[0]
			if p := got["1.0"]; p.Status != "present" || p.Nodes.Total != 2 || p.Nodes.Present != 1 || p.Nodes.Pulling != 1 || p.Error != "" {
				t.Errorf("pull of 1.0: %+v", p)
			}
			if p := got["broken"]; p.Status != "failed" || p.Nodes.Failed != 2 || p.Error != "manifest unknown" {
				t.Errorf("pull of broken: %+v", p)
			}
			if len(got) != 2 {
				t.Errorf("pull of %d tags, want 2: %+v", len(got), got)
			}
		})
	}
}

// TestAdminApplicationSecurity creates and replaces applications with and
// without a user, a read-only root and tmpfs mounts. A replacement sets
// them as it does every field: absent is the image as it is built. A
// refused change names the field and leaves the stored application as it
// was.
func TestAdminApplicationSecurity(t *testing.T) {
	api := newTestAPI(t, nil)
	base := "/admin/v1/orgs/" + testOrg + "/applications"
	call := func(t *testing.T, method, path, body string) response {
		t.Helper()
		req := api.request(t, method, path, body)
		req.Header.Set("Authorization", "Bearer "+orgAdminSecret)
		return api.send(t, req)
	}
	type view struct {
		User                   string
		ReadOnlyRootFilesystem bool
		Tmpfs                  []string
		Artifacts              []string
	}
	read := func(t *testing.T, r response) view {
		t.Helper()
		var v view
		if err := json.Unmarshal(r.body, &v); err != nil {
			t.Fatalf("decoding %s: %v", r.body, err)
		}
		return v
	}
	const app = `"repository":"registry.example/studio/duel","resources":{"milliCpu":500,"memoryMb":256}`
	confined := view{User: "65534:65534", ReadOnlyRootFilesystem: true, Tmpfs: []string{"/tmp", "/run/game"}, Artifacts: []string{"/replays"}}
	created := call(t, http.MethodPost, base, `{"name":"duel",`+app+`,"user":"65534:65534","readOnlyRootFilesystem":true,
		"tmpfs":["/tmp","/run/game"],"artifacts":["/replays"]}`)
	if created.status != http.StatusCreated || !reflect.DeepEqual(read(t, created), confined) {
		t.Fatalf("created %d %s, want %+v", created.status, created.body, confined)
	}

	tests := []struct {
		name   string
		body   string
		status int
		fields []string
		want   view
	}{
		{"absent is the image as it is", `{` + app + `}`, 200, nil, view{Tmpfs: []string{}, Artifacts: []string{}}},
		{"everything again", `{` + app + `,"user":"65534:65534","readOnlyRootFilesystem":true,"tmpfs":["/tmp","/run/game"],"artifacts":["/replays"]}`,
			200, nil, confined},
		{"a user name", `{` + app + `,"user":"games"}`, 200, nil, view{User: "games", Tmpfs: []string{}, Artifacts: []string{}}},
		{"a bad user", `{` + app + `,"user":"root:0:0"}`, 422, []string{"user"}, view{User: "games", Tmpfs: []string{}, Artifacts: []string{}}},
		{"a uid as a number", `{` + app + `,"user":1000}`, 422, []string{"user"}, view{User: "games", Tmpfs: []string{}, Artifacts: []string{}}},
		{"readOnlyRootFilesystem not a bool", `{` + app + `,"readOnlyRootFilesystem":"yes"}`, 422, []string{"readOnlyRootFilesystem"},
			view{User: "games", Tmpfs: []string{}, Artifacts: []string{}}},
		{"too many tmpfs", `{` + app + `,"tmpfs":["/a","/b","/c","/d","/e","/f","/g","/h","/i"]}`, 422, []string{"tmpfs"},
			view{User: "games", Tmpfs: []string{}, Artifacts: []string{}}},
		{"a tmpfs over /dev", `{` + app + `,"tmpfs":["/tmp","/dev/shm"]}`, 422, []string{"tmpfs[1]"},
			view{User: "games", Tmpfs: []string{}, Artifacts: []string{}}},
		{"an artifact on a tmpfs", `{` + app + `,"tmpfs":["/tmp"],"artifacts":["/replays","/tmp/replays"]}`, 422, []string{"artifacts[1]"},
			view{User: "games", Tmpfs: []string{}, Artifacts: []string{}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := call(t, http.MethodPut, base+"/duel", tt.body)
			if tt.status == http.StatusOK {
				if r.status != http.StatusOK || !reflect.DeepEqual(read(t, r), tt.want) {
					t.Fatalf("replaced %d %s, want %+v", r.status, r.body, tt.want)
				}
			} else if got := r.wantError(t, tt.status, arena.EINVALID).fields(); !slices.Equal(got, tt.fields) {
				t.Fatalf("violations on %v, want %v", got, tt.fields)
			}
			if got := read(t, call(t, http.MethodGet, base+"/duel", "")); !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("stored %+v, want %+v", got, tt.want)
			}
		})
	}
}
