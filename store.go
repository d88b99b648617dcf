package arena

import (
	"context"
	"time"
)

// The store interfaces are what the control plane keeps, split by concern,
// so that each part of it names only what it needs and a store or a fake
// implements what it is used for. The sqlite and postgres packages
// implement them all (Store); their errors carry the codes of this package
// (ENOTFOUND, ECONFLICT), and the suite in storetest holds them to the same
// behaviour.

// SessionStore keeps sessions and their usage.
type SessionStore interface {
	// CreateSession inserts a new session; ECONFLICT if its id, or its
	// organisation's session of its name, exists.
	CreateSession(ctx context.Context, s *Session) error
	// UpdateSession overwrites a session's mutable fields.
	UpdateSession(ctx context.Context, s *Session) error
	// StopSession records a session as stopped together with its usage, atomically.
	StopSession(ctx context.Context, s *Session, u *Usage) error
	// FindSession returns a session by its id (SessionKey), or ENOTFOUND.
	FindSession(ctx context.Context, id string) (*Session, error)
	// FindSessionByName returns an organisation's session by the id the API
	// knows it by (Session.PublicID), or ENOTFOUND.
	FindSessionByName(ctx context.Context, orgID, name string) (*Session, error)
	// ListSessions returns sessions in creation order, narrowed by f.
	ListSessions(ctx context.Context, f SessionQuery) ([]*Session, error)
	ListUsage(ctx context.Context, orgID string) ([]*Usage, error)
}

// SessionQuery selects sessions from the store. Empty fields do not filter.
type SessionQuery struct {
	OrgID  string
	NodeID string
	// ActiveOnly leaves out stopped sessions.
	ActiveOnly bool
}

// NodeStore keeps the nodes that joined and when they were last heard from.
type NodeStore interface {
	// UpsertNode saves a node's description and credential hash.
	UpsertNode(ctx context.Context, n *Node) error
	// SaveLastSeen records when nodes were last heard from; LastSeen reads it back.
	SaveLastSeen(ctx context.Context, seen map[string]time.Time) error
	LastSeen(ctx context.Context) (map[string]time.Time, error)
	// ListNodes returns every node, ordered by id.
	ListNodes(ctx context.Context) ([]*Node, error)
	DeleteNode(ctx context.Context, id string) error
}

// TenantStore keeps organisations, their users, tokens and applications.
type TenantStore interface {
	// CreateOrganization inserts o; ECONFLICT if its id exists.
	CreateOrganization(ctx context.Context, o *Organization) error
	// FindOrganization returns one organisation, or ENOTFOUND.
	FindOrganization(ctx context.Context, id string) (*Organization, error)
	// ListOrganizations returns every organisation, ordered by id.
	ListOrganizations(ctx context.Context) ([]*Organization, error)
	// SetOrganizationQuota replaces an organisation's Quota and
	// QuotaSource; ENOTFOUND if there is no such organisation. Stores keep
	// the quota as given: its bounds are the caller's to check.
	SetOrganizationQuota(ctx context.Context, orgID string, q Quota, source string) error

	// CreateUser inserts u; ECONFLICT if its id, or its email within the
	// organisation, exists; ENOTFOUND without the organisation.
	CreateUser(ctx context.Context, u *User) error
	// ListUsers returns an organisation's users, ordered by email.
	ListUsers(ctx context.Context, orgID string) ([]*User, error)
	// DeleteUser removes an organisation's user and revokes the tokens
	// issued to it at revokedAt, atomically; ENOTFOUND if the organisation
	// has no such user.
	DeleteUser(ctx context.Context, orgID, id string, revokedAt time.Time) error

	// CreateToken inserts t; ECONFLICT if its id or hash exists, ENOTFOUND
	// without its organisation (or its user, when it names one).
	CreateToken(ctx context.Context, t *Token) error
	// FindTokenByHash returns the token with that hash, revoked or not; ENOTFOUND otherwise.
	FindTokenByHash(ctx context.Context, hash string) (*Token, error)
	// ListTokens returns an organisation's tokens, revoked ones included,
	// ordered by creation time then id.
	ListTokens(ctx context.Context, orgID string) ([]*Token, error)
	// RevokeToken records an organisation's token as revoked at at; a token
	// already revoked keeps its first time. ENOTFOUND if the organisation has
	// no such token.
	RevokeToken(ctx context.Context, orgID, id string, at time.Time) error

	// CreateApplication inserts a; ECONFLICT if the organisation has an
	// application of that name, ENOTFOUND without the organisation. Stores
	// keep a.SealedRegistry and never a.Registry.
	CreateApplication(ctx context.Context, a *Application) error
	// UpdateApplication overwrites an application, found by organisation
	// and name; ENOTFOUND if there is none.
	UpdateApplication(ctx context.Context, a *Application) error
	// FindApplication returns an organisation's application, or ENOTFOUND.
	FindApplication(ctx context.Context, orgID, name string) (*Application, error)
	// ListApplications returns an organisation's applications, or every
	// organisation's when orgID is empty, ordered by organisation then name.
	ListApplications(ctx context.Context, orgID string) ([]*Application, error)
	// DeleteApplication removes an application; ENOTFOUND if there is none.
	// Sessions of it are unaffected: they carry what they run.
	DeleteApplication(ctx context.Context, orgID, name string) error
}

// WebhookStore keeps webhook endpoints and the deliveries not done yet.
type WebhookStore interface {
	// CreateWebhook inserts w; ECONFLICT if its id exists, ENOTFOUND
	// without its organisation. Stores keep w.SealedSecret as given: the
	// plaintext secret never reaches them.
	CreateWebhook(ctx context.Context, w *Webhook) error
	// ListWebhooks returns an organisation's webhooks, ordered by creation
	// time then id; none for an unknown organisation.
	ListWebhooks(ctx context.Context, orgID string) ([]*Webhook, error)
	// DeleteWebhook removes an organisation's webhook; ENOTFOUND if the
	// organisation has no such webhook, another organisation's included.
	DeleteWebhook(ctx context.Context, orgID, id string) error

	// SaveWebhookDelivery keeps a delivery not done yet, or records the
	// attempts and next time of one kept; ENOTFOUND when its webhook does
	// not exist. Deleting a webhook deletes its deliveries.
	SaveWebhookDelivery(ctx context.Context, d *WebhookDelivery) error
	// DeleteWebhookDelivery forgets a delivery that is done; one unknown
	// is no error.
	DeleteWebhookDelivery(ctx context.Context, id string) error
	// ListWebhookDeliveries returns every delivery kept, the soonest due
	// first, for a new dispatcher to resume.
	ListWebhookDeliveries(ctx context.Context) ([]*WebhookDelivery, error)
}

// Store is every store interface: what a whole control plane keeps.
type Store interface {
	SessionStore
	NodeStore
	TenantStore
	WebhookStore
	MachineStore
	ScalingStore
}

// MachineStore keeps the cloud machines Arena manages.
type MachineStore interface {
	// CreateMachine inserts m; ECONFLICT if its node id exists.
	CreateMachine(ctx context.Context, m *CloudMachine) error
	// UpdateMachine replaces the machine of m's node id; ENOTFOUND without one.
	UpdateMachine(ctx context.Context, m *CloudMachine) error
	// ListMachines returns every machine, by node id.
	ListMachines(ctx context.Context) ([]*CloudMachine, error)
	// UseJoinToken spends the join token whose hash is given, for nodeID,
	// at now: once, and only for the node it was made for, until it
	// expires. EUNAUTHORIZED for any other; then nothing changes.
	UseJoinToken(ctx context.Context, hash, nodeID string, now time.Time) error
}

// ScalingStore keeps the scaling policies and the cloud providers the
// scaler reads, so that a new leader scales as the last one did and the
// admin API can change them without a restart.
type ScalingStore interface {
	// PutScalingPolicy inserts or replaces the policy of p's region.
	PutScalingPolicy(ctx context.Context, p *ScalingPolicy) error
	// ListScalingPolicies returns every policy, by region.
	ListScalingPolicies(ctx context.Context) ([]*ScalingPolicy, error)
	// DeleteScalingPolicy removes a region's policy; ENOTFOUND without one.
	DeleteScalingPolicy(ctx context.Context, region string) error

	// PutCloudProvider inserts or replaces the provider of p's name. Stores
	// keep p.SealedCredentials as given and never p.Credentials.
	PutCloudProvider(ctx context.Context, p *CloudProvider) error
	// ListCloudProviders returns every provider, by name, with its
	// credentials sealed.
	ListCloudProviders(ctx context.Context) ([]*CloudProvider, error)
	// DeleteCloudProvider removes a provider; ENOTFOUND without one.
	DeleteCloudProvider(ctx context.Context, name string) error
}
