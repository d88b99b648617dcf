package http_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/arena-hq/arena"
	arenahttp "github.com/arena-hq/arena/http"
	"github.com/arena-hq/arena/http/apitest"
)

// Bearer secrets the fake authenticator knows.
const (
	testSecret = "arena_test-secret"
	testOrg    = "org-a"
	// secretAuthDown makes the authenticator fail as if its store were down.
	secretAuthDown = "arena_auth-down"
	// adminSecret authenticates an operator's token.
	adminSecret = "arena_admin-secret"
	// orgAdminSecret is an organisation's admin, not an operator.
	orgAdminSecret = "arena_org-admin-secret"
	// readOnlySecret may only read sessions.
	readOnlySecret = "arena_read-only-secret"
	// limitedSecret may make two requests, then about one per 1000 s.
	limitedSecret = "arena_limited-secret"
)

// scopedPrefix begins a secret that fakeAuth takes as a token of testOrg
// with the comma-separated scopes that follow.
const scopedPrefix = "arena_scopes-"

// scopedSecret returns a secret of a token with exactly scopes.
func scopedSecret(scopes ...string) string { return scopedPrefix + strings.Join(scopes, ",") }

// fakeAuth accepts the secrets above.
type fakeAuth struct{}

func (fakeAuth) Authenticate(_ context.Context, secret string) (*arena.Token, error) {
	if list, ok := strings.CutPrefix(secret, scopedPrefix); ok {
		return &arena.Token{ID: "tok-" + list, OrgID: testOrg, Scopes: strings.Split(list, ",")}, nil
	}
	switch secret {
	case testSecret:
		return &arena.Token{ID: "tok-1", OrgID: testOrg, Scopes: arena.SessionScopes}, nil
	case adminSecret:
		return &arena.Token{ID: "tok-admin", OrgID: testOrg, Scopes: []string{arena.ScopeAdmin, arena.ScopeOperator}}, nil
	case orgAdminSecret:
		return &arena.Token{ID: "tok-org-admin", OrgID: testOrg, Scopes: []string{arena.ScopeAdmin}}, nil
	case readOnlySecret:
		return &arena.Token{ID: "tok-read", OrgID: testOrg, Scopes: []string{arena.ScopeSessionsRead}}, nil
	case limitedSecret:
		return &arena.Token{ID: "tok-limited", OrgID: testOrg, Scopes: arena.SessionScopes, RateLimit: 0.001, RateBurst: 2}, nil
	case secretAuthDown:
		return nil, errors.New("token store: database is locked")
	}
	return nil, arena.Errorf(arena.EUNAUTHORIZED, "the bearer token is not valid")
}

// call records one call of the session service.
type call struct {
	method  string
	orgID   string
	id      string
	req     arena.SessionRequest
	players []string
	filter  arena.SessionFilter
}

// fakeSessions records its calls and answers with its functions, or with
// plausible defaults when they are nil.
type fakeSessions struct {
	create func(req arena.SessionRequest) (*arena.Session, error)
	find   func(id string) (*arena.Session, error)
	list   func(f arena.SessionFilter) ([]*arena.Session, error)
	stop   func(id string) error
	logs   func(id string, follow bool) (io.ReadCloser, error)

	mu    sync.Mutex
	calls []call
}

func (f *fakeSessions) record(c call) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, c)
}

// Calls returns the calls made so far.
func (f *fakeSessions) Calls() []call {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]call(nil), f.calls...)
}

func (f *fakeSessions) CreateSession(_ context.Context, orgID string, req arena.SessionRequest) (*arena.Session, error) {
	f.record(call{method: "CreateSession", orgID: orgID, req: req})
	if f.create != nil {
		return f.create(req)
	}
	id := req.ID
	if id == "" {
		id = "00000000-0000-4000-8000-000000000001"
	}
	return &arena.Session{
		ID: id, OrgID: orgID, Application: req.Image, Location: req.Location, Host: "203.0.113.7",
		Ports: []arena.Port{{Protocol: arena.UDP, Container: 7777, Host: 32768}},
		State: arena.SessionStarted,
	}, nil
}

func (f *fakeSessions) FindSession(_ context.Context, orgID, id string) (*arena.Session, error) {
	f.record(call{method: "FindSession", orgID: orgID, id: id})
	if f.find != nil {
		return f.find(id)
	}
	return nil, arena.Errorf(arena.ENOTFOUND, "session %s not found", id)
}

func (f *fakeSessions) ListSessions(_ context.Context, orgID string, filter arena.SessionFilter) ([]*arena.Session, error) {
	f.record(call{method: "ListSessions", orgID: orgID, filter: filter})
	if f.list != nil {
		return f.list(filter)
	}
	return nil, nil
}

func (f *fakeSessions) JoinPlayers(_ context.Context, orgID, id string, players []string) (*arena.Session, error) {
	f.record(call{method: "JoinPlayers", orgID: orgID, id: id, players: players})
	if id != "s-1" {
		return nil, arena.Errorf(arena.ENOTFOUND, "session %s not found", id)
	}
	return &arena.Session{ID: id, OrgID: orgID, Players: append([]string{"p0"}, players...)}, nil
}

func (f *fakeSessions) LeavePlayers(_ context.Context, orgID, id string, players []string) ([]*arena.Session, error) {
	f.record(call{method: "LeavePlayers", orgID: orgID, id: id, players: players})
	if id != "" && id != "s-1" {
		return nil, arena.Errorf(arena.ENOTFOUND, "session %s not found", id)
	}
	return []*arena.Session{{ID: "s-1", OrgID: orgID, Players: []string{"p0"}}}, nil
}

func (f *fakeSessions) Logs(_ context.Context, orgID, id string, follow bool) (io.ReadCloser, error) {
	f.record(call{method: "Logs", orgID: orgID, id: id})
	if f.logs != nil {
		return f.logs(id, follow)
	}
	switch id {
	case "s-1":
		out := "echo server listening\n"
		if follow {
			out += "following\n"
		}
		return io.NopCloser(strings.NewReader(out)), nil
	case "s-down":
		return nil, arena.Errorf(arena.EUNAVAILABLE, "the node is not connected")
	}
	return nil, arena.Errorf(arena.ENOTFOUND, "session %s not found", id)
}

func (f *fakeSessions) Artifact(_ context.Context, orgID, id, path string) (io.ReadCloser, error) {
	f.record(call{method: "Artifact", orgID: orgID, id: id + ":" + path})
	switch {
	case id == "s-running":
		return nil, arena.Errorf(arena.ECONFLICT, "session %s has not stopped", id)
	case id == "s-1" && path == "/replays":
		return io.NopCloser(strings.NewReader("tar.gz bytes")), nil
	case id == "s-1":
		// The node answers that nothing was kept there: the error comes
		// with the stream, not from the call.
		pr, pw := io.Pipe()
		pw.CloseWithError(arena.Errorf(arena.ENOTFOUND, "no artifact was kept at %s", path))
		return pr, nil
	}
	return nil, arena.Errorf(arena.ENOTFOUND, "session %s not found", id)
}

// PoolStatus implements SessionService: the fake keeps no pools.
func (f *fakeSessions) PoolStatus(string) []arena.PoolStatus { return nil }

func (f *fakeSessions) Usage(_ context.Context, orgID string, from, to time.Time) ([]arena.UsageLine, error) {
	f.record(call{method: "Usage", orgID: orgID, id: from.Format(time.RFC3339) + "/" + to.Format(time.RFC3339)})
	if !to.After(from) {
		return nil, arena.Invalid(arena.Violation{Field: "to", Description: "must be after from"})
	}
	return []arena.UsageLine{
		{Application: "my-game", Location: "europe-ams1", Resources: arena.Resources{MilliCPU: 100, MemoryMB: 64}, Sessions: 2, Seconds: 5400, Cost: 0.15, Priced: true},
		{Application: "my-game", Location: "us-iad1", Resources: arena.Resources{MilliCPU: 1000, MemoryMB: 1024}, Sessions: 1, Seconds: 2},
	}, nil
}

func (f *fakeSessions) AvailableLocations(_ context.Context, orgID, image string) ([]arena.AvailableLocation, error) {
	f.record(call{method: "AvailableLocations", orgID: orgID, id: image})
	if image != "my-game" {
		return nil, arena.Errorf(arena.ENOTFOUND, "image %q not found", image)
	}
	return []arena.AvailableLocation{
		{Location: "europe-ams1", Region: "europe", IPs: []string{"203.0.113.7", "203.0.113.8"}},
		{Location: "us-iad1", Region: "us-east"},
	}, nil
}

func (f *fakeSessions) TagStatus(_ context.Context, orgID, region, image, version string) (arena.TagStatus, error) {
	f.record(call{method: "TagStatus", orgID: orgID, id: region + "/" + image + "/" + version})
	switch {
	case image != "my-game":
		return arena.TagStatus{}, arena.Errorf(arena.ENOTFOUND, "image %q not found", image)
	case region != "europe":
		return arena.TagStatus{}, arena.Errorf(arena.ENOTFOUND, "region %q not found", region)
	case version == "1.0":
		return arena.TagStatus{Exists: true, State: arena.ImagePresent, Nodes: 3, Present: 2, Pulling: 1}, nil
	case version == "2.0":
		return arena.TagStatus{State: arena.ImageFailed, Nodes: 3, Failed: 3, Error: "pulling image my-game:2.0: unauthorized"}, nil
	}
	return arena.TagStatus{State: arena.TagMissing, Nodes: 3}, nil
}

func (f *fakeSessions) Regions(context.Context) ([]string, error) {
	f.record(call{method: "Regions"})
	return []string{"europe", "us-east"}, nil
}

// fakeNodes is a Fleet over two nodes that counts the calls it takes.
type fakeNodes struct {
	mu    sync.Mutex
	nodes []arena.NodeStatus
	calls int
	// sessions answers where sessions can run, and records those calls
	// with the sessions' own.
	sessions *fakeSessions
}

func (f *fakeNodes) AvailableLocations(ctx context.Context, orgID, image string) ([]arena.AvailableLocation, error) {
	return f.sessions.AvailableLocations(ctx, orgID, image)
}

func (f *fakeNodes) TagStatus(ctx context.Context, orgID, region, image, version string) (arena.TagStatus, error) {
	return f.sessions.TagStatus(ctx, orgID, region, image, version)
}

func (f *fakeNodes) Regions(ctx context.Context) ([]string, error) { return f.sessions.Regions(ctx) }

// Calls returns how many calls reached the node admin.
func (f *fakeNodes) Calls() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.calls
}

func newFakeNodes() *fakeNodes {
	seen := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	return &fakeNodes{nodes: []arena.NodeStatus{
		{Node: arena.Node{ID: "n1", Region: "europe", Location: "europe-ams1", Provider: "hetzner", Class: arena.ClassMetal, PublicIP: "203.0.113.7",
			Capacity: arena.Resources{MilliCPU: 16000, MemoryMB: 32768}, PortMin: 32768, PortMax: 60299},
			State: "ready", LastSeen: seen, Used: arena.Resources{MilliCPU: 500, MemoryMB: 512}, FreePorts: 27530, Sessions: 1},
		{Node: arena.Node{ID: "n2", Region: "europe", Location: "europe-ams1", Provider: "aws", Class: arena.ClassCloud, PublicIP: "203.0.113.8",
			Capacity: arena.Resources{MilliCPU: 4000, MemoryMB: 8192}, PortMin: 32768, PortMax: 60299},
			State: "unreachable", LastSeen: seen.Add(-time.Minute), FreePorts: 27532},
	}}
}

func (f *fakeNodes) NodeList(context.Context) ([]arena.NodeStatus, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls++
	return append([]arena.NodeStatus(nil), f.nodes...), nil
}

func (f *fakeNodes) DrainNode(_ context.Context, id string, drain bool) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls++
	for i := range f.nodes {
		if f.nodes[i].ID == id {
			f.nodes[i].Draining = drain
			return nil
		}
	}
	return arena.Errorf(arena.ENOTFOUND, "node %q not found", id)
}

func (f *fakeNodes) RemoveNode(_ context.Context, id string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls++
	for i := range f.nodes {
		if f.nodes[i].ID == id {
			if f.nodes[i].Sessions > 0 {
				return arena.Errorf(arena.ECONFLICT, "node %q still has sessions", id)
			}
			f.nodes = append(f.nodes[:i], f.nodes[i+1:]...)
			return nil
		}
	}
	return arena.Errorf(arena.ENOTFOUND, "node %q not found", id)
}

func (f *fakeSessions) StopSession(_ context.Context, orgID, id string) error {
	f.record(call{method: "StopSession", orgID: orgID, id: id})
	if f.stop != nil {
		return f.stop(id)
	}
	return nil
}

// syncBuffer is a log destination that the server's goroutines and the test
// can share.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// testAPI is the handler served over loopback, with its fakes and log.
type testAPI struct {
	url      string
	sessions *fakeSessions
	nodes    *fakeNodes
	logs     *syncBuffer
	checker  *apitest.Checker
}

func newTestAPI(tb testing.TB, sessions *fakeSessions) *testAPI {
	tb.Helper()
	return newTestAPIWith(tb, sessions, arenahttp.ServerConfig{})
}

// newTestAPIWith serves the API over loopback with the server every Arena
// listener has, configured with sc.
func newTestAPIWith(tb testing.TB, sessions *fakeSessions, sc arenahttp.ServerConfig) *testAPI {
	tb.Helper()
	if sessions == nil {
		sessions = &fakeSessions{}
	}
	logs := &syncBuffer{}
	logger := slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	nodes := newFakeNodes()
	nodes.sessions = sessions
	tenants := newFakeTenants()
	h := arenahttp.NewHandler(sessions, fakeAuth{}, nodes, logger, arenahttp.WithTenants(tenants),
		arenahttp.WithApplications(tenants), arenahttp.WithWebhooks(newFakeWebhooks()), arenahttp.WithScaler(nil, newScalingSettings(tb)))
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	if sc.Logger == nil {
		sc.Logger = logger
	}
	srv := arenahttp.NewServer(h, sc)
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	tb.Cleanup(func() {
		srv.Close()
		if err := <-served; !errors.Is(err, http.ErrServerClosed) {
			tb.Errorf("serving: %v", err)
		}
	})
	return &testAPI{url: "http://" + ln.Addr().String(), sessions: sessions, nodes: nodes, logs: logs, checker: apitest.NewChecker(tb)}
}

// request returns a request authenticated with testSecret.
func (a *testAPI) request(tb testing.TB, method, path, body string) *http.Request {
	tb.Helper()
	var r io.Reader
	if body != "" {
		r = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, a.url+path, r)
	if err != nil {
		tb.Fatalf("new request: %v", err)
	}
	req.Header.Set("Authorization", "Bearer "+testSecret)
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	return req
}

// response is a response read in full.
type response struct {
	status int
	header http.Header
	body   []byte
	path   string
}

// send sends req and checks its response against the OpenAPI document.
func (a *testAPI) send(tb testing.TB, req *http.Request) response {
	tb.Helper()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		tb.Fatalf("%s %s: %v", req.Method, req.URL.Path, err)
	}
	body := a.checker.CheckResponse(tb, resp)
	return response{status: resp.StatusCode, header: resp.Header, body: body, path: req.URL.Path}
}

// do sends an authenticated request and checks its response.
func (a *testAPI) do(tb testing.TB, method, path, body string) response {
	tb.Helper()
	return a.send(tb, a.request(tb, method, path, body))
}

// errorBody is the API's error body, every field required.
type errorBody struct {
	StatusCode int               `json:"statusCode"`
	Code       string            `json:"code"`
	Message    string            `json:"message"`
	Details    string            `json:"details"`
	Path       string            `json:"path"`
	Identifier string            `json:"identifier"`
	Timestamp  string            `json:"timestamp"`
	Violations []arena.Violation `json:"violations"`
}

// wantError checks that r is an error with the given status and code whose
// body agrees with the response it came in, and returns the body.
func (r response) wantError(tb testing.TB, status int, code string) errorBody {
	tb.Helper()
	if r.status != status {
		tb.Fatalf("status = %d, want %d; body: %s", r.status, status, r.body)
	}
	var e errorBody
	dec := json.NewDecoder(bytes.NewReader(r.body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&e); err != nil {
		tb.Fatalf("decoding error body %s: %v", r.body, err)
	}
	if e.StatusCode != status || e.Code != code {
		tb.Errorf("statusCode, code = %d, %q; want %d, %q", e.StatusCode, e.Code, status, code)
	}
	if e.Message == "" || e.Details == "" {
		tb.Errorf("message %q and details %q must not be empty", e.Message, e.Details)
	}
	if e.Path != r.path {
		tb.Errorf("path = %q, want %q", e.Path, r.path)
	}
	if id := r.header.Get("X-Request-Id"); e.Identifier == "" || e.Identifier != id {
		tb.Errorf("identifier = %q, X-Request-Id = %q; want equal and not empty", e.Identifier, id)
	}
	if ts, err := time.Parse(time.RFC3339, e.Timestamp); err != nil || time.Since(ts) > time.Minute || time.Until(ts) > time.Minute {
		tb.Errorf("timestamp = %q: not a current RFC 3339 time (%v)", e.Timestamp, err)
	}
	if e.Violations == nil {
		tb.Errorf("violations is missing or null, want an array")
	}
	return e
}

// fields returns the fields the violations name.
func (e errorBody) fields() []string {
	out := make([]string, 0, len(e.Violations))
	for _, v := range e.Violations {
		out = append(out, v.Field)
	}
	return out
}

// decodeJSON decodes r's body into v, rejecting unknown fields.
func (r response) decodeJSON(tb testing.TB, v any) {
	tb.Helper()
	dec := json.NewDecoder(bytes.NewReader(r.body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		tb.Fatalf("decoding %s: %v", r.body, err)
	}
}

// waitForLog returns the log once it contains want. The access record is
// written as the handler returns, which may be just after the client has
// read a large response.
func (a *testAPI) waitForLog(tb testing.TB, want string) string {
	tb.Helper()
	deadline := time.Now().Add(2 * time.Second)
	for {
		logs := a.logs.String()
		if strings.Contains(logs, want) || time.Now().After(deadline) {
			return logs
		}
		time.Sleep(5 * time.Millisecond)
	}
}
