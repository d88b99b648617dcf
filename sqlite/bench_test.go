package sqlite

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/arena-hq/arena"
)

// The benchmarks report latency percentiles besides the mean, since it is
// the tail that an HTTP handler waiting on the store feels.

func BenchmarkCreateSession(b *testing.B) {
	ctx := context.Background()
	b.Run("serial", func(b *testing.B) {
		st := benchStore(b)
		var lat latencies
		for i := 0; b.Loop(); i++ {
			s := benchSession(fmt.Sprintf("s-%d", i))
			start := time.Now()
			if err := st.CreateSession(ctx, s); err != nil {
				b.Fatal(err)
			}
			lat.add(time.Since(start))
		}
		lat.report(b)
	})
	// Many more goroutines than CPUs, as with concurrent HTTP handlers.
	b.Run("parallel", func(b *testing.B) {
		st := benchStore(b)
		var (
			lat latencies
			n   atomic.Int64
		)
		b.SetParallelism(16)
		b.ResetTimer()
		b.RunParallel(func(pb *testing.PB) {
			var own latencies
			for pb.Next() {
				s := benchSession(fmt.Sprintf("s-%d", n.Add(1)))
				start := time.Now()
				if err := st.CreateSession(ctx, s); err != nil {
					b.Error(err)
					return
				}
				own.add(time.Since(start))
			}
			lat.merge(&own)
		})
		lat.report(b)
	})
}

func BenchmarkFindSession(b *testing.B) {
	const stored = 10_000
	ctx := context.Background()
	st := benchStore(b)
	for i := range stored {
		if err := st.CreateSession(ctx, benchSession(fmt.Sprintf("s-%d", i))); err != nil {
			b.Fatal(err)
		}
	}
	b.Run("serial", func(b *testing.B) {
		var lat latencies
		for i := 0; b.Loop(); i++ {
			start := time.Now()
			if _, err := st.FindSession(ctx, fmt.Sprintf("s-%d", i*7919%stored)); err != nil {
				b.Fatal(err)
			}
			lat.add(time.Since(start))
		}
		lat.report(b)
	})
	b.Run("parallel", func(b *testing.B) {
		var (
			lat latencies
			n   atomic.Int64
		)
		b.SetParallelism(16)
		b.ResetTimer()
		b.RunParallel(func(pb *testing.PB) {
			var own latencies
			for pb.Next() {
				id := fmt.Sprintf("s-%d", n.Add(7919)%stored)
				start := time.Now()
				if _, err := st.FindSession(ctx, id); err != nil {
					b.Error(err)
					return
				}
				own.add(time.Since(start))
			}
			lat.merge(&own)
		})
		lat.report(b)
	})
}

// BenchmarkStopSession is the other write on every session's path: an update
// and an insert in one transaction.
func BenchmarkStopSession(b *testing.B) {
	ctx := context.Background()
	st := benchStore(b)
	sessions := make([]*arena.Session, b.N)
	for i := range sessions {
		s := benchSession(fmt.Sprintf("s-%d", i))
		if err := st.CreateSession(ctx, s); err != nil {
			b.Fatal(err)
		}
		sessions[i] = s
	}
	var lat latencies
	b.ResetTimer()
	for _, s := range sessions {
		s.StopReason = arena.StopDeleted
		if err := s.Transition(arena.SessionStopped, s.RunningAt.Add(time.Minute)); err != nil {
			b.Fatal(err)
		}
		u := &arena.Usage{SessionID: s.ID, OrgID: s.OrgID, Application: s.Application, Location: s.Location,
			Resources: s.Resources, Start: s.RunningAt, End: s.StoppedAt, Seconds: s.BilledSeconds(s.StoppedAt)}
		start := time.Now()
		if err := st.StopSession(ctx, s, u); err != nil {
			b.Fatal(err)
		}
		lat.add(time.Since(start))
	}
	lat.report(b)
}

func benchStore(b *testing.B) *Store {
	b.Helper()
	st := openTest(b, filepath.Join(b.TempDir(), "arena.db"))
	if err := st.CreateOrganization(context.Background(), &arena.Organization{ID: "org-1", Name: "Bench"}); err != nil {
		b.Fatal(err)
	}
	return st
}

// benchSession is a session of realistic size: a few ports, env, labels and players.
func benchSession(id string) *arena.Session {
	now := time.Now()
	return &arena.Session{
		ID: id, OrgID: "org-1", Application: "arena-shooter", Tag: "v1.4.2",
		Image:  "registry.example.com/arena-shooter:v1.4.2",
		Region: "europe", Location: "amsterdam", NodeID: "node-1", Host: "203.0.113.7",
		Network: arena.NetworkBridge,
		Ports: []arena.Port{
			{Protocol: arena.UDP, Container: 7777, Host: 30001},
			{Protocol: arena.TCP, Container: 27015, Host: 30002},
		},
		Env:       map[string]string{arena.EnvSessionID: id, "MAP": "dm4", "MODE": "ctf"},
		Args:      []string{"-port", "7777", "-maxplayers", "16"},
		Labels:    map[string]string{"match": "m-42", "queue": "ranked"},
		TTL:       time.Hour,
		Resources: arena.Resources{MilliCPU: 1500, MemoryMB: 2048},
		StopGrace: 15 * time.Second,
		Players:   []string{"alice", "bob", "carol", "dave"},
		State:     arena.SessionRunning,
		ExitCode:  -1,
		CreatedAt: now, RunningAt: now, UpdatedAt: now,
	}
}

// latencies collects the durations of single operations.
type latencies struct {
	mu sync.Mutex
	d  []time.Duration
}

func (l *latencies) add(d time.Duration) { l.d = append(l.d, d) }

func (l *latencies) merge(o *latencies) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.d = append(l.d, o.d...)
}

func (l *latencies) report(b *testing.B) {
	if len(l.d) == 0 {
		return
	}
	slices.Sort(l.d)
	pct := func(p float64) float64 {
		return float64(l.d[int(p*float64(len(l.d)-1))].Microseconds())
	}
	b.ReportMetric(pct(0.50), "p50-µs")
	b.ReportMetric(pct(0.99), "p99-µs")
	b.ReportMetric(pct(1), "max-µs")
}

// BenchmarkLoad paces sessions at the control plane's expected peak, 500 a
// second, each going through its life (create, update, find, stop) in a
// goroutine of its own as in HTTP handlers, and reports the latency of the
// writes. Unlike the benchmarks above it does not saturate the store, so its
// ns/op is just the pace; the percentiles are the figures that matter.
func BenchmarkLoad(b *testing.B) {
	const rate = 500
	ctx := context.Background()
	st := benchStore(b)
	var (
		lat latencies
		wg  sync.WaitGroup
	)
	tick := time.NewTicker(time.Second / rate)
	defer tick.Stop()
	b.ResetTimer()
	for i := range b.N {
		<-tick.C
		wg.Go(func() {
			var own latencies
			defer lat.merge(&own)
			timed := func(f func() error) bool {
				start := time.Now()
				err := f()
				own.add(time.Since(start))
				if err != nil {
					b.Error(err)
				}
				return err == nil
			}
			s := benchSession(fmt.Sprintf("s-%d", i))
			s.State, s.RunningAt = arena.SessionStarted, time.Time{}
			if !timed(func() error { return st.CreateSession(ctx, s) }) {
				return
			}
			if err := s.Transition(arena.SessionRunning, time.Now()); err != nil {
				b.Error(err)
				return
			}
			if !timed(func() error { return st.UpdateSession(ctx, s) }) {
				return
			}
			if _, err := st.FindSession(ctx, s.ID); err != nil {
				b.Error(err)
				return
			}
			if err := s.Transition(arena.SessionStopped, time.Now()); err != nil {
				b.Error(err)
				return
			}
			u := &arena.Usage{SessionID: s.ID, OrgID: s.OrgID, Start: s.RunningAt, End: s.StoppedAt}
			timed(func() error { return st.StopSession(ctx, s, u) })
		})
	}
	wg.Wait()
	lat.report(b)
}
