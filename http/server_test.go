package http_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	arenahttp "github.com/arena-hq/arena/http"
)

// rawConn is a connection to the API for requests net/http's client would
// not send, read with a deadline so that a server that holds it fails the
// test rather than hanging it.
type rawConn struct {
	tb testing.TB
	net.Conn
	r *bufio.Reader
}

func dialRaw(tb testing.TB, api *testAPI) *rawConn {
	tb.Helper()
	c, err := net.Dial("tcp", strings.TrimPrefix(api.url, "http://"))
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { c.Close() })
	return &rawConn{tb: tb, Conn: c, r: bufio.NewReader(c)}
}

func (c *rawConn) send(s string) {
	c.tb.Helper()
	if _, err := io.WriteString(c.Conn, s); err != nil {
		c.tb.Fatalf("writing the request: %v", err)
	}
}

// response reads one response within d.
func (c *rawConn) response(d time.Duration) response {
	c.tb.Helper()
	_ = c.SetReadDeadline(time.Now().Add(d))
	resp, err := http.ReadResponse(c.r, nil)
	if err != nil {
		c.tb.Fatalf("reading the response: %v", err)
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		c.tb.Fatalf("reading the response body: %v", err)
	}
	if resp.Close {
		// (ReadResponse takes the header out.)
		resp.Header.Set("Connection", "close")
	}
	return response{status: resp.StatusCode, header: resp.Header, body: body}
}

// closedWithin reports whether the server closes the connection within d,
// whatever it sends before.
func (c *rawConn) closedWithin(d time.Duration) error {
	_ = c.SetReadDeadline(time.Now().Add(d))
	_, err := io.Copy(io.Discard, c.r)
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return fmt.Errorf("the connection is still open after %v", d)
	}
	return nil // EOF, or a reset: closed
}

// TestServerAnswersOfItsOwn checks that what net/http answers before any
// handler runs, and what the router refuses, carries the API's error body.
func TestServerAnswersOfItsOwn(t *testing.T) {
	const maxHeader = 4 << 10
	tests := []struct {
		name, request string
		status        int
		code          string
	}{
		{"malformed request line", "NOT HTTP\r\n\r\n", 400, "malformed_request"},
		{"no Host", "GET /healthz HTTP/1.1\r\n\r\n", 400, "malformed_request"},
		{"a target of *", "GET * HTTP/1.1\r\nHost: arena\r\n\r\n", 400, "malformed_request"},
		{"headers too large", "GET /healthz HTTP/1.1\r\nHost: arena\r\nX-Big: " + strings.Repeat("x", 3*maxHeader) + "\r\n\r\n", 431, "request_header_fields_too_large"},
		{"unknown transfer coding", "POST /session HTTP/1.1\r\nHost: arena\r\nTransfer-Encoding: gzip\r\n\r\n", 501, "not_implemented"},
		{"unknown HTTP version", "GET /healthz HTTP/3.0\r\nHost: arena\r\n\r\n", 505, "http_version_not_supported"},
		{"unknown path", "GET /nowhere HTTP/1.1\r\nHost: arena\r\n\r\n", 404, "not_found"},
		{"unknown method", "PATCH /session HTTP/1.1\r\nHost: arena\r\n\r\n", 405, "method_not_allowed"},
	}
	api := newTestAPIWith(t, nil, arenahttp.ServerConfig{MaxHeaderBytes: maxHeader})
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := dialRaw(t, api)
			c.send(tt.request)
			r := c.response(5 * time.Second)
			if r.status != tt.status {
				t.Fatalf("status = %d, want %d: %s", r.status, tt.status, r.body)
			}
			if ct := r.header.Get("Content-Type"); ct != "application/json" {
				t.Errorf("Content-Type = %q, want application/json", ct)
			}
			var e errorBody
			dec := json.NewDecoder(bytes.NewReader(r.body))
			dec.DisallowUnknownFields()
			if err := dec.Decode(&e); err != nil {
				t.Fatalf("not the API's error body: %s (%v)", r.body, err)
			}
			if e.StatusCode != tt.status || e.Code != tt.code || e.Message == "" || e.Details == "" || e.Violations == nil {
				t.Errorf("body = %+v, want status %d and code %q with a message, details and violations", e, tt.status, tt.code)
			}
			if id := r.header.Get("X-Request-Id"); id == "" || e.Identifier != id {
				t.Errorf("identifier = %q, X-Request-Id = %q: want equal and not empty", e.Identifier, id)
			}
			if _, err := time.Parse(time.RFC3339, e.Timestamp); err != nil {
				t.Errorf("timestamp %q: %v", e.Timestamp, err)
			}
		})
	}
}

// TestRefusedBodyIsNotRead checks that a request refused before its body is
// read (a bad token, a missing scope, a body of the wrong type) is answered
// at once, and its connection closed rather than kept: keeping it would mean
// first reading, at the client's pace, a body nobody wants.
func TestRefusedBodyIsNotRead(t *testing.T) {
	tests := []struct {
		name, token, contentType string
		status                   int
	}{
		{"no token", "", "application/json", 401},
		{"bad token", "arena_nope", "application/json", 401},
		{"missing scope", readOnlySecret, "application/json", 403},
		{"not JSON", testSecret, "text/plain", 415},
	}
	// A read timeout far beyond the test's waits: a server that reads the
	// body is caught holding the connection.
	api := newTestAPIWith(t, nil, arenahttp.ServerConfig{ReadTimeout: time.Minute, WriteTimeout: time.Minute})
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := dialRaw(t, api)
			auth := ""
			if tt.token != "" {
				auth = "Authorization: Bearer " + tt.token + "\r\n"
			}
			// A body of 100 bytes announced, 2 of them sent. (Of a body too
			// large to drain, net/http reads nothing anyway.)
			c.send("POST /session HTTP/1.1\r\nHost: arena\r\n" + auth + "Content-Type: " + tt.contentType + "\r\nContent-Length: 100\r\n\r\n{\"")
			r := c.response(5 * time.Second)
			if r.status != tt.status {
				t.Fatalf("status = %d, want %d: %s", r.status, tt.status, r.body)
			}
			if got := r.header.Get("Connection"); got != "close" {
				t.Errorf("Connection = %q, want close", got)
			}
			if err := c.closedWithin(5 * time.Second); err != nil {
				t.Error(err)
			}
		})
	}
	t.Run("a body read keeps the connection", func(t *testing.T) {
		c := dialRaw(t, api)
		for range 2 {
			c.send("POST /session HTTP/1.1\r\nHost: arena\r\nAuthorization: Bearer " + testSecret + "\r\nContent-Length: 2\r\n\r\n{}")
			if r := c.response(5 * time.Second); r.status != 422 || r.header.Get("Connection") == "close" {
				t.Fatalf("status %d, Connection %q; want 422 on a connection kept alive", r.status, r.header.Get("Connection"))
			}
		}
	})
}

// TestServerClosesSlowClients checks that the server ends the connections
// of clients that send too slowly or sit idle, within its timeouts.
func TestServerClosesSlowClients(t *testing.T) {
	const readHeader, read, idle = 300 * time.Millisecond, 600 * time.Millisecond, 400 * time.Millisecond
	api := newTestAPIWith(t, nil, arenahttp.ServerConfig{ReadHeaderTimeout: readHeader, ReadTimeout: read, IdleTimeout: idle, WriteTimeout: 5 * time.Second})
	// slack is what a loaded machine may add to a timeout.
	const slack = 2 * time.Second
	tests := []struct {
		name    string
		timeout time.Duration
		start   func(c *rawConn)
		// trickle is sent a byte at a time, one every 100ms, while the
		// connection is open.
		trickle string
	}{
		{"headers sent slowly", readHeader, func(c *rawConn) { c.send("GET /healthz HTTP/1.1\r\n") }, "X-Slow: " + strings.Repeat("x", 100)},
		{"body sent slowly", read, func(c *rawConn) {
			c.send("POST /session HTTP/1.1\r\nHost: arena\r\nAuthorization: Bearer " + testSecret + "\r\nContent-Type: application/json\r\nContent-Length: 200\r\n\r\n")
		}, `{"location":"` + strings.Repeat("x", 150)},
		{"idle after a request", idle, func(c *rawConn) {
			c.send("GET /healthz HTTP/1.1\r\nHost: arena\r\n\r\n")
			if r := c.response(5 * time.Second); r.status != 200 {
				c.tb.Fatalf("GET /healthz: %d", r.status)
			}
		}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c := dialRaw(t, api)
			start := time.Now()
			tt.start(c)
			if tt.name != "idle after a request" {
				start = time.Now()
			}
			stop := make(chan struct{})
			defer close(stop)
			go func() {
				tick := time.NewTicker(100 * time.Millisecond)
				defer tick.Stop()
				for i := 0; i < len(tt.trickle); i++ {
					select {
					case <-stop:
						return
					case <-tick.C:
					}
					if _, err := c.Write([]byte{tt.trickle[i]}); err != nil {
						return
					}
				}
			}()
			if err := c.closedWithin(tt.timeout + slack); err != nil {
				t.Fatal(err)
			}
			if took := time.Since(start); took < tt.timeout/2 {
				t.Errorf("closed after %v, well before the timeout of %v", took, tt.timeout)
			}
		})
	}
}

// TestStreamOutlivesTimeouts follows a session's output for longer than the
// server's read and write timeouts, which bound other requests whole.
func TestStreamOutlivesTimeouts(t *testing.T) {
	const timeout = 300 * time.Millisecond
	pr, pw := io.Pipe()
	sessions := &fakeSessions{logs: func(string, bool) (io.ReadCloser, error) { return pr, nil }}
	api := newTestAPIWith(t, sessions, arenahttp.ServerConfig{ReadHeaderTimeout: timeout, ReadTimeout: timeout, WriteTimeout: timeout, IdleTimeout: timeout})
	resp, err := http.DefaultClient.Do(api.request(t, http.MethodGet, "/logs?id=s-1&follow=true", ""))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	start := time.Now()
	lines := make(chan string)
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(resp.Body)
		for sc.Scan() {
			lines <- sc.Text()
		}
	}()
	next := func(want string) {
		t.Helper()
		select {
		case line, ok := <-lines:
			if !ok || line != want {
				t.Fatalf("read %q (stream open: %v), want %q after %v", line, ok, want, time.Since(start))
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("no %q", want)
		}
	}
	for i := range 4 {
		// Each line comes later than both timeouts after the request:
		// time passing is what is tested, not something waited for.
		time.Sleep(timeout)
		if _, err := fmt.Fprintf(pw, "line %d\n", i); err != nil {
			t.Fatalf("the handler stopped reading the output after %v: %v", time.Since(start), err)
		}
		next(fmt.Sprintf("line %d", i))
	}
	pw.Close()
	select {
	case _, ok := <-lines:
		if ok {
			t.Fatal("more output than written")
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the stream did not end with the output")
	}

}
