package arena

import (
	"context"
	"maps"
	"time"
)

// Cloud machines are the capacity Arena adds itself when a region's bare
// metal cannot hold what it should, and retires when it is idle. Each is
// created by a Provider, labelled with the installation and the node id
// it is for, and boots an agent that joins with a token made for that
// node alone.

// Labels of the machines Arena creates. Their keys and values are of
// letters, digits and '-', which every provider takes: as labels, tags,
// or (where a tag is one string) "key:value".
const (
	MachineLabelInstallation = "arena-installation"
	MachineLabelNode         = "arena-node"
)

// MachineSpec is a machine a provider is asked to create.
type MachineSpec struct {
	// Name is the machine's name at the provider, unique within the
	// installation.
	Name   string
	NodeID string
	// Region is the provider's own name of where the machine runs (a
	// location, region or datacentre code such as fsn1, eu-central-1 or
	// ams3), from the scaling policy.
	Region string
	// InstanceType is the provider's machine size (cx22, t3.small,
	// s-2vcpu-4gb); Image the provider's operating system image.
	InstanceType string
	Image        string
	// UserData is the boot script (cloud-init user data): it installs and
	// starts the agent with its join token.
	UserData string
	// Labels carry at least MachineLabelInstallation and MachineLabelNode.
	Labels map[string]string
	// Boot is what the machine's agent starts with, which UserData
	// carries for a cloud machine.
	Boot MachineBoot
}

// Machine is a provider's machine, as its API describes it.
type Machine struct {
	// ID is the provider's id of the machine.
	ID     string
	Name   string
	Labels map[string]string
	// Status is the provider's own word for its state (running,
	// starting, pending, ...), shown, not interpreted.
	Status    string
	PublicIP  string
	CreatedAt time.Time
}

// NodeID returns the id of the node the machine was created for.
func (m Machine) NodeID() string { return m.Labels[MachineLabelNode] }

// Clone returns a deep copy of m.
func (m Machine) Clone() Machine {
	m.Labels = maps.Clone(m.Labels)
	return m
}

// Provider creates, lists and deletes the machines of one account of a
// cloud provider. Every call has a deadline from its context. Errors carry
// codes: EUNAVAILABLE for what may pass (rate limits, timeouts, the
// provider out of capacity or down), after which the scaler tries the
// next provider; EUNAUTHORIZED for refused credentials; EINVALID for a
// spec the provider refuses; ENOTFOUND for a machine that does not exist.
type Provider interface {
	// Name is the provider's name in the scaling policy.
	Name() string
	// Create creates a machine and returns it, possibly before it runs.
	Create(ctx context.Context, spec MachineSpec) (Machine, error)
	// List returns every machine that carries all of labels, across the
	// provider's pages.
	List(ctx context.Context, labels map[string]string) ([]Machine, error)
	// Delete deletes the machine with the provider's id: ENOTFOUND when
	// there is none.
	Delete(ctx context.Context, id string) error
}

// MachineBoot is what the agent of a new machine is started with: the
// boot script of a cloud machine carries it (see the scaler's user data),
// and the local provider passes it as flags.
type MachineBoot struct {
	// Servers are the control plane's agent URLs.
	Servers []string
	// JoinToken admits this machine's node alone, once, until it expires.
	JoinToken                          string
	NodeID, Region, Location, Provider string
	PortMin, PortMax                   int
	// Capacity is what the node offers to sessions.
	Capacity Resources
	// AgentURL is where the boot script downloads the arena binary from;
	// empty for one the image has installed.
	AgentURL string
}

// MachineState is how far Arena is with one of the cloud machines it
// manages. Each state is recorded before what it names is done, so that a
// restarted or new leader carries on rather than starting over.
type MachineState string

// Machine states.
const (
	// MachineProvisioning: the machine is about to be created at its
	// provider (recorded before the call).
	MachineProvisioning MachineState = "provisioning"
	// MachineJoining: the provider created it; its agent has not joined.
	MachineJoining MachineState = "joining"
	// MachineReady: its node joined and takes sessions.
	MachineReady MachineState = "ready"
	// MachineDraining: its node takes no new sessions; it is retired once
	// its sessions ended.
	MachineDraining MachineState = "draining"
	// MachineDeleting: its node is removed and the machine about to be
	// deleted at its provider (recorded before the call).
	MachineDeleting MachineState = "deleting"
	// MachineDeleted: gone at its provider. Kept for the record.
	MachineDeleted MachineState = "deleted"
	// MachineFailed: the provider refused it or it never joined; deleted
	// at its provider if it exists there.
	MachineFailed MachineState = "failed"
)

// Live reports whether a machine in state s exists, or is about to, at its
// provider and counts towards a region's cloud capacity.
func (s MachineState) Live() bool {
	switch s {
	case MachineProvisioning, MachineJoining, MachineReady, MachineDraining:
		return true
	}
	return false
}

// CloudMachine is Arena's record of a cloud machine it manages, by the id
// of the node it is for.
type CloudMachine struct {
	NodeID string
	Region string
	// Provider names the policy's provider; ProviderID is the provider's
	// id of the machine, empty until it answered the create.
	Provider     string
	ProviderID   string
	InstanceType string
	State        MachineState
	// Reason says why it is in its state: what the scaler decided, or what
	// failed.
	Reason      string
	CostPerHour float64
	// Capacity is what its node offers to sessions.
	Capacity Resources
	// JoinTokenHash is the hash of the machine's join token, which admits
	// NodeID alone, once, until JoinExpires; JoinedAt is when it did.
	JoinTokenHash string
	JoinExpires   time.Time
	JoinedAt      time.Time
	CreatedAt     time.Time
	UpdatedAt     time.Time
}

// ScalingPolicy is how Arena keeps one region's capacity: enough free
// room, the buffer, for what arrives while a machine boots; cloud
// machines added, from the offers in order, only when bare metal cannot
// hold the buffer, and retired first.
type ScalingPolicy struct {
	Region string
	// Offers are the machines Arena may add, in the order it tries them:
	// a provider that fails is passed over for a while.
	Offers []MachineOffer
	Buffer ScalingBuffer
	// MinNodes and MaxNodes bound the region's cloud nodes; MaxCostPerHour,
	// when not zero, their cost.
	MinNodes, MaxNodes int
	MaxCostPerHour     float64
	// ScaleUpCooldown and ScaleDownCooldown space additions and
	// retirements; IdleTimeout is how long a cloud node without sessions
	// lives before it is drained; JoinTimeout how long a new machine has
	// to join before it is given up and its provider passed over.
	ScaleUpCooldown, ScaleDownCooldown time.Duration
	IdleTimeout, JoinTimeout           time.Duration
	// Source is where the policy is defined: SourceAPI or SourceConfig.
	Source    string
	UpdatedAt time.Time
}

// MachineOffer is one kind of machine a provider can add to a region.
type MachineOffer struct {
	// Provider names a configured provider.
	Provider string
	// Region is the provider's own name of where to create machines;
	// Location the Arena location their nodes are in.
	Region, Location string
	InstanceType     string
	Image            string
	CostPerHour      float64
	// Capacity is what one machine's node offers to sessions.
	Capacity Resources
}

// ScalingBuffer is the free room a region keeps: Sessions sessions of an
// organisation's application (their reservation and ports each), or, when
// Sessions is zero, Resources.
type ScalingBuffer struct {
	Sessions           int
	OrgID, Application string
	Resources          Resources
}

// ScalingDecision is one step the scaler took, or tried, with why.
type ScalingDecision struct {
	At       time.Time
	Region   string
	Kind     string
	NodeID   string
	Provider string
	Reason   string
	// Err is why the step failed; empty when it was done.
	Err string
}

// ScalingStatus is what the scaler shows: its policies, the machines it
// manages and its recent decisions, oldest first.
type ScalingStatus struct {
	Policies  []ScalingPolicy
	Machines  []*CloudMachine
	Decisions []ScalingDecision
}
