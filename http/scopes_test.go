package http_test

import (
	"net/http"
	"strconv"
	"strings"
	"testing"

	"github.com/arena-hq/arena"
)

// TestScopes checks that each operation asks for its scope: a token
// without it gets 403 and the service is never called.
func TestScopes(t *testing.T) {
	tests := []struct {
		name, secret, method, path, body string
		status                           int
	}{
		{"read-only lists", readOnlySecret, http.MethodGet, "/session", "", http.StatusOK},
		{"read-only describes tags", readOnlySecret, http.MethodGet, "/tag/europe/my-game/1.0", "", http.StatusOK},
		{"read-only cannot create", readOnlySecret, http.MethodPost, "/session", `{"location":"europe","image":"my-game"}`, http.StatusForbidden},
		{"read-only cannot stop", readOnlySecret, http.MethodDelete, "/session/s-1", "", http.StatusForbidden},
		{"read-only cannot join players", readOnlySecret, http.MethodPut, "/session/player/join", `{"session":"s-1","players":["p"]}`, http.StatusForbidden},
		{"read-only cannot read logs", readOnlySecret, http.MethodGet, "/logs?id=s-1", "", http.StatusForbidden},
		{"read-only cannot download artifacts", readOnlySecret, http.MethodGet, "/artifacts?session=s-1&path=/x", "", http.StatusForbidden},
		{"read-only cannot read usage", readOnlySecret, http.MethodGet, "/usage", "", http.StatusForbidden},
		{"session token cannot list nodes", testSecret, http.MethodGet, "/admin/v1/nodes", "", http.StatusForbidden},
		{"organisation admin cannot list nodes", orgAdminSecret, http.MethodGet, "/admin/v1/nodes", "", http.StatusForbidden},
		{"organisation admin cannot drain a node", orgAdminSecret, http.MethodPost, "/admin/v1/nodes/n2/drain", "", http.StatusForbidden},
		{"organisation admin cannot remove a node", orgAdminSecret, http.MethodDelete, "/admin/v1/nodes/n2", "", http.StatusForbidden},
		{"organisation admin has the session API", orgAdminSecret, http.MethodGet, "/usage", "", http.StatusOK},
		{"organisation admin cannot set its own quota", orgAdminSecret, http.MethodPut, "/admin/v1/orgs/" + testOrg + "/quota", `{"maxSessions":1000}`, http.StatusForbidden},
		{"session token cannot set a quota", testSecret, http.MethodPut, "/admin/v1/orgs/" + testOrg + "/quota", `{"maxSessions":1000}`, http.StatusForbidden},
		{"operator lists nodes", adminSecret, http.MethodGet, "/admin/v1/nodes", "", http.StatusOK},
		{"session scopes cannot create applications", testSecret, http.MethodPost, "/application", `{}`, http.StatusForbidden},
		{"session scopes cannot mint tokens", testSecret, http.MethodPost, "/token", `{"name":"x","scopes":["session:read"]}`, http.StatusForbidden},
		{"session:read alone cannot stop", scopedSecret(arena.ScopeSessionRead), http.MethodDelete, "/session/s-1", "", http.StatusForbidden},
		{"session:stop stops", scopedSecret(arena.ScopeSessionStop), http.MethodDelete, "/session/s-1", "", http.StatusNoContent},
		{"session:start alone cannot list", scopedSecret(arena.ScopeSessionStart), http.MethodGet, "/session", "", http.StatusForbidden},
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
			if tt.status == http.StatusForbidden {
				r.wantError(t, http.StatusForbidden, arena.EFORBIDDEN)
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

// TestDocumentedScopes checks that every operation asks for exactly the
// scope the OpenAPI document names for it: a token with that scope alone
// gets past the check, and a token with every other scope does not.
func TestDocumentedScopes(t *testing.T) {
	api := newTestAPI(t, nil)
	fill := strings.NewReplacer("{id}", "s-1", "{org}", testOrg, "{name}", "my-game", "{region}", "europe", "{image}", "my-game", "{version}", "1.0")
	for key, op := range operations(loadOurs(t)) {
		documented := scopes(op.op)
		if len(documented) == 0 {
			continue
		}
		t.Run(key, func(t *testing.T) {
			if len(documented) != 1 {
				t.Fatalf("the document names scopes %v; an operation needs one", documented)
			}
			method, path, _ := strings.Cut(key, " ")
			send := func(scopes ...string) response {
				req := api.request(t, method, fill.Replace(path), "")
				req.Header.Set("Authorization", "Bearer "+scopedSecret(scopes...))
				return api.send(t, req)
			}
			if r := send(documented[0]); r.status == http.StatusForbidden || r.status == http.StatusUnauthorized {
				t.Errorf("a token with %s alone: %d %s", documented[0], r.status, r.body)
			}
			var others []string
			for _, s := range arena.AllScopes {
				if s != documented[0] && s != arena.ScopeOperator && !(&arena.Token{Scopes: []string{s}}).Allows(documented[0]) {
					others = append(others, s)
				}
			}
			if r := send(others...); r.status != http.StatusForbidden {
				t.Errorf("a token with %v: %d, want 403; body %s", others, r.status, r.body)
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
