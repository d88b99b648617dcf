package server

import "github.com/arena-hq/arena"

// Catalog answers which applications an organisation may run.
type Catalog interface {
	// Application returns an organisation's application by name, or ENOTFOUND.
	Application(orgID, name string) (*arena.Application, error)
}

// StaticCatalog is a Catalog over a fixed list, as read from a config file.
type StaticCatalog struct {
	apps map[[2]string]*arena.Application
}

var _ Catalog = (*StaticCatalog)(nil)

// NewStaticCatalog returns a catalog of apps.
func NewStaticCatalog(apps []*arena.Application) *StaticCatalog {
	c := &StaticCatalog{apps: map[[2]string]*arena.Application{}}
	for _, a := range apps {
		c.apps[[2]string{a.OrgID, a.Name}] = a
	}
	return c
}

// Application implements Catalog.
func (c *StaticCatalog) Application(orgID, name string) (*arena.Application, error) {
	if a, ok := c.apps[[2]string{orgID, name}]; ok {
		return a, nil
	}
	return nil, arena.Errorf(arena.ENOTFOUND, "image %q not found", name)
}
