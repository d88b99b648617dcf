package agent

import (
	"context"
	"io"
	"time"

	"github.com/arena-hq/arena"
)

// Runtime runs containers on the agent's node. docker.Runtime implements it on
// the Docker Engine; a simulated runtime stands in for scale tests.
//
// Errors carry arena codes: ENOTFOUND for an unknown container or image,
// ECONFLICT for a name already taken, EPORTINUSE for a start whose host port
// is taken on the node, EUNAVAILABLE when the engine cannot be reached.
type Runtime interface {
	// Start creates and starts a container from spec and returns its id,
	// within ctx's deadline. A failed start may leave a container of the
	// spec's name behind (a create the engine finished after the call gave
	// up on it); a start again then fails with ECONFLICT.
	Start(ctx context.Context, spec arena.ContainerSpec) (string, error)
	// Restart starts an exited container again, keeping its ports.
	Restart(ctx context.Context, id string) error
	// Stop sends SIGTERM, waits up to grace for the process to exit, then kills it.
	Stop(ctx context.Context, id string, grace time.Duration) error
	// Remove deletes a container (by id or name), stopping it first if it
	// still runs.
	Remove(ctx context.Context, id string) error
	// Inspect returns one container, by id or name.
	Inspect(ctx context.Context, id string) (arena.Container, error)
	// Serving returns the ports a running container's processes serve on,
	// in its network namespace: TCP ports listening, UDP ports bound.
	// ENOTFOUND for an unknown container, ECONFLICT for one not running.
	Serving(ctx context.Context, id string) (arena.Sockets, error)
	// List returns every container labelled as belonging to nodeID.
	List(ctx context.Context, nodeID string) ([]arena.Container, error)
	// Logs returns what the container (by id or name) wrote to stdout and
	// stderr, interleaved as written, from the start; with follow it goes on
	// until the container stops or ctx ends. ENOTFOUND for an unknown one.
	Logs(ctx context.Context, container string, follow bool) (io.ReadCloser, error)
	// CopyFrom returns a tar stream of the file or folder at path in the
	// container (by id or name), running or stopped, as the engine's copy API
	// gives it: entries are named from the path's last element. ENOTFOUND for
	// an unknown container or path.
	CopyFrom(ctx context.Context, container, path string) (io.ReadCloser, error)
	// ImageConfig returns what image ref runs by default: ENOTFOUND when
	// the node does not hold it.
	ImageConfig(ctx context.Context, ref string) (arena.ImageConfig, error)
	// ImageExists reports whether the node holds image ref.
	ImageExists(ctx context.Context, ref string) (bool, error)
	// PullImage fetches image ref from its registry, presenting auth when
	// it is not nil. The error's message carries the registry's reason.
	PullImage(ctx context.Context, ref string, auth *arena.RegistryAuth) error
	// Exits streams the process exits of nodeID's containers. The channel is
	// closed when ctx ends or the stream breaks; the caller then lists and
	// subscribes again.
	Exits(ctx context.Context, nodeID string) (<-chan arena.ContainerExit, error)
}
