// Package docker runs session containers on a Docker Engine: it implements
// agent.Runtime and builds the scratch images of static game server binaries
// without a registry.
package docker

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net/netip"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/events"
	"github.com/moby/moby/api/types/mount"
	"github.com/moby/moby/api/types/network"
	"github.com/moby/moby/client"

	"github.com/arena-hq/arena"
	"github.com/arena-hq/arena/agent"
	"github.com/arena-hq/arena/launcher"
)

var _ agent.Runtime = (*Runtime)(nil)

// Defaults of the Runtime options.
const (
	DefaultCallTimeout  = 30 * time.Second
	DefaultBuildTimeout = 5 * time.Minute
	DefaultPullTimeout  = 15 * time.Minute
	DefaultPidsLimit    = 4096
)

// Logs are bounded per container so that a chatty game server cannot fill
// the node's disk: at most logMaxFiles files of logMaxSize each.
const (
	logMaxSize  = "10m"
	logMaxFiles = "2"
)

// Runtime runs Arena's containers on a Docker Engine.
//
// Every call to the engine gets a deadline of its own (the call timeout,
// within the caller's context), so that a hung engine turns into an
// EUNAVAILABLE error instead of a stuck agent. The Exits and Logs streams
// have it only until the engine answers: what follows may last hours.
//
// A Runtime is safe for concurrent use.
type Runtime struct {
	cli          *client.Client
	ownsClient   bool
	callTimeout  time.Duration
	buildTimeout time.Duration
	pullTimeout  time.Duration
	pidsLimit    int64
	observer     CallObserver
	// procs are the main processes of containers whose sockets were read.
	procs processes
}

// CallObserver learns how each call of a Runtime to the engine went: op names
// the method (start, restart, stop, remove, inspect, list, logs, copy, pull,
// image_exists, remove_image, build, ping, events for Exits), start is when
// the call began and err what the method returned, an *arena.Error or nil.
// Logs, CopyFrom and Exits return once their stream is open: the stream
// itself is not timed. A call refused before it reaches the engine (an
// invalid argument) is not observed. Calls made by another are observed
// too: List's inspect of each container, Exits' ping.
//
// *metrics.Registry is a CallObserver. DockerCall must be safe for concurrent
// use and quick: it runs on the caller's path.
type CallObserver interface {
	DockerCall(op string, start time.Time, err error)
}

// Option configures a Runtime.
type Option func(*Runtime)

// WithCallTimeout sets the deadline of each call to the engine.
func WithCallTimeout(d time.Duration) Option {
	return func(r *Runtime) { r.callTimeout = d }
}

// WithBuildTimeout sets the deadline of an image build, which takes longer
// than other calls.
func WithBuildTimeout(d time.Duration) Option {
	return func(r *Runtime) { r.buildTimeout = d }
}

// WithPullTimeout sets the deadline of an image pull, which may fetch
// gigabytes.
func WithPullTimeout(d time.Duration) Option {
	return func(r *Runtime) { r.pullTimeout = d }
}

// WithPidsLimit caps the number of processes of each container, so that a
// fork bomb in a game server stays within its container.
func WithPidsLimit(n int64) Option {
	return func(r *Runtime) { r.pidsLimit = n }
}

// WithMetrics reports every call to the engine to m.
func WithMetrics(m CallObserver) Option {
	return func(r *Runtime) { r.observer = m }
}

// New returns a Runtime on the engine that the DOCKER_HOST, DOCKER_API_VERSION,
// DOCKER_CERT_PATH and DOCKER_TLS_VERIFY environment variables name, or the
// local one. The API version is negotiated with the engine on the first call.
func New(opts ...Option) (*Runtime, error) {
	cli, err := client.New(client.FromEnv)
	if err != nil {
		return nil, arena.Internal(err, "configuring the docker client")
	}
	r := NewRuntime(cli, opts...)
	r.ownsClient = true
	return r, nil
}

// NewRuntime returns a Runtime on an existing client, which Close leaves open.
func NewRuntime(cli *client.Client, opts ...Option) *Runtime {
	r := &Runtime{
		cli:          cli,
		callTimeout:  DefaultCallTimeout,
		buildTimeout: DefaultBuildTimeout,
		pullTimeout:  DefaultPullTimeout,
		pidsLimit:    DefaultPidsLimit,
	}
	for _, o := range opts {
		o(r)
	}
	return r
}

// Client returns the Docker client, for what the Runtime does not cover
// (tests).
func (r *Runtime) Client() *client.Client { return r.cli }

// Close releases the client if New created it.
func (r *Runtime) Close() error {
	if r.ownsClient {
		return r.cli.Close()
	}
	return nil
}

// observe reports a call of op that began at start and ended with *err to
// the observer, if there is one. Deferred right after time.Now() is taken,
// it reads the error that the method returns.
func (r *Runtime) observe(op string, start time.Time, err *error) {
	if r.observer != nil {
		r.observer.DockerCall(op, start, *err)
	}
}

// call returns the context of one call to the engine.
func (r *Runtime) call(ctx context.Context, extra time.Duration) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, r.callTimeout+extra)
}

// startCall returns the context of one call of Start: the caller's
// deadline when it has one, longer or shorter than the call timeout (a
// start's own deadline, which a loaded engine may need all of), else the
// call timeout.
func (r *Runtime) startCall(ctx context.Context) (context.Context, context.CancelFunc) {
	if _, ok := ctx.Deadline(); ok {
		return context.WithCancel(ctx)
	}
	return r.call(ctx, 0)
}

// Ping checks that the engine answers.
func (r *Runtime) Ping(ctx context.Context) (err error) {
	defer r.observe("ping", time.Now(), &err)
	ctx, cancel := r.call(ctx, 0)
	defer cancel()
	_, err = r.cli.Ping(ctx, client.PingOptions{NegotiateAPIVersion: true})
	return wrapError(err, "pinging the docker engine")
}

// Start creates and starts a container from spec and returns its id. A
// container that was created but failed to start is removed again, so that
// a failed start leaves nothing behind and the name can be reused. A start
// that failed because a host port it publishes is taken, by a socket on the
// host or another container, is EPORTINUSE.
//
// spec must carry the arena.LabelNode label: a container without it would be
// invisible to List and never cleaned up.
//
// A caller's deadline bounds the create and the start instead of the call
// timeout when it is later: an engine busy with a burst of starts may take
// longer than one call's timeout to create a container, and a create given
// up on client-side carries on in the engine, leaving a container behind.
func (r *Runtime) Start(ctx context.Context, spec arena.ContainerSpec) (_ string, err error) {
	cfg, hostCfg, err := r.containerConfig(spec)
	if err != nil {
		return "", err
	}
	defer r.observe("start", time.Now(), &err)

	cctx, cancel := r.startCall(ctx)
	created, err := r.cli.ContainerCreate(cctx, client.ContainerCreateOptions{
		Name:       spec.Name,
		Config:     cfg,
		HostConfig: hostCfg,
	})
	cancel()
	if err != nil {
		e := wrapError(err, "creating container "+spec.Name)
		var ae *arena.Error
		if errors.As(e, &ae) {
			switch ae.Code {
			case arena.ENOTFOUND:
				ae.Message = fmt.Sprintf("image %s not found on the node", spec.Image)
			case arena.ECONFLICT:
				ae.Message = fmt.Sprintf("container name %s is already in use", spec.Name)
			}
		}
		return "", e
	}

	cctx, cancel = r.startCall(ctx)
	_, err = r.cli.ContainerStart(cctx, created.ID, client.ContainerStartOptions{})
	cancel()
	if err != nil {
		startErr := wrapError(err, "starting container "+spec.Name)
		if len(hostCfg.PortBindings) > 0 && portInUse(err) {
			// Told apart here, where the engine's words are known: the
			// agent moves the session to other ports rather than fail it.
			startErr = &arena.Error{Code: arena.EPORTINUSE, Err: err,
				Message: fmt.Sprintf("a host port of container %s is taken on the node (it was given %v)", spec.Name, arena.HostPortsOf(spec.Ports))}
		}
		// The caller's context may be what ended the start; the cleanup
		// must happen regardless.
		rctx, rcancel := r.call(context.WithoutCancel(ctx), 0)
		defer rcancel()
		if _, rmErr := r.cli.ContainerRemove(rctx, created.ID, client.ContainerRemoveOptions{Force: true, RemoveVolumes: true}); rmErr != nil && errorCode(rmErr) != arena.ENOTFOUND {
			var ae *arena.Error
			if errors.As(startErr, &ae) {
				ae.Err = errors.Join(ae.Err, fmt.Errorf("removing the container that failed to start: %w", rmErr))
			}
		}
		return "", startErr
	}
	return created.ID, nil
}

// CPUShares is the relative CPU weight of a container that reserves
// milliCPU: 1024, Docker's default weight, per reserved core, within the
// kernel's bounds of 2 and 262144. Weights in proportion to reservations
// split a busy node's CPU as placement booked it. Nothing reserved is 0,
// the engine's default weight.
func CPUShares(milliCPU int64) int64 {
	if milliCPU <= 0 {
		return 0
	}
	return min(max(milliCPU*1024/1000, 2), 262144)
}

// launcherMounts returns the read-only mount of the launcher's directory
// dir at its place in the container; none when dir is empty.
func launcherMounts(dir string) []mount.Mount {
	if dir == "" {
		return nil
	}
	return []mount.Mount{{Type: mount.TypeBind, Source: dir, Target: launcher.MountDir, ReadOnly: true}}
}

// tmpfsMounts returns the engine's tmpfs mounts of paths for a container
// whose memory is capped at memoryMB (0: not capped).
//
// What a container writes to a tmpfs is charged to its memory, so each is
// sized at the memory limit, as Kubernetes sizes a memory-backed emptyDir:
// a larger one could never fill, and the engine's default (half the host's
// memory) would tell the game server of room it does not have. Writes past
// it fail with ENOSPC instead of the container being killed for memory by
// its log files. Mounts are nosuid and nodev but not noexec: game servers
// on the JVM or .NET unpack native libraries into /tmp and map them from
// there, and noexec would stop only code that already runs in the process
// from running more, which an interpreter or memfd does anyway. mode=1777,
// as /tmp has, lets whichever user the container runs as write.
func tmpfsMounts(paths []string, memoryMB int64) map[string]string {
	if len(paths) == 0 {
		return nil
	}
	opts := "rw,nosuid,nodev,exec,mode=1777"
	if memoryMB > 0 {
		opts += fmt.Sprintf(",size=%dm", memoryMB)
	}
	mounts := make(map[string]string, len(paths))
	for _, p := range paths {
		mounts[p] = opts
	}
	return mounts
}

// containerConfig translates spec into the engine's configuration.
func (r *Runtime) containerConfig(spec arena.ContainerSpec) (*container.Config, *container.HostConfig, error) {
	var violations []arena.Violation
	if spec.Name == "" {
		violations = append(violations, arena.Violation{Field: "name", Description: "is required"})
	}
	if spec.Image == "" {
		violations = append(violations, arena.Violation{Field: "image", Description: "is required"})
	}
	if spec.Labels[arena.LabelNode] == "" {
		violations = append(violations, arena.Violation{Field: "labels", Description: "must carry " + arena.LabelNode})
	}

	env := make([]string, 0, len(spec.Env))
	for k, v := range spec.Env {
		env = append(env, k+"="+v)
	}
	slices.Sort(env)

	labels := make(map[string]string, len(spec.Labels))
	for k, v := range spec.Labels {
		labels[k] = v
	}

	if spec.LauncherDir != "" && !filepath.IsAbs(spec.LauncherDir) {
		violations = append(violations, arena.Violation{Field: "launcherDir", Description: "must be an absolute path"})
	}
	if err := spec.Security.Validate(); err != nil {
		violations = append(violations, arena.ErrorViolations(err)...)
	}

	cfg := &container.Config{
		Image:  spec.Image,
		Env:    env,
		Labels: labels,
		// Empty keeps the image's USER.
		User: spec.Security.User,
	}
	switch {
	case spec.LauncherDir != "":
		// The launcher waits for the claim, then execs the game server;
		// an entrypoint of the container's own drops the image's CMD.
		cfg.Entrypoint = []string{launcher.Entrypoint}
	case len(spec.Args) > 0:
		// An empty Cmd keeps the image's own CMD.
		cfg.Cmd = slices.Clone(spec.Args)
	}

	limit := spec.Limits
	if limit == (arena.Resources{}) {
		limit = spec.Resources
	} else if limit.MilliCPU < spec.Resources.MilliCPU || limit.MemoryMB < spec.Resources.MemoryMB {
		violations = append(violations, arena.Violation{Field: "limits", Description: "must be at least the reservation in both CPU and memory"})
	}
	initProcess := true
	memory := limit.MemoryMB << 20
	hostCfg := &container.HostConfig{
		LogConfig: container.LogConfig{
			Type:   "json-file",
			Config: map[string]string{"max-size": logMaxSize, "max-file": logMaxFiles},
		},
		// The agent restarts crashed sessions itself, counting restarts to
		// detect crash loops; a Docker restart policy would hide them.
		RestartPolicy: container.RestartPolicy{Name: container.RestartPolicyDisabled},
		// Whatever user it runs as, a game server gets no capabilities and
		// cannot gain privileges (setuid binaries, file capabilities).
		CapDrop:        []string{"ALL"},
		SecurityOpt:    []string{"no-new-privileges"},
		ReadonlyRootfs: spec.Security.ReadOnlyRootFS,
		Tmpfs:          tmpfsMounts(spec.Security.Tmpfs, limit.MemoryMB),
		Mounts:         launcherMounts(spec.LauncherDir),
		// A tiny init as PID 1 forwards SIGTERM to the game server, so that a
		// server without a handler of its own (or one not yet installed) still
		// stops on DELETE instead of waiting out the grace period to be killed.
		Init: &initProcess,
		// The limit is a hard cap; the reservation, what placement booked,
		// is a soft guarantee. A container whose limit is above its
		// reservation may burst into what the node has spare, and when the
		// node is busy the kernel still gives each container at least its
		// reservation: CPU time in proportion to CPUShares, memory kept from
		// reclaim up to MemoryReservation. Every container gets both, capped
		// at its reservation or not, so that one that bursts cannot weigh
		// down one that does not.
		Resources: container.Resources{
			NanoCPUs:          limit.MilliCPU * 1_000_000,
			CPUShares:         CPUShares(spec.Resources.MilliCPU),
			Memory:            memory,
			MemoryReservation: spec.Resources.MemoryMB << 20,
			// Equal to Memory: no swap, so a session cannot exceed its
			// limit by swapping.
			MemorySwap: memory,
			PidsLimit:  &r.pidsLimit,
		},
	}

	switch spec.Network {
	case arena.NetworkHost:
		hostCfg.NetworkMode = network.NetworkHost
	case arena.NetworkBridge, "":
		hostCfg.NetworkMode = network.NetworkBridge
		var hostIP netip.Addr // zero: all addresses
		if spec.BindIP != "" {
			ip, err := netip.ParseAddr(spec.BindIP)
			if err != nil {
				violations = append(violations, arena.Violation{Field: "bindIP", Description: "is not an IP address"})
			}
			hostIP = ip
		}
		cfg.ExposedPorts = network.PortSet{}
		hostCfg.PortBindings = network.PortMap{}
		for i, p := range spec.Ports {
			field := fmt.Sprintf("ports[%d]", i)
			if p.Protocol != arena.TCP && p.Protocol != arena.UDP {
				violations = append(violations, arena.Violation{Field: field + ".protocol", Description: "must be tcp or udp"})
				continue
			}
			if p.Container < 1 || p.Container > math.MaxUint16 {
				violations = append(violations, arena.Violation{Field: field + ".container", Description: "must be within 1-65535"})
				continue
			}
			if p.Host < 1 || p.Host > math.MaxUint16 {
				violations = append(violations, arena.Violation{Field: field + ".host", Description: "must be within 1-65535"})
				continue
			}
			port, _ := network.PortFrom(uint16(p.Container), network.IPProtocol(p.Protocol))
			cfg.ExposedPorts[port] = struct{}{}
			hostCfg.PortBindings[port] = append(hostCfg.PortBindings[port], network.PortBinding{
				HostIP:   hostIP,
				HostPort: strconv.Itoa(p.Host),
			})
		}
	default:
		violations = append(violations, arena.Violation{Field: "network", Description: "must be bridge or host"})
	}

	if len(violations) > 0 {
		return nil, nil, arena.Invalid(violations...)
	}
	return cfg, hostCfg, nil
}

// Restart starts an exited container again. Its port bindings, being part
// of the container, are kept.
func (r *Runtime) Restart(ctx context.Context, id string) (err error) {
	defer r.observe("restart", time.Now(), &err)
	ctx, cancel := r.call(ctx, 0)
	defer cancel()
	_, err = r.cli.ContainerStart(ctx, id, client.ContainerStartOptions{})
	return wrapError(err, "restarting container "+id)
}

// Stop sends SIGTERM, waits up to grace (rounded up to whole seconds, the
// engine's unit) for the process to exit, then kills it. Stopping a
// container that is not running is not an error.
func (r *Runtime) Stop(ctx context.Context, id string, grace time.Duration) (err error) {
	defer r.observe("stop", time.Now(), &err)
	secs := max(0, int(math.Ceil(grace.Seconds())))
	ctx, cancel := r.call(ctx, time.Duration(secs)*time.Second)
	defer cancel()
	// The engine answers 304 Not Modified for a container already stopped,
	// which the client does not report as an error.
	_, err = r.cli.ContainerStop(ctx, id, client.ContainerStopOptions{Timeout: &secs})
	return wrapError(err, "stopping container "+id)
}

// Remove deletes a container and its anonymous volumes, killing it first if
// it still runs. Removing a container that does not exist is not an error.
func (r *Runtime) Remove(ctx context.Context, id string) (err error) {
	defer r.observe("remove", time.Now(), &err)
	r.procs.forget(id)
	ctx, cancel := r.call(ctx, 0)
	defer cancel()
	_, err = r.cli.ContainerRemove(ctx, id, client.ContainerRemoveOptions{Force: true, RemoveVolumes: true})
	if err != nil && errorCode(err) == arena.ENOTFOUND {
		return nil
	}
	return wrapError(err, "removing container "+id)
}

// Inspect returns one container, found by id or name.
func (r *Runtime) Inspect(ctx context.Context, id string) (_ arena.Container, err error) {
	defer r.observe("inspect", time.Now(), &err)
	ctx, cancel := r.call(ctx, 0)
	defer cancel()
	res, err := r.cli.ContainerInspect(ctx, id, client.ContainerInspectOptions{})
	if err != nil {
		return arena.Container{}, wrapError(err, "inspecting container "+id)
	}
	if st := res.Container.State; st != nil && st.Running && st.Pid > 0 {
		// The agent inspects a container it started, then asks what it
		// serves on: known now, that needs no second inspect.
		r.procs.remember(res.Container.ID, st.Pid)
	}
	return toContainer(res.Container), nil
}

// List returns every container, running or not, labelled as belonging to
// nodeID. Containers without that label are never returned, so the agent
// never touches what it did not start.
func (r *Runtime) List(ctx context.Context, nodeID string) (_ []arena.Container, err error) {
	if nodeID == "" {
		return nil, arena.Errorf(arena.EINVALID, "listing containers needs a node id")
	}
	defer r.observe("list", time.Now(), &err)
	lctx, cancel := r.call(ctx, 0)
	res, err := r.cli.ContainerList(lctx, client.ContainerListOptions{
		All:     true,
		Filters: client.Filters{}.Add("label", arena.LabelNode+"="+nodeID),
	})
	cancel()
	if err != nil {
		return nil, wrapError(err, "listing containers")
	}

	// The list lacks exit codes and times; inspecting each container is the
	// only typed way to get them.
	out := make([]arena.Container, 0, len(res.Items))
	for _, s := range res.Items {
		if s.Labels[arena.LabelNode] != nodeID {
			continue
		}
		c, err := r.Inspect(ctx, s.ID)
		if arena.ErrorCode(err) == arena.ENOTFOUND {
			continue // removed since it was listed
		}
		if err != nil {
			return nil, err
		}
		if c.NodeID != nodeID {
			continue
		}
		out = append(out, c)
	}
	return out, nil
}

// toContainer converts the engine's view of a container.
func toContainer(in container.InspectResponse) arena.Container {
	c := arena.Container{
		ID:   in.ID,
		Name: strings.TrimPrefix(in.Name, "/"),
	}
	if in.Config != nil {
		c.Labels = in.Config.Labels
		c.SessionID = in.Config.Labels[arena.LabelSession]
		c.NodeID = in.Config.Labels[arena.LabelNode]
	}
	if in.State != nil {
		c.Running = in.State.Running
		c.ExitCode = in.State.ExitCode
		c.StartedAt = parseTime(in.State.StartedAt)
		c.FinishedAt = parseTime(in.State.FinishedAt)
	}
	return c
}

// parseTime parses a time of the engine; "0001-01-01T00:00:00Z", its way of
// saying never, and anything unparsable become the zero time.
func parseTime(s string) time.Time {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil || t.Year() <= 1 {
		return time.Time{}
	}
	return t
}

// Exits streams the process exits of nodeID's containers from the engine's
// "die" events. The subscription is in place when Exits returns, so an exit
// that happens after is not missed. The channel is closed when ctx ends or
// the stream breaks; the caller then lists and subscribes again.
func (r *Runtime) Exits(ctx context.Context, nodeID string) (_ <-chan arena.ContainerExit, err error) {
	if nodeID == "" {
		return nil, arena.Errorf(arena.EINVALID, "watching container exits needs a node id")
	}
	// The client reports a failed subscription on its error channel only
	// after Events returned, so a check afterwards can miss it; asking
	// first makes an unreachable engine an error here rather than a stream
	// that closes at once.
	if err := r.Ping(ctx); err != nil {
		return nil, err
	}
	defer r.observe("events", time.Now(), &err)
	ctx, cancel := context.WithCancel(ctx)
	// Events blocks until the engine answers the subscription, with no
	// deadline of its own since the stream that follows must not have one;
	// the wait for the answer gets the call timeout.
	subscribed := make(chan client.EventsResult, 1)
	go func() {
		subscribed <- r.cli.Events(ctx, client.EventsListOptions{
			Filters: client.Filters{}.
				Add("type", string(events.ContainerEventType)).
				Add("event", string(events.ActionDie)).
				Add("label", arena.LabelNode+"="+nodeID),
		})
	}()
	timeout := time.NewTimer(r.callTimeout)
	defer timeout.Stop()
	var res client.EventsResult
	select {
	case res = <-subscribed:
	case <-timeout.C:
		cancel()
		return nil, wrapError(context.DeadlineExceeded, "subscribing to container events")
	}
	// Most failures to subscribe are waiting by now.
	select {
	case err := <-res.Err:
		cancel()
		if err == nil {
			err = errors.New("event stream closed")
		}
		return nil, wrapError(err, "subscribing to container events")
	default:
	}

	// A little buffer lets the stream run ahead of a consumer busy with
	// one exit, as exits tend to come in bursts.
	out := make(chan arena.ContainerExit, 64)
	go func() {
		defer cancel()
		defer close(out)
		for {
			select {
			case <-ctx.Done():
				return
			case <-res.Err:
				return
			case m := <-res.Messages:
				attrs := m.Actor.Attributes
				if attrs[arena.LabelNode] != nodeID {
					continue
				}
				exit := arena.ContainerExit{
					ContainerID: m.Actor.ID,
					SessionID:   attrs[arena.LabelSession],
					ExitCode:    -1,
					At:          eventTime(m),
				}
				if code, err := strconv.Atoi(attrs["exitCode"]); err == nil {
					exit.ExitCode = code
				}
				select {
				case out <- exit:
				case <-ctx.Done():
					return
				}
			}
		}
	}()
	return out, nil
}

func eventTime(m events.Message) time.Time {
	if m.TimeNano != 0 {
		return time.Unix(0, m.TimeNano)
	}
	return time.Unix(m.Time, 0)
}
