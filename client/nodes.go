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
