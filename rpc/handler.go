// Package rpc carries agent.ControlPlane between machines, over the agent
// protocol defined in proto/arena/agent/v1 (Connect on HTTP/1.1 or HTTP/2).
// The control plane serves it with NewHandler; the agent on a game-server
// machine reaches it through a Client.
//
// Every call is authenticated: Join by the cluster's join token, the others
// by the node credential Join hands out, and a node may only speak for
// itself. Errors travel as Connect codes and arrive as arena errors.
package rpc

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"time"

	"connectrpc.com/connect"

	"github.com/arena-hq/arena"
	"github.com/arena-hq/arena/rpc/agentv1"
	"github.com/arena-hq/arena/rpc/agentv1/agentv1connect"
)

// NodeService is what the agent service needs from the control plane.
type NodeService interface {
	// JoinNode admits a node presenting the cluster's join secret; credential
	// is the node's current one, if any. It returns a new credential, or ""
	// when the node keeps the one it presented. EUNAUTHORIZED for a bad
	// secret or a node id taken by another credential.
	JoinNode(ctx context.Context, joinSecret string, n arena.Node, credential string) (string, error)
	// Installation is the id agents label their containers with.
	Installation() string
	// AuthenticateNode returns the id of the node whose credential this is, or EUNAUTHORIZED.
	AuthenticateNode(ctx context.Context, credential string) (string, error)
	Heartbeat(ctx context.Context, hb arena.Heartbeat) error
	Assignments(ctx context.Context, nodeID string) (<-chan arena.Assignment, error)
	Report(ctx context.Context, r arena.SessionReport) error
	// PushLogs hands a chunk of a session's output to whoever asked for it,
	// and says whether anyone still reads. It may hold the call while the
	// reader is slow. ENOTFOUND when the chunk's request is not the node's.
	PushLogs(ctx context.Context, c arena.LogChunk) (more bool, err error)
}

const (
	// DefaultKeepaliveInterval is how long a Watch stream may stay silent
	// before the server sends a keepalive: well below the idle timeouts of
	// common proxies and load balancers (60s and up).
	DefaultKeepaliveInterval = 10 * time.Second

	// DefaultWriteTimeout bounds each write of a response: a peer that
	// stopped reading for this long (a machine gone behind a connection
	// nobody closed) is given up, and its Watch stream's goroutine with it,
	// rather than waiting for TCP to notice, which takes many minutes.
	DefaultWriteTimeout = 30 * time.Second

	// credentialHeader carries a node's current credential on Join, since
	// Authorization carries the join token there.
	credentialHeader = "Arena-Node-Credential"
	// keepaliveHeader tells the client of a Watch stream how often to expect
	// a message, so that it notices a stream that died without closing.
	keepaliveHeader = "Arena-Keepalive-Interval"
	// maxRequestBytes bounds what a caller may make the server read before
	// it is authenticated; reports, node descriptions and log chunks are far
	// smaller.
	maxRequestBytes = 1 << 20
	// MaxLogChunkBytes is the most output one log chunk may carry.
	MaxLogChunkBytes = 64 << 10
)

// HandlerOption configures NewHandler.
type HandlerOption func(*service)

// WithHandlerLogger logs internal errors of the control plane, whose details
// the agent never sees, and the refusals of unauthenticated callers.
func WithHandlerLogger(l *slog.Logger) HandlerOption {
	return func(s *service) {
		if l != nil {
			s.log = l
		}
	}
}

// WithKeepaliveInterval sets how long a Watch stream may stay silent before
// a keepalive is sent; DefaultKeepaliveInterval when d is not positive.
func WithKeepaliveInterval(d time.Duration) HandlerOption {
	return func(s *service) {
		if d > 0 {
			s.keepalive = d
		}
	}
}

// WithWriteTimeout sets how long one write of a response may take before
// the call is given up; DefaultWriteTimeout when d is not positive.
func WithWriteTimeout(d time.Duration) HandlerOption {
	return func(s *service) {
		if d > 0 {
			s.writeTimeout = d
		}
	}
}

// NewHandler returns the agent service on cp and the path to mount it on.
// Watch streams live as long as their agents, and a PushLogs call may be
// held while a reader is slow: the handler replaces the HTTP server's
// WriteTimeout with a deadline for each write (net/http lifts the read
// deadline once the request body is read). Middleware in front must pass
// http.Flusher through and unwrap
// to the server's ResponseWriter, and a graceful shutdown waits for the
// streams until cp ends its assignment streams.
func NewHandler(cp NodeService, opts ...HandlerOption) (path string, h http.Handler) {
	s := &service{cp: cp, log: slog.New(slog.DiscardHandler), keepalive: DefaultKeepaliveInterval, writeTimeout: DefaultWriteTimeout}
	for _, opt := range opts {
		opt(s)
	}
	path, h = agentv1connect.NewAgentServiceHandler(s, connect.WithReadMaxBytes(maxRequestBytes))
	return path, writeDeadlines(h, s.writeTimeout)
}

type service struct {
	cp           NodeService
	log          *slog.Logger
	keepalive    time.Duration
	writeTimeout time.Duration
}

// writeDeadlines gives each write and flush of h's responses a deadline of d
// from its start, so that a stream stays open as long as its peer reads,
// however long that is, but no longer. Between writes there is none: an
// idle stream is not a stuck one (HTTP/2 resets a stream whose deadline
// passes even when nothing is being written). Each write's deadline also
// replaces the server's WriteTimeout, which would end a stream otherwise.
func writeDeadlines(h http.Handler, d time.Duration) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h.ServeHTTP(&deadlineWriter{ResponseWriter: w, rc: http.NewResponseController(w), d: d}, r)
	})
}

// deadlineWriter bounds every write and flush by a deadline. A writer that
// supports none (a test's, say) writes without one.
type deadlineWriter struct {
	http.ResponseWriter
	rc *http.ResponseController
	d  time.Duration
}

func (w *deadlineWriter) bounded(op func()) {
	_ = w.rc.SetWriteDeadline(time.Now().Add(w.d))
	op()
	_ = w.rc.SetWriteDeadline(time.Time{})
}

func (w *deadlineWriter) Write(p []byte) (n int, err error) {
	w.bounded(func() { n, err = w.ResponseWriter.Write(p) })
	return n, err
}

func (w *deadlineWriter) Flush() {
	w.bounded(func() { _ = w.rc.Flush() })
}

func (w *deadlineWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

var _ agentv1connect.AgentServiceHandler = (*service)(nil)

func (s *service) Join(ctx context.Context, req *connect.Request[agentv1.JoinRequest]) (*connect.Response[agentv1.JoinResponse], error) {
	secret, ok := bearer(req.Header())
	if !ok {
		return nil, s.refuse(ctx, req, connect.CodeUnauthenticated, "a join token is required")
	}
	if req.Msg.GetNode() == nil {
		return nil, connect.NewError(connect.CodeInvalidArgument, errors.New("node is required"))
	}
	cred, err := s.cp.JoinNode(ctx, secret, nodeFromProto(req.Msg.GetNode()), req.Header().Get(credentialHeader))
	if arena.ErrorCode(err) == arena.EUNAUTHORIZED {
		return nil, s.refuse(ctx, req, connect.CodeUnauthenticated, arena.ErrorMessage(err))
	} else if err != nil {
		return nil, s.fail(ctx, req, err)
	}
	return connect.NewResponse(&agentv1.JoinResponse{Credential: cred, Installation: s.cp.Installation()}), nil
}

func (s *service) Watch(ctx context.Context, req *connect.Request[agentv1.WatchRequest], stream *connect.ServerStream[agentv1.WatchResponse]) error {
	nodeID, err := s.authorize(ctx, req, req.Msg.GetNodeId())
	if err != nil {
		return err
	}
	assignments, err := s.cp.Assignments(ctx, nodeID)
	if err != nil {
		return s.fail(ctx, req, err)
	}
	stream.ResponseHeader().Set(keepaliveHeader, s.keepalive.String())
	keepalive := time.NewTimer(s.keepalive)
	defer keepalive.Stop()
	for {
		msg := &agentv1.WatchResponse{}
		select {
		case <-ctx.Done():
			return nil
		case a, ok := <-assignments:
			if !ok {
				// The control plane dropped the subscription (a newer Watch
				// of the node, a shutdown): ending the stream makes the
				// agent watch again.
				return nil
			}
			msg.Event = &agentv1.WatchResponse_Assignment{Assignment: assignmentToProto(a)}
		case <-keepalive.C:
			msg.Event = &agentv1.WatchResponse_Keepalive{Keepalive: &agentv1.Keepalive{}}
		}
		if err := stream.Send(msg); err != nil {
			return err
		}
		keepalive.Reset(s.keepalive)
	}
}

func (s *service) Report(ctx context.Context, req *connect.Request[agentv1.ReportRequest]) (*connect.Response[agentv1.ReportResponse], error) {
	nodeID, err := s.authenticate(ctx, req)
	if err != nil {
		return nil, err
	}
	if req.Msg.GetReport() == nil {
		return nil, connect.NewError(connect.CodeInvalidArgument, errors.New("report is required"))
	}
	r := reportFromProto(req.Msg.GetReport())
	if err := s.speaksFor(ctx, req, nodeID, r.NodeID); err != nil {
		return nil, err
	}
	if err := s.cp.Report(ctx, r); err != nil {
		if arena.ErrorCode(err) == arena.ENOTFOUND {
			// The control plane does not say whether the session exists
			// elsewhere; for this node it is not its own either way.
			return nil, s.refuse(ctx, req, connect.CodePermissionDenied,
				fmt.Sprintf("session %q is not a session of node %q", r.SessionID, nodeID))
		}
		return nil, s.fail(ctx, req, err)
	}
	return connect.NewResponse(&agentv1.ReportResponse{}), nil
}

func (s *service) Heartbeat(ctx context.Context, req *connect.Request[agentv1.HeartbeatRequest]) (*connect.Response[agentv1.HeartbeatResponse], error) {
	nodeID, err := s.authorize(ctx, req, req.Msg.GetNodeId())
	if err != nil {
		return nil, err
	}
	hb := heartbeatFromProto(req.Msg)
	hb.NodeID = nodeID
	var dropped int
	if hb.Images, dropped = keepImages(hb.Images); dropped > 0 {
		// The heartbeat itself still counts: a node must not go
		// unreachable, and its sessions with it, over its image report.
		s.log.WarnContext(ctx, "dropped image states no agent sends", "node", nodeID, "dropped", dropped)
	}
	if err := s.cp.Heartbeat(ctx, hb); err != nil {
		return nil, s.fail(ctx, req, err)
	}
	return connect.NewResponse(&agentv1.HeartbeatResponse{}), nil
}

func (s *service) PushLogs(ctx context.Context, req *connect.Request[agentv1.PushLogsRequest]) (*connect.Response[agentv1.PushLogsResponse], error) {
	nodeID, err := s.authenticate(ctx, req)
	if err != nil {
		return nil, err
	}
	if req.Msg.GetChunk() == nil {
		return nil, connect.NewError(connect.CodeInvalidArgument, errors.New("chunk is required"))
	}
	c := logChunkFromProto(req.Msg.GetChunk())
	if c.NodeID == "" {
		c.NodeID = nodeID
	}
	if err := s.speaksFor(ctx, req, nodeID, c.NodeID); err != nil {
		return nil, err
	}
	if len(c.Data) > MaxLogChunkBytes {
		return nil, connect.NewError(connect.CodeInvalidArgument,
			fmt.Errorf("a log chunk carries at most %d bytes of output, not %d", MaxLogChunkBytes, len(c.Data)))
	}
	more, err := s.cp.PushLogs(ctx, c)
	if err != nil {
		if arena.ErrorCode(err) == arena.ENOTFOUND {
			// As with reports: whether the request exists for another node
			// is not this node's business.
			return nil, s.refuse(ctx, req, connect.CodePermissionDenied,
				fmt.Sprintf("log request %q is not a request of node %q", c.RequestID, nodeID))
		}
		return nil, s.fail(ctx, req, err)
	}
	return connect.NewResponse(&agentv1.PushLogsResponse{More: more}), nil
}

// authenticate returns the node whose credential req carries.
func (s *service) authenticate(ctx context.Context, req connect.AnyRequest) (string, error) {
	cred, ok := bearer(req.Header())
	if !ok {
		return "", s.refuse(ctx, req, connect.CodeUnauthenticated, "a node credential is required")
	}
	nodeID, err := s.cp.AuthenticateNode(ctx, cred)
	if arena.ErrorCode(err) == arena.EUNAUTHORIZED {
		return "", s.refuse(ctx, req, connect.CodeUnauthenticated, arena.ErrorMessage(err))
	} else if err != nil {
		return "", s.fail(ctx, req, err)
	}
	return nodeID, nil
}

// authorize authenticates req and refuses it unless it speaks for the node
// its credential belongs to.
func (s *service) authorize(ctx context.Context, req connect.AnyRequest, claimed string) (string, error) {
	nodeID, err := s.authenticate(ctx, req)
	if err != nil {
		return "", err
	}
	return nodeID, s.speaksFor(ctx, req, nodeID, claimed)
}

// speaksFor refuses a request of node nodeID that claims to be about another node.
func (s *service) speaksFor(ctx context.Context, req connect.AnyRequest, nodeID, claimed string) error {
	if claimed != nodeID {
		return s.refuse(ctx, req, connect.CodePermissionDenied, fmt.Sprintf("the credential cannot act for node %q", claimed))
	}
	return nil
}

// refuse logs a refused call, which may be an attack or a misconfigured
// agent, and returns the error the caller gets.
func (s *service) refuse(ctx context.Context, req connect.AnyRequest, code connect.Code, msg string) error {
	s.log.WarnContext(ctx, "agent protocol call refused",
		"procedure", req.Spec().Procedure, "peer", req.Peer().Addr, "code", code, "reason", msg)
	return connect.NewError(code, errors.New(msg))
}

// fail returns the error the caller gets for an error of the control plane,
// logging those whose details it must not see.
func (s *service) fail(ctx context.Context, req connect.AnyRequest, err error) error {
	if arena.ErrorCode(err) == arena.EINTERNAL {
		s.log.ErrorContext(ctx, "agent protocol call failed", "procedure", req.Spec().Procedure, "err", err)
	}
	return toConnect(err)
}

// bearer returns the token of an "Authorization: Bearer <token>" header.
func bearer(h http.Header) (string, bool) {
	scheme, token, ok := strings.Cut(h.Get("Authorization"), " ")
	token = strings.TrimSpace(token)
	if !ok || !strings.EqualFold(scheme, "Bearer") || token == "" {
		return "", false
	}
	return token, true
}

// Bounds of a heartbeat's image report: a node reports the wanted images,
// which are the tags of the applications, and a pull error's message.
const (
	maxNodeImages  = 10000
	maxImageRef    = 512
	maxImageErrLen = 2048
	maxRefused     = 1024 // organisations refused one image
	maxOrgIDLen    = 128
)

// keepImages keeps the entries of an image report that an agent would
// send, at most maxNodeImages, so that a node cannot make the control plane
// keep arbitrary amounts of data, and returns how many it dropped.
func keepImages(images []arena.NodeImage) (kept []arena.NodeImage, dropped int) {
	for _, im := range images {
		switch {
		case len(kept) == maxNodeImages,
			im.Ref == "" || len(im.Ref) > maxImageRef,
			im.State != arena.ImagePresent && im.State != arena.ImagePulling && im.State != arena.ImageFailed,
			len(im.Error) > maxImageErrLen,
			len(im.Refused) > maxRefused,
			slices.ContainsFunc(im.Refused, func(org string) bool { return org == "" || len(org) > maxOrgIDLen }):
			dropped++
		default:
			kept = append(kept, im)
		}
	}
	return kept, dropped
}
