package tenant

import (
	"context"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/google/uuid"

	"github.com/arena-hq/arena"
	"github.com/arena-hq/arena/webhook"
)

// Webhooks keeps the webhook endpoints organisations register: the admin
// API's create, list and delete, and the EndpointSource the dispatcher asks
// for every event. Signing secrets are sealed in the store with the Sealer,
// as registry passwords are, and opened here alone.
//
// The dispatcher asks for an organisation's endpoints once per event, so
// they are cached per organisation, with their secrets open, and the cache
// of an organisation is dropped by every change made here. Nothing else
// changes them: a replica that does not lead forwards the admin API to the
// leader, and a new leader starts with an empty cache.
type Webhooks struct {
	store  webhookStore
	sealer *Sealer
	log    *slog.Logger
	now    func() time.Time

	// creating serialises creates from the count of an organisation's
	// endpoints to the insert, so that two at once cannot pass the cap.
	creating sync.Mutex

	mu    sync.Mutex
	cache map[string][]webhook.Endpoint // by organisation
	// gen counts the changes of each organisation's endpoints, so that a
	// look-up that read the store before a change does not cache what it read.
	gen map[string]uint64
}

var _ webhook.EndpointSource = (*Webhooks)(nil)

// webhookStore is what the endpoints are kept in: the organisations they
// belong to, and the endpoints themselves.
type webhookStore interface {
	FindOrganization(ctx context.Context, id string) (*arena.Organization, error)
	CreateWebhook(ctx context.Context, w *arena.Webhook) error
	ListWebhooks(ctx context.Context, orgID string) ([]*arena.Webhook, error)
	DeleteWebhook(ctx context.Context, orgID, id string) error
}

// NewWebhooks returns the webhooks kept in store, whose secrets sealer
// seals; log (nil for none) hears of changes and of secrets that do not open.
func NewWebhooks(store webhookStore, sealer *Sealer, log *slog.Logger) *Webhooks {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Webhooks{
		store: store, sealer: sealer, log: log, now: func() time.Time { return time.Now().UTC() },
		cache: map[string][]webhook.Endpoint{}, gen: map[string]uint64{},
	}
}

// secretContext binds a sealed secret to its endpoint, so that sealed
// bytes copied onto another endpoint, or another organisation's, do not
// open there.
func secretContext(orgID, id string) string { return orgID + "/webhooks/" + id }

// CreateWebhook registers an endpoint of an organisation for the event
// types listed (every type when none) and returns it with its signing
// secret, which is shown this once: the store keeps it sealed, and the API
// never returns it again. EINVALID for a URL or event types that
// webhook.ValidateEndpoint refuses, ENOTFOUND for an unknown organisation,
// ECONFLICT when the organisation has arena.MaxWebhooksPerOrg endpoints.
func (w *Webhooks) CreateWebhook(ctx context.Context, orgID, url string, events []string) (*arena.Webhook, string, error) {
	if err := webhook.ValidateEndpoint(url, events); err != nil {
		return nil, "", err
	}
	if _, err := w.store.FindOrganization(ctx, orgID); err != nil {
		if arena.ErrorCode(err) == arena.ENOTFOUND {
			return nil, "", arena.Errorf(arena.ENOTFOUND, "organisation %q not found", orgID)
		}
		return nil, "", err
	}
	w.creating.Lock()
	defer w.creating.Unlock()
	existing, err := w.store.ListWebhooks(ctx, orgID)
	if err != nil {
		return nil, "", err
	}
	if len(existing) >= arena.MaxWebhooksPerOrg {
		return nil, "", arena.Errorf(arena.ECONFLICT, "organisation %q has %d webhooks, the most it may have; delete one first",
			orgID, len(existing))
	}
	secret := webhook.NewSecret()
	hook := &arena.Webhook{
		ID: uuid.NewString(), OrgID: orgID, URL: url, Events: slices.Clone(events), CreatedAt: w.now(),
	}
	hook.SealedSecret = w.sealer.Seal([]byte(secret), secretContext(orgID, hook.ID))
	if err := w.store.CreateWebhook(ctx, hook); err != nil {
		return nil, "", err
	}
	w.changed(orgID)
	w.log.Info("webhook created", "endpoint", endpointOf(hook, ""), "events", hook.Events)
	return hook, secret, nil
}

// ListWebhooks returns an organisation's endpoints, oldest first, without
// their secrets, sealed or not.
func (w *Webhooks) ListWebhooks(ctx context.Context, orgID string) ([]*arena.Webhook, error) {
	hooks, err := w.store.ListWebhooks(ctx, orgID)
	if err != nil {
		return nil, err
	}
	for _, h := range hooks {
		h.SealedSecret = nil
	}
	return hooks, nil
}

// DeleteWebhook removes an organisation's endpoint; ENOTFOUND if it has
// none of that id. Deliveries to it waiting for a retry are cancelled.
func (w *Webhooks) DeleteWebhook(ctx context.Context, orgID, id string) error {
	if err := w.store.DeleteWebhook(ctx, orgID, id); err != nil {
		if arena.ErrorCode(err) == arena.ENOTFOUND {
			return arena.Errorf(arena.ENOTFOUND, "webhook %q not found", id)
		}
		return err
	}
	w.changed(orgID)
	w.log.Info("webhook deleted", "org", orgID, "webhook", id)
	return nil
}

// changed drops the organisation's cached endpoints.
func (w *Webhooks) changed(orgID string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.gen[orgID]++
	delete(w.cache, orgID)
}

// Endpoints implements webhook.EndpointSource: the organisation's endpoints
// with their secrets open. An endpoint whose secret does not open (the
// secret key changed) is left out and logged, rather than failing the
// look-up: the organisation's other endpoints still get its events.
func (w *Webhooks) Endpoints(ctx context.Context, orgID string) ([]webhook.Endpoint, error) {
	w.mu.Lock()
	if eps, ok := w.cache[orgID]; ok {
		w.mu.Unlock()
		return slices.Clone(eps), nil
	}
	gen := w.gen[orgID]
	w.mu.Unlock()

	hooks, err := w.store.ListWebhooks(ctx, orgID)
	if err != nil {
		return nil, err
	}
	eps := make([]webhook.Endpoint, 0, len(hooks))
	for _, h := range hooks {
		secret, err := w.sealer.Open(h.SealedSecret, secretContext(h.OrgID, h.ID))
		if err != nil {
			w.log.Error("cannot open a webhook's secret; it gets no events until it is created again",
				"endpoint", endpointOf(h, ""), "err", err)
			continue
		}
		eps = append(eps, endpointOf(h, string(secret)))
	}
	w.mu.Lock()
	if w.gen[orgID] == gen {
		w.cache[orgID] = eps
	}
	w.mu.Unlock()
	return slices.Clone(eps), nil
}

// endpointOf returns the dispatcher's view of h, with secret.
func endpointOf(h *arena.Webhook, secret string) webhook.Endpoint {
	return webhook.Endpoint{
		ID: h.ID, OrgID: h.OrgID, URL: h.URL, Secret: secret, Events: slices.Clone(h.Events), CreatedAt: h.CreatedAt,
	}
}
