// Package local is a provider of machines on this one: "creating" a
// machine starts a real `arena agent` process with the machine's node id,
// a port range of its own and its join token, and deleting it stops the
// process. With it the whole loop of the cloud burst runs on one machine,
// for development and tests: metal full, a machine ordered, its agent
// joins, the sessions placed on it, and the machine retired.
package local

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/arena-hq/arena"
)

// Config is a local provider's.
type Config struct {
	// Name is the provider's name in the scaling policies; "local" when empty.
	Name string
	// Binary is the arena executable the agents run; this process's own
	// when empty.
	Binary string
	// Dir keeps the machines' records, their agents' data and logs.
	Dir string
	// PortBase and PortsPerMachine give each machine its own host ports
	// (the agents share this machine's): the n-th machine at a time gets
	// PortBase+n*PortsPerMachine onwards. Defaults 40000 and 200.
	PortBase, PortsPerMachine int
	// StopGrace is how long an agent has to stop after SIGTERM before it
	// is killed; 10s when zero.
	StopGrace time.Duration
	// Env is added to the agents' environment (e.g. ARENA_LOG_LEVEL).
	Env []string
}

// Provider runs agents on this machine as if they were cloud machines.
type Provider struct {
	cfg Config
	// mu serialises changes of the records, so that two creates at once
	// take different port ranges.
	mu sync.Mutex
	// exited are, by machine id, closed when the agent this process
	// started has exited.
	exited map[string]chan struct{}
}

var _ arena.Provider = (*Provider)(nil)

// New returns a local provider keeping its machines in cfg.Dir.
func New(cfg Config) (*Provider, error) {
	if cfg.Dir == "" {
		return nil, arena.Errorf(arena.EINVALID, "the local provider needs a directory")
	}
	if cfg.Name == "" {
		cfg.Name = "local"
	}
	if cfg.Binary == "" {
		exe, err := os.Executable()
		if err != nil {
			return nil, arena.Internal(err, "finding the arena executable")
		}
		cfg.Binary = exe
	}
	if cfg.PortBase == 0 {
		cfg.PortBase = 40000
	}
	if cfg.PortsPerMachine == 0 {
		cfg.PortsPerMachine = 200
	}
	if cfg.StopGrace == 0 {
		cfg.StopGrace = 10 * time.Second
	}
	if err := os.MkdirAll(filepath.Join(cfg.Dir, "machines"), 0o700); err != nil {
		return nil, arena.Internal(err, "making the local provider's directory")
	}
	return &Provider{cfg: cfg, exited: map[string]chan struct{}{}}, nil
}

// Name implements arena.Provider.
func (p *Provider) Name() string { return p.cfg.Name }

// record is what the provider keeps of a machine, in its directory.
type record struct {
	ID        string            `json:"id"`
	Name      string            `json:"name"`
	Labels    map[string]string `json:"labels"`
	Pid       int               `json:"pid"`
	Slot      int               `json:"slot"`
	CreatedAt time.Time         `json:"createdAt"`
}

func (p *Provider) path(id string) string { return filepath.Join(p.cfg.Dir, "machines", id+".json") }

// Create implements arena.Provider: it starts the machine's agent.
func (p *Provider) Create(ctx context.Context, spec arena.MachineSpec) (arena.Machine, error) {
	if spec.Name == "" || filepath.Base(spec.Name) != spec.Name || strings.HasPrefix(spec.Name, ".") {
		return arena.Machine{}, arena.Errorf(arena.EINVALID, "machine name %q is not a plain name", spec.Name)
	}
	if err := ctx.Err(); err != nil {
		return arena.Machine{}, arena.Errorf(arena.EUNAVAILABLE, "creating machine %s: %v", spec.Name, err)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	records, err := p.records()
	if err != nil {
		return arena.Machine{}, err
	}
	slot := 0
	for slices.ContainsFunc(records, func(r record) bool { return r.Slot == slot }) {
		slot++
	}
	if slices.ContainsFunc(records, func(r record) bool { return r.Name == spec.Name }) {
		return arena.Machine{}, arena.Errorf(arena.EINVALID, "a machine named %s exists", spec.Name)
	}
	b := spec.Boot
	lo := p.cfg.PortBase + slot*p.cfg.PortsPerMachine
	data := filepath.Join(p.cfg.Dir, spec.Name)
	if err := os.MkdirAll(data, 0o700); err != nil {
		return arena.Machine{}, arena.Internal(err, "making the data directory of machine "+spec.Name)
	}
	args := []string{"agent", "--server", strings.Join(b.Servers, ","), "--node-id", b.NodeID,
		"--region", b.Region, "--location", b.Location, "--provider", b.Provider, "--class", string(arena.ClassCloud),
		"--public-ip", "127.0.0.1", "--port-range", fmt.Sprintf("%d-%d", lo, lo+p.cfg.PortsPerMachine-1), "--data", data}
	if b.Capacity.MilliCPU > 0 {
		args = append(args, "--cpu", strconv.FormatFloat(float64(b.Capacity.MilliCPU)/1000, 'f', -1, 64))
	}
	if b.Capacity.MemoryMB > 0 {
		args = append(args, "--memory", strconv.FormatInt(b.Capacity.MemoryMB, 10))
	}
	logFile, err := os.OpenFile(filepath.Join(p.cfg.Dir, spec.Name+".log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return arena.Machine{}, arena.Internal(err, "opening the log of machine "+spec.Name)
	}
	defer logFile.Close()
	cmd := exec.Command(p.cfg.Binary, args...)
	// The token goes in the environment, not the command line, which any
	// user of the machine can read.
	cmd.Env = append(append(os.Environ(), p.cfg.Env...), "ARENA_JOIN_TOKEN="+b.JoinToken)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	// A process group of its own: the agent outlives a control plane that
	// is killed, as a cloud machine would, and is stopped whole.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		return arena.Machine{}, arena.Errorf(arena.EUNAVAILABLE, "starting the agent of machine %s: %v", spec.Name, err)
	}
	r := record{ID: spec.Name, Name: spec.Name, Labels: maps.Clone(spec.Labels), Pid: cmd.Process.Pid, Slot: slot, CreatedAt: time.Now().UTC()}
	if err := p.write(r); err != nil {
		_ = syscall.Kill(-r.Pid, syscall.SIGKILL)
		_ = cmd.Wait()
		return arena.Machine{}, err
	}
	exited := make(chan struct{})
	p.exited[r.ID] = exited
	go func() {
		_ = cmd.Wait()
		close(exited)
	}()
	return r.machine(), nil
}

// List implements arena.Provider.
func (p *Provider) List(ctx context.Context, labels map[string]string) ([]arena.Machine, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	records, err := p.records()
	if err != nil {
		return nil, err
	}
	var out []arena.Machine
	for _, r := range records {
		match := true
		for k, v := range labels {
			match = match && r.Labels[k] == v
		}
		if match {
			out = append(out, r.machine())
		}
	}
	return out, nil
}

// Delete implements arena.Provider: it stops the machine's agent, SIGTERM
// then, past the grace, SIGKILL, and forgets the machine.
func (p *Provider) Delete(ctx context.Context, id string) error {
	p.mu.Lock()
	r, err := p.read(id)
	exited := p.exited[r.ID]
	p.mu.Unlock()
	if err != nil {
		return err
	}
	if alive(r.Pid) {
		_ = syscall.Kill(-r.Pid, syscall.SIGTERM)
		if !p.wait(ctx, r.Pid, exited) {
			_ = syscall.Kill(-r.Pid, syscall.SIGKILL)
		}
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	delete(p.exited, r.ID)
	if err := os.Remove(p.path(r.ID)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return arena.Internal(err, "forgetting machine "+id)
	}
	_ = os.RemoveAll(filepath.Join(p.cfg.Dir, r.Name))
	return nil
}

// wait waits up to the stop grace for the agent of pid to exit: on exited
// for one this process started, by looking for it otherwise (one a
// control plane before a restart started). It reports whether it exited.
func (p *Provider) wait(ctx context.Context, pid int, exited chan struct{}) bool {
	grace := time.NewTimer(p.cfg.StopGrace)
	defer grace.Stop()
	if exited != nil {
		select {
		case <-exited:
			return true
		case <-grace.C:
		case <-ctx.Done():
		}
		return false
	}
	look := time.NewTicker(20 * time.Millisecond)
	defer look.Stop()
	for alive(pid) {
		select {
		case <-look.C:
		case <-grace.C:
			return false
		case <-ctx.Done():
			return false
		}
	}
	return true
}

// read returns the record of machine id; p.mu held.
func (p *Provider) read(id string) (record, error) {
	b, err := os.ReadFile(p.path(filepath.Base(id)))
	if errors.Is(err, fs.ErrNotExist) {
		return record{}, arena.Errorf(arena.ENOTFOUND, "no machine %s", id)
	}
	if err != nil {
		return record{}, arena.Internal(err, "reading machine "+id)
	}
	var r record
	if err := json.Unmarshal(b, &r); err != nil {
		return record{}, arena.Internal(err, "reading machine "+id)
	}
	return r, nil
}

// Alive reports whether the agent of machine id runs.
func (p *Provider) Alive(id string) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	r, err := p.read(id)
	return err == nil && alive(r.Pid)
}

func (p *Provider) records() ([]record, error) {
	entries, err := os.ReadDir(filepath.Join(p.cfg.Dir, "machines"))
	if err != nil {
		return nil, arena.Internal(err, "listing the local machines")
	}
	var out []record
	for _, e := range entries {
		if !strings.HasSuffix(e.Name(), ".json") {
			continue
		}
		b, err := os.ReadFile(filepath.Join(p.cfg.Dir, "machines", e.Name()))
		if err != nil {
			return nil, arena.Internal(err, "reading a local machine")
		}
		var r record
		if err := json.Unmarshal(b, &r); err != nil {
			return nil, arena.Internal(err, "reading local machine "+e.Name())
		}
		out = append(out, r)
	}
	return out, nil
}

func (p *Provider) write(r record) error {
	b, err := json.Marshal(r)
	if err != nil {
		return arena.Internal(err, "recording machine "+r.ID)
	}
	tmp := p.path(r.ID) + ".tmp"
	if err := os.WriteFile(tmp, b, 0o600); err != nil {
		return arena.Internal(err, "recording machine "+r.ID)
	}
	if err := os.Rename(tmp, p.path(r.ID)); err != nil {
		return arena.Internal(err, "recording machine "+r.ID)
	}
	return nil
}

func (r record) machine() arena.Machine {
	status := "running"
	if !alive(r.Pid) {
		status = "exited"
	}
	return arena.Machine{ID: r.ID, Name: r.Name, Labels: maps.Clone(r.Labels), Status: status, PublicIP: "127.0.0.1", CreatedAt: r.CreatedAt}
}

// alive reports whether a process of pid runs (a zombie, exited and not
// yet reaped, does not).
func alive(pid int) bool {
	if pid <= 0 || syscall.Kill(pid, 0) != nil {
		return false
	}
	b, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "stat"))
	if err != nil {
		return true // no /proc to look in: the signal said it is there
	}
	// The state follows the command's closing parenthesis.
	if i := strings.LastIndexByte(string(b), ')'); i >= 0 && i+2 < len(b) {
		return b[i+2] != 'Z'
	}
	return true
}
