// Package client calls Arena's Session API and admin API over HTTP, as the
// arena command and the tests do. Its calls are typed: each sends what the
// API document (http/openapi.yaml) says the operation takes and decodes what
// it answers, and an error answer becomes an error whose arena.ErrorCode is
// the code of the answer's body. It knows Arena only by its wire: nothing of
// the server's packages, so that it cannot agree with the server by sharing
// its mistakes.
package client

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/arena-hq/arena"
)

// DefaultTimeout bounds every call but a stream, unless WithTimeout says
// otherwise: a control plane that accepts a request and never answers must
// not hang its caller, and a create that waits on placement answers well
// within it.
const DefaultTimeout = 30 * time.Second

// maxBody bounds an answer read whole, so that a peer that is not Arena
// cannot fill the caller's memory; the largest real answers (a list of
// every session with all=true) are far below it.
const maxBody = 64 << 20

// Client calls one control plane with one token. It is safe for concurrent
// use; its calls are grouped by the part of the API they belong to.
type Client struct {
	base, token string
	hc          *http.Client
	timeout     time.Duration
}

// Option changes what New makes.
type Option func(*Client)

// WithHTTPClient sends the requests through hc rather than
// http.DefaultClient: a transport of the caller's, or one that checks every
// answer against the API document as the tests' does.
func WithHTTPClient(hc *http.Client) Option {
	return func(c *Client) { c.hc = hc }
}

// WithTimeout bounds each call but a stream by d instead of DefaultTimeout;
// 0 or less leaves only the deadline of the caller's context.
func WithTimeout(d time.Duration) Option {
	return func(c *Client) { c.timeout = d }
}

// New returns a client of the control plane at baseURL (such as
// http://127.0.0.1:8080) that authenticates with token.
func New(baseURL, token string, opts ...Option) *Client {
	c := &Client{base: strings.TrimSuffix(baseURL, "/"), token: token, hc: http.DefaultClient, timeout: DefaultTimeout}
	for _, o := range opts {
		o(c)
	}
	return c
}

// Sessions is the Session API: what a matchmaker calls.
func (c *Client) Sessions() *Sessions { return &Sessions{c: c} }

// Admin is the admin API of organisations, their users, tokens,
// applications and webhooks.
func (c *Client) Admin() *Admin { return &Admin{c: c} }

// Nodes is the admin API of the installation's nodes, an operator's.
func (c *Client) Nodes() *Nodes { return &Nodes{c: c} }

// Body is the JSON an answer came as. Every type of a whole answer embeds
// it, so that a caller that shows answers (arena -o json) shows what Arena
// wrote, in its order and with the fields this client does not know of,
// rather than what decoding and encoding again would make of it.
type Body struct{ raw []byte }

// Raw returns the answer as it came, not to be modified; nil for a value
// that was not decoded from a whole answer, such as a session of a list.
func (b Body) Raw() []byte { return b.raw }

func (b *Body) setRaw(raw []byte) { b.raw = raw }

// answer is a type that embeds Body.
type answer interface{ setRaw([]byte) }

// APIError is an answer of the API with a status other than 2xx. It reads
// as the status line and the body's message, as the arena command shows
// it, and unwraps to the body's code, message and violations, by which
// callers tell errors apart (arena.ErrorCode).
type APIError struct {
	// StatusCode is the answer's status: 420 for no capacity, as the
	// contract has it.
	StatusCode int
	// Status is the status line without its protocol, "404 Not Found".
	Status string
	// Err is what the body said; its RetryAfter is the Retry-After
	// header's. An answer without Arena's error body (from a proxy in
	// front of it, say) leaves its Code empty.
	Err *arena.Error
}

// Error reads as the CLI shows an error answer: "404 Not Found: session
// "x" not found", the status line alone when the body said nothing.
func (e *APIError) Error() string {
	if e.Err.Message == "" {
		return e.Status
	}
	return e.Status + ": " + e.Err.Message
}

// Unwrap is the body's *arena.Error, so that arena.ErrorCode and errors.As
// see through the status.
func (e *APIError) Unwrap() error { return e.Err }

// UnreachableError is a request that found no control plane to answer it:
// nothing listening at the address, no route to it, a name that does not
// resolve. It is told apart from an answer because most often Arena is
// not running there, or another address was meant.
type UnreachableError struct {
	// URL is the control plane's base URL.
	URL string
	// Err is why it could not be reached, such as syscall.ECONNREFUSED.
	Err error
}

// Error names the address, so that a wrong one is seen at once.
func (e *UnreachableError) Error() string {
	return "cannot reach Arena at " + e.URL + ": " + e.Err.Error()
}

// Unwrap is the reason, so that errors.Is(err, syscall.ECONNREFUSED) holds
// for a control plane not running.
func (e *UnreachableError) Unwrap() error { return e.Err }

// call sends a request with in as its JSON body (none when in is nil) and,
// unless out is nil, decodes the answer into it, all within the client's
// timeout.
func (c *Client) call(ctx context.Context, method, path string, in, out any) error {
	ctx, cancel := c.deadline(ctx)
	defer cancel()
	data, err := c.read(ctx, method, path, in)
	if err != nil || out == nil {
		return err
	}
	if err := json.Unmarshal(data, out); err != nil {
		return fmt.Errorf("reading the answer: %w", err)
	}
	if a, ok := out.(answer); ok {
		a.setRaw(data)
	}
	return nil
}

// deadline is ctx bounded by the client's timeout.
func (c *Client) deadline(ctx context.Context) (context.Context, context.CancelFunc) {
	if c.timeout <= 0 {
		return context.WithCancel(ctx)
	}
	return context.WithTimeout(ctx, c.timeout)
}

// read sends a request and returns the body of its 2xx answer.
func (c *Client) read(ctx context.Context, method, path string, in any) ([]byte, error) {
	resp, err := c.send(ctx, method, path, in)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	return io.ReadAll(io.LimitReader(resp.Body, maxBody))
}

// stream sends a GET and returns the body of its 2xx answer to be read as it
// comes: no deadline but the caller's, as a followed log lasts as long as
// the session and a download as long as it takes.
func (c *Client) stream(ctx context.Context, path string) (io.ReadCloser, error) {
	resp, err := c.send(ctx, http.MethodGet, path, nil)
	if err != nil {
		return nil, err
	}
	return resp.Body, nil
}

// send sends a request with the token and returns a 2xx answer: any other
// is an *APIError, and a control plane out of reach an *UnreachableError.
func (c *Client) send(ctx context.Context, method, path string, in any) (*http.Response, error) {
	var body io.Reader
	if in != nil {
		data, err := json.Marshal(in)
		if err != nil {
			return nil, err
		}
		body = bytes.NewReader(data)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, body)
	if err != nil {
		return nil, err
	}
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Authorization", "Bearer "+c.token)
	resp, err := c.hc.Do(req)
	if err != nil {
		return nil, c.unreachable(err)
	}
	if resp.StatusCode/100 == 2 {
		return resp, nil
	}
	defer resp.Body.Close()
	return nil, errorAnswer(resp)
}

// errorAnswer reads the contract's error body of resp.
func errorAnswer(resp *http.Response) *APIError {
	var e struct {
		Code       string            `json:"code"`
		Message    string            `json:"message"`
		Violations []arena.Violation `json:"violations"`
	}
	_ = json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&e)
	ae := &arena.Error{Code: e.Code, Message: e.Message}
	if len(e.Violations) > 0 {
		ae.Violations = e.Violations
	}
	if s, err := strconv.Atoi(resp.Header.Get("Retry-After")); err == nil && s > 0 {
		ae.RetryAfter = time.Duration(s) * time.Second
	}
	return &APIError{StatusCode: resp.StatusCode, Status: resp.Status, Err: ae}
}

// unreachable tells a request that reached no control plane from one that
// failed otherwise (a deadline, a cancelled context), which stays as it is.
func (c *Client) unreachable(err error) error {
	var op *net.OpError
	if !errors.As(err, &op) {
		return err
	}
	var reason error = op
	if op.Err != nil {
		reason = op.Err
	}
	if errors.Is(err, syscall.ECONNREFUSED) {
		reason = syscall.ECONNREFUSED
	}
	return &UnreachableError{URL: c.base, Err: reason}
}
