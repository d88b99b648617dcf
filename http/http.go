// Package http serves Arena's public Session API: the Gameye Session API on
// the wire, described by the OpenAPI document this package embeds.
//
// It is a transport only. It authenticates the caller, decodes and validates
// requests, calls the SessionService it is given and renders the result; the
// session logic lives behind that interface.
package http

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"runtime/debug"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/arena-hq/arena"
)

// SessionService runs the sessions of organisations. Errors carry arena codes:
// they decide the HTTP status through the package's one error table.
type SessionService interface {
	// CreateSession starts a session for a request that passed Validate.
	CreateSession(ctx context.Context, orgID string, req arena.SessionRequest) (*arena.Session, error)
	// FindSession returns the organisation's session, or ENOTFOUND.
	FindSession(ctx context.Context, orgID, id string) (*arena.Session, error)
	// ListSessions returns the organisation's sessions that match f, oldest first.
	ListSessions(ctx context.Context, orgID string, f arena.SessionFilter) ([]*arena.Session, error)
	// StopSession asks a session to stop: ENOTFOUND, or ECONFLICT when it has already stopped.
	StopSession(ctx context.Context, orgID, id string) error
	// JoinPlayers records players as joined to an active session and returns
	// it: ENOTFOUND for an unknown or stopped one.
	JoinPlayers(ctx context.Context, orgID, sessionID string, players []string) (*arena.Session, error)
	// LeavePlayers removes players from sessionID, or from whichever
	// sessions they are in when it is empty, and returns the sessions that
	// changed.
	LeavePlayers(ctx context.Context, orgID, sessionID string, players []string) ([]*arena.Session, error)
	// Logs returns a session's output, following it when asked: ENOTFOUND
	// for an unknown or stopped session, EUNAVAILABLE when its node cannot
	// be reached.
	Logs(ctx context.Context, orgID, id string, follow bool) (io.ReadCloser, error)
	// Artifact returns the .tar.gz of what was kept at path when the session
	// stopped: ECONFLICT before it stops, ENOTFOUND when nothing was kept.
	Artifact(ctx context.Context, orgID, id, path string) (io.ReadCloser, error)
	// Usage reports the organisation's billed time within [from, to),
	// grouped by application, location and resource profile.
	Usage(ctx context.Context, orgID string, from, to time.Time) ([]arena.UsageLine, error)
	// PoolStatus returns how full the organisation's warm pools are.
	PoolStatus(orgID string) []arena.PoolStatus
}

// Authenticator resolves the bearer secret of a request.
type Authenticator interface {
	// Authenticate returns the token for a bearer secret, or an arena EUNAUTHORIZED error.
	Authenticate(ctx context.Context, secret string) (*arena.Token, error)
}

// headerRequestID carries the request's identifier in both directions, so
// that a proxy's id can be followed through Arena's logs.
const headerRequestID = "X-Request-Id"

// api is the http.Handler NewHandler returns.
type api struct {
	sessions SessionService
	nodes    Fleet
	tenants  TenantAdmin
	webhooks WebhookAdmin
	apps     ApplicationAdmin
	scaler   Scaler
	scaling  ScalingSettings
	auth     Authenticator
	logger   *slog.Logger
	mux      *http.ServeMux
	limits   *rateLimits
	obs      RequestObserver
	ready    func(context.Context) error
	currency string
}

// RequestObserver receives the API's measurements; metrics.Registry implements it.
type RequestObserver interface {
	// HTTPRequest measures one request of route (the mux pattern, empty
	// for none) answered with code.
	HTTPRequest(route string, code int, d time.Duration)
	// Error counts an error answered, by its code.
	Error(err error)
}

type noObserver struct{}

func (noObserver) HTTPRequest(string, int, time.Duration) {}
func (noObserver) Error(error)                            {}

// WithReadiness sets what GET /readyz checks: nil when the server can
// serve; ready when not given.
func WithReadiness(check func(context.Context) error) Option {
	return func(s *api) { s.ready = check }
}

// WithObserver sends the API's measurements to o.
func WithObserver(o RequestObserver) Option { return func(s *api) { s.obs = o } }

// Option configures NewHandler.
type Option func(*api)

// WithTenants serves the admin API of organisations, users, tokens and
// applications.
func WithTenants(t TenantAdmin) Option { return func(s *api) { s.tenants = t } }

// WithRateLimit sets the requests per second, with bursts, that a token may
// make unless it carries limits of its own; zero (or less) keeps
// DefaultRateLimit and DefaultRateBurst.
func WithRateLimit(perSecond float64, burst int) Option {
	if perSecond <= 0 {
		perSecond = DefaultRateLimit
	}
	if burst <= 0 {
		burst = DefaultRateBurst
	}
	return func(s *api) { s.limits = newRateLimits(perSecond, burst) }
}

// NewHandler returns the handler of Arena's public API. logger receives one
// access record per request and the causes of internal errors; nil discards them.
//
// nodes answers where sessions can run and serves the admin API of nodes;
// nil leaves those operations out.
func NewHandler(sessions SessionService, auth Authenticator, nodes Fleet, logger *slog.Logger, opts ...Option) http.Handler {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	s := &api{sessions: sessions, nodes: nodes, auth: auth, logger: logger, mux: http.NewServeMux(),
		limits: newRateLimits(DefaultRateLimit, DefaultRateBurst), obs: noObserver{}, currency: DefaultCurrency}
	for _, o := range opts {
		o(s)
	}
	// Each operation names the scope it needs, the Gameye API's where it has
	// one (arena.Token.Allows maps Arena's broader scopes onto them), and
	// lists the error codes its OpenAPI operation documents, besides
	// unauthorized, forbidden, unavailable and internal which all of them do.
	s.mux.HandleFunc("POST /session", s.authed(arena.ScopeSessionStart, s.createSession, arena.EINVALID, arena.ENOTFOUND, arena.ECONFLICT, arena.EQUOTA))
	s.mux.HandleFunc("GET /session", s.authed(arena.ScopeSessionRead, s.listSessions, arena.EINVALID))
	s.mux.HandleFunc("GET /session/{id}", s.authed(arena.ScopeSessionRead, s.describeSession, arena.EINVALID, arena.ENOTFOUND))
	s.mux.HandleFunc("DELETE /session/{id}", s.authed(arena.ScopeSessionStop, s.stopSession, arena.EINVALID, arena.ENOTFOUND, arena.ECONFLICT))
	// The contract's methods, and POST as the platform reference names them.
	// The contract names no scope for players: joining and leaving go with
	// starting sessions.
	start := arena.ScopeSessionStart
	s.mux.HandleFunc("PUT /session/player/join", s.authed(start, s.joinPlayers, arena.EINVALID, arena.ENOTFOUND))
	s.mux.HandleFunc("POST /session/player/join", s.authed(start, s.joinPlayers, arena.EINVALID, arena.ENOTFOUND))
	s.mux.HandleFunc("DELETE /session/player/leave", s.authed(start, s.leavePlayers, arena.EINVALID, arena.ENOTFOUND))
	s.mux.HandleFunc("POST /session/player/leave", s.authed(start, s.leavePlayers, arena.EINVALID, arena.ENOTFOUND))
	s.mux.HandleFunc("GET /usage", s.authed(arena.ScopeUsage, s.usage, arena.EINVALID))
	s.mux.HandleFunc("GET /logs", s.authed(arena.ScopeLogsRead, s.logs, arena.EINVALID, arena.ENOTFOUND))
	// The contract's path, and the platform reference's.
	s.mux.HandleFunc("GET /artifacts", s.authed(arena.ScopeArtifactRead, s.artifact, arena.EINVALID, arena.ENOTFOUND, arena.ECONFLICT))
	s.mux.HandleFunc("GET /artifact", s.authed(arena.ScopeArtifactRead, s.artifact, arena.EINVALID, arena.ENOTFOUND, arena.ECONFLICT))
	if nodes != nil {
		s.mux.HandleFunc("GET /available-location/{image}", s.authed(arena.ScopeRegionsRead, s.availableLocations, arena.ENOTFOUND))
		s.mux.HandleFunc("GET /tag/{region}/{image}/{version}", s.authed(arena.ScopeRegionsRead, s.tagExists, codeBadRequest, arena.ENOTFOUND))
		s.mux.HandleFunc("GET /region", s.authed(arena.ScopeRegionsRead, s.listRegions))
		op := arena.ScopeOperator
		s.mux.HandleFunc("GET /admin/v1/nodes", s.authed(op, s.listNodes))
		s.mux.HandleFunc("POST /admin/v1/nodes/{id}/drain", s.authed(op, s.drainNode(true), arena.ENOTFOUND))
		s.mux.HandleFunc("POST /admin/v1/nodes/{id}/undrain", s.authed(op, s.drainNode(false), arena.ENOTFOUND))
		s.mux.HandleFunc("DELETE /admin/v1/nodes/{id}", s.authed(op, s.removeNode, arena.ENOTFOUND, arena.ECONFLICT))
		s.mux.HandleFunc("GET /admin/v1/scaler", s.authed(op, s.scalerStatus))
		if s.scaling != nil {
			s.scalerRoutes()
		}
	}
	if s.tenants != nil {
		s.tenantRoutes()
		s.mux.HandleFunc("POST /token", s.authed(arena.ScopeAdmin, s.createContractToken, arena.EINVALID, arena.ECONFLICT))
		if s.apps != nil {
			s.applicationRoutes()
		}
		if s.webhooks != nil {
			s.webhookRoutes()
		}
	}
	s.mux.HandleFunc("GET /healthz", s.healthz)
	s.mux.HandleFunc("GET /readyz", s.readyz)
	s.mux.HandleFunc("GET /openapi.yaml", s.openAPI)
	return s
}

// requestInfo is what the access log needs to learn from deeper layers.
type requestInfo struct {
	id  string
	org string
	// bodyUnread is true while the request has a body not read to its end.
	bodyUnread bool
}

type requestInfoKey struct{}

func infoFrom(ctx context.Context) *requestInfo {
	if info, ok := ctx.Value(requestInfoKey{}).(*requestInfo); ok {
		return info
	}
	return &requestInfo{}
}

// ServeHTTP gives every request an identifier, a recovered panic and an
// access record, whatever route it takes.
func (s *api) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	info := &requestInfo{id: requestID(r.Header.Get(headerRequestID))}
	r = r.WithContext(arena.WithRequestID(context.WithValue(r.Context(), requestInfoKey{}, info), info.id))
	w.Header().Set(headerRequestID, info.id)
	sw := &statusWriter{ResponseWriter: w}
	if r.Body != nil && r.Body != http.NoBody && r.ContentLength != 0 {
		// (r is a copy: the server's own request keeps its body.)
		info.bodyUnread = true
		r.Body = &bodyReader{ReadCloser: r.Body, info: info}
	}

	defer func() {
		if v := recover(); v != nil {
			if v == http.ErrAbortHandler {
				panic(v)
			}
			s.logger.ErrorContext(r.Context(), "panic serving request",
				"request_id", info.id, "panic", v, "stack", string(debug.Stack()))
			if !sw.wroteHeader {
				s.writeError(sw, r, arena.Internal(fmt.Errorf("panic: %v", v), "serving the request"))
			}
		}
		s.logAccess(r, info, sw, time.Since(start))
	}()
	s.route(sw, r)
}

// route serves r with the mux, except that the mux's own plain-text answers
// for an unknown path or method are replaced by the API's error body.
func (s *api) route(w http.ResponseWriter, r *http.Request) {
	h, pattern := s.mux.Handler(r)
	if pattern != "" {
		s.mux.ServeHTTP(w, r)
		return
	}
	rec := &captureWriter{header: make(http.Header)}
	h.ServeHTTP(rec, r)
	switch rec.status {
	case http.StatusNotFound:
		s.writeError(w, r, arena.Errorf(arena.ENOTFOUND, "no route for %s %s", r.Method, r.URL.Path))
	case http.StatusMethodNotAllowed:
		w.Header().Set("Allow", rec.header.Get("Allow"))
		s.writeError(w, r, arena.Errorf(codeMethodNotAllowed, "%s is not allowed on %s", r.Method, r.URL.Path))
	default: // A redirect to the cleaned path: pass it on unchanged.
		for k, v := range rec.header {
			w.Header()[k] = v
		}
		w.WriteHeader(rec.status)
		_, _ = w.Write(rec.body)
	}
}

func (s *api) logAccess(r *http.Request, info *requestInfo, sw *statusWriter, d time.Duration) {
	status := sw.status
	if !sw.wroteHeader {
		status = http.StatusOK
	}
	s.obs.HTTPRequest(r.Pattern, status, d)
	level := slog.LevelInfo
	if status >= http.StatusInternalServerError && r.Context().Err() == nil {
		// (A caller that went away made the request fail, not Arena.)
		level = slog.LevelError
	}
	// Headers are deliberately absent: Authorization carries a secret.
	s.logger.LogAttrs(r.Context(), level, "http request",
		slog.String("method", r.Method),
		slog.String("path", r.URL.Path),
		slog.Int("status", status),
		slog.Duration("duration", d),
		slog.Int64("bytes", sw.bytes),
		slog.String("request_id", info.id),
		slog.String("org", info.org),
	)
}

// authed wraps a handler of an operation that needs a bearer token; the
// handler's error becomes the response. An error whose code the operation
// does not document (codes) is a fault of Arena's own, a service breaking its
// contract, and is answered as an internal error so that the OpenAPI
// document stays true.
func (s *api) authed(scope string, h func(http.ResponseWriter, *http.Request, *arena.Token) error, codes ...string) http.HandlerFunc {
	// (Only an operation that reads a JSON body can answer
	// codeUnsupportedMediaType; each such one documents it.)
	codes = slices.Concat(codes, []string{arena.EUNAUTHORIZED, arena.EFORBIDDEN, arena.EUNAVAILABLE, arena.EINTERNAL, codeUnsupportedMediaType})
	return func(w http.ResponseWriter, r *http.Request) {
		tok, err := s.authenticate(r)
		switch {
		case err != nil:
		case scope != "" && !tok.Allows(scope):
			err = arena.Errorf(arena.EFORBIDDEN, "the token lacks the %q scope", scope)
		default:
			err = s.limits.allow(tok)
		}
		if err == nil {
			err = h(w, r, tok)
		}
		if err == nil {
			return
		}
		if !slices.Contains(codes, arena.ErrorCode(err)) {
			err = arena.Internal(err, "serving "+r.Pattern+": the error's code is not one the operation documents")
		}
		s.writeError(w, r, err)
	}
}

func (s *api) authenticate(r *http.Request) (*arena.Token, error) {
	secret, ok := bearerSecret(r.Header.Get("Authorization"))
	if !ok {
		return nil, arena.Errorf(arena.EUNAUTHORIZED, "a bearer token is required")
	}
	tok, err := s.auth.Authenticate(r.Context(), secret)
	switch arena.ErrorCode(err) {
	case "":
		if tok == nil {
			return nil, arena.Errorf(arena.EUNAUTHORIZED, "the bearer token is not valid")
		}
	case arena.EUNAUTHORIZED, arena.EINTERNAL, arena.EUNAVAILABLE:
		return nil, err
	default:
		// Anything else (e.g. ENOTFOUND for an unknown secret) must not tell
		// the caller more than that the token is not valid.
		return nil, &arena.Error{Code: arena.EUNAUTHORIZED, Message: "the bearer token is not valid", Err: err}
	}
	infoFrom(r.Context()).org = tok.OrgID
	return tok, nil
}

// bearerSecret returns the secret of an "Authorization: Bearer <secret>"
// header; the scheme is case-insensitive (RFC 9110).
func bearerSecret(header string) (string, bool) {
	scheme, secret, ok := strings.Cut(header, " ")
	secret = strings.TrimSpace(secret)
	if !ok || !strings.EqualFold(scheme, "Bearer") || secret == "" || strings.ContainsAny(secret, " \t") {
		return "", false
	}
	return secret, true
}

// requestID returns the caller's identifier when it is safe to log and echo,
// and a fresh one otherwise.
func requestID(given string) string {
	if len(given) == 0 || len(given) > 128 {
		return uuid.NewString()
	}
	for _, c := range given {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-') {
			return uuid.NewString()
		}
	}
	return given
}

func (s *api) healthz(w http.ResponseWriter, r *http.Request) {
	s.writeJSON(w, r, http.StatusOK, struct {
		Status string `json:"status"`
	}{"ok"})
}

// Readiness is the body of GET /readyz.
type Readiness struct {
	Status string `json:"status"`
	Role   string `json:"role"`
	Leader string `json:"leader,omitempty"`
	Reason string `json:"reason,omitempty"`
}

func (s *api) readyz(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 3*time.Second)
	defer cancel()
	if s.ready != nil {
		if err := s.ready(ctx); err != nil {
			s.writeJSON(w, r, http.StatusServiceUnavailable, Readiness{Status: "unavailable", Role: "leader", Reason: arena.ErrorMessage(err)})
			return
		}
	}
	s.writeJSON(w, r, http.StatusOK, Readiness{Status: "ready", Role: "leader"})
}

// WriteError answers r with err in the API's error body, for handlers in
// front of the API such as a replica forwarding to the leader.
func WriteError(w http.ResponseWriter, r *http.Request, err error) {
	if infoFrom(r.Context()).id == "" {
		info := &requestInfo{id: requestID(r.Header.Get(headerRequestID))}
		r = r.WithContext(context.WithValue(r.Context(), requestInfoKey{}, info))
		w.Header().Set(headerRequestID, info.id)
	}
	(&api{logger: slog.New(slog.DiscardHandler), obs: noObserver{}}).writeError(w, r, err)
}

// WriteJSON answers r with v as JSON and status, with a request id.
func WriteJSON(w http.ResponseWriter, r *http.Request, status int, v any) {
	if w.Header().Get(headerRequestID) == "" {
		w.Header().Set(headerRequestID, requestID(r.Header.Get(headerRequestID)))
	}
	(&api{logger: slog.New(slog.DiscardHandler), obs: noObserver{}}).writeJSON(w, r, status, v)
}

func (s *api) openAPI(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/yaml")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(openAPIDocument)
}

// bodyReader notes in info when its body has been read to the end.
type bodyReader struct {
	io.ReadCloser
	info *requestInfo
}

func (b *bodyReader) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if err == io.EOF {
		b.info.bodyUnread = false
	}
	return n, err
}

// statusWriter remembers what was written, for the access log and for
// knowing whether a panic can still be answered with an error body.
type statusWriter struct {
	http.ResponseWriter
	status      int
	bytes       int64
	wroteHeader bool
}

func (w *statusWriter) WriteHeader(status int) {
	if !w.wroteHeader {
		w.status, w.wroteHeader = status, true
	}
	w.ResponseWriter.WriteHeader(status)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if !w.wroteHeader {
		w.WriteHeader(http.StatusOK)
	}
	n, err := w.ResponseWriter.Write(b)
	w.bytes += int64(n)
	return n, err
}

// Unwrap lets http.ResponseController reach the connection's writer.
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// captureWriter holds the mux's answer for an unmatched request so that it
// can be rewritten before anything reaches the client.
type captureWriter struct {
	header http.Header
	status int
	body   []byte
}

func (w *captureWriter) Header() http.Header { return w.header }

func (w *captureWriter) WriteHeader(status int) {
	if w.status == 0 {
		w.status = status
	}
}

func (w *captureWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	w.body = append(w.body, b...)
	return len(b), nil
}
