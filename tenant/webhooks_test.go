package tenant_test

import (
	"bytes"
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/arena-hq/arena"
	"github.com/arena-hq/arena/sqlite"
	"github.com/arena-hq/arena/tenant"
	"github.com/arena-hq/arena/webhook"
)

// countingStore counts the look-ups of webhooks in the store.
type countingStore struct {
	arena.Store
	lists atomic.Int64
}

func (c *countingStore) ListWebhooks(ctx context.Context, orgID string) ([]*arena.Webhook, error) {
	c.lists.Add(1)
	return c.Store.ListWebhooks(ctx, orgID)
}

func newWebhooks(t *testing.T) (*tenant.Webhooks, *countingStore) {
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
	return tenant.NewWebhooks(cs, testSealer(t), nil), cs
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
		fresh := tenant.NewWebhooks(store, testSealer(t), nil) // nothing cached
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
