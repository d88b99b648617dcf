// Package scaler adds and retires the cloud machines of a region: the
// leader reads a snapshot of the region (its nodes, its machines, its
// policy) and Plan returns what to do, with the reason of each step; the
// Scaler carries the plan out, writing each intent to the store before it
// calls a provider.
package scaler

import (
	"cmp"
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/arena-hq/arena"
)

// Unit is what one session of the buffer's application holds: its
// reservation and its host ports. The zero Unit counts the buffer in
// resources instead.
type Unit struct {
	Resources arena.Resources
	Ports     int
}

// Snapshot is what Plan decides from: one region, as the leader sees it.
type Snapshot struct {
	Now    time.Time
	Policy arena.ScalingPolicy
	// Unit is a session of the buffer's application; zero for a buffer in
	// resources.
	Unit Unit
	// Nodes are the region's nodes, bare metal and cloud.
	Nodes []arena.NodeStatus
	// Machines are Arena's records of the region's cloud machines.
	Machines []*arena.CloudMachine
	// IdleSince is, by node id, since when a cloud node has held no
	// session; absent for one that holds some.
	IdleSince map[string]time.Time
	// BackedOff is, by provider, until when it is passed over.
	BackedOff map[string]time.Time
	// LastUp and LastDown are when a machine was last added and retired.
	LastUp, LastDown time.Time
	// Waiting counts the sessions that found no room and wait for it (a
	// matchmaker retrying its 420s), and WaitingRoom is what they reserve:
	// the region needs room for them beyond the buffer.
	Waiting     int
	WaitingRoom arena.Resources
}

// Kind is what an Action does.
type Kind string

// Kinds of actions.
const (
	// Provision adds a machine of Offer.
	Provision Kind = "provision"
	// Resume takes sessions on a draining cloud node again, which is
	// cheaper and sooner than a new machine.
	Resume Kind = "resume"
	// Drain stops placement on an idle cloud node.
	Drain Kind = "drain"
	// Retire removes a drained node without sessions and deletes its
	// machine.
	Retire Kind = "retire"
	// Abandon deletes a machine that did not join in time, and passes its
	// provider over for a while.
	Abandon Kind = "abandon"
)

// Action is one step of a plan.
type Action struct {
	Kind   Kind
	NodeID string
	// Offer is the machine to add, for Provision.
	Offer  arena.MachineOffer
	Reason string
}

// Plan returns what to do in the region now. It is a function of the
// snapshot alone, so that a decision can be tested and explained: each
// action says why. Machines that do not join in time are abandoned; then,
// when the region's free room (pending machines counted, so that a burst
// orders one machine and not one a request) cannot hold the buffer or it
// has fewer cloud nodes than its minimum, a draining cloud node is
// resumed or one machine is added, within the bounds of the policy;
// otherwise the cloud node idle the longest is drained, when the rest
// still holds the buffer. Drained nodes without sessions are retired.
// Bare metal is never drained: cloud goes first.
func Plan(s Snapshot) []Action {
	p := s.Policy
	nodes := map[string]arena.NodeStatus{}
	for _, n := range s.Nodes {
		nodes[n.ID] = n
	}
	var actions []Action
	var live []*arena.CloudMachine
	for _, m := range s.Machines {
		if !m.State.Live() {
			continue
		}
		if m.State == arena.MachineJoining || m.State == arena.MachineProvisioning {
			if n, ok := nodes[m.NodeID]; !ok || n.State != "ready" {
				if p.JoinTimeout > 0 && s.Now.Sub(m.CreatedAt) > p.JoinTimeout {
					actions = append(actions, Action{Kind: Abandon, NodeID: m.NodeID,
						Reason: fmt.Sprintf("its node did not join within %s of the order", p.JoinTimeout)})
					// Abandoning it passes its provider over: what replaces
					// it comes from the next.
					s.BackedOff = maps.Clone(s.BackedOff)
					if s.BackedOff == nil {
						s.BackedOff = map[string]time.Time{}
					}
					s.BackedOff[m.Provider] = s.Now.Add(p.JoinTimeout)
					continue
				}
			}
		}
		live = append(live, m)
	}

	holds, free := s.holds(nodes, live, "")
	cost := 0.0
	for _, m := range live {
		cost += m.CostPerHour
	}
	switch {
	case !holds || len(live) < p.MinNodes:
		why := fmt.Sprintf("free room %s cannot hold the buffer %s", free, s.bufferText())
		if holds {
			why = fmt.Sprintf("%d cloud nodes, fewer than the minimum %d", len(live), p.MinNodes)
		}
		if m := oldestDraining(live); m != nil {
			return append(actions, Action{Kind: Resume, NodeID: m.NodeID, Reason: why + "; a draining node takes sessions again"})
		}
		if a, ok := s.provision(len(live), cost, why); ok {
			actions = append(actions, a)
		}
	default:
		if a, ok := s.drain(nodes, live); ok {
			actions = append(actions, a)
		}
	}
	for _, m := range live {
		if n, ok := nodes[m.NodeID]; m.State == arena.MachineDraining && (!ok || n.Sessions+n.Pending == 0) {
			actions = append(actions, Action{Kind: Retire, NodeID: m.NodeID, Reason: "drained, and its sessions have ended"})
		}
	}
	return actions
}

// provision returns the machine to add, first of the offers whose provider
// is not passed over and that the cost ceiling allows, when the policy's
// bounds and cooldown let one be added.
func (s Snapshot) provision(cloud int, cost float64, why string) (Action, bool) {
	p := s.Policy
	if p.MaxNodes > 0 && cloud >= p.MaxNodes {
		return Action{}, false
	}
	if !s.LastUp.IsZero() && s.Now.Sub(s.LastUp) < p.ScaleUpCooldown {
		return Action{}, false
	}
	for _, o := range p.Offers {
		if until, ok := s.BackedOff[o.Provider]; ok && s.Now.Before(until) {
			continue
		}
		if p.MaxCostPerHour > 0 && cost+o.CostPerHour > p.MaxCostPerHour {
			continue
		}
		return Action{Kind: Provision, Offer: o, Reason: why}, true
	}
	return Action{}, false
}

// drain returns the cloud node idle the longest, past the idle timeout,
// when the region holds the buffer without it and keeps its minimum.
func (s Snapshot) drain(nodes map[string]arena.NodeStatus, live []*arena.CloudMachine) (Action, bool) {
	p := s.Policy
	if !s.LastDown.IsZero() && s.Now.Sub(s.LastDown) < p.ScaleDownCooldown {
		return Action{}, false
	}
	active := 0
	var idle []*arena.CloudMachine
	for _, m := range live {
		if m.State == arena.MachineDraining {
			continue
		}
		active++
		since, ok := s.IdleSince[m.NodeID]
		if n, known := nodes[m.NodeID]; m.State == arena.MachineReady && known && ok && n.Sessions+n.Pending == 0 && s.Now.Sub(since) >= p.IdleTimeout {
			idle = append(idle, m)
		}
	}
	if active <= p.MinNodes || len(idle) == 0 {
		return Action{}, false
	}
	slices.SortFunc(idle, func(a, b *arena.CloudMachine) int {
		return cmp.Or(s.IdleSince[a.NodeID].Compare(s.IdleSince[b.NodeID]), cmp.Compare(a.NodeID, b.NodeID))
	})
	for _, m := range idle {
		if ok, _ := s.holds(nodes, live, m.NodeID); ok {
			return Action{Kind: Drain, NodeID: m.NodeID,
				Reason: fmt.Sprintf("no session for %s, and the region holds the buffer %s without it", p.IdleTimeout, s.bufferText())}, true
		}
	}
	return Action{}, false
}

// holds reports whether the region's free room, without the node except,
// holds the buffer, and says what that room is. Nodes that take sessions
// count what they have free; machines ordered and not joined yet count
// their whole capacity, since they will.
func (s Snapshot) holds(nodes map[string]arena.NodeStatus, live []*arena.CloudMachine, except string) (bool, string) {
	var slots int
	var room arena.Resources
	add := func(free arena.Resources, ports int) {
		room = room.Add(free)
		if u := s.Unit; u.Resources.MilliCPU > 0 || u.Resources.MemoryMB > 0 {
			slots += fits(free, ports, u)
		}
	}
	for _, n := range s.Nodes {
		if n.ID == except || n.State != "ready" || n.Draining {
			continue
		}
		add(n.Capacity.Sub(n.Used), n.FreePorts)
	}
	for _, m := range live {
		if n, ok := nodes[m.NodeID]; m.NodeID == except || m.State == arena.MachineDraining || (ok && n.State == "ready") {
			continue // counted as a node, or not taking sessions
		}
		add(m.Capacity, 1<<30)
	}
	b := s.Policy.Buffer
	if b.Sessions > 0 {
		return slots >= b.Sessions+s.Waiting, fmt.Sprintf("%d sessions", slots)
	}
	need := b.Resources.Add(s.WaitingRoom)
	return room.MilliCPU >= need.MilliCPU && room.MemoryMB >= need.MemoryMB, resources(room)
}

// fits returns how many sessions of u fit in free and ports.
func fits(free arena.Resources, ports int, u Unit) int {
	n := 1 << 30
	if u.Resources.MilliCPU > 0 {
		n = min(n, int(free.MilliCPU/u.Resources.MilliCPU))
	}
	if u.Resources.MemoryMB > 0 {
		n = min(n, int(free.MemoryMB/u.Resources.MemoryMB))
	}
	if u.Ports > 0 {
		n = min(n, ports/u.Ports)
	}
	return max(n, 0)
}

func (s Snapshot) bufferText() string {
	b := s.Policy.Buffer
	waiting := ""
	if s.Waiting > 0 {
		waiting = fmt.Sprintf(" and %d waiting", s.Waiting)
	}
	if b.Sessions > 0 {
		return fmt.Sprintf("of %d sessions of %s%s", b.Sessions, b.Application, waiting)
	}
	return "of " + resources(b.Resources) + waiting
}

// oldestDraining returns the draining machine that has drained the
// longest, nil for none.
func oldestDraining(live []*arena.CloudMachine) *arena.CloudMachine {
	var best *arena.CloudMachine
	for _, m := range live {
		if m.State == arena.MachineDraining && (best == nil || m.UpdatedAt.Before(best.UpdatedAt)) {
			best = m
		}
	}
	return best
}

func resources(r arena.Resources) string {
	return fmt.Sprintf("%dm CPU and %d MiB", r.MilliCPU, r.MemoryMB)
}
