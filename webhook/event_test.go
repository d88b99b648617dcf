package webhook

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/arena-hq/arena"
)

func TestSessionEvent(t *testing.T) {
	at := time.Date(2025, 1, 2, 3, 4, 5, 678_000_000, time.FixedZone("CET", 3600))
	base := func(state arena.SessionState, reason arena.StopReason, exit int) *arena.Session {
		return &arena.Session{
			ID: "s1", OrgID: "studio", Application: "echo", Tag: "v1", Location: "eu-ams-1",
			Host: "203.0.113.7", Ports: []arena.Port{{Protocol: "udp", Container: 7777, Host: 32769}},
			Labels: map[string]string{"match": "42"}, Env: map[string]string{"SECRET": "x"},
			State: state, StopReason: reason, ExitCode: exit,
		}
	}
	tests := []struct {
		name string
		sess *arena.Session
		// want is the event's JSON without its id, or "" for no event.
		want string
	}{
		{
			name: "started",
			sess: base(arena.SessionStarted, "", -1),
			want: `{"type":"session.started","at":"2025-01-02T02:04:05.678Z","session":{"id":"s1","status":"created","image":"echo","tag":"v1","location":"eu-ams-1","host":"203.0.113.7","ports":[{"type":"udp","container":7777,"host":32769}],"labels":{"match":"42"}}}`,
		},
		{
			name: "running",
			sess: base(arena.SessionRunning, "", -1),
			want: `{"type":"session.running","at":"2025-01-02T02:04:05.678Z","session":{"id":"s1","status":"running","image":"echo","tag":"v1","location":"eu-ams-1","host":"203.0.113.7","ports":[{"type":"udp","container":7777,"host":32769}],"labels":{"match":"42"}}}`,
		},
		{
			name: "stopped by DELETE",
			sess: base(arena.SessionStopped, arena.StopDeleted, 0),
			want: `{"type":"session.stopped","at":"2025-01-02T02:04:05.678Z","session":{"id":"s1","status":"exited","image":"echo","tag":"v1","location":"eu-ams-1","host":"203.0.113.7","ports":[{"type":"udp","container":7777,"host":32769}],"labels":{"match":"42"},"stopReason":"deleted","exitCode":0}}`,
		},
		{
			name: "lost, exit code unknown",
			sess: base(arena.SessionStopped, arena.StopLost, -1),
			want: `{"type":"session.stopped","at":"2025-01-02T02:04:05.678Z","session":{"id":"s1","status":"dead","image":"echo","tag":"v1","location":"eu-ams-1","host":"203.0.113.7","ports":[{"type":"udp","container":7777,"host":32769}],"labels":{"match":"42"},"stopReason":"lost"}}`,
		},
		{
			name: "failed to start, with why",
			sess: func() *arena.Session {
				s := base(arena.SessionStopped, arena.StopFailed, -1)
				s.StopMessage = "start deadline passed (start timeout 2m0s): the session waited for its turn behind the node's other starts all along"
				return s
			}(),
			want: `{"type":"session.stopped","at":"2025-01-02T02:04:05.678Z","session":{"id":"s1","status":"dead","image":"echo","tag":"v1","location":"eu-ams-1","host":"203.0.113.7","ports":[{"type":"udp","container":7777,"host":32769}],"labels":{"match":"42"},"stopReason":"failed","stopMessage":"start deadline passed (start timeout 2m0s): the session waited for its turn behind the node's other starts all along"}}`,
		},
		{
			name: "unreachable, no ports or labels",
			sess: func() *arena.Session {
				s := base(arena.SessionUnreachable, "", -1)
				s.Ports, s.Labels = nil, nil
				return s
			}(),
			want: `{"type":"session.unreachable","at":"2025-01-02T02:04:05.678Z","session":{"id":"s1","status":"server_unreachable","image":"echo","tag":"v1","location":"eu-ams-1","host":"203.0.113.7","ports":[]}}`,
		},
		{name: "restarting has no event", sess: base(arena.SessionRestarting, "", 1)},
		{name: "stopping has no event", sess: base(arena.SessionStopping, arena.StopDeleted, -1)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e, ok := SessionEvent(tt.sess, at)
			if ok != (tt.want != "") {
				t.Fatalf("SessionEvent ok = %v, want %v", ok, tt.want != "")
			}
			if !ok {
				return
			}
			if e.ID == "" || e.OrgID != "studio" {
				t.Fatalf("event id %q, org %q", e.ID, e.OrgID)
			}
			e.ID = ""
			b, err := json.Marshal(e)
			if err != nil {
				t.Fatal(err)
			}
			// The id is first in the body; drop it to compare the rest.
			got := `{` + string(b)[len(`{"id":"",`):]
			if got != tt.want {
				t.Fatalf("event\n got %s\nwant %s", got, tt.want)
			}
		})
	}
	a, _ := SessionEvent(base(arena.SessionRunning, "", -1), at)
	b, _ := SessionEvent(base(arena.SessionRunning, "", -1), at)
	if a.ID == b.ID {
		t.Fatal("two events have the same id")
	}
}

func TestSessionEventCopies(t *testing.T) {
	s := &arena.Session{ID: "s1", State: arena.SessionRunning, Ports: []arena.Port{{Protocol: "tcp", Container: 1, Host: 2}}, Labels: map[string]string{"a": "b"}}
	e, _ := SessionEvent(s, time.Now())
	// The event is read by other goroutines while the session changes on.
	s.Ports[0].Host = 3
	s.Labels["a"] = "c"
	if e.Session.Ports[0].Host != 2 || e.Session.Labels["a"] != "b" {
		t.Fatalf("the event shares the session's ports or labels: %+v", e.Session)
	}
}
