package scheduler

import (
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/arena-hq/arena"
)

var halfCore = arena.Resources{MilliCPU: 500, MemoryMB: 500}

// placeFor places a session of org, failing tb on an error.
func placeFor(tb testing.TB, s *Scheduler, org, id string, res arena.Resources) {
	tb.Helper()
	if _, err := s.Place(Request{SessionID: id, OrgID: org, Location: "ams", Resources: res, Ports: twoPorts}); err != nil {
		tb.Fatalf("place %s of %s: %v", id, org, err)
	}
}

func TestPlaceQuota(t *testing.T) {
	type prefill struct {
		org   string
		count int
		res   arena.Resources
	}
	tests := []struct {
		name  string
		quota arena.Quota
		// cpu is the node's capacity; 100 cores when zero.
		cpu     int64
		prefill []prefill
		// lowered is a quota set after the prefill, when not nil.
		lowered *arena.Quota
		res     arena.Resources
		code    string
		// message is part of the error's message.
		message string
	}{
		{name: "no quota", prefill: []prefill{{"acme", 50, oneCore}}, res: oneCore},
		{name: "under maxSessions", quota: arena.Quota{MaxSessions: 3}, prefill: []prefill{{"acme", 2, oneCore}}, res: oneCore},
		{
			name: "at maxSessions", quota: arena.Quota{MaxSessions: 2}, prefill: []prefill{{"acme", 2, oneCore}}, res: oneCore,
			code: arena.EQUOTA, message: "maxSessions of 2",
		},
		{name: "maxMilliCpu met exactly", quota: arena.Quota{MaxMilliCPU: 2500}, prefill: []prefill{{"acme", 2, oneCore}}, res: halfCore},
		{
			name: "past maxMilliCpu", quota: arena.Quota{MaxMilliCPU: 2500}, prefill: []prefill{{"acme", 2, oneCore}}, res: oneCore,
			code: arena.EQUOTA, message: "maxMilliCpu of 2500 (2000 reserved)",
		},
		{
			name: "a session larger than maxMilliCpu on its own", quota: arena.Quota{MaxMilliCPU: 999}, res: oneCore,
			code: arena.EQUOTA, message: "maxMilliCpu of 999",
		},
		{
			name: "both bounds, sessions reached first", quota: arena.Quota{MaxSessions: 1, MaxMilliCPU: 10_000},
			prefill: []prefill{{"acme", 1, oneCore}}, res: oneCore, code: arena.EQUOTA, message: "maxSessions of 1",
		},
		{
			name: "another organisation's sessions do not count", quota: arena.Quota{MaxSessions: 1, MaxMilliCPU: 1000},
			prefill: []prefill{{"other", 5, oneCore}}, res: oneCore,
		},
		{
			name: "the quota is decided before capacity", quota: arena.Quota{MaxSessions: 2}, cpu: 2000,
			prefill: []prefill{{"acme", 2, oneCore}}, res: oneCore, code: arena.EQUOTA, message: "maxSessions of 2",
		},
		{
			name: "capacity still bounds an organisation under its quota", quota: arena.Quota{MaxSessions: 10}, cpu: 2000,
			prefill: []prefill{{"acme", 2, oneCore}}, res: oneCore, code: arena.EUNAVAILABLE,
		},
		{
			name: "a lowered quota refuses new sessions", quota: arena.Quota{MaxSessions: 10},
			prefill: []prefill{{"acme", 3, oneCore}}, lowered: &arena.Quota{MaxSessions: 2}, res: oneCore,
			code: arena.EQUOTA, message: "3 active sessions",
		},
		{
			name: "a cleared quota bounds nothing", quota: arena.Quota{MaxSessions: 1},
			prefill: []prefill{{"acme", 1, oneCore}}, lowered: &arena.Quota{}, res: oneCore,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cpu := tt.cpu
			if cpu == 0 {
				cpu = 100_000
			}
			s := New(Pack)
			s.UpsertNode(testNode("a", "ams", arena.ClassMetal, cpu, 1000), true)
			s.SetQuota("acme", tt.quota)
			for _, p := range tt.prefill {
				for i := range p.count {
					placeFor(t, s, p.org, fmt.Sprintf("%s-%d", p.org, i), p.res)
				}
			}
			if tt.lowered != nil {
				s.SetQuota("acme", *tt.lowered)
			}
			before := s.Usage("acme")
			_, err := s.Place(Request{SessionID: "new", OrgID: "acme", Location: "ams", Resources: tt.res, Ports: twoPorts})
			if code := arena.ErrorCode(err); code != tt.code {
				t.Fatalf("Place: %v (code %q), want code %q", err, code, tt.code)
			}
			if !strings.Contains(arena.ErrorMessage(err), tt.message) {
				t.Errorf("message %q does not say %q", arena.ErrorMessage(err), tt.message)
			}
			want := before
			if tt.code == "" {
				want = arena.QuotaUsage{Sessions: before.Sessions + 1, MilliCPU: before.MilliCPU + tt.res.MilliCPU}
			}
			if got := s.Usage("acme"); got != want {
				t.Errorf("usage after Place: %+v, want %+v", got, want)
			}
			checkInvariants(t, s, true)
		})
	}
}

func TestQuotaUsage(t *testing.T) {
	restored := func(id, org string) *arena.Session {
		return &arena.Session{ID: id, OrgID: org, NodeID: "a", Resources: oneCore}
	}
	tests := []struct {
		name string
		do   func(t *testing.T, s *Scheduler)
		want arena.QuotaUsage
	}{
		{"unknown organisation", func(*testing.T, *Scheduler) {}, arena.QuotaUsage{}},
		{"placed", func(t *testing.T, s *Scheduler) {
			placeFor(t, s, "acme", "s1", oneCore)
			placeFor(t, s, "acme", "s2", halfCore)
		}, arena.QuotaUsage{Sessions: 2, MilliCPU: 1500}},
		{"released, twice", func(t *testing.T, s *Scheduler) {
			placeFor(t, s, "acme", "s1", oneCore)
			placeFor(t, s, "acme", "s2", halfCore)
			s.Release("s1")
			s.Release("s1")
		}, arena.QuotaUsage{Sessions: 1, MilliCPU: 500}},
		{"a refused placement holds nothing", func(t *testing.T, s *Scheduler) {
			if _, err := s.Place(Request{SessionID: "s1", OrgID: "acme", Location: "nowhere", Resources: oneCore}); arena.ErrorCode(err) != arena.EUNAVAILABLE {
				t.Fatalf("Place: %v", err)
			}
		}, arena.QuotaUsage{}},
		{"restored past the quota, never refused", func(t *testing.T, s *Scheduler) {
			s.SetQuota("acme", arena.Quota{MaxSessions: 1, MaxMilliCPU: 1000})
			for _, id := range []string{"r1", "r2", "r3"} {
				if err := s.Restore(restored(id, "acme")); err != nil {
					t.Fatalf("Restore %s: %v", id, err)
				}
			}
			if err := s.Restore(restored("r1", "acme")); err != nil {
				t.Fatalf("Restore again: %v", err)
			}
		}, arena.QuotaUsage{Sessions: 3, MilliCPU: 3000}},
		{"restored on an unknown node counts nothing", func(t *testing.T, s *Scheduler) {
			sess := restored("r1", "acme")
			sess.NodeID = "gone"
			if err := s.Restore(sess); arena.ErrorCode(err) != arena.ENOTFOUND {
				t.Fatalf("Restore: %v", err)
			}
		}, arena.QuotaUsage{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := New(Pack)
			s.UpsertNode(testNode("a", "ams", arena.ClassMetal, 100_000, 1000), true)
			tt.do(t, s)
			if got := s.Usage("acme"); got != tt.want {
				t.Fatalf("Usage = %+v, want %+v", got, tt.want)
			}
			checkInvariants(t, s, false)
		})
	}
}

// TestQuotaAfterRestore refuses new sessions while restored ones hold the
// whole quota, and takes one again once enough of them are released.
func TestQuotaAfterRestore(t *testing.T) {
	s := New(Pack)
	s.UpsertNode(testNode("a", "ams", arena.ClassMetal, 100_000, 1000), true)
	s.SetQuota("acme", arena.Quota{MaxSessions: 2})
	for _, id := range []string{"r1", "r2", "r3"} {
		if err := s.Restore(&arena.Session{ID: id, OrgID: "acme", NodeID: "a", Resources: oneCore}); err != nil {
			t.Fatal(err)
		}
	}
	for _, release := range []string{"", "r1", "r2"} {
		if release != "" {
			s.Release(release)
		}
		_, err := s.Place(Request{SessionID: "new", OrgID: "acme", Location: "ams", Resources: oneCore})
		if release != "r2" && arena.ErrorCode(err) != arena.EQUOTA {
			t.Fatalf("after releasing %q: %v, want EQUOTA", release, err)
		}
		if release == "r2" && err != nil {
			t.Fatalf("after releasing down to one session: %v", err)
		}
	}
}

// TestConcurrentQuota races 200 requests of one organisation, with room for
// all on the node, against a quota of ten: exactly ten must win. Releasing
// one makes room for exactly one more.
func TestConcurrentQuota(t *testing.T) {
	tests := []struct {
		name  string
		quota arena.Quota
	}{
		{"maxSessions", arena.Quota{MaxSessions: 10}},
		{"maxMilliCpu", arena.Quota{MaxMilliCPU: 10 * oneCore.MilliCPU}},
		{"both", arena.Quota{MaxSessions: 10, MaxMilliCPU: 10 * oneCore.MilliCPU}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := New(Pack)
			s.UpsertNode(testNode("a", "ams", arena.ClassMetal, 1_000_000, 1000), true)
			s.SetQuota("acme", tt.quota)
			var (
				wg     sync.WaitGroup
				mu     sync.Mutex
				placed []string
				quota  int
			)
			start := make(chan struct{})
			for i := range 200 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					id := fmt.Sprintf("s%d", i)
					<-start
					_, err := s.Place(Request{SessionID: id, OrgID: "acme", Location: "ams", Resources: oneCore, Ports: twoPorts})
					mu.Lock()
					defer mu.Unlock()
					switch arena.ErrorCode(err) {
					case "":
						placed = append(placed, id)
					case arena.EQUOTA:
						quota++
					default:
						t.Errorf("place %s: %v", id, err)
					}
				}()
			}
			close(start)
			wg.Wait()
			if len(placed) != 10 || quota != 190 {
				t.Fatalf("placed %d and refused %d for the quota, want 10 and 190", len(placed), quota)
			}
			if got, want := s.Usage("acme"), (arena.QuotaUsage{Sessions: 10, MilliCPU: 10_000}); got != want {
				t.Fatalf("Usage = %+v, want %+v", got, want)
			}
			checkInvariants(t, s, true)

			s.Release(placed[0])
			if _, err := s.Place(Request{SessionID: "again", OrgID: "acme", Location: "ams", Resources: oneCore, Ports: twoPorts}); err != nil {
				t.Fatalf("after a release: %v", err)
			}
			if _, err := s.Place(Request{SessionID: "more", OrgID: "acme", Location: "ams", Resources: oneCore, Ports: twoPorts}); arena.ErrorCode(err) != arena.EQUOTA {
				t.Fatalf("one past the quota again: %v, want EQUOTA", err)
			}
			checkInvariants(t, s, true)
		})
	}
}
