package sim

import (
	"path/filepath"

	"github.com/arena-hq/arena"
	"github.com/arena-hq/arena/launcher"
)

// A container started with a launcher directory (a warm pool in launch
// mode) runs a simulated launcher: it waits on the directory's FIFO as
// the real one does, serves on no port until it has read a claim, and
// then serves as any simulated game server. Claim tells what it read.

// launch waits for the claim of container id at its FIFO; the caller
// holds r.mu and has marked the container waiting.
func (r *Runtime) launch(id string, spec arena.ContainerSpec) {
	r.claims[id] = nil
	go func() {
		claim, err := launcher.Wait(filepath.Join(spec.LauncherDir, launcher.FIFOName))
		r.mu.Lock()
		defer r.mu.Unlock()
		if _, waiting := r.claims[id]; waiting && err == nil {
			r.claims[id] = &claim
		}
	}()
}

// waiting reports whether container id waits in its launcher; r.mu held.
func (r *Runtime) waiting(id string) bool {
	c, ok := r.claims[id]
	return ok && c == nil
}

// abandon ends the wait of container id's launcher, if it waits, as its
// container's end would; r.mu held.
func (r *Runtime) abandon(id string) {
	if !r.waiting(id) {
		return
	}
	delete(r.claims, id)
	unblock(filepath.Join(r.specs[id].LauncherDir, launcher.FIFOName))
}

// Claim returns what the launcher of the session's container read: false
// while it waits, or when the session has no launcher.
func (r *Runtime) Claim(sessionID string) (launcher.Claim, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for id, c := range r.claims {
		if c != nil && r.containers[id] != nil && r.containers[id].SessionID == sessionID {
			return *c, true
		}
	}
	return launcher.Claim{}, false
}
