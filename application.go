package arena

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"
)

// NetworkMode says how a session's ports reach the outside.
type NetworkMode string

const (
	// NetworkBridge maps each container port to a host port Arena reserves.
	NetworkBridge NetworkMode = "bridge"
	// NetworkHost shares the node's network; the game server binds the reserved
	// host port it finds in GAMEYE_PORT_{PROTOCOL}_{containerPort}.
	NetworkHost NetworkMode = "host"
)

// Protocol is a transport protocol of a port.
type Protocol string

// Protocols a port may use.
const (
	TCP Protocol = "tcp"
	UDP Protocol = "udp"
)

// PortSpec is a port an application's game server listens on.
type PortSpec struct {
	Container int      `json:"container" yaml:"container"`
	Protocol  Protocol `json:"protocol" yaml:"protocol"`
}

// Port is a port of a session: the container port and the host port reserved for it.
type Port struct {
	Protocol  Protocol `json:"type"`
	Container int      `json:"container"`
	Host      int      `json:"host"`
}

// Tag is a version of an application's image. Sessions that name no version
// run the tag with the highest priority.
type Tag struct {
	Name     string `json:"name" yaml:"name"`
	Priority int    `json:"priority" yaml:"priority"`
}

// Application is a game server image with everything needed to run it: the
// template that sessions are instances of. Its Name is the "image" of the
// Session API.
type Application struct {
	OrgID      string
	Name       string
	Repository string
	Tags       []Tag
	Ports      []PortSpec
	Network    NetworkMode
	// Resources is the application's reservation: what placement books on
	// a node for each session, and what usage is priced by.
	Resources Resources
	// Limits caps a session's container; zero takes Resources. A limit
	// above the reservation lets a game server burst into a node's spare
	// capacity without the node booking it.
	Limits Resources
	// Regions lists the regions the application may run in; empty for any.
	Regions []string
	// TagKeep is how many tags the application keeps enabled: enabling one
	// more retires the lowest-priority one. Zero keeps up to MaxTags.
	TagKeep int
	// NodePool names the pool of nodes the application runs on. Arena has
	// one pool: it is kept and shown, not used for placement yet.
	NodePool string
	Env      map[string]string
	Args     []string
	// StopGrace is how long a session's process has between SIGTERM and SIGKILL.
	StopGrace time.Duration
	// ArtifactPaths are absolute paths in the container kept when a session
	// stops, for download.
	ArtifactPaths []string
	// Security is whom its sessions' processes run as and what they may
	// write; a session keeps what it started with.
	Security ContainerSecurity
	// Readiness tells when its sessions' game servers are ready for
	// players: running, and billed.
	Readiness Readiness
	// Pools are its warm pools: sessions kept started and ready for
	// creates to claim.
	Pools []WarmPool
	// Registry holds the credentials of a private registry; nil for a public one.
	Registry *RegistryAuth
	// SealedRegistry is Registry encrypted, the only form stores keep.
	SealedRegistry []byte
	// Source is where the application is defined: SourceAPI, or SourceConfig
	// for one the config file owns, which the API does not change.
	Source    string
	CreatedAt time.Time
	UpdatedAt time.Time
}

// Sources of applications.
const (
	SourceAPI    = "api"
	SourceConfig = "config"
)

// DefaultTag returns the tag with the highest priority; the first listed wins a tie.
func (a *Application) DefaultTag() (string, bool) {
	best := -1
	for i, t := range a.Tags {
		if best < 0 || t.Priority > a.Tags[best].Priority {
			best = i
		}
	}
	if best < 0 {
		return "", false
	}
	return a.Tags[best].Name, true
}

// SessionLimits returns what a session's container may use: Limits, or the
// reservation when no limits are set.
func (a *Application) SessionLimits() Resources {
	if a.Limits == (Resources{}) {
		return a.Resources
	}
	return a.Limits
}

// HasTag reports whether name is one of the application's tags.
func (a *Application) HasTag(name string) bool {
	for _, t := range a.Tags {
		if t.Name == name {
			return true
		}
	}
	return false
}

// ImageRef returns the container image reference of one of the application's tags.
func (a *Application) ImageRef(tag string) string {
	return fmt.Sprintf("%s:%s", a.Repository, tag)
}

// NodeClass orders nodes for placement: bare metal is used before cloud.
type NodeClass string

// Node classes, in placement order.
const (
	ClassMetal NodeClass = "metal"
	ClassCloud NodeClass = "cloud"
)

// Location is a data centre or cloud zone within a region.
type Location struct {
	Name   string `json:"name" yaml:"name"`
	Region string `json:"region" yaml:"region"`
}

// Node is a machine that runs session containers, managed by one agent.
type Node struct {
	ID       string
	Region   string
	Location string
	Provider string
	Class    NodeClass
	// PublicIP is the address players connect to; sessions report it as their host.
	PublicIP string
	Capacity Resources
	// PortMin and PortMax bound the host ports Arena reserves on the node.
	PortMin int
	PortMax int
	// Draining nodes take no new sessions.
	Draining bool
	// JoinedAt is when the control plane first recorded the node, kept
	// when it joins again; a node recorded before Arena kept it has the
	// time it next joined.
	JoinedAt time.Time
	// CredentialHash is the hash of the secret the node's agent presents;
	// empty for a node that runs in the control plane's own process.
	CredentialHash string
}

// AvailableLocation is a location that can host an application right now,
// with the addresses of its nodes for clients to measure latency to.
type AvailableLocation struct {
	Location string
	Region   string
	IPs      []string
}

// PortEnv names the environment variable that announces p's host port, e.g.
// GAMEYE_PORT_UDP_7777.
func PortEnv(p Port) string {
	return fmt.Sprintf("%s%s_%d", EnvPortPrefix, strings.ToUpper(string(p.Protocol)), p.Container)
}

// NodeStatus is a node as operators see it: its description, its state and
// what is reserved on it.
type NodeStatus struct {
	Node
	// State is "ready", "draining", "unreachable" (silent past the heartbeat
	// timeout) or "waiting" (not heard from since the control plane started).
	State    string
	LastSeen time.Time
	Used     Resources
	// FreePorts counts the ports of the node's range that neither a session
	// nor anything else on the node (as its agent said) holds.
	FreePorts int
	Sessions  int
	// Images is how far the node is with the wanted images.
	Images []NodeImage
	// Pending counts the sessions placed on the node and not started yet,
	// StartWait how long a new one is expected to wait there for its
	// start; Starts is what the node's agent last said of its start
	// queue, nil when it said nothing.
	Pending   int
	StartWait time.Duration
	Starts    *StartQueue
}

// Clone returns a deep copy of a.
func (a *Application) Clone() *Application {
	c := *a
	c.Tags = slices.Clone(a.Tags)
	c.Ports = slices.Clone(a.Ports)
	c.Regions = slices.Clone(a.Regions)
	c.Env = maps.Clone(a.Env)
	c.Args = slices.Clone(a.Args)
	c.ArtifactPaths = slices.Clone(a.ArtifactPaths)
	c.Security = a.Security.Clone()
	c.Pools = slices.Clone(a.Pools)
	c.SealedRegistry = slices.Clone(a.SealedRegistry)
	if a.Registry != nil {
		r := *a.Registry
		c.Registry = &r
	}
	return &c
}

// EnableTag makes tag one of the application's tags, with a priority above
// every other so that sessions naming no version run it from now on. A tag
// enabled already keeps its priority. When more tags than TagKeep (or
// MaxTags) would be enabled, the lowest-priority ones are retired, the
// oldest-listed first among equals; the new tag itself never is. It
// reports whether the tags changed.
func (a *Application) EnableTag(tag string) bool {
	if a.HasTag(tag) {
		return false
	}
	top := 0
	for i, t := range a.Tags {
		if i == 0 || t.Priority > top {
			top = t.Priority
		}
	}
	a.Tags = append(a.Tags, Tag{Name: tag, Priority: top + 1})
	keep := a.TagKeep
	if keep <= 0 || keep > MaxTags {
		keep = MaxTags
	}
	for len(a.Tags) > keep {
		low := 0
		for i, t := range a.Tags {
			if t.Priority < a.Tags[low].Priority {
				low = i
			}
		}
		a.Tags = slices.Delete(a.Tags, low, low+1)
	}
	return true
}
