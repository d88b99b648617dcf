package scaler

import (
	"fmt"
	"math"
	"time"

	"github.com/arena-hq/arena"
)

// SimConfig is a day of demand replayed against a region of simulated
// metal nodes and a simulated provider, in accelerated time: the planner is
// Arena's own, asked every PlanEvery of simulated time.
type SimConfig struct {
	// Metal nodes, each with room for MetalSlots sessions.
	MetalNodes, MetalSlots int
	// Each cloud machine has room for CloudSlots sessions and joins
	// BootDelay after it is ordered.
	CloudSlots int
	BootDelay  time.Duration
	// Demand is how many sessions want to run at a time of the day;
	// each lasts SessionLength. Arrivals follow it, evenly spread.
	Demand        func(at time.Duration) float64
	SessionLength time.Duration
	// Policy is the region's; its first offer is the simulated provider's.
	Policy    arena.ScalingPolicy
	PlanEvery time.Duration
	// Duration is how much is replayed (a day when zero).
	Duration time.Duration
}

// SimResult is what a simulated day came to.
type SimResult struct {
	// Sessions arrived; Rejected is how many creates were answered 420
	// (a create waiting for room is retried every second, and each retry
	// that finds none counts).
	Sessions, Rejected int
	// LowDemand and PeakDemand are the fewest and most sessions the day
	// wanted at a time.
	LowDemand, PeakDemand float64
	// WaitedMax and WaitedTotal are how long sessions waited for room.
	WaitedMax, WaitedTotal time.Duration
	Waited                 int
	// PeakCloud and MeanCloud count the cloud machines that exist (from
	// their order to their deletion); CloudHours is their node-hours, and
	// StaticHours those of a static cloud fleet sized for the peak.
	PeakCloud               int
	MeanCloud               float64
	CloudHours, StaticHours float64
}

type simNode struct {
	id       string
	class    arena.NodeClass
	slots    int
	used     int
	draining bool
	readyAt  time.Duration // for cloud: when it joins
}

// Simulate replays cfg's day, a second at a time.
func Simulate(cfg SimConfig) SimResult {
	if cfg.Duration == 0 {
		cfg.Duration = 24 * time.Hour
	}
	if cfg.PlanEvery == 0 {
		cfg.PlanEvery = 2 * time.Second
	}
	unit := Unit{Resources: arena.Resources{MilliCPU: 1000, MemoryMB: 1000}, Ports: 1}
	slotsOf := func(n int) arena.Resources {
		return arena.Resources{MilliCPU: int64(n) * 1000, MemoryMB: int64(n) * 1000}
	}
	offer := cfg.Policy.Offers[0]
	offer.Capacity = slotsOf(cfg.CloudSlots)
	cfg.Policy.Offers = []arena.MachineOffer{offer}

	var nodes []*simNode
	for i := range cfg.MetalNodes {
		nodes = append(nodes, &simNode{id: fmt.Sprintf("metal-%d", i), class: arena.ClassMetal, slots: cfg.MetalSlots})
	}
	machines := map[string]*arena.CloudMachine{}
	ends := map[time.Duration][]*simNode{} // sessions' ends, by second
	var (
		res        SimResult
		waiting    []time.Duration // when each waiting session arrived
		acc        float64
		seq        int
		idleSince  = map[string]time.Time{}
		lastUp     time.Time
		lastDown   time.Time
		cloudTotal float64
	)
	epoch := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	place := func(now time.Duration) bool {
		var best *simNode
		for _, n := range nodes {
			if n.draining || n.used >= n.slots || (n.class == arena.ClassCloud && now < n.readyAt) {
				continue
			}
			if best == nil || (n.class == arena.ClassMetal && best.class != arena.ClassMetal) {
				best = n
			}
		}
		if best == nil {
			return false
		}
		best.used++
		end := now + cfg.SessionLength
		ends[end] = append(ends[end], best)
		return true
	}
	for now := time.Duration(0); now < cfg.Duration; now += time.Second {
		for _, n := range ends[now] {
			n.used--
		}
		delete(ends, now)
		d := cfg.Demand(now)
		res.PeakDemand = max(res.PeakDemand, d)
		if now == 0 || d < res.LowDemand {
			res.LowDemand = d
		}
		acc += d / cfg.SessionLength.Seconds()
		for ; acc >= 1; acc-- {
			res.Sessions++
			waiting = append(waiting, now)
		}
		kept := waiting[:0]
		for _, arrived := range waiting {
			if place(now) {
				if w := now - arrived; w > 0 {
					res.Waited++
					res.WaitedTotal += w
					res.WaitedMax = max(res.WaitedMax, w)
				}
				continue
			}
			res.Rejected++
			kept = append(kept, arrived)
		}
		waiting = kept

		if now%cfg.PlanEvery == 0 {
			at := epoch.Add(now)
			snap := Snapshot{Now: at, Policy: cfg.Policy, Unit: unit, IdleSince: idleSince, LastUp: lastUp, LastDown: lastDown,
				Waiting: len(waiting), WaitingRoom: slotsOf(len(waiting))}
			for _, n := range nodes {
				if n.class == arena.ClassCloud && now < n.readyAt {
					continue // booting: its machine counts
				}
				snap.Nodes = append(snap.Nodes, arena.NodeStatus{Node: arena.Node{ID: n.id, Class: n.class, Capacity: slotsOf(n.slots), Draining: n.draining},
					State: "ready", Used: slotsOf(n.used), FreePorts: n.slots - n.used, Sessions: n.used})
				if n.class == arena.ClassCloud {
					if n.used > 0 {
						delete(idleSince, n.id)
					} else if _, ok := idleSince[n.id]; !ok {
						idleSince[n.id] = at
					}
				}
			}
			for _, m := range machines {
				snap.Machines = append(snap.Machines, m)
			}
			for _, a := range Plan(snap) {
				switch a.Kind {
				case Provision:
					seq++
					id := fmt.Sprintf("cloud-%d", seq)
					machines[id] = &arena.CloudMachine{NodeID: id, State: arena.MachineJoining, Capacity: offer.Capacity, CostPerHour: offer.CostPerHour, CreatedAt: at, UpdatedAt: at}
					nodes = append(nodes, &simNode{id: id, class: arena.ClassCloud, slots: cfg.CloudSlots, readyAt: now + cfg.BootDelay})
					lastUp = at
				case Drain, Resume:
					for _, n := range nodes {
						if n.id == a.NodeID {
							n.draining = a.Kind == Drain
						}
					}
					machines[a.NodeID].State = map[Kind]arena.MachineState{Drain: arena.MachineDraining, Resume: arena.MachineReady}[a.Kind]
					machines[a.NodeID].UpdatedAt = at
				case Retire:
					delete(machines, a.NodeID)
					delete(idleSince, a.NodeID)
					for i, n := range nodes {
						if n.id == a.NodeID {
							nodes = append(nodes[:i], nodes[i+1:]...)
							break
						}
					}
					lastDown = at
				}
			}
			for _, m := range machines {
				if m.State == arena.MachineJoining && now >= nodeOf(nodes, m.NodeID).readyAt {
					m.State = arena.MachineReady
				}
			}
		}
		cloud := len(machines)
		res.PeakCloud = max(res.PeakCloud, cloud)
		cloudTotal += float64(cloud)
	}
	seconds := cfg.Duration.Seconds()
	res.MeanCloud = cloudTotal / seconds
	res.CloudHours = cloudTotal / 3600
	res.StaticHours = float64(res.PeakCloud) * seconds / 3600
	return res
}

func nodeOf(nodes []*simNode, id string) *simNode {
	for _, n := range nodes {
		if n.id == id {
			return n
		}
	}
	return &simNode{}
}

// DiurnalDemand is a day of a game's players as sessions at a time: a
// trough at night, a rise through the day, and a sharp evening peak.
func DiurnalDemand(base, day, peak float64) func(time.Duration) float64 {
	return func(at time.Duration) float64 {
		h := at.Hours()
		d := base + day*(1-math.Cos(2*math.Pi*(h-4)/24))/2
		evening := peak * math.Exp(-math.Pow((h-20.5)/1.2, 2))
		return d + evening
	}
}
