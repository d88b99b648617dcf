// Package launcher lets a warm-pool container start before its session is
// claimed and still run the game server with the claim's argv and
// environment.
//
// In launch mode the container's entrypoint is not the image's game server
// but Entrypoint, a small static program that waits on a FIFO for a Claim
// and then replaces itself with the game server (execve), so the game server
// is the container's main process, gets its signals and decides its exit
// status. The agent prepares one directory per container on the host
// (PrepareDir), bind-mounts it read-only at MountDir, and writes the claim
// into the FIFO when the session is claimed (Send). A FIFO needs no network,
// no socket in the container and no writable mount, and its open blocks the
// launcher without a poll loop.
//
// Everything in the container goes through Run: Wait, then Exec. When either
// fails, the launcher prints one line beginning with "arena launcher:" and
// exits non-zero, so the container exits and Arena fails the session with
// that line as the reason.
package launcher

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/signal"
	"strings"
	"syscall"
)

const (
	// MountDir is where the container sees the directory PrepareDir made.
	MountDir = "/.arena"
	// FIFOName is the name of the FIFO in that directory.
	FIFOName = "claim"
	// BinaryName is the name of the launcher program in that directory.
	BinaryName = "launcher"
	// Entrypoint is the container's entrypoint in launch mode.
	Entrypoint = MountDir + "/" + BinaryName
	// FIFOPath is where the launcher waits for its claim unless told
	// otherwise.
	FIFOPath = MountDir + "/" + FIFOName

	// MaxClaimSize bounds a claim's JSON encoding. Send refuses a bigger
	// claim and Wait stops reading past it, so a runaway writer cannot
	// make the launcher hold an unbounded buffer before the game server
	// even starts.
	MaxClaimSize = 1 << 20

	// DefaultPath is the search path for Argv[0] when the claim's
	// environment has no PATH: the one Docker gives a container whose
	// image sets none.
	DefaultPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
)

// Exit statuses of Run besides the game server's own. They follow the
// shell and Docker, which report a command they cannot find with 127 and
// one they find but cannot run with 126, so a launch-mode session fails the
// way a directly started one would.
const (
	exitFailure     = 1
	exitCannotRun   = 126
	exitNotFound    = 127
	exitSignalShift = 128
)

// ErrNotFound is the error Exec wraps when no executable file in the
// claim's PATH has Argv[0]'s name.
var ErrNotFound = errors.New("executable file not found")

// Claim is what the launcher needs to start the game server: the request's
// complete argv and environment, which a container started ahead of the
// request could not have been given.
type Claim struct {
	// Argv is the complete argv, the image's entrypoint followed by the
	// command. An Argv[0] without a slash is looked up in the PATH of Env,
	// or DefaultPath when Env has none, as Docker would look it up.
	Argv []string `json:"argv"`
	// Env is the game server's complete environment as "KEY=value"
	// entries; the launcher's own environment is not passed on.
	Env []string `json:"env"`
}

// Validate reports whether c can be sent and executed: a non-empty argv
// whose first entry names something, "KEY=value" environment entries, no
// NUL byte anywhere (execve could not pass it) and a JSON encoding of at
// most MaxClaimSize bytes.
func (c Claim) Validate() error {
	_, err := c.encode()
	return err
}

// encode validates c and returns its JSON encoding.
func (c Claim) encode() ([]byte, error) {
	if err := c.check(); err != nil {
		return nil, err
	}
	data, err := json.Marshal(c)
	if err != nil {
		return nil, fmt.Errorf("launcher: encode claim: %w", err)
	}
	if len(data) > MaxClaimSize {
		return nil, fmt.Errorf("launcher: claim is %d bytes, more than %d", len(data), MaxClaimSize)
	}
	return data, nil
}

// check is Validate without the size, which needs the encoding.
func (c Claim) check() error {
	if len(c.Argv) == 0 {
		return errors.New("launcher: claim has no argv")
	}
	if c.Argv[0] == "" {
		return errors.New("launcher: claim's argv[0] is empty")
	}
	for i, a := range c.Argv {
		if strings.IndexByte(a, 0) >= 0 {
			return fmt.Errorf("launcher: claim's argv[%d] contains a NUL byte", i)
		}
	}
	for i, e := range c.Env {
		if strings.IndexByte(e, 0) >= 0 {
			return fmt.Errorf("launcher: claim's env[%d] contains a NUL byte", i)
		}
		if k, _, ok := strings.Cut(e, "="); !ok || k == "" {
			return fmt.Errorf("launcher: claim's env[%d] %q is not KEY=value", i, e)
		}
	}
	return nil
}

// decode parses and validates a claim read from the FIFO. Unknown fields
// are refused: they would come from a newer Arena asking for something this
// launcher cannot do, and a game server started without it would be wrong
// in ways harder to find than a failed session.
func decode(data []byte) (Claim, error) {
	var c Claim
	if len(data) == 0 {
		return c, errors.New("launcher: the FIFO was closed without a claim")
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&c); err != nil {
		return Claim{}, fmt.Errorf("launcher: decode claim: %w", err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return Claim{}, errors.New("launcher: decode claim: data after the claim")
	}
	if err := c.check(); err != nil {
		return Claim{}, err
	}
	return c, nil
}

// Wait opens the FIFO at path for reading, which blocks until a writer
// opens it, reads until the writer closes it and returns the claim it
// wrote. The first writer delivers the claim: a container is claimed once.
// A claim over MaxClaimSize bytes is refused without reading the rest.
func Wait(path string) (Claim, error) {
	f, err := os.Open(path)
	if err != nil {
		return Claim{}, fmt.Errorf("launcher: %w", err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, MaxClaimSize+1))
	if err != nil {
		return Claim{}, fmt.Errorf("launcher: read claim: %w", err)
	}
	if len(data) > MaxClaimSize {
		return Claim{}, fmt.Errorf("launcher: claim exceeds %d bytes", MaxClaimSize)
	}
	return decode(data)
}

// Run is the launcher program: it waits for the claim on the FIFO named by
// its only argument, or FIFOPath without one, and executes the game server.
// The argument lets tests and tools run the launcher outside a container;
// Arena starts it without.
//
// Run returns only on failure, with the exit status for the program: 127
// when the executable is not found, 126 when it is found but cannot be
// executed, 1 for anything else, each after one line on stderr. A SIGTERM
// or SIGINT before the game server starts ends it with 128 plus the
// signal's number, as the signal ends a process that does not handle it;
// the launcher is PID 1 in its container, which the kernel does not let
// such a signal end, and the Go runtime would exit with 2 instead.
func Run(args []string) int {
	path := FIFOPath
	switch len(args) {
	case 0:
	case 1:
		path = args[0]
	default:
		return fail(errors.New("launcher: usage: launcher [fifo]"), exitFailure)
	}
	stop := make(chan os.Signal, 1)
	signal.Notify(stop, syscall.SIGTERM, syscall.SIGINT)
	go func() {
		s := <-stop
		code := exitFailure
		if n, ok := s.(syscall.Signal); ok {
			code = exitSignalShift + int(n)
		}
		os.Exit(code)
	}()

	c, err := Wait(path)
	if err != nil {
		return fail(err, exitFailure)
	}
	err = Exec(c)
	if errors.Is(err, ErrNotFound) || errors.Is(err, fs.ErrNotExist) {
		return fail(err, exitNotFound)
	}
	return fail(err, exitCannotRun)
}

// fail prints err for the container's log and returns code. Every error of
// this package begins with "launcher: ", so the line reads
// "arena launcher: ...", the prefix Arena's users look for.
func fail(err error, code int) int {
	fmt.Fprintf(os.Stderr, "arena %v\n", err)
	return code
}
