package server

import "github.com/arena-hq/arena"

// Catalog answers which applications an organisation may run.
type Catalog interface {
	// Application returns an organisation's application by name, or ENOTFOUND.
	Application(orgID, name string) (*arena.Application, error)
	// Images returns every image the nodes should hold: each tag of each
	// application, with its registry's credentials.
	Images() []arena.WantedImage
}

// StaticCatalog is a Catalog over a fixed list, as read from a config file.
type StaticCatalog struct {
	apps   map[[2]string]*arena.Application
	images []arena.WantedImage
}

var _ Catalog = (*StaticCatalog)(nil)

// NewStaticCatalog returns a catalog of apps.
func NewStaticCatalog(apps []*arena.Application) *StaticCatalog {
	c := &StaticCatalog{apps: map[[2]string]*arena.Application{}}
	for _, a := range apps {
		c.apps[[2]string{a.OrgID, a.Name}] = a
	}
	c.images = arena.WantedImages(apps)
	return c
}

// Images implements Catalog.
func (c *StaticCatalog) Images() []arena.WantedImage { return c.images }

// Application implements Catalog.
func (c *StaticCatalog) Application(orgID, name string) (*arena.Application, error) {
	if a, ok := c.apps[[2]string{orgID, name}]; ok {
		return a, nil
	}
	return nil, arena.Errorf(arena.ENOTFOUND, "image %q not found", name)
}
