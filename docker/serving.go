package docker

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/moby/moby/client"

	"github.com/arena-hq/arena"
	"github.com/arena-hq/arena/procnet"
)

// ProcRoot is where the host's process table is: the agent reads a
// container's sockets under its process's entry, which shows the
// container's network namespace. An agent in a container needs the host's
// (docker run --pid host).
const ProcRoot = "/proc"

// Serving returns the ports a running container's processes serve on, in
// its network namespace: TCP listening, UDP bound, read from the kernel's
// socket tables of its main process, under bridge and host networking
// alike. The game server sees no probe. ECONFLICT for a container that is
// not running.
//
// The agent asks every few tens of milliseconds while a game server
// starts, so the container's process is looked up in the engine once and
// then known by its pid and start time: a pid reused by another process,
// or a container restarted, is told by the start time, and looked up
// again.
func (r *Runtime) Serving(ctx context.Context, id string) (_ arena.Sockets, err error) {
	pid, ok := r.procs.known(id)
	if !ok {
		if pid, err = r.mainProcess(ctx, id); err != nil {
			return arena.Sockets{}, err
		}
	}
	s, err := procnet.Listening(filepath.Join(ProcRoot, strconv.Itoa(pid), "net"))
	if err != nil {
		return arena.Sockets{}, arena.Internal(err, "reading the sockets of container "+id)
	}
	if _, still := r.procs.known(id); !still {
		// Ended while its tables were read: what they said is not its.
		r.procs.forget(id)
		return arena.Sockets{}, arena.Errorf(arena.ECONFLICT, "container %s is not running", id)
	}
	return arena.Sockets{TCP: s.TCP, UDP: s.UDP}, nil
}

// mainProcess looks up the pid of a running container's main process in
// the engine, and remembers it.
func (r *Runtime) mainProcess(ctx context.Context, id string) (_ int, err error) {
	defer r.observe("inspect", time.Now(), &err)
	ctx, cancel := r.call(ctx, 0)
	defer cancel()
	res, err := r.cli.ContainerInspect(ctx, id, client.ContainerInspectOptions{})
	if err != nil {
		return 0, wrapError(err, "inspecting container "+id)
	}
	st := res.Container.State
	if st == nil || !st.Running || st.Pid == 0 {
		return 0, arena.Errorf(arena.ECONFLICT, "container %s is not running", id)
	}
	if !r.procs.remember(id, st.Pid) {
		// Running, by the engine's word, yet its process is not in the
		// process table here: this agent runs in a process namespace of
		// its own, which shows none of the host's processes.
		return 0, arena.Errorf(arena.EUNAVAILABLE, "process %d of container %s is not in %s: the agent needs the host's process table (docker run --pid host)", st.Pid, id, ProcRoot)
	}
	return st.Pid, nil
}

// processes remembers containers' main processes by pid and start time
// (the 22nd field of /proc/<pid>/stat, in clock ticks since boot), which
// no other process of the pid shares.
type processes struct {
	mu    sync.Mutex
	procs map[string]process // by container id
}

type process struct {
	pid   int
	start string
}

// remember notes pid as the main process of container id, and reports
// whether it still runs.
func (p *processes) remember(id string, pid int) bool {
	start, ok := startTime(pid)
	if !ok {
		return false
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.procs == nil {
		p.procs = map[string]process{}
	}
	p.procs[id] = process{pid: pid, start: start}
	return true
}

// known returns the pid of container id's main process while that very
// process runs.
func (p *processes) known(id string) (int, bool) {
	p.mu.Lock()
	pr, ok := p.procs[id]
	p.mu.Unlock()
	if !ok {
		return 0, false
	}
	if start, ok := startTime(pr.pid); !ok || start != pr.start {
		p.forget(id)
		return 0, false
	}
	return pr.pid, true
}

func (p *processes) forget(id string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	delete(p.procs, id)
}

// startTime returns the start time of process pid as /proc/<pid>/stat has
// it, or false when no such process runs.
func startTime(pid int) (string, bool) {
	b, err := os.ReadFile(filepath.Join(ProcRoot, strconv.Itoa(pid), "stat"))
	if err != nil {
		return "", false
	}
	// The command, in parentheses, may hold spaces: fields count from
	// after its closing one, where the state is field 3.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return "", false
	}
	fields := strings.Fields(string(b[i+1:]))
	const startField = 22 - 3 // field 22, counted from the state
	if len(fields) <= startField {
		return "", false
	}
	return fields[startField], true
}
