package scaler

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/arena-hq/arena"
)

var (
	t0      = time.Date(2026, 12, 4, 20, 0, 0, 0, time.UTC)
	session = Unit{Resources: arena.Resources{MilliCPU: 1000, MemoryMB: 1000}, Ports: 2}
	big     = arena.MachineOffer{Provider: "hetzner", Region: "fsn1", Location: "fsn", InstanceType: "cx42", CostPerHour: 0.04, Capacity: arena.Resources{MilliCPU: 8000, MemoryMB: 16000}}
	small   = arena.MachineOffer{Provider: "aws", Region: "eu-central-1", Location: "fra", InstanceType: "t3.small", CostPerHour: 0.02, Capacity: arena.Resources{MilliCPU: 2000, MemoryMB: 2000}}
)

// node returns a ready node of class with room for free sessions of the
// test's unit, holding held.
func node(id string, class arena.NodeClass, free, held int) arena.NodeStatus {
	capacity := arena.Resources{MilliCPU: int64(free+held) * 1000, MemoryMB: int64(free+held) * 1000}
	return arena.NodeStatus{Node: arena.Node{ID: id, Region: "europe", Class: class, Capacity: capacity}, State: "ready",
		Used: arena.Resources{MilliCPU: int64(held) * 1000, MemoryMB: int64(held) * 1000}, FreePorts: 1000, Sessions: held}
}

func machine(id string, state arena.MachineState, age time.Duration) *arena.CloudMachine {
	return &arena.CloudMachine{NodeID: id, Region: "europe", Provider: "hetzner", State: state, CostPerHour: 0.04,
		Capacity: big.Capacity, CreatedAt: t0.Add(-age), UpdatedAt: t0.Add(-age)}
}

func policy(edit ...func(*arena.ScalingPolicy)) arena.ScalingPolicy {
	p := arena.ScalingPolicy{
		Region: "europe", Offers: []arena.MachineOffer{big, small},
		Buffer:   arena.ScalingBuffer{Sessions: 4, OrgID: "studio", Application: "duel"},
		MaxNodes: 5, ScaleUpCooldown: 30 * time.Second, ScaleDownCooldown: time.Minute,
		IdleTimeout: 10 * time.Minute, JoinTimeout: 5 * time.Minute,
	}
	for _, e := range edit {
		e(&p)
	}
	return p
}

func TestPlan(t *testing.T) {
	tests := []struct {
		name string
		s    Snapshot
		// want is each action as "kind node provider", in order.
		want []string
		// why is in the first action's reason.
		why string
	}{
		{name: "metal holds the buffer", s: Snapshot{Policy: policy(), Nodes: []arena.NodeStatus{node("metal-1", arena.ClassMetal, 4, 10)}}},
		{name: "metal full: the first offer is ordered",
			s:    Snapshot{Policy: policy(), Nodes: []arena.NodeStatus{node("metal-1", arena.ClassMetal, 1, 13)}},
			want: []string{"provision - hetzner"}, why: "free room 1 sessions cannot hold the buffer of 4 sessions of duel"},
		{name: "a machine on its way counts: a burst orders one",
			s: Snapshot{Policy: policy(), Nodes: []arena.NodeStatus{node("metal-1", arena.ClassMetal, 0, 14)},
				Machines: []*arena.CloudMachine{machine("cloud-1", arena.MachineJoining, time.Minute)}}},
		{name: "a provider passed over: the next offer",
			s: Snapshot{Policy: policy(), Nodes: []arena.NodeStatus{node("metal-1", arena.ClassMetal, 0, 14)},
				BackedOff: map[string]time.Time{"hetzner": t0.Add(time.Minute)}},
			want: []string{"provision - aws"}},
		{name: "a provider passed over until before now is tried again",
			s: Snapshot{Policy: policy(), Nodes: []arena.NodeStatus{node("metal-1", arena.ClassMetal, 0, 14)},
				BackedOff: map[string]time.Time{"hetzner": t0.Add(-time.Second)}},
			want: []string{"provision - hetzner"}},
		{name: "at the most cloud nodes",
			s: Snapshot{Policy: policy(func(p *arena.ScalingPolicy) { p.MaxNodes = 1 }),
				Nodes:    []arena.NodeStatus{node("metal-1", arena.ClassMetal, 0, 14), node("cloud-1", arena.ClassCloud, 0, 8)},
				Machines: []*arena.CloudMachine{machine("cloud-1", arena.MachineReady, time.Hour)}}},
		{name: "the cost ceiling passes over the dearer offer",
			s: Snapshot{Policy: policy(func(p *arena.ScalingPolicy) { p.MaxCostPerHour = 0.07 }),
				Nodes:    []arena.NodeStatus{node("metal-1", arena.ClassMetal, 0, 14), node("cloud-1", arena.ClassCloud, 0, 8)},
				Machines: []*arena.CloudMachine{machine("cloud-1", arena.MachineReady, time.Hour)}},
			want: []string{"provision - aws"}},
		{name: "within the cooldown of the last order",
			s: Snapshot{Policy: policy(), Nodes: []arena.NodeStatus{node("metal-1", arena.ClassMetal, 0, 14)}, LastUp: t0.Add(-10 * time.Second)}},
		{name: "fewer cloud nodes than the minimum",
			s:    Snapshot{Policy: policy(func(p *arena.ScalingPolicy) { p.MinNodes = 1 }), Nodes: []arena.NodeStatus{node("metal-1", arena.ClassMetal, 10, 0)}},
			want: []string{"provision - hetzner"}, why: "0 cloud nodes, fewer than the minimum 1"},
		{name: "an idle cloud node past its timeout is drained",
			s: Snapshot{Policy: policy(), Nodes: []arena.NodeStatus{node("metal-1", arena.ClassMetal, 6, 0), node("cloud-1", arena.ClassCloud, 8, 0)},
				Machines:  []*arena.CloudMachine{machine("cloud-1", arena.MachineReady, time.Hour)},
				IdleSince: map[string]time.Time{"cloud-1": t0.Add(-11 * time.Minute)}},
			want: []string{"drain cloud-1 -"}, why: "no session for 10m0s"},
		{name: "of two idle nodes, the one idle the longest",
			s: Snapshot{Policy: policy(), Nodes: []arena.NodeStatus{node("metal-1", arena.ClassMetal, 6, 0), node("cloud-1", arena.ClassCloud, 8, 0), node("cloud-2", arena.ClassCloud, 8, 0)},
				Machines:  []*arena.CloudMachine{machine("cloud-1", arena.MachineReady, time.Hour), machine("cloud-2", arena.MachineReady, time.Hour)},
				IdleSince: map[string]time.Time{"cloud-1": t0.Add(-11 * time.Minute), "cloud-2": t0.Add(-20 * time.Minute)}},
			want: []string{"drain cloud-2 -"}},
		{name: "an idle node the buffer needs stays",
			s: Snapshot{Policy: policy(), Nodes: []arena.NodeStatus{node("metal-1", arena.ClassMetal, 1, 13), node("cloud-1", arena.ClassCloud, 8, 0)},
				Machines:  []*arena.CloudMachine{machine("cloud-1", arena.MachineReady, time.Hour)},
				IdleSince: map[string]time.Time{"cloud-1": t0.Add(-time.Hour)}}},
		{name: "idle, but not for long enough",
			s: Snapshot{Policy: policy(), Nodes: []arena.NodeStatus{node("metal-1", arena.ClassMetal, 6, 0), node("cloud-1", arena.ClassCloud, 8, 0)},
				Machines:  []*arena.CloudMachine{machine("cloud-1", arena.MachineReady, time.Hour)},
				IdleSince: map[string]time.Time{"cloud-1": t0.Add(-5 * time.Minute)}}},
		{name: "the minimum keeps an idle node",
			s: Snapshot{Policy: policy(func(p *arena.ScalingPolicy) { p.MinNodes = 1 }), Nodes: []arena.NodeStatus{node("metal-1", arena.ClassMetal, 6, 0), node("cloud-1", arena.ClassCloud, 8, 0)},
				Machines:  []*arena.CloudMachine{machine("cloud-1", arena.MachineReady, time.Hour)},
				IdleSince: map[string]time.Time{"cloud-1": t0.Add(-time.Hour)}}},
		{name: "within the cooldown of the last retirement",
			s: Snapshot{Policy: policy(), Nodes: []arena.NodeStatus{node("metal-1", arena.ClassMetal, 6, 0), node("cloud-1", arena.ClassCloud, 8, 0)},
				Machines:  []*arena.CloudMachine{machine("cloud-1", arena.MachineReady, time.Hour)},
				IdleSince: map[string]time.Time{"cloud-1": t0.Add(-time.Hour)}, LastDown: t0.Add(-30 * time.Second)}},
		{name: "bare metal is never drained",
			s: Snapshot{Policy: policy(), Nodes: []arena.NodeStatus{node("metal-1", arena.ClassMetal, 6, 0), node("metal-2", arena.ClassMetal, 8, 0)},
				IdleSince: map[string]time.Time{"metal-2": t0.Add(-time.Hour)}}},
		{name: "a drained node without sessions is retired",
			s: Snapshot{Policy: policy(), Nodes: []arena.NodeStatus{node("metal-1", arena.ClassMetal, 6, 0), func() arena.NodeStatus {
				n := node("cloud-1", arena.ClassCloud, 8, 0)
				n.Draining = true
				return n
			}()},
				Machines: []*arena.CloudMachine{machine("cloud-1", arena.MachineDraining, time.Hour)}},
			want: []string{"retire cloud-1 -"}},
		{name: "a drained node waits for its sessions to end",
			s: Snapshot{Policy: policy(), Nodes: []arena.NodeStatus{node("metal-1", arena.ClassMetal, 6, 0), func() arena.NodeStatus {
				n := node("cloud-1", arena.ClassCloud, 7, 1)
				n.Draining = true
				return n
			}()},
				Machines: []*arena.CloudMachine{machine("cloud-1", arena.MachineDraining, time.Hour)}}},
		{name: "short of the buffer while a node drains: it takes sessions again",
			s: Snapshot{Policy: policy(), Nodes: []arena.NodeStatus{node("metal-1", arena.ClassMetal, 0, 14), func() arena.NodeStatus {
				n := node("cloud-1", arena.ClassCloud, 7, 1)
				n.Draining = true
				return n
			}()},
				Machines: []*arena.CloudMachine{machine("cloud-1", arena.MachineDraining, time.Hour)}},
			want: []string{"resume cloud-1 -"}, why: "a draining node takes sessions again"},
		{name: "a machine that never joined is abandoned, and another ordered of the next provider",
			s: Snapshot{Policy: policy(), Nodes: []arena.NodeStatus{node("metal-1", arena.ClassMetal, 0, 14)},
				Machines: []*arena.CloudMachine{machine("cloud-1", arena.MachineJoining, 6*time.Minute)}},
			want: []string{"abandon cloud-1 -", "provision - aws"}, why: "did not join within 5m0s"},
		{name: "a buffer in resources",
			s: Snapshot{Policy: policy(func(p *arena.ScalingPolicy) {
				p.Buffer = arena.ScalingBuffer{Resources: arena.Resources{MilliCPU: 4000, MemoryMB: 1000}}
			}), Unit: Unit{}, Nodes: []arena.NodeStatus{node("metal-1", arena.ClassMetal, 3, 11)}},
			want: []string{"provision - hetzner"}, why: "free room 3000m CPU and 3000 MiB cannot hold the buffer of 4000m CPU and 1000 MiB"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := tt.s
			s.Now = t0
			if tt.name != "a buffer in resources" {
				s.Unit = session
			}
			got := Plan(s)
			var kinds []string
			for _, a := range got {
				id, provider := a.NodeID, a.Offer.Provider
				if id == "" {
					id = "-"
				}
				if provider == "" {
					provider = "-"
				}
				kinds = append(kinds, fmt.Sprintf("%s %s %s", a.Kind, id, provider))
			}
			if strings.Join(kinds, "; ") != strings.Join(tt.want, "; ") {
				t.Fatalf("plan %q, want %q (%+v)", kinds, tt.want, got)
			}
			if tt.why != "" && !strings.Contains(got[0].Reason, tt.why) {
				t.Errorf("reason %q, want it to say %q", got[0].Reason, tt.why)
			}
		})
	}
}
