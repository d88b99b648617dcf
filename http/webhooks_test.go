package http_test

import (
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/arena-hq/arena"
	"github.com/arena-hq/arena/webhook"
)

// webhooksPath is the webhooks of testOrg, or of the organisation given.
func webhooksPath(org ...string) string {
	if len(org) > 0 {
		return "/admin/v1/orgs/" + org[0] + "/webhooks"
	}
	return "/admin/v1/orgs/" + testOrg + "/webhooks"
}

func (a *testAPI) as(tb testing.TB, secret, method, path, body string) response {
	tb.Helper()
	req := a.request(tb, method, path, body)
	req.Header.Set("Authorization", "Bearer "+secret)
	return a.send(tb, req)
}

func TestWebhookAdminAPI(t *testing.T) {
	api := newTestAPI(t, nil)
	tests := []struct {
		name, secret, method, path, body string
		status                           int
		// want is in the body; never is not.
		want, never string
	}{
		{"session token is no admin", testSecret, http.MethodGet, webhooksPath(), "", 403, "admin", ""},
		{"create for every event", orgAdminSecret, http.MethodPost, webhooksPath(), `{"url":"https://mm.example.com/arena"}`, 201,
			`"secret":"whsec_secret-of-wh-1"`, ""},
		{"create for some events", orgAdminSecret, http.MethodPost, webhooksPath(), `{"url":"https://mm.example.com/stops","events":["session.stopped","session.unreachable"]}`, 201,
			`"events":["session.stopped","session.unreachable"]`, ""},
		{"a password in the URL", orgAdminSecret, http.MethodPost, webhooksPath(), `{"url":"https://bot:hook-password@mm.example.com/auth"}`, 201,
			"bot:xxxxx@mm.example.com", "hook-password"},
		{"secret never listed", orgAdminSecret, http.MethodGet, webhooksPath(), "", 200, `"url":"https://mm.example.com/stops"`, "whsec_"},
		{"password never listed", orgAdminSecret, http.MethodGet, webhooksPath(), "", 200, "bot:xxxxx@", "hook-password"},
		{"every event listed as none", orgAdminSecret, http.MethodGet, webhooksPath(), "", 200, `"url":"https://mm.example.com/arena","events":[]`, ""},
		{"no URL", orgAdminSecret, http.MethodPost, webhooksPath(), `{}`, 422, `"field":"url"`, ""},
		{"not http", orgAdminSecret, http.MethodPost, webhooksPath(), `{"url":"file:///etc/passwd"}`, 422, `"field":"url"`, ""},
		{"unknown event", orgAdminSecret, http.MethodPost, webhooksPath(), `{"url":"https://mm.example.com/","events":["session.exploded"]}`, 422, `"field":"events[0]"`, ""},
		{"events not a list", orgAdminSecret, http.MethodPost, webhooksPath(), `{"url":"https://mm.example.com/","events":"session.stopped"}`, 422, `"field":"events"`, ""},
		{"unknown field", orgAdminSecret, http.MethodPost, webhooksPath(), `{"url":"https://mm.example.com/","secret":"mine"}`, 422, "secret", ""},
		{"delete", orgAdminSecret, http.MethodDelete, webhooksPath() + "/wh-1", "", 204, "", ""},
		{"delete again", orgAdminSecret, http.MethodDelete, webhooksPath() + "/wh-1", "", 404, "", ""},
		{"deleted is not listed", orgAdminSecret, http.MethodGet, webhooksPath(), "", 200, "wh-2", `"id":"wh-1"`},
		{"operator lists another organisation's", adminSecret, http.MethodGet, webhooksPath("other-org"), "", 200, "wh-theirs", "their-hook-password"},
		{"unknown organisation", adminSecret, http.MethodGet, webhooksPath("nowhere"), "", 404, "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := api.as(t, tt.secret, tt.method, tt.path, tt.body)
			if r.status != tt.status {
				t.Fatalf("status %d, want %d; body %s", r.status, tt.status, r.body)
			}
			if tt.want != "" && !strings.Contains(string(r.body), tt.want) {
				t.Fatalf("body lacks %s: %s", tt.want, r.body)
			}
			if tt.never != "" && strings.Contains(string(r.body), tt.never) {
				t.Fatalf("body shows %s: %s", tt.never, r.body)
			}
			if r.status == http.StatusCreated && r.header.Get("Cache-Control") != "no-store" {
				t.Errorf("Cache-Control %q on an answer with a secret, want no-store", r.header.Get("Cache-Control"))
			}
		})
	}
}

// TestWebhookAdminAPIIsolation sends every webhook operation for another
// organisation with an organisation admin's token: each is 404, as if the
// organisation did not exist, and nothing changes.
func TestWebhookAdminAPIIsolation(t *testing.T) {
	api := newTestAPI(t, nil)
	ops := []struct{ method, path, body string }{
		{http.MethodGet, webhooksPath("other-org"), ""},
		{http.MethodPost, webhooksPath("other-org"), `{"url":"https://evil.example.com/"}`},
		{http.MethodDelete, webhooksPath("other-org") + "/wh-theirs", ""},
		// Its own organisation's path does not reach the other's endpoint either.
		{http.MethodDelete, webhooksPath() + "/wh-theirs", ""},
	}
	for _, op := range ops {
		t.Run(op.method+" "+op.path, func(t *testing.T) {
			r := api.as(t, orgAdminSecret, op.method, op.path, op.body)
			r.wantError(t, http.StatusNotFound, arena.ENOTFOUND)
			if strings.Contains(string(r.body), "hooks.other.example") {
				t.Fatalf("the answer tells of the other organisation: %s", r.body)
			}
		})
	}
	r := api.as(t, adminSecret, http.MethodGet, webhooksPath("other-org"), "")
	var list struct {
		Webhooks []struct {
			ID, URL, CreatedAt string
			Events             []string
		}
	}
	r.decodeJSON(t, &list)
	if len(list.Webhooks) != 1 || list.Webhooks[0].ID != "wh-theirs" {
		t.Fatalf("the other organisation's endpoints changed: %s", r.body)
	}
}

func TestWebhookAdminAPICap(t *testing.T) {
	api := newTestAPI(t, nil)
	for i := range arena.MaxWebhooksPerOrg {
		if r := api.as(t, orgAdminSecret, http.MethodPost, webhooksPath(), fmt.Sprintf(`{"url":"https://mm.example.com/%d"}`, i)); r.status != 201 {
			t.Fatalf("endpoint %d: %d %s", i+1, r.status, r.body)
		}
	}
	r := api.as(t, orgAdminSecret, http.MethodPost, webhooksPath(), `{"url":"https://mm.example.com/over"}`)
	r.wantError(t, http.StatusConflict, arena.ECONFLICT)
}

// TestOpenAPIWebhookLimits checks that the document states the event types
// and the URL's length that the webhook package applies.
func TestOpenAPIWebhookLimits(t *testing.T) {
	doc := loadOurs(t)
	var enum []string
	for _, v := range doc.Components.Schemas["WebhookEventType"].Value.Enum {
		enum = append(enum, fmt.Sprint(v))
	}
	if !slices.Equal(enum, webhook.EventTypes) {
		t.Errorf("the document's event types are %v, the package's %v", enum, webhook.EventTypes)
	}
	if max := doc.Components.Schemas["WebhookCreate"].Value.Properties["url"].Value.MaxLength; max == nil || *max != webhook.MaxURL {
		t.Errorf("the document's url maxLength is %v, the package's %d", max, webhook.MaxURL)
	}
}
