package docker

import (
	"context"
	"time"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/client"
)

// Engine describes the Docker Engine a Runtime talks to.
type Engine struct {
	Version string
	Storage string
	CPUs    int
}

// Engine returns what the engine says of itself.
func (r *Runtime) Engine(ctx context.Context) (_ Engine, err error) {
	defer r.observe("info", time.Now(), &err)
	ctx, cancel := r.call(ctx, 0)
	defer cancel()
	info, err := r.cli.Info(ctx, client.InfoOptions{})
	if err != nil {
		return Engine{}, wrapError(err, "asking the docker engine about itself")
	}
	return Engine{Version: info.Info.ServerVersion, Storage: info.Info.Driver, CPUs: info.Info.NCPU}, nil
}

// StartBare creates and starts a container of image with no ports, limits,
// init or confinement: the engine's own work alone, the floor that Start is
// measured against. labels should carry arena.LabelNode, so that List finds
// the container and it can be cleaned up.
func (r *Runtime) StartBare(ctx context.Context, name, image string, labels map[string]string) (_ string, err error) {
	defer r.observe("start_bare", time.Now(), &err)
	ctx, cancel := r.startCall(ctx)
	defer cancel()
	created, err := r.cli.ContainerCreate(ctx, client.ContainerCreateOptions{
		Name: name, Config: &container.Config{Image: image, Labels: labels}, HostConfig: &container.HostConfig{},
	})
	if err != nil {
		return "", wrapError(err, "creating a container")
	}
	if _, err := r.cli.ContainerStart(ctx, created.ID, client.ContainerStartOptions{}); err != nil {
		return created.ID, wrapError(err, "starting a container")
	}
	return created.ID, nil
}
