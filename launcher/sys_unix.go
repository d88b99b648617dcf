//go:build unix

package launcher

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// accessX is access(2)'s X_OK, the same on every Unix.
const accessX = 0x1

// sendRetried, when set, is called once by a Send that found no launcher
// reading its FIFO and is about to try again; tests use it to start the
// reader only then.
var sendRetried func()

// makeFIFO makes the FIFO at path with fifoMode, keeping one that exists.
func makeFIFO(path string) error {
	if err := syscall.Mkfifo(path, fifoMode); err != nil && !errors.Is(err, syscall.EEXIST) {
		return fmt.Errorf("launcher: mkfifo %s: %w", path, err)
	}
	fi, err := os.Lstat(path)
	if err != nil {
		return fmt.Errorf("launcher: %w", err)
	}
	if fi.Mode().Type() != fs.ModeNamedPipe {
		return fmt.Errorf("launcher: %s exists and is not a FIFO", path)
	}
	// Mkfifo's mode passed through the umask.
	if err := os.Chmod(path, fifoMode); err != nil {
		return fmt.Errorf("launcher: %w", err)
	}
	return nil
}

// openWriter opens the FIFO at path for writing once a reader has it open,
// trying every sendPoll until ctx ends. A non-blocking open fails with
// ENXIO while there is no reader, where a blocking one would wait beyond
// any deadline; the file it returns is in the runtime's poller, so writes
// to it honour deadlines.
func openWriter(ctx context.Context, path string) (*os.File, error) {
	var tick *time.Ticker
	for {
		if ctx.Err() != nil {
			return nil, fmt.Errorf("launcher: no launcher opened %s: %w", path, context.Cause(ctx))
		}
		f, err := os.OpenFile(path, os.O_WRONLY|syscall.O_NONBLOCK, 0)
		if err == nil {
			fi, err := f.Stat()
			if err == nil && fi.Mode().Type() != fs.ModeNamedPipe {
				err = fmt.Errorf("%s is not a FIFO", path)
			}
			if err != nil {
				_ = f.Close()
				return nil, fmt.Errorf("launcher: %w", err)
			}
			return f, nil
		}
		if !errors.Is(err, syscall.ENXIO) {
			return nil, fmt.Errorf("launcher: %w", err)
		}
		if tick == nil {
			tick = time.NewTicker(sendPoll)
			defer tick.Stop()
			if sendRetried != nil {
				sendRetried()
			}
		}
		select {
		case <-ctx.Done():
		case <-tick.C:
		}
	}
}

// Exec replaces the calling process with c's game server: c.Argv[0],
// looked up in the PATH of c.Env when it has no slash, run with c.Argv and
// exactly c.Env. It returns only when that fails; the error wraps
// ErrNotFound or fs.ErrNotExist when there is nothing to run.
func Exec(c Claim) error {
	if err := c.check(); err != nil {
		return err
	}
	path, err := lookPath(c.Argv[0], c.Env)
	if err != nil {
		return err
	}
	if err := syscall.Exec(path, c.Argv, c.Env); err != nil {
		return fmt.Errorf("launcher: exec %s: %w", path, err)
	}
	return nil
}

// lookPath finds file as execvp(3) would in env's PATH, taking the first
// PATH entry as getenv(3) does, and DefaultPath when there is none. A file
// named with a slash is taken as it is, relative to the working directory.
// It does not fall back to running a file without an executable format
// through /bin/sh as execvp does: Docker does not either.
func lookPath(file string, env []string) (string, error) {
	if strings.Contains(file, "/") {
		return file, nil
	}
	search, found := DefaultPath, false
	for _, e := range env {
		if v, ok := strings.CutPrefix(e, "PATH="); ok {
			search, found = v, true
			break
		}
	}
	denied := ""
	for _, dir := range filepath.SplitList(search) {
		if dir == "" {
			// An empty PATH entry is the working directory.
			dir = "."
		}
		path := dir + "/" + file
		fi, err := os.Stat(path)
		if err != nil || fi.IsDir() {
			continue
		}
		if err := syscall.Access(path, accessX); err != nil {
			if denied == "" {
				denied = path
			}
			continue
		}
		return path, nil
	}
	if denied != "" {
		return "", fmt.Errorf("launcher: exec %s: %w", denied, syscall.EACCES)
	}
	where := "PATH " + search
	if !found {
		where = "the default PATH " + search
	}
	return "", fmt.Errorf("launcher: exec %q: %w in %s", file, ErrNotFound, where)
}
