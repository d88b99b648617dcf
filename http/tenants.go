package http

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"reflect"
	"slices"
	"strings"
	"time"

	"github.com/arena-hq/arena"
	"github.com/arena-hq/arena/imageref"
)

// TenantAdmin is what the admin API needs to manage organisations, their
// users and tokens. Errors carry arena codes.
type TenantAdmin interface {
	CreateOrganization(ctx context.Context, o arena.Organization) (*arena.Organization, error)
	FindOrganization(ctx context.Context, id string) (*arena.Organization, error)
	ListOrganizations(ctx context.Context) ([]*arena.Organization, error)
	// SetQuota replaces an organisation's quota and returns the
	// organisation: EINVALID for a bound out of range, ECONFLICT for a
	// quota the config file sets.
	SetQuota(ctx context.Context, orgID string, q arena.Quota) (*arena.Organization, error)
	// QuotaUsage returns what an organisation's active sessions hold of
	// its quota right now.
	QuotaUsage(orgID string) arena.QuotaUsage

	CreateUser(ctx context.Context, u arena.User) (*arena.User, error)
	ListUsers(ctx context.Context, orgID string) ([]*arena.User, error)
	DeleteUser(ctx context.Context, orgID, id string) error

	// CreateToken returns the token and its secret, shown this once.
	CreateToken(ctx context.Context, issuer *arena.Token, orgID string, req arena.TokenRequest) (*arena.Token, string, error)
	ListTokens(ctx context.Context, orgID string) ([]*arena.Token, error)
	RevokeToken(ctx context.Context, orgID, id string) error
}

func (s *api) tenantRoutes() {
	admin, op := arena.ScopeAdmin, arena.ScopeOperator
	nf, inv, conf := arena.ENOTFOUND, arena.EINVALID, arena.ECONFLICT
	s.mux.HandleFunc("GET /admin/v1/whoami", s.authed("", s.whoami))
	s.mux.HandleFunc("GET /admin/v1/orgs", s.authed(admin, s.listOrgs))
	s.mux.HandleFunc("POST /admin/v1/orgs", s.authed(op, s.createOrg, inv, conf))
	s.mux.HandleFunc("GET /admin/v1/orgs/{org}", s.authed(admin, s.inOrg(s.getOrg), nf))
	// An organisation's own admin must not raise its own quota: operators alone.
	s.mux.HandleFunc("PUT /admin/v1/orgs/{org}/quota", s.authed(op, s.inOrg(s.setQuota), nf, inv, conf))
	s.mux.HandleFunc("GET /admin/v1/orgs/{org}/users", s.authed(admin, s.inOrg(s.listUsers), nf))
	s.mux.HandleFunc("POST /admin/v1/orgs/{org}/users", s.authed(admin, s.inOrg(s.createUser), nf, inv, conf))
	s.mux.HandleFunc("DELETE /admin/v1/orgs/{org}/users/{id}", s.authed(admin, s.inOrg(s.deleteUser), nf))
	s.mux.HandleFunc("GET /admin/v1/orgs/{org}/tokens", s.authed(admin, s.inOrg(s.listTokens), nf))
	s.mux.HandleFunc("POST /admin/v1/orgs/{org}/tokens", s.authed(admin, s.inOrg(s.createToken), nf, inv))
	s.mux.HandleFunc("DELETE /admin/v1/orgs/{org}/tokens/{id}", s.authed(admin, s.inOrg(s.revokeToken), nf))
	if s.apps != nil {
		s.mux.HandleFunc("GET /admin/v1/orgs/{org}/applications", s.authed(admin, s.inOrg(s.listApps), nf))
		s.mux.HandleFunc("POST /admin/v1/orgs/{org}/applications", s.authed(admin, s.inOrg(s.createApp), nf, inv, conf))
		s.mux.HandleFunc("GET /admin/v1/orgs/{org}/applications/{name}", s.authed(admin, s.inOrg(s.getApp), nf))
		s.mux.HandleFunc("PUT /admin/v1/orgs/{org}/applications/{name}", s.authed(admin, s.inOrg(s.updateApp), nf, inv, conf))
		s.mux.HandleFunc("DELETE /admin/v1/orgs/{org}/applications/{name}", s.authed(admin, s.inOrg(s.deleteApp), nf, conf))
	}
}

// inOrg runs h for the organisation the path names, which must be the
// token's own unless the token is an operator's. Another organisation is
// answered as one that does not exist: never merely forbidden.
func (s *api) inOrg(h func(http.ResponseWriter, *http.Request, *arena.Token, string) error) func(http.ResponseWriter, *http.Request, *arena.Token) error {
	return func(w http.ResponseWriter, r *http.Request, tok *arena.Token) error {
		org := r.PathValue("org")
		if org != tok.OrgID && !tok.HasScope(arena.ScopeOperator) {
			return arena.Errorf(arena.ENOTFOUND, "organisation %q not found", org)
		}
		if _, err := s.tenants.FindOrganization(r.Context(), org); err != nil {
			return err
		}
		return h(w, r, tok, org)
	}
}

type (
	orgView struct {
		ID          string     `json:"id"`
		Name        string     `json:"name"`
		Environment string     `json:"environment"`
		Quota       quotaView  `json:"quota"`
		Active      activeView `json:"active"`
		CreatedAt   string     `json:"createdAt"`
	}
	quotaView struct {
		MaxSessions int    `json:"maxSessions"`
		MaxMilliCPU int64  `json:"maxMilliCpu"`
		Source      string `json:"source"`
	}
	// activeView is what the organisation's active sessions hold of its quota.
	activeView struct {
		Sessions int   `json:"sessions"`
		MilliCPU int64 `json:"milliCpu"`
	}
	userView struct {
		ID        string `json:"id"`
		Email     string `json:"email"`
		Name      string `json:"name"`
		CreatedAt string `json:"createdAt"`
	}
	tokenView struct {
		ID        string   `json:"id"`
		OrgID     string   `json:"orgId"`
		Name      string   `json:"name"`
		UserID    string   `json:"userId,omitempty"`
		Scopes    []string `json:"scopes"`
		CreatedAt string   `json:"createdAt"`
		ExpiresAt string   `json:"expiresAt,omitempty"`
		RevokedAt string   `json:"revokedAt,omitempty"`
		RateLimit float64  `json:"rateLimit,omitempty"`
		RateBurst int      `json:"rateBurst,omitempty"`
	}
	registryView struct {
		Username    string `json:"username"`
		PasswordSet bool   `json:"passwordSet"`
	}
	appView struct {
		Name       string           `json:"name"`
		Repository string           `json:"repository"`
		Tags       []arena.Tag      `json:"tags"`
		DefaultTag string           `json:"defaultTag"`
		Ports      []arena.PortSpec `json:"ports"`
		Network    string           `json:"network"`
		Resources  arena.Resources  `json:"resources"`
		// Limits is absent when the container is capped at Resources.
		Limits           *arena.Resources  `json:"limits,omitempty"`
		Regions          []string          `json:"regions"`
		TagKeep          int               `json:"tagKeep"`
		NodePool         string            `json:"nodePool"`
		Env              map[string]string `json:"env"`
		Args             []string          `json:"args"`
		StopGraceSeconds float64           `json:"stopGraceSeconds"`
		Artifacts        []string          `json:"artifacts"`
		// User is "" for the image's USER.
		User                   string        `json:"user"`
		ReadOnlyRootFilesystem bool          `json:"readOnlyRootFilesystem"`
		Tmpfs                  []string      `json:"tmpfs"`
		Readiness              readinessView `json:"readiness"`
		// WarmPools are its warm pools, with how full each is.
		WarmPools []poolStatusView `json:"warmPools"`
		Registry  *registryView    `json:"registry,omitempty"`
		Source    string           `json:"source"`
		CreatedAt string           `json:"createdAt"`
		UpdatedAt string           `json:"updatedAt"`
		// Pull is, by tag, how far the nodes are with its image.
		Pull map[string]tagOk `json:"pull"`
	}
)

func timeText(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(timestampLayout)
}

// orgView shows an organisation with its quota, and what its sessions hold
// of it now.
func (s *api) orgView(o *arena.Organization) orgView {
	source := arena.SourceAPI
	if o.QuotaSource == arena.SourceConfig {
		source = arena.SourceConfig
	}
	use := s.tenants.QuotaUsage(o.ID)
	return orgView{
		ID: o.ID, Name: o.Name, Environment: string(o.Environment), CreatedAt: timeText(o.CreatedAt),
		Quota:  quotaView{MaxSessions: o.Quota.MaxSessions, MaxMilliCPU: o.Quota.MaxMilliCPU, Source: source},
		Active: activeView{Sessions: use.Sessions, MilliCPU: use.MilliCPU},
	}
}

func newTokenView(t *arena.Token) tokenView {
	scopes := t.Scopes
	if scopes == nil {
		scopes = []string{}
	}
	return tokenView{
		ID: t.ID, OrgID: t.OrgID, Name: t.Name, UserID: t.UserID, Scopes: scopes, CreatedAt: timeText(t.CreatedAt),
		ExpiresAt: timeText(t.ExpiresAt), RevokedAt: timeText(t.RevokedAt), RateLimit: t.RateLimit, RateBurst: t.RateBurst,
	}
}

// appView shows an application without its registry password, which the
// API never returns, and with where its tags' images are.
func (s *api) appView(a *arena.Application) appView {
	v := newAppView(a)
	if s.sessions != nil {
		for _, st := range s.sessions.PoolStatus(a.OrgID) {
			i := slices.IndexFunc(a.Pools, func(p arena.WarmPool) bool { return p == st.WarmPool })
			if st.Application != a.Name || i < 0 {
				continue
			}
			v.WarmPools[i].Ready, v.WarmPools[i].Warming = st.Ready, st.Warming
			for _, n := range st.Nodes {
				v.WarmPools[i].Nodes = append(v.WarmPools[i].Nodes, poolNodeView{Node: n.NodeID, Ready: n.Ready, Warming: n.Warming})
			}
		}
	}
	if s.nodes != nil {
		for tag, st := range s.nodes.PullStatus(a.OrgID, a) {
			v.Pull[tag] = newTagOk(st)
		}
	}
	return v
}

func newAppView(a *arena.Application) appView {
	v := appView{
		Name: a.Name, Repository: a.Repository, Tags: nonNil(a.Tags), Ports: nonNil(a.Ports), Network: string(a.Network),
		Resources: a.Resources, Regions: nonNil(a.Regions), TagKeep: a.TagKeep, NodePool: a.NodePool,
		Env: a.Env, Args: nonNil(a.Args), StopGraceSeconds: a.StopGrace.Seconds(),
		Artifacts: nonNil(a.ArtifactPaths), Source: a.Source, CreatedAt: timeText(a.CreatedAt), UpdatedAt: timeText(a.UpdatedAt),
		User: a.Security.User, ReadOnlyRootFilesystem: a.Security.ReadOnlyRootFS, Tmpfs: nonNil(a.Security.Tmpfs),
		Readiness: newReadinessView(a.Readiness), WarmPools: []poolStatusView{},
		Pull: map[string]tagOk{},
	}
	for _, p := range newPoolViews(a.Pools) {
		v.WarmPools = append(v.WarmPools, poolStatusView{poolView: p, Nodes: []poolNodeView{}})
	}
	if a.Limits != (arena.Resources{}) {
		limits := a.Limits
		v.Limits = &limits
	}
	v.DefaultTag, _ = a.DefaultTag()
	if v.Env == nil {
		v.Env = map[string]string{}
	}
	if a.Registry != nil {
		v.Registry = &registryView{Username: a.Registry.Username, PasswordSet: a.Registry.Password != ""}
	}
	return v
}

func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}

func (s *api) whoami(w http.ResponseWriter, r *http.Request, tok *arena.Token) error {
	org, err := s.tenants.FindOrganization(r.Context(), tok.OrgID)
	if err != nil {
		return err
	}
	s.writeJSON(w, r, http.StatusOK, map[string]any{"token": newTokenView(tok), "organization": s.orgView(org)})
	return nil
}

func (s *api) listOrgs(w http.ResponseWriter, r *http.Request, tok *arena.Token) error {
	orgs, err := s.tenants.ListOrganizations(r.Context())
	if err != nil {
		return err
	}
	out := []orgView{}
	for _, o := range orgs {
		// An organisation's admin sees its own alone.
		if o.ID == tok.OrgID || tok.HasScope(arena.ScopeOperator) {
			out = append(out, s.orgView(o))
		}
	}
	s.writeJSON(w, r, http.StatusOK, map[string]any{"organizations": out})
	return nil
}

func (s *api) createOrg(w http.ResponseWriter, r *http.Request, _ *arena.Token) error {
	var in struct {
		ID          string `json:"id"`
		Name        string `json:"name"`
		Environment string `json:"environment"`
	}
	if err := decodeStrict(w, r, &in); err != nil {
		return err
	}
	o, err := s.tenants.CreateOrganization(r.Context(), arena.Organization{ID: in.ID, Name: in.Name, Environment: arena.Environment(in.Environment)})
	if err != nil {
		return err
	}
	s.writeJSON(w, r, http.StatusCreated, s.orgView(o))
	return nil
}

func (s *api) getOrg(w http.ResponseWriter, r *http.Request, _ *arena.Token, org string) error {
	o, err := s.tenants.FindOrganization(r.Context(), org)
	if err != nil {
		return err
	}
	s.writeJSON(w, r, http.StatusOK, s.orgView(o))
	return nil
}

func (s *api) setQuota(w http.ResponseWriter, r *http.Request, _ *arena.Token, org string) error {
	var in struct {
		MaxSessions int   `json:"maxSessions"`
		MaxMilliCPU int64 `json:"maxMilliCpu"`
	}
	if err := decodeStrict(w, r, &in); err != nil {
		return err
	}
	o, err := s.tenants.SetQuota(r.Context(), org, arena.Quota{MaxSessions: in.MaxSessions, MaxMilliCPU: in.MaxMilliCPU})
	if err != nil {
		return err
	}
	s.writeJSON(w, r, http.StatusOK, s.orgView(o))
	return nil
}

func (s *api) listUsers(w http.ResponseWriter, r *http.Request, _ *arena.Token, org string) error {
	users, err := s.tenants.ListUsers(r.Context(), org)
	if err != nil {
		return err
	}
	out := []userView{}
	for _, u := range users {
		out = append(out, userView{ID: u.ID, Email: u.Email, Name: u.Name, CreatedAt: timeText(u.CreatedAt)})
	}
	s.writeJSON(w, r, http.StatusOK, map[string]any{"users": out})
	return nil
}

func (s *api) createUser(w http.ResponseWriter, r *http.Request, _ *arena.Token, org string) error {
	var in struct {
		Email string `json:"email"`
		Name  string `json:"name"`
	}
	if err := decodeStrict(w, r, &in); err != nil {
		return err
	}
	u, err := s.tenants.CreateUser(r.Context(), arena.User{OrgID: org, Email: in.Email, Name: in.Name})
	if err != nil {
		return err
	}
	s.writeJSON(w, r, http.StatusCreated, userView{ID: u.ID, Email: u.Email, Name: u.Name, CreatedAt: timeText(u.CreatedAt)})
	return nil
}

func (s *api) deleteUser(w http.ResponseWriter, r *http.Request, _ *arena.Token, org string) error {
	if err := s.tenants.DeleteUser(r.Context(), org, r.PathValue("id")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (s *api) listTokens(w http.ResponseWriter, r *http.Request, _ *arena.Token, org string) error {
	toks, err := s.tenants.ListTokens(r.Context(), org)
	if err != nil {
		return err
	}
	out := []tokenView{}
	for _, t := range toks {
		out = append(out, newTokenView(t))
	}
	s.writeJSON(w, r, http.StatusOK, map[string]any{"tokens": out})
	return nil
}

func (s *api) createToken(w http.ResponseWriter, r *http.Request, tok *arena.Token, org string) error {
	var in struct {
		Name             string   `json:"name"`
		UserID           string   `json:"userId"`
		Scopes           []string `json:"scopes"`
		ExpiresInSeconds int64    `json:"expiresInSeconds"`
		RateLimit        float64  `json:"rateLimit"`
		RateBurst        int      `json:"rateBurst"`
	}
	if err := decodeStrict(w, r, &in); err != nil {
		return err
	}
	if in.ExpiresInSeconds < 0 || in.ExpiresInSeconds > 10*365*24*3600 {
		return arena.Invalid(arena.Violation{Field: "expiresInSeconds", Description: "must be between 0 (never) and ten years"})
	}
	t, secret, err := s.tenants.CreateToken(r.Context(), tok, org, arena.TokenRequest{
		Name: in.Name, UserID: in.UserID, Scopes: in.Scopes, ExpiresIn: time.Duration(in.ExpiresInSeconds) * time.Second,
		RateLimit: in.RateLimit, RateBurst: in.RateBurst,
	})
	if err != nil {
		return err
	}
	// The secret is shown here once; Arena keeps only its hash.
	w.Header().Set("Cache-Control", "no-store")
	s.writeJSON(w, r, http.StatusCreated, map[string]any{"token": newTokenView(t), "secret": secret})
	return nil
}

func (s *api) revokeToken(w http.ResponseWriter, r *http.Request, _ *arena.Token, org string) error {
	if err := s.tenants.RevokeToken(r.Context(), org, r.PathValue("id")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (s *api) listApps(w http.ResponseWriter, r *http.Request, _ *arena.Token, org string) error {
	apps, err := s.apps.ListApplications(r.Context(), org)
	if err != nil {
		return err
	}
	out := []appView{}
	for _, a := range apps {
		out = append(out, s.appView(a))
	}
	s.writeJSON(w, r, http.StatusOK, map[string]any{"applications": out})
	return nil
}

func (s *api) getApp(w http.ResponseWriter, r *http.Request, _ *arena.Token, org string) error {
	a, err := s.apps.FindApplication(r.Context(), org, r.PathValue("name"))
	if err != nil {
		return err
	}
	s.writeJSON(w, r, http.StatusOK, s.appView(a))
	return nil
}

// appInput is an application as the admin API takes it. Registry is raw so
// that an absent registry (keep the stored one) differs from null (remove it).
type appInput struct {
	Name       string           `json:"name"`
	Repository string           `json:"repository"`
	Tags       []arena.Tag      `json:"tags"`
	Ports      []arena.PortSpec `json:"ports"`
	Network    string           `json:"network"`
	Resources  arena.Resources  `json:"resources"`
	// Limits absent or null caps the container at Resources.
	Limits           *arena.Resources  `json:"limits"`
	Regions          []string          `json:"regions"`
	TagKeep          int               `json:"tagKeep"`
	NodePool         string            `json:"nodePool"`
	Env              map[string]string `json:"env"`
	Args             []string          `json:"args"`
	StopGraceSeconds float64           `json:"stopGraceSeconds"`
	Artifacts        []string          `json:"artifacts"`
	// User absent or "" runs the image's USER; a PUT replaces these three
	// as it does every field but the registry.
	User                   string   `json:"user"`
	ReadOnlyRootFilesystem bool     `json:"readOnlyRootFilesystem"`
	Tmpfs                  []string `json:"tmpfs"`
	// Readiness absent takes the defaults: readiness on the ports, within
	// a minute, failing past it.
	Readiness *readinessView `json:"readiness"`
	// WarmPools absent or empty keeps no sessions ready ahead.
	WarmPools []poolView      `json:"warmPools"`
	Registry  json.RawMessage `json:"registry"`
}

// poolView is one of an application's warm pools as both application APIs
// show and take it; its zero fields take the defaults.
type poolView struct {
	Location string `json:"location"`
	Tag      string `json:"tag"`
	Size     int    `json:"size"`
	Mode     string `json:"mode"`
}

// poolStatusView is a warm pool as the admin API shows it: with its
// sessions ready to claim and warming (starting), in all and by node.
type poolStatusView struct {
	poolView
	Ready   int            `json:"ready"`
	Warming int            `json:"warming"`
	Nodes   []poolNodeView `json:"nodes"`
}

type poolNodeView struct {
	Node    string `json:"node"`
	Ready   int    `json:"ready"`
	Warming int    `json:"warming"`
}

// newPoolViews shows pools with their defaults in place.
func newPoolViews(pools []arena.WarmPool) []poolView {
	out := make([]poolView, 0, len(pools))
	for _, p := range pools {
		out = append(out, poolView{Location: p.Location, Tag: p.Tag, Size: p.Size, Mode: string(p.EffectiveMode())})
	}
	return out
}

func warmPools(views []poolView) []arena.WarmPool {
	var out []arena.WarmPool
	for _, v := range views {
		out = append(out, arena.WarmPool{Location: v.Location, Tag: v.Tag, Size: v.Size, Mode: arena.PoolMode(v.Mode)})
	}
	return out
}

// readinessView is an application's readiness as the admin API shows and
// takes it; its zero fields take the defaults.
type readinessView struct {
	Mode           string  `json:"mode"`
	TimeoutSeconds float64 `json:"timeoutSeconds"`
	RunOnTimeout   bool    `json:"runOnTimeout"`
}

// newReadinessView shows r with its defaults in place.
func newReadinessView(r arena.Readiness) readinessView {
	r = r.Effective()
	return readinessView{Mode: string(r.Mode), TimeoutSeconds: r.Timeout.Seconds(), RunOnTimeout: r.RunOnTimeout}
}

func (v *readinessView) readiness() arena.Readiness {
	if v == nil {
		return arena.Readiness{}
	}
	return arena.Readiness{Mode: arena.ReadinessMode(v.Mode), Timeout: time.Duration(v.TimeoutSeconds * float64(time.Second)), RunOnTimeout: v.RunOnTimeout}
}

// application decodes the body into an application of org; clear reports
// an explicit "registry": null.
func decodeApp(w http.ResponseWriter, r *http.Request, org string) (a *arena.Application, clear bool, err error) {
	var in appInput
	if err := decodeStrict(w, r, &in); err != nil {
		return nil, false, err
	}
	if in.StopGraceSeconds < 0 || in.StopGraceSeconds > 600 {
		return nil, false, arena.Invalid(arena.Violation{Field: "stopGraceSeconds", Description: "must be between 0 and 600"})
	}
	a = &arena.Application{
		OrgID: org, Name: in.Name, Repository: in.Repository, Tags: in.Tags, Ports: in.Ports,
		Network: arena.NetworkMode(in.Network), Resources: in.Resources, Regions: in.Regions, TagKeep: in.TagKeep,
		NodePool: in.NodePool, Env: maps.Clone(in.Env), Args: in.Args,
		StopGrace: time.Duration(in.StopGraceSeconds * float64(time.Second)), ArtifactPaths: in.Artifacts,
		Security:  arena.ContainerSecurity{User: in.User, ReadOnlyRootFS: in.ReadOnlyRootFilesystem, Tmpfs: in.Tmpfs},
		Readiness: in.Readiness.readiness(), Pools: warmPools(in.WarmPools),
	}
	if in.Limits != nil {
		a.Limits = *in.Limits
	}
	// As the engine and the registry client will parse them, so that an
	// image no node can pull is refused here rather than pulled forever;
	// with every other violation, as Validate would list them.
	if refs := imageref.Application(a); len(refs) > 0 {
		v := arena.ErrorViolations(a.Clone().Validate())
		for _, x := range refs {
			if !slices.ContainsFunc(v, func(y arena.Violation) bool { return y.Field == x.Field }) {
				v = append(v, x)
			}
		}
		return nil, false, arena.Invalid(v...)
	}
	switch raw := bytes.TrimSpace(in.Registry); {
	case len(raw) == 0:
	case bytes.Equal(raw, []byte("null")):
		clear = true
	default:
		var reg struct {
			Username string `json:"username"`
			Password string `json:"password"`
		}
		dec := json.NewDecoder(bytes.NewReader(raw))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&reg); err != nil {
			return nil, false, arena.Invalid(arena.Violation{Field: "registry", Description: "must be {username, password} or null"})
		}
		a.Registry = &arena.RegistryAuth{Username: reg.Username, Password: reg.Password}
	}
	return a, clear, nil
}

func (s *api) createApp(w http.ResponseWriter, r *http.Request, _ *arena.Token, org string) error {
	a, _, err := decodeApp(w, r, org)
	if err != nil {
		return err
	}
	if a, err = s.apps.CreateApplication(r.Context(), a); err != nil {
		return err
	}
	s.writeJSON(w, r, http.StatusCreated, s.appView(a))
	return nil
}

func (s *api) updateApp(w http.ResponseWriter, r *http.Request, _ *arena.Token, org string) error {
	a, clear, err := decodeApp(w, r, org)
	if err != nil {
		return err
	}
	name := r.PathValue("name")
	if a.Name != "" && a.Name != name {
		return arena.Invalid(arena.Violation{Field: "name", Description: "must be the name in the path (or absent); applications are not renamed"})
	}
	a.Name = name
	if a, err = s.apps.UpdateApplication(r.Context(), a, clear); err != nil {
		return err
	}
	s.writeJSON(w, r, http.StatusOK, s.appView(a))
	return nil
}

func (s *api) deleteApp(w http.ResponseWriter, r *http.Request, _ *arena.Token, org string) error {
	if err := s.apps.DeleteApplication(r.Context(), org, r.PathValue("name")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// decodeStrict reads one JSON object into v, refusing unknown fields and
// values of the wrong type with a violation that names the field.
func decodeStrict(w http.ResponseWriter, r *http.Request, v any) error {
	body, err := readBody(w, r)
	if err != nil {
		return err
	}
	if _, err := jsonObject(body); err != nil {
		return err
	}
	// encoding/json matches a key to a field whatever its case: "Name"
	// would be name, and {"name":…,"NAME":…} two values of it, the last
	// taken. Field names are as the document spells them, as SessionRun's.
	if field, want, ok := miscased(json.NewDecoder(bytes.NewReader(body)), reflect.TypeOf(v), ""); ok {
		return arena.Invalid(arena.Violation{Field: field, Description: fmt.Sprintf("is not a field; field names are case-sensitive (%s)", want)})
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	err = dec.Decode(v)
	var typeErr *json.UnmarshalTypeError
	switch {
	case err == nil:
		return nil
	case errors.As(err, &typeErr):
		return arena.Invalid(arena.Violation{Field: typeErr.Field, Description: fmt.Sprintf("must be a %s", typeErr.Type)})
	}
	// encoding/json names an unknown field only in its message.
	return arena.Invalid(arena.Violation{Field: "body", Description: err.Error()})
}

// miscased reads the next JSON value of dec, decoded into a value of type t,
// and returns the first key (named as violations name fields) that matches
// a struct field of t only when case is ignored, with the field's name. A
// type that decodes itself is not looked into.
func miscased(dec *json.Decoder, t reflect.Type, path string) (field, want string, ok bool) {
	for t != nil && t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t != nil && reflect.PointerTo(t).Implements(reflect.TypeFor[json.Unmarshaler]()) {
		t = nil
	}
	tok, err := dec.Token()
	if err != nil {
		return "", "", false
	}
	switch tok {
	case json.Delim('{'):
		var fields map[string]reflect.Type
		if t != nil && t.Kind() == reflect.Struct {
			fields = jsonFields(t)
		}
		for dec.More() {
			k, err := dec.Token()
			if err != nil {
				return "", "", false
			}
			key, _ := k.(string)
			name := key
			if path != "" {
				name = path + "." + key
			}
			var elem reflect.Type
			switch {
			case fields != nil:
				elem = fields[key]
				if elem == nil {
					for f := range fields {
						if strings.EqualFold(f, key) {
							return name, f, true
						}
					}
				}
			case t != nil && t.Kind() == reflect.Map:
				elem = t.Elem()
			}
			if f, w, ok := miscased(dec, elem, name); ok {
				return f, w, true
			}
		}
		_, _ = dec.Token()
	case json.Delim('['):
		var elem reflect.Type
		if t != nil && (t.Kind() == reflect.Slice || t.Kind() == reflect.Array) {
			elem = t.Elem()
		}
		for i := 0; dec.More(); i++ {
			if f, w, ok := miscased(dec, elem, fmt.Sprintf("%s[%d]", path, i)); ok {
				return f, w, true
			}
		}
		_, _ = dec.Token()
	}
	return "", "", false
}

// jsonFields returns the JSON names of a struct's fields, as encoding/json
// names them, with their types.
func jsonFields(t reflect.Type) map[string]reflect.Type {
	out := map[string]reflect.Type{}
	for f := range t.Fields() {
		tag := f.Tag.Get("json")
		if tag == "-" {
			continue
		}
		name, _, _ := strings.Cut(tag, ",")
		if f.Anonymous && name == "" {
			ft := f.Type
			if ft.Kind() == reflect.Pointer {
				ft = ft.Elem()
			}
			if ft.Kind() == reflect.Struct {
				maps.Copy(out, jsonFields(ft))
				continue
			}
		}
		if !f.IsExported() {
			continue
		}
		if name == "" {
			name = f.Name
		}
		out[name] = f.Type
	}
	return out
}
