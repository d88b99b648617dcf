package http

import (
	"context"
	"net/http"
	"net/url"

	"github.com/arena-hq/arena"
)

// WebhookAdmin is what the admin API needs to manage an organisation's
// webhook endpoints. Errors carry arena codes.
type WebhookAdmin interface {
	// CreateWebhook registers an endpoint for the event types listed (all
	// when none) and returns it with its signing secret, shown this once.
	CreateWebhook(ctx context.Context, orgID, url string, events []string) (*arena.Webhook, string, error)
	// ListWebhooks returns an organisation's endpoints, oldest first.
	ListWebhooks(ctx context.Context, orgID string) ([]*arena.Webhook, error)
	// DeleteWebhook removes an organisation's endpoint; ENOTFOUND if it has
	// none of that id.
	DeleteWebhook(ctx context.Context, orgID, id string) error
}

// WithWebhooks serves the admin API of organisations' webhook endpoints. It
// is served along with WithTenants', which finds the organisations.
func WithWebhooks(w WebhookAdmin) Option { return func(s *api) { s.webhooks = w } }

func (s *api) webhookRoutes() {
	admin := arena.ScopeAdmin
	nf, inv, conf := arena.ENOTFOUND, arena.EINVALID, arena.ECONFLICT
	s.mux.HandleFunc("GET /admin/v1/orgs/{org}/webhooks", s.authed(admin, s.inOrg(s.listWebhooks), nf))
	s.mux.HandleFunc("POST /admin/v1/orgs/{org}/webhooks", s.authed(admin, s.inOrg(s.createWebhook), nf, inv, conf))
	s.mux.HandleFunc("DELETE /admin/v1/orgs/{org}/webhooks/{id}", s.authed(admin, s.inOrg(s.deleteWebhook), nf))
}

// webhookView is an endpoint as the admin API shows it: never with its
// secret, which is shown once when it is made.
type webhookView struct {
	ID        string   `json:"id"`
	URL       string   `json:"url"`
	Events    []string `json:"events"`
	CreatedAt string   `json:"createdAt"`
}

func newWebhookView(w *arena.Webhook) webhookView {
	return webhookView{ID: w.ID, URL: redactURL(w.URL), Events: nonNil(w.Events), CreatedAt: timeText(w.CreatedAt)}
}

// redactURL hides a password in a URL's user information, as the API hides
// registry passwords: it is a credential, not part of the address.
func redactURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return raw // stored URLs were parsed when they were registered
	}
	return u.Redacted()
}

func (s *api) listWebhooks(w http.ResponseWriter, r *http.Request, _ *arena.Token, org string) error {
	hooks, err := s.webhooks.ListWebhooks(r.Context(), org)
	if err != nil {
		return err
	}
	out := []webhookView{}
	for _, h := range hooks {
		out = append(out, newWebhookView(h))
	}
	s.writeJSON(w, r, http.StatusOK, map[string]any{"webhooks": out})
	return nil
}

func (s *api) createWebhook(w http.ResponseWriter, r *http.Request, _ *arena.Token, org string) error {
	var in struct {
		URL    string   `json:"url"`
		Events []string `json:"events"`
	}
	if err := decodeStrict(w, r, &in); err != nil {
		return err
	}
	hook, secret, err := s.webhooks.CreateWebhook(r.Context(), org, in.URL, in.Events)
	if err != nil {
		return err
	}
	// The secret is shown here once: no cache may keep it.
	w.Header().Set("Cache-Control", "no-store")
	s.writeJSON(w, r, http.StatusCreated, map[string]any{"webhook": newWebhookView(hook), "secret": secret})
	return nil
}

func (s *api) deleteWebhook(w http.ResponseWriter, r *http.Request, _ *arena.Token, org string) error {
	if err := s.webhooks.DeleteWebhook(r.Context(), org, r.PathValue("id")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}
