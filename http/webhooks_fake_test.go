package http_test

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/arena-hq/arena"
	"github.com/arena-hq/arena/webhook"
)

// fakeWebhooks is an in-memory WebhookAdmin holding one endpoint of
// "other-org", for the transport's tests; the server's own tests and the
// end-to-end tests exercise the real one.
type fakeWebhooks struct {
	mu    sync.Mutex
	hooks []*arena.Webhook
	n     int
}

func newFakeWebhooks() *fakeWebhooks {
	at := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	return &fakeWebhooks{hooks: []*arena.Webhook{{
		ID: "wh-theirs", OrgID: "other-org", URL: "https://them:their-hook-password@hooks.other.example/arena",
		SealedSecret: []byte("sealed"), CreatedAt: at,
	}}}
}

func (f *fakeWebhooks) CreateWebhook(_ context.Context, orgID, url string, events []string) (*arena.Webhook, string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := webhook.ValidateEndpoint(url, events); err != nil {
		return nil, "", err
	}
	if n := len(f.list(orgID)); n >= arena.MaxWebhooksPerOrg {
		return nil, "", arena.Errorf(arena.ECONFLICT, "organisation %q has %d webhooks", orgID, n)
	}
	f.n++
	w := &arena.Webhook{ID: fmt.Sprintf("wh-%d", f.n), OrgID: orgID, URL: url, Events: slices.Clone(events),
		SealedSecret: []byte("sealed"), CreatedAt: time.Now()}
	f.hooks = append(f.hooks, w)
	return w, "whsec_secret-of-" + w.ID, nil
}

func (f *fakeWebhooks) list(orgID string) []*arena.Webhook {
	var out []*arena.Webhook
	for _, w := range f.hooks {
		if w.OrgID == orgID {
			out = append(out, w)
		}
	}
	return out
}

func (f *fakeWebhooks) ListWebhooks(_ context.Context, orgID string) ([]*arena.Webhook, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.list(orgID), nil
}

func (f *fakeWebhooks) DeleteWebhook(_ context.Context, orgID, id string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	i := slices.IndexFunc(f.hooks, func(w *arena.Webhook) bool { return w.OrgID == orgID && w.ID == id })
	if i < 0 {
		return arena.Errorf(arena.ENOTFOUND, "webhook %q not found", id)
	}
	f.hooks = slices.Delete(f.hooks, i, i+1)
	return nil
}
