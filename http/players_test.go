package http_test

import (
	"net/http"
	"strings"
	"testing"
)

func TestPlayers(t *testing.T) {
	tests := []struct {
		name, method, path, body string
		status                   int
		want                     string // the body, for 200
	}{
		{"join", http.MethodPut, "/session/player/join", `{"session":"s-1","players":["a","b"]}`, 200, `{"count":3,"players":["p0","a","b"]}`},
		{"join with POST", http.MethodPost, "/session/player/join", `{"session":"s-1","players":["a"]}`, 200, `{"count":2,"players":["p0","a"]}`},
		{"join unknown session", http.MethodPut, "/session/player/join", `{"session":"nope","players":["a"]}`, 404, ""},
		{"join without session", http.MethodPut, "/session/player/join", `{"players":["a"]}`, 422, ""},
		{"join without players", http.MethodPut, "/session/player/join", `{"session":"s-1","players":[]}`, 422, ""},
		{"join with a bad player", http.MethodPut, "/session/player/join", `{"session":"s-1","players":[""]}`, 422, ""},
		{"join with an unknown field", http.MethodPut, "/session/player/join", `{"session":"s-1","players":["a"],"team":1}`, 422, ""},
		{"leave", http.MethodDelete, "/session/player/leave", `{"players":["a","a","b"]}`, 200, `{"count":1,"players":["a","b"]}`},
		{"leave with POST and a session", http.MethodPost, "/session/player/leave", `{"session":"s-1","players":["a"]}`, 200, `{"count":1,"players":["a"]}`},
		{"leave an unknown session", http.MethodDelete, "/session/player/leave", `{"session":"nope","players":["a"]}`, 404, ""},
		{"leave without players", http.MethodDelete, "/session/player/leave", `{}`, 422, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			api := newTestAPI(t, nil)
			r := api.do(t, tt.method, tt.path, tt.body)
			if r.status != tt.status {
				t.Fatalf("status = %d, want %d; body: %s", r.status, tt.status, r.body)
			}
			if tt.want != "" && strings.TrimSpace(string(r.body)) != tt.want {
				t.Fatalf("body %s, want %s", r.body, tt.want)
			}
			if tt.status == 422 {
				if calls := api.sessions.Calls(); len(calls) != 0 {
					t.Fatalf("the service was called: %+v", calls)
				}
			}
		})
	}
	api := newTestAPI(t, nil)
	api.do(t, http.MethodPut, "/session/player/join", `{"session":"s-1","players":["a"]}`)
	if calls := api.sessions.Calls(); len(calls) != 1 || calls[0].orgID != testOrg || calls[0].id != "s-1" || len(calls[0].players) != 1 {
		t.Fatalf("calls %+v", calls)
	}
}
