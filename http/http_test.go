package http_test

import (
	"bytes"
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/google/uuid"

	"github.com/arena-hq/arena"
	arenahttp "github.com/arena-hq/arena/http"
)

func TestAuthentication(t *testing.T) {
	operations := []struct {
		method, path, body string
	}{
		{http.MethodPost, "/session", `{"location":"europe","image":"my-game"}`},
		{http.MethodGet, "/session", ""},
		{http.MethodGet, "/session/s-1", ""},
		{http.MethodDelete, "/session/s-1", ""},
	}
	headers := []struct {
		name          string
		authorization string
		status        int
		code          string
	}{
		{"no header", "", http.StatusUnauthorized, arena.EUNAUTHORIZED},
		{"other scheme", "Basic " + testSecret, http.StatusUnauthorized, arena.EUNAUTHORIZED},
		{"scheme only", "Bearer", http.StatusUnauthorized, arena.EUNAUTHORIZED},
		{"empty token", "Bearer  ", http.StatusUnauthorized, arena.EUNAUTHORIZED},
		{"unknown token", "Bearer arena_wrong", http.StatusUnauthorized, arena.EUNAUTHORIZED},
		{"token with a space", "Bearer " + testSecret + " x", http.StatusUnauthorized, arena.EUNAUTHORIZED},
		{"authenticator down", "Bearer " + secretAuthDown, http.StatusInternalServerError, arena.EINTERNAL},
	}
	for _, op := range operations {
		for _, h := range headers {
			t.Run(op.method+" "+op.path+"/"+h.name, func(t *testing.T) {
				t.Parallel()
				api := newTestAPI(t, nil)
				req := api.request(t, op.method, op.path, op.body)
				req.Header.Del("Authorization")
				if h.authorization != "" {
					req.Header.Set("Authorization", h.authorization)
				}
				r := api.send(t, req)
				r.wantError(t, h.status, h.code)
				if h.status == http.StatusUnauthorized && !strings.HasPrefix(r.header.Get("WWW-Authenticate"), "Bearer") {
					t.Errorf("WWW-Authenticate = %q, want a Bearer challenge", r.header.Get("WWW-Authenticate"))
				}
				if calls := api.sessions.Calls(); len(calls) != 0 {
					t.Errorf("the service was called without a valid token: %+v", calls)
				}
			})
		}
	}
	t.Run("scheme is case-insensitive", func(t *testing.T) {
		t.Parallel()
		api := newTestAPI(t, nil)
		req := api.request(t, http.MethodGet, "/session", "")
		req.Header.Set("Authorization", "bearer "+testSecret)
		if r := api.send(t, req); r.status != http.StatusOK {
			t.Errorf("status = %d, want 200; body: %s", r.status, r.body)
		}
	})
}

func TestUnmatchedRequests(t *testing.T) {
	tests := []struct {
		method, path string
		status       int
		code         string
		allow        string
	}{
		{http.MethodGet, "/", http.StatusNotFound, arena.ENOTFOUND, ""},
		{http.MethodGet, "/sessions", http.StatusNotFound, arena.ENOTFOUND, ""},
		{http.MethodGet, "/tag/europe/game", http.StatusNotFound, arena.ENOTFOUND, ""},
		{http.MethodGet, "/session/player/join", http.StatusMethodNotAllowed, "method_not_allowed", "POST, PUT"},

		{http.MethodPost, "/available-location/my-game", http.StatusMethodNotAllowed, "method_not_allowed", "GET, HEAD"},
		{http.MethodPut, "/session", http.StatusMethodNotAllowed, "method_not_allowed", "GET, HEAD, POST"},
		{http.MethodPatch, "/session/s-1", http.StatusMethodNotAllowed, "method_not_allowed", "DELETE, GET, HEAD"},
		{http.MethodPost, "/healthz", http.StatusMethodNotAllowed, "method_not_allowed", "GET, HEAD"},
		{http.MethodDelete, "/openapi.yaml", http.StatusMethodNotAllowed, "method_not_allowed", "GET, HEAD"},
	}
	for _, tt := range tests {
		t.Run(tt.method+" "+tt.path, func(t *testing.T) {
			t.Parallel()
			api := newTestAPI(t, nil)
			for _, authorized := range []bool{false, true} {
				req := api.request(t, tt.method, tt.path, "")
				if !authorized {
					req.Header.Del("Authorization")
				}
				r := api.send(t, req)
				r.wantError(t, tt.status, tt.code)
				if got := r.header.Get("Allow"); got != tt.allow {
					t.Errorf("Allow = %q, want %q", got, tt.allow)
				}
			}
		})
	}
}

func TestUnauthenticatedEndpoints(t *testing.T) {
	tests := []struct {
		method, path string
		wantType     string
		wantBody     []byte
	}{
		{http.MethodGet, "/healthz", "application/json", []byte(`{"status":"ok"}` + "\n")},
		{http.MethodHead, "/healthz", "application/json", nil},
		{http.MethodGet, "/openapi.yaml", "application/yaml", arenahttp.OpenAPIDocument()},
	}
	for _, tt := range tests {
		t.Run(tt.method+" "+tt.path, func(t *testing.T) {
			t.Parallel()
			api := newTestAPI(t, nil)
			req := api.request(t, tt.method, tt.path, "")
			req.Header.Del("Authorization")
			r := api.send(t, req)
			if r.status != http.StatusOK {
				t.Fatalf("status = %d, want 200; body: %s", r.status, r.body)
			}
			if got := r.header.Get("Content-Type"); got != tt.wantType {
				t.Errorf("Content-Type = %q, want %q", got, tt.wantType)
			}
			if !bytes.Equal(r.body, tt.wantBody) {
				t.Errorf("body = %q, want %q", r.body, tt.wantBody)
			}
		})
	}
}

func TestRequestID(t *testing.T) {
	tests := []struct {
		name  string
		given string
		// echoed says whether the given id is kept.
		echoed bool
	}{
		{"none given", "", false},
		{"well-formed", "lb-7f3a.2_c", true},
		{"with a space", "lb 7f3a", false},
		{"with a colon", "lb:7f3a", false},
		{"too long", strings.Repeat("a", 129), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			api := newTestAPI(t, nil)
			req := api.request(t, http.MethodGet, "/session/missing", "")
			req.Header["X-Request-Id"] = []string{tt.given}
			r := api.send(t, req)
			e := r.wantError(t, http.StatusNotFound, arena.ENOTFOUND)
			switch {
			case tt.echoed && e.Identifier != tt.given:
				t.Errorf("identifier = %q, want the given %q", e.Identifier, tt.given)
			case !tt.echoed && uuid.Validate(e.Identifier) != nil:
				t.Errorf("identifier = %q, want a generated UUID", e.Identifier)
			}
		})
	}
	t.Run("successful responses carry it too", func(t *testing.T) {
		t.Parallel()
		api := newTestAPI(t, nil)
		if r := api.do(t, http.MethodGet, "/session", ""); r.header.Get("X-Request-Id") == "" {
			t.Error("X-Request-Id is missing")
		}
	})
}

// accessRecord is the access log's record of a request.
type accessRecord struct {
	Msg       string  `json:"msg"`
	Level     string  `json:"level"`
	Method    string  `json:"method"`
	Path      string  `json:"path"`
	Status    int     `json:"status"`
	Duration  float64 `json:"duration"`
	RequestID string  `json:"request_id"`
	Org       string  `json:"org"`
}

func TestAccessLog(t *testing.T) {
	api := newTestAPI(t, nil)
	r := api.do(t, http.MethodGet, "/session/missing?secret=no", "")
	id := r.header.Get("X-Request-Id")
	logs := api.waitForLog(t, id)

	var found *accessRecord
	for line := range strings.Lines(logs) {
		var rec accessRecord
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Fatalf("log line %q is not JSON: %v", line, err)
		}
		if rec.Msg == "http request" && rec.RequestID == id {
			found = &rec
		}
	}
	if found == nil {
		t.Fatalf("no access record for request %s in:\n%s", id, logs)
	}
	want := accessRecord{Msg: "http request", Level: "INFO", Method: "GET", Path: "/session/missing", Status: 404, RequestID: id, Org: testOrg}
	found.Duration = 0
	if *found != want {
		t.Errorf("access record = %+v\nwant            %+v", *found, want)
	}
	if strings.Contains(logs, testSecret) || strings.Contains(logs, "Bearer") {
		t.Errorf("the log contains the Authorization header:\n%s", logs)
	}
}

func TestPanicRecovery(t *testing.T) {
	api := newTestAPI(t, &fakeSessions{find: func(string) (*arena.Session, error) { panic("nil map write") }})
	r := api.do(t, http.MethodGet, "/session/s-1", "")
	e := r.wantError(t, http.StatusInternalServerError, arena.EINTERNAL)
	if logs := api.waitForLog(t, "nil map write"); !strings.Contains(logs, "nil map write") {
		t.Errorf("the panic of request %s was not logged:\n%s", e.Identifier, logs)
	}
}
