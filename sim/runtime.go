// Package sim is a simulated container runtime. It starts nothing: containers
// are entries in memory that "run" until stopped or crashed on purpose. It
// lets benchmarks measure the control plane alone and tests drive crashes and
// node loss quickly; the docker package is what really runs sessions.
package sim

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/arena-hq/arena"
	"github.com/arena-hq/arena/agent"
	"github.com/arena-hq/arena/launcher"
)

// Runtime is a simulated agent.Runtime. It is safe for concurrent use and may
// be shared by several simulated nodes.
type Runtime struct {
	mu         sync.Mutex
	seq        int
	containers map[string]*arena.Container // by id
	specs      map[string]arena.ContainerSpec
	// names and byNode index the containers, so that a simulation of many
	// nodes and sessions costs no more per call than one node does.
	names    map[string]string                // name -> id
	byNode   map[string]map[string]struct{}   // node id -> ids
	watchers map[string]map[*watcher]struct{} // by node id
	// outputs are the containers' simulated stdout and stderr, by id.
	outputs map[string]*output
	// images, when non-nil, lists the images that exist; others are ENOTFOUND.
	images map[string]bool
	// registry answers pulls; nil refuses them.
	registry func(ctx context.Context, ref string, auth *arena.RegistryAuth) error
	// taken are host ports something else on the machine holds: a start
	// publishing one of them fails.
	taken map[int]bool
	// deaf are the sessions whose game servers serve on none of their
	// ports, as one still loading or never binding would.
	deaf map[string]bool
	// blind makes what containers serve on unknowable, as to an agent
	// without the host's process table.
	blind bool
	// deafNew makes the game servers of containers started from now on
	// deaf.
	deafNew bool
	// claims are, by container id, what the launchers of containers
	// started with one read; nil while one waits (see launch.go).
	claims map[string]*launcher.Claim
}

type watcher struct {
	nodeID string
	ch     chan arena.ContainerExit
}

var _ agent.Runtime = (*Runtime)(nil)

// New returns an empty simulated runtime in which every image exists.
func New() *Runtime {
	return &Runtime{
		containers: map[string]*arena.Container{}, specs: map[string]arena.ContainerSpec{}, watchers: map[string]map[*watcher]struct{}{},
		names: map[string]string{}, byNode: map[string]map[string]struct{}{}, outputs: map[string]*output{},
		claims: map[string]*launcher.Claim{},
	}
}

// SetImages limits the images that exist to refs.
func (r *Runtime) SetImages(refs ...string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.images = map[string]bool{}
	for _, ref := range refs {
		r.images[ref] = true
	}
}

// SetRegistry makes pulls call pull, which says whether the image can be
// had; a pull that succeeds adds the image to those that exist. pull may
// block, to hold a pull in progress.
func (r *Runtime) SetRegistry(pull func(ctx context.Context, ref string, auth *arena.RegistryAuth) error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.registry = pull
}

// TakePorts makes host ports taken, as by a socket on the machine: a start
// of a bridge-mode container publishing one of them fails with EPORTINUSE,
// as the engine's does. Containers already started keep theirs.
func (r *Runtime) TakePorts(ports ...int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.taken == nil {
		r.taken = map[int]bool{}
	}
	for _, p := range ports {
		r.taken[p] = true
	}
}

// FreePorts undoes TakePorts.
func (r *Runtime) FreePorts(ports ...int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, p := range ports {
		delete(r.taken, p)
	}
}

// ImageExists implements agent.Runtime.
func (r *Runtime) ImageExists(ctx context.Context, ref string) (bool, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.images == nil || r.images[ref], nil
}

// ImageConfig implements agent.Runtime: a simulated image runs
// /game-server with no arguments.
func (r *Runtime) ImageConfig(ctx context.Context, ref string) (arena.ImageConfig, error) {
	if ok, _ := r.ImageExists(ctx, ref); !ok {
		return arena.ImageConfig{}, arena.Errorf(arena.ENOTFOUND, "image %s not found", ref)
	}
	return arena.ImageConfig{Entrypoint: []string{"/game-server"}, Env: []string{"PATH=/usr/bin:/bin"}}, nil
}

// PullImage implements agent.Runtime.
func (r *Runtime) PullImage(ctx context.Context, ref string, auth *arena.RegistryAuth) error {
	r.mu.Lock()
	pull := r.registry
	r.mu.Unlock()
	if pull == nil {
		return arena.Errorf(arena.EUNAVAILABLE, "pulling image %s: the simulation has no registry", ref)
	}
	if err := pull(ctx, ref, auth); err != nil {
		return err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.images != nil {
		r.images[ref] = true
	}
	return nil
}

// Start implements agent.Runtime.
func (r *Runtime) Start(ctx context.Context, spec arena.ContainerSpec) (string, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.images != nil && !r.images[spec.Image] {
		return "", arena.Errorf(arena.ENOTFOUND, "image %s not found", spec.Image)
	}
	if _, taken := r.names[spec.Name]; taken {
		return "", arena.Errorf(arena.ECONFLICT, "container name %s is taken", spec.Name)
	}
	if spec.Network != arena.NetworkHost {
		for _, p := range spec.Ports {
			if r.taken[p.Host] {
				return "", arena.Errorf(arena.EPORTINUSE, "host port %d of container %s is taken", p.Host, spec.Name)
			}
		}
	}
	r.seq++
	id := fmt.Sprintf("sim-%d", r.seq)
	c := &arena.Container{
		ID: id, Name: spec.Name, SessionID: spec.Labels[arena.LabelSession], NodeID: spec.Labels[arena.LabelNode],
		Labels: spec.Labels, Running: true, StartedAt: time.Now(),
	}
	r.containers[id] = c
	r.specs[id] = spec
	if r.deafNew {
		if r.deaf == nil {
			r.deaf = map[string]bool{}
		}
		r.deaf[spec.Labels[arena.LabelSession]] = true
	}
	r.names[spec.Name] = id
	if spec.LauncherDir != "" {
		r.launch(id, spec)
	}
	r.outputs[id] = newOutput()
	r.outputs[id].data = []byte("simulated server started: " + spec.Name + "\n")
	if r.byNode[c.NodeID] == nil {
		r.byNode[c.NodeID] = map[string]struct{}{}
	}
	r.byNode[c.NodeID][id] = struct{}{}
	return id, nil
}

// Restart implements agent.Runtime.
func (r *Runtime) Restart(ctx context.Context, id string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	c, ok := r.containers[id]
	if !ok {
		return arena.Errorf(arena.ENOTFOUND, "container %s not found", id)
	}
	c.Running, c.StartedAt = true, time.Now()
	if o := r.outputs[id]; o != nil {
		o.exited = false
	}
	if spec := r.specs[id]; spec.LauncherDir != "" {
		r.launch(id, spec)
	}
	return nil
}

// Stop implements agent.Runtime: the simulated process honours SIGTERM at once.
func (r *Runtime) Stop(ctx context.Context, id string, grace time.Duration) error {
	return r.exit(id, 0)
}

// Crash ends a session's process with code, as if it had exited by itself.
func (r *Runtime) Crash(sessionID string, code int) error {
	r.mu.Lock()
	var id string
	for _, c := range r.containers {
		if c.SessionID == sessionID && c.Running {
			id = c.ID
		}
	}
	r.mu.Unlock()
	if id == "" {
		return arena.Errorf(arena.ENOTFOUND, "no running container of session %s", sessionID)
	}
	return r.exit(id, code)
}

func (r *Runtime) exit(id string, code int) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	c, ok := r.containers[id]
	if !ok {
		return arena.Errorf(arena.ENOTFOUND, "container %s not found", id)
	}
	if !c.Running {
		return nil
	}
	c.Running, c.ExitCode, c.FinishedAt = false, code, time.Now()
	r.abandon(id)
	if o := r.outputs[id]; o != nil {
		o.exited = true
		o.note()
	}
	ex := arena.ContainerExit{ContainerID: id, SessionID: c.SessionID, ExitCode: code, At: c.FinishedAt}
	for w := range r.watchers[c.NodeID] {
		select {
		case w.ch <- ex:
		default:
			// A full watcher has fallen behind: end its stream so that its
			// agent lists again instead of missing this exit.
			delete(r.watchers[c.NodeID], w)
			close(w.ch)
		}
	}
	return nil
}

// Remove implements agent.Runtime. Like the engine's, it takes a
// container's name as well as its id.
func (r *Runtime) Remove(ctx context.Context, id string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if named, ok := r.names[id]; ok {
		id = named
	}
	if c, ok := r.containers[id]; ok {
		delete(r.names, c.Name)
		delete(r.byNode[c.NodeID], id)
		if len(r.byNode[c.NodeID]) == 0 {
			delete(r.byNode, c.NodeID)
		}
	}
	if o := r.outputs[id]; o != nil {
		o.exited = true
		o.note()
	}
	r.abandon(id)
	delete(r.claims, id)
	delete(r.outputs, id)
	delete(r.containers, id)
	delete(r.specs, id)
	return nil
}

// Inspect implements agent.Runtime. Like the engine's, it takes a
// container's name as well as its id.
func (r *Runtime) Inspect(ctx context.Context, id string) (arena.Container, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if named, ok := r.names[id]; ok {
		id = named
	}
	c, ok := r.containers[id]
	if !ok {
		return arena.Container{}, arena.Errorf(arena.ENOTFOUND, "container %s not found", id)
	}
	return *c, nil
}

// Serving implements agent.Runtime: a running container serves on every
// port of its spec, unless its session is deaf (SetDeaf).
func (r *Runtime) Serving(ctx context.Context, id string) (arena.Sockets, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if named, ok := r.names[id]; ok {
		id = named
	}
	c, ok := r.containers[id]
	switch {
	case !ok:
		return arena.Sockets{}, arena.Errorf(arena.ENOTFOUND, "container %s not found", id)
	case !c.Running:
		return arena.Sockets{}, arena.Errorf(arena.ECONFLICT, "container %s is not running", id)
	case r.blind:
		return arena.Sockets{}, arena.Errorf(arena.EUNAVAILABLE, "the sockets of container %s cannot be read here", id)
	case r.deaf[c.SessionID] || r.waiting(id):
		return arena.Sockets{}, nil
	}
	spec := r.specs[id]
	var out arena.Sockets
	for _, p := range spec.Ports {
		port := p.Container
		if spec.Network == arena.NetworkHost {
			port = p.Host
		}
		if p.Protocol == arena.UDP {
			out.UDP = append(out.UDP, port)
		} else {
			out.TCP = append(out.TCP, port)
		}
	}
	return out, nil
}

// SetBlind makes what containers serve on unknowable, or knowable again.
func (r *Runtime) SetBlind(blind bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.blind = blind
}

// SetDeafNew makes the game servers of the containers started from now on
// serve on none of their ports; false ends that, and makes every game
// server serve again.
func (r *Runtime) SetDeafNew(deaf bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.deafNew = deaf
	if !deaf {
		r.deaf = nil
	}
}

// SetDeaf makes the game server of a session serve on none of its ports,
// or, with deaf false, on all of them again.
func (r *Runtime) SetDeaf(sessionID string, deaf bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.deaf == nil {
		r.deaf = map[string]bool{}
	}
	r.deaf[sessionID] = deaf
}

// List implements agent.Runtime.
func (r *Runtime) List(ctx context.Context, nodeID string) ([]arena.Container, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]arena.Container, 0, len(r.byNode[nodeID]))
	for id := range r.byNode[nodeID] {
		out = append(out, *r.containers[id])
	}
	return out, nil
}

// Spec returns the spec a session's container was started with.
func (r *Runtime) Spec(sessionID string) (arena.ContainerSpec, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for id, c := range r.containers {
		if c.SessionID == sessionID {
			return r.specs[id], true
		}
	}
	return arena.ContainerSpec{}, false
}

// Exits implements agent.Runtime.
func (r *Runtime) Exits(ctx context.Context, nodeID string) (<-chan arena.ContainerExit, error) {
	w := &watcher{nodeID: nodeID, ch: make(chan arena.ContainerExit, 1024)}
	r.mu.Lock()
	if r.watchers[nodeID] == nil {
		r.watchers[nodeID] = map[*watcher]struct{}{}
	}
	r.watchers[nodeID][w] = struct{}{}
	r.mu.Unlock()
	go func() {
		<-ctx.Done()
		r.mu.Lock()
		defer r.mu.Unlock()
		if _, ok := r.watchers[nodeID][w]; ok {
			delete(r.watchers[nodeID], w)
			close(w.ch)
		}
	}()
	return w.ch, nil
}
