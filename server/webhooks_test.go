package server_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/arena-hq/arena"
	"github.com/arena-hq/arena/server"
	"github.com/arena-hq/arena/sqlite"
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
func withEvents(rec server.EventPublisher) func(*server.Config) {
	return func(c *server.Config) { c.Events = rec }
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
			h := newHarness(t, 10, withEvents(rec), func(c *server.Config) {
				c.HeartbeatTimeout, c.NodeLostAfter = 150*time.Millisecond, tt.nodeLostAfter
			})
			h.create(arena.SessionRequest{ID: "s"})
			ran := h.waitState("s", arena.SessionRunning)
			waitFor(t, func() bool { return nodeUsage(t, h.srv).LastSeen.After(ran.RunningAt) })
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
	h := newHarness(t, 10, withEvents(events), func(c *server.Config) { c.Catalog = server.NewStaticCatalog(apps) })
	hooks := server.NewWebhooks(h.store, newSealer(t), nil)
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

func newSealer(tb testing.TB) *server.Sealer {
	tb.Helper()
	s, err := server.NewSealer(bytes.Repeat([]byte{7}, server.SealerKeySize))
	if err != nil {
		tb.Fatal(err)
	}
	return s
}

// countingStore counts the look-ups of webhooks in the store.
type countingStore struct {
	server.Store
	lists atomic.Int64
}

func (c *countingStore) ListWebhooks(ctx context.Context, orgID string) ([]*arena.Webhook, error) {
	c.lists.Add(1)
	return c.Store.ListWebhooks(ctx, orgID)
}

func newWebhooks(t *testing.T) (*server.Webhooks, *countingStore) {
	t.Helper()
	ctx := context.Background()
	st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "arena.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	for _, id := range []string{org, "org-b"} {
		if err := st.CreateOrganization(ctx, &arena.Organization{ID: id, Name: id}); err != nil {
			t.Fatal(err)
		}
	}
	cs := &countingStore{Store: st}
	return server.NewWebhooks(cs, newSealer(t), nil), cs
}

func TestCreateWebhookRefused(t *testing.T) {
	hooks, _ := newWebhooks(t)
	tests := []struct {
		name, org, url string
		events         []string
		code           string
		fields         []string
	}{
		{"no URL", org, "", nil, arena.EINVALID, []string{"url"}},
		{"not http", org, "ftp://hooks.example.com/", nil, arena.EINVALID, []string{"url"}},
		{"unknown and repeated events", org, "https://hooks.example.com/", []string{"session.exploded", "session.started", "session.started"},
			arena.EINVALID, []string{"events[0]", "events[2]"}},
		{"unknown organisation", "org-nope", "https://hooks.example.com/", nil, arena.ENOTFOUND, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w, secret, err := hooks.CreateWebhook(context.Background(), tt.org, tt.url, tt.events)
			if arena.ErrorCode(err) != tt.code || w != nil || secret != "" {
				t.Fatalf("CreateWebhook = %v, %q, %v; want code %s", w, secret, err, tt.code)
			}
			var fields []string
			for _, v := range arena.ErrorViolations(err) {
				fields = append(fields, v.Field)
			}
			if !slices.Equal(fields, tt.fields) {
				t.Errorf("violations of %v, want %v", fields, tt.fields)
			}
		})
	}
	if got, err := hooks.ListWebhooks(context.Background(), org); err != nil || len(got) != 0 {
		t.Fatalf("after refusals: %v, %v", got, err)
	}
}

// TestWebhooks checks what the control plane keeps of an endpoint: the
// secret sealed at rest and never listed, open for the dispatcher alone;
// organisations apart; the cache dropped by every change; the cap.
func TestWebhooks(t *testing.T) {
	ctx := context.Background()
	hooks, store := newWebhooks(t)
	w, secret, err := hooks.CreateWebhook(ctx, org, "https://hooks.example.com/a", []string{webhook.EventSessionStopped})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(secret, webhook.SecretPrefix) || w.ID == "" || w.OrgID != org || w.CreatedAt.IsZero() {
		t.Fatalf("created %+v with secret %q", w, secret)
	}

	t.Run("sealed at rest", func(t *testing.T) {
		stored, err := store.Store.ListWebhooks(ctx, org)
		if err != nil || len(stored) != 1 {
			t.Fatalf("stored %v, %v", stored, err)
		}
		if len(stored[0].SealedSecret) == 0 || bytes.Contains(stored[0].SealedSecret, []byte(secret)) ||
			bytes.Contains(stored[0].SealedSecret, []byte(strings.TrimPrefix(secret, webhook.SecretPrefix))) {
			t.Fatalf("the store holds %q for the secret %q", stored[0].SealedSecret, secret)
		}
	})

	t.Run("never listed", func(t *testing.T) {
		got, err := hooks.ListWebhooks(ctx, org)
		if err != nil || len(got) != 1 {
			t.Fatalf("listed %v, %v", got, err)
		}
		if got[0].SealedSecret != nil || got[0].URL != w.URL || !slices.Equal(got[0].Events, w.Events) {
			t.Fatalf("listed %+v", got[0])
		}
	})

	t.Run("open for the dispatcher", func(t *testing.T) {
		eps, err := hooks.Endpoints(ctx, org)
		if err != nil || len(eps) != 1 {
			t.Fatalf("endpoints %v, %v", eps, err)
		}
		if e := eps[0]; e.ID != w.ID || e.OrgID != org || e.Secret != secret || e.URL != w.URL || !e.Wants(webhook.EventSessionStopped) || e.Wants(webhook.EventSessionStarted) {
			t.Fatalf("endpoint %+v", e)
		}
		if eps, err := hooks.Endpoints(ctx, "org-b"); err != nil || len(eps) != 0 {
			t.Fatalf("another organisation's endpoints: %v, %v", eps, err)
		}
	})

	t.Run("cached until changed", func(t *testing.T) {
		ids := func() []string {
			t.Helper()
			eps, err := hooks.Endpoints(ctx, org)
			if err != nil {
				t.Fatal(err)
			}
			var out []string
			for _, e := range eps {
				out = append(out, e.ID)
			}
			return out
		}
		before := store.lists.Load()
		for range 3 {
			if got := ids(); !slices.Equal(got, []string{w.ID}) {
				t.Fatalf("endpoints %v", got)
			}
		}
		if n := store.lists.Load() - before; n != 0 {
			t.Fatalf("%d look-ups in the store for cached endpoints", n)
		}
		w2, _, err := hooks.CreateWebhook(ctx, org, "https://hooks.example.com/b", nil)
		if err != nil {
			t.Fatal(err)
		}
		if got := ids(); !slices.Equal(got, []string{w.ID, w2.ID}) {
			t.Fatalf("endpoints after a create: %v", got)
		}
		if err := hooks.DeleteWebhook(ctx, org, w2.ID); err != nil {
			t.Fatal(err)
		}
		if got := ids(); !slices.Equal(got, []string{w.ID}) {
			t.Fatalf("endpoints after a delete: %v", got)
		}
	})

	t.Run("another organisation cannot delete it", func(t *testing.T) {
		if err := hooks.DeleteWebhook(ctx, "org-b", w.ID); arena.ErrorCode(err) != arena.ENOTFOUND {
			t.Fatalf("DeleteWebhook from org-b: %v", err)
		}
		if got, _ := hooks.ListWebhooks(ctx, org); len(got) != 1 {
			t.Fatalf("after a refused delete: %v", got)
		}
	})

	t.Run("a secret sealed for another endpoint does not open", func(t *testing.T) {
		stored, _ := store.Store.ListWebhooks(ctx, org)
		stray := &arena.Webhook{ID: "copied", OrgID: org, URL: "https://evil.example.com/", SealedSecret: stored[0].SealedSecret, CreatedAt: time.Now()}
		if err := store.Store.CreateWebhook(ctx, stray); err != nil {
			t.Fatal(err)
		}
		fresh := server.NewWebhooks(store, newSealer(t), nil) // nothing cached
		eps, err := fresh.Endpoints(ctx, org)
		if err != nil || len(eps) != 1 || eps[0].ID != w.ID {
			t.Fatalf("endpoints with a copied secret: %+v, %v", eps, err)
		}
		if err := store.Store.DeleteWebhook(ctx, org, stray.ID); err != nil {
			t.Fatal(err)
		}
	})

	t.Run("capped per organisation", func(t *testing.T) {
		for i := 1; i < arena.MaxWebhooksPerOrg; i++ {
			if _, _, err := hooks.CreateWebhook(ctx, org, fmt.Sprintf("https://hooks.example.com/%d", i), nil); err != nil {
				t.Fatalf("webhook %d: %v", i+1, err)
			}
		}
		if _, _, err := hooks.CreateWebhook(ctx, org, "https://hooks.example.com/over", nil); arena.ErrorCode(err) != arena.ECONFLICT {
			t.Fatalf("webhook %d: %v, want ECONFLICT", arena.MaxWebhooksPerOrg+1, err)
		}
		// The cap is the organisation's own.
		if _, _, err := hooks.CreateWebhook(ctx, "org-b", "https://hooks.example.com/b", nil); err != nil {
			t.Fatalf("another organisation's: %v", err)
		}
		if err := hooks.DeleteWebhook(ctx, org, w.ID); err != nil {
			t.Fatal(err)
		}
		if _, _, err := hooks.CreateWebhook(ctx, org, "https://hooks.example.com/again", nil); err != nil {
			t.Fatalf("after a delete: %v", err)
		}
	})
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
