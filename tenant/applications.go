package tenant

import (
	"context"
	"log/slog"

	"github.com/arena-hq/arena"
)

// Registry answers questions about an application's repository in its
// registry, with the application's credentials; registry.Client implements it.
type Registry interface {
	// Tags lists the repository's tags.
	Tags(ctx context.Context, repository string, auth *arena.RegistryAuth) ([]string, error)
	// HasTag reports whether repository:tag exists.
	HasTag(ctx context.Context, repository, tag string, auth *arena.RegistryAuth) (bool, error)
}

// Applications is what the APIs change of organisations' applications:
// the admin API's create, update and delete, and the Gameye API's edits in
// place, tags enabled and registry listings. Changes go to the catalog
// kept in the store (AppCatalog); a fixed catalog (StaticCatalog) is read
// only.
type Applications struct {
	catalog  arena.Catalog
	registry Registry
	log      *slog.Logger
}

// NewApplications returns the applications of catalog, whose registries
// registry asks (nil asks none: the operations that need one are then
// unavailable); log (nil for none) hears of changes.
func NewApplications(catalog arena.Catalog, registry Registry, log *slog.Logger) *Applications {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Applications{catalog: catalog, registry: registry, log: log}
}

// appCatalog returns the catalog the admin API changes, or ECONFLICT when
// this control plane's applications are fixed (a static catalog).
func (s *Applications) appCatalog() (*AppCatalog, error) {
	if c, ok := s.catalog.(*AppCatalog); ok {
		return c, nil
	}
	return nil, arena.Errorf(arena.ECONFLICT, "this control plane's applications are fixed")
}

// ListApplications returns an organisation's applications, ordered by name.
func (s *Applications) ListApplications(ctx context.Context, orgID string) ([]*arena.Application, error) {
	c, err := s.appCatalog()
	if err != nil {
		return nil, err
	}
	return c.List(orgID), nil
}

// FindApplication returns an organisation's application, or ENOTFOUND.
func (s *Applications) FindApplication(ctx context.Context, orgID, name string) (*arena.Application, error) {
	a, err := s.catalog.Application(orgID, name)
	if err != nil {
		return nil, arena.Errorf(arena.ENOTFOUND, "application %q not found", name)
	}
	return a, nil
}

// CreateApplication adds an application to an organisation.
func (s *Applications) CreateApplication(ctx context.Context, a *arena.Application) (*arena.Application, error) {
	c, err := s.appCatalog()
	if err != nil {
		return nil, err
	}
	return c.Create(ctx, a)
}

// UpdateApplication replaces an application; see AppCatalog.Update.
func (s *Applications) UpdateApplication(ctx context.Context, a *arena.Application, clearRegistry bool) (*arena.Application, error) {
	c, err := s.appCatalog()
	if err != nil {
		return nil, err
	}
	return c.Update(ctx, a, clearRegistry)
}

// DeleteApplication removes an application; its running sessions go on.
func (s *Applications) DeleteApplication(ctx context.Context, orgID, name string) error {
	c, err := s.appCatalog()
	if err != nil {
		return err
	}
	return c.Delete(ctx, orgID, name)
}

// EditApplication changes an organisation's application in place; see
// AppCatalog.Edit.
func (s *Applications) EditApplication(ctx context.Context, orgID, name string, edit func(*arena.Application) error) (*arena.Application, error) {
	c, err := s.appCatalog()
	if err != nil {
		return nil, err
	}
	return c.Edit(ctx, orgID, name, edit)
}

// EnableTag makes tag one of the application's tags, the one sessions
// naming no version run, once the registry confirms it exists; nodes then
// pull it ahead of need. A tag enabled already stays as it is. The
// application's tagKeep may retire its lowest-priority tag (see
// arena.Application.EnableTag); sessions running it go on.
func (s *Applications) EnableTag(ctx context.Context, orgID, name, tag string) error {
	if !arena.ValidTag(tag) {
		return arena.Invalid(arena.Violation{Field: "tag", Description: "must be a Docker tag: letters, digits, '_', '.' and '-', at most 128"})
	}
	app, err := s.FindApplication(ctx, orgID, name)
	if err != nil {
		return err
	}
	switch {
	case app.Source == arena.SourceConfig:
		return arena.Errorf(arena.ECONFLICT, "application %q is defined in the config file; enable the tag there", name)
	case app.HasTag(tag):
		return nil
	}
	reg, err := s.registryClient()
	if err != nil {
		return err
	}
	// Asked before the catalog's lock is taken: a slow registry must not
	// hold up every other change of applications.
	ok, err := reg.HasTag(ctx, app.Repository, tag, app.Registry)
	switch {
	case err != nil:
		return err
	case !ok:
		return arena.Errorf(arena.ENOTFOUND, "the registry has no tag %q of %s", tag, app.Repository)
	}
	_, err = s.EditApplication(ctx, orgID, name, func(a *arena.Application) error {
		if a.Repository != app.Repository {
			return arena.Errorf(arena.ECONFLICT, "the application's repository changed while its tag was checked; try again")
		}
		a.EnableTag(tag)
		return nil
	})
	if err == nil {
		s.log.InfoContext(ctx, "tag enabled", "org", orgID, "application", name, "tag", tag)
	}
	return err
}

// RegistryTags lists the tags of the application's repository in its
// registry, in the registry's order.
func (s *Applications) RegistryTags(ctx context.Context, orgID, name string) ([]string, error) {
	app, err := s.FindApplication(ctx, orgID, name)
	if err != nil {
		return nil, err
	}
	reg, err := s.registryClient()
	if err != nil {
		return nil, err
	}
	return reg.Tags(ctx, app.Repository, app.Registry)
}

func (s *Applications) registryClient() (Registry, error) {
	if s.registry == nil {
		return nil, arena.Errorf(arena.EUNAVAILABLE, "this control plane asks no registry")
	}
	return s.registry, nil
}
