package arena_test

import (
	"testing"
	"time"

	"github.com/arena-hq/arena"
)

func TestSummarizeUsage(t *testing.T) {
	t0 := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	small := arena.Resources{MilliCPU: 100, MemoryMB: 64}
	big := arena.Resources{MilliCPU: 1000, MemoryMB: 1024}
	u := func(app, loc string, res arena.Resources, start, end time.Duration) *arena.Usage {
		return &arena.Usage{Application: app, Location: loc, Resources: res, Start: t0.Add(start), End: t0.Add(end)}
	}
	usages := []*arena.Usage{
		u("game", "ams", small, 0, time.Hour),
		u("game", "ams", small, 30*time.Minute, 90*time.Minute), // half inside
		u("game", "ams", big, 0, 1500*time.Millisecond),         // a started second counts
		u("game", "fra", small, 2*time.Hour, 3*time.Hour),       // after the period
		u("lobby", "ams", small, 0, 10*time.Second),
		{Application: "game", Location: "ams", Resources: small}, // never ran
		// Of warm pools: claimed after ten minutes in the pool, and
		// never claimed, in the pool from before the period.
		{Application: "lobby", Location: "ams", Resources: small, PoolStart: t0.Add(50 * time.Minute), PoolEnd: t0.Add(60 * time.Minute),
			Start: t0.Add(60 * time.Minute), End: t0.Add(70 * time.Minute)},
		{Application: "lobby", Location: "fra", Resources: small, PoolStart: t0.Add(-time.Hour), PoolEnd: t0.Add(30 * time.Second)},
	}
	rates := []arena.Rate{{Resources: small, PerHour: 0.10}}
	got := arena.SummarizeUsage(usages, t0, t0.Add(time.Hour), rates)
	want := []arena.UsageLine{
		{Application: "game", Location: "ams", Resources: small, Sessions: 2, Seconds: 5400, Cost: 0.15, Priced: true},
		{Application: "game", Location: "ams", Resources: big, Sessions: 1, Seconds: 2},
		{Application: "lobby", Location: "ams", Resources: small, Sessions: 1, Seconds: 10, Cost: 10.0 / 3600 * 0.10, Priced: true, PoolSessions: 1, PoolSeconds: 600},
		{Application: "lobby", Location: "fra", Resources: small, Priced: true, PoolSessions: 1, PoolSeconds: 30},
	}
	if len(got) != len(want) {
		t.Fatalf("got %+v", got)
	}
	for i := range want {
		if d := got[i].Cost - want[i].Cost; d > 1e-9 || d < -1e-9 {
			t.Errorf("line %d cost %v, want %v", i, got[i].Cost, want[i].Cost)
		}
		got[i].Cost, want[i].Cost = 0, 0
		if got[i] != want[i] {
			t.Errorf("line %d: got %+v, want %+v", i, got[i], want[i])
		}
	}
}
