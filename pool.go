package arena

import (
	"fmt"
	"slices"
)

// PoolMode is how a warm pool's sessions take a create's request.
type PoolMode string

// Pool modes. The zero mode is PoolClaim.
const (
	// PoolClaim runs the game server in the pool as the application
	// defines it; a claim takes it as it is, so the request's env and
	// args, which it started without, do not apply (the Gameye API's warm
	// pools). The session is running in the create's own answer.
	PoolClaim PoolMode = "claim"
	// PoolLaunch starts the pool's containers with Arena's launcher in
	// place of the image's entrypoint: the network, mounts and cgroups
	// are made ahead, and the claim starts the game server with the
	// request's env and args. The session is running once the game server
	// is ready, as a cold start is.
	PoolLaunch PoolMode = "launch"
)

// Bounds of an application's warm pools: each of their sessions holds its
// resources and ports all the while.
const (
	MaxPoolSize = 100
	MaxPools    = 16
)

// WarmPool is one of an application's warm pools: Size sessions of Tag
// (the application's default tag when empty) kept started and ready in
// Location, a location or a region, for creates there to claim at once.
type WarmPool struct {
	Location string
	Tag      string
	Size     int
	Mode     PoolMode
}

// EffectiveMode returns the pool's mode with its default in place.
func (p WarmPool) EffectiveMode() PoolMode {
	if p.Mode == "" {
		return PoolClaim
	}
	return p.Mode
}

func poolViolations(pools []WarmPool) []Violation {
	var v []Violation
	add := func(i int, field, format string, args ...any) {
		v = append(v, Violation{Field: fmt.Sprintf("warmPools[%d].%s", i, field), Description: fmt.Sprintf(format, args...)})
	}
	if len(pools) > MaxPools {
		return []Violation{{Field: "warmPools", Description: fmt.Sprintf("must list at most %d pools", MaxPools)}}
	}
	for i, p := range pools {
		if p.Location == "" || len(p.Location) > 64 {
			add(i, "location", "must name a location or region")
		}
		if p.Tag != "" && !tagPattern.MatchString(p.Tag) {
			add(i, "tag", "must be a Docker tag, or empty for the default tag")
		}
		if p.Size < 1 || p.Size > MaxPoolSize {
			add(i, "size", "must be between 1 and %d", MaxPoolSize)
		}
		if p.Mode != "" && p.Mode != PoolClaim && p.Mode != PoolLaunch {
			add(i, "mode", "must be claim or launch")
		}
		if slices.ContainsFunc(pools[:i], func(q WarmPool) bool { return q.Location == p.Location && q.Tag == p.Tag }) {
			add(i, "location", "has a pool of this tag already")
		}
	}
	return v
}

// PoolSpec is a warm pool of an organisation's application, as the pools
// keep it filled.
type PoolSpec struct {
	OrgID       string
	Application string
	WarmPool
}

// Key names the pool in its sessions (Session.Pool).
func (p PoolSpec) Key() string {
	return p.Application + ":" + p.Tag + "@" + p.Location
}

// PoolSpecs returns the warm pools of apps.
func PoolSpecs(apps []*Application) []PoolSpec {
	var out []PoolSpec
	for _, a := range apps {
		for _, p := range a.Pools {
			out = append(out, PoolSpec{OrgID: a.OrgID, Application: a.Name, WarmPool: p})
		}
	}
	return out
}

// PoolStatus is how full a warm pool is: its sessions ready to claim, and
// those still starting (warming), in all and by node.
type PoolStatus struct {
	PoolSpec
	Ready, Warming int
	// Nodes are the nodes holding the pool's sessions, ordered by id.
	Nodes []PoolNodeStatus
}

// PoolNodeStatus is one node's share of a warm pool.
type PoolNodeStatus struct {
	NodeID         string
	Ready, Warming int
}
