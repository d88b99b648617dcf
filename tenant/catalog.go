package tenant

import (
	"cmp"
	"context"
	"slices"
	"sync"
	"time"

	"github.com/arena-hq/arena"
)

// StaticCatalog is an arena.Catalog over a fixed list, as read from a config file.
type StaticCatalog struct {
	apps   map[[2]string]*arena.Application
	images []arena.WantedImage
	pools  []arena.PoolSpec
}

var _ arena.Catalog = (*StaticCatalog)(nil)

// NewStaticCatalog returns a catalog of apps.
func NewStaticCatalog(apps []*arena.Application) *StaticCatalog {
	c := &StaticCatalog{apps: map[[2]string]*arena.Application{}}
	for _, a := range apps {
		c.apps[[2]string{a.OrgID, a.Name}] = a
	}
	c.images, c.pools = arena.WantedImages(apps), arena.PoolSpecs(apps)
	return c
}

// Images implements Catalog.
func (c *StaticCatalog) Images() []arena.WantedImage { return c.images }

// Pools implements Catalog.
func (c *StaticCatalog) Pools() []arena.PoolSpec { return c.pools }

// Application implements Catalog.
func (c *StaticCatalog) Application(orgID, name string) (*arena.Application, error) {
	if a, ok := c.apps[[2]string{orgID, name}]; ok {
		return a, nil
	}
	return nil, arena.Errorf(arena.ENOTFOUND, "image %q not found", name)
}

// AppCatalog is the arena.Catalog kept in the store: applications created through
// the admin API and those the config file defines. It answers from memory,
// reloaded after every change it makes, because placing a session must not
// wait on the store for what rarely changes.
type AppCatalog struct {
	store  arena.TenantStore
	sealer *Sealer
	now    func() time.Time

	// reloading serialises reloads, so that two changes finishing at once
	// cannot leave the older list in place.
	reloading sync.Mutex
	// writing serialises changes, so that one reads the application as the
	// change before it left it: an update keeping the stored credentials
	// must not bring back those a concurrent one removed.
	writing  sync.Mutex
	mu       sync.RWMutex
	apps     map[[2]string]*arena.Application
	images   []arena.WantedImage
	pools    []arena.PoolSpec
	onChange func()
}

var _ arena.Catalog = (*AppCatalog)(nil)

// NewAppCatalog loads the store's applications, opening their registry
// credentials with sealer.
func NewAppCatalog(ctx context.Context, store arena.TenantStore, sealer *Sealer) (*AppCatalog, error) {
	c := &AppCatalog{store: store, sealer: sealer, now: func() time.Time { return time.Now().UTC() }}
	return c, c.reload(ctx)
}

// OnChange sets what to call after the set of applications changed, such
// as sending nodes the new list of images to hold.
func (c *AppCatalog) OnChange(f func()) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.onChange = f
}

func (c *AppCatalog) reload(ctx context.Context) error {
	c.reloading.Lock()
	defer c.reloading.Unlock()
	list, err := c.store.ListApplications(ctx, "")
	if err != nil {
		return err
	}
	apps := make(map[[2]string]*arena.Application, len(list))
	for _, a := range list {
		if err := c.sealer.openRegistry(a); err != nil {
			return err
		}
		apps[[2]string{a.OrgID, a.Name}] = a
	}
	images, pools := arena.WantedImages(list), arena.PoolSpecs(list)
	c.mu.Lock()
	c.apps, c.images, c.pools = apps, images, pools
	f := c.onChange
	c.mu.Unlock()
	if f != nil {
		f()
	}
	return nil
}

// Application implements Catalog.
func (c *AppCatalog) Application(orgID, name string) (*arena.Application, error) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	if a, ok := c.apps[[2]string{orgID, name}]; ok {
		return a, nil
	}
	return nil, arena.Errorf(arena.ENOTFOUND, "image %q not found", name)
}

// Images implements Catalog.
func (c *AppCatalog) Images() []arena.WantedImage {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.images
}

// Pools implements Catalog.
func (c *AppCatalog) Pools() []arena.PoolSpec {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.pools
}

// List returns an organisation's applications ordered by name.
func (c *AppCatalog) List(orgID string) []*arena.Application {
	c.mu.RLock()
	defer c.mu.RUnlock()
	var out []*arena.Application
	for k, a := range c.apps {
		if k[0] == orgID {
			out = append(out, a)
		}
	}
	slices.SortFunc(out, func(a, b *arena.Application) int { return cmp.Compare(a.Name, b.Name) })
	return out
}

// Create adds an application through the admin API. Sessions already
// running are untouched by this and every later change: each carries what
// it runs.
func (c *AppCatalog) Create(ctx context.Context, a *arena.Application) (*arena.Application, error) {
	c.writing.Lock()
	defer c.writing.Unlock()
	a = a.Clone()
	if err := a.Validate(); err != nil {
		return nil, err
	}
	if _, err := c.store.FindOrganization(ctx, a.OrgID); err != nil {
		return nil, err
	}
	if n := len(c.List(a.OrgID)); n >= arena.MaxApplicationsPerOrg {
		return nil, arena.Errorf(arena.ECONFLICT, "organisation %q has %d applications, the most it may have; delete one first", a.OrgID, n)
	}
	a.Source, a.CreatedAt = arena.SourceAPI, c.now()
	a.UpdatedAt = a.CreatedAt
	c.sealer.sealRegistry(a)
	if err := c.store.CreateApplication(ctx, a); err != nil {
		if arena.ErrorCode(err) == arena.ECONFLICT {
			return nil, arena.Errorf(arena.ECONFLICT, "application %q exists", a.Name)
		}
		return nil, err
	}
	return a, c.reload(ctx)
}

// Update replaces an application defined through the admin API. A nil
// Registry keeps the stored credentials, so that a client that never saw the
// password does not erase it; ClearRegistry removes them.
func (c *AppCatalog) Update(ctx context.Context, a *arena.Application, clearRegistry bool) (*arena.Application, error) {
	c.writing.Lock()
	defer c.writing.Unlock()
	old, err := c.Application(a.OrgID, a.Name)
	if err != nil {
		return nil, arena.Errorf(arena.ENOTFOUND, "application %q not found", a.Name)
	}
	if old.Source == arena.SourceConfig {
		return nil, arena.Errorf(arena.ECONFLICT, "application %q is defined in the config file; change it there", a.Name)
	}
	a = a.Clone()
	if a.Registry == nil && !clearRegistry {
		a.Registry = old.Registry
	}
	return c.replace(ctx, old, a)
}

// replace validates a and saves it in place of old; c.writing must be held.
func (c *AppCatalog) replace(ctx context.Context, old, a *arena.Application) (*arena.Application, error) {
	if err := a.Validate(); err != nil {
		return nil, err
	}
	a.Source, a.CreatedAt, a.UpdatedAt = old.Source, old.CreatedAt, c.now()
	c.sealer.sealRegistry(a)
	if err := c.store.UpdateApplication(ctx, a); err != nil {
		return nil, err
	}
	return a, c.reload(ctx)
}

// Edit changes an application defined through the admin API in place: edit
// gets a copy as the store has it, registry credentials included, and what
// it leaves is validated and saved. Reading and writing happen under the
// catalog's write lock, so that two edits at once cannot lose either. An
// edit that returns an error changes nothing.
func (c *AppCatalog) Edit(ctx context.Context, orgID, name string, edit func(*arena.Application) error) (*arena.Application, error) {
	c.writing.Lock()
	defer c.writing.Unlock()
	old, err := c.Application(orgID, name)
	if err != nil {
		return nil, arena.Errorf(arena.ENOTFOUND, "application %q not found", name)
	}
	if old.Source == arena.SourceConfig {
		return nil, arena.Errorf(arena.ECONFLICT, "application %q is defined in the config file; change it there", name)
	}
	a := old.Clone()
	if err := edit(a); err != nil {
		return nil, err
	}
	a.OrgID, a.Name = old.OrgID, old.Name
	return c.replace(ctx, old, a)
}

// Delete removes an application defined through the admin API.
func (c *AppCatalog) Delete(ctx context.Context, orgID, name string) error {
	c.writing.Lock()
	defer c.writing.Unlock()
	old, err := c.Application(orgID, name)
	if err != nil {
		return arena.Errorf(arena.ENOTFOUND, "application %q not found", name)
	}
	if old.Source == arena.SourceConfig {
		return arena.Errorf(arena.ECONFLICT, "application %q is defined in the config file; remove it there", name)
	}
	if err := c.store.DeleteApplication(ctx, orgID, name); err != nil {
		return err
	}
	return c.reload(ctx)
}

// SyncConfig makes the store's config-file applications those of apps:
// new ones are created, changed ones updated, and those gone from the file
// deleted. An application of the same name created through the API is left
// alone and reported as a conflict. Organisations the file names are created.
func (c *AppCatalog) SyncConfig(ctx context.Context, apps []*arena.Application) error {
	c.writing.Lock()
	defer c.writing.Unlock()
	stored, err := c.store.ListApplications(ctx, "")
	if err != nil {
		return err
	}
	inFile := map[[2]string]bool{}
	now := c.now()
	for _, a := range apps {
		a = a.Clone()
		inFile[[2]string{a.OrgID, a.Name}] = true
		if err := c.store.CreateOrganization(ctx, &arena.Organization{ID: a.OrgID, Name: a.OrgID, Environment: arena.EnvProduction, CreatedAt: now}); err != nil && arena.ErrorCode(err) != arena.ECONFLICT {
			return err
		}
		a.Source, a.CreatedAt, a.UpdatedAt = arena.SourceConfig, now, now
		c.sealer.sealRegistry(a)
		i := slices.IndexFunc(stored, func(s *arena.Application) bool { return s.OrgID == a.OrgID && s.Name == a.Name })
		switch {
		case i < 0:
			err = c.store.CreateApplication(ctx, a)
		case stored[i].Source != arena.SourceConfig:
			return arena.Errorf(arena.ECONFLICT, "application %s/%s of the config file exists already, created through the API", a.OrgID, a.Name)
		default:
			a.CreatedAt = stored[i].CreatedAt
			err = c.store.UpdateApplication(ctx, a)
		}
		if err != nil {
			return err
		}
	}
	for _, s := range stored {
		if s.Source == arena.SourceConfig && !inFile[[2]string{s.OrgID, s.Name}] {
			if err := c.store.DeleteApplication(ctx, s.OrgID, s.Name); err != nil {
				return err
			}
		}
	}
	return c.reload(ctx)
}
