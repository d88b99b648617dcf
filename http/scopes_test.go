package http_test

import (
	"net/http"
	"strconv"
	"testing"

	"github.com/arena-hq/arena"
)

// TestScopes checks that each operation asks for its scope: a token
// without it gets 401 and the service is never called.
func TestScopes(t *testing.T) {
	tests := []struct {
		name, secret, method, path, body string
		status                           int
	}{
		{"read-only lists", readOnlySecret, http.MethodGet, "/session", "", http.StatusOK},
		{"read-only describes tags", readOnlySecret, http.MethodGet, "/tag/europe/my-game/1.0", "", http.StatusOK},
		{"read-only cannot create", readOnlySecret, http.MethodPost, "/session", `{"location":"europe","image":"my-game"}`, http.StatusUnauthorized},
		{"read-only cannot stop", readOnlySecret, http.MethodDelete, "/session/s-1", "", http.StatusUnauthorized},
		{"read-only cannot join players", readOnlySecret, http.MethodPut, "/session/player/join", `{"session":"s-1","players":["p"]}`, http.StatusUnauthorized},
		{"read-only cannot read logs", readOnlySecret, http.MethodGet, "/logs?id=s-1", "", http.StatusUnauthorized},
		{"read-only cannot download artifacts", readOnlySecret, http.MethodGet, "/artifacts?session=s-1&path=/x", "", http.StatusUnauthorized},
		{"read-only cannot read usage", readOnlySecret, http.MethodGet, "/usage", "", http.StatusUnauthorized},
		{"session token cannot list nodes", testSecret, http.MethodGet, "/admin/v1/nodes", "", http.StatusUnauthorized},
		{"organisation admin cannot list nodes", orgAdminSecret, http.MethodGet, "/admin/v1/nodes", "", http.StatusUnauthorized},
		{"organisation admin cannot drain a node", orgAdminSecret, http.MethodPost, "/admin/v1/nodes/n2/drain", "", http.StatusUnauthorized},
		{"organisation admin cannot remove a node", orgAdminSecret, http.MethodDelete, "/admin/v1/nodes/n2", "", http.StatusUnauthorized},
		{"organisation admin has the session API", orgAdminSecret, http.MethodGet, "/usage", "", http.StatusOK},
		{"organisation admin cannot set its own quota", orgAdminSecret, http.MethodPut, "/admin/v1/orgs/" + testOrg + "/quota", `{"maxSessions":1000}`, http.StatusUnauthorized},
		{"session token cannot set a quota", testSecret, http.MethodPut, "/admin/v1/orgs/" + testOrg + "/quota", `{"maxSessions":1000}`, http.StatusUnauthorized},
		{"operator lists nodes", adminSecret, http.MethodGet, "/admin/v1/nodes", "", http.StatusOK},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			api := newTestAPI(t, nil)
			req := api.request(t, tt.method, tt.path, tt.body)
			req.Header.Set("Authorization", "Bearer "+tt.secret)
			r := api.send(t, req)
			if r.status != tt.status {
				t.Fatalf("status %d, want %d; body %s", r.status, tt.status, r.body)
			}
			if tt.status == http.StatusUnauthorized {
				r.wantError(t, http.StatusUnauthorized, arena.EUNAUTHORIZED)
				if calls := api.sessions.Calls(); len(calls) != 0 {
					t.Fatalf("the service was called without the scope: %+v", calls)
				}
				if n := api.nodes.Calls(); n != 0 {
					t.Fatalf("the node admin was called %d times without the scope", n)
				}
			}
		})
	}
}

// TestRateLimit checks the contract's 420 with Retry-After once a token has
// spent its burst, and that other tokens are not held back by it.
func TestRateLimit(t *testing.T) {
	api := newTestAPI(t, nil)
	get := func(secret string) response {
		t.Helper()
		req := api.request(t, http.MethodGet, "/session", "")
		req.Header.Set("Authorization", "Bearer "+secret)
		return api.send(t, req)
	}
	for i := range 2 {
		if r := get(limitedSecret); r.status != http.StatusOK {
			t.Fatalf("request %d within the burst: %d %s", i, r.status, r.body)
		}
	}
	r := get(limitedSecret)
	r.wantError(t, 420, arena.EUNAVAILABLE)
	after, err := strconv.Atoi(r.header.Get("Retry-After"))
	if err != nil || after < 1 {
		t.Fatalf("Retry-After %q, want a positive number of seconds", r.header.Get("Retry-After"))
	}
	if calls := len(api.sessions.Calls()); calls != 2 {
		t.Fatalf("%d calls reached the service, want the 2 within the burst", calls)
	}
	if r := get(testSecret); r.status != http.StatusOK {
		t.Fatalf("another token was limited too: %d", r.status)
	}
}
