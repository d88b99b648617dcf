package http_test

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/arena-hq/arena"
)

// fakeTenants is an in-memory TenantAdmin with organisations testOrg and
// "other-org", for the transport's tests; the server's own tests and the
// end-to-end tests exercise the real one.
type fakeTenants struct {
	mu     sync.Mutex
	orgs   map[string]*arena.Organization
	users  map[string]*arena.User
	tokens map[string]*arena.Token
	apps   map[[2]string]*arena.Application
}

func newFakeTenants() *fakeTenants {
	at := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	return &fakeTenants{
		orgs: map[string]*arena.Organization{
			testOrg: {ID: testOrg, Name: "Test", Environment: arena.EnvProduction, CreatedAt: at},
			// The config file sets other-org's quota.
			"other-org": {ID: "other-org", Name: "Other", Environment: arena.EnvSandbox, CreatedAt: at,
				Quota: arena.Quota{MaxSessions: 5}, QuotaSource: arena.SourceConfig},
		},
		users:  map[string]*arena.User{},
		tokens: map[string]*arena.Token{},
		apps: map[[2]string]*arena.Application{
			{"other-org", "their-game"}: {OrgID: "other-org", Name: "their-game", Repository: "r", Tags: []arena.Tag{{Name: "1", Priority: 1}},
				Resources: arena.Resources{MilliCPU: 1, MemoryMB: 1}, Network: arena.NetworkBridge, Source: arena.SourceAPI, CreatedAt: at, UpdatedAt: at,
				Registry: &arena.RegistryAuth{Username: "them", Password: "their-secret"}},
		},
	}
}

func (f *fakeTenants) CreateOrganization(_ context.Context, o arena.Organization) (*arena.Organization, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if bad := arena.ValidName("id", o.ID); bad != nil {
		return nil, arena.Invalid(*bad)
	}
	if f.orgs[o.ID] != nil {
		return nil, arena.Errorf(arena.ECONFLICT, "organisation %q exists", o.ID)
	}
	if o.Environment == "" {
		o.Environment = arena.EnvProduction
	}
	o.CreatedAt = time.Now()
	f.orgs[o.ID] = &o
	return &o, nil
}

func (f *fakeTenants) FindOrganization(_ context.Context, id string) (*arena.Organization, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if o := f.orgs[id]; o != nil {
		return o, nil
	}
	return nil, arena.Errorf(arena.ENOTFOUND, "organisation %q not found", id)
}

func (f *fakeTenants) ListOrganizations(context.Context) ([]*arena.Organization, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return []*arena.Organization{f.orgs["other-org"], f.orgs[testOrg]}, nil
}

func (f *fakeTenants) SetQuota(_ context.Context, orgID string, q arena.Quota) (*arena.Organization, error) {
	if err := q.Validate(); err != nil {
		return nil, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	o := f.orgs[orgID]
	switch {
	case o == nil:
		return nil, arena.Errorf(arena.ENOTFOUND, "organisation %q not found", orgID)
	case o.QuotaSource == arena.SourceConfig:
		return nil, arena.Errorf(arena.ECONFLICT, "the quota of organisation %q is set in the config file", orgID)
	}
	c := *o
	c.Quota = q
	f.orgs[orgID] = &c
	return &c, nil
}

// QuotaUsage has testOrg run three sessions of a tenth of a core each.
func (f *fakeTenants) QuotaUsage(orgID string) arena.QuotaUsage {
	if orgID == testOrg {
		return arena.QuotaUsage{Sessions: 3, MilliCPU: 300}
	}
	return arena.QuotaUsage{}
}

func (f *fakeTenants) CreateUser(_ context.Context, u arena.User) (*arena.User, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	u.ID, u.CreatedAt = "u-"+u.Email, time.Now()
	f.users[u.ID] = &u
	return &u, nil
}

func (f *fakeTenants) ListUsers(_ context.Context, orgID string) ([]*arena.User, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []*arena.User
	for _, u := range f.users {
		if u.OrgID == orgID {
			out = append(out, u)
		}
	}
	return out, nil
}

func (f *fakeTenants) DeleteUser(_ context.Context, orgID, id string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if u := f.users[id]; u == nil || u.OrgID != orgID {
		return arena.Errorf(arena.ENOTFOUND, "user %q not found", id)
	}
	delete(f.users, id)
	return nil
}

func (f *fakeTenants) CreateToken(_ context.Context, _ *arena.Token, orgID string, req arena.TokenRequest) (*arena.Token, string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if req.Name == "" {
		return nil, "", arena.Invalid(arena.Violation{Field: "name", Description: "is required"})
	}
	t := &arena.Token{ID: "t-" + req.Name, OrgID: orgID, Name: req.Name, Scopes: req.Scopes, CreatedAt: time.Now()}
	f.tokens[t.ID] = t
	return t, "arena_secret-of-" + req.Name, nil
}

func (f *fakeTenants) ListTokens(_ context.Context, orgID string) ([]*arena.Token, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []*arena.Token
	for _, t := range f.tokens {
		if t.OrgID == orgID {
			out = append(out, t)
		}
	}
	return out, nil
}

func (f *fakeTenants) RevokeToken(_ context.Context, orgID, id string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if t := f.tokens[id]; t == nil || t.OrgID != orgID {
		return arena.Errorf(arena.ENOTFOUND, "token %q not found", id)
	}
	f.tokens[id].RevokedAt = time.Now()
	return nil
}

func (f *fakeTenants) ListApplications(_ context.Context, orgID string) ([]*arena.Application, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []*arena.Application
	for k, a := range f.apps {
		if k[0] == orgID {
			out = append(out, a)
		}
	}
	return out, nil
}

func (f *fakeTenants) FindApplication(_ context.Context, orgID, name string) (*arena.Application, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if a := f.apps[[2]string{orgID, name}]; a != nil {
		return a, nil
	}
	return nil, arena.Errorf(arena.ENOTFOUND, "application %q not found", name)
}

func (f *fakeTenants) CreateApplication(_ context.Context, a *arena.Application) (*arena.Application, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := a.Validate(); err != nil {
		return nil, err
	}
	if f.apps[[2]string{a.OrgID, a.Name}] != nil {
		return nil, arena.Errorf(arena.ECONFLICT, "application %q exists", a.Name)
	}
	a.Source, a.CreatedAt, a.UpdatedAt = arena.SourceAPI, time.Now(), time.Now()
	f.apps[[2]string{a.OrgID, a.Name}] = a
	return a, nil
}

func (f *fakeTenants) UpdateApplication(_ context.Context, a *arena.Application, clear bool) (*arena.Application, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	old := f.apps[[2]string{a.OrgID, a.Name}]
	if old == nil {
		return nil, arena.Errorf(arena.ENOTFOUND, "application %q not found", a.Name)
	}
	if a.Registry == nil && !clear {
		a.Registry = old.Registry
	}
	if err := a.Validate(); err != nil {
		return nil, err
	}
	a.Source, a.CreatedAt, a.UpdatedAt = old.Source, old.CreatedAt, time.Now()
	f.apps[[2]string{a.OrgID, a.Name}] = a
	return a, nil
}

func (f *fakeTenants) DeleteApplication(_ context.Context, orgID, name string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.apps[[2]string{orgID, name}] == nil {
		return arena.Errorf(arena.ENOTFOUND, "application %q not found", name)
	}
	delete(f.apps, [2]string{orgID, name})
	return nil
}

// PullStatus says every tag is present on one node of two, and a tag named
// "broken" failed on both.
func (f *fakeNodes) PullStatus(_ string, app *arena.Application) map[string]arena.TagStatus {
	out := map[string]arena.TagStatus{}
	for _, t := range app.Tags {
		if t.Name == "broken" {
			out[t.Name] = arena.TagStatus{State: arena.ImageFailed, Nodes: 2, Failed: 2, Error: "manifest unknown"}
			continue
		}
		out[t.Name] = arena.TagStatus{Exists: true, State: arena.ImagePresent, Nodes: 2, Present: 1, Pulling: 1}
	}
	return out
}

// EditApplication implements arenahttp.ApplicationAdmin.
func (f *fakeTenants) EditApplication(_ context.Context, orgID, name string, edit func(*arena.Application) error) (*arena.Application, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	a := f.apps[[2]string{orgID, name}]
	if a == nil {
		return nil, arena.Errorf(arena.ENOTFOUND, "application %q not found", name)
	}
	c := a.Clone()
	if err := edit(c); err != nil {
		return nil, err
	}
	if err := c.Validate(); err != nil {
		return nil, err
	}
	f.apps[[2]string{orgID, name}] = c
	return c, nil
}

// EnableTag implements arenahttp.ApplicationAdmin; its registry holds
// tags 1.0 to 1.2 of every application.
func (f *fakeTenants) EnableTag(ctx context.Context, orgID, name, tag string) error {
	if tag != "1.0" && tag != "1.1" && tag != "1.2" {
		if _, err := f.FindApplication(ctx, orgID, name); err != nil {
			return err
		}
		return arena.Errorf(arena.ENOTFOUND, "the registry has no tag %q", tag)
	}
	_, err := f.EditApplication(ctx, orgID, name, func(a *arena.Application) error {
		a.EnableTag(tag)
		return nil
	})
	return err
}

// RegistryTags implements arenahttp.ApplicationAdmin: 45 tags, v1 to v45.
func (f *fakeTenants) RegistryTags(ctx context.Context, orgID, name string) ([]string, error) {
	if _, err := f.FindApplication(ctx, orgID, name); err != nil {
		return nil, err
	}
	var out []string
	for i := 1; i <= 45; i++ {
		out = append(out, fmt.Sprintf("v%d", i))
	}
	return out, nil
}
