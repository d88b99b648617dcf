package arena_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/arena-hq/arena"
)

func TestTransitions(t *testing.T) {
	all := []arena.SessionState{arena.SessionStarted, arena.SessionRunning, arena.SessionRestarting,
		arena.SessionStopping, arena.SessionStopped, arena.SessionUnreachable}
	allowed := map[[2]arena.SessionState]bool{}
	for _, p := range [][2]arena.SessionState{
		{arena.SessionStarted, arena.SessionRunning}, {arena.SessionStarted, arena.SessionStopping},
		{arena.SessionStarted, arena.SessionStopped}, {arena.SessionStarted, arena.SessionUnreachable},
		{arena.SessionRunning, arena.SessionRestarting}, {arena.SessionRunning, arena.SessionStopping},
		{arena.SessionRunning, arena.SessionStopped}, {arena.SessionRunning, arena.SessionUnreachable},
		{arena.SessionRestarting, arena.SessionRunning}, {arena.SessionRestarting, arena.SessionStopping},
		{arena.SessionRestarting, arena.SessionStopped}, {arena.SessionRestarting, arena.SessionUnreachable},
		{arena.SessionStopping, arena.SessionStopped}, {arena.SessionStopping, arena.SessionUnreachable},
		{arena.SessionUnreachable, arena.SessionStarted}, {arena.SessionUnreachable, arena.SessionRunning},
		{arena.SessionUnreachable, arena.SessionRestarting}, {arena.SessionUnreachable, arena.SessionStopping},
		{arena.SessionUnreachable, arena.SessionStopped},
	} {
		allowed[p] = true
	}
	for _, from := range all {
		for _, to := range all {
			if from == to {
				continue
			}
			t.Run(fmt.Sprintf("%s to %s", from, to), func(t *testing.T) {
				s := &arena.Session{ID: "s", State: from}
				err := s.Transition(to, time.Unix(100, 0))
				if want := allowed[[2]arena.SessionState{from, to}]; (err == nil) != want {
					t.Fatalf("allowed %v, got error %v", want, err)
				}
				if err != nil && (arena.ErrorCode(err) != arena.ECONFLICT || s.State != from) {
					t.Fatalf("refused transition: %v, state %s", err, s.State)
				}
			})
		}
	}
}

func TestTransitionTimes(t *testing.T) {
	s := &arena.Session{ID: "s", State: arena.SessionStarted}
	t1, t2, t3 := time.Unix(10, 0), time.Unix(20, 0), time.Unix(30, 0)
	for _, step := range []struct {
		to arena.SessionState
		at time.Time
	}{{arena.SessionRunning, t1}, {arena.SessionRestarting, t2}, {arena.SessionRunning, t2}, {arena.SessionStopped, t3}} {
		if err := s.Transition(step.to, step.at); err != nil {
			t.Fatal(err)
		}
	}
	// Billing starts at the first run, not at a restart.
	if !s.RunningAt.Equal(t1) || !s.StoppedAt.Equal(t3) {
		t.Fatalf("running at %v, stopped at %v", s.RunningAt, s.StoppedAt)
	}
	if got := s.BilledSeconds(time.Unix(1000, 0)); got != 20 {
		t.Fatalf("billed %d seconds, want 20", got)
	}
}

func TestBilledSeconds(t *testing.T) {
	start := time.Unix(1000, 0)
	tests := []struct {
		name    string
		running time.Time
		stopped time.Time
		now     time.Time
		want    int64
	}{
		{"never ran", time.Time{}, start, start.Add(time.Hour), 0},
		{"whole seconds", start, start.Add(90 * time.Second), start.Add(time.Hour), 90},
		{"a started second counts", start, start.Add(90*time.Second + time.Millisecond), start, 91},
		{"still running", start, time.Time{}, start.Add(5 * time.Second), 5},
		{"clock went back", start, start.Add(-time.Second), start, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := &arena.Session{RunningAt: tt.running, StoppedAt: tt.stopped}
			if got := s.BilledSeconds(tt.now); got != tt.want {
				t.Fatalf("got %d, want %d", got, tt.want)
			}
		})
	}
}

func TestStatus(t *testing.T) {
	tests := []struct {
		state  arena.SessionState
		reason arena.StopReason
		want   string
	}{
		{arena.SessionStarted, "", "created"},
		{arena.SessionRunning, "", "running"},
		{arena.SessionRestarting, "", "restarting"},
		{arena.SessionStopping, arena.StopTTL, "shuttingdown"},
		{arena.SessionUnreachable, "", "server_unreachable"},
		{arena.SessionStopped, arena.StopDeleted, "exited"},
		{arena.SessionStopped, arena.StopExited, "exited"},
		{arena.SessionStopped, arena.StopCrashLoop, "dead"},
		{arena.SessionStopped, arena.StopFailed, "dead"},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%s %s", tt.state, tt.reason), func(t *testing.T) {
			s := &arena.Session{State: tt.state, StopReason: tt.reason}
			if got := s.Status(); got != tt.want {
				t.Fatalf("got %q, want %q", got, tt.want)
			}
		})
	}
}

func TestValidate(t *testing.T) {
	valid := func() arena.SessionRequest {
		return arena.SessionRequest{Location: "europe", Image: "game"}
	}
	tests := []struct {
		name   string
		modify func(r *arena.SessionRequest)
		fields []string
	}{
		{"valid", func(r *arena.SessionRequest) {}, nil},
		{"everything set", func(r *arena.SessionRequest) {
			r.ID, r.Version, r.TTL, r.Restart = "a-1_b.c", "v1", time.Hour, true
			r.Env, r.Args, r.Labels = map[string]string{"A_B": "1"}, []string{"--x"}, map[string]string{"k": `{"json":1}`}
		}, nil},
		{"missing location and image", func(r *arena.SessionRequest) { r.Location, r.Image = "", "" }, []string{"location", "image"}},
		{"bad id", func(r *arena.SessionRequest) { r.ID = "-x" }, []string{"id"}},
		{"long id", func(r *arena.SessionRequest) { r.ID = strings.Repeat("a", arena.MaxIDLength+1) }, []string{"id"}},
		{"bad env name", func(r *arena.SessionRequest) { r.Env = map[string]string{"1X": "v"} }, []string{"env.1X"}},
		{"too many args", func(r *arena.SessionRequest) { r.Args = make([]string, arena.MaxArgs+1) }, []string{"args"}},
		{"long arg", func(r *arena.SessionRequest) { r.Args = []string{strings.Repeat("a", arena.MaxArgBytes+1)} }, []string{"args[0]"}},
		{"long label", func(r *arena.SessionRequest) {
			r.Labels = map[string]string{"k": strings.Repeat("a", arena.MaxLabelValBytes+1)}
		}, []string{"labels.k"}},
		{"negative ttl", func(r *arena.SessionRequest) { r.TTL = -time.Second }, []string{"ttl"}},
		{"ttl too long", func(r *arena.SessionRequest) { r.TTL = arena.MaxTTL + time.Second }, []string{"ttl"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := valid()
			tt.modify(&r)
			checkViolations(t, r.Validate(), tt.fields)
		})
	}
}

func TestFilterMatch(t *testing.T) {
	s := &arena.Session{Application: "game", Tag: "v1", Location: "ams", Region: "europe", Host: "1.2.3.4", ExternalID: "match-1",
		State: arena.SessionRunning, Labels: map[string]string{"mode": "ranked"}, Players: []string{"a", "b"}}
	n := func(v int) *int { return &v }
	tests := []struct {
		name string
		f    arena.SessionFilter
		want bool
	}{
		{"empty", arena.SessionFilter{}, true},
		{"location", arena.SessionFilter{Location: "ams"}, true},
		{"region", arena.SessionFilter{Location: "europe"}, true},
		{"other location", arena.SessionFilter{Location: "fra"}, false},
		{"image and tag", arena.SessionFilter{Image: "game", Tag: "v1"}, true},
		{"other tag", arena.SessionFilter{Tag: "v2"}, false},
		{"host", arena.SessionFilter{Host: "1.2.3.4"}, true},
		{"external id", arena.SessionFilter{ExternalID: "match-1"}, true},
		{"other external id", arena.SessionFilter{ExternalID: "match-2"}, false},
		{"label", arena.SessionFilter{Labels: map[string]string{"mode": "ranked"}}, true},
		{"other label value", arena.SessionFilter{Labels: map[string]string{"mode": "casual"}}, false},
		{"missing label", arena.SessionFilter{Labels: map[string]string{"map": "x"}}, false},
		{"fewer players than 3", arena.SessionFilter{PlayerCountLT: n(3)}, true},
		{"fewer players than 2", arena.SessionFilter{PlayerCountLT: n(2)}, false},
		{"more players than 1", arena.SessionFilter{PlayerCountGT: n(1)}, true},
		{"more players than 2", arena.SessionFilter{PlayerCountGT: n(2)}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.f.Match(s); got != tt.want {
				t.Fatalf("got %v, want %v", got, tt.want)
			}
		})
	}
	stopped := s.Clone()
	stopped.State = arena.SessionStopped
	if (&arena.SessionFilter{}).Match(stopped) || !(&arena.SessionFilter{All: true}).Match(stopped) {
		t.Fatal("stopped sessions must match only with All")
	}
}

func TestClone(t *testing.T) {
	s := &arena.Session{Env: map[string]string{"a": "1"}, Labels: map[string]string{"l": "1"}, Args: []string{"x"},
		Ports: []arena.Port{{Host: 1}}, Players: []string{"p"}, Security: arena.ContainerSecurity{Tmpfs: []string{"/tmp"}}}
	c := s.Clone()
	c.Env["a"], c.Labels["l"], c.Args[0], c.Ports[0].Host, c.Players[0], c.Security.Tmpfs[0] = "2", "2", "y", 2, "q", "/run"
	if s.Env["a"] != "1" || s.Labels["l"] != "1" || s.Args[0] != "x" || s.Ports[0].Host != 1 || s.Players[0] != "p" || s.Security.Tmpfs[0] != "/tmp" {
		t.Fatalf("the clone shares memory with the original: %+v", s)
	}
}

func TestDefaultTag(t *testing.T) {
	tests := []struct {
		name string
		tags []arena.Tag
		want string
	}{
		{"none", nil, ""},
		{"highest priority", []arena.Tag{{Name: "a", Priority: 1}, {Name: "b", Priority: 5}, {Name: "c", Priority: 3}}, "b"},
		{"first on a tie", []arena.Tag{{Name: "a", Priority: 2}, {Name: "b", Priority: 2}}, "a"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			app := &arena.Application{Tags: tt.tags}
			got, ok := app.DefaultTag()
			if got != tt.want || ok != (tt.want != "") {
				t.Fatalf("got %q %v, want %q", got, ok, tt.want)
			}
		})
	}
}

func TestErrors(t *testing.T) {
	wrapped := fmt.Errorf("placing: %w", arena.Errorf(arena.EUNAVAILABLE, "full"))
	tests := []struct {
		name      string
		err       error
		code, msg string
	}{
		{"nil", nil, "", "internal error"},
		{"arena error", arena.Errorf(arena.ENOTFOUND, "no %s", "x"), arena.ENOTFOUND, "no x"},
		{"wrapped", wrapped, arena.EUNAVAILABLE, "full"},
		{"plain error", errors.New("disk on fire"), arena.EINTERNAL, "internal error"},
		{"internal keeps its cause private", arena.Internal(errors.New("disk on fire"), "saving"), arena.EINTERNAL, "internal error while saving"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := arena.ErrorCode(tt.err); got != tt.code {
				t.Errorf("code %q, want %q", got, tt.code)
			}
			if tt.err != nil {
				if got := arena.ErrorMessage(tt.err); got != tt.msg {
					t.Errorf("message %q, want %q", got, tt.msg)
				}
			}
		})
	}
}

func TestTokens(t *testing.T) {
	a, b := arena.NewTokenSecret(), arena.NewTokenSecret()
	if a == b || len(a) < 40 {
		t.Fatalf("weak secrets %q %q", a, b)
	}
	first, again := arena.HashToken(a), arena.HashToken(a)
	if first == a || first != again || first == arena.HashToken(b) {
		t.Fatal("hashes must be stable, distinct and not the secret")
	}
	now := time.Unix(100, 0)
	if (&arena.Token{}).Expired(now) || !(&arena.Token{ExpiresAt: now}).Expired(now) {
		t.Fatal("expiry")
	}
}

func TestPortEnv(t *testing.T) {
	if got := arena.PortEnv(arena.Port{Protocol: arena.UDP, Container: 7777, Host: 1}); got != "GAMEYE_PORT_UDP_7777" {
		t.Fatalf("got %q", got)
	}
}

func TestFingerprint(t *testing.T) {
	base := arena.SessionRequest{ID: "a", Location: "eu", Image: "game", Env: map[string]string{"X": "1", "Y": "2"}}
	same := base
	same.Env = map[string]string{"Y": "2", "X": "1"}
	same.Labels, same.Args = map[string]string{}, []string{}
	if base.Fingerprint() != same.Fingerprint() {
		t.Fatal("key order or empty versus absent changed the fingerprint")
	}
	for name, change := range map[string]func(r *arena.SessionRequest){
		"id":          func(r *arena.SessionRequest) { r.ID = "b" },
		"env":         func(r *arena.SessionRequest) { r.Env = map[string]string{"X": "1"} },
		"args":        func(r *arena.SessionRequest) { r.Args = []string{"--x"} },
		"ttl":         func(r *arena.SessionRequest) { r.TTL = time.Second },
		"restart":     func(r *arena.SessionRequest) { r.Restart = true },
		"version":     func(r *arena.SessionRequest) { r.Version = "v2" },
		"external id": func(r *arena.SessionRequest) { r.ExternalID = "match-1" },
	} {
		t.Run(name, func(t *testing.T) {
			other := base
			change(&other)
			if other.Fingerprint() == base.Fingerprint() {
				t.Fatal("a different request has the same fingerprint")
			}
		})
	}
}

// TestFingerprintIsStable pins the fingerprint of a request: sessions keep
// the fingerprint of the request that made them in the store, so a change
// here would turn a retried create after an upgrade into a 409.
func TestFingerprintIsStable(t *testing.T) {
	r := arena.SessionRequest{ID: "a", Location: "eu", Image: "game", Version: "v1", Env: map[string]string{"X": "1"},
		Labels: map[string]string{"m": "d"}, Args: []string{"--x"}, TTL: 30 * time.Minute, Restart: true}
	const want = "9eca72a4fa937101ade681f2342216558c97044487b1a8f9ea5daf660bb550d8"
	if got := r.Fingerprint(); got != want {
		t.Fatalf("fingerprint %s, want %s as stored by earlier versions", got, want)
	}
}
