package rpc

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"

	"connectrpc.com/connect"

	"github.com/arena-hq/arena"
	"github.com/arena-hq/arena/agent"
	"github.com/arena-hq/arena/rpc/agentv1"
)

// DefaultCallTimeout bounds a call whose context has no deadline, and the
// wait for the first message of a Watch stream.
const DefaultCallTimeout = 10 * time.Second

// pushLogsTimeout bounds a PushLogs call whose context has no deadline, if
// longer than the call timeout: the control plane holds the call while the
// reader of the output is slow, so that the node slows down with it.
const pushLogsTimeout = 60 * time.Second

// maxResponseBytes bounds a message from the control plane: a full
// assignment of thousands of sessions fits many times over.
const maxResponseBytes = 64 << 20

// errStreamIdle ends a Watch stream on which nothing arrived for longer than
// the server's keepalives allow.
var errStreamIdle = errors.New("no message or keepalive within the idle timeout")

// Client is the control plane as seen from an agent on another machine. It
// may be given several addresses of the control plane's replicas, and a
// host name among them counts as each address it resolves to: calls stick
// to one replica until it is found down (refusing connections, timing out,
// or answering that it is unavailable), then move on to the next, for at
// most one round per call. It is safe for concurrent use.
type Client struct {
	pool        *pool
	log         *slog.Logger
	httpClient  *http.Client
	resolver    Resolver
	callTimeout time.Duration
	idleTimeout time.Duration
	// resolveEvery is how often, at most, host names are looked up again.
	resolveEvery time.Duration

	mu           sync.Mutex
	credential   string
	installation string
}

var _ agent.ControlPlane = (*Client)(nil)

// ClientOption configures NewClient.
type ClientOption func(*Client)

// WithHTTPClient sets the HTTP client calls go through, e.g. for TLS
// settings. It must have no Timeout: that would cut every Watch stream.
// Calls get their deadlines from their contexts instead. The client dials
// the addresses a host name resolves to one by one only if the HTTP
// client's Transport is an *http.Transport (or nil); another RoundTripper
// gets every call by the URL it was given.
func WithHTTPClient(hc *http.Client) ClientOption {
	return func(c *Client) {
		if hc != nil {
			c.httpClient = hc
		}
	}
}

// WithResolver sets how the control plane's host names are resolved;
// net.DefaultResolver when not given.
func WithResolver(r Resolver) ClientOption {
	return func(c *Client) {
		if r != nil {
			c.resolver = r
		}
	}
}

// WithClientLogger logs why Watch streams end, which the agent only sees as
// a closed channel, and which replica the client uses.
func WithClientLogger(l *slog.Logger) ClientOption {
	return func(c *Client) {
		if l != nil {
			c.log = l
		}
	}
}

// WithCredential sets the node credential a previous Join returned, so that
// an agent that kept it need not join again.
func WithCredential(credential string) ClientOption {
	return func(c *Client) { c.credential = credential }
}

// WithCallTimeout sets the deadline of calls whose context has none;
// DefaultCallTimeout when d is not positive.
func WithCallTimeout(d time.Duration) ClientOption {
	return func(c *Client) {
		if d > 0 {
			c.callTimeout = d
		}
	}
}

// WithWatchIdleTimeout sets how long a Watch stream may stay silent before
// the client takes it for dead and ends it. By default it is twice the
// keepalive interval the server announces plus the call timeout.
func WithWatchIdleTimeout(d time.Duration) ClientOption {
	return func(c *Client) {
		if d > 0 {
			c.idleTimeout = d
		}
	}
}

// NewClient returns a client of the control plane at baseURL, e.g.
// "https://arena.example.com". A baseURL that is no valid address fails
// every call.
func NewClient(baseURL string, opts ...ClientOption) *Client {
	s, err := parseServer(baseURL)
	if err != nil {
		// Calls fail as they always did for such a URL, naming it.
		s = server{url: baseURL}
	}
	return newClient([]server{s}, opts)
}

// NewClientOf returns a client of the control plane at the given base URLs,
// as ParseServers takes them, e.g. every replica's or one name that
// resolves to all of them. Calls go to the first until it is found down.
func NewClientOf(servers []string, opts ...ClientOption) (*Client, error) {
	urls, err := ParseServers(servers...)
	if err != nil {
		return nil, err
	}
	parsed := make([]server, len(urls))
	for i, u := range urls {
		if parsed[i], err = parseServer(u); err != nil {
			return nil, err
		}
	}
	return newClient(parsed, opts), nil
}

func newClient(servers []server, opts []ClientOption) *Client {
	c := &Client{log: slog.New(slog.DiscardHandler), callTimeout: DefaultCallTimeout, resolver: net.DefaultResolver, resolveEvery: defaultResolveEvery}
	for _, opt := range opts {
		opt(c)
	}
	if c.httpClient == nil {
		// No Timeout: Watch streams live for as long as the agent does.
		tr := http.DefaultTransport.(*http.Transport).Clone()
		tr.DialContext = (&net.Dialer{Timeout: dialTimeout, KeepAlive: 30 * time.Second}).DialContext
		c.httpClient = &http.Client{Transport: tr}
	} else if c.httpClient.Timeout > 0 {
		c.log.Warn("the HTTP client's Timeout will cut assignment streams", "timeout", c.httpClient.Timeout)
	}
	base := c.httpClient
	if base.Transport == nil {
		base = &http.Client{Transport: http.DefaultTransport.(*http.Transport).Clone(), CheckRedirect: base.CheckRedirect, Jar: base.Jar, Timeout: base.Timeout}
	}
	c.pool = newPool(servers, base, c.resolver, c.resolveEvery, c.log, connect.WithReadMaxBytes(maxResponseBytes))
	return c
}

// Server names the replica calls go to now: its URL, and the address
// dialled for it when the URL names a host.
func (c *Client) Server() string {
	c.pool.mu.Lock()
	defer c.pool.mu.Unlock()
	return c.pool.targets[c.pool.cur].String()
}

// Credential returns the node credential the client presents.
func (c *Client) Credential() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.credential
}

// SetCredential sets the node credential the client presents.
func (c *Client) SetCredential(credential string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.credential = credential
}

// Join admits node n with the cluster's join token, presenting the client's
// credential if it has one, and keeps the credential the control plane
// returns for the calls that follow.
func (c *Client) Join(ctx context.Context, joinToken string, n arena.Node) error {
	ctx, cancel := c.callContext(ctx)
	defer cancel()
	var res *connect.Response[agentv1.JoinResponse]
	err := c.call(ctx, retryDown, func(ctx context.Context, t *target, _ context.Context) error {
		req := connect.NewRequest(&agentv1.JoinRequest{Node: nodeToProto(n)})
		setBearer(req.Header(), joinToken)
		if cred := c.Credential(); cred != "" {
			req.Header().Set(credentialHeader, cred)
		}
		var err error
		res, err = t.rpc.Join(ctx, req)
		return err
	})
	if err != nil {
		return err
	}
	if cred := res.Msg.GetCredential(); cred != "" {
		c.SetCredential(cred)
	}
	c.mu.Lock()
	c.installation = res.Msg.GetInstallation()
	c.mu.Unlock()
	return nil
}

// Installation returns the control plane's installation id, as the last
// Join answered it.
func (c *Client) Installation() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.installation
}

// Heartbeat tells the control plane that a node is alive, and how far it is
// with the wanted images.
func (c *Client) Heartbeat(ctx context.Context, hb arena.Heartbeat) error {
	ctx, cancel := c.callContext(ctx)
	defer cancel()
	msg := heartbeatToProto(hb)
	return c.call(ctx, retryDown, func(ctx context.Context, t *target, _ context.Context) error {
		req := connect.NewRequest(msg)
		setBearer(req.Header(), c.Credential())
		_, err := t.rpc.Heartbeat(ctx, req)
		return err
	})
}

// Report tells the control plane what happened to a session.
func (c *Client) Report(ctx context.Context, r arena.SessionReport) error {
	ctx, cancel := c.callContext(ctx)
	defer cancel()
	msg := &agentv1.ReportRequest{Report: reportToProto(r)}
	return c.call(ctx, retryDown, func(ctx context.Context, t *target, _ context.Context) error {
		req := connect.NewRequest(msg)
		setBearer(req.Header(), c.Credential())
		_, err := t.rpc.Report(ctx, req)
		return err
	})
}

// PushLogs sends a chunk of a session's output for a LogRequest, of at most
// MaxLogChunkBytes. It returns false once nobody reads the output any more.
// Without a deadline in ctx, the call may take up to a minute (or the call
// timeout, if longer), as the control plane makes a slow reader's node wait.
// A chunk is sent again to the next replica only if the first could not be
// connected to, so that none reaches a reader twice.
func (c *Client) PushLogs(ctx context.Context, chunk arena.LogChunk) (bool, error) {
	ctx, cancel := withDefaultTimeout(ctx, max(c.callTimeout, pushLogsTimeout))
	defer cancel()
	msg := &agentv1.PushLogsRequest{Chunk: logChunkToProto(chunk)}
	var more bool
	err := c.call(ctx, retryUnsent, func(ctx context.Context, t *target, _ context.Context) error {
		req := connect.NewRequest(msg)
		setBearer(req.Header(), c.Credential())
		res, err := t.rpc.PushLogs(ctx, req)
		if err == nil {
			more = res.Msg.GetMore()
		}
		return err
	})
	return more, err
}

// Assignments watches node nodeID's desired state. It returns once the
// first (full) assignment has arrived, so that a refused or unreachable
// control plane is an error here; the channel closes when the stream ends,
// fails or stays silent past the idle timeout, when the client moves to
// another replica, or when ctx ends. The caller watches again to go on.
func (c *Client) Assignments(ctx context.Context, nodeID string) (<-chan arena.Assignment, error) {
	var out <-chan arena.Assignment
	err := c.call(ctx, retryDown, func(ctx context.Context, t *target, term context.Context) error {
		var err error
		out, err = c.watch(ctx, t, term, nodeID)
		return err
	})
	return out, err
}

// watch is Assignments on one replica, ending when term does.
func (c *Client) watch(ctx context.Context, t *target, term context.Context, nodeID string) (<-chan arena.Assignment, error) {
	ctx, cancel := context.WithCancelCause(ctx)
	stopTerm := context.AfterFunc(term, func() { cancel(context.Cause(term)) })
	// The watchdog ends a stream on which nothing arrives in time. A
	// connection can die without closing (a NAT or proxy forgetting it)
	// while heartbeats, on connections of their own, still succeed.
	watchdog := time.AfterFunc(c.callTimeout, func() { cancel(errStreamIdle) })
	req := connect.NewRequest(&agentv1.WatchRequest{NodeId: nodeID})
	setBearer(req.Header(), c.Credential())
	// failed says why the watch ended before its first assignment.
	failed := func(err error) error {
		watchdog.Stop()
		stopTerm()
		switch cause := context.Cause(ctx); {
		case errors.Is(cause, errStreamIdle):
			err = &arena.Error{Code: arena.EUNAVAILABLE, Message: "no assignment from the control plane within " + c.callTimeout.String(), Err: errStreamIdle}
		case errors.Is(cause, errMoved):
			// Another call found this replica down meanwhile: the watch
			// goes where the calls go.
			err = &arena.Error{Code: arena.EUNAVAILABLE, Message: "the client moved to another replica", Err: errMoved}
		}
		cancel(nil)
		return err
	}
	stream, err := t.rpc.Watch(ctx, req)
	if err != nil {
		return nil, failed(err)
	}
	first, err := receive(stream, watchdog, c.callTimeout)
	if err != nil {
		err = failed(err)
		_ = stream.Close()
		return nil, err
	}
	idle := c.streamIdleTimeout(stream.ResponseHeader())

	out := make(chan arena.Assignment)
	go func() {
		defer close(out)
		defer cancel(nil)
		defer stopTerm()
		defer func() { _ = stream.Close() }()
		a := first
		for {
			select {
			case out <- a:
			case <-ctx.Done():
				return
			}
			if a, err = receive(stream, watchdog, idle); err != nil {
				switch cause := context.Cause(ctx); {
				case errors.Is(cause, errStreamIdle):
					c.log.Warn("assignment stream went silent; ending it", "node", nodeID, "server", t.String(), "idle_timeout", idle)
				case errors.Is(cause, errMoved):
					c.log.Info("assignment stream ends: calls go to another replica now", "node", nodeID, "server", t.String())
				case ctx.Err() == nil:
					c.log.Info("assignment stream ended", "node", nodeID, "server", t.String(), "err", callError(err))
				}
				return
			}
		}
	}()
	return out, nil
}

// retry says which failed calls are made again on the next replica.
type retry int

const (
	// retryDown makes a call again whenever its replica was found down:
	// the calls so made are idempotent.
	retryDown retry = iota
	// retryUnsent makes it again only if it was never sent: one that
	// failed on the way may have been done.
	retryUnsent
)

// call runs do on the replica the client sticks to and, while that one is
// found down and ctx lasts, on the next, for at most one round over them.
// A refused credential or any other answer of the control plane is no
// reason to move: it is returned as it is. do gets the context that ends
// when the client leaves its replica, for the streams it opens.
func (c *Client) call(ctx context.Context, r retry, do func(ctx context.Context, t *target, term context.Context) error) error {
	t, term, n := c.pool.current(ctx)
	for i := 1; ; i++ {
		err := do(ctx, t, term)
		if err == nil {
			c.pool.worked(t)
			return nil
		}
		if !down(ctx, err, r) {
			return callError(err)
		}
		t, term = c.pool.failed(ctx, t, callError(err))
		if i >= n || ctx.Err() != nil || (r == retryUnsent && !NotSent(err)) {
			return callError(err)
		}
	}
}

// down tells whether err, of a call made with ctx, says the replica the
// call went to is not there for it: it could not be reached, its connection
// broke, it took too long, or it answered that it cannot serve now, as a
// replica that reaches no leader does. PushLogs may be held for as long as
// the reader of the output is slow, so only its failures to get through
// count.
func down(ctx context.Context, err error, r retry) bool {
	if errors.Is(err, errStreamIdle) || errors.Is(err, errMoved) {
		return true
	}
	switch connect.CodeOf(err) {
	case connect.CodeUnavailable:
		return true
	case connect.CodeDeadlineExceeded:
		return r == retryDown
	case connect.CodeCanceled:
		// Connect takes a connection reset or closed under a call (EPIPE,
		// ECONNRESET) for the caller going away, as it would be on a
		// server. While the caller is still there, the replica went.
		return ctx.Err() == nil && !connect.IsWireError(err)
	}
	return false
}

// NotSent tells whether an HTTP request failed before anything of it left:
// the connection could not be made. Sending it elsewhere (another replica,
// the next leader) cannot make it happen twice.
func NotSent(err error) bool {
	var op *net.OpError
	return errors.As(err, &op) && op.Op == "dial"
}

// callError turns the error of a call into an arena error.
func callError(err error) error {
	var ae *arena.Error
	if errors.As(err, &ae) {
		return err
	}
	return fromConnect(err)
}

// receive returns the next assignment of stream, skipping keepalives. The
// watchdog runs only while it waits, so that a slow reader of the channel is
// not taken for a dead stream.
func receive(stream *connect.ServerStreamForClient[agentv1.WatchResponse], watchdog *time.Timer, timeout time.Duration) (arena.Assignment, error) {
	for {
		watchdog.Reset(timeout)
		ok := stream.Receive()
		watchdog.Stop()
		if !ok {
			break
		}
		if a := stream.Msg().GetAssignment(); a != nil {
			return assignmentFromProto(a), nil
		}
	}
	if err := stream.Err(); err != nil {
		return arena.Assignment{}, err
	}
	return arena.Assignment{}, arena.Errorf(arena.EUNAVAILABLE, "the control plane ended the assignment stream")
}

// streamIdleTimeout is the configured idle timeout, or two keepalive
// intervals of the server plus the time a call may take: a keepalive may be
// late, but two missing in a row mean the stream is gone.
func (c *Client) streamIdleTimeout(h http.Header) time.Duration {
	if c.idleTimeout > 0 {
		return c.idleTimeout
	}
	interval, err := time.ParseDuration(h.Get(keepaliveHeader))
	if err != nil || interval <= 0 {
		interval = DefaultKeepaliveInterval
	}
	return 2*interval + c.callTimeout
}

// callContext gives ctx the default deadline unless it has one.
func (c *Client) callContext(ctx context.Context) (context.Context, context.CancelFunc) {
	return withDefaultTimeout(ctx, c.callTimeout)
}

// withDefaultTimeout gives ctx a deadline d away unless it has one.
func withDefaultTimeout(ctx context.Context, d time.Duration) (context.Context, context.CancelFunc) {
	if _, ok := ctx.Deadline(); ok {
		return context.WithCancel(ctx)
	}
	return context.WithTimeout(ctx, d)
}

func setBearer(h http.Header, secret string) {
	if secret != "" {
		h.Set("Authorization", "Bearer "+secret)
	}
}
