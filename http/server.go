package http

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"regexp"
	"strconv"
	"time"

	"github.com/google/uuid"

	"github.com/arena-hq/arena"
)

// Defaults of ServerConfig. They bound what a slow or idle client can hold:
// a connection, its goroutine and its buffers.
const (
	// DefaultReadHeaderTimeout bounds the time to send a request's headers.
	DefaultReadHeaderTimeout = 10 * time.Second
	// DefaultReadTimeout bounds the time to send a whole request, body
	// included; the largest body the API takes is 1 MiB.
	DefaultReadTimeout = 30 * time.Second
	// DefaultWriteTimeout bounds the time from a request's headers to the
	// end of its answer; a streamed answer (followed logs, artifacts, the
	// agents' streams) has it for each write instead (see Stream).
	DefaultWriteTimeout = 60 * time.Second
	// DefaultIdleTimeout is how long a kept-alive connection may wait for
	// its next request.
	DefaultIdleTimeout = 120 * time.Second
	// DefaultMaxHeaderBytes bounds a request's line and headers: far above
	// what any client of the API sends, and far below net/http's 1 MiB.
	DefaultMaxHeaderBytes = 64 << 10
)

// ServerConfig tunes a Server; zero values take the defaults above.
type ServerConfig struct {
	ReadHeaderTimeout time.Duration
	ReadTimeout       time.Duration
	WriteTimeout      time.Duration
	IdleTimeout       time.Duration
	MaxHeaderBytes    int
	// Logger receives net/http's own complaints (a failed accept, a
	// panicking handler); nil discards them.
	Logger *slog.Logger
}

func (c ServerConfig) withDefaults() ServerConfig {
	pick := func(d *time.Duration, def time.Duration) {
		if *d <= 0 {
			*d = def
		}
	}
	pick(&c.ReadHeaderTimeout, DefaultReadHeaderTimeout)
	pick(&c.ReadTimeout, DefaultReadTimeout)
	pick(&c.WriteTimeout, DefaultWriteTimeout)
	pick(&c.IdleTimeout, DefaultIdleTimeout)
	if c.MaxHeaderBytes <= 0 {
		c.MaxHeaderBytes = DefaultMaxHeaderBytes
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	// A request's headers are part of the request.
	c.ReadHeaderTimeout = min(c.ReadHeaderTimeout, c.ReadTimeout)
	return c
}

// Server is the HTTP server of every listener of Arena's: the API and
// agent protocol, and metrics. It bounds slow clients with timeouts that
// long-lived answers replace with their own deadlines, and answers the
// requests net/http refuses before any handler sees them (malformed, or with
// headers too large) with the API's error body.
type Server struct {
	hs *http.Server
}

// NewServer returns a server of h.
func NewServer(h http.Handler, c ServerConfig) *Server {
	c = c.withDefaults()
	return &Server{hs: &http.Server{
		Handler:           &deadlines{h: h, write: c.WriteTimeout},
		ReadHeaderTimeout: c.ReadHeaderTimeout,
		ReadTimeout:       c.ReadTimeout,
		WriteTimeout:      c.WriteTimeout,
		IdleTimeout:       c.IdleTimeout,
		MaxHeaderBytes:    c.MaxHeaderBytes,
		ErrorLog:          slog.NewLogLogger(c.Logger.Handler(), slog.LevelWarn),
	}}
}

// Serve accepts connections on ln until the server is shut down.
func (s *Server) Serve(ln net.Listener) error { return s.hs.Serve(errorBodyListener{ln}) }

// Shutdown stops accepting and waits, until ctx ends, for the requests in
// flight; see net/http.Server.Shutdown.
func (s *Server) Shutdown(ctx context.Context) error { return s.hs.Shutdown(ctx) }

// Close closes every connection at once.
func (s *Server) Close() error { return s.hs.Close() }

type writeTimeoutKey struct{}

// deadlines passes the server's write timeout on to Stream. (ReadTimeout
// needs nothing: net/http lifts the read deadline once a request's body is
// read, so that it bounds reading the request and not a followed log or an
// agent's stream after it.)
type deadlines struct {
	h     http.Handler
	write time.Duration
}

func (d *deadlines) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.RequestURI == "*" {
		// net/http's ServeMux would answer 400 with no body. (OPTIONS *
		// net/http answers itself, with 200.)
		WriteError(w, r, arena.Errorf(codeMalformedRequest, "the request target * names no resource"))
		return
	}
	d.h.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), writeTimeoutKey{}, d.write)))
}

// Stream prepares w for an answer that lasts as long as its reader wants,
// such as followed logs or a download: the server's write timeout no longer
// bounds the whole answer but each write and flush of it, so that a reader
// that stops reading is still given up. Handlers of a Server call it before
// writing; elsewhere (a test's recorder) it returns w unchanged.
func Stream(w http.ResponseWriter, r *http.Request) http.ResponseWriter {
	d, ok := r.Context().Value(writeTimeoutKey{}).(time.Duration)
	if !ok {
		return w
	}
	rc := http.NewResponseController(w)
	if err := rc.SetWriteDeadline(time.Time{}); err != nil {
		return w
	}
	return &streamWriter{ResponseWriter: w, rc: rc, d: d}
}

// streamWriter bounds every write and flush of an answer by a deadline of
// its own, and lifts it after, so that the time between writes is free.
type streamWriter struct {
	http.ResponseWriter
	rc *http.ResponseController
	d  time.Duration
}

func (w *streamWriter) bounded(op func() error) error {
	_ = w.rc.SetWriteDeadline(time.Now().Add(w.d))
	err := op()
	_ = w.rc.SetWriteDeadline(time.Time{})
	return err
}

func (w *streamWriter) Write(p []byte) (n int, err error) {
	err = w.bounded(func() error { n, err = w.ResponseWriter.Write(p); return err })
	return n, err
}

// FlushError lets http.ResponseController flush with the deadline.
func (w *streamWriter) FlushError() error { return w.bounded(w.rc.Flush) }

// Flush implements http.Flusher, for httputil.ReverseProxy and the like.
func (w *streamWriter) Flush() { _ = w.FlushError() }

// Unwrap lets http.ResponseController reach the connection's writer.
func (w *streamWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// errorBodyListener gives its connections the API's error body for the
// answers net/http writes itself, before any handler, and in plain text.
type errorBodyListener struct{ net.Listener }

func (l errorBodyListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return &errorBodyConn{Conn: c}, nil
}

// serverError is an answer of net/http's own, written in one piece to the
// connection when it cannot read a request (net/http.conn.serve): a status
// line, exactly these two headers and the status as text. A handler's
// answer never looks so: net/http sorts its headers (Connection before
// Content-Type) and adds a Date.
var serverError = regexp.MustCompile(`\AHTTP/1\.1 ([0-9]{3}) [^\r\n]*\r\nContent-Type: text/plain; charset=utf-8\r\nConnection: close\r\n\r\n([^\r\n]*)\z`)

// errorBodyConn rewrites net/http's own answers (serverError).
type errorBodyConn struct{ net.Conn }

func (c *errorBodyConn) Write(p []byte) (int, error) {
	m := serverError.FindSubmatch(p)
	if m == nil {
		return c.Conn.Write(p)
	}
	status, _ := strconv.Atoi(string(m[1]))
	code := transportCode(status)
	if code == "" {
		return c.Conn.Write(p)
	}
	// The text is net/http's: "400 Bad Request: missing required Host
	// header", "Unsupported transfer encoding".
	msg := string(m[2])
	if prefix := fmt.Sprintf("%d %s", status, http.StatusText(status)); bytes.HasPrefix(m[2], []byte(prefix)) {
		msg = string(bytes.TrimPrefix(bytes.TrimPrefix(m[2], []byte(prefix)), []byte(": ")))
		if msg == "" {
			msg = http.StatusText(status)
		}
	}
	id := uuid.NewString()
	kind := errorKinds[code]
	body, err := json.Marshal(errorResponse{
		StatusCode: status, Code: code, Message: msg, Details: kind.details,
		// The request could not be read, so neither could its path.
		Path: "", Identifier: id, Timestamp: time.Now().UTC().Format(timestampLayout), Violations: []arena.Violation{},
	})
	if err != nil {
		return c.Conn.Write(p)
	}
	var out bytes.Buffer
	fmt.Fprintf(&out, "HTTP/1.1 %d %s\r\nConnection: close\r\nContent-Length: %d\r\nContent-Type: application/json\r\n%s: %s\r\n\r\n%s\n",
		status, http.StatusText(status), len(body)+1, headerRequestID, id, body)
	if _, err := c.Conn.Write(out.Bytes()); err != nil {
		return 0, err
	}
	return len(p), nil
}

// CloseWrite lets net/http half-close the connection before it closes it,
// as it does for the TCP connection underneath, so that the client reads
// the answer before the reset that unread data causes.
func (c *errorBodyConn) CloseWrite() error {
	if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return nil
}
