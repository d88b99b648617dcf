package client

import (
	"context"
	"net/http"
	"net/url"

	"github.com/arena-hq/arena"
)

// Nodes calls the admin API of the installation's nodes, which needs a
// token with the operator scope: nodes are no organisation's.
type Nodes struct{ c *Client }

// Node is a node with its health, capacity and usage.
type Node struct {
	Body     `json:"-"`
	ID       string `json:"id"`
	Region   string `json:"region"`
	Location string `json:"location"`
	Provider string `json:"provider"`
	// Class is metal or cloud; metal is placed on first.
	Class    string `json:"class"`
	PublicIP string `json:"publicIp"`
	// State is ready, draining, unreachable or waiting (not heard from
	// since the control plane started).
	State    string `json:"state"`
	Draining bool   `json:"draining"`
	// LastSeen and JoinedAt are RFC 3339 times; JoinedAt is empty for a
	// node recorded before Arena kept it, until it joins again.
	LastSeen string          `json:"lastSeen"`
	JoinedAt string          `json:"joinedAt,omitempty"`
	Capacity arena.Resources `json:"capacity"`
	Used     arena.Resources `json:"used"`
	Ports    NodePorts       `json:"ports"`
	Sessions int             `json:"sessions"`
	// Starts is how the node keeps up with starting containers; nil for an
	// agent that says nothing of it.
	Starts *NodeStarts `json:"starts,omitempty"`
}

// NodePorts is a node's port range and how much of it is free.
type NodePorts struct {
	Min  int `json:"min"`
	Max  int `json:"max"`
	Free int `json:"free"`
}

// NodeStarts is how a node keeps up with starting containers: Pending and
// ExpectedWaitMs are the control plane's count, the rest what the agent
// last said.
type NodeStarts struct {
	Pending        int     `json:"pending"`
	ExpectedWaitMs int64   `json:"expectedWaitMs"`
	Queued         int     `json:"queued"`
	InFlight       int     `json:"inFlight"`
	Concurrency    int     `json:"concurrency"`
	TimeoutMs      int64   `json:"timeoutMs"`
	RatePerSecond  float64 `json:"ratePerSecond"`
	LatencyP50Ms   int64   `json:"latencyP50Ms"`
	LatencyP99Ms   int64   `json:"latencyP99Ms"`
	QueueWaitP50Ms int64   `json:"queueWaitP50Ms"`
	QueueWaitP99Ms int64   `json:"queueWaitP99Ms"`
}

// NodeList is every node, by id.
type NodeList struct {
	Body  `json:"-"`
	Nodes []Node `json:"nodes"`
}

// List lists the nodes.
func (n *Nodes) List(ctx context.Context) (NodeList, error) {
	var out NodeList
	return out, n.c.call(ctx, http.MethodGet, "/admin/v1/nodes", nil, &out)
}

// Drain stops placing sessions on a node, and returns it; its sessions go
// on.
func (n *Nodes) Drain(ctx context.Context, id string) (Node, error) {
	var out Node
	return out, n.c.call(ctx, http.MethodPost, "/admin/v1/nodes/"+url.PathEscape(id)+"/drain", nil, &out)
}

// Undrain places sessions on a drained node again, and returns it.
func (n *Nodes) Undrain(ctx context.Context, id string) (Node, error) {
	var out Node
	return out, n.c.call(ctx, http.MethodPost, "/admin/v1/nodes/"+url.PathEscape(id)+"/undrain", nil, &out)
}

// Remove forgets a node without active sessions and its credential, so
// that its id may join anew.
func (n *Nodes) Remove(ctx context.Context, id string) error {
	return n.c.call(ctx, http.MethodDelete, "/admin/v1/nodes/"+url.PathEscape(id), nil, nil)
}

// ScalerStatus is GET /admin/v1/scaler: the scaling policies, the cloud
// machines Arena manages and its recent decisions.
type ScalerStatus struct {
	Body        `json:"-"`
	CostPerHour float64           `json:"costPerHour"`
	Policies    []ScalingPolicy   `json:"policies"`
	Machines    []CloudMachine    `json:"machines"`
	Decisions   []ScalingDecision `json:"decisions"`
}

// ScalingPolicy is one region's scaling policy.
type ScalingPolicy struct {
	Region string `json:"region"`
	Offers []struct {
		Provider     string          `json:"provider"`
		Region       string          `json:"region"`
		Location     string          `json:"location"`
		InstanceType string          `json:"instanceType"`
		Image        string          `json:"image"`
		CostPerHour  float64         `json:"costPerHour"`
		Capacity     arena.Resources `json:"capacity"`
	} `json:"offers"`
	Buffer struct {
		Sessions    int             `json:"sessions"`
		Org         string          `json:"org"`
		Application string          `json:"application"`
		Resources   arena.Resources `json:"resources"`
	} `json:"buffer"`
	MinNodes                 int     `json:"minNodes"`
	MaxNodes                 int     `json:"maxNodes"`
	MaxCostPerHour           float64 `json:"maxCostPerHour"`
	ScaleUpCooldownSeconds   float64 `json:"scaleUpCooldownSeconds"`
	ScaleDownCooldownSeconds float64 `json:"scaleDownCooldownSeconds"`
	IdleTimeoutSeconds       float64 `json:"idleTimeoutSeconds"`
	JoinTimeoutSeconds       float64 `json:"joinTimeoutSeconds"`
}

// CloudMachine is a cloud machine the scaler manages.
type CloudMachine struct {
	Node         string          `json:"node"`
	Region       string          `json:"region"`
	Provider     string          `json:"provider"`
	ProviderID   string          `json:"providerId"`
	InstanceType string          `json:"instanceType"`
	State        string          `json:"state"`
	Reason       string          `json:"reason"`
	CostPerHour  float64         `json:"costPerHour"`
	Capacity     arena.Resources `json:"capacity"`
	CreatedAt    string          `json:"createdAt"`
	JoinedAt     string          `json:"joinedAt"`
	UpdatedAt    string          `json:"updatedAt"`
}

// ScalingDecision is one step the scaler took or tried.
type ScalingDecision struct {
	At       string `json:"at"`
	Region   string `json:"region"`
	Kind     string `json:"kind"`
	Node     string `json:"node"`
	Provider string `json:"provider"`
	Reason   string `json:"reason"`
	Error    string `json:"error"`
}

// Scaler returns the scaler's policies, machines and recent decisions.
func (n *Nodes) Scaler(ctx context.Context) (ScalerStatus, error) {
	var out ScalerStatus
	return out, n.c.call(ctx, http.MethodGet, "/admin/v1/scaler", nil, &out)
}
