package agent

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/arena-hq/arena"
)

// reconcile is one look of the session's worker at its inputs: the desired
// state d (fresh when newly received), the container observed by a listing,
// and the exits seen since the last look.
func (a *Agent) reconcile(l *local, d *arena.Session, fresh bool, obs *arena.Container, exits []arena.ContainerExit) {
	ctx := a.ctx
	log := a.log.With("session", l.id)
	l.artifacts = d.ArtifactPaths
	if l.final != nil {
		if fresh && d.State != arena.SessionStopped {
			// The control plane still lists the session: the report may not
			// have arrived. Send it again.
			l.acked = false
		}
		a.deliverFinal(ctx, l)
		return
	}
	if obs != nil && l.containerID == "" && !obs.Running && obs.StartedAt.IsZero() && d.RunningAt.IsZero() {
		// Created but never started, as when the agent stopped mid-start:
		// start afresh rather than take it for an exit.
		if err := a.rt.Remove(ctx, obs.ID); err != nil && arena.ErrorCode(err) != arena.ENOTFOUND {
			a.retry(l)
			return
		}
		obs = nil
	}
	if obs != nil && l.containerID == "" {
		l.containerID = obs.ID
		l.setBound(d.Ports)
		l.running = true // an exit, if any, is handled below
		l.runningSince = obs.StartedAt
		// Ready once the control plane has it running: the game server
		// was ready then, and a restart of this agent changes nothing of
		// that. Otherwise it is awaited as after a start.
		l.ready, l.readyAt, l.readyBy = !d.RunningAt.IsZero(), d.RunningAt, time.Time{}
		l.firstReady = d.RunningAt
		l.launched = d.Launcher && a.launched(d)
		if !obs.Running {
			exits = append(exits, arena.ContainerExit{ContainerID: obs.ID, SessionID: l.id, ExitCode: obs.ExitCode, At: obs.FinishedAt})
		}
		log.Info("adopted container", "container", obs.ID, "running", obs.Running)
	}

	if d.State == arena.SessionStopping || d.State == arena.SessionStopped {
		a.stopContainer(ctx, l, d)
		return
	}

	for _, ex := range exits {
		// Docker keeps a container's id across restarts: an exit from before
		// the current run (a late event, a listing taken before the restart)
		// is not a new crash.
		stale := !ex.At.IsZero() && ex.At.Before(l.runningSince)
		if ex.ContainerID != l.containerID || !l.running || stale {
			continue
		}
		l.running, l.ready = false, false
		if a.crashed(ctx, l, d, ex) {
			return
		}
	}

	if !l.restartAt.IsZero() {
		if wait := time.Until(l.restartAt); wait > 0 {
			a.kickAfter(l, wait)
			return
		}
		l.restartAt = time.Time{}
		if err := a.rt.Restart(ctx, l.containerID); err != nil {
			if ctx.Err() != nil {
				return // shutting down; the next start sees the exited container
			}
			log.Error("cannot restart container", "err", err)
			a.finish(l, arena.StopFailed, -1, time.Now(), "restart failed: "+arena.ErrorMessage(err))
			return
		}
		l.restarts++
		l.running, l.runningSince = true, a.startedAt(ctx, l.containerID)
		l.ready, l.readyBy = false, time.Time{}
		if d.Launcher && d.Pool == "" {
			// Restarted, the launcher waits again for what to run.
			a.launch(ctx, l, d)
			return
		}
		a.awaitReady(ctx, l, d)
		return
	}

	if l.containerID == "" {
		if !d.RunningAt.IsZero() {
			// The control plane saw it run, but no container is left.
			a.finish(l, arena.StopLost, -1, time.Now(), "container disappeared from the node")
			return
		}
		// Never ran: started, or marked unreachable before this agent got
		// to it.
		if a.awaitPorts(l, d) {
			return
		}
		a.start(ctx, l, d)
		return
	}
	if d.Launcher && d.Pool == "" && l.running && !l.launched {
		// Claimed from its pool: its game server starts now.
		a.launch(ctx, l, d)
		return
	}
	switch {
	case l.running && !l.ready:
		a.awaitReady(ctx, l, d)
	case l.running && d.State != arena.SessionRunning && fresh:
		// The control plane missed that it runs, e.g. across a restart.
		a.report(l, arena.SessionReport{State: arena.SessionRunning, At: l.readyAt, Restarts: l.restarts})
	}
}

func (a *Agent) start(ctx context.Context, l *local, d *arena.Session) {
	spec := arena.ContainerSpec{
		Name: d.ContainerName(), Image: d.Image, Env: d.Env, Args: d.Args,
		Labels:  a.labels(d),
		Network: d.Network, Ports: d.Ports, BindIP: a.cfg.BindIP, Resources: d.Resources, Limits: d.Limits,
		Security: d.Security,
	}
	if d.Launcher {
		dir, err := a.prepareLaunch(d)
		if err != nil {
			a.log.Error("cannot start a session in the launcher", "session", l.id, "err", err)
			a.finish(l, arena.StopFailed, -1, time.Now(), arena.ErrorMessage(err))
			return
		}
		spec.LauncherDir, spec.Args = dir, nil
	}
	if l.startBy.IsZero() {
		l.startBy = time.Now().Add(a.cfg.StartTimeout)
	}
	wait, done := l.imageWait(ctx)
	defer done()
	// A private image on the node runs only for an organisation the
	// registry lets pull it.
	err := a.images.authorize(wait, d.OrgID, d.Image, false)
	var id string
	if err == nil {
		id, err = a.startContainer(wait, l, spec)
	}
	var late *lateStart
	if arena.ErrorCode(err) == arena.ENOTFOUND && !errors.As(err, &late) {
		// The image is not on the node yet (a tag configured moments ago,
		// or removed by hand): fetch it, then start. The pull is no sign
		// of a node behind with its starts: the deadline waits for it.
		a.log.Info("pulling the image of a session", "session", l.id, "image", d.Image)
		began := time.Now()
		err = a.images.ensure(ctx, wait, &a.wg, d.OrgID, d.Image)
		l.startBy = l.startBy.Add(time.Since(began))
		if err == nil {
			id, err = a.startContainer(wait, l, spec)
		}
	}
	if err != nil && wait.Err() != nil && ctx.Err() == nil {
		// Stopped while it waited for its image or its turn: the next look
		// stops it, and nothing was started.
		a.log.Info("session stopped before it started", "session", l.id, "image", d.Image)
		return
	}
	if err != nil {
		if ctx.Err() != nil {
			return // shutting down; the next start creates it
		}
		if arena.ErrorCode(err) == arena.EPORTINUSE {
			a.portsTaken(l, d, err)
			return
		}
		if errors.As(err, &late) {
			a.log.Error("cannot start container in time", "session", l.id, "image", d.Image, "err", err)
			// An attempt given up on may have left its container.
			if _, rmErr := a.removeLeftover(spec); rmErr != nil {
				a.log.Warn("cannot remove what a failed start left", "session", l.id, "err", rmErr)
			}
			a.finish(l, arena.StopFailed, -1, time.Now(), late.msg)
			return
		}
		a.log.Error("cannot start container", "session", l.id, "image", d.Image, "err", err)
		a.finish(l, arena.StopFailed, -1, time.Now(), "cannot start container: "+arena.ErrorMessage(err))
		return
	}
	l.startBy = time.Time{}
	l.containerID, l.running, l.runningSince = id, true, a.startedAt(ctx, id)
	l.ready, l.readyBy = false, time.Time{}
	l.setBound(d.Ports)
	a.awaitReady(ctx, l, d)
}

// maxStartBackoff bounds the pause between two attempts at one start.
const maxStartBackoff = 10 * time.Second

// lateStart is a start whose deadline passed; msg says so and why.
type lateStart struct{ msg string }

func (e *lateStart) Error() string { return e.msg }

// startContainer starts spec's container by l.startBy, through the start
// queue: it waits for its turn, and tries again, backing off, a start the
// engine failed for the moment (EUNAVAILABLE, a call past its deadline).
// Any other failure is the engine's refusal, returned at once. A stop (wait
// ending) ends a wait for a turn or a backoff, never a start under way: a
// container half created is finished, then stopped, rather than left behind.
func (a *Agent) startContainer(wait context.Context, l *local, spec arena.ContainerSpec) (string, error) {
	queued := time.Now()
	backoff := a.cfg.RetryInterval
	var last error
	for attempt := 0; ; attempt++ {
		turn, cancel := context.WithDeadline(wait, l.startBy)
		err := a.starts.acquire(turn)
		cancel()
		if err != nil {
			if wait.Err() != nil {
				return "", wait.Err()
			}
			return "", a.late(attempt, last)
		}
		began := time.Now()
		// The start's own deadline, not the runtime's for one call: a
		// loaded engine may take longer than that to create a container.
		sctx, cancel := context.WithDeadline(a.ctx, l.startBy)
		id, err := a.rt.Start(sctx, spec)
		cancel()
		a.starts.release(err == nil, began.Sub(queued), time.Since(began))
		if err == nil {
			return id, nil
		}
		if a.ctx.Err() != nil {
			return "", err
		}
		switch arena.ErrorCode(err) {
		case arena.ECONFLICT:
			// The name is the session's, so the container holding it is
			// what an earlier attempt left, whose create the engine
			// finished after the call gave up on it.
			// Until the engine has finished that create, the name is taken
			// but no container answers to it: wait like for any start
			// failed for the moment, rather than spin on the engine.
			removed, rmErr := a.removeLeftover(spec)
			if removed {
				last, queued = err, time.Now()
				continue
			}
			if rmErr != nil && arena.ErrorCode(rmErr) != arena.EUNAVAILABLE {
				return "", rmErr
			}
			if rmErr != nil {
				err = rmErr
			}
		case arena.EUNAVAILABLE:
		default:
			return "", err
		}
		last = err
		pause := min(backoff, time.Until(l.startBy))
		if pause <= 0 {
			return "", a.late(attempt+1, last)
		}
		a.log.Warn("container start failed for the moment; retrying", "session", l.id, "attempt", attempt+1, "in", pause, "err", err)
		select {
		case <-wait.Done():
			return "", wait.Err()
		case <-time.After(pause):
		}
		backoff = min(2*backoff, maxStartBackoff)
		queued = time.Now()
	}
}

// late returns the failure of a start whose deadline passed after attempts
// tries, the last of which failed with last.
func (a *Agent) late(attempts int, last error) error {
	msg := fmt.Sprintf("start deadline passed (start timeout %s): ", a.cfg.StartTimeout)
	if attempts == 0 || last == nil {
		msg += "the session waited for its turn behind the node's other starts all along"
	} else {
		msg += fmt.Sprintf("the engine failed %d attempts for the moment, the last: %s", attempts, arena.ErrorMessage(last))
	}
	return &lateStart{msg: msg}
}

// removeLeftover removes the container that holds the name of spec, if it
// is the session's own: one an earlier attempt left; removed tells that
// there was one. A container of the name that is not the session's is
// ECONFLICT, and stays.
func (a *Agent) removeLeftover(spec arena.ContainerSpec) (removed bool, err error) {
	c, err := a.rt.Inspect(a.ctx, spec.Name)
	if arena.ErrorCode(err) == arena.ENOTFOUND {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	for _, k := range []string{arena.LabelSession, arena.LabelNode, arena.LabelInstallation} {
		if c.Labels[k] != spec.Labels[k] {
			return false, arena.Errorf(arena.ECONFLICT, "container name %s is taken by a container that is not this session's", spec.Name)
		}
	}
	a.log.Info("removing the container an earlier start left", "container", c.ID, "session", spec.Labels[arena.LabelSession])
	if err := a.rt.Remove(a.ctx, c.ID); err != nil && arena.ErrorCode(err) != arena.ENOTFOUND {
		return false, err
	}
	return true, nil
}

// startedAt returns when the engine started container id: billing starts at
// the engine's word, and exits from before it are told from new ones by it.
func (a *Agent) startedAt(ctx context.Context, id string) time.Time {
	if c, err := a.rt.Inspect(ctx, id); err == nil && !c.StartedAt.IsZero() {
		return c.StartedAt
	}
	return time.Now()
}

// crashed handles a process exit that nobody asked for. It reports whether
// the session is finished.
func (a *Agent) crashed(ctx context.Context, l *local, d *arena.Session, ex arena.ContainerExit) bool {
	if !d.Restart {
		a.finish(l, arena.StopExited, ex.ExitCode, ex.At, "")
		return true
	}
	if ex.At.Sub(l.runningSince) >= a.cfg.StableAfter {
		l.crashes = 0
	}
	l.crashes++
	if l.crashes > a.cfg.CrashLoopLimit {
		a.finish(l, arena.StopCrashLoop, ex.ExitCode, ex.At, "gave up after repeated crashes")
		return true
	}
	backoff := a.cfg.RestartBackoff << (l.crashes - 1)
	if backoff > a.cfg.MaxRestartBackoff || backoff <= 0 {
		backoff = a.cfg.MaxRestartBackoff
	}
	l.restartAt = time.Now().Add(backoff)
	a.log.Info("process crashed; restarting", "session", l.id, "exit_code", ex.ExitCode, "backoff", backoff, "crashes", l.crashes)
	a.report(l, arena.SessionReport{State: arena.SessionRestarting, ExitCode: ex.ExitCode, At: ex.At, Restarts: l.restarts})
	return false
}

// stopContainer carries out a stop the control plane recorded: SIGTERM, the
// grace period, SIGKILL. The container is removed once the stop is reported.
func (a *Agent) stopContainer(ctx context.Context, l *local, d *arena.Session) {
	exit, at := -1, time.Now()
	if l.containerID != "" {
		c, err := a.rt.Inspect(ctx, l.containerID)
		switch {
		case err == nil && c.Running:
			grace := d.StopGrace
			if grace <= 0 {
				grace = a.cfg.StopGrace
			}
			if err := a.rt.Stop(ctx, l.containerID, grace); err != nil && arena.ErrorCode(err) != arena.ENOTFOUND {
				if ctx.Err() != nil {
					return // shutting down: the stop is recorded and resumes on the next start
				}
				a.log.Error("cannot stop container; retrying", "session", l.id, "err", err)
				a.retry(l)
				return
			}
			if c, err = a.rt.Inspect(ctx, l.containerID); err == nil {
				exit, at = c.ExitCode, c.FinishedAt
			}
		case err == nil:
			// It had exited by itself before the stop.
			exit, at = c.ExitCode, c.FinishedAt
		case arena.ErrorCode(err) != arena.ENOTFOUND:
			if ctx.Err() == nil {
				a.log.Error("cannot inspect container; retrying", "session", l.id, "err", err)
				a.retry(l)
			}
			return
		}
	}
	if at.IsZero() {
		at = time.Now()
	}
	a.finish(l, "", exit, at, "")
}

// finish records the session's end and delivers it. The container stays
// until the control plane has the report: if the agent stops before, the
// exited container tells the next start what happened.
func (a *Agent) finish(l *local, reason arena.StopReason, exit int, at time.Time, msg string) {
	l.running, l.restartAt = false, time.Time{}
	a.clearConflict(l)
	a.collectArtifacts(a.ctx, l)
	// Kept before the report: once the control plane has the session as
	// stopped, GET /logs asks for the kept output.
	a.keepLogs(a.ctx, l.id, l.containerID)
	l.final = &arena.SessionReport{State: arena.SessionStopped, Reason: reason, ExitCode: exit, At: at, Restarts: l.restarts, Message: msg}
	a.deliverFinal(a.ctx, l)
}

// deliverFinal sends the final report until the control plane takes it, then
// removes the container and forgets the session.
func (a *Agent) deliverFinal(ctx context.Context, l *local) {
	if !l.acked {
		if !a.report(l, *l.final) {
			return
		}
		l.acked = true
	}
	if l.containerID != "" {
		if err := a.rt.Remove(ctx, l.containerID); err != nil && arena.ErrorCode(err) != arena.ENOTFOUND {
			if ctx.Err() == nil {
				a.log.Warn("cannot remove container; retrying", "session", l.id, "container", l.containerID, "err", err)
				a.retry(l)
			}
			return
		}
		l.containerID = ""
		l.setBound(nil)
		a.removeLaunchDir(arena.ContainerNameOf(l.id))
	}
	a.forget(l)
}

// report sends r about l and reports whether the control plane took it. On
// failure the worker looks again later with the desired state marked fresh,
// and the level-triggered reconcile sends what is still true.
func (a *Agent) report(l *local, r arena.SessionReport) bool {
	r.SessionID, r.NodeID = l.id, a.cfg.Node.ID
	if r.StartedAt.IsZero() {
		// Billing starts at the first readiness: a stop report that
		// overtakes the running one still says when.
		r.StartedAt = l.firstReady
	}
	err := a.cp.Report(a.ctx, r)
	if err == nil {
		return true
	}
	if a.ctx.Err() != nil {
		return false
	}
	a.log.Warn("cannot report to the control plane; retrying", "session", l.id, "state", r.State, "err", err)
	l.pmu.Lock()
	l.newDesired = true
	l.pmu.Unlock()
	a.retry(l)
	return false
}

func (a *Agent) retry(l *local) {
	a.kickAfter(l, a.cfg.RetryInterval)
}

// labels are what the container of session d carries to be found again.
func (a *Agent) labels(d *arena.Session) map[string]string {
	labels := map[string]string{arena.LabelSession: d.ID, arena.LabelNode: a.cfg.Node.ID, arena.LabelOrg: d.OrgID}
	if a.cfg.Installation != "" {
		labels[arena.LabelInstallation] = a.cfg.Installation
	}
	return labels
}
