// Package fakeapi is what the tests of the cloud drivers share: a fake of a
// provider's HTTP API on loopback that records every request and answers
// as the test says, and the checks every driver's tests make of its
// errors and deadlines. What a driver's API says (its error bodies, its
// descriptions of machines) stays with the driver's tests.
//
// It is a package of its own, not a _test.go file, so that the drivers'
// tests can import it; being internal keeps it out of Arena's API.
package fakeapi

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/arena-hq/arena"
)

// Request is what the fake API received.
type Request struct {
	Method, Path string
	Query        url.Values
	Header       http.Header
	Body         []byte
}

// Decode decodes the request's JSON body into v, failing tb if it is no
// JSON of v's shape.
func (r Request) Decode(tb testing.TB, v any) {
	tb.Helper()
	if err := json.Unmarshal(r.Body, v); err != nil {
		tb.Fatalf("%s %s: body %q: %v", r.Method, r.Path, r.Body, err)
	}
}

// Answer is what the fake API sends. Body is encoded as JSON unless it is
// a string, which is sent as it is (as text/plain), or nil, which sends no
// body. Header is set on the response over those defaults, for an API
// that speaks something other than JSON.
type Answer struct {
	Status int
	Body   any
	Header http.Header
}

// Server is a fake API on loopback that records every request and answers
// the n-th (from 0) with the answer function given to New. Its URL is the
// API's endpoint.
type Server struct {
	*httptest.Server
	tb     testing.TB
	answer func(n int, r Request) Answer

	mu   sync.Mutex
	reqs []Request
}

// New starts a fake API that answers with answer, and stops it when tb
// ends. answer is called on the server's goroutines, so a test that
// counts calls itself must guard the count; n is the safe way.
func New(tb testing.TB, answer func(n int, r Request) Answer) *Server {
	tb.Helper()
	s := &Server{tb: tb, answer: answer}
	s.Server = httptest.NewServer(http.HandlerFunc(s.serve))
	tb.Cleanup(s.Close)
	return s
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	req := Request{Method: r.Method, Path: r.URL.Path, Query: r.URL.Query(), Header: r.Header.Clone(), Body: body}
	s.mu.Lock()
	n := len(s.reqs)
	s.reqs = append(s.reqs, req)
	s.mu.Unlock()

	a := s.answer(n, req)
	var out []byte
	switch b := a.Body.(type) {
	case nil:
		w.Header().Set("Content-Type", "application/json")
	case string:
		w.Header().Set("Content-Type", "text/plain")
		out = []byte(b)
	default:
		w.Header().Set("Content-Type", "application/json")
		if out, err = json.Marshal(b); err != nil {
			// Fail the test: whatever the driver makes of the error
			// status, it could be what a test of errors expects.
			s.tb.Errorf("fakeapi: %s %s: answer %#v: %v", r.Method, r.URL.Path, b, err)
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
	}
	for k, vs := range a.Header {
		w.Header()[http.CanonicalHeaderKey(k)] = vs
	}
	w.WriteHeader(a.Status)
	_, _ = w.Write(out)
}

// Requests returns what the fake received so far, in the order it did.
func (s *Server) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Request(nil), s.reqs...)
}

// Calls returns the method and path of each request the fake received so
// far, in the order it did, as "DELETE /v1/servers/42": what a test
// compares when which requests were made is what matters.
func (s *Server) Calls() []string {
	var calls []string
	for _, r := range s.Requests() {
		calls = append(calls, r.Method+" "+r.Path)
	}
	return calls
}

// Always is an answer function that answers every request with a.
func Always(a Answer) func(int, Request) Answer {
	return func(int, Request) Answer { return a }
}

// NewDriver returns the driver that newDriver makes of cfg after each of
// change has adjusted it, failing tb if newDriver refuses: the tests of a
// driver start from one config of the fake and vary it per case.
func NewDriver[C, D any](tb testing.TB, newDriver func(C) (D, error), cfg C, change ...func(*C)) D {
	tb.Helper()
	for _, c := range change {
		c(&cfg)
	}
	d, err := newDriver(cfg)
	if err != nil {
		tb.Fatal(err)
	}
	return d
}

// WantCode fails tb unless err is an *arena.Error of code whose text
// holds none of secrets: a driver's errors end up in logs and in answers
// to Arena's callers, and must never carry its credentials. A code of ""
// wants no error, for tables of cases that mix successes and failures.
func WantCode(tb testing.TB, err error, code string, secrets ...string) {
	tb.Helper()
	if code == "" {
		if err != nil {
			tb.Fatalf("err = %v, want none", err)
		}
		return
	}
	var e *arena.Error
	if !errors.As(err, &e) {
		tb.Fatalf("err = %v (%T), want an *arena.Error of %s", err, err, code)
	}
	if e.Code != code {
		tb.Fatalf("code = %s, want %s (%v)", e.Code, code, err)
	}
	for i, s := range secrets {
		if strings.Contains(err.Error(), s) {
			tb.Fatalf("the error shows credential %d: %v", i, err)
		}
	}
}

// WantMachine fails tb unless got is want: the same fields, the same
// labels and the same moment of creation in whatever location.
func WantMachine(tb testing.TB, got, want arena.Machine) {
	tb.Helper()
	if got.ID != want.ID || got.Name != want.Name || got.Status != want.Status || got.PublicIP != want.PublicIP ||
		!got.CreatedAt.Equal(want.CreatedAt) || !maps.Equal(got.Labels, want.Labels) {
		tb.Errorf("machine = %+v, want %+v", got, want)
	}
}

// Deadline tests that a driver's call gives up in time while its API keeps
// asking it to retry: once at the deadline of the caller's context, once
// at the driver's own timeout when the caller sets no deadline. Both are
// 100ms; the call must end within 10s.
//
// prepare sets up, with t of the case, a driver whose timeout is timeout
// (zero for the driver's default, far beyond 10s), whose retries wait so
// long that only a deadline can end them in time, and whose API answers
// every request with a failure the driver retries. It returns the call,
// which checks the driver's error itself. The deadline starts after
// prepare, so that setting up the fake does not eat into it.
func Deadline(t *testing.T, prepare func(t *testing.T, timeout time.Duration) (call func(ctx context.Context))) {
	t.Helper()
	const deadline, limit = 100 * time.Millisecond, 10 * time.Second
	run := func(t *testing.T, ctx context.Context, call func(context.Context)) {
		start := time.Now()
		call(ctx)
		if d := time.Since(start); d > limit {
			t.Errorf("took %v despite the deadline", d)
		}
	}
	t.Run("caller's deadline", func(t *testing.T) {
		call := prepare(t, 0)
		ctx, cancel := context.WithTimeout(context.Background(), deadline)
		defer cancel()
		run(t, ctx, call)
	})
	t.Run("default timeout", func(t *testing.T) {
		call := prepare(t, deadline)
		run(t, context.Background(), call)
	})
}
