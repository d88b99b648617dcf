package fleet_test

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/arena-hq/arena"
	"github.com/arena-hq/arena/fleet"
	"github.com/arena-hq/arena/scheduler"
	"github.com/arena-hq/arena/sqlite"
)

// newFleet returns an open fleet on a real SQLite store, placing with
// sched, with no node and no sessions: for nodes a test registers itself.
func newFleet(tb testing.TB, sched *scheduler.Scheduler) *fleet.Fleet {
	tb.Helper()
	ctx := context.Background()
	st, err := sqlite.Open(ctx, filepath.Join(tb.TempDir(), "arena.db"))
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { st.Close() })
	f := fleet.New(fleet.Config{Store: st, Scheduler: sched})
	if err := f.Open(ctx); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(f.Close)
	return f
}

// TestRejoinForgetsImages checks that a node joining again is not taken to
// hold the images it held before, until its heartbeats say it does.
func TestRejoinForgetsImages(t *testing.T) {
	ctx := context.Background()
	sched := scheduler.New(scheduler.Pack)
	srv := newFleet(t, sched)
	node := func(id, provider string, milliCPU int64) arena.Node {
		return arena.Node{ID: id, Region: "europe", Location: "ams", Provider: provider, Class: arena.ClassMetal, PublicIP: "192.0.2.1",
			Capacity: arena.Resources{MilliCPU: milliCPU, MemoryMB: 4096}, PortMin: 40000, PortMax: 40100}
	}
	// Packing prefers the small node; holding the image ranks above that.
	small, big := node("small", "pa", 1000), node("big", "pb", 4000)
	for _, n := range []arena.Node{small, big} {
		if err := srv.RegisterNode(ctx, n); err != nil {
			t.Fatal(err)
		}
	}
	placedOn := func() string {
		t.Helper()
		p, err := sched.Place(scheduler.Request{SessionID: "probe", Location: "ams", Resources: arena.Resources{MilliCPU: 100, MemoryMB: 64}, Image: "game:1"})
		if err != nil {
			t.Fatal(err)
		}
		sched.Release("probe")
		return p.Node.ID
	}
	if got := placedOn(); got != "small" {
		t.Fatalf("with no image anywhere, placed on %s, want small", got)
	}
	if err := srv.Heartbeat(ctx, arena.Heartbeat{NodeID: "big", Images: []arena.NodeImage{{Ref: "game:1", State: arena.ImagePresent}}}); err != nil {
		t.Fatal(err)
	}
	if got := placedOn(); got != "big" {
		t.Fatalf("with the image on big, placed on %s, want big", got)
	}
	// big is reinstalled and joins again; its first heartbeat reports nothing yet.
	if err := srv.RegisterNode(ctx, big); err != nil {
		t.Fatal(err)
	}
	if err := srv.Heartbeat(ctx, arena.Heartbeat{NodeID: "big"}); err != nil {
		t.Fatal(err)
	}
	if got := placedOn(); got != "small" {
		t.Fatalf("after big joined again, placed on %s, want small", got)
	}
}

// TestWaiting: creates refused for want of room count as waiting in their
// region, asked by location or by region, once per session id, until they
// are placed; another region's do not.
func TestWaiting(t *testing.T) {
	ctx := context.Background()
	sched := scheduler.New(scheduler.Pack)
	f := newFleet(t, sched)
	for _, n := range []arena.Node{
		{ID: "ams-1", Region: "europe", Location: "ams", Provider: "p", Class: arena.ClassMetal, PublicIP: "192.0.2.1",
			Capacity: arena.Resources{MilliCPU: 100, MemoryMB: 100}, PortMin: 40000, PortMax: 40100},
		{ID: "iad-1", Region: "us", Location: "iad", Provider: "p", Class: arena.ClassMetal, PublicIP: "192.0.2.2",
			Capacity: arena.Resources{MilliCPU: 100, MemoryMB: 100}, PortMin: 40000, PortMax: 40100},
	} {
		if err := f.RegisterNode(ctx, n); err != nil {
			t.Fatal(err)
		}
	}
	p := f.Placer()
	place := func(id, location string) error {
		_, err := p.Place(fleet.Request{SessionID: id, Location: location, Resources: arena.Resources{MilliCPU: 100, MemoryMB: 100}})
		return err
	}
	for _, step := range []struct {
		id, location string
		placed       bool
		waiting      int
	}{
		{"a", "ams", true, 0},
		{"b", "ams", false, 1},
		{"b", "ams", false, 1},    // retried: still one
		{"c", "europe", false, 2}, // by region
		{"d", "iad", true, 2},
		{"e", "iad", false, 2}, // another region's
	} {
		err := place(step.id, step.location)
		if (err == nil) != step.placed || (err != nil && arena.ErrorCode(err) != arena.EUNAVAILABLE) {
			t.Fatalf("place %s in %s: %v", step.id, step.location, err)
		}
		got, room := f.Waiting("europe", time.Minute)
		if got != step.waiting || room.MilliCPU != int64(step.waiting)*100 {
			t.Fatalf("after %s in %s: %d waiting in europe for %+v, want %d", step.id, step.location, got, room, step.waiting)
		}
	}
	p.Release("a")
	if err := place("b", "ams"); err != nil {
		t.Fatal(err)
	}
	if got, _ := f.Waiting("europe", time.Minute); got != 1 {
		t.Fatalf("after b was placed: %d waiting, want c alone", got)
	}
	if got, _ := f.Waiting("europe", 0); got != 0 {
		t.Fatalf("within no time: %d waiting", got)
	}
}
