package agent

import (
	"slices"
	"time"

	"github.com/arena-hq/arena"
)

// heldPortsRefresh is how many heartbeats may pass without the port report
// while nothing changes: a minute at the default interval. Sending it now
// and then even unchanged lets a control plane that started meanwhile (a
// restart, a new leader) learn it.
const heldPortsRefresh = 12

// portReport is what the heartbeats know of the port report.
type portReport struct {
	// acked is the held ports the control plane last took, valid with
	// ackedOK; a failed heartbeat clears it, since the control plane that
	// answers next may be another.
	acked   []int
	ackedOK bool
	// conn is the assignment stream the report was last sent on.
	conn int64
	// beats counts the heartbeats since the report was last taken.
	beats int
	// last is what the last scan found, kept for when a scan fails;
	// truncated tells that it found more than arena.MaxHeldPorts.
	last      []int
	truncated bool
}

// portConflict is a session's start that found a host port taken.
type portConflict struct {
	ports []int
	since time.Time
	msg   string
}

// portReport returns the port report for the next heartbeat, or nil when
// the control plane knows it already: the held ports are as it last took
// them, no session waits for other ports, and the report went out lately.
func (a *Agent) portReport(r *portReport) *arena.HostPorts {
	held := a.heldPorts(r)
	a.mu.Lock()
	var conflicts []arena.PortConflict
	for id, ports := range a.conflicts {
		conflicts = append(conflicts, arena.PortConflict{SessionID: id, Ports: slices.Clone(ports)})
	}
	a.mu.Unlock()
	r.beats++
	if r.ackedOK && slices.Equal(held, r.acked) && len(conflicts) == 0 && r.beats < heldPortsRefresh {
		return nil
	}
	slices.SortFunc(conflicts, func(x, y arena.PortConflict) int {
		if x.SessionID < y.SessionID {
			return -1
		}
		return 1
	})
	return &arena.HostPorts{Held: held, Conflicts: conflicts}
}

// delivered records how the heartbeat carrying hp went.
func (r *portReport) delivered(hp *arena.HostPorts, ok bool) {
	switch {
	case !ok:
		r.ackedOK = false
	case hp != nil:
		r.acked, r.ackedOK, r.beats = hp.Held, true, 0
	}
}

// heldPorts scans the node's range for ports others hold: those of the
// node's own containers are left out, as placement knows them already. At
// most arena.MaxHeldPorts are kept, the lowest; a session given one of the
// others finds it taken when it starts, and moves.
func (a *Agent) heldPorts(r *portReport) []int {
	if a.cfg.HeldPorts == nil {
		return nil
	}
	found, err := a.cfg.HeldPorts(a.cfg.Node.PortMin, a.cfg.Node.PortMax)
	if err != nil {
		a.log.Warn("cannot tell which host ports are held; reporting the last look", "err", err)
		return r.last
	}
	own := map[int]bool{}
	a.mu.Lock()
	for _, l := range a.sessions {
		l.pmu.Lock()
		for _, p := range l.bound {
			own[p] = true
		}
		l.pmu.Unlock()
	}
	a.mu.Unlock()
	held := slices.DeleteFunc(found, func(p int) bool { return own[p] })
	over := len(held) > arena.MaxHeldPorts
	if over && !r.truncated {
		a.log.Warn("more host ports of the node's range are held than a heartbeat lists; reporting the lowest", "held", len(held), "listed", arena.MaxHeldPorts)
	}
	if over {
		held = held[:arena.MaxHeldPorts]
	}
	if len(held) == 0 {
		held = nil
	}
	r.last, r.truncated = held, over
	return held
}

// setBound records the host ports of the session's container, or none.
func (l *local) setBound(ports []arena.Port) {
	l.pmu.Lock()
	defer l.pmu.Unlock()
	if ports == nil {
		l.bound = nil
		return
	}
	l.bound = arena.HostPortsOf(ports)
}

// portsTaken handles a start of d that found a host port taken: the
// session waits, listed in every heartbeat, for the control plane to give it
// other ports, and fails like any failed start when none come within
// PortMoveWait. Its worker looks again then; new ports wake it sooner.
func (a *Agent) portsTaken(l *local, d *arena.Session, err error) {
	ports := arena.HostPortsOf(d.Ports)
	if l.conflict == nil || !slices.Equal(l.conflict.ports, ports) {
		l.conflict = &portConflict{ports: ports, since: time.Now(), msg: arena.ErrorMessage(err)}
	}
	a.log.Warn("a host port of the session is taken on the node; waiting for other ports", "session", l.id, "ports", ports, "err", err)
	a.mu.Lock()
	a.conflicts[l.id] = ports
	a.mu.Unlock()
	select {
	case a.portsChanged <- struct{}{}:
	default:
	}
	a.kickAfter(l, time.Until(l.conflict.since.Add(a.cfg.PortMoveWait)))
}

// awaitPorts tells whether the start of d must wait: the session waits for
// other ports and d still has those its start found taken. Once the wait
// is over the session fails; new ports end the wait.
func (a *Agent) awaitPorts(l *local, d *arena.Session) bool {
	c := l.conflict
	if c == nil {
		return false
	}
	if !slices.Equal(c.ports, arena.HostPortsOf(d.Ports)) {
		a.clearConflict(l)
		a.log.Info("the session has other host ports; starting it on them", "session", l.id, "ports", arena.HostPortsOf(d.Ports))
		return false
	}
	if time.Since(c.since) < a.cfg.PortMoveWait {
		return true
	}
	a.log.Error("no other host ports came for the session; giving up", "session", l.id, "ports", c.ports, "waited", a.cfg.PortMoveWait)
	a.finish(l, arena.StopFailed, -1, time.Now(), "cannot start container: "+c.msg)
	return true
}

// clearConflict ends the session's wait for other ports.
func (a *Agent) clearConflict(l *local) {
	if l.conflict == nil {
		return
	}
	l.conflict = nil
	a.mu.Lock()
	delete(a.conflicts, l.id)
	a.mu.Unlock()
}
