package hetzner

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sync"
	"testing"
)

// request is what the fake API received.
type request struct {
	Method, Path string
	Query        url.Values
	Header       http.Header
	Body         []byte
}

// decode decodes the request's JSON body into v.
func (r request) decode(tb testing.TB, v any) {
	tb.Helper()
	if err := json.Unmarshal(r.Body, v); err != nil {
		tb.Fatalf("%s %s: body %q: %v", r.Method, r.Path, r.Body, err)
	}
}

// answer is what the fake API sends: body is encoded as JSON unless it is
// a string, which is sent as it is.
type answer struct {
	status int
	body   any
}

// fake is a Hetzner Cloud API on loopback that records every request and
// answers the n-th (from 0) with answer(n, request).
type fake struct {
	srv    *httptest.Server
	answer func(n int, r request) answer

	mu   sync.Mutex
	reqs []request
}

func newFake(tb testing.TB, answerFn func(n int, r request) answer) *fake {
	tb.Helper()
	f := &fake{answer: answerFn}
	f.srv = httptest.NewServer(http.HandlerFunc(f.serve))
	tb.Cleanup(f.srv.Close)
	return f
}

func (f *fake) serve(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	req := request{Method: r.Method, Path: r.URL.Path, Query: r.URL.Query(), Header: r.Header.Clone(), Body: body}
	f.mu.Lock()
	n := len(f.reqs)
	f.reqs = append(f.reqs, req)
	f.mu.Unlock()

	a := f.answer(n, req)
	if s, ok := a.body.(string); ok {
		w.Header().Set("Content-Type", "text/plain")
		w.WriteHeader(a.status)
		_, _ = io.WriteString(w, s)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(a.status)
	if a.body != nil {
		_ = json.NewEncoder(w).Encode(a.body)
	}
}

// requests returns what the fake received so far.
func (f *fake) requests() []request {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]request(nil), f.reqs...)
}

// always answers every request with a.
func always(a answer) func(int, request) answer {
	return func(int, request) answer { return a }
}

// apiError is the API's error answer of code.
func apiError(status int, code string) answer {
	return answer{status: status, body: map[string]any{"error": map[string]any{"code": code, "message": "fake " + code, "details": nil}}}
}

// server is the API's description of a server.
func server(id int64, name, ip string, labels map[string]string) map[string]any {
	return map[string]any{
		"id":      id,
		"name":    name,
		"status":  "initializing",
		"created": "2026-01-02T03:04:05Z",
		"public_net": map[string]any{
			"ipv4": map[string]any{"id": id + 1000, "ip": ip, "blocked": false, "dns_ptr": ""},
			"ipv6": map[string]any{"ip": "2001:db8::/64", "blocked": false},
		},
		"server_type": map[string]any{"id": 1, "name": "cx22"},
		"location":    map[string]any{"id": 1, "name": "fsn1"},
		"labels":      labels,
	}
}

// action is the API's description of a running action.
func action(id int64, command string) map[string]any {
	return map[string]any{"id": id, "command": command, "status": "running", "progress": 0,
		"started": "2026-01-02T03:04:05Z", "finished": nil, "resources": []any{}, "error": nil}
}
