package http

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/arena-hq/arena"
	"github.com/arena-hq/arena/imageref"
)

// ApplicationAdmin is what the admin API and the Gameye API's application
// operations need to manage organisations' applications: their create,
// update and delete, edits in place, and the registry behind an
// application. Errors carry arena codes.
type ApplicationAdmin interface {
	ListApplications(ctx context.Context, orgID string) ([]*arena.Application, error)
	FindApplication(ctx context.Context, orgID, name string) (*arena.Application, error)
	CreateApplication(ctx context.Context, a *arena.Application) (*arena.Application, error)
	// UpdateApplication keeps the stored registry credentials when a has
	// none, unless clearRegistry.
	UpdateApplication(ctx context.Context, a *arena.Application, clearRegistry bool) (*arena.Application, error)
	DeleteApplication(ctx context.Context, orgID, name string) error
	// EditApplication changes an application with edit, reading and
	// writing it as one change: ENOTFOUND, or ECONFLICT for one the config
	// file owns.
	EditApplication(ctx context.Context, orgID, name string, edit func(*arena.Application) error) (*arena.Application, error)
	// EnableTag makes a tag the registry has one of the application's, the
	// one sessions run by default: ENOTFOUND for an unknown application or
	// a tag the registry lacks.
	EnableTag(ctx context.Context, orgID, name, tag string) error
	// RegistryTags lists the tags of the application's repository.
	RegistryTags(ctx context.Context, orgID, name string) ([]string, error)
}

// WithApplications serves the admin API's applications and the Gameye
// API's /application operations, on top of the admin API's tenants
// (WithTenants), which find the organisations.
func WithApplications(a ApplicationAdmin) Option { return func(s *api) { s.apps = a } }

func (s *api) applicationRoutes() {
	read, write := arena.ScopeApplicationRead, arena.ScopeApplicationWrite
	nf, inv, conf := arena.ENOTFOUND, arena.EINVALID, arena.ECONFLICT
	s.mux.HandleFunc("POST /application", s.authed(write, s.createApplication, inv, conf, nf))
	s.mux.HandleFunc("GET /application", s.authed(read, s.listApplications))
	s.mux.HandleFunc("PUT /application/{name}", s.authed(write, s.editApplication, nf, inv, conf))
	s.mux.HandleFunc("POST /application/{name}/tags", s.authed(write, s.enableTag, nf, inv, conf))
	s.mux.HandleFunc("GET /application/{name}/tags/available", s.authed(read, s.availableTags, nf, inv, conf))
}

// The Gameye API's application bodies. Pointers tell absent fields, which
// an edit leaves as they are, from zero ones.
type (
	resourcesBody struct {
		CPU *float64 `json:"cpu"`
		RAM *float64 `json:"ram"`
		GPU *float64 `json:"gpu"`
	}
	portBinding struct {
		Requested *int    `json:"requested"`
		Protocol  *string `json:"protocol"`
		TLS       *bool   `json:"tls"`
	}
	applicationBody struct {
		Name        *string        `json:"name"`
		Registry    *string        `json:"registry"`
		Repository  *string        `json:"repository"`
		TagKeep     *int           `json:"tagKeep"`
		NetworkMode *string        `json:"networkMode"`
		Limits      *resourcesBody `json:"limits"`
		Reservation *resourcesBody `json:"reservation"`
		NodePool    *string        `json:"nodePool"`
		Regions     *[]string      `json:"regions"`
		Ports       *[]portBinding `json:"ports"`
		// Arena's additions, never required: a client of the contract
		// sends none of them, and its application runs as the image says.
		User                   *string        `json:"user"`
		ReadOnlyRootFilesystem *bool          `json:"readOnlyRootFilesystem"`
		Tmpfs                  *[]string      `json:"tmpfs"`
		Readiness              *readinessView `json:"readiness"`
		WarmPools              *[]poolView    `json:"warmPools"`
	}

	listedApplication struct {
		Name        string            `json:"name"`
		Repository  string            `json:"repository"`
		TagKeep     int               `json:"tagKeep"`
		NetworkMode string            `json:"networkMode"`
		Limits      resourcesView     `json:"limits"`
		Reservation resourcesView     `json:"reservation"`
		Registry    string            `json:"registry"`
		NodePool    string            `json:"nodePool"`
		Regions     []string          `json:"regions"`
		Ports       []portBindingView `json:"ports"`
		// Tags are the enabled tags, an addition of Arena's, and so are
		// the container's security settings.
		Tags                   []arena.Tag   `json:"tags"`
		User                   string        `json:"user"`
		ReadOnlyRootFilesystem bool          `json:"readOnlyRootFilesystem"`
		Tmpfs                  []string      `json:"tmpfs"`
		Readiness              readinessView `json:"readiness"`
		WarmPools              []poolView    `json:"warmPools"`
	}
	resourcesView struct {
		CPU float64 `json:"cpu"`
		RAM float64 `json:"ram"`
	}
	portBindingView struct {
		Requested int    `json:"requested"`
		Protocol  string `json:"protocol"`
		TLS       bool   `json:"tls"`
	}
)

// dockerHub is how the Gameye API names Docker Hub, the registry of a
// repository without a host.
const dockerHub = "dockerhub"

// hasRegistryHost reports whether a repository's first component names a
// registry, as Docker reads references: it has a '.' or a ':', or is localhost.
func hasRegistryHost(repository string) bool {
	first, _, ok := strings.Cut(repository, "/")
	return ok && (strings.ContainsAny(first, ".:") || first == "localhost")
}

// splitRepository returns the registry and the path of an application's
// repository as the Gameye API shows them.
func splitRepository(repository string) (registry, path string) {
	if !hasRegistryHost(repository) {
		return dockerHub, repository
	}
	registry, path, _ = strings.Cut(repository, "/")
	return registry, path
}

// joinRepository is the inverse of splitRepository; v receives what is
// wrong, as the engine and the registry client will parse it.
func joinRepository(v *violations, registry, path string) string {
	if hasRegistryHost(path) {
		v.add("repository", "must not name a registry host; give it as registry")
	} else if err := imageref.Repository(path); err != nil {
		v.add("repository", "must be an image repository Docker can pull: "+err.Error())
	}
	switch registry {
	case "", dockerHub, "docker.io", "index.docker.io", "registry-1.docker.io":
		return path
	}
	if err := imageref.Host(registry); err != nil {
		v.add("registry", `must be "dockerhub" or a registry host such as registry.example.com:5000: `+err.Error())
	}
	return registry + "/" + path
}

// resources converts the Gameye API's {cpu cores, ram MiB} into Resources.
func (v *violations) resources(field string, b *resourcesBody) arena.Resources {
	var r arena.Resources
	if b.CPU == nil || b.RAM == nil {
		v.add(field, "needs cpu (cores) and ram (MiB)")
		return r
	}
	if *b.CPU < 0 || *b.CPU > 1000 || *b.RAM < 0 || *b.RAM > 16<<20 || math.IsNaN(*b.CPU) || math.IsNaN(*b.RAM) {
		v.add(field, "cpu must be 0 to 1000 cores and ram 0 to 16 TiB in MiB")
		return r
	}
	if b.GPU != nil && *b.GPU != 0 {
		v.add(field+".gpu", "Arena places no GPUs: must be 0 or absent")
	}
	return arena.Resources{MilliCPU: int64(math.Round(*b.CPU * 1000)), MemoryMB: int64(math.Ceil(*b.RAM))}
}

func (v *violations) ports(bindings []portBinding) []arena.PortSpec {
	out := make([]arena.PortSpec, 0, len(bindings))
	for i, p := range bindings {
		field := fmt.Sprintf("ports[%d]", i)
		if p.Requested == nil || p.Protocol == nil {
			v.add(field, "needs requested (the container port) and protocol")
			continue
		}
		if p.TLS != nil && *p.TLS {
			v.add(field+".tls", "Arena terminates no TLS: the game server must; must be false")
		}
		out = append(out, arena.PortSpec{Container: *p.Requested, Protocol: arena.Protocol(strings.ToLower(*p.Protocol))})
	}
	return out
}

// apply sets the fields of b that are present onto a; required lists the
// fields that must be, for a create.
func (b *applicationBody) apply(a *arena.Application, required bool) error {
	var v violations
	if required {
		for _, f := range []struct {
			name    string
			present bool
		}{
			{"name", b.Name != nil}, {"registry", b.Registry != nil}, {"repository", b.Repository != nil},
			{"tagKeep", b.TagKeep != nil}, {"networkMode", b.NetworkMode != nil}, {"limits", b.Limits != nil},
			{"reservation", b.Reservation != nil}, {"nodePool", b.NodePool != nil}, {"regions", b.Regions != nil},
			{"ports", b.Ports != nil},
		} {
			if !f.present {
				v.add(f.name, "is required")
			}
		}
		if b.Name != nil {
			a.Name = *b.Name
		}
	}
	if b.Registry != nil || b.Repository != nil {
		registry, path := splitRepository(a.Repository)
		if b.Registry != nil {
			registry = *b.Registry
		}
		if b.Repository != nil {
			path = *b.Repository
		}
		a.Repository = joinRepository(&v, registry, path)
	}
	if b.TagKeep != nil {
		a.TagKeep = *b.TagKeep
	}
	if b.NetworkMode != nil {
		a.Network = arena.NetworkMode(*b.NetworkMode)
		if a.Network == "" {
			v.add("networkMode", "must be bridge or host")
		}
	}
	if b.Reservation != nil {
		a.Resources = v.resources("reservation", b.Reservation)
	}
	if b.Limits != nil {
		a.Limits = v.resources("limits", b.Limits)
	}
	if b.NodePool != nil {
		a.NodePool = *b.NodePool
	}
	if b.Regions != nil {
		a.Regions = slices.Clone(*b.Regions)
	}
	if b.Ports != nil {
		a.Ports = v.ports(*b.Ports)
	}
	if b.User != nil {
		a.Security.User = *b.User
	}
	if b.ReadOnlyRootFilesystem != nil {
		a.Security.ReadOnlyRootFS = *b.ReadOnlyRootFilesystem
	}
	if b.Tmpfs != nil {
		a.Security.Tmpfs = slices.Clone(*b.Tmpfs)
	}
	if b.Readiness != nil {
		a.Readiness = b.Readiness.readiness()
	}
	if b.WarmPools != nil {
		a.Pools = warmPools(*b.WarmPools)
	}
	if len(v) > 0 {
		return arena.Invalid(v...)
	}
	return nil
}

func newListedApplication(a *arena.Application) listedApplication {
	registry, path := splitRepository(a.Repository)
	limits := a.Limits
	if limits == (arena.Resources{}) {
		limits = a.Resources
	}
	out := listedApplication{
		Name: a.Name, Repository: path, Registry: registry, TagKeep: a.TagKeep, NetworkMode: string(a.Network),
		Limits: newResourcesView(limits), Reservation: newResourcesView(a.Resources), NodePool: a.NodePool,
		Regions: nonNil(slices.Clone(a.Regions)), Ports: []portBindingView{}, Tags: nonNil(slices.Clone(a.Tags)),
		User: a.Security.User, ReadOnlyRootFilesystem: a.Security.ReadOnlyRootFS, Tmpfs: nonNil(slices.Clone(a.Security.Tmpfs)),
		Readiness: newReadinessView(a.Readiness), WarmPools: newPoolViews(a.Pools),
	}
	for _, p := range a.Ports {
		out.Ports = append(out.Ports, portBindingView{Requested: p.Container, Protocol: string(p.Protocol)})
	}
	return out
}

func newResourcesView(r arena.Resources) resourcesView {
	return resourcesView{CPU: float64(r.MilliCPU) / 1000, RAM: float64(r.MemoryMB)}
}

func (s *api) createApplication(w http.ResponseWriter, r *http.Request, tok *arena.Token) error {
	var body applicationBody
	if err := decodeStrict(w, r, &body); err != nil {
		return err
	}
	a := &arena.Application{OrgID: tok.OrgID}
	if err := body.apply(a, true); err != nil {
		return err
	}
	if _, err := s.apps.CreateApplication(r.Context(), a); err != nil {
		return err
	}
	s.writeJSON(w, r, http.StatusCreated, struct{}{})
	return nil
}

func (s *api) listApplications(w http.ResponseWriter, r *http.Request, tok *arena.Token) error {
	apps, err := s.apps.ListApplications(r.Context(), tok.OrgID)
	if err != nil {
		return err
	}
	out := struct {
		Applications []listedApplication `json:"applications"`
	}{Applications: make([]listedApplication, 0, len(apps))}
	for _, a := range apps {
		out.Applications = append(out.Applications, newListedApplication(a))
	}
	s.writeJSON(w, r, http.StatusOK, out)
	return nil
}

func (s *api) editApplication(w http.ResponseWriter, r *http.Request, tok *arena.Token) error {
	var body applicationBody
	if err := decodeStrict(w, r, &body); err != nil {
		return err
	}
	if body.Name != nil {
		return arena.Invalid(arena.Violation{Field: "name", Description: "is not a field of EditApplicationRequestBody: applications are not renamed"})
	}
	if _, err := s.apps.EditApplication(r.Context(), tok.OrgID, r.PathValue("name"), func(a *arena.Application) error {
		return body.apply(a, false)
	}); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (s *api) enableTag(w http.ResponseWriter, r *http.Request, tok *arena.Token) error {
	var body struct {
		Tag *string `json:"tag"`
	}
	if err := decodeStrict(w, r, &body); err != nil {
		return err
	}
	if body.Tag == nil {
		return arena.Invalid(arena.Violation{Field: "tag", Description: "is required"})
	}
	if err := s.apps.EnableTag(r.Context(), tok.OrgID, r.PathValue("name"), *body.Tag); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// maxTagsPage bounds the pageSize of a listing of a registry's tags.
const maxTagsPage = 100

func (s *api) availableTags(w http.ResponseWriter, r *http.Request, tok *arena.Token) error {
	page, size, err := parsePage(r.URL.Query())
	if err != nil {
		return err
	}
	tags, err := s.apps.RegistryTags(r.Context(), tok.OrgID, r.PathValue("name"))
	if err != nil {
		return err
	}
	type registryTag struct {
		Version string `json:"version"`
	}
	out := struct {
		Tags []registryTag `json:"tags"`
	}{Tags: []registryTag{}}
	// Pages count from 1; one past the end is empty, not an error.
	if start := (page - 1) * size; start < len(tags) {
		for _, t := range tags[start:min(start+size, len(tags))] {
			out.Tags = append(out.Tags, registryTag{Version: t})
		}
	}
	s.writeJSON(w, r, http.StatusOK, out)
	return nil
}

// parsePage reads the page and pageSize of a listing: 1 and 20 when absent.
func parsePage(q url.Values) (page, size int, err error) {
	var v violations
	read := func(name string, def, hi int) int {
		raw, ok := q[name]
		if !ok {
			return def
		}
		n, err := strconv.Atoi(raw[0])
		if len(raw) > 1 || err != nil || n < 1 || n > hi {
			v.add(name, fmt.Sprintf("must be given once, as an integer from 1 to %d", hi))
		}
		return n
	}
	page = read("page", 1, math.MaxInt32)
	size = read("pageSize", 20, maxTagsPage)
	if len(v) > 0 {
		return 0, 0, arena.Invalid(v...)
	}
	return page, size, nil
}

// tokenBody is the Gameye API's CreateTokenRequestBody.
type tokenBody struct {
	Name         *string   `json:"name"`
	Scopes       *[]string `json:"scopes"`
	ExpiresAfter *string   `json:"expires_after"`
}

// createContractToken serves the Gameye API's POST /token: a token of the
// caller's organisation, named uniquely among its tokens in force.
func (s *api) createContractToken(w http.ResponseWriter, r *http.Request, tok *arena.Token) error {
	var body tokenBody
	if err := decodeStrict(w, r, &body); err != nil {
		return err
	}
	var v violations
	req := arena.TokenRequest{UniqueName: true}
	if body.Name == nil {
		v.add("name", "is required")
	} else {
		req.Name = *body.Name
	}
	switch {
	case body.Scopes == nil:
		v.add("scopes", "is required")
	case len(*body.Scopes) == 0:
		v.add("scopes", "must name at least one scope")
	default:
		req.Scopes = *body.Scopes
	}
	if body.ExpiresAfter != nil {
		d, err := arena.ParseLifetime(*body.ExpiresAfter)
		if err != nil {
			v.add("expires_after", err.Error())
		}
		req.ExpiresIn = d
	}
	if len(v) > 0 {
		return arena.Invalid(v...)
	}
	_, secret, err := s.tenants.CreateToken(r.Context(), tok, tok.OrgID, req)
	if err != nil {
		return renameViolations(err, map[string]string{"expiresInSeconds": "expires_after"})
	}
	// The secret is shown here once; Arena keeps only its hash.
	w.Header().Set("Cache-Control", "no-store")
	s.writeJSON(w, r, http.StatusCreated, struct {
		Token string `json:"token"`
	}{secret})
	return nil
}

// renameViolations returns err with the fields of its violations named as
// the caller's body names them.
func renameViolations(err error, names map[string]string) error {
	var ae *arena.Error
	if !errors.As(err, &ae) || len(ae.Violations) == 0 {
		return err
	}
	e := *ae
	e.Violations = slices.Clone(ae.Violations)
	for i, x := range e.Violations {
		if n, ok := names[x.Field]; ok {
			e.Violations[i].Field = n
		}
	}
	return &e
}
