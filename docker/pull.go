package docker

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"time"

	"github.com/distribution/reference"
	"github.com/moby/moby/api/types/registry"
	"github.com/moby/moby/client"

	"github.com/arena-hq/arena"
)

// PullImage fetches image ref from its registry, presenting auth when it is
// not nil. It returns once the engine holds the image, with EINVALID for a
// reference the engine cannot parse and otherwise the registry's reason
// (unauthorized, unknown tag, unreachable) in the error's message.
func (r *Runtime) PullImage(ctx context.Context, ref string, auth *arena.RegistryAuth) (err error) {
	named, err := reference.ParseNormalizedNamed(ref)
	if err != nil {
		return arena.Errorf(arena.EINVALID, "image reference %q: %v", ref, err)
	}
	opts := client.ImagePullOptions{}
	if auth != nil {
		enc, err := encodeAuth(registry.AuthConfig{
			Username: auth.Username, Password: auth.Password, ServerAddress: reference.Domain(named),
		})
		if err != nil {
			return err
		}
		opts.RegistryAuth = enc
	}
	defer r.observe("pull", time.Now(), &err)
	ctx, cancel := context.WithTimeout(ctx, r.pullTimeout)
	defer cancel()
	res, err := r.cli.ImagePull(ctx, ref, opts)
	if err != nil {
		return pullError(ref, err)
	}
	defer res.Close()
	// The engine answers at once and reports the pull's progress and its
	// failure in the stream that follows.
	if err := res.Wait(ctx); err != nil {
		return pullError(ref, err)
	}
	return nil
}

// pullError keeps the registry's words in the message, which travels to the
// control plane and the API: an operator needs "unauthorized" or "manifest
// unknown" to fix a pull. The code comes from the error's type.
func pullError(ref string, err error) error {
	code := errorCode(err)
	if code == arena.EINTERNAL {
		// A registry's refusal is no fault of Arena's.
		code = arena.EUNAVAILABLE
	}
	return arena.Errorf(code, "pulling image %s: %v", ref, err)
}

// encodeAuth encodes credentials the way the engine's X-Registry-Auth header
// takes them: JSON in URL-safe base64.
func encodeAuth(a registry.AuthConfig) (string, error) {
	data, err := json.Marshal(a)
	if err != nil {
		return "", arena.Internal(err, "encoding registry credentials")
	}
	return base64.URLEncoding.EncodeToString(data), nil
}
