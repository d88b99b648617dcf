// Package registry asks container registries about an application's
// repository: which tags it has, and whether one exists. It speaks the OCI
// distribution API through go-containerregistry, with the application's
// registry credentials, from the control plane; nodes pull through their
// engine and never use it.
package registry

import (
	"context"
	"errors"
	"net/http"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"

	"github.com/arena-hq/arena"
)

// DefaultTimeout bounds one question to a registry, however many requests
// (token exchange, pages of tags) it takes.
const DefaultTimeout = 15 * time.Second

// Client asks registries; the zero value is ready to use.
type Client struct {
	// Timeout bounds each call; DefaultTimeout when zero.
	Timeout time.Duration
	// Transport carries the requests; http.DefaultTransport when nil.
	Transport http.RoundTripper
}

// Tags lists the tags of repository (a reference without tag, such as
// registry.example.com/studio/game or studio/game on Docker Hub), in the
// registry's order.
func (c *Client) Tags(ctx context.Context, repository string, auth *arena.RegistryAuth) ([]string, error) {
	repo, err := name.NewRepository(repository)
	if err != nil {
		return nil, arena.Errorf(arena.EINVALID, "%q is not a repository: %v", repository, err)
	}
	ctx, cancel := c.deadline(ctx)
	defer cancel()
	tags, err := remote.List(repo, c.options(ctx, auth)...)
	if err != nil {
		return nil, classify(err, repository)
	}
	return tags, nil
}

// HasTag reports whether repository:tag exists in its registry.
func (c *Client) HasTag(ctx context.Context, repository, tag string, auth *arena.RegistryAuth) (bool, error) {
	ref, err := name.NewTag(repository + ":" + tag)
	if err != nil {
		return false, arena.Errorf(arena.EINVALID, "%s:%s is not an image reference: %v", repository, tag, err)
	}
	ctx, cancel := c.deadline(ctx)
	defer cancel()
	if _, err = remote.Head(ref, c.options(ctx, auth)...); err == nil {
		return true, nil
	}
	err = classify(err, ref.String())
	if arena.ErrorCode(err) == arena.ENOTFOUND {
		return false, nil
	}
	return false, err
}

func (c *Client) deadline(ctx context.Context) (context.Context, context.CancelFunc) {
	d := c.Timeout
	if d <= 0 {
		d = DefaultTimeout
	}
	return context.WithTimeout(ctx, d)
}

func (c *Client) options(ctx context.Context, auth *arena.RegistryAuth) []remote.Option {
	opts := []remote.Option{remote.WithContext(ctx), remote.WithAuth(authn.Anonymous)}
	if auth != nil {
		opts[1] = remote.WithAuth(&authn.Basic{Username: auth.Username, Password: auth.Password})
	}
	if c.Transport != nil {
		opts = append(opts, remote.WithTransport(c.Transport))
	}
	return opts
}

// classify gives a registry's answer an arena code by its HTTP status and
// error codes, never by its text: a repository or tag it does not have is
// ENOTFOUND; credentials it refuses are ECONFLICT, a fault of the
// application's registry login rather than of the caller's token; anything
// else (unreachable, 5xx, a deadline) is EUNAVAILABLE, worth retrying.
func classify(err error, what string) error {
	var terr *transport.Error
	if errors.As(err, &terr) {
		switch {
		case terr.StatusCode == http.StatusNotFound || hasCode(terr, transport.NameUnknownErrorCode, transport.ManifestUnknownErrorCode):
			return &arena.Error{Code: arena.ENOTFOUND, Message: "the registry has no " + what, Err: err}
		case terr.StatusCode == http.StatusUnauthorized || terr.StatusCode == http.StatusForbidden ||
			hasCode(terr, transport.UnauthorizedErrorCode, transport.DeniedErrorCode):
			return &arena.Error{Code: arena.ECONFLICT, Message: "the registry refused the application's credentials for " + what + "; set the application's registry login", Err: err}
		}
	}
	return &arena.Error{Code: arena.EUNAVAILABLE, Message: "the registry of " + what + " cannot be reached or failed; try again later", Err: err}
}

func hasCode(terr *transport.Error, codes ...transport.ErrorCode) bool {
	for _, d := range terr.Errors {
		for _, c := range codes {
			if d.Code == c {
				return true
			}
		}
	}
	return false
}
