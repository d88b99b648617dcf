package scheduler

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/arena-hq/arena"
)

// slow is a node's pace that makes one start a second, within two minutes:
// it takes sessions while they would start within a minute, and a new one
// is a QueueStep further behind every five.
var slow = StartPace{Rate: 1, Deadline: 2 * time.Minute}

// placements places n sessions named prefix-0… in ams and returns the
// nodes they went to, in order.
func placements(tb testing.TB, s *Scheduler, prefix string, n int) []string {
	tb.Helper()
	var out []string
	for i := range n {
		out = append(out, place(tb, s, fmt.Sprintf("%s-%d", prefix, i), "ams").Node.ID)
	}
	return out
}

// TestQueuePreference: placement passes over a node a QueueStep or more
// behind with its starts while another of the class has a shorter queue,
// and otherwise keeps its order: bare metal before cloud, then the policy.
func TestQueuePreference(t *testing.T) {
	for _, tc := range []struct {
		name   string
		policy Policy
		nodes  []arena.Node
		paces  map[string]StartPace
		want   string // the nodes of 14 placements in a row, one letter each
	}{
		{
			name:   "pack spills to the shorter queue every step",
			policy: Pack,
			nodes:  []arena.Node{testNode("a", "ams", arena.ClassMetal, 64000, 1000), testNode("b", "ams", arena.ClassMetal, 64000, 1000)},
			paces:  map[string]StartPace{"a": slow, "b": slow},
			// a holds 4 (the 5th would wait 5 s, a step), then b 4, then
			// both one step behind: the busiest, a, up to the next step.
			want: "aaaabbbbaaaaab",
		},
		{
			name:   "a faster node takes more before it is a step behind",
			policy: Spread,
			nodes:  []arena.Node{testNode("a", "ams", arena.ClassMetal, 64000, 1000), testNode("b", "ams", arena.ClassMetal, 64000, 1000)},
			paces:  map[string]StartPace{"a": slow, "b": {Rate: 2, Deadline: 2 * time.Minute}},
			// spread alternates until a, the slower, is a step behind.
			want: "ababababbbbbba",
		},
		{
			name:   "metal before cloud however long its queue",
			policy: Pack,
			nodes:  []arena.Node{testNode("cloud", "ams", arena.ClassCloud, 64000, 1000), testNode("metal", "ams", arena.ClassMetal, 64000, 1000)},
			paces:  map[string]StartPace{"cloud": slow, "metal": slow},
			want:   strings.Repeat("m", 14),
		},
		{
			name:   "cloud once metal could not start it in time",
			policy: Pack,
			nodes:  []arena.Node{testNode("cloud", "ams", arena.ClassCloud, 64000, 1000), testNode("metal", "ams", arena.ClassMetal, 64000, 1000)},
			// Metal starts a session within 10 s: 4 in its queue at most.
			paces: map[string]StartPace{"cloud": slow, "metal": {Rate: 0.5, Deadline: 20 * time.Second}},
			want:  "mmmmm" + strings.Repeat("c", 9),
		},
		{
			name:   "a node that does not pace its starts is never behind",
			policy: Pack,
			nodes:  []arena.Node{testNode("a", "ams", arena.ClassMetal, 64000, 1000), testNode("b", "ams", arena.ClassMetal, 64000, 1000)},
			paces:  map[string]StartPace{"b": slow},
			want:   strings.Repeat("a", 14),
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := New(tc.policy)
			for _, n := range tc.nodes {
				s.UpsertNode(n, true)
			}
			for id, p := range tc.paces {
				s.SetStartPace(id, p)
			}
			var got strings.Builder
			for _, id := range placements(t, s, "s", 14) {
				got.WriteByte(id[0])
			}
			if got.String() != tc.want {
				t.Errorf("placed on %s, want %s", got.String(), tc.want)
			}
			checkInvariants(t, s, true)
		})
	}
}

// TestStartDoneShortensTheQueue: a session its node has started, or that
// is released, or restored as running, no longer counts in the queue.
func TestStartDoneShortensTheQueue(t *testing.T) {
	s := New(Pack)
	s.UpsertNode(testNode("a", "ams", arena.ClassMetal, 64000, 1000), true)
	s.UpsertNode(testNode("b", "ams", arena.ClassMetal, 64000, 1000), true)
	s.SetStartPace("a", slow)
	s.SetStartPace("b", slow)
	if got := placements(t, s, "s", 5); got[4] != "b" {
		t.Fatalf("placed on %v, want the fifth on b", got)
	}
	s.StartDone("s-0")
	s.StartDone("s-0")
	s.Release("s-1")
	if got := place(t, s, "next", "ams").Node.ID; got != "a" {
		t.Errorf("placed on %s, want a, whose queue is short again", got)
	}
	// Restored sessions count as their state says.
	s.Restore(&arena.Session{ID: "r-started", NodeID: "b", State: arena.SessionStarted, Resources: oneCore})
	s.Restore(&arena.Session{ID: "r-running", NodeID: "b", State: arena.SessionRunning, RunningAt: time.Now(), Resources: oneCore})
	s.Restore(&arena.Session{ID: "r-stopping", NodeID: "b", State: arena.SessionStopping, Resources: oneCore})
	for _, u := range s.Nodes() {
		want := map[string]int{"a": 3, "b": 2}[u.ID]
		if u.Pending != want {
			t.Errorf("node %s: %d pending, want %d", u.ID, u.Pending, want)
		}
		if u.StartWait != time.Duration(want+1)*time.Second {
			t.Errorf("node %s: start wait %s, want %ds", u.ID, u.StartWait, want+1)
		}
	}
	checkInvariants(t, s, true)
}

// TestTooFarBehind: when every node with room would start a new session
// past half its start deadline, placement refuses it as unavailable for
// the moment, saying when the first of them catches up; full nodes say
// nothing of when.
func TestTooFarBehind(t *testing.T) {
	s := New(Pack)
	s.UpsertNode(testNode("a", "ams", arena.ClassMetal, 64000, 1000), true)
	s.UpsertNode(testNode("b", "ams", arena.ClassMetal, 64000, 1000), true)
	// Within 10 s, at a start every 2 s: 5 sessions each (the 5th waits 10 s).
	s.SetStartPace("a", StartPace{Rate: 0.5, Deadline: 20 * time.Second})
	// b is slower still: 2 sessions (the 3rd would wait 12 s).
	s.SetStartPace("b", StartPace{Rate: 0.25, Deadline: 20 * time.Second})
	placements(t, s, "s", 7)
	_, err := s.Place(Request{SessionID: "late", Location: "ams", Resources: oneCore, Ports: twoPorts})
	var ae *arena.Error
	if !errors.As(err, &ae) || ae.Code != arena.EUNAVAILABLE || !strings.Contains(ae.Message, "too far behind") {
		t.Fatalf("got %v, want unavailable: too far behind", err)
	}
	// a would start one more in 12 s, 2 s past its bound; b in 12 s, 2 s too.
	if ae.RetryAfter != 2*time.Second {
		t.Errorf("retry after %s, want 2s", ae.RetryAfter)
	}
	if locs := s.AvailableLocations(oneCore, 2, nil); len(locs) != 0 {
		t.Errorf("available locations %+v, want none while every node is behind", locs)
	}
	s.StartDone("s-0")
	if got := place(t, s, "caught-up", "ams").Node.ID; got != "a" {
		t.Errorf("placed on %s, want a once it started one", got)
	}

	full := New(Pack)
	full.UpsertNode(testNode("a", "ams", arena.ClassMetal, 1000, 1000), true)
	full.SetStartPace("a", slow)
	place(t, full, "only", "ams")
	_, err = full.Place(Request{SessionID: "more", Location: "ams", Resources: oneCore, Ports: twoPorts})
	if !errors.As(err, &ae) || ae.Code != arena.EUNAVAILABLE || ae.RetryAfter != 0 {
		t.Errorf("a full node: got %v, want unavailable with no time to retry after", err)
	}
	checkInvariants(t, s, true)
}

// TestSetStartPaceBounds: what an agent says is brought within bounds.
func TestSetStartPaceBounds(t *testing.T) {
	s := New(Pack)
	s.UpsertNode(testNode("a", "ams", arena.ClassMetal, 64000, 1000), true)
	for _, tc := range []struct {
		name string
		in   StartPace
		want time.Duration // start wait of one session
	}{
		{"negative rate: the default", StartPace{Rate: -3, Deadline: time.Minute}, time.Second},
		{"rate past the bound", StartPace{Rate: 1e12, Deadline: time.Minute}, time.Second / arena.MaxStartRate},
		{"no deadline paces nothing", StartPace{Rate: 1, Deadline: -time.Second}, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s.SetStartPace("a", tc.in)
			if got := s.Nodes()[0].StartWait; got != tc.want {
				t.Errorf("start wait %s, want %s", got, tc.want)
			}
		})
	}
	s.SetStartPace("unknown", slow) // ignored
}
