package arena

import "time"

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
