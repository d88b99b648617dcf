package scaler

import (
	"testing"
	"time"

	"github.com/arena-hq/arena"
)

// simDay is the day the README reports: ten metal nodes of 100 sessions,
// demand from some 600 sessions at night to 2,300 at the evening peak,
// sessions of 20 minutes, cloud machines of 100 sessions that join a
// minute after their order.
func simDay(buffer int) SimConfig {
	return SimConfig{
		MetalNodes: 10, MetalSlots: 100, CloudSlots: 100, BootDelay: time.Minute,
		Demand: DiurnalDemand(600, 1000, 1000), SessionLength: 20 * time.Minute,
		Policy: arena.ScalingPolicy{Region: "sim", Offers: []arena.MachineOffer{{Provider: "sim", CostPerHour: 0.05}},
			Buffer: arena.ScalingBuffer{Sessions: buffer, Application: "game"}, MaxNodes: 40,
			ScaleUpCooldown: 2 * time.Second, ScaleDownCooldown: time.Minute, IdleTimeout: 10 * time.Minute, JoinTimeout: 10 * time.Minute},
		PlanEvery: 2 * time.Second,
	}
}

// TestSimulatedDay: with a buffer sized for what arrives while a machine
// boots, no create of the day is refused, and the cloud machines cost at
// most 60% of a static fleet sized for the peak; without a buffer, creates
// wait for machines to boot.
func TestSimulatedDay(t *testing.T) {
	tests := []struct {
		name     string
		buffer   int
		rejected bool
	}{
		{"a buffer for the boot delay", 300, false},
		{"no buffer: creates wait for machines to boot", 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := Simulate(simDay(tt.buffer))
			t.Logf("%+v; node-hours %.0f%% of a static fleet", r, 100*r.CloudHours/r.StaticHours)
			if r.Sessions < 80_000 || r.PeakCloud == 0 {
				t.Fatalf("a day of %d sessions, %d cloud machines at the peak", r.Sessions, r.PeakCloud)
			}
			if (r.Rejected > 0) != tt.rejected {
				t.Fatalf("%d creates refused", r.Rejected)
			}
			if !tt.rejected && r.CloudHours > 0.6*r.StaticHours {
				t.Fatalf("cloud node-hours %.0f, over 60%% of the static fleet's %.0f", r.CloudHours, r.StaticHours)
			}
		})
	}
}
