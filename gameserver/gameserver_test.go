package gameserver_test

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/arena-hq/arena/gameserver"
)

// helperEnv makes the test binary run gameserver.Main instead of the tests,
// so that signal handling is tested on a real process.
const helperEnv = "ARENA_ECHO_HELPER"

func TestMain(m *testing.M) {
	if os.Getenv(helperEnv) == "1" {
		os.Exit(gameserver.Main(os.Args[1:], os.Getenv, os.Stdout))
	}
	os.Exit(m.Run())
}

func TestParseArgs(t *testing.T) {
	tests := []struct {
		name    string
		args    []string
		want    gameserver.Config
		wantErr bool
	}{
		{
			name: "defaults",
			want: gameserver.Config{Port: 7777, TermFile: "/arena-terminated", ExitAfter: -1},
		},
		{
			name: "all flags",
			args: []string{"--host", "127.0.0.1", "--port", "9000", "--term-file", "/tmp/x", "--ignore-term", "--exit-after", "1.5s", "--exit-code", "3"},
			want: gameserver.Config{Host: "127.0.0.1", Port: 9000, TermFile: "/tmp/x", IgnoreTerm: true, ExitAfter: 1500 * time.Millisecond, ExitCode: 3},
		},
		{
			name: "exit at once",
			args: []string{"--exit-after", "0s", "--exit-code", "3"},
			want: gameserver.Config{Port: 7777, TermFile: "/arena-terminated", ExitAfter: 0, ExitCode: 3},
		},
		{name: "negative exit-after", args: []string{"--exit-after", "-1s"}, wantErr: true},
		{name: "port out of range", args: []string{"--port", "70000"}, wantErr: true},
		{name: "unknown flag", args: []string{"--nope"}, wantErr: true},
		{name: "positional argument", args: []string{"extra"}, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := gameserver.ParseArgs(tt.args, io.Discard)
			if tt.wantErr {
				if err == nil {
					t.Fatalf("ParseArgs(%q) = %+v, want an error", tt.args, got)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseArgs(%q): %v", tt.args, err)
			}
			if got != tt.want {
				t.Errorf("ParseArgs(%q) = %+v, want %+v", tt.args, got, tt.want)
			}
		})
	}
}

// running is a server serving in a goroutine.
type running struct {
	*gameserver.Server
	out    *lockedBuffer
	cancel context.CancelFunc
	done   chan struct{}
	code   int
}

// serve starts a server on loopback ephemeral ports; the test's end stops it.
func serve(t *testing.T, cfg gameserver.Config, args []string, env map[string]string) *running {
	t.Helper()
	if cfg.Host == "" {
		cfg.Host = "127.0.0.1"
	}
	out := &lockedBuffer{}
	srv, err := gameserver.Listen(cfg, args, func(k string) string { return env[k] }, out)
	if err != nil {
		t.Fatalf("Listen: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	r := &running{Server: srv, out: out, cancel: cancel, done: make(chan struct{})}
	go func() {
		r.code = srv.Serve(ctx)
		close(r.done)
	}()
	t.Cleanup(func() {
		cancel()
		<-r.done
	})
	return r
}

// wait returns the server's exit code once Serve returned.
func (r *running) wait(t *testing.T) int {
	t.Helper()
	select {
	case <-r.done:
		return r.code
	case <-time.After(10 * time.Second):
		t.Fatal("server did not exit")
		return 0
	}
}

func TestServer(t *testing.T) {
	cfg := gameserver.Config{Port: 0, TermFile: "", ExitAfter: -1}
	env := map[string]string{"GAMEYE_SESSION_ID": "s-1", "FOO": "bar baz"}
	written := filepath.Join(t.TempDir(), "written")
	srv := serve(t, cfg, []string{"--port", "0", "hello"}, env)

	t.Run("udp echo", func(t *testing.T) {
		c, err := net.Dial("udp", srv.UDPAddr().String())
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		if got := udpRoundTrip(t, c, "ping"); got != "ping" {
			t.Errorf("udp echo = %q, want %q", got, "ping")
		}
	})

	tests := []struct {
		name, line, want string
	}{
		{"echo", "hello world", "hello world"},
		{"env", "ENV FOO", "bar baz"},
		{"env unset", "ENV NOPE", ""},
		{"args", "ARGS", "--port 0 hello"},
		{"bad exit", "EXIT x", "error: EXIT needs a numeric code"},
		{"id", "ID", fmt.Sprintf("uid=%d gid=%d", os.Getuid(), os.Getgid())},
		{"write", "WRITE " + written, "ok"},
		{"write where it cannot", "WRITE " + filepath.Join(written, "below-a-file"), "error: open " + filepath.Join(written, "below-a-file") + ": not a directory"},
		{"mount", "MOUNT /proc", "proc " + procOptions(t)},
		{"not a mount", "MOUNT /proc/self", "error: no filesystem is mounted at /proc/self"},
	}
	conn := dialTCP(t, srv.TCPAddr().String())
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := conn.roundTrip(t, tt.line); got != tt.want {
				t.Errorf("%q answered %q, want %q", tt.line, got, tt.want)
			}
		})
	}

	t.Run("written file", func(t *testing.T) {
		if b, err := os.ReadFile(written); err != nil || string(b) != "written\n" {
			t.Errorf("WRITE left %q, %v", b, err)
		}
	})

	t.Run("logs", func(t *testing.T) {
		logs := srv.out.String()
		for _, want := range []string{"echo server listening", "session=s-1", "tcp connection from", "udp 4 bytes from"} {
			if !strings.Contains(logs, want) {
				t.Errorf("logs lack %q:\n%s", want, logs)
			}
		}
	})
}

// procOptions returns the options of /proc as this process sees it mounted,
// the last of its entries.
func procOptions(t *testing.T) string {
	t.Helper()
	table, err := os.ReadFile("/proc/self/mounts")
	if err != nil {
		t.Skipf("no mount table: %v", err)
	}
	opts := ""
	for _, line := range strings.Split(string(table), "\n") {
		if f := strings.Fields(line); len(f) >= 4 && f[1] == "/proc" {
			opts = f[3]
		}
	}
	if opts == "" {
		t.Skip("/proc is not mounted")
	}
	return opts
}

func TestExitCommand(t *testing.T) {
	srv := serve(t, gameserver.Config{ExitAfter: -1}, nil, nil)
	conn := dialTCP(t, srv.TCPAddr().String())
	if got := conn.roundTrip(t, "EXIT 3"); got != "bye 3" {
		t.Errorf("EXIT 3 answered %q", got)
	}
	if got := srv.wait(t); got != 3 {
		t.Errorf("exit code = %d, want 3", got)
	}
}

func TestExitAfter(t *testing.T) {
	srv := serve(t, gameserver.Config{ExitAfter: 0, ExitCode: 4}, nil, nil)
	if got := srv.wait(t); got != 4 {
		t.Errorf("exit code = %d, want 4", got)
	}
	if !strings.Contains(srv.out.String(), "exiting with code 4") {
		t.Errorf("logs lack the exit:\n%s", srv.out.String())
	}
}

func TestTerminate(t *testing.T) {
	termFile := filepath.Join(t.TempDir(), "terminated")
	srv := serve(t, gameserver.Config{TermFile: termFile, ExitAfter: -1}, nil, nil)
	srv.cancel()
	if got := srv.wait(t); got != 0 {
		t.Errorf("exit code = %d, want 0", got)
	}
	b, err := os.ReadFile(termFile)
	if err != nil {
		t.Fatal(err)
	}
	if string(b) != "terminated\n" {
		t.Errorf("term file = %q", b)
	}
}

func TestPortFromEnv(t *testing.T) {
	tcpPort, udpPort := freeTCPPort(t), freeUDPPort(t)
	env := map[string]string{
		"GAMEYE_PORT_TCP_7777": strconv.Itoa(tcpPort),
		"GAMEYE_PORT_UDP_7777": strconv.Itoa(udpPort),
	}
	srv := serve(t, gameserver.Config{Port: 7777, ExitAfter: -1}, nil, env)
	if got := srv.TCPAddr().(*net.TCPAddr).Port; got != tcpPort {
		t.Errorf("tcp port = %d, want %d", got, tcpPort)
	}
	if got := srv.UDPAddr().(*net.UDPAddr).Port; got != udpPort {
		t.Errorf("udp port = %d, want %d", got, udpPort)
	}
}

func TestInvalidPortEnv(t *testing.T) {
	env := func(k string) string {
		if k == "GAMEYE_PORT_UDP_7777" {
			return "x"
		}
		return ""
	}
	if _, err := gameserver.Listen(gameserver.Config{Port: 7777}, nil, env, io.Discard); err == nil {
		t.Fatal("Listen accepted GAMEYE_PORT_UDP_7777=x")
	}
}

func TestMainExitCodes(t *testing.T) {
	tests := []struct {
		name string
		args []string
		want int
	}{
		{"exit after", []string{"--host", "127.0.0.1", "--port", "0", "--exit-after", "0s", "--exit-code", "3"}, 3},
		{"bad flag", []string{"--nope"}, 2},
		{"help", []string{"-h"}, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out bytes.Buffer
			if got := gameserver.Main(tt.args, func(string) string { return "" }, &out); got != tt.want {
				t.Errorf("Main(%q) = %d, want %d; output:\n%s", tt.args, got, tt.want, out.String())
			}
		})
	}
}

// TestSignals runs the server as a real process to see SIGTERM handled or ignored.
func TestSignals(t *testing.T) {
	tests := []struct {
		name       string
		ignoreTerm bool
	}{
		{"sigterm", false},
		{"ignore-term", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			termFile := filepath.Join(t.TempDir(), "terminated")
			args := []string{"--host", "127.0.0.1", "--port", "0", "--term-file", termFile}
			if tt.ignoreTerm {
				args = append(args, "--ignore-term")
			}
			cmd := exec.Command(os.Args[0], args...)
			// GORACE keeps a race-enabled child from pausing a second at exit.
			cmd.Env = append(os.Environ(), helperEnv+"=1", "GORACE=atexit_sleep_ms=0")
			stdout, err := cmd.StdoutPipe()
			if err != nil {
				t.Fatal(err)
			}
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = cmd.Process.Kill() })

			lines := bufio.NewScanner(stdout)
			if !lines.Scan() {
				t.Fatalf("no output: %v", lines.Err())
			}
			addr := field(t, lines.Text(), "tcp")
			go func() { // keep the pipe drained
				for lines.Scan() {
				}
			}()

			if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
				t.Fatal(err)
			}
			if tt.ignoreTerm {
				// The server must still answer after the signal.
				conn := dialTCP(t, addr)
				if got := conn.roundTrip(t, "still there"); got != "still there" {
					t.Errorf("answered %q", got)
				}
				if err := cmd.Process.Kill(); err != nil {
					t.Fatal(err)
				}
			}
			err = cmd.Wait()
			var exitErr *exec.ExitError
			switch {
			case tt.ignoreTerm:
				if !errors.As(err, &exitErr) || exitErr.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
					t.Errorf("process ended with %v, want killed", err)
				}
				if _, err := os.Stat(termFile); !errors.Is(err, os.ErrNotExist) {
					t.Errorf("term file written although SIGTERM was ignored: %v", err)
				}
			default:
				if err != nil {
					t.Errorf("process ended with %v, want exit 0", err)
				}
				if b, err := os.ReadFile(termFile); err != nil || string(b) != "terminated\n" {
					t.Errorf("term file = %q, %v", b, err)
				}
			}
		})
	}
}

// field returns the value of key=value in a log line.
func field(t *testing.T, line, key string) string {
	t.Helper()
	for _, f := range strings.Fields(line) {
		if v, ok := strings.CutPrefix(f, key+"="); ok {
			return v
		}
	}
	t.Fatalf("no %s= in %q", key, line)
	return ""
}

type tcpConn struct {
	net.Conn
	r *bufio.Reader
}

func dialTCP(t *testing.T, addr string) *tcpConn {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return &tcpConn{Conn: c, r: bufio.NewReader(c)}
}

func (c *tcpConn) roundTrip(t *testing.T, line string) string {
	t.Helper()
	if err := c.SetDeadline(time.Now().Add(5 * time.Second)); err != nil {
		t.Fatal(err)
	}
	if _, err := io.WriteString(c, line+"\n"); err != nil {
		t.Fatal(err)
	}
	got, err := c.r.ReadString('\n')
	if err != nil {
		t.Fatalf("reading the answer to %q: %v", line, err)
	}
	return strings.TrimSuffix(got, "\n")
}

func udpRoundTrip(t *testing.T, c net.Conn, msg string) string {
	t.Helper()
	buf := make([]byte, 1024)
	// UDP may drop a datagram even on loopback; send again until answered.
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		if _, err := c.Write([]byte(msg)); err != nil {
			t.Fatal(err)
		}
		if err := c.SetReadDeadline(time.Now().Add(500 * time.Millisecond)); err != nil {
			t.Fatal(err)
		}
		n, err := c.Read(buf)
		if err == nil {
			return string(buf[:n])
		}
	}
	t.Fatalf("no udp answer to %q", msg)
	return ""
}

func freeTCPPort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

func freeUDPPort(t *testing.T) int {
	t.Helper()
	c, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	return c.LocalAddr().(*net.UDPAddr).Port
}

// lockedBuffer is a bytes.Buffer safe for the server's goroutines and the test.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}
