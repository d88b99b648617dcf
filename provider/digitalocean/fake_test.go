package digitalocean

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
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
// a string, which is sent as it is, or nil, which sends no body.
type answer struct {
	status int
	body   any
}

// fake is a DigitalOcean API on loopback that records every request and
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

// apiError is the API's error answer: id names the status
// (unauthorized, not_found, too_many_requests, unprocessable_entity, ...).
func apiError(status int, id, message string) answer {
	return answer{status: status, body: map[string]any{"id": id, "message": message, "request_id": "req-0123"}}
}

// droplet is the API's description of a droplet with tags.
func droplet(id int, name, ip string, tags []string) map[string]any {
	return map[string]any{
		"id":         id,
		"name":       name,
		"memory":     4096,
		"vcpus":      2,
		"disk":       80,
		"locked":     false,
		"status":     "new",
		"created_at": "2026-01-02T03:04:05Z",
		"networks": map[string]any{
			"v4": []any{
				map[string]any{"ip_address": "10.110.0.2", "netmask": "255.255.240.0", "gateway": "", "type": "private"},
				map[string]any{"ip_address": ip, "netmask": "255.255.240.0", "gateway": "203.0.113.1", "type": "public"},
			},
			"v6": []any{},
		},
		"region":    map[string]any{"slug": "ams3", "name": "Amsterdam 3", "available": true},
		"image":     map[string]any{"id": 7, "slug": "ubuntu-24-04-x64", "distribution": "Ubuntu"},
		"size_slug": "s-2vcpu-4gb",
		"tags":      tags,
		"vpc_uuid":  "5a4981aa-9653-4bd1-bef5-d6bff52042e4",
	}
}

// page is the API's answer of one page of a droplet list: prev and next
// are the numbers of the pages it links to, 0 for none.
func page(f *fake, droplets []any, prev, next int) answer {
	link := func(n int) string {
		return f.srv.URL + "/v2/droplets?page=" + strconv.Itoa(n) + "&per_page=200&tag_name=arena-installation%3Ainst-1"
	}
	pages := map[string]any{}
	if prev > 0 {
		pages["first"], pages["prev"] = link(1), link(prev)
	}
	if next > 0 {
		pages["next"], pages["last"] = link(next), link(next)
	}
	return answer{http.StatusOK, map[string]any{"droplets": droplets, "links": map[string]any{"pages": pages},
		"meta": map[string]any{"total": len(droplets)}}}
}
