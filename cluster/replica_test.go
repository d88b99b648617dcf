package cluster

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	nethttp "net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// fakeControlPlane is the control plane of one term: it answers with the
// term's epoch.
type fakeControlPlane struct {
	term *fakeTerm
	// closed tells that Close was called; resignedFirst that the term had
	// been resigned by then.
	closed, resignedFirst atomic.Bool
}

func (cp *fakeControlPlane) ServeHTTP(w nethttp.ResponseWriter, r *nethttp.Request) {
	fmt.Fprintf(w, "term %d serves", cp.term.Epoch())
}

func (cp *fakeControlPlane) Close() {
	cp.resignedFirst.Store(cp.term.resigned.Load())
	cp.closed.Store(true)
}

// served is one call of Config.Serve.
type served struct {
	cp    *fakeControlPlane
	later bool
	// closed tells that cp, or the one served before a nil, was closed
	// by then.
	closed bool
}

// testReplica is a replica over loopback, with its control planes.
type testReplica struct {
	*Replica
	url string

	mu     sync.Mutex
	built  []*fakeControlPlane
	served []served
}

// startReplica starts a replica on l; fail, when not nil, fails the build
// of the terms it returns an error for.
func startReplica(tb testing.TB, l *fakeLeases, fail func(epoch int64) error) (*testReplica, error) {
	tb.Helper()
	tr := &testReplica{}
	rep, err := Start(context.Background(), Config{
		Elector: l, Self: self, Logger: slog.New(slog.DiscardHandler),
		Build: func(t Term) (ControlPlane, error) {
			if fail != nil {
				if err := fail(t.Epoch()); err != nil {
					return nil, err
				}
			}
			cp := &fakeControlPlane{term: t.(*fakeTerm)}
			tr.mu.Lock()
			tr.built = append(tr.built, cp)
			tr.mu.Unlock()
			return cp, nil
		},
		Serve: func(c ControlPlane, later bool) {
			tr.mu.Lock()
			defer tr.mu.Unlock()
			s := served{later: later}
			if c != nil {
				s.cp = c.(*fakeControlPlane)
				s.closed = s.cp.closed.Load()
			} else if n := len(tr.served); n > 0 && tr.served[n-1].cp != nil {
				s.closed = tr.served[n-1].cp.closed.Load()
			}
			tr.served = append(tr.served, s)
		},
	})
	if err != nil {
		return nil, err
	}
	tr.Replica = rep
	srv := httptest.NewServer(rep)
	tr.url = srv.URL
	tb.Cleanup(func() { rep.Close(); srv.Close() })
	return tr, nil
}

// serves returns the calls of Serve so far.
func (tr *testReplica) serves() []served {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	return append([]served(nil), tr.served...)
}

// controlPlane is the i-th control plane built.
func (tr *testReplica) controlPlane(i int) *fakeControlPlane {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	return tr.built[i]
}

// leads waits until the replica serves with the control plane of epoch,
// which it won by campaigning.
func (tr *testReplica) leads(tb testing.TB, epoch int64) {
	tb.Helper()
	var s served
	eventually(tb, fmt.Sprintf("serving with the control plane of term %d", epoch), func() bool {
		for _, s = range tr.serves() {
			if s.cp != nil && s.cp.term.Epoch() == epoch {
				return true
			}
		}
		return false
	})
	if !s.later {
		tb.Errorf("the control plane of term %d was served as Start's", epoch)
	}
}

// follows waits until the replica no longer serves with cp, and checks
// that it closed cp after that and before it resigned cp's term.
func (tr *testReplica) follows(tb testing.TB, cp *fakeControlPlane) {
	tb.Helper()
	var after served
	eventually(tb, "serving with no control plane", func() bool {
		s := tr.serves()
		for i := range s {
			if s[i].cp == cp && i+1 < len(s) {
				after = s[i+1]
				return true
			}
		}
		return false
	})
	if after.cp != nil {
		tb.Fatalf("served %+v after the control plane, want nil first", after)
	}
	if after.closed {
		tb.Error("the control plane was closed before the replica stopped serving with it")
	}
	eventually(tb, "the control plane closing", cp.closed.Load)
	eventually(tb, "the term resigning", cp.term.resigned.Load)
	if cp.resignedFirst.Load() {
		tb.Error("the term was resigned before its control plane closed")
	}
}

// get answers GET path at the replica.
func (tr *testReplica) get(tb testing.TB, path string) string {
	tb.Helper()
	a := await(tb, send("GET", tr.url+path, ""))
	if a.status != nethttp.StatusOK {
		tb.Fatalf("GET %s: %d %s", path, a.status, a.body)
	}
	return a.body
}

func TestReplicaStart(t *testing.T) {
	errBuild := errors.New("the config's applications do not sync")
	errStore := errors.New("the database does not answer")
	cases := []struct {
		name string
		// status is who leads at the start, given another replica.
		status  func(other string) LeaderStatus
		tryErr  error
		fail    func(epoch int64) error
		wantErr error
		// answer is what a request is answered with once started.
		answer string
		// leads tells that Start returns leading.
		leads bool
	}{
		{
			name:   "a lead that is free",
			status: func(string) LeaderStatus { return LeaderStatus{} },
			leads:  true, answer: "term 1 serves",
		},
		{
			name:   "a lead whose lease expired",
			status: func(other string) LeaderStatus { return LeaderStatus{URL: other, Epoch: 4} },
			leads:  true, answer: "term 5 serves",
		},
		{
			name:   "a lead another replica holds",
			status: func(other string) LeaderStatus { return LeaderStatus{URL: other, Epoch: 4, Held: true} },
			answer: `other got ""`,
		},
		{
			name:    "a control plane that cannot be built",
			status:  func(string) LeaderStatus { return LeaderStatus{} },
			fail:    func(int64) error { return errBuild },
			wantErr: errBuild,
		},
		{
			name:    "a store that cannot be asked",
			status:  func(string) LeaderStatus { return LeaderStatus{} },
			tryErr:  errStore,
			wantErr: errStore,
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			other := newTestLeader(t, "other")
			l := newFakeLeases(tc.status(other.URL), nil)
			l.tryErr = tc.tryErr
			tr, err := startReplica(t, l, tc.fail)
			if tc.wantErr != nil {
				if !errors.Is(err, tc.wantErr) {
					t.Fatalf("Start: %v, want %v", err, tc.wantErr)
				}
				if t1 := l.lastTerm(); t1 != nil && !t1.resigned.Load() {
					t.Error("the term taken was not resigned")
				}
				if l.current().Held {
					t.Error("the lead is still held")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			s := tr.serves()
			switch {
			case tc.leads && (len(s) != 1 || s[0].cp == nil || s[0].later):
				t.Fatalf("Start returned having served %+v, want its term's control plane", s)
			case !tc.leads && len(s) != 0:
				t.Fatalf("Start returned having served %+v, want none", s)
			}
			if got := tr.get(t, "/session"); got != tc.answer {
				t.Errorf("answered %q, want %q", got, tc.answer)
			}
		})
	}
}

func TestReplicaFollowsAndLeadsAgain(t *testing.T) {
	cases := []struct {
		name string
		// lose ends the replica's first term.
		lose func(l *fakeLeases, other string)
		// follows tells that another replica leads once it is lost.
		follows bool
		// next is the epoch of the replica's next term.
		next int64
	}{
		{
			name: "its lease runs out",
			lose: func(l *fakeLeases, other string) { l.expire() },
			next: 2,
		},
		{
			name:    "another replica takes the lead over",
			lose:    func(l *fakeLeases, other string) { l.takeOver(other) },
			follows: true, next: 3,
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			other := newTestLeader(t, "other")
			l := newFakeLeases(LeaderStatus{}, nil)
			tr, err := startReplica(t, l, nil)
			if err != nil {
				t.Fatal(err)
			}
			first := tr.controlPlane(0)
			tc.lose(l, other.URL)
			tr.follows(t, first)
			if tc.follows {
				if got := tr.get(t, "/session"); got != `other got ""` {
					t.Fatalf("answered %q while another replica leads, want its answer", got)
				}
				l.set(LeaderStatus{URL: other.URL, Epoch: 2}, nil)
			}
			tr.leads(t, tc.next)
			if got, want := tr.get(t, "/session"), fmt.Sprintf("term %d serves", tc.next); got != want {
				t.Errorf("answered %q, want %q", got, want)
			}
		})
	}
}

func TestReplicaGivesUpATermItCannotBuildFor(t *testing.T) {
	other := newTestLeader(t, "other")
	l := newFakeLeases(LeaderStatus{URL: other.URL, Epoch: 1, Held: true}, nil)
	errBuild := errors.New("the config's applications do not sync")
	tr, err := startReplica(t, l, func(epoch int64) error {
		if epoch == 2 {
			return errBuild
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	l.set(LeaderStatus{URL: other.URL, Epoch: 1}, nil)
	eventually(t, "the replica taking term 2", func() bool { return l.current().Epoch == 2 })
	eventually(t, "the replica giving term 2 up", func() bool { return !l.current().Held })
	if !l.lastTerm().resigned.Load() {
		t.Error("the term was not resigned")
	}
	if s := tr.serves(); len(s) != 0 {
		t.Errorf("served %+v, want none", s)
	}
	// It waits before it campaigns again, but not when it closes.
	start := time.Now()
	tr.Close()
	if took := time.Since(start); took >= rebuildPause {
		t.Errorf("Close took %s", took)
	}
}

func TestReplicaClose(t *testing.T) {
	cases := []struct {
		name string
		// status is who leads at the start, given another replica.
		status func(other string) LeaderStatus
	}{
		{name: "while leading", status: func(string) LeaderStatus { return LeaderStatus{} }},
		{name: "while following", status: func(other string) LeaderStatus { return LeaderStatus{URL: other, Epoch: 1, Held: true} }},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			other := newTestLeader(t, "other")
			l := newFakeLeases(tc.status(other.URL), nil)
			tr, err := startReplica(t, l, nil)
			if err != nil {
				t.Fatal(err)
			}
			if len(tr.serves()) == 0 {
				// What it forwards ends with it.
				resp, err := nethttp.Get(tr.url + "/stream")
				if err != nil {
					t.Fatal(err)
				}
				defer resp.Body.Close()
				tr.Close()
				select {
				case <-other.ended:
				case <-time.After(waitTimeout):
					t.Fatal("the forwarded stream did not end")
				}
				return
			}
			tr.Close()
			tr.follows(t, tr.controlPlane(0))
			if l.current().Held {
				t.Error("the lead is still held")
			}
		})
	}
}
