package fakeapi

import (
	"errors"
	"io"
	"net/http"
	"runtime"
	"strings"
	"sync"
	"testing"

	"github.com/arena-hq/arena"
)

func TestServer(t *testing.T) {
	s := New(t, func(n int, r Request) Answer {
		switch n {
		case 0:
			return Answer{Status: http.StatusCreated, Body: map[string]int{"n": n}}
		case 1:
			return Answer{Status: http.StatusBadGateway, Body: "down"}
		case 2:
			return Answer{Status: http.StatusOK, Body: "<x/>", Header: http.Header{"Content-Type": {"text/xml"}}}
		}
		return Answer{Status: http.StatusNoContent}
	})
	want := []struct {
		status      int
		contentType string
		body        string
	}{
		{http.StatusCreated, "application/json", `{"n":0}`},
		{http.StatusBadGateway, "text/plain", "down"},
		{http.StatusOK, "text/xml", "<x/>"},
		{http.StatusNoContent, "application/json", ""},
	}
	for i, w := range want {
		req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, s.URL+"/v1/things?page=2", strings.NewReader(`{"i":1}`))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Authorization", "Bearer x")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, err := io.ReadAll(resp.Body)
		_ = resp.Body.Close()
		if err != nil {
			t.Fatal(err)
		}
		if resp.StatusCode != w.status || resp.Header.Get("Content-Type") != w.contentType || string(body) != w.body {
			t.Errorf("answer %d = %d %s %q, want %d %s %q", i, resp.StatusCode, resp.Header.Get("Content-Type"), body,
				w.status, w.contentType, w.body)
		}
	}

	reqs := s.Requests()
	if len(reqs) != len(want) {
		t.Fatalf("%d requests recorded, want %d", len(reqs), len(want))
	}
	r := reqs[0]
	var body struct{ I int }
	r.Decode(t, &body)
	if r.Method != http.MethodPost || r.Path != "/v1/things" || r.Query.Get("page") != "2" ||
		r.Header.Get("Authorization") != "Bearer x" || body.I != 1 {
		t.Errorf("request = %+v", r)
	}
}

// failures is a testing.TB that records the failures of a check, which
// runs on a goroutine of its own so that Fatalf can end it as the testing
// package's does.
type failures struct {
	testing.TB
	mu   sync.Mutex
	msgs []string
}

func (f *failures) Helper() {}

func (f *failures) Fatalf(format string, args ...any) {
	f.mu.Lock()
	f.msgs = append(f.msgs, format)
	f.mu.Unlock()
	runtime.Goexit()
}

func (f *failures) of(check func(tb testing.TB)) []string {
	done := make(chan struct{})
	go func() {
		defer close(done)
		check(f)
	}()
	<-done
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.msgs
}

func TestWantCode(t *testing.T) {
	const secret = "s3cret"
	unavailable := arena.Errorf(arena.EUNAVAILABLE, "rate limited")
	tests := []struct {
		name string
		err  error
		code string
		fail bool
	}{
		{name: "the code", err: unavailable, code: arena.EUNAVAILABLE},
		{name: "wrapped", err: errors.Join(errors.New("creating"), unavailable), code: arena.EUNAVAILABLE},
		{name: "another code", err: arena.Errorf(arena.EINVALID, "bad"), code: arena.EUNAVAILABLE, fail: true},
		{name: "no arena error", err: errors.New("rate limited"), code: arena.EUNAVAILABLE, fail: true},
		{name: "nil", err: nil, code: arena.EUNAVAILABLE, fail: true},
		{name: "the secret in the message", err: arena.Errorf(arena.EUNAVAILABLE, "token %s", secret), code: arena.EUNAVAILABLE, fail: true},
		{name: "the secret in the cause", err: &arena.Error{Code: arena.EUNAVAILABLE, Message: "rate limited",
			Err: errors.New("GET https://x/?key=" + secret)}, code: arena.EUNAVAILABLE, fail: true},
		{name: "none wanted", err: nil, code: ""},
		{name: "one where none is wanted", err: unavailable, code: "", fail: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tb := &failures{TB: t}
			msgs := tb.of(func(tb testing.TB) { WantCode(tb, tt.err, tt.code, "other", secret) })
			if got := len(msgs) > 0; got != tt.fail {
				t.Errorf("failed %v (%q), want %v", got, msgs, tt.fail)
			}
		})
	}
}
