package storetest

import (
	"context"
	"testing"
	"time"

	"github.com/arena-hq/arena"
)

// The tests of cloud machines: Arena's records of the machines it adds,
// and their join tokens, which admit one node once before they expire.

// normMachine returns m with its times in UTC, as stores may give them.
func normMachine(m *arena.CloudMachine) arena.CloudMachine {
	c := *m
	c.JoinExpires, c.JoinedAt, c.CreatedAt, c.UpdatedAt = c.JoinExpires.UTC(), c.JoinedAt.UTC(), c.CreatedAt.UTC(), c.UpdatedAt.UTC()
	return c
}

func machine(nodeID, tokenHash string, expires time.Time) *arena.CloudMachine {
	return &arena.CloudMachine{NodeID: nodeID, Region: "europe", Provider: "hetzner", InstanceType: "cx22", State: arena.MachineProvisioning,
		Reason: "below the buffer", CostPerHour: 0.01, Capacity: arena.Resources{MilliCPU: 2000, MemoryMB: 4096},
		JoinTokenHash: tokenHash, JoinExpires: expires, CreatedAt: at(0), UpdatedAt: at(0)}
}

// testMachines checks that every field of a machine comes back as written,
// through a create and an update, and that ids are unique.
func testMachines(t *testing.T, s arena.Store) {
	ctx := context.Background()
	full := filled[arena.CloudMachine](t)
	if err := s.CreateMachine(ctx, &full); err != nil {
		t.Fatal(err)
	}
	if err := s.CreateMachine(ctx, machine(full.NodeID, "", time.Time{})); arena.ErrorCode(err) != arena.ECONFLICT {
		t.Errorf("a second machine of node %s: %v, want a conflict", full.NodeID, err)
	}
	zero := &arena.CloudMachine{NodeID: "a-zero", State: arena.MachineProvisioning, CreatedAt: at(1), UpdatedAt: at(1)}
	if err := s.CreateMachine(ctx, zero); err != nil {
		t.Fatal(err)
	}
	list, err := s.ListMachines(ctx)
	if err != nil || len(list) != 2 {
		t.Fatalf("ListMachines: %d, %v; want 2", len(list), err)
	}
	if list[0].NodeID > list[1].NodeID {
		t.Errorf("machines listed as %s, %s; want them by node id", list[0].NodeID, list[1].NodeID)
	}
	byNode := func(list []*arena.CloudMachine, id string) arena.CloudMachine {
		t.Helper()
		for _, m := range list {
			if m.NodeID == id {
				return normMachine(m)
			}
		}
		t.Fatalf("no machine of node %s listed", id)
		return arena.CloudMachine{}
	}
	equal(t, "a machine of zero values", byNode(list, zero.NodeID), normMachine(zero))
	equal(t, "a machine of every field", byNode(list, full.NodeID), normMachine(&full))

	full.State, full.ProviderID, full.Reason, full.UpdatedAt = arena.MachineJoining, "srv-42", "created", at(5_000)
	if err := s.UpdateMachine(ctx, &full); err != nil {
		t.Fatal(err)
	}
	list, _ = s.ListMachines(ctx)
	equal(t, "an updated machine", byNode(list, full.NodeID), normMachine(&full))
	if err := s.UpdateMachine(ctx, machine("nope", "", time.Time{})); arena.ErrorCode(err) != arena.ENOTFOUND {
		t.Errorf("updating an unknown machine: %v, want not found", err)
	}
}

// testJoinTokens checks that a machine's join token admits its node once,
// before it expires, and no other node.
func testJoinTokens(t *testing.T, s arena.Store) {
	ctx := context.Background()
	now := at(10_000)
	for _, m := range []*arena.CloudMachine{
		machine("n-live", "hash-live", now.Add(time.Minute)),
		machine("n-late", "hash-late", now.Add(-time.Second)),
		machine("n-none", "", now.Add(time.Minute)),
	} {
		if err := s.CreateMachine(ctx, m); err != nil {
			t.Fatal(err)
		}
	}
	tests := []struct {
		name, hash, node string
		ok               bool
	}{
		{"another node's token", "hash-live", "n-late", false},
		{"an expired token", "hash-late", "n-late", false},
		{"an unknown token", "hash-nope", "n-live", false},
		{"no token", "", "n-none", false},
		{"its own token", "hash-live", "n-live", true},
		{"its own token again", "hash-live", "n-live", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := s.UseJoinToken(ctx, tt.hash, tt.node, now)
			if tt.ok != (err == nil) || (err != nil && arena.ErrorCode(err) != arena.EUNAUTHORIZED) {
				t.Fatalf("UseJoinToken(%s, %s): %v; want ok %v, else unauthorized", tt.hash, tt.node, err, tt.ok)
			}
		})
	}
	list, err := s.ListMachines(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range list {
		if joined := !m.JoinedAt.IsZero(); joined != (m.NodeID == "n-live") || (joined && !m.JoinedAt.Equal(now)) {
			t.Errorf("machine %s joined at %v", m.NodeID, m.JoinedAt)
		}
	}
}
