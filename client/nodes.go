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

// ScalingPolicy is one region's scaling policy, as the scaler applies it:
// its durations with the defaults filled in.
type ScalingPolicy struct {
	Body   `json:"-"`
	Region string `json:"region"`
	// Source is where the policy is defined: config (the config file, where
	// it is changed) or api.
	Source                   string         `json:"source"`
	Offers                   []ScalingOffer `json:"offers"`
	Buffer                   ScalingBuffer  `json:"buffer"`
	MinNodes                 int            `json:"minNodes"`
	MaxNodes                 int            `json:"maxNodes"`
	MaxCostPerHour           float64        `json:"maxCostPerHour"`
	ScaleUpCooldownSeconds   float64        `json:"scaleUpCooldownSeconds"`
	ScaleDownCooldownSeconds float64        `json:"scaleDownCooldownSeconds"`
	IdleTimeoutSeconds       float64        `json:"idleTimeoutSeconds"`
	JoinTimeoutSeconds       float64        `json:"joinTimeoutSeconds"`
}

// ScalingOffer is a kind of machine a policy may order, from one provider;
// a policy's offers are tried in order.
type ScalingOffer struct {
	Provider string `json:"provider"`
	// Region is the provider's own name of where to create machines,
	// Location the Arena location their nodes are in.
	Region       string          `json:"region,omitempty"`
	Location     string          `json:"location"`
	InstanceType string          `json:"instanceType,omitempty"`
	Image        string          `json:"image,omitempty"`
	CostPerHour  float64         `json:"costPerHour"`
	Capacity     arena.Resources `json:"capacity"`
}

// ScalingBuffer is the free room a region keeps: Sessions sessions of an
// organisation's application, or else Resources.
type ScalingBuffer struct {
	Sessions    int             `json:"sessions,omitempty"`
	Org         string          `json:"org,omitempty"`
	Application string          `json:"application,omitempty"`
	Resources   arena.Resources `json:"resources,omitzero"`
}

// ScalingPolicyInput is the body of PutScalingPolicy: a region's whole
// policy, which replaces the one it had. A duration left nil takes the
// server's default (30 s cooldowns, 10 min idle and join timeouts); one
// pointing at 0 is a duration of 0, such as no cooldown.
type ScalingPolicyInput struct {
	Offers                   []ScalingOffer `json:"offers"`
	Buffer                   ScalingBuffer  `json:"buffer,omitzero"`
	MinNodes                 int            `json:"minNodes,omitempty"`
	MaxNodes                 int            `json:"maxNodes"`
	MaxCostPerHour           float64        `json:"maxCostPerHour,omitempty"`
	ScaleUpCooldownSeconds   *float64       `json:"scaleUpCooldownSeconds,omitempty"`
	ScaleDownCooldownSeconds *float64       `json:"scaleDownCooldownSeconds,omitempty"`
	IdleTimeoutSeconds       *float64       `json:"idleTimeoutSeconds,omitempty"`
	JoinTimeoutSeconds       *float64       `json:"joinTimeoutSeconds,omitempty"`
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

// PutScalingPolicy creates or replaces a region's scaling policy, and
// returns it as stored. A policy of the config file is changed there
// (ECONFLICT); its offers must name providers that exist.
func (n *Nodes) PutScalingPolicy(ctx context.Context, region string, in ScalingPolicyInput) (ScalingPolicy, error) {
	var out ScalingPolicy
	return out, n.c.call(ctx, http.MethodPut, "/admin/v1/scaler/policies/"+url.PathEscape(region), in, &out)
}

// DeleteScalingPolicy stops scaling a region; its cloud machines retire once idle.
func (n *Nodes) DeleteScalingPolicy(ctx context.Context, region string) error {
	return n.c.call(ctx, http.MethodDelete, "/admin/v1/scaler/policies/"+url.PathEscape(region), nil, nil)
}

// CloudProvider is a cloud Arena may order machines from, as the admin API
// shows it: its credentials by name, never their values.
type CloudProvider struct {
	Body `json:"-"`
	Name string `json:"name"`
	// Type is its driver: local, hetzner, aws or digitalocean.
	Type     string            `json:"type"`
	Settings map[string]string `json:"settings"`
	// Credentials are the names of its credentials.
	Credentials []string `json:"credentials"`
	// Source is config or api, as a policy's.
	Source    string `json:"source"`
	CreatedAt string `json:"createdAt"`
	UpdatedAt string `json:"updatedAt"`
}

// CloudProviderList is every cloud provider, by name.
type CloudProviderList struct {
	Body      `json:"-"`
	Providers []CloudProvider `json:"providers"`
}

// CloudProviderInput is the body of PutCloudProvider. Settings replace the
// provider's. Credentials are secrets, sealed by the control plane and
// never answered: nil keeps the stored ones, a name with an empty value
// removes that one, and a change of Type drops them all.
type CloudProviderInput struct {
	Type        string            `json:"type"`
	Settings    map[string]string `json:"settings,omitempty"`
	Credentials map[string]string `json:"credentials,omitempty"`
}

// CloudProviders lists the cloud providers.
func (n *Nodes) CloudProviders(ctx context.Context) (CloudProviderList, error) {
	var out CloudProviderList
	return out, n.c.call(ctx, http.MethodGet, "/admin/v1/scaler/providers", nil, &out)
}

// PutCloudProvider creates or replaces a cloud provider, and returns it as
// stored. Its settings and credentials are checked by making its driver
// (EINVALID), without calling the cloud; one of the config file is changed
// there (ECONFLICT).
func (n *Nodes) PutCloudProvider(ctx context.Context, name string, in CloudProviderInput) (CloudProvider, error) {
	var out CloudProvider
	return out, n.c.call(ctx, http.MethodPut, "/admin/v1/scaler/providers/"+url.PathEscape(name), in, &out)
}

// DeleteCloudProvider removes a cloud provider and its credentials:
// ECONFLICT while a policy offers its machines or one of them is live.
func (n *Nodes) DeleteCloudProvider(ctx context.Context, name string) error {
	return n.c.call(ctx, http.MethodDelete, "/admin/v1/scaler/providers/"+url.PathEscape(name), nil, nil)
}
