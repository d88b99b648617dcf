package agent

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/arena-hq/arena"
	"github.com/arena-hq/arena/launcher"
	"github.com/arena-hq/arena/launcher/launcherbin"
)

// A warm pool in launch mode starts its containers with Arena's launcher
// as their entrypoint, in a directory of the agent's mounted read-only
// (see launcher): the engine's work (network, mounts, cgroups, start) is
// done ahead, and the container waits, ready by its process, until a
// create claims the session. The agent then hands the launcher the game
// server's argv and environment, the image's entrypoint and command (or
// the session's args) as the engine would have run them, with the claim's
// env; the launcher execs them, and the session is ready once the game
// server serves on its ports.
//
// Limits: the container's entrypoint is the launcher, so the engine shows
// /.arena/launcher as its command and its environment without the
// claim's; the game server then takes the launcher's place by exec, under
// the init every session has, as a cold start runs it. The image must not
// use /.arena, and the node must be linux/amd64 or linux/arm64, for which
// the launcher is built. The claim travels through a FIFO on the node's
// disk, in a directory that only the node's root can enter.

// claimedMarker is the file a session's launcher directory holds once the
// agent went to hand the launcher its claim: written before the claim
// is, so that an agent restarted in between does not hand it twice.
const claimedMarker = "claimed"

// launchTimeout bounds the handing of a claim to a waiting launcher.
const launchTimeout = 10 * time.Second

// launchDir is the launcher directory of the session of d.
func (a *Agent) launchDir(d *arena.Session) string {
	return a.launchDirOf(d.ContainerName())
}

func (a *Agent) launchDirOf(container string) string {
	return filepath.Join(a.cfg.LauncherDir, "sessions", container)
}

// prepareLaunch installs the launcher, once, and makes the directory of the
// session of d; it returns the directory.
func (a *Agent) prepareLaunch(d *arena.Session) (string, error) {
	if a.cfg.LauncherDir == "" {
		return "", arena.Errorf(arena.EINVALID, "this agent has no directory for the launcher of warm pools in launch mode")
	}
	bin := filepath.Join(a.cfg.LauncherDir, launcher.BinaryName)
	a.launcherOnce.Do(func() {
		var b []byte
		if b, a.launcherErr = launcherbin.Binary(); a.launcherErr == nil {
			a.launcherErr = launcher.InstallBinary(bin, b)
		}
		if a.launcherErr == nil {
			// The claims in the sessions' directories carry their env:
			// the node's root alone may look in.
			a.launcherErr = os.MkdirAll(filepath.Join(a.cfg.LauncherDir, "sessions"), 0o700)
		}
	})
	if a.launcherErr != nil {
		return "", arena.Internal(a.launcherErr, "installing the launcher")
	}
	dir := a.launchDir(d)
	if err := launcher.PrepareDir(dir, bin); err != nil {
		return "", arena.Internal(err, "preparing the launcher of session "+d.ID)
	}
	return dir, nil
}

// launched reports whether the launcher of the session of d was handed its
// claim already, as an agent restarted since finds it.
func (a *Agent) launched(d *arena.Session) bool {
	_, err := os.Stat(filepath.Join(a.launchDir(d), claimedMarker))
	return err == nil
}

// removeLaunchDir removes the launcher directory, if any, of the container
// named container, which is gone.
func (a *Agent) removeLaunchDir(container string) {
	container = strings.TrimPrefix(container, "/")
	if a.cfg.LauncherDir == "" || container == "" || filepath.Base(container) != container {
		return
	}
	if err := os.RemoveAll(a.launchDirOf(container)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		a.log.Warn("cannot remove a container's launcher directory", "container", container, "err", err)
	}
}

// launch hands the launcher of l's container, claimed as d, the game
// server to exec, and awaits its readiness from now; a launcher that cannot
// take it fails the session.
func (a *Agent) launch(ctx context.Context, l *local, d *arena.Session) {
	claim, err := a.claimOf(ctx, d)
	if err == nil {
		err = os.WriteFile(filepath.Join(a.launchDir(d), claimedMarker), nil, 0o600)
	}
	if err == nil {
		sctx, cancel := context.WithTimeout(ctx, launchTimeout)
		err = launcher.Send(sctx, a.launchDir(d), claim)
		cancel()
	}
	if err != nil {
		if ctx.Err() != nil {
			return
		}
		a.log.Error("cannot start the game server in its launcher", "session", l.id, "err", err)
		a.failUnready(ctx, l, d, "cannot start the game server in its launcher: "+arena.ErrorMessage(err))
		return
	}
	a.log.Info("game server started in its launcher", "session", l.id, "argv0", claim.Argv[0])
	l.launched = true
	l.running, l.runningSince = true, time.Now()
	l.ready, l.readyBy = false, time.Time{}
	a.awaitReady(ctx, l, d)
}

// claimOf returns the claim of d: the image's entrypoint and command (the
// session's args in place of the command, when it has some), and the
// image's environment with the session's over it, as the engine merges
// them.
func (a *Agent) claimOf(ctx context.Context, d *arena.Session) (launcher.Claim, error) {
	img, err := a.rt.ImageConfig(ctx, d.Image)
	if err != nil {
		return launcher.Claim{}, err
	}
	argv := slices.Clone(img.Entrypoint)
	if len(d.Args) > 0 {
		argv = append(argv, d.Args...)
	} else {
		argv = append(argv, img.Cmd...)
	}
	if len(argv) == 0 {
		return launcher.Claim{}, arena.Errorf(arena.EINVALID, "image %s has neither an entrypoint nor a command to run", d.Image)
	}
	env := map[string]string{}
	for _, kv := range img.Env {
		k, v, _ := strings.Cut(kv, "=")
		env[k] = v
	}
	for k, v := range d.Env {
		env[k] = v
	}
	c := launcher.Claim{Argv: argv}
	for k, v := range env {
		c.Env = append(c.Env, k+"="+v)
	}
	slices.Sort(c.Env)
	if err := c.Validate(); err != nil {
		return launcher.Claim{}, arena.Errorf(arena.EINVALID, "the game server's claim: %v", err)
	}
	return c, nil
}

// readiness is d's readiness now: a session waiting in a pool in its
// launcher is ready once the launcher runs; its game server's readiness
// is awaited from the claim.
func readiness(d *arena.Session) arena.Readiness {
	r := d.Readiness.Effective()
	if d.Launcher && d.Pool != "" {
		r.Mode = arena.ReadyOnProcess
	}
	return r
}
