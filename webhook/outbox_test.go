package webhook

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/arena-hq/arena"
)

// memOutbox is an Outbox in memory that knows which endpoints exist, as a
// store's foreign key would.
type memOutbox struct {
	mu        sync.Mutex
	endpoints map[string]bool
	kept      map[string]arena.WebhookDelivery
	saves     int
}

func newMemOutbox(endpointIDs ...string) *memOutbox {
	o := &memOutbox{endpoints: map[string]bool{}, kept: map[string]arena.WebhookDelivery{}}
	for _, id := range endpointIDs {
		o.endpoints[id] = true
	}
	return o
}

func (o *memOutbox) SaveWebhookDelivery(_ context.Context, d *arena.WebhookDelivery) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	if !o.endpoints[d.WebhookID] {
		return arena.Errorf(arena.ENOTFOUND, "webhook %s not found", d.WebhookID)
	}
	o.saves++
	o.kept[d.ID] = *d
	return nil
}

func (o *memOutbox) DeleteWebhookDelivery(_ context.Context, id string) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	delete(o.kept, id)
	return nil
}

func (o *memOutbox) ListWebhookDeliveries(context.Context) ([]*arena.WebhookDelivery, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	var out []*arena.WebhookDelivery
	for _, d := range o.kept {
		out = append(out, &d)
	}
	return out, nil
}

// deliveries returns what the outbox keeps.
func (o *memOutbox) deliveries() []arena.WebhookDelivery {
	o.mu.Lock()
	defer o.mu.Unlock()
	return slices.Collect(func(yield func(arena.WebhookDelivery) bool) {
		for _, d := range o.kept {
			if !yield(d) {
				return
			}
		}
	})
}

// waitKept waits until the outbox holds deliveries that satisfy cond.
func waitKept(t *testing.T, o *memOutbox, what string, cond func([]arena.WebhookDelivery) bool) []arena.WebhookDelivery {
	t.Helper()
	deadline := time.Now().Add(waitTimeout)
	for {
		kept := o.deliveries()
		if cond(kept) {
			return kept
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s; the outbox keeps %+v", what, kept)
		}
		time.Sleep(time.Millisecond)
	}
}

// TestOutboxOutlivesTheDispatcher checks that a delivery not done when the
// dispatcher stops is kept, with its attempts, and that the next
// dispatcher makes it with the same body and event id, then forgets it.
func TestOutboxOutlivesTheDispatcher(t *testing.T) {
	var up sync.Mutex // held while the receiver is down
	down := true
	rc := newReceiver(t, func(_ int, w http.ResponseWriter, _ *http.Request) {
		up.Lock()
		defer up.Unlock()
		if down {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		w.WriteHeader(http.StatusOK)
	})
	outbox := newMemOutbox("ep1")
	cfg := fast(endpoints(rc.endpoint("ep1", "studio")))
	cfg.Outbox = outbox
	// Retries far apart: the first dispatcher stops between them.
	cfg.InitialBackoff, cfg.MaxBackoff = time.Hour, time.Hour
	first := start(t, cfg)
	first.Publish(event("e1", "studio", EventSessionStopped))
	firstHit := rc.next(t)
	kept := waitKept(t, outbox, "the failed attempt recorded", func(k []arena.WebhookDelivery) bool {
		return len(k) == 1 && k[0].Attempts == 1
	})
	if d := kept[0]; d.WebhookID != "ep1" || d.OrgID != "studio" || d.EventID != "e1" || d.EventType != EventSessionStopped ||
		!bytes.Equal(d.Body, firstHit.body) || !d.NextAt.After(time.Now().Add(30*time.Minute)) {
		t.Fatalf("kept %+v", d)
	}
	first.stop(t)

	// A new dispatcher, as after a restart or a new leader, with the
	// receiver back and a rotated secret.
	up.Lock()
	down = false
	up.Unlock()
	secret := rc.rotate()
	ep := rc.endpoint("ep1", "studio")
	ep.Secret = secret
	cfg.Endpoints = endpoints(ep)
	cfg.InitialBackoff, cfg.MaxBackoff = time.Millisecond, 10*time.Millisecond
	// Its retry is due in an hour: resume it now for the test.
	outbox.mu.Lock()
	for id, d := range outbox.kept {
		d.NextAt = time.Now()
		outbox.kept[id] = d
	}
	outbox.mu.Unlock()
	second := start(t, cfg)
	h := rc.next(t)
	if h.verified != nil || !bytes.Equal(h.body, firstHit.body) || h.header.Get(HeaderEventID) != "e1" || h.header.Get(HeaderAttempt) != "2" {
		t.Fatalf("resumed delivery: verified %v, attempt %q, body %s", h.verified, h.header.Get(HeaderAttempt), h.body)
	}
	waitKept(t, outbox, "the delivery forgotten", func(k []arena.WebhookDelivery) bool { return len(k) == 0 })
	waitStats(t, second.Dispatcher, "the delivery", func(s Stats) bool { return s.Delivered == 1 && s.Pending == 0 })
}

// TestOutboxOutcomes checks that every end of a delivery removes it from
// the outbox, and that an endpoint removed meanwhile cancels a resumed one.
func TestOutboxOutcomes(t *testing.T) {
	for _, tc := range []struct {
		name   string
		status int
		want   func(Stats) bool
	}{
		{"delivered", http.StatusNoContent, func(s Stats) bool { return s.Delivered == 1 }},
		{"gone", http.StatusGone, func(s Stats) bool { return s.Gone == 1 }},
		{"given up", http.StatusBadGateway, func(s Stats) bool { return s.GivenUp == 1 }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rc := newReceiver(t, answer(tc.status))
			outbox := newMemOutbox("ep1")
			cfg := fast(endpoints(rc.endpoint("ep1", "studio")))
			cfg.Outbox, cfg.MaxAttempts = outbox, 2
			d := start(t, cfg)
			d.Publish(event("e1", "studio", EventSessionRunning))
			waitStats(t, d.Dispatcher, tc.name, func(s Stats) bool { return tc.want(s) && s.Pending == 0 })
			waitKept(t, outbox, "the outbox emptied", func(k []arena.WebhookDelivery) bool { return len(k) == 0 })
			if outbox.saves == 0 {
				t.Error("the delivery was never kept")
			}
		})
	}

	t.Run("resumed for an endpoint removed meanwhile", func(t *testing.T) {
		rc := newReceiver(t, answer(http.StatusOK))
		outbox := newMemOutbox("ep1", "ep2")
		for i, ep := range []string{"ep1", "ep2"} {
			_ = outbox.SaveWebhookDelivery(context.Background(), &arena.WebhookDelivery{
				ID: "d" + strconv.Itoa(i), OrgID: "studio", WebhookID: ep, EventID: "e" + strconv.Itoa(i),
				EventType: EventSessionRunning, Body: []byte(`{}`), Attempts: 3, NextAt: time.Now(),
			})
		}
		cfg := fast(endpoints(rc.endpoint("ep1", "studio"))) // ep2 is gone
		cfg.Outbox = outbox
		d := start(t, cfg)
		if h := rc.next(t); h.header.Get(HeaderEventID) != "e0" || h.header.Get(HeaderAttempt) != "4" || string(h.body) != "{}" {
			t.Fatalf("resumed delivery: %v %s", h.header, h.body)
		}
		waitStats(t, d.Dispatcher, "both settled", func(s Stats) bool { return s.Delivered == 1 && s.Cancelled == 1 && s.Pending == 0 })
		waitKept(t, outbox, "the outbox emptied", func(k []arena.WebhookDelivery) bool { return len(k) == 0 })
		if got := rc.received(); len(got) != 1 {
			t.Errorf("the receiver got %d requests, want 1", len(got))
		}
	})

	t.Run("an endpoint removed before fan-out gets nothing kept", func(t *testing.T) {
		rc := newReceiver(t, answer(http.StatusOK))
		outbox := newMemOutbox() // the store no longer has ep1
		cfg := fast(endpoints(rc.endpoint("ep1", "studio")))
		cfg.Outbox = outbox
		d := start(t, cfg)
		d.Publish(event("e1", "studio", EventSessionRunning))
		waitStats(t, d.Dispatcher, "the event fanned out", func(s Stats) bool { return s.Published == 1 && s.Queued == 0 && s.Pending == 0 })
		if got := rc.received(); len(got) != 0 {
			t.Errorf("a removed endpoint received %v", got)
		}
	})
}

// TestResumedWhileLookupsFail checks that a resumed delivery waits for its
// endpoint's look-up to succeed, spending no attempt, rather than being
// sent without a URL or secret and given up.
func TestResumedWhileLookupsFail(t *testing.T) {
	rc := newReceiver(t, answer(http.StatusOK))
	outbox := newMemOutbox("ep1")
	_ = outbox.SaveWebhookDelivery(context.Background(), &arena.WebhookDelivery{
		ID: "d1", OrgID: "studio", WebhookID: "ep1", EventID: "e1", EventType: EventSessionRunning,
		Body: []byte(`{"id":"e1"}`), Attempts: 1, NextAt: time.Now(),
	})
	var lookups atomic.Int64
	src := endpoints(rc.endpoint("ep1", "studio"))
	cfg := fast(EndpointFunc(func(ctx context.Context, org string) ([]Endpoint, error) {
		if lookups.Add(1) <= 3 {
			return nil, errors.New("the store is down")
		}
		return src.Endpoints(ctx, org)
	}))
	cfg.Outbox = outbox
	d := start(t, cfg)
	h := rc.next(t)
	if h.verified != nil || h.header.Get(HeaderAttempt) != "2" || string(h.body) != `{"id":"e1"}` {
		t.Fatalf("resumed delivery: verified %v, attempt %q, body %s", h.verified, h.header.Get(HeaderAttempt), h.body)
	}
	s := waitStats(t, d.Dispatcher, "the delivery", func(s Stats) bool { return s.Delivered == 1 && s.Pending == 0 })
	if s.GivenUp != 0 || lookups.Load() < 4 {
		t.Errorf("stats %+v after %d look-ups", s, lookups.Load())
	}
	waitKept(t, outbox, "the outbox emptied", func(k []arena.WebhookDelivery) bool { return len(k) == 0 })
}
