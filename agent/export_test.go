package agent

import "github.com/arena-hq/arena"

// Exited feeds an exit to the agent as its runtime's event stream would.
func (a *Agent) Exited(ex arena.ContainerExit) { a.exited(ex) }

// Tracks reports whether the agent still keeps state for a session.
func (a *Agent) Tracks(id string) bool { return a.local(id, false) != nil }

// PruneArtifacts runs the artifact retention now.
func (a *Agent) PruneArtifacts() { a.pruneArtifacts() }
