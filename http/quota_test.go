package http_test

import (
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/arena-hq/arena"
)

// orgBody is the Organization schema, every field required.
type orgBody struct {
	ID          string `json:"id"`
	Name        string `json:"name"`
	Environment string `json:"environment"`
	Quota       struct {
		MaxSessions int    `json:"maxSessions"`
		MaxMilliCPU int64  `json:"maxMilliCpu"`
		Source      string `json:"source"`
	} `json:"quota"`
	Active struct {
		Sessions int   `json:"sessions"`
		MilliCPU int64 `json:"milliCpu"`
	} `json:"active"`
	CreatedAt string `json:"createdAt"`
}

// TestSetQuota sets quotas through PUT /admin/v1/orgs/{org}/quota, one step
// after another: what is refused leaves the quota as the step before left it.
func TestSetQuotaAPI(t *testing.T) {
	api := newTestAPI(t, nil)
	call := func(t *testing.T, secret, method, path, body string) response {
		t.Helper()
		req := api.request(t, method, path, body)
		req.Header.Set("Authorization", "Bearer "+secret)
		return api.send(t, req)
	}
	path := "/admin/v1/orgs/" + testOrg + "/quota"
	tests := []struct {
		name, secret, path, body string
		status                   int
		code                     string
		// fields are the violations a 422 names.
		fields []string
		// want is the quota of testOrg afterwards.
		want [2]int64
	}{
		{name: "both bounds", secret: adminSecret, path: path, body: `{"maxSessions":10,"maxMilliCpu":2000}`, status: 200, want: [2]int64{10, 2000}},
		{name: "negative sessions", secret: adminSecret, path: path, body: `{"maxSessions":-1}`, status: 422, code: arena.EINVALID, fields: []string{"maxSessions"}, want: [2]int64{10, 2000}},
		{name: "too much cpu", secret: adminSecret, path: path, body: `{"maxMilliCpu":1000000001}`, status: 422, code: arena.EINVALID, fields: []string{"maxMilliCpu"}, want: [2]int64{10, 2000}},
		{name: "fractional sessions", secret: adminSecret, path: path, body: `{"maxSessions":2.5}`, status: 422, code: arena.EINVALID, fields: []string{"maxSessions"}, want: [2]int64{10, 2000}},
		{name: "sessions as text", secret: adminSecret, path: path, body: `{"maxSessions":"ten"}`, status: 422, code: arena.EINVALID, fields: []string{"maxSessions"}, want: [2]int64{10, 2000}},
		{name: "unknown field", secret: adminSecret, path: path, body: `{"maxCores":4}`, status: 422, code: arena.EINVALID, fields: []string{"body"}, want: [2]int64{10, 2000}},
		{name: "not an object", secret: adminSecret, path: path, body: `[10]`, status: 422, code: arena.EINVALID, want: [2]int64{10, 2000}},
		{name: "an organisation's admin", secret: orgAdminSecret, path: path, body: `{"maxSessions":1000}`, status: 403, code: arena.EFORBIDDEN, want: [2]int64{10, 2000}},
		{name: "one bound replaces both", secret: adminSecret, path: path, body: `{"maxSessions":4}`, status: 200, want: [2]int64{4, 0}},
		{name: "a quota of the config file", secret: adminSecret, path: "/admin/v1/orgs/other-org/quota", body: `{"maxSessions":50}`, status: 409, code: arena.ECONFLICT, want: [2]int64{4, 0}},
		{name: "an unknown organisation", secret: adminSecret, path: "/admin/v1/orgs/nowhere/quota", body: `{"maxSessions":1}`, status: 404, code: arena.ENOTFOUND, want: [2]int64{4, 0}},
		{name: "cleared", secret: adminSecret, path: path, body: `{}`, status: 200, want: [2]int64{0, 0}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := call(t, tt.secret, http.MethodPut, tt.path, tt.body)
			if tt.code != "" {
				e := r.wantError(t, tt.status, tt.code)
				for _, f := range tt.fields {
					if !slices.Contains(e.fields(), f) {
						t.Errorf("violations %v do not name %s", e.fields(), f)
					}
				}
			} else {
				if r.status != tt.status {
					t.Fatalf("status %d, want %d: %s", r.status, tt.status, r.body)
				}
				var o orgBody
				r.decodeJSON(t, &o)
				if o.ID != testOrg || o.Quota.MaxSessions != int(tt.want[0]) || o.Quota.MaxMilliCPU != tt.want[1] || o.Quota.Source != "api" {
					t.Errorf("answer %+v, want quota %v from the API", o, tt.want)
				}
			}
			var got orgBody
			call(t, adminSecret, http.MethodGet, "/admin/v1/orgs/"+testOrg, "").decodeJSON(t, &got)
			if got.Quota.MaxSessions != int(tt.want[0]) || got.Quota.MaxMilliCPU != tt.want[1] {
				t.Errorf("quota now %+v, want %v", got.Quota, tt.want)
			}
		})
	}
}

// TestOrganizationQuotaView checks that every view of an organisation shows
// its quota, where it comes from and what its sessions hold of it.
func TestOrganizationQuotaView(t *testing.T) {
	api := newTestAPI(t, nil)
	get := func(secret, path string) response {
		t.Helper()
		req := api.request(t, http.MethodGet, path, "")
		req.Header.Set("Authorization", "Bearer "+secret)
		return api.send(t, req)
	}
	var own, other orgBody
	get(orgAdminSecret, "/admin/v1/orgs/"+testOrg).decodeJSON(t, &own)
	if own.Quota.Source != "api" || own.Quota.MaxSessions != 0 || own.Active.Sessions != 3 || own.Active.MilliCPU != 300 {
		t.Errorf("%s: %+v", testOrg, own)
	}
	get(adminSecret, "/admin/v1/orgs/other-org").decodeJSON(t, &other)
	if other.Quota.Source != "config" || other.Quota.MaxSessions != 5 || other.Active.Sessions != 0 {
		t.Errorf("other-org: %+v", other)
	}
	var list struct{ Organizations []orgBody }
	get(adminSecret, "/admin/v1/orgs").decodeJSON(t, &list)
	if len(list.Organizations) != 2 || list.Organizations[0] != other || list.Organizations[1] != own {
		t.Errorf("listed %+v, want %+v and %+v", list.Organizations, other, own)
	}
	var who struct {
		Token        map[string]any
		Organization orgBody
	}
	get(orgAdminSecret, "/admin/v1/whoami").decodeJSON(t, &who)
	if who.Organization != own {
		t.Errorf("whoami shows %+v, want %+v", who.Organization, own)
	}
}

// TestCreateSessionQuota answers a create refused for the quota with the
// contract's error body and 402.
func TestCreateSessionQuota(t *testing.T) {
	sessions := &fakeSessions{create: func(arena.SessionRequest) (*arena.Session, error) {
		return nil, arena.Errorf(arena.EQUOTA, "organisation %q has 10 active sessions, its quota's maxSessions of 10; stop one first", testOrg)
	}}
	api := newTestAPI(t, sessions)
	r := api.do(t, http.MethodPost, "/session", `{"location":"europe","image":"my-game"}`)
	e := r.wantError(t, http.StatusPaymentRequired, arena.EQUOTA)
	if !strings.Contains(e.Message, "maxSessions of 10") || !strings.Contains(e.Details, "quota") {
		t.Errorf("message %q, details %q", e.Message, e.Details)
	}
}

// TestOpenAPIQuotaLimits checks that the bounds the document states for a
// quota are the ones Validate applies.
func TestOpenAPIQuotaLimits(t *testing.T) {
	schemas := loadOurs(t).Components.Schemas
	for _, name := range []string{"Quota", "QuotaInput"} {
		for prop, want := range map[string]int64{"maxSessions": arena.MaxQuotaSessions, "maxMilliCpu": arena.MaxQuotaMilliCPU} {
			t.Run(name+"."+prop, func(t *testing.T) {
				p := schemas[name].Value.Properties[prop].Value
				if p.Max == nil || int64(*p.Max) != want || p.Min == nil || *p.Min != 0 {
					t.Errorf("the document says %v to %v, Validate applies 0 to %d", p.Min, p.Max, want)
				}
			})
		}
	}
}
