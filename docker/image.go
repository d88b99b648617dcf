package docker

import (
	"archive/tar"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/moby/moby/api/types/build"
	"github.com/moby/moby/api/types/jsonstream"
	"github.com/moby/moby/client"

	"github.com/arena-hq/arena"
)

// BuildImage builds image ref FROM scratch holding the executable at
// binaryPath as /<base name of binaryPath>, with entrypoint as ENTRYPOINT
// (that path alone when entrypoint is empty).
//
// It needs no registry: the build context is sent to the engine's classic
// builder, and scratch is not pulled. A dynamically linked executable, as Go
// makes with cgo on, gets its loader and shared libraries from this host
// beside it, at the paths it was linked to find them, so that the image
// works however the binary was built.
func (r *Runtime) BuildImage(ctx context.Context, ref, binaryPath string, entrypoint []string) (err error) {
	if ref == "" {
		return arena.Errorf(arena.EINVALID, "an image reference is required")
	}
	files, err := readRootfs(binaryPath)
	if err != nil {
		return err
	}
	if len(entrypoint) == 0 {
		entrypoint = []string{files[0].path}
	}
	ep, err := json.Marshal(entrypoint)
	if err != nil {
		return arena.Internal(err, "encoding the entrypoint")
	}
	// The context's rootfs/ is the image's /: one COPY, whatever the names.
	dockerfile := fmt.Sprintf("FROM scratch\nCOPY rootfs/ /\nENTRYPOINT %s\n", ep)

	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	files = append([]rootfsFile{{path: "Dockerfile", mode: 0o644, data: []byte(dockerfile)}}, files...)
	for _, f := range files {
		name := f.path
		if name != "Dockerfile" {
			name = "rootfs" + f.path
		}
		if err := tw.WriteHeader(&tar.Header{Name: name, Mode: f.mode, Size: int64(len(f.data)), Typeflag: tar.TypeReg}); err != nil {
			return arena.Internal(err, "writing the build context")
		}
		if _, err := tw.Write(f.data); err != nil {
			return arena.Internal(err, "writing the build context")
		}
	}
	if err := tw.Close(); err != nil {
		return arena.Internal(err, "writing the build context")
	}

	defer r.observe("build", time.Now(), &err)
	ctx, cancel := context.WithTimeout(ctx, r.buildTimeout)
	defer cancel()
	res, err := r.cli.ImageBuild(ctx, &buf, client.ImageBuildOptions{
		Tags:        []string{ref},
		Remove:      true,
		ForceRemove: true,
		// The classic builder: BuildKit would want to resolve the frontend
		// and scratch through a registry this node may not reach.
		Version: build.BuilderV1,
	})
	if err != nil {
		return wrapError(err, "building image "+ref)
	}
	defer res.Body.Close()
	return readBuildOutput(res.Body, ref)
}

// readBuildOutput reads the builder's JSON message stream to its end: a
// build that fails still answers 200 and reports the failure in the stream.
func readBuildOutput(body io.Reader, ref string) error {
	dec := json.NewDecoder(body)
	var log strings.Builder
	for {
		var m jsonstream.Message
		if err := dec.Decode(&m); err != nil {
			if errors.Is(err, io.EOF) {
				return nil
			}
			return wrapError(err, "reading the build output of "+ref)
		}
		log.WriteString(m.Stream)
		if m.Error != nil {
			return &arena.Error{
				Code:    arena.EINTERNAL,
				Message: fmt.Sprintf("building image %s failed: %s", ref, m.Error.Message),
				Err:     fmt.Errorf("%w; build output:\n%s", m.Error, log.String()),
			}
		}
	}
}

// ImageExists reports whether the engine has image ref.
func (r *Runtime) ImageExists(ctx context.Context, ref string) (_ bool, err error) {
	defer r.observe("image_exists", time.Now(), &err)
	ctx, cancel := r.call(ctx, 0)
	defer cancel()
	_, err = r.cli.ImageInspect(ctx, ref)
	switch {
	case err == nil:
		return true, nil
	case errorCode(err) == arena.ENOTFOUND:
		return false, nil
	}
	return false, wrapError(err, "inspecting image "+ref)
}

// ImageConfig returns what image ref runs by default. ENOTFOUND when the
// engine does not hold it.
func (r *Runtime) ImageConfig(ctx context.Context, ref string) (_ arena.ImageConfig, err error) {
	defer r.observe("image_inspect", time.Now(), &err)
	ctx, cancel := r.call(ctx, 0)
	defer cancel()
	img, err := r.cli.ImageInspect(ctx, ref)
	if err != nil {
		return arena.ImageConfig{}, wrapError(err, "inspecting image "+ref)
	}
	if img.Config == nil {
		return arena.ImageConfig{}, nil
	}
	return arena.ImageConfig{
		Entrypoint: slices.Clone(img.Config.Entrypoint), Cmd: slices.Clone(img.Config.Cmd), Env: slices.Clone(img.Config.Env),
	}, nil
}

// RemoveImage deletes image ref, even if stopped containers still use it.
// Removing an image that does not exist is not an error.
func (r *Runtime) RemoveImage(ctx context.Context, ref string) (err error) {
	defer r.observe("remove_image", time.Now(), &err)
	ctx, cancel := r.call(ctx, 0)
	defer cancel()
	_, err = r.cli.ImageRemove(ctx, ref, client.ImageRemoveOptions{Force: true, PruneChildren: true})
	if err != nil && errorCode(err) == arena.ENOTFOUND {
		return nil
	}
	return wrapError(err, "removing image "+ref)
}
