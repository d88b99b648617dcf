package agent

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/arena-hq/arena"
)

// A session is running, and billed, once its game server is ready for
// players, not once its process has started: a matchmaker that sends
// players on "running" must find the game server serving. Ready means, by
// the session's readiness, that every port of the session is served on in
// the container's network namespace (a TCP socket listening, a UDP socket
// bound), which the agent reads from the kernel's tables with no probe and
// no SDK in the game server; or, for the process mode, that the process has
// started.

// Most game servers bind within tens of milliseconds of their start, so
// the first second is looked at closely; after it, every ReadyInterval.
// Each look reads a few small tables of the kernel's and asks the engine
// nothing. (Doubling the pause from a millisecond instead saw a bind at
// 35 ms only at 63 ms: a cold start's median grew by some 35 ms.)
const (
	readyQuickLook = 5 * time.Millisecond
	readyQuickFor  = time.Second
)

// awaitReady looks whether the running container of l is ready, and
// reports the session running the first time it is. Until then it looks
// again shortly; past the readiness timeout it fails the session, or runs
// it anyway when its readiness says so.
func (a *Agent) awaitReady(ctx context.Context, l *local, d *arena.Session) {
	r := readiness(d)
	if l.readyBy.IsZero() {
		l.readyBy = l.runningSince.Add(r.Timeout)
	}
	now := time.Now()
	at, missing := now, []arena.Port(nil)
	if r.Mode == arena.ReadyOnProcess {
		at = l.runningSince
	} else {
		served, err := a.rt.Serving(ctx, l.containerID)
		switch {
		case arena.ErrorCode(err) == arena.ECONFLICT || arena.ErrorCode(err) == arena.ENOTFOUND:
			// Exited meanwhile: its exit comes as an event or a listing.
			a.kickAfter(l, a.cfg.ReadyInterval)
			return
		case err != nil:
			// The kernel's tables are out of reach (an agent without
			// the host's process table): readiness cannot be told, and a
			// session must not fail for that.
			a.log.Warn("cannot tell whether the game server serves on its ports; taking it as ready", "session", l.id, "err", err)
		default:
			missing = served.Missing(d.Network, d.Ports)
		}
	}
	if len(missing) > 0 && now.Before(l.readyBy) {
		pause := a.cfg.ReadyInterval
		if time.Since(l.runningSince) < readyQuickFor {
			pause = min(pause, readyQuickLook)
		}
		a.kickAfter(l, min(pause, time.Until(l.readyBy)))
		return
	}
	if len(missing) > 0 {
		msg := fmt.Sprintf("the game server did not serve on %s within the readiness timeout of %s", portList(missing), r.Timeout)
		if !r.RunOnTimeout {
			a.log.Warn("session not ready in time; failing it", "session", l.id, "missing", portList(missing), "timeout", r.Timeout)
			a.failUnready(ctx, l, d, msg)
			return
		}
		a.log.Warn("session not ready in time; running it as its readiness asks", "session", l.id, "missing", portList(missing), "timeout", r.Timeout)
	}
	l.ready, l.readyAt = true, at
	if l.firstReady.IsZero() {
		l.firstReady = at
	}
	a.report(l, arena.SessionReport{State: arena.SessionRunning, At: at, Restarts: l.restarts})
}

// failUnready stops the container of a session whose game server did not
// become ready in time and records the session failed.
func (a *Agent) failUnready(ctx context.Context, l *local, d *arena.Session, msg string) {
	grace := d.StopGrace
	if grace <= 0 {
		grace = a.cfg.StopGrace
	}
	if err := a.rt.Stop(ctx, l.containerID, grace); err != nil && arena.ErrorCode(err) != arena.ENOTFOUND {
		if ctx.Err() != nil {
			return
		}
		a.log.Error("cannot stop a container that did not become ready; retrying", "session", l.id, "err", err)
		a.retry(l)
		return
	}
	exit := -1
	if c, err := a.rt.Inspect(ctx, l.containerID); err == nil && !c.Running {
		exit = c.ExitCode
	}
	a.finish(l, arena.StopFailed, exit, time.Now(), msg)
}

// portList is ports as "7777/tcp, 7778/udp".
func portList(ports []arena.Port) string {
	parts := make([]string, len(ports))
	for i, p := range ports {
		parts[i] = fmt.Sprintf("%d/%s", p.Container, p.Protocol)
	}
	return strings.Join(parts, ", ")
}
