package arena

import (
	"slices"
	"strings"
	"time"
)

// ContainerSpec is what a node's runtime needs to start a session's container.
type ContainerSpec struct {
	Name    string
	Image   string
	Env     map[string]string
	Args    []string
	Labels  map[string]string
	Network NetworkMode
	// Ports are published on BindIP in bridge mode; in host mode they are only
	// announced through the environment.
	Ports  []Port
	BindIP string
	// Resources is the session's reservation, what placement booked: the
	// runtime guarantees it softly (a share of CPU, memory kept from
	// reclaim). Limits caps the container; zero caps it at Resources.
	Resources Resources
	Limits    Resources
	// Security is who the process runs as and what it may write.
	Security ContainerSecurity
	// LauncherDir, when set, is a host directory holding Arena's launcher
	// and its FIFO, mounted read-only in the container at the launcher's
	// place; the launcher is then the container's entrypoint, with no
	// arguments, and Args do not apply: it execs the game server once the
	// agent hands it the claim.
	LauncherDir string
}

// ImageConfig is what an image runs by default: its entrypoint, command
// and environment, as the engine would start a container of it.
type ImageConfig struct {
	Entrypoint, Cmd, Env []string
}

// ContainerSecurity is how a session's container is confined beyond the
// confinement every container gets (no capabilities, no new privileges, a
// bounded number of processes): the user its process runs as, and whether
// it may write its root filesystem. The zero value runs the image as it is
// built: as the image's USER (root when it names none), on a writable root.
type ContainerSecurity struct {
	// User is whom the process runs as: a uid or a user name the image's
	// /etc/passwd knows, optionally with ":" and a gid or a group name
	// ("1000", "1000:1000", "games", "games:games"). Empty keeps the
	// image's USER: Arena cannot know which user the image's files allow.
	User string
	// ReadOnlyRootFS makes the container's root filesystem read-only, so
	// that a compromised game server cannot change its own binaries and
	// data: it writes only to Tmpfs (and to volumes its image declares).
	ReadOnlyRootFS bool
	// Tmpfs are absolute paths where the container gets an empty, writable
	// in-memory filesystem of its own (e.g. /tmp), whether its root is
	// read-only or not. What is written there counts against the
	// container's memory and is gone when the container stops.
	Tmpfs []string
}

// Clone returns a deep copy of c.
func (c ContainerSecurity) Clone() ContainerSecurity {
	c.Tmpfs = slices.Clone(c.Tmpfs)
	return c
}

// TmpfsOf returns the tmpfs mount that path lies on (path itself or a
// folder above it), or "" when it lies on none.
func (c ContainerSecurity) TmpfsOf(path string) string {
	for _, m := range c.Tmpfs {
		if path == m || strings.HasPrefix(path, m+"/") {
			return m
		}
	}
	return ""
}

// Container is what a runtime knows of one of Arena's containers.
type Container struct {
	ID        string
	Name      string
	SessionID string
	NodeID    string
	Labels    map[string]string
	Running   bool
	// ExitCode is meaningful only when the container is not running.
	ExitCode   int
	StartedAt  time.Time
	FinishedAt time.Time
}

// ContainerExit tells that a container's process ended.
type ContainerExit struct {
	ContainerID string
	SessionID   string
	ExitCode    int
	At          time.Time
}
