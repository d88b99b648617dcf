package fleet

import (
	"context"

	"github.com/arena-hq/arena"
	"github.com/arena-hq/arena/scheduler"
)

// Request is what placing one session asks for.
type Request = scheduler.Request

// Placement is where a session was placed: its node and host ports.
type Placement = scheduler.Placement

// Placer reserves room for sessions on the fleet's nodes: what the
// sessions' side asks to place, restore and release, and where the tenants'
// quotas are kept. It is safe for concurrent use.
type Placer struct {
	fleet *Fleet
	sched *scheduler.Scheduler
}

// Ready waits, bounded by ctx, until placement has the nodes' reports it
// waits for after Open: until then what they can take is not known, and
// a create would be refused for want of room there is.
func (p *Placer) Ready(ctx context.Context) error { return p.fleet.resync.wait(ctx) }

// Known reports whether a location or region has nodes.
func (p *Placer) Known(location string) bool { return p.sched.Known(location) }

// Place reserves room and host ports for a new session. A create refused
// for want of room is remembered for the scaler (see Fleet.Waiting).
func (p *Placer) Place(req Request) (Placement, error) {
	pl, err := p.sched.Place(req)
	p.fleet.refused.note(req, err, p.fleet.now())
	return pl, err
}

// Restore reserves again what an active session holds, as after a
// restart; ENOTFOUND when its node is unknown.
func (p *Placer) Restore(sess *arena.Session) error { return p.sched.Restore(sess) }

// Release frees what a session held.
func (p *Placer) Release(sessionID string) { p.sched.Release(sessionID) }

// CompareNodes orders two nodes as placement prefers them (see
// scheduler.Scheduler.CompareNodes), for a claim among warm pools' sessions.
func (p *Placer) CompareNodes(a, b string) int { return p.sched.CompareNodes(a, b) }

// StartDone tells that a session's node is done starting it: it counts no
// more among the node's starts to come.
func (p *Placer) StartDone(sessionID string) { p.sched.StartDone(sessionID) }

// MovePorts gives a session new host ports on its node, none of those it
// has, and frees those; EUNAVAILABLE when the node has too few free.
func (p *Placer) MovePorts(sessionID string, ports []arena.Port) ([]arena.Port, error) {
	return p.sched.MovePorts(sessionID, ports)
}

// SetQuota bounds what an organisation's sessions may hold.
func (p *Placer) SetQuota(orgID string, q arena.Quota) { p.sched.SetQuota(orgID, q) }

// Usage returns what an organisation's active sessions hold of its quota.
func (p *Placer) Usage(orgID string) arena.QuotaUsage { return p.sched.Usage(orgID) }
