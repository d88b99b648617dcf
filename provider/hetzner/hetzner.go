// Package hetzner is Arena's provider of Hetzner Cloud servers: it creates
// them with the machine's labels as Hetzner labels, finds them again by a
// label selector, and deletes them by id.
package hetzner

import (
	"context"
	"errors"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/hetznercloud/hcloud-go/v2/hcloud"

	"github.com/arena-hq/arena"
	"github.com/arena-hq/arena/provider/internal/cloud"
)

// Config is a Hetzner Cloud provider's: one project, by its API token.
type Config struct {
	// Name is the provider's name in the scaling policies; "hetzner" when
	// empty.
	Name string
	// Token is the project's API token (read and write).
	Token string
	// Endpoint is the API's base URL; the real API's when empty.
	Endpoint string
	// SSHKeys are the project's SSH keys put on every server, by id or
	// name; optional.
	SSHKeys []string
	// Timeout bounds a call whose context has no deadline; 30s when zero.
	Timeout time.Duration
	// MaxRetries is how often a rate-limited or transiently failed request
	// is retried by the SDK: 3 when zero, none when negative. RetryWait is
	// the first wait (1s when zero), doubled each retry up to RetryMaxWait
	// (8s when zero).
	MaxRetries              int
	RetryWait, RetryMaxWait time.Duration
}

// Provider creates, lists and deletes the servers of one Hetzner Cloud
// project.
type Provider struct {
	cfg    Config
	client *hcloud.Client
}

var _ arena.Provider = (*Provider)(nil)

// New returns the provider of cfg. It makes no call: bad credentials show
// on the first one.
func New(cfg Config) (*Provider, error) {
	if cfg.Name == "" {
		cfg.Name = "hetzner"
	}
	if cfg.Token == "" {
		return nil, arena.Invalid(arena.Violation{Field: "token", Description: "a Hetzner Cloud API token is required"})
	}
	retries, wait, maxWait := cloud.Retries(cfg.MaxRetries, cfg.RetryWait, cfg.RetryMaxWait)
	opts := []hcloud.ClientOption{
		hcloud.WithToken(cfg.Token),
		hcloud.WithApplication("arena", ""),
		hcloud.WithRetryOpts(hcloud.RetryOpts{
			BackoffFunc: hcloud.ExponentialBackoffWithOpts(hcloud.ExponentialBackoffOpts{Base: wait, Multiplier: 2, Cap: maxWait, Jitter: true}),
			MaxRetries:  retries,
		}),
	}
	if cfg.Endpoint != "" {
		opts = append(opts, hcloud.WithEndpoint(cfg.Endpoint))
	}
	return &Provider{cfg: cfg, client: hcloud.NewClient(opts...)}, nil
}

// Name is the provider's name in the scaling policies.
func (p *Provider) Name() string { return p.cfg.Name }

// Create creates a server of spec and returns it as soon as Hetzner took
// the order: its boot is not waited for, the machine's agent joining is
// what tells it ran.
func (p *Provider) Create(ctx context.Context, spec arena.MachineSpec) (arena.Machine, error) {
	const doing = "creating the machine"
	ctx, cancel := cloud.Context(ctx, p.cfg.Timeout)
	defer cancel()
	keys, err := p.sshKeys(ctx)
	if err != nil {
		return arena.Machine{}, err
	}
	opts := hcloud.ServerCreateOpts{
		Name:       spec.Name,
		ServerType: &hcloud.ServerType{Name: spec.InstanceType},
		Image:      &hcloud.Image{Name: spec.Image},
		SSHKeys:    keys,
		UserData:   spec.UserData,
		Labels:     maps.Clone(spec.Labels),
	}
	if spec.Region != "" {
		opts.Location = &hcloud.Location{Name: spec.Region}
	}
	if opts.Labels == nil {
		opts.Labels = map[string]string{}
	}
	res, resp, err := p.client.Server.Create(ctx, opts)
	if err != nil {
		return arena.Machine{}, p.fail(doing, resp, err, arena.EINVALID)
	}
	if res.Server == nil {
		return arena.Machine{}, arena.Internal(errors.New("the answer has no server"), "creating a Hetzner server")
	}
	return machine(res.Server), nil
}

// sshKeys resolves the configured keys: ids as they are, names by a
// lookup, since the API's create takes ids only.
func (p *Provider) sshKeys(ctx context.Context) ([]*hcloud.SSHKey, error) {
	const doing = "looking up the SSH keys"
	var keys []*hcloud.SSHKey
	for _, k := range p.cfg.SSHKeys {
		if id, err := strconv.ParseInt(k, 10, 64); err == nil {
			keys = append(keys, &hcloud.SSHKey{ID: id})
			continue
		}
		key, resp, err := p.client.SSHKey.GetByName(ctx, k)
		if err != nil {
			return nil, p.fail(doing, resp, err, arena.EINVALID)
		}
		if key == nil {
			return nil, cloud.Fail(arena.EINVALID, p.cfg.Name, doing, "no SSH key named "+strconv.Quote(k), nil)
		}
		keys = append(keys, key)
	}
	return keys, nil
}

// List returns the project's servers that carry all of labels.
func (p *Provider) List(ctx context.Context, labels map[string]string) ([]arena.Machine, error) {
	ctx, cancel := cloud.Context(ctx, p.cfg.Timeout)
	defer cancel()
	// Page by page rather than with AllWithOpts, which drops the answer
	// whose status classifies an error without a body.
	opts := hcloud.ServerListOpts{ListOpts: hcloud.ListOpts{LabelSelector: Selector(labels), PerPage: 50, Page: 1}}
	machines := []arena.Machine{}
	for {
		servers, resp, err := p.client.Server.List(ctx, opts)
		if err != nil {
			return nil, p.fail("listing the machines", resp, err, arena.EINVALID)
		}
		for _, s := range servers {
			machines = append(machines, machine(s))
		}
		pages := resp.Meta.Pagination
		if pages == nil || pages.NextPage == 0 || pages.NextPage <= opts.Page {
			return machines, nil
		}
		opts.Page = pages.NextPage
	}
}

// Selector returns Hetzner's label selector of servers carrying all of
// labels, in the order of their keys so that it is the same every time.
func Selector(labels map[string]string) string {
	terms := make([]string, 0, len(labels))
	for _, k := range slices.Sorted(maps.Keys(labels)) {
		terms = append(terms, k+"="+labels[k])
	}
	return strings.Join(terms, ",")
}

// Delete deletes the server with id; ENOTFOUND when there is none.
func (p *Provider) Delete(ctx context.Context, id string) error {
	const doing = "deleting the machine"
	n, err := strconv.ParseInt(id, 10, 64)
	if err != nil || n <= 0 {
		return cloud.Fail(arena.EINVALID, p.cfg.Name, doing, "a Hetzner server id is a positive number, not "+strconv.Quote(id), nil)
	}
	ctx, cancel := cloud.Context(ctx, p.cfg.Timeout)
	defer cancel()
	if _, resp, err := p.client.Server.DeleteWithResult(ctx, &hcloud.Server{ID: n}); err != nil {
		return p.fail(doing, resp, err, arena.ENOTFOUND)
	}
	return nil
}

func machine(s *hcloud.Server) arena.Machine {
	m := arena.Machine{
		ID:        strconv.FormatInt(s.ID, 10),
		Name:      s.Name,
		Labels:    maps.Clone(s.Labels),
		Status:    string(s.Status),
		CreatedAt: s.Created,
	}
	if !s.PublicNet.IPv4.IsUnspecified() {
		m.PublicIP = s.PublicNet.IPv4.IP.String()
	}
	return m
}

// fail classifies err of a call whose answer was resp (nil when there was
// none): by the API's error code, by the HTTP status when the answer had
// no code, or as a failure to reach the API. missing is the code of a
// not_found answer (see cloud.Status).
func (p *Provider) fail(doing string, resp *hcloud.Response, err error, missing string) *arena.Error {
	code, reason := classify(resp, err, missing)
	return cloud.Fail(code, p.cfg.Name, doing, reason, err, p.cfg.Token)
}

func classify(resp *hcloud.Response, err error, missing string) (code, reason string) {
	var apiErr hcloud.Error
	if errors.As(err, &apiErr) {
		switch apiErr.Code {
		case hcloud.ErrorCodeRateLimitExceeded:
			return arena.EUNAVAILABLE, "rate limited by Hetzner"
		case hcloud.ErrorCodeResourceUnavailable, hcloud.ErrorCodePlacementError, hcloud.ErrorCodeResourceLimitExceeded,
			hcloud.ErrorCodeNoSpaceLeftInLocation:
			return arena.EUNAVAILABLE, "Hetzner has no capacity for it now (" + string(apiErr.Code) + ")"
		case hcloud.ErrorCodeServerError, hcloud.ErrorCodeServiceError, hcloud.ErrorCodeBadGateway, hcloud.ErrorCodeTimeout,
			hcloud.ErrorCodeMaintenance, hcloud.ErrorCodeUnknownError, hcloud.ErrorCodeConflict, hcloud.ErrorCodeLocked,
			hcloud.ErrorCodeRobotUnavailable:
			return arena.EUNAVAILABLE, "Hetzner failed, which may pass (" + string(apiErr.Code) + ")"
		case hcloud.ErrorCodeUnauthorized, hcloud.ErrorCodeForbidden:
			return arena.EUNAUTHORIZED, "Hetzner refused the token (" + string(apiErr.Code) + ")"
		case hcloud.ErrorCodeNotFound:
			if missing == arena.ENOTFOUND {
				return arena.ENOTFOUND, "no such machine"
			}
			return missing, "Hetzner does not know what the spec names (not_found)"
		case hcloud.ErrorCodeInvalidInput, hcloud.ErrorCodeJSONError, hcloud.ErrorCodeInvalidServerType,
			hcloud.ErrorCodeUniquenessError, hcloud.ErrorUnsupportedError, hcloud.ErrorCodeProtected,
			hcloud.ErrorCodeResourceLocked, hcloud.ErrorDeprecatedAPIEndpoint:
			return arena.EINVALID, "Hetzner refused the request (" + string(apiErr.Code) + ")"
		}
	}
	// A code this version of the SDK does not know, or an error answer
	// without a body the SDK understood.
	if resp != nil && resp.Response != nil && resp.StatusCode >= 400 {
		return cloud.Status(resp.StatusCode, missing)
	}
	var argErr hcloud.ArgumentError
	if errors.As(err, &argErr) {
		return arena.EINVALID, "the spec is incomplete for Hetzner"
	}
	if code, reason, ok := cloud.Transport(err); ok {
		return code, reason
	}
	return arena.EINTERNAL, "unexpected failure of the Hetzner API"
}
