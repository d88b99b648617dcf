package agent_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/arena-hq/arena"
	"github.com/arena-hq/arena/agent"
	"github.com/arena-hq/arena/sim"
)

// fakeControlPlane hands the agent assignments from the test and records its
// reports; failReports makes that many reports fail first.
type fakeControlPlane struct {
	assignments chan arena.Assignment

	mu          sync.Mutex
	reports     []arena.SessionReport
	failReports int
	logs        []arena.LogChunk
	beat        arena.Heartbeat
	// beats are every heartbeat taken; failBeats makes that many fail, the
	// last when len(beats) was failedAt.
	beats     []arena.Heartbeat
	failBeats int
	failedAt  int
	// streams counts the Assignments calls.
	streams int
}

func (f *fakeControlPlane) Assignments(ctx context.Context, nodeID string) (<-chan arena.Assignment, error) {
	f.mu.Lock()
	f.streams++
	f.mu.Unlock()
	return f.assignments, nil
}

func (f *fakeControlPlane) Heartbeat(ctx context.Context, hb arena.Heartbeat) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.failBeats > 0 {
		f.failBeats--
		f.failedAt = len(f.beats)
		return errors.New("control plane unreachable")
	}
	f.beat = hb
	f.beats = append(f.beats, hb)
	return nil
}

// lastImages returns the image report of the last heartbeat.
func (f *fakeControlPlane) lastImages() []arena.NodeImage {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.beat.Images
}

func (f *fakeControlPlane) PushLogs(ctx context.Context, c arena.LogChunk) (bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	c.Data = append([]byte(nil), c.Data...) // the agent reuses its buffer
	f.logs = append(f.logs, c)
	return !c.EOF, nil
}

func (f *fakeControlPlane) Report(ctx context.Context, r arena.SessionReport) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.failReports > 0 {
		f.failReports--
		return errors.New("control plane unreachable")
	}
	f.reports = append(f.reports, r)
	return nil
}

func (f *fakeControlPlane) states() []arena.SessionState {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []arena.SessionState
	for _, r := range f.reports {
		out = append(out, r.State)
	}
	return out
}

func (f *fakeControlPlane) last() arena.SessionReport {
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.reports) == 0 {
		return arena.SessionReport{}
	}
	return f.reports[len(f.reports)-1]
}

type testAgent struct {
	*agent.Agent
	cp *fakeControlPlane
	rt *sim.Runtime
	// stop stops the agent, as its process ending would; the test's
	// cleanup does it otherwise.
	stop func()
}

func startAgent(tb testing.TB, failReports int, configure ...func(*agent.Config)) *testAgent {
	tb.Helper()
	cp := &fakeControlPlane{assignments: make(chan arena.Assignment, 16), failReports: failReports}
	rt := sim.New()
	cfg := agent.Config{
		Node: arena.Node{ID: "n1"}, ControlPlane: cp, Runtime: rt,
		RestartBackoff: time.Millisecond, MaxRestartBackoff: time.Millisecond, CrashLoopLimit: 10,
		StableAfter: time.Hour, RetryInterval: 5 * time.Millisecond, ResyncInterval: time.Hour,
	}
	for _, c := range configure {
		c(&cfg)
	}
	if r, ok := cfg.Runtime.(*sim.Runtime); ok {
		rt = r // the configuration's, as for a restarted agent on a node
	}
	a := agent.New(cfg)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = a.Run(ctx)
	}()
	stop := func() {
		cancel()
		<-done
	}
	tb.Cleanup(stop)
	cp.assignments <- arena.Assignment{Full: true}
	return &testAgent{Agent: a, cp: cp, rt: rt, stop: stop}
}

func (ta *testAgent) assign(s *arena.Session) {
	ta.cp.assignments <- arena.Assignment{Sessions: []*arena.Session{s.Clone()}}
}

func eventually(tb testing.TB, what string, cond func() bool) {
	tb.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			tb.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

func session(id string, restart bool) *arena.Session {
	return &arena.Session{ID: id, NodeID: "n1", Image: "img", State: arena.SessionStarted, Restart: restart}
}

// spec waits for the container of session id and returns what it was
// started from.
func (ta *testAgent) spec(tb testing.TB, id string) arena.ContainerSpec {
	tb.Helper()
	var spec arena.ContainerSpec
	eventually(tb, "the container of "+id, func() bool {
		var ok bool
		spec, ok = ta.rt.Spec(id)
		return ok
	})
	return spec
}

func (ta *testAgent) container(tb testing.TB, id string) arena.Container {
	tb.Helper()
	cs, _ := ta.rt.List(context.Background(), "n1")
	for _, c := range cs {
		if c.SessionID == id {
			return c
		}
	}
	tb.Fatalf("no container for session %s", id)
	return arena.Container{}
}

// TestStaleExitIsNotACrash: Docker keeps a container's id across restarts,
// so an exit from before the current run must not count as a new crash.
func TestStaleExitIsNotACrash(t *testing.T) {
	ta := startAgent(t, 0)
	ta.assign(session("s", true))
	eventually(t, "running", func() bool { return ta.cp.last().State == arena.SessionRunning })
	c := ta.container(t, "s")
	if err := ta.rt.Crash("s", 3); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the restart", func() bool { r := ta.cp.last(); return r.State == arena.SessionRunning && r.Restarts == 1 })
	// The exit of the first run, delivered late, then a real crash.
	ta.Exited(arena.ContainerExit{ContainerID: c.ID, SessionID: "s", ExitCode: 3, At: c.StartedAt.Add(time.Microsecond)})
	if err := ta.rt.Crash("s", 4); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the second restart", func() bool { r := ta.cp.last(); return r.State == arena.SessionRunning && r.Restarts == 2 })
	restarting := 0
	for _, st := range ta.cp.states() {
		if st == arena.SessionRestarting {
			restarting++
		}
	}
	if restarting != 2 {
		t.Fatalf("reports %v: the stale exit was taken for a crash", ta.cp.states())
	}
}

// TestContainerKeptUntilReported: the exited container is the record of how
// a session ended, so it stays until the control plane has the report.
func TestContainerKeptUntilReported(t *testing.T) {
	ta := startAgent(t, 0)
	ta.assign(session("s", false))
	eventually(t, "running", func() bool { return ta.cp.last().State == arena.SessionRunning })
	ta.cp.mu.Lock()
	ta.cp.failReports = 3
	ta.cp.mu.Unlock()
	if err := ta.rt.Crash("s", 7); err != nil {
		t.Fatal(err)
	}
	eventually(t, "a failed report", func() bool { ta.cp.mu.Lock(); defer ta.cp.mu.Unlock(); return ta.cp.failReports < 3 })
	ta.container(t, "s") // still there
	eventually(t, "the stop report", func() bool { return ta.cp.last().State == arena.SessionStopped })
	if r := ta.cp.last(); r.ExitCode != 7 || r.Reason != arena.StopExited || r.StartedAt.IsZero() {
		t.Fatalf("stop report %+v", r)
	}
	eventually(t, "the container's removal", func() bool { cs, _ := ta.rt.List(context.Background(), "n1"); return len(cs) == 0 })
}

// TestFinishedSessionIsNotRestarted: an assignment that arrives after a
// session finished (a stale one) must not start it again.
func TestFinishedSessionIsNotRestarted(t *testing.T) {
	ta := startAgent(t, 0)
	s := session("s", false)
	ta.assign(s)
	eventually(t, "running", func() bool { return ta.cp.last().State == arena.SessionRunning })
	if err := ta.rt.Crash("s", 0); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the stop report", func() bool { return ta.cp.last().State == arena.SessionStopped })
	eventually(t, "forgetting", func() bool { return !ta.Tracks("s") })
	n := len(ta.cp.states())
	ta.assign(s) // stale: still "started"
	eventually(t, "the report repeated", func() bool { return len(ta.cp.states()) == n+1 })
	if r := ta.cp.last(); r.State != arena.SessionStopped || r.ExitCode != 0 {
		t.Fatalf("answer to a stale assignment: %+v", r)
	}
	if cs, _ := ta.rt.List(context.Background(), "n1"); len(cs) != 0 {
		t.Fatalf("a finished session was started again: %+v", cs)
	}
}

// TestLogs: a log request is answered with the container's output in chunks
// that end with EOF, and with an error for a session the node does not run.
func TestLogs(t *testing.T) {
	ta := startAgent(t, 0)
	ta.assign(session("s", false))
	eventually(t, "running", func() bool { return ta.cp.last().State == arena.SessionRunning })
	if err := ta.rt.Write("s", "hello from the game\n"); err != nil {
		t.Fatal(err)
	}
	ta.cp.assignments <- arena.Assignment{LogRequests: []arena.LogRequest{{ID: "r1", SessionID: "s"}, {ID: "r2", SessionID: "nope"}}}
	var out string
	var unknown arena.LogChunk
	eventually(t, "both answers", func() bool {
		ta.cp.mu.Lock()
		defer ta.cp.mu.Unlock()
		out, unknown = "", arena.LogChunk{}
		done := 0
		for _, c := range ta.cp.logs {
			switch c.RequestID {
			case "r1":
				out += string(c.Data)
			case "r2":
				unknown = c
			}
			if c.EOF {
				done++
			}
		}
		return done == 2
	})
	if !strings.Contains(out, "hello from the game") || !strings.Contains(out, "simulated server started") {
		t.Fatalf("output %q", out)
	}
	if !unknown.EOF || unknown.Error == "" || unknown.NodeID != "n1" {
		t.Fatalf("answer for an unknown session: %+v", unknown)
	}
}

// TestArtifactLimits: artifacts past the size cap are not kept, and the
// download says why; kept ones go after the retention time.
func TestArtifactLimits(t *testing.T) {
	dir := t.TempDir()
	ta := startAgent(t, 0, func(c *agent.Config) {
		c.ArtifactDir, c.ArtifactMaxBytes, c.ArtifactRetention = dir, 400, time.Hour
	})
	small, big := session("small", false), session("big", false)
	small.ArtifactPaths = []string{"/a"} // one small file: about 150 bytes compressed
	for i := 0; i < 40; i++ {            // forty files, headers and all: past the cap
		big.ArtifactPaths = append(big.ArtifactPaths, fmt.Sprintf("/replays/round-%d.dat", i))
	}
	ta.assign(small)
	ta.assign(big)
	eventually(t, "both running", func() bool {
		n := 0
		for _, st := range ta.cp.states() {
			if st == arena.SessionRunning {
				n++
			}
		}
		return n == 2
	})
	for _, id := range []string{"small", "big"} {
		if err := ta.rt.Crash(id, 0); err != nil {
			t.Fatal(err)
		}
	}
	eventually(t, "both stopped", func() bool {
		n := 0
		for _, st := range ta.cp.states() {
			if st == arena.SessionStopped {
				n++
			}
		}
		return n == 2
	})
	answer := func(reqID, sessionID, path string) (data, code, errMsg string) {
		ta.cp.assignments <- arena.Assignment{LogRequests: []arena.LogRequest{{ID: reqID, SessionID: sessionID, ArtifactPath: path}}}
		eventually(t, "the answer to "+reqID, func() bool {
			ta.cp.mu.Lock()
			defer ta.cp.mu.Unlock()
			data, code, errMsg = "", "", ""
			for _, c := range ta.cp.logs {
				if c.RequestID == reqID {
					data += string(c.Data)
					if c.EOF {
						code, errMsg = c.Code, c.Error
						return true
					}
				}
			}
			return false
		})
		return data, code, errMsg
	}
	if data, code, msg := answer("r-small", "small", "/a"); msg != "" || code != "" || len(data) == 0 {
		t.Fatalf("kept artifact: %q %s %q", data, code, msg)
	}
	if _, code, msg := answer("r-big", "big", "/replays"); !strings.Contains(msg, "exceed") || code != arena.ENOTFOUND {
		t.Fatalf("artifacts past the cap: %s %q", code, msg)
	}
	if _, code, msg := answer("r-elsewhere", "small", "/b"); !strings.Contains(msg, "no artifact was kept at /b") || code != arena.ENOTFOUND {
		t.Fatalf("a path not kept: %s %q", code, msg)
	}
	// A fault of the node's own disk is no missing artifact.
	if err := os.WriteFile(filepath.Join(dir, "small.tar.gz"), []byte("not gzip"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, code, msg := answer("r-damaged", "small", "/a"); !strings.Contains(msg, "damaged") || code != arena.EINTERNAL {
		t.Fatalf("damaged artifacts: %s %q", code, msg)
	}
	// Past the retention they are gone: at once for a download, and from
	// the disk at the next pruning.
	old := time.Now().Add(-2 * time.Hour)
	if err := os.Chtimes(filepath.Join(dir, "small.tar.gz"), old, old); err != nil {
		t.Fatal(err)
	}
	if _, code, msg := answer("r-expired", "small", "/a"); !strings.Contains(msg, "no artifacts") || code != arena.ENOTFOUND {
		t.Fatalf("artifact after its retention: %s %q", code, msg)
	}
	if err := os.Chtimes(filepath.Join(dir, "big.error"), old, old); err != nil {
		t.Fatal(err)
	}
	ta.PruneArtifacts()
	if _, err := os.Stat(filepath.Join(dir, "big.error")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("pruning left a file past its retention: %v", err)
	}
}

// TestContainerSpecResources: the container is given the session's
// reservation and its limits apart, so that the runtime can cap at one and
// guarantee the other.
func TestContainerSpecResources(t *testing.T) {
	tests := []struct {
		name             string
		reserved, limits arena.Resources
	}{
		{"no limits", arena.Resources{MilliCPU: 500, MemoryMB: 256}, arena.Resources{}},
		{"limits", arena.Resources{MilliCPU: 500, MemoryMB: 256}, arena.Resources{MilliCPU: 2000, MemoryMB: 1024}},
	}
	ta := startAgent(t, 0)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := session("s-"+strings.ReplaceAll(tt.name, " ", "-"), false)
			s.Resources, s.Limits = tt.reserved, tt.limits
			ta.assign(s)
			spec := ta.spec(t, s.ID)
			if spec.Resources != tt.reserved || spec.Limits != tt.limits {
				t.Fatalf("spec resources %+v, limits %+v; want %+v, %+v", spec.Resources, spec.Limits, tt.reserved, tt.limits)
			}
		})
	}
}

// logAnswer asks the agent for a session's output and returns what it sent
// until the end, with the end's error code and message.
func (ta *testAgent) logAnswer(tb testing.TB, reqID, sessionID string, follow bool) (data, code, msg string) {
	tb.Helper()
	ta.cp.assignments <- arena.Assignment{LogRequests: []arena.LogRequest{{ID: reqID, SessionID: sessionID, Follow: follow}}}
	eventually(tb, "the answer to "+reqID, func() bool {
		ta.cp.mu.Lock()
		defer ta.cp.mu.Unlock()
		data = ""
		for _, c := range ta.cp.logs {
			if c.RequestID == reqID {
				data += string(c.Data)
				if c.EOF {
					code, msg = c.Code, c.Error
					return true
				}
			}
		}
		return false
	})
	return data, code, msg
}

// stopped runs a session that prints lines and exits, and waits until the
// agent has forgotten it: its container is gone.
func (ta *testAgent) stopped(tb testing.TB, id string, lines ...string) {
	tb.Helper()
	ta.assign(session(id, false))
	eventually(tb, id+" running", func() bool {
		ta.cp.mu.Lock()
		defer ta.cp.mu.Unlock()
		for _, r := range ta.cp.reports {
			if r.SessionID == id && r.State == arena.SessionRunning {
				return true
			}
		}
		return false
	})
	for _, line := range lines {
		if err := ta.rt.Write(id, line+"\n"); err != nil {
			tb.Fatal(err)
		}
	}
	if err := ta.rt.Crash(id, 9); err != nil {
		tb.Fatal(err)
	}
	eventually(tb, id+" forgotten", func() bool { return !ta.Tracks(id) })
	if cs, _ := ta.rt.List(context.Background(), "n1"); len(cs) != 0 {
		tb.Fatalf("containers left: %+v", cs)
	}
}

// TestKeptLogs: a stopped session's output outlives its container, on the
// node, bounded in size and for the artifacts' retention.
func TestKeptLogs(t *testing.T) {
	dir := t.TempDir()
	ta := startAgent(t, 0, func(c *agent.Config) { c.ArtifactDir, c.LogMaxBytes = dir, 64 })
	ta.stopped(t, "short", "crashed: out of cheese")
	// Forty lines of 19 bytes: only the last 64 bytes are kept, from the
	// first whole line in them.
	var long []string
	for i := range 40 {
		long = append(long, fmt.Sprintf("line %02d of output.", i))
	}
	ta.stopped(t, "long", long...)

	tests := []struct {
		name     string
		session  string
		follow   bool
		want     string
		wantCode string
	}{
		{"the whole output", "short", false, "simulated server started: arena-short\ncrashed: out of cheese\n", ""},
		{"a follow ends with the kept output", "short", true, "simulated server started: arena-short\ncrashed: out of cheese\n", ""},
		{"the end of a long output", "long", false, "line 37 of output.\nline 38 of output.\nline 39 of output.\n", ""},
		{"a session the node never ran", "nope", false, "", arena.ENOTFOUND},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			data, code, msg := ta.logAnswer(t, fmt.Sprintf("r%d", i), tt.session, tt.follow)
			if data != tt.want || code != tt.wantCode {
				t.Fatalf("answer %q, code %q (%s); want %q, code %q", data, code, msg, tt.want, tt.wantCode)
			}
		})
	}
	if data, _, _ := ta.logAnswer(t, "r-long", "long", false); len(data) > 64 {
		t.Errorf("kept %d bytes, more than the cap", len(data))
	}

	// Past the retention the output is gone, before any pruning ran.
	old := time.Now().Add(-25 * time.Hour)
	if err := os.Chtimes(filepath.Join(dir, "short.log"), old, old); err != nil {
		t.Fatal(err)
	}
	if data, code, msg := ta.logAnswer(t, "r-expired", "short", false); code != arena.ENOTFOUND || data != "" || !strings.Contains(msg, "no output") {
		t.Fatalf("output past its retention: %q %s %q", data, code, msg)
	}
	if _, err := os.Stat(filepath.Join(dir, "short.log")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("the expired output is still on disk: %v", err)
	}
	ta.PruneArtifacts()
	if _, err := os.Stat(filepath.Join(dir, "long.log")); err != nil {
		t.Fatalf("pruning removed output within its retention: %v", err)
	}
}

// TestNoKeptLogsWithoutArtifactDir: a node that keeps nothing says so.
func TestNoKeptLogsWithoutArtifactDir(t *testing.T) {
	ta := startAgent(t, 0)
	ta.stopped(t, "s", "bye")
	if data, code, msg := ta.logAnswer(t, "r", "s", false); code != arena.ENOTFOUND || data != "" || !strings.Contains(msg, "no output") {
		t.Fatalf("answer %q %s %q", data, code, msg)
	}
}

// TestLeftoverKeepsLogs: a session the control plane gave up on while its
// node was away has its container removed as a leftover when the node is
// back; its output is kept first, for GET /logs to tell why it ended.
func TestLeftoverKeepsLogs(t *testing.T) {
	ta := startAgent(t, 0, func(c *agent.Config) { c.ArtifactDir = t.TempDir() })
	ta.assign(session("lost", false))
	eventually(t, "running", func() bool { return ta.cp.last().State == arena.SessionRunning })
	if err := ta.rt.Write("lost", "last words\n"); err != nil {
		t.Fatal(err)
	}
	ta.cp.assignments <- arena.Assignment{Full: true} // the session is no longer listed
	eventually(t, "the leftover's removal", func() bool { cs, _ := ta.rt.List(context.Background(), "n1"); return len(cs) == 0 })
	if data, code, msg := ta.logAnswer(t, "r", "lost", false); code != "" || !strings.HasSuffix(data, "last words\n") {
		t.Fatalf("answer %q %s %q", data, code, msg)
	}
}

// TestInstallationLabels: an agent adopts and removes only its own
// installation's containers (and unlabelled ones from before the label),
// never another's on the same engine under the same node id.
func TestInstallationLabels(t *testing.T) {
	rt := sim.New()
	put := func(session, installation string) {
		t.Helper()
		labels := map[string]string{arena.LabelNode: "n1", arena.LabelSession: session}
		if installation != "" {
			labels[arena.LabelInstallation] = installation
		}
		if _, err := rt.Start(context.Background(), arena.ContainerSpec{Name: "c-" + session, Image: "img", Labels: labels}); err != nil {
			t.Fatal(err)
		}
	}
	put("theirs", "other")
	put("mine-leftover", "mine")
	put("unlabelled-leftover", "")
	ta := startAgent(t, 0, func(c *agent.Config) { c.Runtime, c.Installation = rt, "mine" })
	present := func(session string) bool {
		cs, _ := rt.List(context.Background(), "n1")
		for _, c := range cs {
			if c.SessionID == session {
				return true
			}
		}
		return false
	}
	eventually(t, "the leftovers' removal", func() bool { return !present("mine-leftover") && !present("unlabelled-leftover") })
	if !present("theirs") {
		t.Fatal("the agent removed another installation's container")
	}
	s := session("s1", false)
	ta.assign(s)
	spec := ta.spec(t, s.ID)
	if got := spec.Labels[arena.LabelInstallation]; got != "mine" {
		t.Fatalf("installation label %q, want mine", got)
	}
}

// TestContainerSpecSecurity: the container runs as the session says, as
// whom and on what filesystem.
func TestContainerSpecSecurity(t *testing.T) {
	tests := []struct {
		name string
		sec  arena.ContainerSecurity
	}{
		{"the image as it is", arena.ContainerSecurity{}},
		{"confined", arena.ContainerSecurity{User: "1000:1000", ReadOnlyRootFS: true, Tmpfs: []string{"/tmp"}}},
	}
	ta := startAgent(t, 0)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := session("s-"+strings.ReplaceAll(tt.name, " ", "-"), false)
			s.Security = tt.sec
			ta.assign(s)
			spec := ta.spec(t, s.ID)
			if !reflect.DeepEqual(spec.Security, tt.sec) {
				t.Fatalf("spec security %+v, want %+v", spec.Security, tt.sec)
			}
		})
	}
}
