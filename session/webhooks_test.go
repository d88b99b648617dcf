package session_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/arena-hq/arena"
	"github.com/arena-hq/arena/session"
	"github.com/arena-hq/arena/tenant"
	"github.com/arena-hq/arena/webhook"
)

// recorder is an EventPublisher that keeps what it is given.
type recorder struct {
	mu     sync.Mutex
	events []webhook.Event
}

func (r *recorder) Publish(e webhook.Event) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.events = append(r.events, e)
}

// of returns the events of the session the Session API knows as id.
func (r *recorder) of(id string) []webhook.Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []webhook.Event
	for _, e := range r.events {
		if e.Session.ID == id {
			out = append(out, e)
		}
	}
	return out
}

func types(events []webhook.Event) []string {
	out := make([]string, len(events))
	for i, e := range events {
		out[i] = e.Type
	}
	return out
}

// withEvents makes the harness's control plane publish to rec.
func withEvents(rec session.EventPublisher) func(*testConfig) {
	return func(c *testConfig) { c.Events = rec }
}

// checkEvents waits until the session named id has had len(want) events,
// then checks that they are want, in order, each telling of the session as
// the Session API shows it, in time order.
func checkEvents(tb testing.TB, rec *recorder, orgID, id string, want ...string) []webhook.Event {
	tb.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for len(rec.of(id)) < len(want) && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	got := rec.of(id)
	if !slices.Equal(types(got), want) {
		tb.Fatalf("events of %s: %v, want %v", id, types(got), want)
	}
	status := map[string][]string{
		webhook.EventSessionStarted:     {"created"},
		webhook.EventSessionRunning:     {"running"},
		webhook.EventSessionUnreachable: {"server_unreachable"},
		webhook.EventSessionStopped:     {"exited", "dead"},
	}
	seen := map[string]bool{}
	for i, e := range got {
		if e.OrgID != orgID || e.ID == "" || seen[e.ID] || !slices.Contains(status[e.Type], e.Session.Status) {
			tb.Errorf("event %d: %+v (org %q, a new id and a status of its type wanted)", i, e, orgID)
		}
		seen[e.ID] = true
		if i > 0 && e.At.Before(got[i-1].At) {
			tb.Errorf("event %d (%s) at %v, before the one before it at %v", i, e.Type, e.At, got[i-1].At)
		}
	}
	return got
}

// TestSessionEvents follows sessions through their lives and checks the
// events published at each change, once it is in the store.
func TestSessionEvents(t *testing.T) {
	started, running, stopped := webhook.EventSessionStarted, webhook.EventSessionRunning, webhook.EventSessionStopped
	tests := []struct {
		name string
		req  arena.SessionRequest
		// live takes the session from running to its end.
		live       func(t *testing.T, h *harness, s *arena.Session)
		want       []string
		wantReason arena.StopReason
		wantExit   *int
	}{
		{
			name: "stopped by DELETE",
			live: func(t *testing.T, h *harness, s *arena.Session) {
				if err := h.srv.StopSession(context.Background(), org, s.Name); err != nil {
					t.Fatal(err)
				}
			},
			want: []string{started, running, stopped}, wantReason: arena.StopDeleted, wantExit: ptr(0),
		},
		{
			name:       "stopped by its TTL",
			req:        arena.SessionRequest{TTL: time.Second},
			live:       func(*testing.T, *harness, *arena.Session) {},
			want:       []string{started, running, stopped},
			wantReason: arena.StopTTL, wantExit: ptr(0),
		},
		{
			name: "the process exits",
			live: func(t *testing.T, h *harness, s *arena.Session) {
				waitFor(t, func() bool { return h.rt.Crash(s.ID, 3) == nil })
			},
			want: []string{started, running, stopped}, wantReason: arena.StopExited, wantExit: ptr(3),
		},
		{
			name: "running again after a restart",
			req:  arena.SessionRequest{Restart: true},
			live: func(t *testing.T, h *harness, s *arena.Session) {
				waitFor(t, func() bool { return h.rt.Crash(s.ID, 3) == nil })
				waitFor(t, func() bool {
					got, _ := h.srv.FindSession(context.Background(), org, s.Name)
					return got.Restarts == 1 && got.State == arena.SessionRunning
				})
				if err := h.srv.StopSession(context.Background(), org, s.Name); err != nil {
					t.Fatal(err)
				}
			},
			want: []string{started, running, running, stopped}, wantReason: arena.StopDeleted, wantExit: ptr(0),
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			rec := &recorder{}
			h := newHarness(t, 10, withEvents(rec))
			tt.req.ID = "s1"
			s := h.create(tt.req)
			// The creation's event is published before CreateSession returns.
			if got := types(rec.of("s1")); len(got) == 0 || got[0] != started {
				t.Fatalf("events after CreateSession: %v", got)
			}
			h.waitState("s1", arena.SessionRunning)
			tt.live(t, h, s)
			h.waitState("s1", arena.SessionStopped)
			got := checkEvents(t, rec, org, "s1", tt.want...)
			last := got[len(got)-1].Session
			if last.StopReason != string(tt.wantReason) || !equalPtr(last.ExitCode, tt.wantExit) {
				t.Errorf("stopped event: reason %q, exit code %v; want %q, %v", last.StopReason, deref(last.ExitCode), tt.wantReason, deref(tt.wantExit))
			}
			first := got[0].Session
			if first.Image != "game" || first.Tag != "v2" || first.Location != "ams" || first.Host != "192.0.2.1" ||
				len(first.Ports) != 1 || first.Ports[0] != s.Ports[0] {
				t.Errorf("started event tells of %+v, the session is %+v", first, s)
			}
		})
	}
}

// TestSessionEventsNodeSilence: a node's silence makes its sessions'
// unreachable events; its return makes them running again, and its loss
// stopped.
func TestSessionEventsNodeSilence(t *testing.T) {
	started, running := webhook.EventSessionStarted, webhook.EventSessionRunning
	unreachable, stopped := webhook.EventSessionUnreachable, webhook.EventSessionStopped
	tests := []struct {
		name          string
		nodeLostAfter time.Duration
		// back starts the agent again before the node is lost.
		back bool
		want []string
	}{
		{"the node comes back", time.Hour, true, []string{started, running, unreachable, running}},
		{"the node is lost", 300 * time.Millisecond, false, []string{started, running, unreachable, stopped}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			rec := &recorder{}
			h := newHarness(t, 10, withEvents(rec), func(c *testConfig) {
				c.Fleet.HeartbeatTimeout, c.Fleet.NodeLostAfter = 150*time.Millisecond, tt.nodeLostAfter
			})
			h.create(arena.SessionRequest{ID: "s"})
			ran := h.waitState("s", arena.SessionRunning)
			waitFor(t, func() bool { return nodeUsage(t, h.fleet).LastSeen.After(ran.RunningAt) })
			h.stop()
			checkEvents(t, rec, org, "s", started, running, unreachable)
			if tt.back {
				h.startAgent()
				h.waitState("s", arena.SessionRunning)
			} else {
				h.waitState("s", arena.SessionStopped)
			}
			got := checkEvents(t, rec, org, "s", tt.want...)
			if last := got[len(got)-1].Session; !tt.back && (last.StopReason != string(arena.StopLost) || last.Status != "dead" || last.ExitCode != nil) {
				t.Errorf("stopped event of a lost session: %+v", last)
			}
		})
	}
}

// lateEvents forwards events to a publisher set once the harness's store,
// which the webhooks need, exists.
type lateEvents struct {
	to atomic.Pointer[webhook.Dispatcher]
}

func (l *lateEvents) Publish(e webhook.Event) {
	if d := l.to.Load(); d != nil {
		d.Publish(e)
	}
}

// receiver is an organisation's endpoint: it keeps the events whose
// signature verifies with its secret, by id.
type receiver struct {
	*httptest.Server
	secret string

	mu     sync.Mutex
	events map[string]webhook.Event
	bad    []string
}

func newReceiver(t *testing.T) *receiver {
	r := &receiver{events: map[string]webhook.Event{}}
	r.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, _ := io.ReadAll(req.Body)
		r.mu.Lock()
		defer r.mu.Unlock()
		if err := webhook.Verify(r.secret, req.Header.Get(webhook.HeaderSignature), req.Header.Get(webhook.HeaderTimestamp), body, 0, time.Now()); err != nil {
			r.bad = append(r.bad, err.Error())
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		var e webhook.Event
		if err := json.NewDecoder(bytes.NewReader(body)).Decode(&e); err != nil {
			r.bad = append(r.bad, err.Error())
		}
		r.events[e.ID] = e
	}))
	t.Cleanup(r.Close)
	return r
}

// sessions returns the ids of the sessions it heard of, and the types heard of each.
func (r *receiver) sessions() map[string][]string {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := map[string][]string{}
	for _, e := range r.events {
		out[e.Session.ID] = append(out[e.Session.ID], e.Type)
	}
	for _, ts := range out {
		slices.Sort(ts)
	}
	return out
}

// TestWebhookEventsStayInOrg runs sessions of two organisations, each with
// an endpoint, through the real dispatcher: each endpoint hears of its own
// organisation's sessions alone, signed with its own secret.
func TestWebhookEventsStayInOrg(t *testing.T) {
	events := &lateEvents{}
	apps := append(testApps(), &arena.Application{
		OrgID: "org-b", Name: "game", Repository: "game-b", Tags: []arena.Tag{{Name: "v1"}},
		Ports: []arena.PortSpec{{Container: 7777, Protocol: arena.UDP}}, Network: arena.NetworkBridge,
		Resources: arena.Resources{MilliCPU: 100, MemoryMB: 100},
	})
	h := newHarness(t, 10, withEvents(events), func(c *testConfig) { c.Catalog = tenant.NewStaticCatalog(apps) })
	hooks := tenant.NewWebhooks(h.store, newSealer(t), nil)
	d, err := webhook.New(webhook.Config{Endpoints: hooks, InitialBackoff: 10 * time.Millisecond, MaxBackoff: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	go d.Run(ctx)
	t.Cleanup(func() { cancel(); d.Close() })
	events.to.Store(d)

	receivers := map[string]*receiver{}
	for _, o := range []string{org, "org-b"} {
		r := newReceiver(t)
		_, secret, err := hooks.CreateWebhook(context.Background(), o, r.URL, nil)
		if err != nil {
			t.Fatal(err)
		}
		r.mu.Lock()
		r.secret = secret
		r.mu.Unlock()
		receivers[o] = r
	}
	// Both organisations use the same session id: the events tell them apart.
	for _, o := range []string{org, "org-b"} {
		if _, err := h.srv.CreateSession(context.Background(), o, arena.SessionRequest{ID: "match", Image: "game", Location: "europe"}); err != nil {
			t.Fatal(err)
		}
	}
	for _, o := range []string{org, "org-b"} {
		waitFor(t, func() bool {
			s, err := h.srv.FindSession(context.Background(), o, "match")
			return err == nil && s.State == arena.SessionRunning
		})
		if err := h.srv.StopSession(context.Background(), o, "match"); err != nil {
			t.Fatal(err)
		}
	}
	want := []string{webhook.EventSessionRunning, webhook.EventSessionStarted, webhook.EventSessionStopped}
	for o, r := range receivers {
		waitFor(t, func() bool { return len(r.sessions()["match"]) >= len(want) })
		r.mu.Lock()
		// The applications differ in their default tag: each event tells of
		// its own organisation's session.
		tag := map[string]string{org: "v2", "org-b": "v1"}[o]
		for _, e := range r.events {
			if e.Session.ID != "match" || e.Session.Image != "game" || e.Session.Tag != tag {
				t.Errorf("%s heard of %+v", o, e.Session)
			}
		}
		if len(r.bad) > 0 {
			t.Errorf("%s refused deliveries: %v", o, r.bad)
		}
		r.mu.Unlock()
		if got := r.sessions(); len(got) != 1 || !slices.Equal(got["match"], want) {
			t.Errorf("%s heard %v, want %v of its session alone", o, got, want)
		}
	}
}

func newSealer(tb testing.TB) *tenant.Sealer {
	tb.Helper()
	s, err := tenant.NewSealer(bytes.Repeat([]byte{7}, tenant.SealerKeySize))
	if err != nil {
		tb.Fatal(err)
	}
	return s
}

func ptr[T any](v T) *T { return &v }

func equalPtr[T comparable](a, b *T) bool {
	return (a == nil) == (b == nil) && (a == nil || *a == *b)
}

func deref(p *int) any {
	if p == nil {
		return nil
	}
	return *p
}

// TestRunningEventAtReadiness: the running event, like the state, waits
// for the game server to serve on its ports.
func TestRunningEventAtReadiness(t *testing.T) {
	rec := &recorder{}
	h := newHarness(t, 10, withEvents(rec))
	key := arena.SessionKey(org, "ready")
	h.rt.SetDeaf(key, true)
	h.create(arena.SessionRequest{ID: "ready"})
	waitFor(t, func() bool { _, ok := h.rt.Spec(key); return ok })
	if got := types(rec.of("ready")); slices.Contains(got, webhook.EventSessionRunning) {
		t.Fatalf("events %v before the game server serves", got)
	}
	if s, _ := h.srv.FindSession(t.Context(), org, "ready"); s.State != arena.SessionStarted {
		t.Fatalf("state %s before the game server serves, want started", s.State)
	}
	bound := time.Now()
	h.rt.SetDeaf(key, false)
	events := checkEvents(t, rec, org, "ready", webhook.EventSessionStarted, webhook.EventSessionRunning)
	if at := events[1].At; at.Before(bound.Truncate(time.Millisecond)) {
		t.Fatalf("running event at %v, before the bind at %v", at, bound)
	}
}
