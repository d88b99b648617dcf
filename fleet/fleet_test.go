package fleet_test

import (
	"context"
	"path/filepath"
	"testing"

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
