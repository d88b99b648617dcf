//go:build unix

package launcher_test

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/arena-hq/arena/launcher"
	"github.com/arena-hq/arena/launcher/launcherbin"
)

// openWhenRead opens the FIFO at path for writing once something reads
// it, which for a launcher means it is past its start and waiting.
func openWhenRead(tb testing.TB, path string) *os.File {
	tb.Helper()
	tick := time.NewTicker(time.Millisecond)
	defer tick.Stop()
	deadline := time.After(patience)
	for {
		f, err := os.OpenFile(path, os.O_WRONLY|syscall.O_NONBLOCK, 0)
		if err == nil {
			return f
		}
		if !errors.Is(err, syscall.ENXIO) {
			tb.Fatal(err)
		}
		select {
		case <-tick.C:
		case <-deadline:
			tb.Fatalf("nothing opened %s for reading", path)
		}
	}
}

// TestProcess runs the embedded launcher as the agent would have the
// container run it, with the FIFO named by its argument.
func TestProcess(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("the embedded launcher is a Linux program")
	}
	b, err := launcherbin.Binary()
	if err != nil {
		t.Skip(err)
	}
	bin := filepath.Join(t.TempDir(), "launcher")
	if err := launcher.InstallBinary(bin, b); err != nil {
		t.Fatal(err)
	}
	notExecutable := filepath.Join(t.TempDir(), "server")
	if err := os.WriteFile(notExecutable, []byte("#!/bin/sh\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	pathEnv := "PATH=/usr/bin:/bin"

	for _, tc := range []struct {
		name string
		// extra are arguments after the FIFO's path.
		extra []string
		// claim is sent unless nil; signal is sent to the waiting
		// launcher instead.
		claim  *launcher.Claim
		signal syscall.Signal

		code    int
		stdout  string
		stderr  string
		noError bool
	}{
		{
			name: "game server from PATH",
			claim: &launcher.Claim{
				Argv: []string{"sh", "-c", `echo "$GREETING" "$0" "$1" "${LAUNCHER_ONLY-unset}"; exit 3`, "a", "b"},
				Env:  []string{"GREETING=hello", pathEnv},
			},
			code:    3,
			stdout:  "hello a b unset\n",
			noError: true,
		},
		{
			name:    "absolute path",
			claim:   &launcher.Claim{Argv: []string{"/bin/sh", "-c", "echo $#", "x", "y", "z"}},
			stdout:  "2\n",
			noError: true,
		},
		{
			name:   "executable not in PATH",
			claim:  &launcher.Claim{Argv: []string{"no-such-game-server"}, Env: []string{pathEnv}},
			code:   127,
			stderr: `exec "no-such-game-server": executable file not found in PATH /usr/bin:/bin`,
		},
		{
			name:   "no such file",
			claim:  &launcher.Claim{Argv: []string{"/no/such/game-server"}},
			code:   127,
			stderr: "exec /no/such/game-server: no such file or directory",
		},
		{
			name:   "not executable",
			claim:  &launcher.Claim{Argv: []string{notExecutable}},
			code:   126,
			stderr: "permission denied",
		},
		{
			name:    "stopped before the claim",
			signal:  syscall.SIGTERM,
			code:    128 + int(syscall.SIGTERM),
			noError: true,
		},
		{
			name:   "more than one argument",
			extra:  []string{"x"},
			code:   1,
			stderr: "usage",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			dir := filepath.Join(t.TempDir(), "container")
			if err := launcher.PrepareDir(dir, bin); err != nil {
				t.Fatal(err)
			}
			fifo := filepath.Join(dir, launcher.FIFOName)
			ctx, cancel := context.WithTimeout(context.Background(), patience)
			defer cancel()

			// Sent before the launcher starts, the claim waits for it
			// as it waits for a container still starting.
			sent := make(chan error, 1)
			if tc.claim != nil {
				go func() { sent <- launcher.Send(ctx, dir, *tc.claim) }()
			}
			cmd := exec.Command(filepath.Join(dir, launcher.BinaryName), append([]string{fifo}, tc.extra...)...)
			cmd.Env = []string{"LAUNCHER_ONLY=1"}
			var stdout, stderr bytes.Buffer
			cmd.Stdout, cmd.Stderr = &stdout, &stderr
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			exited := make(chan error, 1)
			go func() { exited <- cmd.Wait() }()

			if tc.signal != 0 {
				// The launcher holds the FIFO open after its signal
				// handler is in place; the open writer keeps it
				// waiting for the claim until the signal comes.
				f := openWhenRead(t, fifo)
				defer f.Close()
				if err := cmd.Process.Signal(tc.signal); err != nil {
					t.Fatal(err)
				}
			}
			select {
			case <-exited:
			case <-time.After(patience):
				_ = cmd.Process.Kill()
				<-exited
				t.Fatalf("the launcher did not exit; stderr %q", stderr.String())
			}
			if tc.claim != nil {
				if err := <-sent; err != nil {
					t.Errorf("Send: %v", err)
				}
			}

			if got := cmd.ProcessState.ExitCode(); got != tc.code {
				t.Errorf("exit status %d, want %d; stderr %q", got, tc.code, stderr.String())
			}
			if got := stdout.String(); got != tc.stdout {
				t.Errorf("stdout %q, want %q", got, tc.stdout)
			}
			got := stderr.String()
			if tc.noError {
				if got != "" {
					t.Errorf("stderr %q, want nothing", got)
				}
				return
			}
			line, rest, _ := strings.Cut(got, "\n")
			if !strings.HasPrefix(line, "arena launcher: ") || strings.Contains(line, "launcher: launcher:") ||
				!strings.Contains(line, tc.stderr) || rest != "" {
				t.Errorf("stderr %q, want one line beginning with %q and holding %q", got, "arena launcher: ", tc.stderr)
			}
		})
	}
}
