package docker_test

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/arena-hq/arena"
	"github.com/arena-hq/arena/docker"
	"github.com/arena-hq/arena/docker/dockertest"
)

// logLines reads a log stream line by line in a goroutine of its own, so
// that the test can wait for a line with a deadline.
type logLines struct {
	lines chan string
	done  chan struct{}
	err   error // why the stream ended, nil for io.EOF; set before done closes
}

// readLines starts reading rc. The reading stops and rc is closed when the
// test ends.
func readLines(tb testing.TB, rc io.ReadCloser) *logLines {
	tb.Helper()
	l := &logLines{lines: make(chan string), done: make(chan struct{})}
	quit := make(chan struct{})
	go func() {
		defer close(l.done)
		sc := bufio.NewScanner(rc)
		for sc.Scan() {
			select {
			case l.lines <- sc.Text():
			case <-quit:
				return
			}
		}
		l.err = sc.Err()
	}()
	tb.Cleanup(func() {
		close(quit)
		rc.Close()
		<-l.done
	})
	return l
}

// waitFor returns the first line not read yet that contains text, failing
// the test if the stream ends or no such line comes in time.
func (l *logLines) waitFor(tb testing.TB, text string) string {
	tb.Helper()
	deadline := time.NewTimer(dockertest.Timeout)
	defer deadline.Stop()
	for {
		select {
		case line := <-l.lines:
			if strings.Contains(line, text) {
				return line
			}
		case <-l.done:
			tb.Fatalf("log stream ended (%v) before a line with %q", l.err, text)
		case <-deadline.C:
			tb.Fatalf("no line with %q logged within %s", text, dockertest.Timeout)
		}
	}
}

// waitEnd reads the lines left until the stream ends and returns them and
// why it ended, failing the test if it does not end in time.
func (l *logLines) waitEnd(tb testing.TB) ([]string, error) {
	tb.Helper()
	deadline := time.NewTimer(dockertest.Timeout)
	defer deadline.Stop()
	var lines []string
	for {
		select {
		case line := <-l.lines:
			lines = append(lines, line)
		case <-l.done:
			return lines, l.err
		case <-deadline.C:
			tb.Fatalf("log stream not ended within %s; read %q", dockertest.Timeout, lines)
		}
	}
}

// openLogs calls Logs and fails the test if that fails.
func openLogs(tb testing.TB, ctx context.Context, rt *docker.Runtime, container string, follow bool) io.ReadCloser {
	tb.Helper()
	rc, err := rt.Logs(ctx, container, follow)
	if err != nil {
		tb.Fatalf("Logs(%s, follow %v): %v", container, follow, err)
	}
	return rc
}

// TestLogsEnd reads logs that end by themselves: what a container logged so
// far, and the whole of an exited container's logs even when following.
func TestLogsEnd(t *testing.T) {
	t.Parallel()
	rt := dockertest.Runtime(t)
	node := dockertest.NodeID(t)

	running := dockertest.EchoSpec(t, node)
	runningID := start(t, rt, running)
	dockertest.WaitLog(t, rt, runningID, "echo server listening")

	exited := dockertest.EchoSpec(t, node)
	exited.Args = []string{"--exit-after", "0s", "--exit-code", "0"}
	exitedID := start(t, rt, exited)
	dockertest.WaitExited(t, rt, exitedID)

	tests := []struct {
		name      string
		container string
		follow    bool
		want      []string
	}{
		{"by id", runningID, false, []string{"echo server listening"}},
		{"by name", running.Name, false, []string{"echo server listening"}},
		{"exited", exitedID, false, []string{"echo server listening", "exiting with code 0"}},
		{"exited follow", exitedID, true, []string{"echo server listening", "exiting with code 0"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			lines, err := readLines(t, openLogs(t, context.Background(), rt, tt.container, tt.follow)).waitEnd(t)
			if err != nil {
				t.Fatalf("log stream ended with %v, want io.EOF", err)
			}
			// The first line starts with the server's own text: no
			// header of the multiplexed stream is left in it.
			if len(lines) == 0 || !strings.HasPrefix(lines[0], "echo server listening") {
				t.Fatalf("logs = %q, want the start line first", lines)
			}
			for i, w := range tt.want {
				if i >= len(lines) || !strings.Contains(lines[i], w) {
					t.Errorf("line %d of %q does not contain %q", i, lines, w)
				}
			}
		})
	}
}

// TestLogsFollow follows the logs of a container through what it logs after
// the stream opened, until it stops.
func TestLogsFollow(t *testing.T) {
	t.Parallel()
	rt := dockertest.Runtime(t)
	port := dockertest.FreePort(t)
	spec := dockertest.EchoSpec(t, dockertest.NodeID(t))
	spec.BindIP = "127.0.0.1"
	spec.Ports = []arena.Port{{Protocol: arena.TCP, Container: dockertest.EchoPort, Host: port}}
	id := start(t, rt, spec)

	logs := readLines(t, openLogs(t, context.Background(), rt, id, true))
	logs.waitFor(t, "echo server listening")

	// The echo server logs its connections, not what they carry: the line
	// of a connection closed comes once the server has answered on it.
	if got := dockertest.AskTCP(t, net.JoinHostPort("127.0.0.1", strconv.Itoa(port)), "hello-logs"); got != "hello-logs" {
		t.Fatalf("hello-logs answered %q", got)
	}
	logs.waitFor(t, "tcp connection from")
	logs.waitFor(t, "closed")

	if err := rt.Stop(context.Background(), id, 10*time.Second); err != nil {
		t.Fatalf("Stop: %v", err)
	}
	logs.waitFor(t, "terminated")
	if rest, err := logs.waitEnd(t); err != nil {
		t.Errorf("log stream ended with %v after %q, want io.EOF", err, rest)
	}
}

// TestLogsEndEarly ends a follow of a running container from the reader's
// side.
func TestLogsEndEarly(t *testing.T) {
	t.Parallel()
	rt := dockertest.Runtime(t)
	node := dockertest.NodeID(t)
	tests := []struct {
		name string
		end  func(rc io.Closer, cancel context.CancelFunc)
		// wantErr checks the error the reading ended with.
		wantErr func(error) bool
	}{
		{
			name:    "close",
			end:     func(rc io.Closer, _ context.CancelFunc) { rc.Close() },
			wantErr: func(err error) bool { return errors.Is(err, io.ErrClosedPipe) },
		},
		{
			name:    "ctx canceled",
			end:     func(_ io.Closer, cancel context.CancelFunc) { cancel() },
			wantErr: func(err error) bool { return errors.Is(err, context.Canceled) },
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			id := start(t, rt, dockertest.EchoSpec(t, node))
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			rc := openLogs(t, ctx, rt, id, true)
			logs := readLines(t, rc)
			logs.waitFor(t, "echo server listening")

			ended := make(chan struct{})
			go func() {
				defer close(ended)
				tt.end(rc, cancel)
			}()
			select {
			case <-ended:
			case <-time.After(5 * time.Second):
				t.Fatal("ending the stream blocked")
			}
			lines, err := logs.waitEnd(t)
			if !tt.wantErr(err) {
				t.Errorf("reading ended with %v after %q", err, lines)
			}

			// Close returns once the stream's goroutine has ended.
			closed := make(chan error, 1)
			go func() { closed <- rc.Close() }()
			select {
			case err := <-closed:
				if err != nil {
					t.Errorf("Close: %v", err)
				}
			case <-time.After(5 * time.Second):
				t.Fatal("Close blocked")
			}
			if n, err := rc.Read(make([]byte, 64)); n != 0 || err == nil || err == io.EOF {
				t.Errorf("Read after Close = %d, %v; want an error", n, err)
			}
		})
	}
}
