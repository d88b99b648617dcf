// Package storedoc is the stored document form of sessions, applications and
// scaling policies that both stores keep: the fields of arena.Session and arena.Application
// that are not columns, as one JSON document per row (TEXT in the sqlite
// store, jsonb in the postgres store).
//
// The documents are types of their own, with JSON names of their own, so that
// renaming a domain field or changing the API's JSON tags cannot silently
// change what is on disk. They are shared so that both stores stay
// byte-compatible: a document one store writes is the document the other
// would. Their format must not change; the golden files of testdata pin it.
package storedoc

import (
	"time"

	"github.com/arena-hq/arena"
)

// Session is the stored form of the fields of arena.Session that are not
// columns: all but ID, OrgID, NodeID, State and CreatedAt. Its slices and
// maps have no omitempty, so that nil and empty survive as they are, but
// for Artifacts, which is omitted when empty. Fields added since the first
// documents are omitempty, so that a document without them reads as it was
// written and a session that does not use them stores what it always did.
// Times are Nanos.
type Session struct {
	Application string            `json:"application"`
	Tag         string            `json:"tag"`
	Image       string            `json:"image"`
	Region      string            `json:"region"`
	Location    string            `json:"location"`
	Host        string            `json:"host"`
	Network     string            `json:"network"`
	Ports       []Port            `json:"ports"`
	Env         map[string]string `json:"env"`
	Args        []string          `json:"args"`
	Labels      map[string]string `json:"labels"`
	TTL         int64             `json:"ttlNs"`
	Restart     bool              `json:"restart"`
	MilliCPU    int64             `json:"milliCpu"`
	MemoryMB    int64             `json:"memoryMb"`
	StopGrace   int64             `json:"stopGraceNs"`
	Players     []string          `json:"players"`
	RequestHash string            `json:"requestHash,omitempty"`
	Name        string            `json:"name,omitempty"`
	Artifacts   []string          `json:"artifactPaths,omitempty"`
	StopReason  string            `json:"stopReason"`
	ExitCode    int               `json:"exitCode"`
	Restarts    int               `json:"restarts"`
	RunningAt   int64             `json:"runningAt"`
	StoppingAt  int64             `json:"stoppingAt,omitempty"`
	Unreachable int64             `json:"unreachableSince,omitempty"`
	StoppedAt   int64             `json:"stoppedAt"`
	UpdatedAt   int64             `json:"updatedAt"`
	ExternalID  string            `json:"externalId,omitempty"`
	Pool        string            `json:"pool,omitempty"`
	Launcher    bool              `json:"launcher,omitempty"`
	ClaimedAt   int64             `json:"claimedAt,omitempty"`
	// LimitMilliCPU and LimitMemoryMB are Limits; 0 in a document written
	// before limits existed, which means the container is capped at the
	// reservation, as it then was.
	LimitMilliCPU int64  `json:"limitMilliCpu,omitempty"`
	LimitMemoryMB int64  `json:"limitMemoryMb,omitempty"`
	StopMessage   string `json:"stopMessage,omitempty"`
	Security
	Readiness
}

// Security is the stored form of an arena.ContainerSecurity, inlined in
// both documents. A document written before it has none of its fields,
// which reads as the image's user on a writable root, as containers then
// ran; so do sessions and applications that ask for nothing else.
type Security struct {
	User           string   `json:"user,omitempty"`
	ReadOnlyRootFS bool     `json:"readOnlyRootFs,omitempty"`
	Tmpfs          []string `json:"tmpfs,omitempty"`
}

// Readiness is the stored form of an arena.Readiness, inlined in both
// documents. A document written before it has none of its fields, which
// reads as readiness on the application's ports within the default
// timeout.
type Readiness struct {
	ReadyMode         string `json:"readyMode,omitempty"`
	ReadyTimeout      int64  `json:"readyTimeoutNs,omitempty"`
	RunOnReadyTimeout bool   `json:"runOnReadyTimeout,omitempty"`
}

func fromReadiness(r arena.Readiness) Readiness {
	return Readiness{ReadyMode: string(r.Mode), ReadyTimeout: int64(r.Timeout), RunOnReadyTimeout: r.RunOnTimeout}
}

func (d Readiness) toReadiness() arena.Readiness {
	return arena.Readiness{Mode: arena.ReadinessMode(d.ReadyMode), Timeout: time.Duration(d.ReadyTimeout), RunOnTimeout: d.RunOnReadyTimeout}
}

func fromSecurity(c arena.ContainerSecurity) Security {
	return Security{User: c.User, ReadOnlyRootFS: c.ReadOnlyRootFS, Tmpfs: c.Tmpfs}
}

func (d Security) toSecurity() arena.ContainerSecurity {
	return arena.ContainerSecurity{User: d.User, ReadOnlyRootFS: d.ReadOnlyRootFS, Tmpfs: d.Tmpfs}
}

// Port is the stored form of an arena.Port.
type Port struct {
	Protocol  string `json:"protocol"`
	Container int    `json:"container"`
	Host      int    `json:"host"`
}

// FromSession returns the document of s.
func FromSession(s *arena.Session) Session {
	d := Session{
		Application: s.Application,
		Tag:         s.Tag,
		Image:       s.Image,
		Region:      s.Region,
		Location:    s.Location,
		Host:        s.Host,
		Network:     string(s.Network),
		Env:         s.Env,
		Args:        s.Args,
		Labels:      s.Labels,
		TTL:         int64(s.TTL),
		Restart:     s.Restart,
		MilliCPU:    s.Resources.MilliCPU,
		MemoryMB:    s.Resources.MemoryMB,
		StopGrace:   int64(s.StopGrace),
		Players:     s.Players,
		RequestHash: s.RequestHash,
		Name:        s.Name,
		Artifacts:   s.ArtifactPaths,
		StopReason:  string(s.StopReason),
		ExitCode:    s.ExitCode,
		Restarts:    s.Restarts,
		RunningAt:   Nanos(s.RunningAt),
		StoppingAt:  Nanos(s.StoppingAt),
		Unreachable: Nanos(s.UnreachableSince),
		StoppedAt:   Nanos(s.StoppedAt),
		UpdatedAt:   Nanos(s.UpdatedAt),
		ExternalID:  s.ExternalID,
		Pool:        s.Pool,
		Launcher:    s.Launcher,
		ClaimedAt:   Nanos(s.ClaimedAt),

		LimitMilliCPU: s.Limits.MilliCPU,
		LimitMemoryMB: s.Limits.MemoryMB,
		StopMessage:   s.StopMessage,
		Security:      fromSecurity(s.Security),
		Readiness:     fromReadiness(s.Readiness),
	}
	if s.Ports != nil {
		d.Ports = make([]Port, len(s.Ports))
		for i, p := range s.Ports {
			d.Ports[i] = Port{Protocol: string(p.Protocol), Container: p.Container, Host: p.Host}
		}
	}
	return d
}

// ToSession sets the fields of s that d stores, every one but the columns
// ID, OrgID, NodeID, State and CreatedAt, which it leaves as they are.
func (d Session) ToSession(s *arena.Session) {
	s.Application = d.Application
	s.Tag = d.Tag
	s.Image = d.Image
	s.Region = d.Region
	s.Location = d.Location
	s.Host = d.Host
	s.Network = arena.NetworkMode(d.Network)
	s.Ports = nil
	if d.Ports != nil {
		s.Ports = make([]arena.Port, len(d.Ports))
		for i, p := range d.Ports {
			s.Ports[i] = arena.Port{Protocol: arena.Protocol(p.Protocol), Container: p.Container, Host: p.Host}
		}
	}
	s.Env = d.Env
	s.Args = d.Args
	s.Labels = d.Labels
	s.TTL = time.Duration(d.TTL)
	s.Restart = d.Restart
	s.Resources = arena.Resources{MilliCPU: d.MilliCPU, MemoryMB: d.MemoryMB}
	s.StopGrace = time.Duration(d.StopGrace)
	s.Players = d.Players
	s.StopReason = arena.StopReason(d.StopReason)
	s.StopMessage = d.StopMessage
	s.ExitCode = d.ExitCode
	s.Restarts = d.Restarts
	s.RequestHash = d.RequestHash
	s.Name = d.Name
	s.ArtifactPaths = d.Artifacts
	s.RunningAt = FromNanos(d.RunningAt)
	s.StoppingAt = FromNanos(d.StoppingAt)
	s.UnreachableSince = FromNanos(d.Unreachable)
	s.StoppedAt = FromNanos(d.StoppedAt)
	s.UpdatedAt = FromNanos(d.UpdatedAt)
	s.ExternalID = d.ExternalID
	s.Pool = d.Pool
	s.Launcher = d.Launcher
	s.ClaimedAt = FromNanos(d.ClaimedAt)
	s.Limits = arena.Resources{MilliCPU: d.LimitMilliCPU, MemoryMB: d.LimitMemoryMB}
	s.Security = d.toSecurity()
	s.Readiness = d.toReadiness()
}

// Application is the stored form of the fields of arena.Application that
// are not columns: all but OrgID, Name, Source, CreatedAt, UpdatedAt and
// SealedRegistry. It has no field for Registry on purpose: the plaintext
// credentials are never stored, only SealedRegistry. Its first slices and
// maps have no omitempty; the fields added since are omitempty, as in
// Session.
type Application struct {
	Repository    string            `json:"repository"`
	Tags          []Tag             `json:"tags"`
	Ports         []PortSpec        `json:"ports"`
	Network       string            `json:"network"`
	MilliCPU      int64             `json:"milliCpu"`
	MemoryMB      int64             `json:"memoryMb"`
	Env           map[string]string `json:"env"`
	Args          []string          `json:"args"`
	StopGrace     int64             `json:"stopGraceNs"`
	ArtifactPaths []string          `json:"artifactPaths"`
	LimitMilliCPU int64             `json:"limitMilliCpu,omitempty"`
	LimitMemoryMB int64             `json:"limitMemoryMb,omitempty"`
	// Regions is omitted when empty: nil and empty both mean any region.
	Regions  []string `json:"regions,omitempty"`
	TagKeep  int      `json:"tagKeep,omitempty"`
	NodePool string   `json:"nodePool,omitempty"`
	Pools    []Pool   `json:"pools,omitempty"`
	Security
	Readiness
}

// Pool is the stored form of an arena.WarmPool.
type Pool struct {
	Location string `json:"location"`
	Tag      string `json:"tag,omitempty"`
	Size     int    `json:"size"`
	Mode     string `json:"mode,omitempty"`
}

// Tag is the stored form of an arena.Tag.
type Tag struct {
	Name     string `json:"name"`
	Priority int    `json:"priority"`
}

// PortSpec is the stored form of an arena.PortSpec.
type PortSpec struct {
	Container int    `json:"container"`
	Protocol  string `json:"protocol"`
}

// FromApplication returns the document of a. It never holds a.Registry.
func FromApplication(a *arena.Application) Application {
	d := Application{
		Repository:    a.Repository,
		Network:       string(a.Network),
		MilliCPU:      a.Resources.MilliCPU,
		MemoryMB:      a.Resources.MemoryMB,
		Env:           a.Env,
		Args:          a.Args,
		StopGrace:     int64(a.StopGrace),
		ArtifactPaths: a.ArtifactPaths,
		LimitMilliCPU: a.Limits.MilliCPU,
		LimitMemoryMB: a.Limits.MemoryMB,
		Regions:       a.Regions,
		TagKeep:       a.TagKeep,
		NodePool:      a.NodePool,
		Security:      fromSecurity(a.Security),
		Readiness:     fromReadiness(a.Readiness),
	}
	if a.Tags != nil {
		d.Tags = make([]Tag, len(a.Tags))
		for i, t := range a.Tags {
			d.Tags[i] = Tag{Name: t.Name, Priority: t.Priority}
		}
	}
	if a.Ports != nil {
		d.Ports = make([]PortSpec, len(a.Ports))
		for i, p := range a.Ports {
			d.Ports[i] = PortSpec{Container: p.Container, Protocol: string(p.Protocol)}
		}
	}
	for _, p := range a.Pools {
		d.Pools = append(d.Pools, Pool{Location: p.Location, Tag: p.Tag, Size: p.Size, Mode: string(p.Mode)})
	}
	return d
}

// ToApplication sets the fields of a that d stores, every one but the
// columns OrgID, Name, Source, CreatedAt, UpdatedAt and SealedRegistry, and
// Registry, which it leaves as they are.
func (d Application) ToApplication(a *arena.Application) {
	a.Repository = d.Repository
	a.Tags = nil
	if d.Tags != nil {
		a.Tags = make([]arena.Tag, len(d.Tags))
		for i, t := range d.Tags {
			a.Tags[i] = arena.Tag{Name: t.Name, Priority: t.Priority}
		}
	}
	a.Ports = nil
	if d.Ports != nil {
		a.Ports = make([]arena.PortSpec, len(d.Ports))
		for i, p := range d.Ports {
			a.Ports[i] = arena.PortSpec{Container: p.Container, Protocol: arena.Protocol(p.Protocol)}
		}
	}
	a.Network = arena.NetworkMode(d.Network)
	a.Resources = arena.Resources{MilliCPU: d.MilliCPU, MemoryMB: d.MemoryMB}
	a.Env = d.Env
	a.Args = d.Args
	a.StopGrace = time.Duration(d.StopGrace)
	a.ArtifactPaths = d.ArtifactPaths
	a.Limits = arena.Resources{MilliCPU: d.LimitMilliCPU, MemoryMB: d.LimitMemoryMB}
	a.Regions = d.Regions
	a.TagKeep = d.TagKeep
	a.NodePool = d.NodePool
	a.Pools = nil
	for _, p := range d.Pools {
		a.Pools = append(a.Pools, arena.WarmPool{Location: p.Location, Tag: p.Tag, Size: p.Size, Mode: arena.PoolMode(p.Mode)})
	}
	a.Security = d.toSecurity()
	a.Readiness = d.toReadiness()
}

// Nanos returns the stored form of t, Unix nanoseconds, keeping the zero
// time as 0 (which the Unix epoch itself would also map to). It is the form
// of the documents' times, and of the sqlite store's time columns too.
func Nanos(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixNano()
}

// FromNanos is the inverse of Nanos: 0 is the zero time, any other value a
// time in UTC.
func FromNanos(n int64) time.Time {
	if n == 0 {
		return time.Time{}
	}
	return time.Unix(0, n).UTC()
}

// Node is the stored form of a node's description, without its id and
// credential hash, which the stores keep in columns of their own; see
// Session for why it has names of its own.
type Node struct {
	Region   string `json:"region"`
	Location string `json:"location"`
	Provider string `json:"provider"`
	Class    string `json:"class"`
	PublicIP string `json:"publicIp"`
	MilliCPU int64  `json:"milliCpu"`
	MemoryMB int64  `json:"memoryMb"`
	PortMin  int    `json:"portMin"`
	PortMax  int    `json:"portMax"`
	Draining bool   `json:"draining"`
	// JoinedAt is in Nanos's form; absent for a node stored before it was
	// kept.
	JoinedAt int64 `json:"joinedAt,omitempty"`
}

// FromNode returns the document of n.
func FromNode(n *arena.Node) Node {
	return Node{
		Region: n.Region, Location: n.Location, Provider: n.Provider, Class: string(n.Class), PublicIP: n.PublicIP,
		MilliCPU: n.Capacity.MilliCPU, MemoryMB: n.Capacity.MemoryMB, PortMin: n.PortMin, PortMax: n.PortMax, Draining: n.Draining,
		JoinedAt: Nanos(n.JoinedAt),
	}
}

// ToNode sets the fields of n that d holds.
func (d Node) ToNode(n *arena.Node) {
	n.Region, n.Location, n.Provider, n.Class, n.PublicIP = d.Region, d.Location, d.Provider, arena.NodeClass(d.Class), d.PublicIP
	n.Capacity = arena.Resources{MilliCPU: d.MilliCPU, MemoryMB: d.MemoryMB}
	n.PortMin, n.PortMax, n.Draining = d.PortMin, d.PortMax, d.Draining
	n.JoinedAt = FromNanos(d.JoinedAt)
}

// Policy is the stored form of an arena.ScalingPolicy but for its Region,
// Source and UpdatedAt, which are columns. Durations are nanoseconds.
type Policy struct {
	Offers            []Offer `json:"offers"`
	BufferSessions    int     `json:"bufferSessions"`
	BufferOrg         string  `json:"bufferOrg"`
	BufferApplication string  `json:"bufferApplication"`
	BufferMilliCPU    int64   `json:"bufferMilliCpu"`
	BufferMemoryMB    int64   `json:"bufferMemoryMb"`
	MinNodes          int     `json:"minNodes"`
	MaxNodes          int     `json:"maxNodes"`
	MaxCostPerHour    float64 `json:"maxCostPerHour"`
	ScaleUpCooldown   int64   `json:"scaleUpCooldownNs"`
	ScaleDownCooldown int64   `json:"scaleDownCooldownNs"`
	IdleTimeout       int64   `json:"idleTimeoutNs"`
	JoinTimeout       int64   `json:"joinTimeoutNs"`
}

// Offer is the stored form of an arena.MachineOffer.
type Offer struct {
	Provider     string  `json:"provider"`
	Region       string  `json:"region"`
	Location     string  `json:"location"`
	InstanceType string  `json:"instanceType"`
	Image        string  `json:"image"`
	CostPerHour  float64 `json:"costPerHour"`
	MilliCPU     int64   `json:"milliCpu"`
	MemoryMB     int64   `json:"memoryMb"`
}

// FromPolicy returns the document of p.
func FromPolicy(p *arena.ScalingPolicy) Policy {
	d := Policy{
		Offers:         make([]Offer, 0, len(p.Offers)),
		BufferSessions: p.Buffer.Sessions, BufferOrg: p.Buffer.OrgID, BufferApplication: p.Buffer.Application,
		BufferMilliCPU: p.Buffer.Resources.MilliCPU, BufferMemoryMB: p.Buffer.Resources.MemoryMB,
		MinNodes: p.MinNodes, MaxNodes: p.MaxNodes, MaxCostPerHour: p.MaxCostPerHour,
		ScaleUpCooldown: int64(p.ScaleUpCooldown), ScaleDownCooldown: int64(p.ScaleDownCooldown),
		IdleTimeout: int64(p.IdleTimeout), JoinTimeout: int64(p.JoinTimeout),
	}
	for _, o := range p.Offers {
		d.Offers = append(d.Offers, Offer{Provider: o.Provider, Region: o.Region, Location: o.Location, InstanceType: o.InstanceType,
			Image: o.Image, CostPerHour: o.CostPerHour, MilliCPU: o.Capacity.MilliCPU, MemoryMB: o.Capacity.MemoryMB})
	}
	return d
}

// ToPolicy sets the fields of p that d holds.
func (d Policy) ToPolicy(p *arena.ScalingPolicy) {
	p.Offers = make([]arena.MachineOffer, 0, len(d.Offers))
	for _, o := range d.Offers {
		p.Offers = append(p.Offers, arena.MachineOffer{Provider: o.Provider, Region: o.Region, Location: o.Location, InstanceType: o.InstanceType,
			Image: o.Image, CostPerHour: o.CostPerHour, Capacity: arena.Resources{MilliCPU: o.MilliCPU, MemoryMB: o.MemoryMB}})
	}
	p.Buffer = arena.ScalingBuffer{Sessions: d.BufferSessions, OrgID: d.BufferOrg, Application: d.BufferApplication,
		Resources: arena.Resources{MilliCPU: d.BufferMilliCPU, MemoryMB: d.BufferMemoryMB}}
	p.MinNodes, p.MaxNodes, p.MaxCostPerHour = d.MinNodes, d.MaxNodes, d.MaxCostPerHour
	p.ScaleUpCooldown, p.ScaleDownCooldown = time.Duration(d.ScaleUpCooldown), time.Duration(d.ScaleDownCooldown)
	p.IdleTimeout, p.JoinTimeout = time.Duration(d.IdleTimeout), time.Duration(d.JoinTimeout)
}
