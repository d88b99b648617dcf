// Package digitalocean is Arena's provider of DigitalOcean droplets: it
// creates them with the machine's labels as tags, finds them again by a
// tag, and deletes them by id.
//
// A DigitalOcean tag is one string, so a label is the tag "key:value".
// The API filters droplets by one tag only: List asks for one label's tag
// and checks the others itself.
package digitalocean

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/digitalocean/godo"
	"golang.org/x/oauth2"

	"github.com/arena-hq/arena"
	"github.com/arena-hq/arena/provider/internal/cloud"
)

// Config is a DigitalOcean provider's: one team's account, by its API
// token.
type Config struct {
	// Name is the provider's name in the scaling policies; "digitalocean"
	// when empty.
	Name string
	// Token is the account's personal access token (read and write).
	Token string
	// Endpoint is the API's base URL, without /v2; the real API's when
	// empty.
	Endpoint string
	// SSHKeys are the account's SSH keys put on every droplet, by id or
	// fingerprint; optional.
	SSHKeys []string
	// VPCUUID is the VPC droplets are created in; the region's default VPC
	// when empty.
	VPCUUID string
	// Timeout bounds a call whose context has no deadline; 30s when zero.
	Timeout time.Duration
	// MaxRetries is how often a rate-limited or transiently failed request
	// is retried by the SDK: 3 when zero, none when negative. RetryWait is
	// the first wait (1s when zero), doubled each retry up to RetryMaxWait
	// (8s when zero).
	MaxRetries              int
	RetryWait, RetryMaxWait time.Duration
}

// Provider creates, lists and deletes the droplets of one DigitalOcean
// account.
type Provider struct {
	cfg    Config
	client *godo.Client
}

var _ arena.Provider = (*Provider)(nil)

// New returns the provider of cfg. It makes no call: bad credentials show
// on the first one.
func New(cfg Config) (*Provider, error) {
	if cfg.Name == "" {
		cfg.Name = "digitalocean"
	}
	if cfg.Token == "" {
		return nil, arena.Invalid(arena.Violation{Field: "token", Description: "a DigitalOcean API token is required"})
	}
	retries, wait, maxWait := cloud.Retries(cfg.MaxRetries, cfg.RetryWait, cfg.RetryMaxWait)
	opts := []godo.ClientOpt{
		godo.SetUserAgent("arena"),
		// godo retries 429s and 5xx answers (but 501), waiting from
		// RetryWaitMin doubled up to RetryWaitMax, and hands on the last
		// answer as its *ErrorResponse; no retries at all with RetryMax 0.
		godo.WithRetryAndBackoffs(godo.RetryConfig{
			RetryMax:     retries,
			RetryWaitMin: godo.PtrTo(wait.Seconds()),
			RetryWaitMax: godo.PtrTo(maxWait.Seconds()),
		}),
	}
	if cfg.Endpoint != "" {
		// The SDK's paths are relative (v2/droplets): without the slash
		// they would replace the last segment of an endpoint's path.
		opts = append(opts, godo.SetBaseURL(strings.TrimSuffix(cfg.Endpoint, "/")+"/"))
	}
	// The retrying client takes the token from an oauth2 transport, so the
	// HTTP client given must have one.
	httpClient := oauth2.NewClient(context.Background(), oauth2.StaticTokenSource(&oauth2.Token{AccessToken: cfg.Token}))
	client, err := godo.New(httpClient, opts...)
	if err != nil {
		return nil, arena.Invalid(arena.Violation{Field: "endpoint", Description: "not a URL: " + cfg.Endpoint})
	}
	return &Provider{cfg: cfg, client: client}, nil
}

// Name is the provider's name in the scaling policies.
func (p *Provider) Name() string { return p.cfg.Name }

// Create creates a droplet of spec and returns it as soon as DigitalOcean
// took the order: its boot is not waited for, the machine's agent joining
// is what tells it ran.
func (p *Provider) Create(ctx context.Context, spec arena.MachineSpec) (arena.Machine, error) {
	const doing = "creating the machine"
	tags, err := Tags(spec.Labels)
	if err != nil {
		return arena.Machine{}, cloud.Fail(arena.EINVALID, p.cfg.Name, doing, err.Error(), nil)
	}
	req := &godo.DropletCreateRequest{
		Name:     spec.Name,
		Region:   spec.Region,
		Size:     spec.InstanceType,
		Image:    godo.DropletCreateImage{Slug: spec.Image},
		SSHKeys:  p.sshKeys(),
		UserData: spec.UserData,
		Tags:     tags,
		VPCUUID:  p.cfg.VPCUUID,
	}
	ctx, cancel := cloud.Context(ctx, p.cfg.Timeout)
	defer cancel()
	d, _, err := p.client.Droplets.Create(ctx, req)
	if err != nil {
		return arena.Machine{}, p.fail(doing, err, arena.EINVALID)
	}
	if d == nil {
		return arena.Machine{}, arena.Internal(errors.New("the answer has no droplet"), "creating a DigitalOcean droplet")
	}
	return machine(d), nil
}

// sshKeys returns the configured keys as the API takes them: a number is
// a key's id, anything else its fingerprint.
func (p *Provider) sshKeys() []godo.DropletCreateSSHKey {
	keys := []godo.DropletCreateSSHKey{}
	for _, k := range p.cfg.SSHKeys {
		if id, err := strconv.Atoi(k); err == nil {
			keys = append(keys, godo.DropletCreateSSHKey{ID: id})
			continue
		}
		keys = append(keys, godo.DropletCreateSSHKey{Fingerprint: k})
	}
	return keys
}

// List returns the account's droplets that carry all of labels.
func (p *Provider) List(ctx context.Context, labels map[string]string) ([]arena.Machine, error) {
	const doing = "listing the machines"
	if _, err := Tags(labels); err != nil {
		return nil, cloud.Fail(arena.EINVALID, p.cfg.Name, doing, err.Error(), nil)
	}
	ctx, cancel := cloud.Context(ctx, p.cfg.Timeout)
	defer cancel()
	tag := filterTag(labels)
	opts := &godo.ListOptions{Page: 1, PerPage: 200}
	machines := []arena.Machine{}
	for {
		var droplets []godo.Droplet
		var resp *godo.Response
		var err error
		if tag == "" {
			droplets, resp, err = p.client.Droplets.List(ctx, opts)
		} else {
			droplets, resp, err = p.client.Droplets.ListByTag(ctx, tag, opts)
		}
		if err != nil {
			return nil, p.fail(doing, err, arena.EINVALID)
		}
		for i := range droplets {
			if m := machine(&droplets[i]); carries(m.Labels, labels) {
				machines = append(machines, m)
			}
		}
		if resp.Links == nil || resp.Links.IsLastPage() {
			return machines, nil
		}
		// The page a next link follows is told by the previous link: one
		// that is not the page asked for would ask for the same pages
		// again, forever.
		page, err := resp.Links.CurrentPage()
		if err != nil || page != opts.Page {
			return nil, arena.Internal(fmt.Errorf("page %d of the droplets links to %+v", opts.Page, *resp.Links.Pages), "listing DigitalOcean droplets")
		}
		opts.Page = page + 1
	}
}

// filterTag returns the tag the API is asked to filter the droplets of
// labels by: the installation's, which every droplet of Arena's carries
// and is what the scaler lists by, or else that of the first key, so that
// the same labels make the same request. Empty for no labels.
func filterTag(labels map[string]string) string {
	if v, ok := labels[arena.MachineLabelInstallation]; ok {
		return Tag(arena.MachineLabelInstallation, v)
	}
	keys := slices.Sorted(maps.Keys(labels))
	if len(keys) == 0 {
		return ""
	}
	return Tag(keys[0], labels[keys[0]])
}

// carries reports whether have holds every label of want.
func carries(have, want map[string]string) bool {
	for k, v := range want {
		if got, ok := have[k]; !ok || got != v {
			return false
		}
	}
	return true
}

// maxTagLen is the longest tag DigitalOcean takes.
const maxTagLen = 255

// Tag returns the DigitalOcean tag of the label key=value.
func Tag(key, value string) string { return key + ":" + value }

// Tags returns the tags of labels, in the order of their keys so that the
// same labels make the same request. A tag is of letters, digits, ':',
// '-' and '_': a key must not hold ':', which ends it, and a value may.
func Tags(labels map[string]string) ([]string, error) {
	tags := make([]string, 0, len(labels))
	for _, k := range slices.Sorted(maps.Keys(labels)) {
		v := labels[k]
		switch {
		case k == "" || !tagChars(k, false):
			return nil, fmt.Errorf("label key %q is not of letters, digits, '-' and '_'", k)
		case !tagChars(v, true):
			return nil, fmt.Errorf("the value %q of label %s is not of letters, digits, ':', '-' and '_'", v, k)
		case len(Tag(k, v)) > maxTagLen:
			return nil, fmt.Errorf("label %s is longer than the %d characters of a DigitalOcean tag", k, maxTagLen)
		}
		tags = append(tags, Tag(k, v))
	}
	return tags, nil
}

func tagChars(s string, colon bool) bool {
	for _, c := range s {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || colon && c == ':') {
			return false
		}
	}
	return true
}

// Labels returns the labels of tags: a tag without a colon is no label
// of Arena's but one of the account's own.
func Labels(tags []string) map[string]string {
	labels := map[string]string{}
	for _, t := range tags {
		if k, v, ok := strings.Cut(t, ":"); ok && k != "" {
			labels[k] = v
		}
	}
	return labels
}

// Delete deletes the droplet with id; ENOTFOUND when there is none.
func (p *Provider) Delete(ctx context.Context, id string) error {
	const doing = "deleting the machine"
	n, err := strconv.Atoi(id)
	if err != nil || n <= 0 {
		return cloud.Fail(arena.EINVALID, p.cfg.Name, doing, "a droplet id is a positive number, not "+strconv.Quote(id), nil)
	}
	ctx, cancel := cloud.Context(ctx, p.cfg.Timeout)
	defer cancel()
	if _, err := p.client.Droplets.Delete(ctx, n); err != nil {
		return p.fail(doing, err, arena.ENOTFOUND)
	}
	return nil
}

func machine(d *godo.Droplet) arena.Machine {
	m := arena.Machine{
		ID:     strconv.Itoa(d.ID),
		Name:   d.Name,
		Labels: Labels(d.Tags),
		Status: d.Status,
	}
	// The address is assigned while the droplet is new: none yet is no
	// error.
	m.PublicIP, _ = d.PublicIPv4()
	if t, err := time.Parse(time.RFC3339, d.Created); err == nil {
		m.CreatedAt = t
	}
	return m
}

// fail classifies err by the HTTP status of the API's answer, or as a
// failure to reach the API. missing is the code of a 404 (see
// cloud.Status).
func (p *Provider) fail(doing string, err error, missing string) *arena.Error {
	code, reason := classify(err, missing)
	return cloud.Fail(code, p.cfg.Name, doing, reason, err, p.cfg.Token)
}

// noCapacity are what DigitalOcean's refusals of a droplet it cannot
// create now say (all of them 422 unprocessable_entity, like a malformed
// request): the account's droplet limit, or a size or region sold out.
var noCapacity = []string{"droplet limit", "not available", "capacity"}

// classify goes by the status of godo's *ErrorResponse. The API's error
// id (unauthorized, not_found, too_many_requests, unprocessable_entity,
// ...) names the status and nothing more, and godo does not decode it.
func classify(err error, missing string) (code, reason string) {
	var apiErr *godo.ErrorResponse
	if errors.As(err, &apiErr) && apiErr.Response != nil {
		status := apiErr.Response.StatusCode
		switch {
		case status == http.StatusTooManyRequests:
			return arena.EUNAVAILABLE, "rate limited by DigitalOcean"
		case status == http.StatusUnauthorized || status == http.StatusForbidden:
			return arena.EUNAUTHORIZED, fmt.Sprintf("DigitalOcean refused the token (HTTP %d)", status)
		case status == http.StatusNotFound:
			if missing == arena.ENOTFOUND {
				return arena.ENOTFOUND, "no such machine"
			}
			return missing, "DigitalOcean does not know what was asked for (HTTP 404)"
		case status == http.StatusUnprocessableEntity:
			msg := strings.ToLower(apiErr.Message)
			for _, s := range noCapacity {
				if strings.Contains(msg, s) {
					return arena.EUNAVAILABLE, "DigitalOcean has no capacity for it now (HTTP 422)"
				}
			}
			return arena.EINVALID, "DigitalOcean refused the request (HTTP 422)"
		case status >= 500:
			return arena.EUNAVAILABLE, fmt.Sprintf("DigitalOcean failed, which may pass (HTTP %d)", status)
		}
		return cloud.Status(status, missing)
	}
	var argErr *godo.ArgError
	if errors.As(err, &argErr) {
		return arena.EINVALID, "the spec is incomplete for DigitalOcean"
	}
	if code, reason, ok := cloud.Transport(err); ok {
		return code, reason
	}
	return arena.EINTERNAL, "unexpected failure of the DigitalOcean API"
}
