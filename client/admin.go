package client

import (
	"context"
	"net/http"
	"net/url"

	"github.com/arena-hq/arena"
)

// Admin calls the admin API of organisations (/admin/v1/orgs). An
// organisation's admin token sees its own organisation alone, an
// operator's every one; another's is not found.
type Admin struct{ c *Client }

// WhoAmI is the calling token and its organisation.
type WhoAmI struct {
	Body         `json:"-"`
	Token        Token        `json:"token"`
	Organization Organization `json:"organization"`
}

// Organization is a tenant of the installation, with its quota and what
// its active sessions hold of it.
type Organization struct {
	Body `json:"-"`
	ID   string `json:"id"`
	Name string `json:"name"`
	// Environment is sandbox or production.
	Environment string `json:"environment"`
	Quota       Quota  `json:"quota"`
	Active      Active `json:"active"`
	CreatedAt   string `json:"createdAt"`
}

// Quota is the most an organisation's active sessions may hold at once;
// 0 is no bound.
type Quota struct {
	MaxSessions int `json:"maxSessions"`
	// MaxMilliCPU is in thousandths of a core, as applications reserve.
	MaxMilliCPU int64 `json:"maxMilliCpu"`
	// Source is config while the config file sets the quota, which the
	// API then cannot change.
	Source string `json:"source"`
}

// Active is what an organisation's active sessions hold of its quota.
type Active struct {
	Sessions int   `json:"sessions"`
	MilliCPU int64 `json:"milliCpu"`
}

// OrganizationList is the answer of GET /admin/v1/orgs.
type OrganizationList struct {
	Body          `json:"-"`
	Organizations []Organization `json:"organizations"`
}

// OrganizationRequest is the body of POST /admin/v1/orgs; an empty
// Environment is production.
type OrganizationRequest struct {
	ID          string `json:"id"`
	Name        string `json:"name,omitempty"`
	Environment string `json:"environment,omitempty"`
}

// QuotaRequest replaces both bounds of a quota; 0 is no bound.
type QuotaRequest struct {
	MaxSessions int   `json:"maxSessions"`
	MaxMilliCPU int64 `json:"maxMilliCpu"`
}

// User is a person of an organisation, to whom tokens may be issued.
type User struct {
	Body      `json:"-"`
	ID        string `json:"id"`
	Email     string `json:"email"`
	Name      string `json:"name"`
	CreatedAt string `json:"createdAt"`
}

// UserList is an organisation's users, by email.
type UserList struct {
	Body  `json:"-"`
	Users []User `json:"users"`
}

// UserRequest is the body of a user's creation.
type UserRequest struct {
	Email string `json:"email"`
	Name  string `json:"name,omitempty"`
}

// Token is an API token as the admin API shows it: never its secret.
type Token struct {
	ID        string   `json:"id"`
	OrgID     string   `json:"orgId"`
	Name      string   `json:"name"`
	UserID    string   `json:"userId,omitempty"`
	Scopes    []string `json:"scopes"`
	CreatedAt string   `json:"createdAt"`
	// ExpiresAt and RevokedAt are empty for a token that does not expire,
	// that is not revoked.
	ExpiresAt string `json:"expiresAt,omitempty"`
	RevokedAt string `json:"revokedAt,omitempty"`
	// RateLimit is requests a second, 0 for the installation's default.
	RateLimit float64 `json:"rateLimit,omitempty"`
	RateBurst int     `json:"rateBurst,omitempty"`
}

// TokenList is an organisation's tokens.
type TokenList struct {
	Body   `json:"-"`
	Tokens []Token `json:"tokens"`
}

// TokenRequest is the body of a token's creation. No Scopes is the
// Session API's; a token never gets more than the one that makes it.
type TokenRequest struct {
	Name   string   `json:"name"`
	UserID string   `json:"userId,omitempty"`
	Scopes []string `json:"scopes,omitempty"`
	// ExpiresInSeconds is 0 for a token that does not expire.
	ExpiresInSeconds int64   `json:"expiresInSeconds,omitempty"`
	RateLimit        float64 `json:"rateLimit,omitempty"`
	RateBurst        int     `json:"rateBurst,omitempty"`
}

// TokenCreated is a new token with its secret, which is shown this once:
// Arena keeps only its hash.
type TokenCreated struct {
	Body   `json:"-"`
	Token  Token  `json:"token"`
	Secret string `json:"secret"`
}

// Application is a game server image with how to run it, as the admin API
// describes it.
type Application struct {
	Body       `json:"-"`
	Name       string           `json:"name"`
	Repository string           `json:"repository"`
	Tags       []arena.Tag      `json:"tags"`
	DefaultTag string           `json:"defaultTag"`
	Ports      []arena.PortSpec `json:"ports"`
	// Network is bridge or host.
	Network string `json:"network"`
	// Resources is what placement books for each session.
	Resources arena.Resources `json:"resources"`
	// Limits caps the container; nil when it is capped at Resources.
	Limits                 *arena.Resources     `json:"limits,omitempty"`
	Regions                []string             `json:"regions"`
	TagKeep                int                  `json:"tagKeep"`
	NodePool               string               `json:"nodePool"`
	Env                    map[string]string    `json:"env"`
	Args                   []string             `json:"args"`
	StopGraceSeconds       float64              `json:"stopGraceSeconds"`
	Artifacts              []string             `json:"artifacts"`
	User                   string               `json:"user"`
	ReadOnlyRootFilesystem bool                 `json:"readOnlyRootFilesystem"`
	Tmpfs                  []string             `json:"tmpfs"`
	Readiness              Readiness            `json:"readiness"`
	WarmPools              []WarmPool           `json:"warmPools"`
	Registry               *RegistryLogin       `json:"registry,omitempty"`
	Source                 string               `json:"source"`
	CreatedAt              string               `json:"createdAt"`
	UpdatedAt              string               `json:"updatedAt"`
	Pull                   map[string]TagStatus `json:"pull"`
}

// Readiness is when an application's sessions are running: on their
// ports or their process, within TimeoutSeconds.
type Readiness struct {
	Mode           string  `json:"mode"`
	TimeoutSeconds float64 `json:"timeoutSeconds"`
	RunOnTimeout   bool    `json:"runOnTimeout"`
}

// WarmPool is one of an application's warm pools, with how full it is.
type WarmPool struct {
	Location string `json:"location"`
	// Tag is "" for the application's default tag.
	Tag  string `json:"tag"`
	Size int    `json:"size"`
	// Mode is claim or launch.
	Mode string `json:"mode"`
	// Ready sessions wait to be claimed; Warming ones are starting.
	Ready   int            `json:"ready"`
	Warming int            `json:"warming"`
	Nodes   []WarmPoolNode `json:"nodes"`
}

// WarmPoolNode is one node's share of a warm pool.
type WarmPoolNode struct {
	Node    string `json:"node"`
	Ready   int    `json:"ready"`
	Warming int    `json:"warming"`
}

// RegistryLogin is an application's registry login; its password is never
// answered.
type RegistryLogin struct {
	Username    string `json:"username"`
	PasswordSet bool   `json:"passwordSet"`
}

// ApplicationList is an organisation's applications.
type ApplicationList struct {
	Body         `json:"-"`
	Applications []Application `json:"applications"`
}

// Webhook is an endpoint that the organisation's session events are
// POSTed to; its secret is shown only when it is made.
type Webhook struct {
	ID  string `json:"id"`
	URL string `json:"url"`
	// Events are the event types it gets, every one when empty.
	Events    []string `json:"events"`
	CreatedAt string   `json:"createdAt"`
}

// WebhookList is an organisation's webhook endpoints, oldest first.
type WebhookList struct {
	Body     `json:"-"`
	Webhooks []Webhook `json:"webhooks"`
}

// WebhookRequest is the body of an endpoint's registration; no Events is
// every type.
type WebhookRequest struct {
	URL    string   `json:"url"`
	Events []string `json:"events,omitempty"`
}

// WebhookCreated is a new endpoint with the secret that signs its
// deliveries, shown this once.
type WebhookCreated struct {
	Body    `json:"-"`
	Webhook Webhook `json:"webhook"`
	Secret  string  `json:"secret"`
}

// orgPath is the path of org's resource below /admin/v1/orgs/ORG.
func orgPath(org, rest string) string {
	return "/admin/v1/orgs/" + url.PathEscape(org) + rest
}

// WhoAmI describes the calling token and its organisation; any valid
// token may ask.
func (a *Admin) WhoAmI(ctx context.Context) (WhoAmI, error) {
	var out WhoAmI
	return out, a.c.call(ctx, http.MethodGet, "/admin/v1/whoami", nil, &out)
}

// ListOrgs lists the organisations the token sees, by id.
func (a *Admin) ListOrgs(ctx context.Context) (OrganizationList, error) {
	var out OrganizationList
	return out, a.c.call(ctx, http.MethodGet, "/admin/v1/orgs", nil, &out)
}

// GetOrg describes an organisation.
func (a *Admin) GetOrg(ctx context.Context, org string) (Organization, error) {
	var out Organization
	return out, a.c.call(ctx, http.MethodGet, orgPath(org, ""), nil, &out)
}

// CreateOrg creates an organisation, an operator's call.
func (a *Admin) CreateOrg(ctx context.Context, req OrganizationRequest) (Organization, error) {
	var out Organization
	return out, a.c.call(ctx, http.MethodPost, "/admin/v1/orgs", req, &out)
}

// SetQuota replaces an organisation's quota, an operator's call, and
// returns the organisation with it.
func (a *Admin) SetQuota(ctx context.Context, org string, req QuotaRequest) (Organization, error) {
	var out Organization
	return out, a.c.call(ctx, http.MethodPut, orgPath(org, "/quota"), req, &out)
}

// ListUsers lists an organisation's users.
func (a *Admin) ListUsers(ctx context.Context, org string) (UserList, error) {
	var out UserList
	return out, a.c.call(ctx, http.MethodGet, orgPath(org, "/users"), nil, &out)
}

// CreateUser adds a user to an organisation.
func (a *Admin) CreateUser(ctx context.Context, org string, req UserRequest) (User, error) {
	var out User
	return out, a.c.call(ctx, http.MethodPost, orgPath(org, "/users"), req, &out)
}

// DeleteUser removes a user, and so revokes its tokens.
func (a *Admin) DeleteUser(ctx context.Context, org, id string) error {
	return a.c.call(ctx, http.MethodDelete, orgPath(org, "/users/"+url.PathEscape(id)), nil, nil)
}

// ListTokens lists an organisation's tokens, revoked and expired ones too.
func (a *Admin) ListTokens(ctx context.Context, org string) (TokenList, error) {
	var out TokenList
	return out, a.c.call(ctx, http.MethodGet, orgPath(org, "/tokens"), nil, &out)
}

// CreateToken issues a token of an organisation.
func (a *Admin) CreateToken(ctx context.Context, org string, req TokenRequest) (TokenCreated, error) {
	var out TokenCreated
	return out, a.c.call(ctx, http.MethodPost, orgPath(org, "/tokens"), req, &out)
}

// RevokeToken revokes a token from its next request on.
func (a *Admin) RevokeToken(ctx context.Context, org, id string) error {
	return a.c.call(ctx, http.MethodDelete, orgPath(org, "/tokens/"+url.PathEscape(id)), nil, nil)
}

// ListApplications lists an organisation's applications.
func (a *Admin) ListApplications(ctx context.Context, org string) (ApplicationList, error) {
	var out ApplicationList
	return out, a.c.call(ctx, http.MethodGet, orgPath(org, "/applications"), nil, &out)
}

// GetApplication describes an application.
func (a *Admin) GetApplication(ctx context.Context, org, name string) (Application, error) {
	var out Application
	return out, a.c.call(ctx, http.MethodGet, orgPath(org, "/applications/"+url.PathEscape(name)), nil, &out)
}

// CreateApplication adds an application. app is the API's
// ApplicationInput as JSON marshals it, a struct or a map such as a file
// holds: it is sent as it is, so that the server, which knows every field,
// judges it, and a field this client does not know of still reaches it.
func (a *Admin) CreateApplication(ctx context.Context, org string, app any) (Application, error) {
	var out Application
	return out, a.c.call(ctx, http.MethodPost, orgPath(org, "/applications"), app, &out)
}

// UpdateApplication replaces an application; app is as for
// CreateApplication. Running sessions keep what they run.
func (a *Admin) UpdateApplication(ctx context.Context, org, name string, app any) (Application, error) {
	var out Application
	return out, a.c.call(ctx, http.MethodPut, orgPath(org, "/applications/"+url.PathEscape(name)), app, &out)
}

// DeleteApplication removes an application; its running sessions go on.
func (a *Admin) DeleteApplication(ctx context.Context, org, name string) error {
	return a.c.call(ctx, http.MethodDelete, orgPath(org, "/applications/"+url.PathEscape(name)), nil, nil)
}

// ListWebhooks lists an organisation's webhook endpoints.
func (a *Admin) ListWebhooks(ctx context.Context, org string) (WebhookList, error) {
	var out WebhookList
	return out, a.c.call(ctx, http.MethodGet, orgPath(org, "/webhooks"), nil, &out)
}

// CreateWebhook registers a webhook endpoint.
func (a *Admin) CreateWebhook(ctx context.Context, org string, req WebhookRequest) (WebhookCreated, error) {
	var out WebhookCreated
	return out, a.c.call(ctx, http.MethodPost, orgPath(org, "/webhooks"), req, &out)
}

// DeleteWebhook removes a webhook endpoint; its pending deliveries are
// cancelled.
func (a *Admin) DeleteWebhook(ctx context.Context, org, id string) error {
	return a.c.call(ctx, http.MethodDelete, orgPath(org, "/webhooks/"+url.PathEscape(id)), nil, nil)
}
