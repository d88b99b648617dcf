package apitest_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/arena-hq/arena/http/apitest"
)

// recorder collects what Check reports instead of failing the test.
type recorder struct {
	testing.TB
	errors []string
}

func (r *recorder) Helper() {}

func (r *recorder) Errorf(format string, args ...any) {
	r.errors = append(r.errors, fmt.Sprintf(format, args...))
}

func errorBody(status int, code string) string {
	return fmt.Sprintf(`{"statusCode":%d,"code":%q,"message":"m","details":"d","path":"/p",`+
		`"identifier":"r1","timestamp":"2025-01-02T03:04:05Z","violations":[]}`, status, code)
}

const entry = `{"id":"s","image":"g","tag":"1","location":"eu","host":"h","created":1,"port":{"7777/udp":30000},` +
	`"status":"running","labels":{},"external_id":"","playerCount":0}`

func TestCheck(t *testing.T) {
	jsonHeader := func(extra ...string) http.Header {
		h := http.Header{"Content-Type": {"application/json"}, "X-Request-Id": {"r1"}}
		for i := 0; i+1 < len(extra); i += 2 {
			h.Set(extra[i], extra[i+1])
		}
		return h
	}
	tests := []struct {
		name         string
		method, path string
		status       int
		header       http.Header
		body         string
		// wantError is a substring of the expected report; empty: no report.
		wantError string
	}{
		{"created", "POST", "/session", 201, jsonHeader(), `{"id":"s","host":"h","ports":[{"type":"udp","container":7777,"host":30000}]}`, ""},
		{"420 is documented", "POST", "/session", 420, jsonHeader(), errorBody(420, "unavailable"), ""},
		{"422 on a listing", "GET", "/session?all=x", 422, jsonHeader(), errorBody(422, "invalid"), ""},
		{"listing", "GET", "/session", 200, jsonHeader(), `{"sessions":[` + entry + `]}`, ""},
		{"undocumented status", "GET", "/session", 409, jsonHeader(), errorBody(409, "conflict"), "not documented"},
		{"null labels", "GET", "/session", 200, jsonHeader(), `{"sessions":[` + strings.Replace(entry, `"labels":{}`, `"labels":null`, 1) + `]}`, "doesn't match"},
		{"optional contract field missing", "GET", "/session", 200, jsonHeader(), `{"sessions":[` + strings.Replace(entry, `,"playerCount":0`, "", 1) + `]}`, "doesn't match"},
		{"undocumented field", "POST", "/session", 201, jsonHeader(), `{"id":"s","host":"h","ports":[],"region":"eu"}`, "doesn't match"},
		{"request id missing", "POST", "/session", 201, http.Header{"Content-Type": {"application/json"}}, `{"id":"s","host":"h","ports":[]}`, "X-Request-Id"},
		{"unknown error code", "DELETE", "/session/s", 409, jsonHeader(), errorBody(409, "busy"), "doesn't match"},
		{"no content", "DELETE", "/session/s", 204, jsonHeader(), "", ""},
		{"body on 204", "DELETE", "/session/s", 204, jsonHeader(), `{}`, "no body"},
		{"wrong content type", "GET", "/healthz", 200, jsonHeader("Content-Type", "text/plain"), `ok`, "text/plain"},
		{"HEAD is served like GET", "HEAD", "/healthz", 200, jsonHeader(), "", ""},
		{"unknown route", "GET", "/nope", 404, jsonHeader(), errorBody(404, "not_found"), ""},
		{"unknown route answered", "GET", "/nope", 200, jsonHeader(), `{}`, "not documented"},
		{"trailing slash is another path", "GET", "/session/", 404, jsonHeader(), errorBody(404, "not_found"), ""},
		{"parameter spans one segment", "GET", "/session/a/b", 404, jsonHeader(), errorBody(404, "not_found"), ""},
		{"method not allowed", "PUT", "/session", 405, jsonHeader("Allow", "GET, HEAD, POST"), errorBody(405, "method_not_allowed"), ""},
		{"Allow incomplete", "PATCH", "/session/s", 405, jsonHeader("Allow", "GET"), errorBody(405, "method_not_allowed"), "Allow"},
		{"Allow missing", "POST", "/healthz", 405, jsonHeader(), errorBody(405, "method_not_allowed"), "Allow"},
		{"known path answered 404", "PUT", "/session", 404, jsonHeader(), errorBody(404, "not_found"), "not documented"},
	}
	checker := apitest.NewChecker(t)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			rec := &recorder{TB: t}
			req := httptest.NewRequest(tt.method, tt.path, nil)
			checker.Check(rec, req, tt.status, tt.header, []byte(tt.body))
			report := strings.Join(rec.errors, "\n")
			switch {
			case tt.wantError == "" && report != "":
				t.Errorf("unexpected report:\n%s", report)
			case tt.wantError != "" && !strings.Contains(report, tt.wantError):
				t.Errorf("report %q does not mention %q", report, tt.wantError)
			}
		})
	}
}

func TestLoadRejectsBrokenDocuments(t *testing.T) {
	tests := []struct {
		name string
		doc  string
	}{
		{"not YAML", "openapi: [3"},
		{"invalid document", "openapi: 3.0.3\ninfo: {title: t, version: '1'}\npaths: {/x: {get: {responses: {}}}}\n"},
		{"no fallback responses", "openapi: 3.0.3\ninfo: {title: t, version: '1'}\npaths: {}\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if _, err := apitest.Load([]byte(tt.doc)); err == nil {
				t.Error("Load succeeded, want an error")
			}
		})
	}
}
