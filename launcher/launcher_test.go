//go:build unix

package launcher_test

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/arena-hq/arena/launcher"
)

// patience bounds every wait of these tests for something that should
// happen at once, generous for a loaded machine.
const patience = 10 * time.Second

// prepared returns a directory PrepareDir made, with a placeholder for
// the launcher program.
func prepared(tb testing.TB) string {
	tb.Helper()
	bin := filepath.Join(tb.TempDir(), "launcher")
	if err := launcher.InstallBinary(bin, []byte("#!/bin/sh\n")); err != nil {
		tb.Fatal(err)
	}
	dir := filepath.Join(tb.TempDir(), "container")
	if err := launcher.PrepareDir(dir, bin); err != nil {
		tb.Fatal(err)
	}
	return dir
}

// waited is what a Wait returned.
type waited struct {
	claim launcher.Claim
	err   error
}

// startWait runs Wait on path until it returns, which the test's cleanup
// forces by opening and closing the FIFO if the test did not.
func startWait(tb testing.TB, path string) <-chan waited {
	tb.Helper()
	ch := make(chan waited, 1)
	done := make(chan struct{})
	go func() {
		defer close(done)
		c, err := launcher.Wait(path)
		ch <- waited{c, err}
	}()
	tb.Cleanup(func() {
		// A writer that comes and goes releases a reader still in
		// open(2); no reader makes the open fail, which is as good.
		if f, err := os.OpenFile(path, os.O_WRONLY|syscall.O_NONBLOCK, 0); err == nil {
			_ = f.Close()
		}
		select {
		case <-done:
		case <-time.After(patience):
			tb.Error("Wait did not return")
		}
	})
	return ch
}

// receive returns what the Wait of ch returned.
func receive(tb testing.TB, ch <-chan waited) (launcher.Claim, error) {
	tb.Helper()
	select {
	case w := <-ch:
		return w.claim, w.err
	case <-time.After(patience):
		tb.Fatal("Wait did not return")
		return launcher.Claim{}, nil
	}
}

// sameClaim fails the test unless got is want.
func sameClaim(tb testing.TB, got, want launcher.Claim) {
	tb.Helper()
	if !slices.Equal(got.Argv, want.Argv) || !slices.Equal(got.Env, want.Env) {
		tb.Errorf("got claim %.200q, want %.200q", got, want)
	}
}

func TestSendWait(t *testing.T) {
	for _, tc := range []struct {
		name  string
		claim launcher.Claim
	}{
		{"argv only", launcher.Claim{Argv: []string{"/game/server"}}},
		{"argv and env", launcher.Claim{
			Argv: []string{"server", "-port", "7777"},
			Env:  []string{"PATH=/game:/usr/bin", "TOKEN=a=b", "EMPTY="},
		}},
		{"text JSON escapes", launcher.Claim{
			Argv: []string{"server", `"quoted" \ back`, "ünïcode ☃", "tab\tnewline\n", "<&>"},
			Env:  []string{"MOTD=héllo\u2028world"},
		}},
		// More than a pipe holds: the write must wait for the reader.
		{"bigger than a pipe", launcher.Claim{
			Argv: []string{"server", strings.Repeat("x", 300<<10)},
			Env:  []string{"BLOB=" + strings.Repeat("y", 300<<10)},
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			dir := prepared(t)
			ch := startWait(t, filepath.Join(dir, launcher.FIFOName))
			ctx, cancel := context.WithTimeout(context.Background(), patience)
			defer cancel()
			if err := launcher.Send(ctx, dir, tc.claim); err != nil {
				t.Fatal(err)
			}
			got, err := receive(t, ch)
			if err != nil {
				t.Fatal(err)
			}
			sameClaim(t, got, tc.claim)
		})
	}
}

func TestSendWaitsForReader(t *testing.T) {
	dir := prepared(t)
	retried := make(chan struct{})
	t.Cleanup(launcher.OnSendRetry(func() { close(retried) }))
	claim := launcher.Claim{Argv: []string{"server"}, Env: []string{"A=1"}}
	ctx, cancel := context.WithTimeout(context.Background(), patience)
	defer cancel()
	sent := make(chan error, 1)
	go func() { sent <- launcher.Send(ctx, dir, claim) }()

	select {
	case <-retried:
	case err := <-sent:
		t.Fatalf("Send returned %v with no reader", err)
	case <-time.After(patience):
		t.Fatal("Send did not try again")
	}
	ch := startWait(t, filepath.Join(dir, launcher.FIFOName))
	select {
	case err := <-sent:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(patience):
		t.Fatal("Send did not return once the reader came")
	}
	got, err := receive(t, ch)
	if err != nil {
		t.Fatal(err)
	}
	sameClaim(t, got, claim)
}

func TestSendFails(t *testing.T) {
	claim := launcher.Claim{Argv: []string{"server"}}
	for _, tc := range []struct {
		name string
		// dir returns the directory to send to.
		dir func(tb testing.TB) string
		ctx func(t *testing.T) context.Context
		is  error
	}{
		{
			name: "no reader before the deadline",
			dir:  prepared,
			ctx: func(t *testing.T) context.Context {
				ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
				t.Cleanup(cancel)
				return ctx
			},
			is: context.DeadlineExceeded,
		},
		{
			name: "cancelled",
			dir:  prepared,
			ctx: func(*testing.T) context.Context {
				ctx, cancel := context.WithCancel(context.Background())
				cancel()
				return ctx
			},
			is: context.Canceled,
		},
		{
			name: "no FIFO",
			dir:  func(tb testing.TB) string { return tb.TempDir() },
			is:   fs.ErrNotExist,
		},
		{
			name: "not a FIFO",
			dir: func(tb testing.TB) string {
				dir := tb.TempDir()
				if err := os.WriteFile(filepath.Join(dir, launcher.FIFOName), nil, 0o644); err != nil {
					tb.Fatal(err)
				}
				return dir
			},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			if tc.ctx != nil {
				ctx = tc.ctx(t)
			} else {
				var cancel context.CancelFunc
				ctx, cancel = context.WithTimeout(ctx, patience)
				defer cancel()
			}
			err := launcher.Send(ctx, tc.dir(t), claim)
			if err == nil {
				t.Fatal("Send succeeded")
			}
			if tc.is != nil && !errors.Is(err, tc.is) {
				t.Errorf("got %v, want one that is %v", err, tc.is)
			}
			if !strings.HasPrefix(err.Error(), "launcher: ") {
				t.Errorf("error %q lacks the package's prefix", err)
			}
		})
	}
}

func TestInvalidClaim(t *testing.T) {
	for _, tc := range []struct {
		name  string
		claim launcher.Claim
		want  string
	}{
		{"no argv", launcher.Claim{Env: []string{"A=1"}}, "no argv"},
		{"empty argv[0]", launcher.Claim{Argv: []string{"", "x"}}, "argv[0] is empty"},
		{"NUL in argv", launcher.Claim{Argv: []string{"server", "a\x00b"}}, "argv[1] contains a NUL"},
		{"NUL in env", launcher.Claim{Argv: []string{"server"}, Env: []string{"A=\x00"}}, "env[0] contains a NUL"},
		{"env without =", launcher.Claim{Argv: []string{"server"}, Env: []string{"A=1", "B"}}, "env[1] \"B\" is not KEY=value"},
		{"env without key", launcher.Claim{Argv: []string{"server"}, Env: []string{"=1"}}, "is not KEY=value"},
		{"too big", launcher.Claim{Argv: []string{"server", strings.Repeat("x", launcher.MaxClaimSize)}}, "more than"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			err := tc.claim.Validate()
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Validate: got %v, want an error with %q", err, tc.want)
			}
			// The claim is refused before the FIFO is looked at.
			ctx, cancel := context.WithTimeout(context.Background(), patience)
			defer cancel()
			err = launcher.Send(ctx, t.TempDir(), tc.claim)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Send: got %v, want an error with %q", err, tc.want)
			}
		})
	}
}

func TestWaitRefuses(t *testing.T) {
	for _, tc := range []struct {
		name string
		data string
		want string
	}{
		{"nothing", "", "without a claim"},
		{"not JSON", "argv", "decode claim"},
		{"unknown field", `{"argv":["server"],"dir":"/game"}`, "unknown field"},
		{"data after the claim", `{"argv":["server"]} {}`, "data after the claim"},
		{"no argv", `{"env":["A=1"]}`, "no argv"},
		{"bad env", `{"argv":["server"],"env":["A"]}`, "not KEY=value"},
		{"oversized", `{"argv":["server"],"env":["A=` + strings.Repeat("x", launcher.MaxClaimSize) + `"]}`, "exceeds"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			path := filepath.Join(prepared(t), launcher.FIFOName)
			ch := startWait(t, path)
			wrote := make(chan struct{})
			go func() {
				defer close(wrote)
				// The reader is there or coming, so a blocking open
				// returns; the oversized write ends with EPIPE when
				// the reader stops reading.
				f, err := os.OpenFile(path, os.O_WRONLY, 0)
				if err != nil {
					t.Error(err)
					return
				}
				_, _ = f.WriteString(tc.data)
				_ = f.Close()
			}()
			_, err := receive(t, ch)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("got %v, want an error with %q", err, tc.want)
			}
			select {
			case <-wrote:
			case <-time.After(patience):
				t.Fatal("the writer did not finish")
			}
		})
	}
}

// inode returns path's file, failing the test when it is missing.
func inode(tb testing.TB, path string) os.FileInfo {
	tb.Helper()
	fi, err := os.Lstat(path)
	if err != nil {
		tb.Fatal(err)
	}
	return fi
}

// checkMode fails the test unless path has mode want, type included.
func checkMode(tb testing.TB, path string, want fs.FileMode) {
	tb.Helper()
	if got := inode(tb, path).Mode(); got != want {
		tb.Errorf("%s has mode %v, want %v", path, got, want)
	}
}

// The umask is the process's, so this test runs alone.
func TestPrepareDir(t *testing.T) {
	old := syscall.Umask(0o077)
	t.Cleanup(func() { syscall.Umask(old) })

	bin := filepath.Join(t.TempDir(), "bin", "launcher")
	if err := launcher.InstallBinary(bin, []byte("#!/bin/sh\n")); err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(t.TempDir(), "container")
	fifo := filepath.Join(dir, launcher.FIFOName)
	var first os.FileInfo
	for _, call := range []string{"first", "again"} {
		t.Run(call, func(t *testing.T) {
			if err := launcher.PrepareDir(dir, bin); err != nil {
				t.Fatal(err)
			}
			checkMode(t, dir, fs.ModeDir|0o755)
			checkMode(t, fifo, fs.ModeNamedPipe|0o644)
			link := filepath.Join(dir, launcher.BinaryName)
			checkMode(t, link, 0o755)
			if !os.SameFile(inode(t, link), inode(t, bin)) {
				t.Errorf("%s is not a link to %s", link, bin)
			}
			if first == nil {
				first = inode(t, fifo)
			} else if !os.SameFile(first, inode(t, fifo)) {
				t.Error("the FIFO was made anew")
			}
		})
	}
	t.Run("regular file for the FIFO", func(t *testing.T) {
		dir := t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, launcher.FIFOName), nil, 0o644); err != nil {
			t.Fatal(err)
		}
		err := launcher.PrepareDir(dir, bin)
		if err == nil || !strings.Contains(err.Error(), "not a FIFO") {
			t.Errorf("got %v, want a refusal of the regular file", err)
		}
	})
	t.Run("no binary", func(t *testing.T) {
		err := launcher.PrepareDir(t.TempDir(), filepath.Join(t.TempDir(), "missing"))
		if !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("got %v, want one that is fs.ErrNotExist", err)
		}
	})
}

// install runs InstallBinary and checks what it left.
func install(tb testing.TB, path, content string) {
	tb.Helper()
	if err := launcher.InstallBinary(path, []byte(content)); err != nil {
		tb.Fatal(err)
	}
	checkMode(tb, path, 0o755)
	checkContent(tb, path, content)
}

// checkContent fails the test unless path holds want.
func checkContent(tb testing.TB, path, want string) {
	tb.Helper()
	got, err := os.ReadFile(path)
	if err != nil {
		tb.Fatal(err)
	}
	if string(got) != want {
		tb.Errorf("%s holds %q, want %q", path, got, want)
	}
}

func TestInstallBinary(t *testing.T) {
	t.Parallel()
	bin := filepath.Join(t.TempDir(), "a", "b", "launcher")
	install(t, bin, "v1")
	v1 := inode(t, bin)

	install(t, bin, "v1")
	if !os.SameFile(v1, inode(t, bin)) {
		t.Error("installing the same binary again replaced the file")
	}

	dir := filepath.Join(t.TempDir(), "container")
	if err := launcher.PrepareDir(dir, bin); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(dir, launcher.BinaryName)
	install(t, bin, "v2")
	if os.SameFile(v1, inode(t, bin)) {
		t.Error("a new binary was written into the old file")
	}
	// A running container keeps the launcher it started with.
	checkContent(t, link, "v1")
	if err := launcher.PrepareDir(dir, bin); err != nil {
		t.Fatal(err)
	}
	checkContent(t, link, "v2")
	if !os.SameFile(inode(t, link), inode(t, bin)) {
		t.Error("PrepareDir did not link the new binary")
	}

	if err := os.Chmod(bin, 0o700); err != nil {
		t.Fatal(err)
	}
	install(t, bin, "v2")
}

// A hard link cannot cross filesystems; PrepareDir copies then.
func TestPrepareDirCopies(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "container")
	const shm = "/dev/shm"
	if !otherFilesystem(t, shm, filepath.Dir(dir)) {
		t.Skipf("%s is not a filesystem of its own here", shm)
	}
	binDir, err := os.MkdirTemp(shm, "launcher-test-")
	if err != nil {
		t.Skip(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(binDir) })
	bin := filepath.Join(binDir, "launcher")
	install(t, bin, "v1")

	link := filepath.Join(dir, launcher.BinaryName)
	for _, content := range []string{"v1", "v1", "v2"} {
		install(t, bin, content)
		if err := launcher.PrepareDir(dir, bin); err != nil {
			t.Fatal(err)
		}
		checkMode(t, link, 0o755)
		checkContent(t, link, content)
	}
}

// otherFilesystem reports whether a and b are on different filesystems.
func otherFilesystem(tb testing.TB, a, b string) bool {
	tb.Helper()
	sa, errA := os.Stat(a)
	sb, errB := os.Stat(b)
	if errA != nil || errB != nil {
		return false
	}
	da, okA := sa.Sys().(*syscall.Stat_t)
	db, okB := sb.Sys().(*syscall.Stat_t)
	return okA && okB && da.Dev != db.Dev
}

func TestLookPath(t *testing.T) {
	t.Parallel()
	root := t.TempDir()
	d1, d2 := filepath.Join(root, "d1"), filepath.Join(root, "d2")
	for path, mode := range map[string]fs.FileMode{
		filepath.Join(d1, "plain"):  0o644,
		filepath.Join(d1, "tool"):   0o644,
		filepath.Join(d2, "tool"):   0o755,
		filepath.Join(d2, "server"): 0o755,
		filepath.Join(d1, "both"):   0o755,
		filepath.Join(d2, "both"):   0o755,
	} {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, nil, mode); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Mkdir(filepath.Join(d1, "adir"), 0o755); err != nil {
		t.Fatal(err)
	}
	path := "PATH=" + d1 + ":" + d2
	for _, tc := range []struct {
		name string
		file string
		env  []string
		want string
		is   error
	}{
		{name: "slash taken as it is", file: "./server", env: []string{path}, want: "./server"},
		{name: "second PATH entry", file: "server", env: []string{"A=1", path}, want: filepath.Join(d2, "server")},
		{name: "first PATH entry that has it", file: "both", env: []string{path}, want: filepath.Join(d1, "both")},
		{name: "first PATH variable", file: "both", env: []string{"PATH=" + d2, path}, want: filepath.Join(d2, "both")},
		{name: "not executable passed over", file: "tool", env: []string{path}, want: filepath.Join(d2, "tool")},
		{name: "only not executable", file: "plain", env: []string{path}, is: fs.ErrPermission},
		{name: "directory passed over", file: "adir", env: []string{path}, is: launcher.ErrNotFound},
		{name: "missing", file: "nothing", env: []string{path}, is: launcher.ErrNotFound},
		{name: "not in another PATH", file: "server", env: []string{"PATH=" + d1}, is: launcher.ErrNotFound},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := launcher.LookPath(tc.file, tc.env)
			if tc.is != nil {
				if !errors.Is(err, tc.is) {
					t.Errorf("got %q, %v; want an error that is %v", got, err, tc.is)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Errorf("got %q, %v; want %q", got, err, tc.want)
			}
		})
	}
	t.Run("default PATH", func(t *testing.T) {
		got, err := launcher.LookPath("sh", []string{"HOME=/"})
		if err != nil {
			t.Fatal(err)
		}
		if dir := filepath.Dir(got); filepath.Base(got) != "sh" || !slices.Contains(filepath.SplitList(launcher.DefaultPath), dir) {
			t.Errorf("got %q, want sh in a directory of %s", got, launcher.DefaultPath)
		}
	})
}
