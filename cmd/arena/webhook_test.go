package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	nethttp "net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/arena-hq/arena/client"
	"github.com/arena-hq/arena/docker/dockertest"
	"github.com/arena-hq/arena/webhook"
)

// hookReceiver is a matchmaker's webhook endpoint on loopback. It fails the
// first deliveries it gets, as a receiver that is restarting would: the
// first with a 500, the second by dropping the connection without an
// answer. Then it accepts each event whose signature verifies, once by id.
type hookReceiver struct {
	*httptest.Server
	tb testing.TB

	mu       sync.Mutex
	secret   string
	requests int
	failures int
	// accepted holds the events accepted, in the order they came, once
	// each; attempts the Arena-Attempt each was accepted at.
	accepted []webhook.Event
	attempts map[string]int
	repeats  int
	refused  []string
	// down answers every request 503, as a receiver that is down.
	down bool
}

// setDown makes the receiver answer 503 to everything, or not.
func (r *hookReceiver) setDown(down bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.down = down
}

// requestCount returns how many requests the receiver got.
func (r *hookReceiver) requestCount() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.requests
}

func newHookReceiver(tb testing.TB, failures int) *hookReceiver {
	r := &hookReceiver{tb: tb, failures: failures, attempts: map[string]int{}}
	r.Server = httptest.NewServer(nethttp.HandlerFunc(r.serve))
	tb.Cleanup(r.Close)
	return r
}

func (r *hookReceiver) setSecret(secret string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.secret = secret
}

func (r *hookReceiver) serve(w nethttp.ResponseWriter, req *nethttp.Request) {
	body, err := io.ReadAll(req.Body)
	r.mu.Lock()
	defer r.mu.Unlock()
	r.requests++
	switch {
	case err != nil:
		r.refused = append(r.refused, "reading the body: "+err.Error())
		w.WriteHeader(nethttp.StatusBadRequest)
		return
	case r.down:
		w.WriteHeader(nethttp.StatusServiceUnavailable)
		return
	case r.requests == 1 && r.failures >= 1:
		w.WriteHeader(nethttp.StatusInternalServerError)
		return
	case r.requests == 2 && r.failures >= 2:
		conn, _, err := nethttp.NewResponseController(w).Hijack()
		if err != nil {
			r.tb.Errorf("hijacking a delivery's connection: %v", err)
			return
		}
		conn.Close() // no answer at all
		return
	}
	// Verify before parsing: the signature is over the raw body.
	if err := webhook.Verify(r.secret, req.Header.Get(webhook.HeaderSignature), req.Header.Get(webhook.HeaderTimestamp), body, 0, time.Now()); err != nil {
		r.refused = append(r.refused, err.Error())
		w.WriteHeader(nethttp.StatusUnauthorized)
		return
	}
	var e webhook.Event
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&e); err != nil || e.ID != req.Header.Get(webhook.HeaderEventID) || e.Type != req.Header.Get(webhook.HeaderEventType) {
		r.refused = append(r.refused, fmt.Sprintf("body %s does not match its headers (%v)", body, err))
		w.WriteHeader(nethttp.StatusBadRequest)
		return
	}
	if _, seen := r.attempts[e.ID]; seen {
		r.repeats++ // at least once: a repeat is acknowledged and ignored
		return
	}
	r.attempts[e.ID], _ = strconv.Atoi(req.Header.Get(webhook.HeaderAttempt))
	r.accepted = append(r.accepted, e)
}

// of returns the events accepted of the session the Session API knows as id.
func (r *hookReceiver) of(id string) []webhook.Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []webhook.Event
	for _, e := range r.accepted {
		if e.Session != nil && e.Session.ID == id {
			out = append(out, e)
		}
	}
	return out
}

// nodeEvents returns the node events accepted, as "type node", in the
// order they came.
func (r *hookReceiver) nodeEvents() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for _, e := range r.accepted {
		if e.Node != nil {
			out = append(out, e.Type+" "+e.Node.ID)
		}
	}
	return out
}

// waitFor waits until the receiver has accepted events of every type in
// types for the session id, and returns them ordered by their time.
func (r *hookReceiver) waitFor(id string, types ...string) []webhook.Event {
	r.tb.Helper()
	var got []webhook.Event
	dockertest.Eventually(r.tb, dockertest.Timeout, func() error {
		got = r.of(id)
		for _, t := range types {
			if !slices.ContainsFunc(got, func(e webhook.Event) bool { return e.Type == t }) {
				return fmt.Errorf("session %s: events %v, none of type %s yet", id, eventTypes(got), t)
			}
		}
		return nil
	})
	slices.SortStableFunc(got, func(a, b webhook.Event) int { return a.At.Compare(b.At) })
	return got
}

func eventTypes(events []webhook.Event) []string {
	out := make([]string, len(events))
	for i, e := range events {
		out[i] = e.Type
	}
	return out
}

// TestWebhookEndToEnd registers a matchmaker's endpoint on a real `arena
// dev`, runs a session through its life, and finds each of its events at
// the endpoint, signed, once, in order, delivered despite the endpoint's
// first failures; another organisation's sessions are told to its own
// endpoint alone.
func TestWebhookEndToEnd(t *testing.T) {
	s := newStack(t, 8)
	ctx := context.Background()
	started, running, stopped := webhook.EventSessionStarted, webhook.EventSessionRunning, webhook.EventSessionStopped

	// The dev organisation's endpoint, through the API.
	mine := newHookReceiver(t, 2)
	admin := s.api().Admin()
	hook, err := admin.CreateWebhook(ctx, s.cfg.OrgID, client.WebhookRequest{URL: mine.URL})
	if err != nil || !strings.HasPrefix(hook.Secret, webhook.SecretPrefix) || hook.Webhook.URL != mine.URL {
		t.Fatalf("creating the endpoint: %v %s", err, hook.Raw())
	}
	mine.setSecret(hook.Secret)
	if l, err := admin.ListWebhooks(ctx, s.cfg.OrgID); err != nil || !strings.Contains(string(l.Raw()), hook.Webhook.ID) || strings.Contains(string(l.Raw()), hook.Secret) {
		t.Fatalf("listing the endpoints: %v %s", err, l.Raw())
	}

	// A rival organisation with an application and an endpoint of its own,
	// made through the CLI by the operator.
	rival := s.newTenant("webhook-rival")
	image := dockertest.EchoImage(t)
	repo, tag, _ := strings.Cut(image, ":")
	app := map[string]any{
		"name": "duel", "repository": repo, "tags": []map[string]any{{"name": tag, "priority": 1}},
		"ports": []map[string]any{{"container": 7777, "protocol": "tcp"}}, "resources": map[string]any{"milliCpu": 100, "memoryMb": 64},
	}
	if _, err := s.api(rival.token).Admin().CreateApplication(ctx, rival.org, app); err != nil {
		t.Fatalf("the rival's application: %v", err)
	}
	theirs := newHookReceiver(t, 0)
	var out bytes.Buffer
	cli := []string{"--server", s.URL, "--token", testToken, "--org", rival.org}
	if err := runWebhook(ctx, append([]string{"create", theirs.URL, "--event", started, "--event", running, "--event", stopped, "-o", "json"}, cli...), &out, io.Discard); err != nil {
		t.Fatalf("arena webhook create: %v", err)
	}
	var rivalHook struct{ Secret string }
	if err := json.Unmarshal(out.Bytes(), &rivalHook); err != nil || rivalHook.Secret == "" {
		t.Fatalf("arena webhook create -o json: %s (%v)", out.String(), err)
	}
	theirs.setSecret(rivalHook.Secret)

	// Both organisations run a session and stop it.
	rivals := s.api(rival.token).Sessions()
	if _, err := rivals.Create(ctx, client.SessionRequest{Location: "local", Image: "duel", ID: "rival-match"}); err != nil {
		t.Fatalf("the rival's session: %v", err)
	}
	c := s.create(client.SessionRequest{ID: "hooked", Labels: map[string]string{"match": "7"}})
	s.waitStatus(c.ID, "running")
	// A session stopped before it ran has no running event: let it run.
	asRival := *s
	asRival.token = rival.token
	asRival.waitStatus("rival-match", "running")
	if err := s.api().Sessions().Stop(ctx, c.ID); err != nil {
		t.Fatalf("DELETE: %v", err)
	}
	if err := rivals.Stop(ctx, "rival-match"); err != nil {
		t.Fatalf("DELETE of the rival's: %v", err)
	}

	got := mine.waitFor(c.ID, started, running, stopped)
	if !slices.Equal(eventTypes(got), []string{started, running, stopped}) {
		t.Fatalf("events of %s by time: %v, want each of started, running and stopped once", c.ID, eventTypes(got))
	}
	wantStatus := map[string]string{started: "created", running: "running", stopped: "exited"}
	for _, e := range got {
		ss := e.Session
		if ss.Status != wantStatus[e.Type] || ss.Image != "echo" || ss.Location != "local" || ss.Host != "127.0.0.1" ||
			len(ss.Ports) != 2 || ss.Labels["match"] != "7" || e.At.IsZero() {
			t.Errorf("%s event tells of %+v at %v", e.Type, ss, e.At)
		}
	}
	if last := got[len(got)-1].Session; last.StopReason != "deleted" {
		t.Errorf("stopped event: reason %q, want deleted", last.StopReason)
	}
	theirEvents := theirs.waitFor("rival-match", started, running, stopped)
	if !slices.Equal(eventTypes(theirEvents), []string{started, running, stopped}) {
		t.Fatalf("events of the rival's session by time: %v", eventTypes(theirEvents))
	}

	mine.mu.Lock()
	retried := slices.ContainsFunc(got, func(e webhook.Event) bool { return mine.attempts[e.ID] > 1 })
	if mine.requests < len(got)+2 || !retried || len(mine.refused) > 0 {
		t.Errorf("the endpoint had %d requests for %d events, a retry accepted: %v; refused %v", mine.requests, len(got), retried, mine.refused)
	}
	t.Logf("%d requests, %d repeats acknowledged", mine.requests, mine.repeats)
	mine.mu.Unlock()
	// Neither organisation hears of the other's session.
	if leaked := mine.of("rival-match"); len(leaked) > 0 {
		t.Errorf("the dev organisation's endpoint heard of the rival's session: %v", eventTypes(leaked))
	}
	if leaked := theirs.of(c.ID); len(leaked) > 0 {
		t.Errorf("the rival's endpoint heard of the dev organisation's session: %v", eventTypes(leaked))
	}

	// The CLI lists the rival's endpoint without its secret, and deletes it.
	out.Reset()
	if err := runWebhook(ctx, append([]string{"list", "-o", "json"}, cli...), &out, io.Discard); err != nil {
		t.Fatalf("arena webhook list: %v", err)
	}
	var list struct {
		Webhooks []struct{ ID, URL string }
	}
	if err := json.Unmarshal(out.Bytes(), &list); err != nil || len(list.Webhooks) != 1 || list.Webhooks[0].URL != theirs.URL ||
		strings.Contains(out.String(), rivalHook.Secret) {
		t.Fatalf("arena webhook list -o json: %s (%v)", out.String(), err)
	}
	if err := runWebhook(ctx, append([]string{"delete", list.Webhooks[0].ID}, cli...), io.Discard, io.Discard); err != nil {
		t.Fatalf("arena webhook delete: %v", err)
	}
	out.Reset()
	if err := runWebhook(ctx, append([]string{"list"}, cli...), &out, io.Discard); err != nil || strings.Contains(out.String(), theirs.URL) {
		t.Fatalf("arena webhook list after delete: %s (%v)", out.String(), err)
	}
}

// TestWebhooksSurviveARestart: a delivery still being retried when the
// control plane stops is made by the next one, as it was signed and with
// its attempts counted on, and not lost.
func TestWebhooksSurviveARestart(t *testing.T) {
	s := newStack(t, 8)
	r := newHookReceiver(t, 0)
	r.setDown(true)
	hook, err := s.api().Admin().CreateWebhook(t.Context(), s.cfg.OrgID, client.WebhookRequest{URL: r.URL, Events: []string{webhook.EventSessionStarted}})
	if err != nil || hook.Secret == "" {
		t.Fatalf("creating the endpoint: %v %s", err, hook.Raw())
	}
	r.setSecret(hook.Secret)
	c := s.create(client.SessionRequest{ID: "durable"})
	// Two attempts: a retry is queued only once the failure before it is
	// in the store.
	dockertest.Eventually(t, dockertest.Timeout, func() error {
		if n := r.requestCount(); n < 2 {
			return fmt.Errorf("%d attempts at the endpoint, want 2", n)
		}
		return nil
	})

	// Arena stops while the endpoint is down, which then comes back.
	s.opts.listen = strings.TrimPrefix(s.URL, "http://")
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	r.setDown(false)
	s.stack = nil
	s.start()

	got := r.waitFor(c.ID, webhook.EventSessionStarted)
	r.mu.Lock()
	attempt, refused := r.attempts[got[0].ID], slices.Clone(r.refused)
	r.mu.Unlock()
	if attempt < 3 || len(refused) > 0 {
		t.Fatalf("the started event arrived at attempt %d (refused: %v), want a retry of the kept delivery", attempt, refused)
	}
	if err := s.api().Sessions().Stop(t.Context(), c.ID); err != nil {
		t.Fatalf("DELETE: %v", err)
	}
	s.waitNoContainers()
}
