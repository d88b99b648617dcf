package main

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/arena-hq/arena"
	"github.com/arena-hq/arena/client"
	"github.com/arena-hq/arena/docker/dockertest"
)

// TestRegionsAndLimits runs applications held to regions, and one with
// limits above its reservation, on the real `arena dev` stack, whose node
// is in location local of region europe: one held elsewhere is not found
// there, and the container of one with limits is capped at them while the
// node books its reservation.
func TestRegionsAndLimits(t *testing.T) {
	image := dockertest.EchoImage(t)
	repo, tag, _ := strings.Cut(image, ":")
	s := newStackWith(t, 8, fmt.Sprintf(`
  - name: echo-eu
    repository: %[1]s
    tags: [{name: %[2]s, priority: 1}]
    ports: [{container: 7777, protocol: tcp}]
    resources: {milliCpu: 100, memoryMb: 64}
    limits: {milliCpu: 300, memoryMb: 128}
    regions: [europe]
  - name: echo-asia
    repository: %[1]s
    tags: [{name: %[2]s, priority: 1}]
    ports: [{container: 7777, protocol: tcp}]
    resources: {milliCpu: 100, memoryMb: 64}
    regions: [asia]
`, repo, tag))

	sessions := s.api().Sessions()
	refused := []struct {
		name    string
		call    func(context.Context) error
		message string
	}{
		{"create in the location", func(ctx context.Context) error {
			_, err := sessions.Create(ctx, client.SessionRequest{Location: "local", Image: "echo-asia"})
			return err
		}, `image "echo-asia" does not run in location "local"`},
		{"create in the region", func(ctx context.Context) error {
			_, err := sessions.Create(ctx, client.SessionRequest{Location: "europe", Image: "echo-asia"})
			return err
		}, `does not run in location "europe"`},
		{"tag in the region", func(ctx context.Context) error {
			_, err := sessions.Tag(ctx, "europe", "echo-asia", tag)
			return err
		}, `does not run in region "europe"`},
	}
	for _, tt := range refused {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.call(t.Context())
			if arena.ErrorCode(err) != arena.ENOTFOUND || !strings.Contains(arena.ErrorMessage(err), tt.message) {
				t.Fatalf("got %v, want %s saying %s", err, arena.ENOTFOUND, tt.message)
			}
		})
	}
	if n := len(s.containers()); n != 0 {
		t.Fatalf("refused creates left %d containers", n)
	}

	locations := []struct{ image, want string }{
		{"echo-asia", `{"locations":[]}`},
		{"echo-eu", `"id":"local"`},
		{"echo", `"id":"local"`},
	}
	for _, tt := range locations {
		t.Run("available locations of "+tt.image, func(t *testing.T) {
			if l, err := sessions.AvailableLocations(t.Context(), tt.image); err != nil || !strings.Contains(string(l.Raw()), tt.want) {
				t.Fatalf("got %v %s, want %s", err, l.Raw(), tt.want)
			}
		})
	}

	t.Run("limits cap the container, the reservation is booked", func(t *testing.T) {
		c := s.create(client.SessionRequest{Image: "echo-eu"})
		s.waitStatus(c.ID, "running")
		if sess := s.session(c.ID); sess.Limits != (arena.Resources{MilliCPU: 300, MemoryMB: 128}) || sess.Resources != (arena.Resources{MilliCPU: 100, MemoryMB: 64}) {
			t.Fatalf("session limits %+v, resources %+v", sess.Limits, sess.Resources)
		}
		cs := s.containers()
		if len(cs) != 1 {
			t.Fatalf("%d containers", len(cs))
		}
		hc := dockertest.Inspect(t, cs[0].ID).HostConfig
		if hc.NanoCPUs != 300_000_000 || hc.Memory != 128<<20 || hc.MemoryReservation != 64<<20 || hc.CPUShares != 102 {
			t.Fatalf("cpu %d, memory %d, memory reservation %d, shares %d; want the limits capping and the reservation guaranteed",
				hc.NanoCPUs, hc.Memory, hc.MemoryReservation, hc.CPUShares)
		}
		nodes := s.leader().fleet.Nodes()
		if len(nodes) != 1 || nodes[0].Used != (arena.Resources{MilliCPU: 100, MemoryMB: 64}) {
			t.Fatalf("node use %+v, want the reservation alone", nodes)
		}
	})
}
