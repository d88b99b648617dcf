package rpc

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"connectrpc.com/connect"

	"github.com/arena-hq/arena"
	"github.com/arena-hq/arena/agent"
	"github.com/arena-hq/arena/rpc/agentv1"
	"github.com/arena-hq/arena/rpc/agentv1/agentv1connect"
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
// is safe for concurrent use.
type Client struct {
	rpc         agentv1connect.AgentServiceClient
	log         *slog.Logger
	httpClient  *http.Client
	callTimeout time.Duration
	idleTimeout time.Duration

	mu           sync.Mutex
	credential   string
	installation string
}

var _ agent.ControlPlane = (*Client)(nil)

// ClientOption configures NewClient.
type ClientOption func(*Client)

// WithHTTPClient sets the HTTP client calls go through, e.g. for TLS
// settings. It must have no Timeout: that would cut every Watch stream.
// Calls get their deadlines from their contexts instead.
func WithHTTPClient(hc *http.Client) ClientOption {
	return func(c *Client) {
		if hc != nil {
			c.httpClient = hc
		}
	}
}

// WithClientLogger logs why Watch streams end, which the agent only sees as
// a closed channel.
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
// "https://arena.example.com".
func NewClient(baseURL string, opts ...ClientOption) *Client {
	c := &Client{log: slog.New(slog.DiscardHandler), callTimeout: DefaultCallTimeout}
	for _, opt := range opts {
		opt(c)
	}
	if c.httpClient == nil {
		// No Timeout: Watch streams live for as long as the agent does.
		c.httpClient = &http.Client{Transport: http.DefaultTransport.(*http.Transport).Clone()}
	} else if c.httpClient.Timeout > 0 {
		c.log.Warn("the HTTP client's Timeout will cut assignment streams", "timeout", c.httpClient.Timeout)
	}
	c.rpc = agentv1connect.NewAgentServiceClient(c.httpClient, baseURL, connect.WithReadMaxBytes(maxResponseBytes))
	return c
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
	req := connect.NewRequest(&agentv1.JoinRequest{Node: nodeToProto(n)})
	setBearer(req.Header(), joinToken)
	if cred := c.Credential(); cred != "" {
		req.Header().Set(credentialHeader, cred)
	}
	res, err := c.rpc.Join(ctx, req)
	if err != nil {
		return fromConnect(err)
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
	req := connect.NewRequest(heartbeatToProto(hb))
	setBearer(req.Header(), c.Credential())
	_, err := c.rpc.Heartbeat(ctx, req)
	return fromConnect(err)
}

// Report tells the control plane what happened to a session.
func (c *Client) Report(ctx context.Context, r arena.SessionReport) error {
	ctx, cancel := c.callContext(ctx)
	defer cancel()
	req := connect.NewRequest(&agentv1.ReportRequest{Report: reportToProto(r)})
	setBearer(req.Header(), c.Credential())
	_, err := c.rpc.Report(ctx, req)
	return fromConnect(err)
}

// PushLogs sends a chunk of a session's output for a LogRequest, of at most
// MaxLogChunkBytes. It returns false once nobody reads the output any more.
// Without a deadline in ctx, the call may take up to a minute (or the call
// timeout, if longer), as the control plane makes a slow reader's node wait.
func (c *Client) PushLogs(ctx context.Context, chunk arena.LogChunk) (bool, error) {
	ctx, cancel := withDefaultTimeout(ctx, max(c.callTimeout, pushLogsTimeout))
	defer cancel()
	req := connect.NewRequest(&agentv1.PushLogsRequest{Chunk: logChunkToProto(chunk)})
	setBearer(req.Header(), c.Credential())
	res, err := c.rpc.PushLogs(ctx, req)
	if err != nil {
		return false, fromConnect(err)
	}
	return res.Msg.GetMore(), nil
}

// Assignments watches node nodeID's desired state. It returns once the
// first (full) assignment has arrived, so that a refused or unreachable
// control plane is an error here; the channel closes when the stream ends,
// fails or stays silent past the idle timeout, or when ctx ends. The caller
// watches again to go on.
func (c *Client) Assignments(ctx context.Context, nodeID string) (<-chan arena.Assignment, error) {
	ctx, cancel := context.WithCancelCause(ctx)
	// The watchdog ends a stream on which nothing arrives in time. A
	// connection can die without closing (a NAT or proxy forgetting it)
	// while heartbeats, on connections of their own, still succeed.
	watchdog := time.AfterFunc(c.callTimeout, func() { cancel(errStreamIdle) })
	req := connect.NewRequest(&agentv1.WatchRequest{NodeId: nodeID})
	setBearer(req.Header(), c.Credential())
	stream, err := c.rpc.Watch(ctx, req)
	if err != nil {
		watchdog.Stop()
		cancel(nil)
		return nil, fromConnect(err)
	}
	first, err := receive(stream, watchdog, c.callTimeout)
	if err != nil {
		if errors.Is(context.Cause(ctx), errStreamIdle) {
			err = &arena.Error{Code: arena.EUNAVAILABLE, Message: "no assignment from the control plane within " + c.callTimeout.String(), Err: err}
		}
		cancel(nil)
		_ = stream.Close()
		return nil, err
	}
	idle := c.streamIdleTimeout(stream.ResponseHeader())

	out := make(chan arena.Assignment)
	go func() {
		defer close(out)
		defer cancel(nil)
		defer func() { _ = stream.Close() }()
		a := first
		for {
			select {
			case out <- a:
			case <-ctx.Done():
				return
			}
			if a, err = receive(stream, watchdog, idle); err != nil {
				if cause := context.Cause(ctx); errors.Is(cause, errStreamIdle) {
					c.log.Warn("assignment stream went silent; ending it", "node", nodeID, "idle_timeout", idle)
				} else if ctx.Err() == nil {
					c.log.Info("assignment stream ended", "node", nodeID, "err", err)
				}
				return
			}
		}
	}()
	return out, nil
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
		return arena.Assignment{}, fromConnect(err)
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
