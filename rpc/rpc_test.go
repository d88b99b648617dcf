package rpc_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"reflect"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"connectrpc.com/connect"

	"github.com/arena-hq/arena"
	"github.com/arena-hq/arena/rpc"
	"github.com/arena-hq/arena/rpc/agentv1"
	"github.com/arena-hq/arena/rpc/agentv1/agentv1connect"
)

const joinToken = "join-secret"

// testInstallation is the fake control plane's installation id.
const testInstallation = "installation-under-test"

// fakeControlPlane records what reaches it. Nodes n1 and n2 have joined
// with credentials cred-n1 and cred-n2; session s1 runs on n1, s2 on n2.
type fakeControlPlane struct {
	// full is queued first on every watch unless silent is set.
	full   arena.Assignment
	silent bool
	// heartbeat answers Heartbeat when set.
	heartbeat func(ctx context.Context, nodeID string) error
	// pushLogs answers PushLogs when set.
	pushLogs func(ctx context.Context, c arena.LogChunk) (bool, error)
	// watches receives the channel of every watch, for the test to feed.
	watches chan chan arena.Assignment
	// watchesEnded receives a value for every watch whose call ended.
	watchesEnded chan struct{}

	mu         sync.Mutex
	creds      map[string]string // credential -> node id
	nodes      map[string]arena.Node
	owners     map[string]string // session id -> node id
	logOwners  map[string]string // log request id -> node id
	calls      []string          // every call but AuthenticateNode
	heartbeats []string
	lastBeat   arena.Heartbeat
	reports    []arena.SessionReport
	chunks     []arena.LogChunk
	issued     int
}

func newFake() *fakeControlPlane {
	return &fakeControlPlane{
		watches:      make(chan chan arena.Assignment, 16),
		watchesEnded: make(chan struct{}, 16),
		creds:        map[string]string{"cred-n1": "n1", "cred-n2": "n2"},
		nodes:        map[string]arena.Node{"n1": {ID: "n1"}, "n2": {ID: "n2"}},
		owners:       map[string]string{"s1": "n1", "s2": "n2"},
		// Log request r1 asks n1 for s1's output, r2 asks n2 for s2's.
		logOwners: map[string]string{"r1": "n1", "r2": "n2"},
	}
}

func (f *fakeControlPlane) record(call string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, call)
}

func (f *fakeControlPlane) Calls() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.calls...)
}

func (f *fakeControlPlane) node(id string) arena.Node {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.nodes[id]
}

func (f *fakeControlPlane) Reports() []arena.SessionReport {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]arena.SessionReport(nil), f.reports...)
}

func (f *fakeControlPlane) Chunks() []arena.LogChunk {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]arena.LogChunk(nil), f.chunks...)
}

func (f *fakeControlPlane) Heartbeats() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.heartbeats...)
}

func (f *fakeControlPlane) Installation() string { return testInstallation }

func (f *fakeControlPlane) JoinNode(ctx context.Context, secret string, n arena.Node, credential string) (string, error) {
	f.record("join")
	f.mu.Lock()
	defer f.mu.Unlock()
	if secret != joinToken {
		return "", arena.Errorf(arena.EUNAUTHORIZED, "the join token is not valid")
	}
	for cred, id := range f.creds {
		if id != n.ID {
			continue
		}
		if cred != credential {
			return "", arena.Errorf(arena.EUNAUTHORIZED, "node %q is registered with another credential", n.ID)
		}
		f.nodes[n.ID] = n
		return "", nil
	}
	f.issued++
	cred := fmt.Sprintf("cred-%s-%d", n.ID, f.issued)
	f.creds[cred] = n.ID
	f.nodes[n.ID] = n
	return cred, nil
}

func (f *fakeControlPlane) AuthenticateNode(ctx context.Context, credential string) (string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if id, ok := f.creds[credential]; ok {
		return id, nil
	}
	return "", arena.Errorf(arena.EUNAUTHORIZED, "the node credential is not valid")
}

func (f *fakeControlPlane) Heartbeat(ctx context.Context, hb arena.Heartbeat) error {
	f.record("heartbeat")
	if f.heartbeat != nil {
		return f.heartbeat(ctx, hb.NodeID)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.heartbeats = append(f.heartbeats, hb.NodeID)
	f.lastBeat = hb
	return nil
}

func (f *fakeControlPlane) Assignments(ctx context.Context, nodeID string) (<-chan arena.Assignment, error) {
	f.record("assignments")
	ch := make(chan arena.Assignment, 16)
	if !f.silent {
		ch <- f.full
	}
	f.watches <- ch
	context.AfterFunc(ctx, func() {
		select {
		case f.watchesEnded <- struct{}{}:
		default: // nobody listens
		}
	})
	return ch, nil
}

func (f *fakeControlPlane) Report(ctx context.Context, r arena.SessionReport) error {
	f.record("report")
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.owners[r.SessionID] != r.NodeID {
		return arena.Errorf(arena.ENOTFOUND, "session %q not found", r.SessionID)
	}
	f.reports = append(f.reports, r)
	return nil
}

// PushLogs records the chunks of the node's own requests and says that
// someone reads until the last chunk, unless pushLogs answers instead.
func (f *fakeControlPlane) PushLogs(ctx context.Context, c arena.LogChunk) (bool, error) {
	f.record("push logs")
	if f.pushLogs != nil {
		return f.pushLogs(ctx, c)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.logOwners[c.RequestID] != c.NodeID {
		return false, arena.Errorf(arena.ENOTFOUND, "log request %q not found", c.RequestID)
	}
	f.chunks = append(f.chunks, c)
	return !c.EOF, nil
}

// wireStats observes the HTTP side of the service.
type wireStats struct {
	watchFlushes atomic.Int64 // one per message sent on a Watch stream
	mu           sync.Mutex
	protos       map[string]bool
}

type flushCounter struct {
	http.ResponseWriter
	n *atomic.Int64
}

func (w flushCounter) Flush() {
	w.n.Add(1)
	w.ResponseWriter.(http.Flusher).Flush()
}

func (w flushCounter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// stallingProxy forwards TCP connections to a server until stall is called;
// from then on it reads nothing more the server sends, as a machine that
// vanished behind a connection nobody closed would.
type stallingProxy struct {
	ln      net.Listener
	stalled chan struct{}
	once    sync.Once
}

func newStallingProxy(t *testing.T, serverURL string) (url string, p *stallingProxy) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p = &stallingProxy{ln: ln, stalled: make(chan struct{})}
	target := strings.TrimPrefix(serverURL, "http://")
	var mu sync.Mutex
	var conns []net.Conn
	go func() {
		for {
			client, err := ln.Accept()
			if err != nil {
				return
			}
			server, err := net.Dial("tcp", target)
			if err != nil {
				client.Close()
				continue
			}
			mu.Lock()
			conns = append(conns, client, server)
			mu.Unlock()
			go func() { _, _ = io.Copy(server, client) }()
			go func() {
				buf := make([]byte, 32<<10)
				for {
					select {
					case <-p.stalled:
						return // and leave the server's bytes unread
					default:
					}
					n, err := server.Read(buf)
					if err != nil {
						return
					}
					if _, err := client.Write(buf[:n]); err != nil {
						return
					}
				}
			}()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			c.Close()
		}
	})
	return "http://" + ln.Addr().String(), p
}

func (p *stallingProxy) stall() { p.once.Do(func() { close(p.stalled) }) }

// serve runs the agent service on cp over loopback HTTP.
func serve(t *testing.T, cp rpc.NodeService, opts ...rpc.HandlerOption) (string, *wireStats) {
	t.Helper()
	path, h := rpc.NewHandler(cp, opts...)
	st := &wireStats{protos: map[string]bool{}}
	mux := http.NewServeMux()
	mux.Handle(path, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		st.mu.Lock()
		st.protos[r.Proto] = true
		st.mu.Unlock()
		if strings.HasSuffix(r.URL.Path, "/Watch") {
			w = flushCounter{w, &st.watchFlushes}
		}
		h.ServeHTTP(w, r)
	}))
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv.URL, st
}

// eventually polls cond until it holds, failing the test after a deadline.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

// next returns the next assignment of ch, or fails after a deadline.
func next(t *testing.T, ch <-chan arena.Assignment) (arena.Assignment, bool) {
	t.Helper()
	select {
	case a, ok := <-ch:
		return a, ok
	case <-time.After(10 * time.Second):
		t.Fatal("timed out waiting for an assignment")
		return arena.Assignment{}, false
	}
}

func TestJoin(t *testing.T) {
	node := arena.Node{
		ID: "n3", Region: "europe", Location: "ams", Provider: "hetzner", Class: arena.ClassMetal, PublicIP: "192.0.2.3",
		Capacity: arena.Resources{MilliCPU: 8000, MemoryMB: 16384}, PortMin: 40000, PortMax: 49999, Draining: true,
	}
	tests := []struct {
		name       string
		token      string
		credential string // the client's before joining
		node       arena.Node
		wantCode   string
		wantCred   func(string) bool
		wantCalls  int
	}{
		{"the join token admits a new node", joinToken, "", node, "", func(c string) bool { return strings.HasPrefix(c, "cred-n3-") }, 1},
		{"a wrong join token is refused", "wrong", "", node, arena.EUNAUTHORIZED, func(c string) bool { return c == "" }, 1},
		{"no join token is refused before the control plane", "", "", node, arena.EUNAUTHORIZED, func(c string) bool { return c == "" }, 0},
		{"an id taken by another credential is refused", joinToken, "", arena.Node{ID: "n1"}, arena.EUNAUTHORIZED, func(c string) bool { return c == "" }, 1},
		{"rejoining with its credential keeps it", joinToken, "cred-n1", arena.Node{ID: "n1", Region: "us"}, "", func(c string) bool { return c == "cred-n1" }, 1},
		{"rejoining with a credential of another node is refused", joinToken, "cred-n2", arena.Node{ID: "n1"}, arena.EUNAUTHORIZED, func(c string) bool { return c == "cred-n2" }, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFake()
			url, _ := serve(t, f)
			c := rpc.NewClient(url, rpc.WithCredential(tt.credential))
			err := c.Join(context.Background(), tt.token, tt.node)
			if arena.ErrorCode(err) != tt.wantCode {
				t.Fatalf("join: %v, want code %q", err, tt.wantCode)
			}
			if !tt.wantCred(c.Credential()) {
				t.Errorf("credential after join: %q", c.Credential())
			}
			if want := map[bool]string{true: testInstallation}[tt.wantCode == ""]; c.Installation() != want {
				t.Errorf("installation after join: %q, want %q", c.Installation(), want)
			}
			if got := len(f.Calls()); got != tt.wantCalls {
				t.Errorf("%d calls reached the control plane, want %d", got, tt.wantCalls)
			}
			if got := f.node(tt.node.ID); tt.wantCode == "" && !reflect.DeepEqual(got, tt.node) {
				t.Errorf("the control plane got node %+v, want %+v", got, tt.node)
			}
		})
	}
}

func TestNodeCredentials(t *testing.T) {
	calls := []struct {
		name string
		call func(ctx context.Context, c agentv1connect.AgentServiceClient, auth, nodeID string) error
		// emptyIsSelf: no node id stands for the authenticated node.
		emptyIsSelf bool
	}{
		{"heartbeat", func(ctx context.Context, c agentv1connect.AgentServiceClient, auth, nodeID string) error {
			_, err := c.Heartbeat(ctx, authorized(&agentv1.HeartbeatRequest{NodeId: nodeID}, auth))
			return err
		}, false},
		{"report", func(ctx context.Context, c agentv1connect.AgentServiceClient, auth, nodeID string) error {
			req := &agentv1.ReportRequest{Report: &agentv1.SessionReport{SessionId: "s1", NodeId: nodeID, State: "running"}}
			_, err := c.Report(ctx, authorized(req, auth))
			return err
		}, false},
		{"push logs", func(ctx context.Context, c agentv1connect.AgentServiceClient, auth, nodeID string) error {
			req := &agentv1.PushLogsRequest{Chunk: &agentv1.LogChunk{RequestId: "r1", NodeId: nodeID, Data: []byte("hello\n")}}
			_, err := c.PushLogs(ctx, authorized(req, auth))
			return err
		}, true},
		{"watch", func(ctx context.Context, c agentv1connect.AgentServiceClient, auth, nodeID string) error {
			stream, err := c.Watch(ctx, authorized(&agentv1.WatchRequest{NodeId: nodeID}, auth))
			if err != nil {
				return err
			}
			defer stream.Close()
			if stream.Receive() {
				return nil
			}
			return stream.Err()
		}, false},
	}
	creds := []struct {
		name          string
		authorization string
		nodeID        string
		want          connect.Code
	}{
		{"no credential", "", "n1", connect.CodeUnauthenticated},
		{"not a bearer credential", "Basic Y3JlZC1uMQ==", "n1", connect.CodeUnauthenticated},
		{"an unknown credential", "Bearer cred-n9", "n1", connect.CodeUnauthenticated},
		{"another node's id", "Bearer cred-n1", "n2", connect.CodePermissionDenied},
		{"no node id", "Bearer cred-n1", "", connect.CodePermissionDenied},
	}
	for _, call := range calls {
		for _, cred := range creds {
			if call.emptyIsSelf && cred.nodeID == "" {
				continue // see TestPushLogs
			}
			t.Run(call.name+" with "+cred.name, func(t *testing.T) {
				f := newFake()
				url, _ := serve(t, f)
				raw := agentv1connect.NewAgentServiceClient(http.DefaultClient, url)
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				defer cancel()
				err := call.call(ctx, raw, cred.authorization, cred.nodeID)
				if got := connect.CodeOf(err); got != cred.want {
					t.Fatalf("got %v, want %s", err, cred.want)
				}
				if calls := f.Calls(); len(calls) != 0 {
					t.Fatalf("the control plane saw %v", calls)
				}
			})
		}
	}
	t.Run("the client reports a refusal as unauthorized", func(t *testing.T) {
		f := newFake()
		url, _ := serve(t, f)
		ctx := context.Background()
		for name, err := range map[string]error{
			"unknown credential": rpc.NewClient(url, rpc.WithCredential("cred-n9")).Heartbeat(ctx, arena.Heartbeat{NodeID: "n1"}),
			"other node":         rpc.NewClient(url, rpc.WithCredential("cred-n1")).Heartbeat(ctx, arena.Heartbeat{NodeID: "n2"}),
			"no credential":      rpc.NewClient(url).Report(ctx, arena.SessionReport{SessionID: "s1", NodeID: "n1"}),
			"logs as another node": func() error {
				_, err := rpc.NewClient(url, rpc.WithCredential("cred-n1")).PushLogs(ctx, arena.LogChunk{RequestID: "r2", NodeID: "n2"})
				return err
			}(),
		} {
			if arena.ErrorCode(err) != arena.EUNAUTHORIZED {
				t.Errorf("%s: %v, want unauthorized", name, err)
			}
		}
		if _, err := rpc.NewClient(url, rpc.WithCredential("cred-n2")).Assignments(ctx, "n1"); arena.ErrorCode(err) != arena.EUNAUTHORIZED {
			t.Errorf("watch of another node: %v, want unauthorized", err)
		}
	})
	t.Run("a report about another node's session is refused", func(t *testing.T) {
		f := newFake()
		url, _ := serve(t, f)
		raw := agentv1connect.NewAgentServiceClient(http.DefaultClient, url)
		req := &agentv1.ReportRequest{Report: &agentv1.SessionReport{SessionId: "s2", NodeId: "n1", State: "running"}}
		if _, err := raw.Report(context.Background(), authorized(req, "Bearer cred-n1")); connect.CodeOf(err) != connect.CodePermissionDenied {
			t.Fatalf("got %v, want permission denied", err)
		}
		c := rpc.NewClient(url, rpc.WithCredential("cred-n1"))
		if err := c.Report(context.Background(), arena.SessionReport{SessionID: "s2", NodeID: "n1"}); arena.ErrorCode(err) != arena.EUNAUTHORIZED {
			t.Fatalf("client: %v, want unauthorized", err)
		}
		if r := f.Reports(); len(r) != 0 {
			t.Fatalf("reports recorded: %+v", r)
		}
	})
}

// authorized returns a request of the raw client with an Authorization header.
func authorized[T any](msg *T, authorization string) *connect.Request[T] {
	req := connect.NewRequest(msg)
	if authorization != "" {
		req.Header().Set("Authorization", authorization)
	}
	return req
}

func TestCallsReachTheControlPlane(t *testing.T) {
	f := newFake()
	url, _ := serve(t, f)
	c := rpc.NewClient(url, rpc.WithCredential("cred-n1"))
	ctx := context.Background()

	t.Run("heartbeat", func(t *testing.T) {
		if err := c.Heartbeat(ctx, arena.Heartbeat{NodeID: "n1"}); err != nil {
			t.Fatal(err)
		}
		if got := f.Heartbeats(); !reflect.DeepEqual(got, []string{"n1"}) {
			t.Fatalf("heartbeats %v", got)
		}
	})
	t.Run("heartbeat with images", func(t *testing.T) {
		images := []arena.NodeImage{
			{Ref: "registry.example/game:1", State: arena.ImagePresent},
			{Ref: "registry.example/game:2", State: arena.ImageFailed, Error: "unauthorized"},
			{Ref: "registry.example/game:3", State: arena.ImagePresent, Refused: []string{"org-b", "org-c"}},
		}
		if err := c.Heartbeat(ctx, arena.Heartbeat{NodeID: "n1", Images: images}); err != nil {
			t.Fatal(err)
		}
		f.mu.Lock()
		got := f.lastBeat
		f.mu.Unlock()
		if want := (arena.Heartbeat{NodeID: "n1", Images: images}); !reflect.DeepEqual(got, want) {
			t.Fatalf("the control plane got %+v, want %+v", got, want)
		}
	})
	t.Run("heartbeat with image states no agent sends", func(t *testing.T) {
		good := arena.NodeImage{Ref: "game:1", State: arena.ImagePresent}
		many := slices.Repeat([]arena.NodeImage{good}, 10001)
		for name, tc := range map[string]struct{ sent, kept []arena.NodeImage }{
			"unknown state":              {[]arena.NodeImage{good, {Ref: "game:2", State: "downloading"}}, []arena.NodeImage{good}},
			"empty reference":            {[]arena.NodeImage{{State: arena.ImagePresent}, good}, []arena.NodeImage{good}},
			"long reference":             {[]arena.NodeImage{good, {Ref: strings.Repeat("a", 600), State: arena.ImagePresent}}, []arena.NodeImage{good}},
			"long error":                 {[]arena.NodeImage{{Ref: "game:2", State: arena.ImageFailed, Error: strings.Repeat("e", 5000)}, good}, []arena.NodeImage{good}},
			"too many images":            {many, many[:10000]},
			"empty organisation refused": {[]arena.NodeImage{good, {Ref: "game:2", State: arena.ImagePresent, Refused: []string{""}}}, []arena.NodeImage{good}},
			"too many refused":           {[]arena.NodeImage{{Ref: "game:2", State: arena.ImagePresent, Refused: slices.Repeat([]string{"org"}, 1025)}, good}, []arena.NodeImage{good}},
		} {
			t.Run(name, func(t *testing.T) {
				// The heartbeat counts; only what no agent sends is dropped.
				if err := c.Heartbeat(ctx, arena.Heartbeat{NodeID: "n1", Images: tc.sent}); err != nil {
					t.Fatal(err)
				}
				f.mu.Lock()
				got := f.lastBeat.Images
				f.mu.Unlock()
				if !reflect.DeepEqual(got, tc.kept) {
					t.Errorf("the control plane got %d images, want %d", len(got), len(tc.kept))
				}
			})
		}
	})
	t.Run("report", func(t *testing.T) {
		r := arena.SessionReport{
			SessionID: "s1", NodeID: "n1", State: arena.SessionStopped, Reason: arena.StopCrashLoop, ExitCode: -1, Restarts: 3,
			At: time.Date(2026, 1, 2, 3, 4, 5, 6, time.UTC), StartedAt: time.Date(2026, 1, 2, 3, 0, 0, 7, time.UTC), Message: "gave up",
		}
		if err := c.Report(ctx, r); err != nil {
			t.Fatal(err)
		}
		if got := f.Reports(); len(got) != 1 || !reflect.DeepEqual(got[0], r) {
			t.Fatalf("reports %+v, want %+v", got, r)
		}
	})
}

func TestErrorCodesSurvive(t *testing.T) {
	tests := []struct {
		name     string
		err      error
		wantCode string
		wantMsg  string
	}{
		{"invalid", arena.Errorf(arena.EINVALID, "bad state"), arena.EINVALID, "bad state"},
		{"not found", arena.Errorf(arena.ENOTFOUND, "node n1 is not registered"), arena.ENOTFOUND, "node n1 is not registered"},
		{"conflict", arena.Errorf(arena.ECONFLICT, "cannot go from stopped to running"), arena.ECONFLICT, "cannot go from stopped to running"},
		{"unavailable", arena.Errorf(arena.EUNAVAILABLE, "shutting down"), arena.EUNAVAILABLE, "shutting down"},
		{"unauthorized", arena.Errorf(arena.EUNAUTHORIZED, "node removed"), arena.EUNAUTHORIZED, "node removed"},
		{"internal, with its cause hidden", arena.Internal(errors.New("disk full"), "saving the node"), arena.EINTERNAL, "internal error while saving the node"},
		{"not an arena error, hidden", errors.New("database is locked"), arena.EINTERNAL, "internal error"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFake()
			f.heartbeat = func(context.Context, string) error { return tt.err }
			url, _ := serve(t, f)
			err := rpc.NewClient(url, rpc.WithCredential("cred-n1")).Heartbeat(context.Background(), arena.Heartbeat{NodeID: "n1"})
			if arena.ErrorCode(err) != tt.wantCode || arena.ErrorMessage(err) != tt.wantMsg {
				t.Fatalf("got %s %q, want %s %q", arena.ErrorCode(err), arena.ErrorMessage(err), tt.wantCode, tt.wantMsg)
			}
		})
	}
}

func TestCallTimeout(t *testing.T) {
	tests := []struct {
		name         string
		ctx          func() (context.Context, context.CancelFunc)
		wantDeadline time.Duration // at most, as the control plane sees it
	}{
		{"a call without a deadline gets the default one", func() (context.Context, context.CancelFunc) {
			return context.WithCancel(context.Background())
		}, 200 * time.Millisecond},
		{"the caller's deadline wins", func() (context.Context, context.CancelFunc) {
			return context.WithTimeout(context.Background(), 50*time.Millisecond)
		}, 50 * time.Millisecond},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFake()
			deadlines := make(chan time.Duration, 1)
			f.heartbeat = func(ctx context.Context, _ string) error {
				d, ok := ctx.Deadline()
				if !ok {
					deadlines <- -1
					return nil
				}
				deadlines <- time.Until(d)
				<-ctx.Done()
				return arena.Errorf(arena.EUNAVAILABLE, "too late")
			}
			url, _ := serve(t, f)
			c := rpc.NewClient(url, rpc.WithCredential("cred-n1"), rpc.WithCallTimeout(200*time.Millisecond))
			ctx, cancel := tt.ctx()
			defer cancel()
			err := c.Heartbeat(ctx, arena.Heartbeat{NodeID: "n1"})
			if arena.ErrorCode(err) != arena.EUNAVAILABLE {
				t.Fatalf("got %v, want unavailable", err)
			}
			if d := <-deadlines; d < 0 || d > tt.wantDeadline {
				t.Fatalf("the control plane saw a deadline %v away, want at most %v", d, tt.wantDeadline)
			}
		})
	}
}

func testSession(id string, state arena.SessionState) *arena.Session {
	return &arena.Session{ID: id, NodeID: "n1", State: state, Ports: []arena.Port{{Protocol: arena.UDP, Container: 7777, Host: 40001}},
		CreatedAt: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
}

func TestWatch(t *testing.T) {
	full := arena.Assignment{Full: true, Sessions: []*arena.Session{testSession("s1", arena.SessionRunning), testSession("s3", arena.SessionStarted)}}

	t.Run("delivers the full assignment, then changes in order, skipping keepalives", func(t *testing.T) {
		f := newFake()
		f.full = full
		url, wire := serve(t, f, rpc.WithKeepaliveInterval(time.Millisecond))
		c := rpc.NewClient(url, rpc.WithCredential("cred-n1"))
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		ch, err := c.Assignments(ctx, "n1")
		if err != nil {
			t.Fatal(err)
		}
		if a, ok := next(t, ch); !ok || !reflect.DeepEqual(a, full) {
			t.Fatalf("first assignment %+v, want %+v", a, full)
		}
		feed := <-f.watches
		for i, state := range []arena.SessionState{arena.SessionRunning, arena.SessionStopping, arena.SessionStopped} {
			// Let keepalives flow before each change.
			sent := wire.watchFlushes.Load()
			eventually(t, "keepalives", func() bool { return wire.watchFlushes.Load() >= sent+3 })
			change := arena.Assignment{Sessions: []*arena.Session{testSession("s3", state)}}
			feed <- change
			if a, ok := next(t, ch); !ok || !reflect.DeepEqual(a, change) {
				t.Fatalf("change %d: got %+v, want %+v", i, a, change)
			}
		}
		wire.mu.Lock()
		defer wire.mu.Unlock()
		if !reflect.DeepEqual(wire.protos, map[string]bool{"HTTP/1.1": true}) {
			t.Errorf("served over %v, want HTTP/1.1 only", wire.protos)
		}
	})

	t.Run("ends when the control plane's channel closes", func(t *testing.T) {
		f := newFake()
		url, _ := serve(t, f)
		ch, err := rpc.NewClient(url, rpc.WithCredential("cred-n1")).Assignments(context.Background(), "n1")
		if err != nil {
			t.Fatal(err)
		}
		if _, ok := next(t, ch); !ok {
			t.Fatal("no full assignment")
		}
		close(<-f.watches)
		if a, ok := next(t, ch); ok {
			t.Fatalf("got %+v after the end", a)
		}
	})

	t.Run("ends when the caller's context ends", func(t *testing.T) {
		f := newFake()
		url, _ := serve(t, f)
		ctx, cancel := context.WithCancel(context.Background())
		ch, err := rpc.NewClient(url, rpc.WithCredential("cred-n1")).Assignments(ctx, "n1")
		if err != nil {
			t.Fatal(err)
		}
		cancel()
		for range ch { // the full assignment may or may not come first
		}
	})

	t.Run("ends when it goes silent", func(t *testing.T) {
		f := newFake()
		url, _ := serve(t, f, rpc.WithKeepaliveInterval(time.Hour))
		c := rpc.NewClient(url, rpc.WithCredential("cred-n1"), rpc.WithWatchIdleTimeout(50*time.Millisecond))
		ch, err := c.Assignments(context.Background(), "n1")
		if err != nil {
			t.Fatal(err)
		}
		if _, ok := next(t, ch); !ok {
			t.Fatal("no full assignment")
		}
		if a, ok := next(t, ch); ok {
			t.Fatalf("got %+v from a silent stream", a)
		}
	})

	t.Run("keepalives keep a quiet stream open", func(t *testing.T) {
		f := newFake()
		url, wire := serve(t, f, rpc.WithKeepaliveInterval(5*time.Millisecond))
		c := rpc.NewClient(url, rpc.WithCredential("cred-n1"), rpc.WithWatchIdleTimeout(100*time.Millisecond))
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		ch, err := c.Assignments(ctx, "n1")
		if err != nil {
			t.Fatal(err)
		}
		next(t, ch)
		feed := <-f.watches
		// Quiet for at least twice the idle timeout, but for keepalives.
		eventually(t, "keepalives", func() bool { return wire.watchFlushes.Load() > 40 })
		change := arena.Assignment{Sessions: []*arena.Session{testSession("s1", arena.SessionStopping)}}
		feed <- change
		if a, ok := next(t, ch); !ok || !reflect.DeepEqual(a, change) {
			t.Fatalf("got %+v, %v, want %+v", a, ok, change)
		}
	})

	t.Run("ends when the agent stops reading", func(t *testing.T) {
		f := newFake()
		url, _ := serve(t, f, rpc.WithWriteTimeout(100*time.Millisecond))
		proxyURL, proxy := newStallingProxy(t, url)
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		ch, err := rpc.NewClient(proxyURL, rpc.WithCredential("cred-n1")).Assignments(ctx, "n1")
		if err != nil {
			t.Fatal(err)
		}
		next(t, ch)
		proxy.stall()
		// Assignments until the socket buffers on the way are full and the
		// server's writes stop making progress.
		big := testSession("s1", arena.SessionStarted)
		// Random, so that compression cannot shrink it.
		pad := make([]byte, 512<<10)
		_, _ = rand.Read(pad)
		big.Env = map[string]string{"PAD": hex.EncodeToString(pad)}
		feed := <-f.watches
		ended := make(chan struct{})
		var fed atomic.Int64
		go func() {
			for {
				select {
				case feed <- arena.Assignment{Sessions: []*arena.Session{big}}:
					fed.Add(1)
				case <-f.watchesEnded:
					close(ended)
					return
				case <-ctx.Done():
					return
				}
			}
		}()
		// Filling the buffers on the way takes tens of megabytes of
		// assignments, which a loaded machine encodes slowly: the deadline
		// is generous, the write timeout under test is 100 ms.
		select {
		case <-ended:
		case <-time.After(30 * time.Second):
			t.Fatalf("the Watch call still runs for a peer that stopped reading (%d fed)", fed.Load())
		}
	})

	t.Run("waits for the first assignment no longer than the call timeout", func(t *testing.T) {
		f := newFake()
		f.silent = true
		url, _ := serve(t, f, rpc.WithKeepaliveInterval(time.Hour))
		c := rpc.NewClient(url, rpc.WithCredential("cred-n1"), rpc.WithCallTimeout(100*time.Millisecond))
		if _, err := c.Assignments(context.Background(), "n1"); arena.ErrorCode(err) != arena.EUNAVAILABLE {
			t.Fatalf("got %v, want unavailable", err)
		}
	})
}
