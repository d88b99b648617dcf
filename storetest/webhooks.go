package storetest

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/arena-hq/arena"
)

// The tests of webhooks: endpoints an organisation registered for its
// sessions' events. As for users and tokens, an organisation never reaches
// another's webhooks, and lists of an unknown organisation are empty.

// testWebhookRoundTrip checks that every field of a webhook comes back as
// it was written: a field added to arena.Webhook that the store does not
// keep fails here.
func testWebhookRoundTrip(t *testing.T, s arena.Store) {
	createOrg(t, s, "org-1")
	full := filled[arena.Webhook](t)
	full.ID, full.OrgID = "wh-full", "org-1"
	tests := []struct {
		name string
		hook *arena.Webhook
	}{
		{"every field", &full},
		{"zero values", &arena.Webhook{ID: "wh-zero", OrgID: "org-1"}},
		{"empty events", func() *arena.Webhook {
			w := newWebhook("wh-empty", "org-1", at(3))
			w.Events = []string{}
			return w
		}()},
		{"one event, a URL with a query", func() *arena.Webhook {
			w := newWebhook("wh-one", "org-1", at(4))
			w.URL = "https://hooks.example.com/arena?token=x&env=prod"
			w.Events = []string{"session.stopped"}
			return w
		}()},
		{"sealed bytes of every value", func() *arena.Webhook {
			w := newWebhook("wh-bytes", "org-1", at(5))
			w.SealedSecret = make([]byte, 256)
			for i := range w.SealedSecret {
				w.SealedSecret[i] = byte(i)
			}
			return w
		}()},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			createWebhook(t, s, tc.hook)
			got := listWebhooks(t, s, "org-1")
			i := slices.IndexFunc(got, func(w *arena.Webhook) bool { return w.ID == tc.hook.ID })
			if i < 0 {
				t.Fatalf("webhook %s is not listed", tc.hook.ID)
			}
			checkWebhook(t, got[i], tc.hook)
		})
	}
}

func testCreateWebhook(t *testing.T, s arena.Store) {
	createOrg(t, s, "org-1")
	createOrg(t, s, "org-2")
	first := newWebhook("wh-1", "org-1", at(1))
	createWebhook(t, s, first)
	clash := newWebhook("wh-1", "org-1", at(2))
	clash.URL = "https://elsewhere.example.com/"
	tests := []struct {
		name string
		hook *arena.Webhook
		code string
	}{
		{"new", newWebhook("wh-2", "org-1", at(3)), ""},
		{"same URL again", newWebhook("wh-3", "org-1", at(4)), ""},
		{"duplicate id", clash, arena.ECONFLICT},
		{"id of another organization's webhook", newWebhook("wh-1", "org-2", at(5)), arena.ECONFLICT},
		{"unknown organization", newWebhook("wh-4", "org-nope", at(6)), arena.ENOTFOUND},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			checkCode(t, s.CreateWebhook(context.Background(), tc.hook), tc.code)
		})
	}
	t.Run("first kept", func(t *testing.T) {
		checkWebhooks(t, listWebhooks(t, s, "org-1"), first, tests[0].hook, tests[1].hook)
		checkWebhooks(t, listWebhooks(t, s, "org-2"))
		checkWebhooks(t, listWebhooks(t, s, "org-nope"))
	})
}

func testListWebhooks(t *testing.T, s arena.Store) {
	createOrg(t, s, "org-1")
	createOrg(t, s, "org-2")
	// Created in an order that is neither their creation times' nor their
	// ids'; b and a share a creation time, which their ids then order.
	c := newWebhook("wh-c", "org-1", at(1))
	b := newWebhook("wh-b", "org-1", at(2))
	d := newWebhook("wh-d", "org-1", at(3))
	a := newWebhook("wh-a", "org-1", at(2))
	theirs := newWebhook("wh-0", "org-2", at(0))
	for _, w := range []*arena.Webhook{d, theirs, b, c, a} {
		createWebhook(t, s, w)
	}
	tests := []struct {
		name string
		org  string
		want []*arena.Webhook
	}{
		{"organization 1, by creation time then id", "org-1", []*arena.Webhook{c, a, b, d}},
		{"organization 2", "org-2", []*arena.Webhook{theirs}},
		{"unknown organization", "org-nope", nil},
		{"empty organization id", "", nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			checkWebhooks(t, listWebhooks(t, s, tc.org), tc.want...)
		})
	}
}

// testDeleteWebhook checks that a webhook goes only from its own
// organisation, and that a failed delete changes nothing.
func testDeleteWebhook(t *testing.T, s arena.Store) {
	ctx := context.Background()
	createOrg(t, s, "org-1")
	createOrg(t, s, "org-2")
	mine, other := newWebhook("wh-1", "org-1", at(1)), newWebhook("wh-2", "org-1", at(2))
	theirs := newWebhook("wh-3", "org-2", at(3))
	for _, w := range []*arena.Webhook{mine, other, theirs} {
		createWebhook(t, s, w)
	}
	untouched := func(t *testing.T) {
		t.Helper()
		checkWebhooks(t, listWebhooks(t, s, "org-1"), mine, other)
		checkWebhooks(t, listWebhooks(t, s, "org-2"), theirs)
	}

	t.Run("refused", func(t *testing.T) {
		tests := []struct{ name, org, id string }{
			{"another organization's webhook", "org-1", theirs.ID},
			{"from another organization", "org-2", mine.ID},
			{"unknown webhook", "org-1", "wh-nope"},
			{"unknown organization", "org-nope", mine.ID},
			{"empty id", "org-1", ""},
			{"case differs", "org-1", "WH-1"},
		}
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				checkCode(t, s.DeleteWebhook(ctx, tc.org, tc.id), arena.ENOTFOUND)
				untouched(t)
			})
		}
	})

	t.Run("deletes", func(t *testing.T) {
		if err := s.DeleteWebhook(ctx, "org-1", mine.ID); err != nil {
			t.Fatalf("DeleteWebhook: %v", err)
		}
		checkWebhooks(t, listWebhooks(t, s, "org-1"), other)
		checkWebhooks(t, listWebhooks(t, s, "org-2"), theirs)
	})

	t.Run("again", func(t *testing.T) {
		checkCode(t, s.DeleteWebhook(ctx, "org-1", mine.ID), arena.ENOTFOUND)
	})

	t.Run("id free again", func(t *testing.T) {
		createWebhook(t, s, newWebhook(mine.ID, "org-2", at(10)))
	})
}

func testWebhooksCanceledContext(t *testing.T, s arena.Store) {
	createOrg(t, s, "org-1")
	existing := newWebhook("wh-1", "org-1", at(1))
	createWebhook(t, s, existing)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	tests := []struct {
		name string
		call func() error
	}{
		{"CreateWebhook", func() error { return s.CreateWebhook(ctx, newWebhook("wh-2", "org-1", at(2))) }},
		{"ListWebhooks", func() error { _, err := s.ListWebhooks(ctx, "org-1"); return err }},
		{"DeleteWebhook", func() error { return s.DeleteWebhook(ctx, "org-1", existing.ID) }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if err := tc.call(); !errors.Is(err, context.Canceled) {
				t.Errorf("got %v, want an error that is context.Canceled", err)
			}
		})
	}
	t.Run("nothing written", func(t *testing.T) {
		checkWebhooks(t, listWebhooks(t, s, "org-1"), existing)
	})
}

// newWebhook returns a webhook with every field set, as the server makes
// them: its secret sealed, two event types.
func newWebhook(id, org string, created time.Time) *arena.Webhook {
	return &arena.Webhook{
		ID: id, OrgID: org, URL: "https://hooks.example.com/" + id,
		SealedSecret: []byte("sealed " + id),
		Events:       []string{"session.started", "session.stopped"},
		CreatedAt:    created,
	}
}

func createWebhook(tb testing.TB, s arena.Store, w *arena.Webhook) {
	tb.Helper()
	if err := s.CreateWebhook(context.Background(), w); err != nil {
		tb.Fatalf("CreateWebhook %s: %v", w.ID, err)
	}
}

func listWebhooks(tb testing.TB, s arena.Store, org string) []*arena.Webhook {
	tb.Helper()
	got, err := s.ListWebhooks(context.Background(), org)
	if err != nil {
		tb.Fatalf("ListWebhooks %s: %v", org, err)
	}
	return got
}

func checkWebhook(tb testing.TB, got, want *arena.Webhook) {
	tb.Helper()
	checkUTC(tb, "CreatedAt", got.CreatedAt)
	equal(tb, "webhook "+want.ID, normWebhook(got), normWebhook(want))
}

func checkWebhooks(tb testing.TB, got []*arena.Webhook, want ...*arena.Webhook) {
	tb.Helper()
	id := func(w *arena.Webhook) string { return w.ID }
	if !slices.Equal(ids(got, id), ids(want, id)) {
		tb.Fatalf("got webhooks %v, want %v", ids(got, id), ids(want, id))
	}
	for i := range got {
		checkWebhook(tb, got[i], want[i])
	}
}

// normWebhook returns w with what a store may change undone: the time zone
// and the difference between nil and empty.
func normWebhook(w *arena.Webhook) arena.Webhook {
	c := *w
	c.Events, c.SealedSecret = slices.Clone(w.Events), slices.Clone(w.SealedSecret)
	if len(c.Events) == 0 {
		c.Events = nil
	}
	if len(c.SealedSecret) == 0 {
		c.SealedSecret = nil
	}
	c.CreatedAt = c.CreatedAt.UTC()
	return c
}

// testWebhookDeliveries checks the deliveries a dispatcher keeps: every
// field round-trips, saving again records the attempts, the soonest due
// comes first, and a delivery never outlives its webhook.
func testWebhookDeliveries(t *testing.T, s arena.Store) {
	ctx := context.Background()
	createOrg(t, s, "org-1")
	createWebhook(t, s, newWebhook("wh-1", "org-1", at(1)))
	createWebhook(t, s, newWebhook("wh-2", "org-1", at(2)))
	list := func() []*arena.WebhookDelivery {
		t.Helper()
		got, err := s.ListWebhookDeliveries(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range got {
			checkUTC(t, "NextAt", d.NextAt)
		}
		return got
	}
	save := func(d *arena.WebhookDelivery) {
		t.Helper()
		if err := s.SaveWebhookDelivery(ctx, d); err != nil {
			t.Fatalf("SaveWebhookDelivery %s: %v", d.ID, err)
		}
	}

	full := filled[arena.WebhookDelivery](t)
	full.ID, full.OrgID, full.WebhookID, full.NextAt = "d-full", "org-1", "wh-1", at(50)
	full.Body = []byte{0, 1, 2, 0xff, '{', '}'} // any bytes
	save(&full)
	soon := &arena.WebhookDelivery{ID: "d-soon", OrgID: "org-1", WebhookID: "wh-2", EventID: "e-2", EventType: "session.running", Body: []byte(`{}`), NextAt: at(10)}
	save(soon)
	checkDeliveries(t, list(), soon, &full)

	// Saving again records attempts and the next time; the rest stays.
	again := full
	again.Attempts, again.NextAt, again.Body = full.Attempts+1, at(5), []byte("ignored")
	save(&again)
	want := full
	want.Attempts, want.NextAt = again.Attempts, at(5)
	checkDeliveries(t, list(), &want, soon)

	// A delivery to a webhook that does not exist is not kept.
	err := s.SaveWebhookDelivery(ctx, &arena.WebhookDelivery{ID: "d-orphan", OrgID: "org-1", WebhookID: "wh-none", Body: []byte(`{}`), NextAt: at(1)})
	if arena.ErrorCode(err) != arena.ENOTFOUND {
		t.Fatalf("a delivery to a missing webhook: %v, want not found", err)
	}

	// Done deliveries go; forgetting one twice is no error.
	for range 2 {
		if err := s.DeleteWebhookDelivery(ctx, "d-full"); err != nil {
			t.Fatal(err)
		}
	}
	checkDeliveries(t, list(), soon)

	// Removing a webhook removes its deliveries, and a retry of one then
	// finds it gone.
	if err := s.DeleteWebhook(ctx, "org-1", "wh-2"); err != nil {
		t.Fatal(err)
	}
	if got := list(); len(got) != 0 {
		t.Fatalf("deliveries of a removed webhook are kept: %+v", got)
	}
	soon.Attempts++
	if err := s.SaveWebhookDelivery(ctx, soon); arena.ErrorCode(err) != arena.ENOTFOUND {
		t.Fatalf("a retry for a removed webhook: %v, want not found", err)
	}
}

func checkDeliveries(tb testing.TB, got []*arena.WebhookDelivery, want ...*arena.WebhookDelivery) {
	tb.Helper()
	id := func(d *arena.WebhookDelivery) string { return d.ID }
	if !slices.Equal(ids(got, id), ids(want, id)) {
		tb.Fatalf("got deliveries %v, want %v", ids(got, id), ids(want, id))
	}
	for i := range got {
		w := *want[i]
		w.NextAt = w.NextAt.UTC() // the test's times are in another zone
		equal(tb, "delivery "+w.ID, *got[i], w)
	}
}
